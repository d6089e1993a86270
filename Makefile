# vqcore: build the book, run the tests, reproduce the results, benchmark.
#
#   make book                     build the Jupyter Book from the committed Results/ into _build/html
#   make test                     install what the tests need and run the whole suite
#   make reproduce PRESET=quick   re-run the experiments (smoke | quick | paper) and rewrite Results/
#                                 (JOBS=2: the experiment runners in two processes at once)
#   make bench                    run the benchmarks (benchmarks/run.py)
#   make clean                    remove build outputs (keeps .venv); make distclean also removes .venv
#
# Every target creates the virtual environment .venv (python3 -m venv) if there is none and
# installs the project into it in editable mode with the extras it needs. Note: installing the
# project pulls in PyTorch; to avoid the large CUDA build, install the torch build you want into
# .venv first (e.g. `.venv/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu`).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
JUPYTER_BOOK := $(VENV)/bin/jupyter-book
PRESET ?= quick
JOBS ?= 1
PYTEST_ARGS ?=
BOOK_HTML := _build/html

.PHONY: help venv book test reproduce bench clean distclean

help:
	@echo "make book                    build the book into $(BOOK_HTML) (no training)"
	@echo "make test                    run the whole test suite (installs .[test,bench])"
	@echo "make reproduce PRESET=quick  re-run the experiments: smoke | quick | paper (JOBS=2: two processes)"
	@echo "make bench                   run the benchmarks"
	@echo "make clean | distclean       remove build outputs | and the virtualenv"

# -- the virtual environment and the installs (stamps are redone when pyproject.toml changes) --

$(PY):
	$(PYTHON) -m venv $(VENV)

venv: $(PY)

$(VENV)/.installed-book: pyproject.toml | $(PY)
	$(PIP) install -e ".[book]"
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install -e ".[test,bench]"
	@touch $@ $(VENV)/.installed-book $(VENV)/.installed-bench

$(VENV)/.installed-bench: pyproject.toml | $(PY)
	$(PIP) install -e ".[bench]"
	@touch $@

# -- targets ---------------------------------------------------------------------------------

book: $(VENV)/.installed-book
	$(JUPYTER_BOOK) build . --warningiserror --keep-going
	@echo
	@echo "The book is in $(CURDIR)/$(BOOK_HTML): open file://$(CURDIR)/$(BOOK_HTML)/index.html"

test: $(VENV)/.installed-test
	$(PY) -m pytest $(PYTEST_ARGS)

reproduce: $(VENV)/.installed-book
	@case "$(PRESET)" in smoke|quick|paper) ;; \
	  *) echo "PRESET must be smoke, quick or paper (got '$(PRESET)')" >&2; exit 2;; esac
	$(PY) -m vqcore reproduce --preset $(PRESET) --jobs $(JOBS)
	@echo "Results rewritten; run 'make book' to see them."

bench: $(VENV)/.installed-bench
	$(PY) benchmarks/run.py

clean:
	rm -rf _build .pytest_cache .ruff_cache .jupyter_cache
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) -type d -print0 \
	  | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV) *.egg-info
