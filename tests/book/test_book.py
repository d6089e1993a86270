"""The Jupyter Book builds from the repository with warnings as errors, and every page it promises is there.

One build per session (the ``book_build`` fixture in conftest.py), shared with test_browser.py.
"""
from __future__ import annotations

import json
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
    text = (built_book / "book" / "api.html").read_text(encoding="utf-8")
    for name in ("vqcore.VQ", "vqcore.ResidualVQ", "vqcore.AdditiveVQ", "vqcore.ProductVQ",
                 "vqcore.SpaceFillingVQ", "vqcore.eval.complexity.wmops", "vqcore.training.fit_quantizer"):
        assert f'id="{name}"' in text, f"the API reference has no entry for {name}"


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
