"""The doctests of every vqcore module run, and pass.

A module that cannot be imported because an optional extra is missing is skipped, naming the
package it needs (a failure in CI, see :func:`tests.helpers.need`).
"""
from __future__ import annotations

import doctest
import importlib
import pkgutil
from types import ModuleType

import pytest

import vqcore
from tests.helpers import need

MODULES = sorted(m.name for m in pkgutil.walk_packages(vqcore.__path__, "vqcore.")) + ["vqcore"]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def import_or_skip(name: str) -> ModuleType:
    """Import ``name``; skip (in CI: fail) when that needs a package that is not installed."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if not missing or missing == "vqcore":
            raise
        need(missing)  # skips or fails, naming the package
        raise


def run_doctests(module: ModuleType) -> tuple[doctest.TestResults, str]:
    """Run the doctests of ``module`` (its own objects, not the names it imports): the counts and the report."""
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in doctest.DocTestFinder(exclude_empty=True).find(module, module.__name__):
        runner.run(test, out=report.append)
    return runner.summarize(verbose=False), "".join(report)


def test_every_subpackage_is_walked():
    for name in ("vqcore.quantizers.base", "vqcore.io.tensors", "vqcore.eval.complexity",
                 "vqcore.experiments.registry", "vqcore.plotting.figures", "vqcore.cli"):
        assert name in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_doctests_pass(name):
    results, report = run_doctests(import_or_skip(name))
    assert results.failed == 0, f"{results.failed} of {results.attempted} doctests of {name} failed:\n{report}"


@pytest.mark.parametrize("name", ["vqcore.eval.complexity", "vqcore.quantizers.registry", "vqcore.quantizers.packing"])
def test_the_documented_examples_run(name):
    results, report = run_doctests(importlib.import_module(name))
    assert results.attempted >= 1 and results.failed == 0, report


def test_a_failing_doctest_is_reported():
    module = ModuleType("fake", '>>> 1 + 1\n3\n')
    results, report = run_doctests(module)
    assert results == (1, 1) and "Expected:\n    3\nGot:\n    2" in report
