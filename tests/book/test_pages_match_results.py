"""The built book says what the committed files say: every figure page's fidelity numbers are the
ones computed from ``Results/`` and ``reference/`` of the repository the book was built from.

The build (the session's ``book_build`` fixture) runs in a fresh checkout of the repository
(``fresh_checkout`` in conftest.py: the files a clone holds, none of the ignored run caches or build
outputs), so a page that took a number from a local cache, a stale run or anything but the
committed files fails here.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from vqcore.eval.fidelity import figure_report
from vqcore.eval.fidelity.render import outcome_text, ratio_text
from vqcore.experiments import registry


class _Text(HTMLParser):
    """The visible text of a page, and the text of each table row, whitespace collapsed."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.rows: list[str] = []
        self._row: list[str] | None = None
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "tr":
            self._row = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1
        elif tag == "tr" and self._row is not None:
            self.rows.append(_squash(" ".join(self._row)))
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.parts.append(data)
        if self._row is not None:
            self._row.append(data)

    @property
    def text(self) -> str:
        return _squash(" ".join(self.parts))


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _page(html: Path, docname: str) -> _Text:
    parser = _Text()
    parser.feed((html / f"{docname}.html").read_text(encoding="utf-8"))
    return parser


def _plain(markdown: str) -> str:
    """A finding's text without Markdown emphasis and code marks, and with plain quotes (Sphinx
    renders ' as a typographic apostrophe)."""
    return _squash(re.sub(r"[*`]", "", markdown).replace("\u2019", "'").replace("\u2018", "'"))


def _figures_with_pages() -> list[tuple[str, str]]:
    return [(f.id, f"notebooks/{f.notebook}") for f in registry.FIGURES if f.notebook]


@pytest.mark.slow
@pytest.mark.parametrize(("figure_id", "docname"), _figures_with_pages())
def test_figure_page_reports_what_the_committed_files_give(built_book: Path, repo_root: Path,
                                                          figure_id: str, docname: str):
    report = figure_report(figure_id, repo_root / "Results", repo_root / "reference")
    page = _page(built_book, docname)
    for name, stats in (("ours/paper", report.ratio), ("scale-free ours/paper", report.scale_free)):
        if stats is not None and stats.values:
            assert ratio_text(stats) in page.text, (
                f"{docname}: Figure {figure_id}'s {name} from the committed files is {ratio_text(stats)}, "
                "which the page does not show")
    for finding in report.findings:
        if finding.ours is None:
            continue
        start = _plain(finding.text)[:60]
        rows = [row for row in page.rows if start in _plain(row)]
        assert rows, f"{docname}: no table row for the finding {finding.text!r} of Figure {figure_id}"
        expected = outcome_text(finding.ours)
        assert any(expected in row for row in rows), (
            f"{docname}: the finding {finding.text!r} of Figure {figure_id} holds as {expected!r} in the "
            f"committed files, but the page's rows say {rows}")
