"""Shared fixtures: the repository root, the authors' reference results, and one book build per session."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent

#: jupyter-book's own time limit per notebook is in _config.yml; this bounds the whole build.
BOOK_BUILD_TIMEOUT_S = 1200


@pytest.fixture
def one_thread():
    """One torch thread for the test: on a shared 2-core machine two threads can be many times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (the folder holding pyproject.toml)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def reference_dir(repo_root: Path) -> Path:
    """The authors' published results: the byte-identical copies in ``reference/`` (see its README)."""
    path = repo_root / "reference"
    assert path.is_dir(), f"the authors' reference results are missing from {path}"
    return path


def in_ci() -> bool:
    """True in continuous integration (``CI=true``), where a missing tool is a failure, not a skip."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@dataclass
class BookBuild:
    """The result of one ``jupyter-book build``: the HTML folder, the exit code, the log and the time."""

    html: Path
    returncode: int
    log: str
    seconds: float
    #: the checkout the book was built from (:func:`fresh_checkout`); its ``book/api/`` pages are
    #: written by the build, so the toc's globs over them expand there, not in the repository
    source: Path | None = None

    @property
    def executed(self) -> Path:
        """Where myst-nb kept the notebooks and pages it executed, outputs and stderr included
        (``.../_build/jupyter_execute/<docname>.ipynb``)."""
        return self.html.parent / "jupyter_execute"

    def check(self) -> Path:
        """The HTML folder; fails the calling test with the end of the log if the build failed."""
        if self.returncode != 0:
            pytest.fail(f"jupyter-book build failed (exit {self.returncode}); end of its log:\n{self.log[-6000:]}")
        return self.html


def fresh_checkout(repo_root: Path, dest: Path) -> Path:
    """Copy into ``dest`` every file of ``repo_root`` that git tracks or would track (committed,
    changed or new, but not ignored): the repository as a fresh clone of this work would hold it.
    Outside a git checkout (an unpacked source archive) the repository itself is returned."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                cwd=repo_root, capture_output=True, check=True, timeout=120).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        if in_ci():
            raise RuntimeError(f"git cannot list the files of {repo_root}: {err}") from err
        return repo_root
    for rel in filter(None, listed.decode("utf-8").split("\0")):
        src = repo_root / rel
        if src.is_file():  # a tracked file deleted in the work tree is not in the checkout
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


def jupyter_book_executable() -> Path:
    """The ``jupyter-book`` of the interpreter running the tests (the project's virtualenv)."""
    exe = Path(sys.executable).parent / "jupyter-book"
    if not exe.exists():
        pytest.fail(f"jupyter-book is not installed beside {sys.executable}: run `make test` "
                    "(it installs the project with the [test] extra)")
    return exe


def _needs_book(item: pytest.Item) -> bool:
    return "book_build" in getattr(item, "fixturenames", ()) or item.get_closest_marker("book_build") is not None


class _BookBuilder:
    """One ``jupyter-book build`` of a fresh checkout (:func:`fresh_checkout`) into ``root``, started at
    once; :meth:`result` waits for it. ``single_thread``: its kernels on one thread, for a build
    that runs beside other tests, so that the two do not oversubscribe the cores."""

    def __init__(self, repo_root: Path, root: Path, single_thread: bool) -> None:
        self.out = root / "book"
        self.source = fresh_checkout(repo_root, root / "checkout")
        cmd = [str(jupyter_book_executable()), "build", str(self.source), "--path-output", str(self.out), "-W",
               "--keep-going"]
        self.log_path = root / "build.log"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"} if single_thread else None
        self.start = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=self.source, stdout=log, stderr=subprocess.STDOUT, env=env)

    def result(self) -> BookBuild:
        """Wait for the build (within :data:`BOOK_BUILD_TIMEOUT_S` of its start) and return it."""
        try:
            code = self.proc.wait(timeout=max(1.0, self.start + BOOK_BUILD_TIMEOUT_S - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = -1
        log = self.log_path.read_text(encoding="utf-8", errors="replace")
        if code == -1:
            log = f"timed out after {BOOK_BUILD_TIMEOUT_S} s\n{log}"
        return BookBuild(self.out / "_build" / "html", code, log, time.monotonic() - self.start, self.source)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


_BUILD_KEY = pytest.StashKey[_BookBuilder]()


@pytest.hookimpl(trylast=True)  # after -m/-k deselection
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that read the book build run last, and the build starts now, beside the other tests."""
    book = [item for item in items if _needs_book(item)]
    if not book or config.option.collectonly:
        return
    items[:] = [item for item in items if not _needs_book(item)] + book
    if len(book) < len(items):  # something to run beside the build
        root = Path(tempfile.mkdtemp(prefix="vqcore-book-"))
        config.add_cleanup(lambda: shutil.rmtree(root, ignore_errors=True))
        build = _BookBuilder(REPO_ROOT, root, single_thread=True)
        config.stash[_BUILD_KEY] = build
        config.add_cleanup(build.stop)


@pytest.fixture(scope="session")
def book_build(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> BookBuild:
    """Build the book once per session, warnings as errors, from a fresh checkout of the repository
    (:func:`fresh_checkout`: what a clone holds, uncommitted work included, and none of the ignored
    caches, run records or build outputs of this one), into a temporary folder: the build started
    in the background at collection when other tests run too, else one here."""
    background = request.config.stash.get(_BUILD_KEY, None)
    if background is not None:
        return background.result()
    build = _BookBuilder(repo_root, tmp_path_factory.mktemp("book-build"), single_thread=False)
    request.config.add_cleanup(build.stop)
    return build.result()


@pytest.fixture(scope="session")
def built_book(book_build: BookBuild) -> Path:
    """The built HTML folder (``.../_build/html``); fails if the build failed."""
    return book_build.check()


# -- the table of contents ----------------------------------------------------------

def toc_parts(repo_root: Path) -> dict[str, list[str]]:
    """Pages per part of ``_toc.yml``: ``{caption: [docname, ...]}`` with globs expanded.

    Docnames are paths relative to the repository root without suffix, e.g. ``notebooks/fig2_toy_mse``.
    """
    toc = yaml.safe_load((repo_root / "_toc.yml").read_text(encoding="utf-8"))
    parts: dict[str, list[str]] = {}

    def walk(entries: list[dict] | None, pages: list[str]) -> None:
        for entry in entries or []:
            if "file" in entry:
                name = str(entry["file"])
                for suffix in (".md", ".ipynb"):
                    name = name.removesuffix(suffix)
                pages.append(name)
            if "glob" in entry:
                for match in sorted(repo_root.glob(entry["glob"])):
                    if match.suffix in {".md", ".ipynb"} and ".ipynb_checkpoints" not in match.parts:
                        pages.append(match.relative_to(repo_root).with_suffix("").as_posix())
            walk(entry.get("sections"), pages)

    for part in toc.get("parts", []):
        pages: list[str] = []
        walk(part.get("chapters"), pages)
        parts[part.get("caption", "")] = pages
    return parts


def figure_pages(repo_root: Path) -> list[str]:
    """Docnames of the figure pages: every page of a part whose caption ends in "figures"."""
    return [page for caption, pages in toc_parts(repo_root).items()
            if caption.strip().lower().endswith("figures") for page in pages]


@pytest.fixture(scope="session")
def book_figure_pages(repo_root: Path) -> list[str]:
    """Docnames of the figure pages listed in ``_toc.yml`` (possibly none while they are being written)."""
    return figure_pages(repo_root)


@pytest.fixture(scope="session")
def book_toc_parts(built_source: Path) -> dict[str, list[str]]:
    """Pages per part of ``_toc.yml`` (see :func:`toc_parts`), its globs expanded in the checkout
    the book was built from (the API pages exist only after the build)."""
    return toc_parts(built_source)


@pytest.fixture(scope="session")
def built_source(book_build: BookBuild) -> Path:
    """The checkout the session's book was built from; fails if the build failed."""
    book_build.check()
    assert book_build.source is not None
    return book_build.source
