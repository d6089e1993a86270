"""The Jupyter Book builds from the repository with warnings as errors, and every page it promises is there.

One build per session (the ``book_build`` fixture in conftest.py), shared with test_browser.py.
"""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

METHOD_PAGES_WITH_DEMOS = ["book/methods/nsvq", "book/methods/multicodebook", "book/methods/sfvq",
                           "book/methods/complexity"]


class _Collector(HTMLParser):
    """Collects <img> sources and <a> targets of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "img" and attr.get("src"):
            self.images.append(attr["src"] or "")
        elif tag == "a" and attr.get("href"):
            self.links.append(attr["href"] or "")


def parse(page: Path) -> _Collector:
    collector = _Collector()
    collector.feed(page.read_text(encoding="utf-8"))
    return collector


def rendered_images(html: Path, docname: str) -> list[str]:
    """The <img> sources of a built page that are real pictures (an embedded PNG or a non-empty file)."""
    page = html / f"{docname}.html"
    good = []
    for src in parse(page).images:
        if src.startswith("data:image/"):
            good.append(src[:40])
            continue
        if urlsplit(src).scheme:
            continue  # an external picture proves nothing about our build
        target = (page.parent / unquote(urlsplit(src).path)).resolve()
        if target.is_file() and target.stat().st_size > 0:
            good.append(src)
    return good


@pytest.mark.slow
def test_build_succeeds(book_build):
    book_build.check()
    assert "build succeeded" in book_build.log


@pytest.mark.slow
def test_landing_page_exists(built_book: Path):
    assert (built_book / "index.html").is_file(), "no index.html at the root of the built book"
    landing = built_book / "book" / "index.html"
    assert landing.is_file()
    text = landing.read_text(encoding="utf-8")
    # the table of every figure of both papers
    for fig in ("4c", "6b", "2a", "ICASSP 2023", "Interspeech 2023", "planned"):
        assert fig in text, f"the landing page does not mention {fig!r}"


@pytest.mark.slow
def test_every_toc_page_is_built(built_book: Path, book_toc_parts: dict[str, list[str]]):
    missing = [page for pages in book_toc_parts.values() for page in pages
               if not (built_book / f"{page}.html").is_file()]
    assert not missing, f"pages listed in _toc.yml but not built: {missing}"


@pytest.mark.slow
def test_figure_pages_have_images(built_book: Path, book_figure_pages: list[str]):
    pages = book_figure_pages
    if not pages:
        pytest.skip("no figure notebooks are listed in _toc.yml yet")
    without = [page for page in pages if not rendered_images(built_book, page)]
    assert not without, f"figure pages without a rendered image: {without}"


@pytest.mark.slow
@pytest.mark.parametrize("docname", METHOD_PAGES_WITH_DEMOS)
def test_method_demos_render_figures(built_book: Path, docname: str):
    assert rendered_images(built_book, docname), f"{docname}: its live demo produced no figure"


@pytest.mark.slow
def test_method_demos_ran_without_errors(built_book: Path):
    for docname in METHOD_PAGES_WITH_DEMOS:
        text = (built_book / f"{docname}.html").read_text(encoding="utf-8")
        assert "Traceback" not in text and 'class="output traceback' not in text, f"{docname} shows a traceback"


@pytest.mark.slow
def test_api_reference_documents_the_quantizers(built_book: Path):
    """The entries are on their modules' pages (book/api/<module>.html); the public face on vqcore's."""
    for name in ("vqcore.VQ", "vqcore.ResidualVQ", "vqcore.AdditiveVQ", "vqcore.ProductVQ",
                 "vqcore.SpaceFillingVQ", "vqcore.eval.complexity.wmops", "vqcore.training.fit_quantizer"):
        module = "vqcore" if name.count(".") == 1 else name.rpartition(".")[0]
        text = (built_book / "book" / "api" / f"{module}.html").read_text(encoding="utf-8")
        assert f'id="{name}"' in text, f"the API reference has no entry for {name} on {module}'s page"


@pytest.mark.slow
def test_bibliography_lists_the_papers(built_book: Path):
    text = (built_book / "book" / "bibliography.html").read_text(encoding="utf-8").lower()
    for title in ("Stochastic Optimization of Vector Quantization Methods", "Space-Filling Curves",
                  "Noise Substitution in Vector Quantization", "Product Quantization for Nearest Neighbor Search"):
        assert title.lower() in text, f"the bibliography lacks {title!r}"


@pytest.mark.slow
def test_internal_links_resolve(built_book: Path):
    broken = []
    for page in built_book.rglob("*.html"):
        if "_modules" in page.parts or "_static" in page.parts:
            continue
        for href in parse(page).links:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith(("#", "mailto:", "javascript:")):
                continue
            path = unquote(parts.path)
            if not path:
                continue
            target = (page.parent / path).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(built_book)} -> {href}")
    assert not broken, "broken internal links:\n" + "\n".join(broken[:30])


def test_figure_notebooks_are_committed_without_outputs(repo_root: Path, book_figure_pages: list[str]):
    """The build executes the figure notebooks (execute_notebooks: force); the repository holds them clean."""
    dirty = []
    for page in book_figure_pages:
        path = repo_root / f"{page}.ipynb"
        if not path.is_file():
            continue
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        if any(cell.get("outputs") for cell in cells if cell.get("cell_type") == "code"):
            dirty.append(page)
    assert not dirty, f"figure notebooks committed with outputs (clear them): {dirty}"


# -- the book's own extensions (book/_ext) and what they promise in the built pages ---------------

EXT = Path(__file__).resolve().parents[2] / "book" / "_ext"


def _extension(name: str):
    """A module of book/_ext, loaded by path (the build puts the folder on sys.path; tests do not)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(f"book_ext_{name}", EXT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def _package_modules(repo_root: Path) -> set[str]:
    """Every module of vqcore by its file: ``vqcore/io/atomic.py`` -> ``vqcore.io.atomic``."""
    names = set()
    for path in (repo_root / "vqcore").rglob("*.py"):
        parts = path.relative_to(repo_root).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_api_has_one_page_per_module(repo_root: Path):
    api = _extension("api_pages")
    pages = api.pages(repo_root / "vqcore")
    assert set(pages) == {f"book/api/{name}" for name in _package_modules(repo_root)}
    assert all(text.startswith(api.MARKER) for text in pages.values())
    for name in ("vqcore.quantizers.vq", "vqcore.io.atomic", "vqcore.eval.complexity"):
        assert f".. automodule:: {name}\n" in pages[f"book/api/{name}"]
    # the public face documents its names once; their modules' pages leave them out and link to them
    assert ":members: VQ, ResidualVQ" in pages["book/api/vqcore"]
    vq_page = pages["book/api/vqcore.quantizers.vq"]
    assert ":exclude-members: VQ\n" in vq_page and "{py:obj}`vqcore.VQ`" in vq_page
    # a layer's page lists its modules
    assert ":py:mod:`vqcore.quantizers.vq`" in pages["book/api/vqcore.quantizers"]


def test_every_api_page_is_in_the_toc(repo_root: Path):
    """_toc.yml lists every page the generator writes (a page outside it would not be built)."""
    import fnmatch

    import yaml

    files, globs = set(), []

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.add(str(entry["file"]).removesuffix(".md"))
            if "glob" in entry:
                globs.append(str(entry["glob"]))
            walk(entry.get("sections"))

    for part in yaml.safe_load((repo_root / "_toc.yml").read_text(encoding="utf-8"))["parts"]:
        walk(part.get("chapters"))
    pages = _extension("api_pages").pages(repo_root / "vqcore")
    missing = [doc for doc in pages if doc not in files and not any(fnmatch.fnmatch(doc, g) for g in globs)]
    assert not missing, f"API pages that _toc.yml does not list (add the layer to _toc.yml): {missing}"


def test_api_pages_writer_removes_only_its_own_stale_pages(tmp_path: Path, repo_root: Path):
    api = _extension("api_pages")
    folder = tmp_path / "book" / "api"
    folder.mkdir(parents=True)
    (folder / "vqcore.gone.md").write_text(api.MARKER + "\n# gone\n", encoding="utf-8")
    (folder / "notes.md").write_text("# hand-written\n", encoding="utf-8")
    written, removed = api.write_pages(tmp_path, repo_root / "vqcore")
    assert removed == ["book/api/vqcore.gone"] and (folder / "notes.md").is_file()
    assert "book/api/vqcore" in written and (folder / "vqcore.md").is_file()
    assert api.write_pages(tmp_path, repo_root / "vqcore") == ([], [])  # unchanged pages are not rewritten
    with pytest.raises(ValueError, match="package_dir"):
        api.discover(tmp_path)


def test_citation_labels_tell_works_of_one_year_apart(repo_root: Path):
    """Under pybtex's alpha labels the two 2023 papers get distinct letters, which the citations show."""
    from pybtex.database import parse_file
    from pybtex.plugin import find_plugin

    labels_mod = _extension("citation_labels")
    assert labels_mod.label_suffix("VB23b") == "b" and labels_mod.label_suffix("VB22") == ""
    bib = parse_file(str(repo_root / "book" / "references.bib"))
    style = find_plugin("pybtex.style.formatting", "alpha")()
    entries = list(style.sort(bib.entries.values()))
    labels = dict(zip((e.key for e in entries), style.format_labels(entries)))
    ours = {labels["vali2023stochastic"], labels["vali2023interpretable"]}
    assert ours == {"VB23a", "VB23b"}, labels  # plain letters: the bib spells the names in UTF-8
    assert len(set(labels.values())) == len(labels)


def test_mathjax_path_names_a_local_file(repo_root: Path):
    import yaml

    config = yaml.safe_load((repo_root / "_config.yml").read_text(encoding="utf-8"))["sphinx"]["config"]
    path = config["mathjax_path"]
    assert "://" not in path and not path.startswith("//")
    assert (_extension("offline_mathjax").mathjax_static_dir() / path).is_file()


def test_kernel_startup_quiets_faiss_and_binds_no_name(tmp_path: Path):
    import logging

    quiet = _extension("quiet_kernel")
    root = quiet.write_ipython_dir(tmp_path / "ipython")
    startup = (root / "profile_default" / "startup" / "00-quiet-logging.py").read_text(encoding="utf-8")
    assert 'log_level = "ERROR"' in (root / "profile_default" / "ipython_kernel_config.py").read_text(encoding="utf-8")
    loader = logging.getLogger("faiss.loader")
    before = loader.level
    namespace: dict = {}
    try:
        loader.setLevel(logging.NOTSET)
        exec(compile(startup, "startup", "exec"), namespace)  # noqa: S102 (our own file)
        assert loader.level == logging.WARNING
    finally:
        loader.setLevel(before)
    assert set(namespace) == {"__builtins__"}


@pytest.mark.slow
def test_api_pages_are_built(built_book: Path, repo_root: Path):
    missing = [name for name in _package_modules(repo_root)
               if not (built_book / "book" / "api" / f"{name}.html").is_file()]
    assert not missing, f"modules without a built API page: {missing}"


@pytest.mark.slow
def test_citations_tell_the_2023_papers_apart(built_book: Path):
    text = (built_book / "book" / "bibliography.html").read_text(encoding="utf-8")
    for label in ("2023a", "2023b", "VB23a", "VB23b"):
        assert label in text, f"the bibliography page does not show {label!r}"
    assert not re.search(r"Bäckström(, | \[)2023(?![ab])", text), "a 2023 citation without its letter"


@pytest.mark.slow
def test_mathjax_is_served_from_the_build(built_book: Path):
    assert (built_book / "_static" / "mathjax" / "tex-chtml.js").is_file()
    with_maths = 0
    for page in built_book.rglob("*.html"):
        if "_static" in page.parts:
            continue
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<script[^>]+src=\"(?:https?:)?//[^\"]*mathjax", text, re.IGNORECASE), \
            f"{page.relative_to(built_book)} loads MathJax from the network"
        with_maths += "_static/mathjax/tex-chtml.js" in text
    assert with_maths >= 5, f"only {with_maths} pages load the local MathJax"


#: log lines and kernel warnings that must not reach a page
LOG_NOISE = re.compile(r"INFO:|WARNING:|WARNING \||\[IPKernelApp\]|Kernel is running over TCP|faiss\.loader"
                       r"|Loading faiss|swigfaiss")


@pytest.mark.slow
def test_pages_show_no_log_lines_or_stderr(built_book: Path):
    noisy = []
    for page in built_book.rglob("*.html"):
        if "_static" in page.parts or "_modules" in page.parts or "_sources" in page.parts:
            continue
        text = page.read_text(encoding="utf-8")
        # each cell's outputs: from its cell_output block to the next cell (or the end of the page)
        outputs = [chunk.split('class="cell ', 1)[0].split('class="cell_input', 1)[0]
                   for chunk in text.split('class="cell_output')[1:]]
        found = [m.group(0) for out in outputs for m in [LOG_NOISE.search(out)] if m]
        if found or 'class="output stderr' in text:
            noisy.append(f"{page.relative_to(built_book)}: {found[:3] or 'a stderr output'}")
    assert not noisy, "pages with log lines or stderr in their outputs:\n" + "\n".join(noisy)
