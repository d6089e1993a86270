"""Author-year citations that tell apart works of the same authors and year (a local Sphinx extension).

sphinxcontrib-bibtex's ``author_year`` style cites both 2023 papers as "Vali and Bäckström, 2023".
The bibliography uses pybtex's ``alpha`` labels (``bibtex_default_style: alpha`` in _config.yml),
which already disambiguate: ``[VB23a]``, ``[VB23b]``. This extension registers the reference style
``author_year_suffixed``: ``author_year`` whose year carries the letter of the entry's label, so the
text reads "Vali and Bäckström, 2023a" and matches the bibliography's ``[VB23a]``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pybtex.richtext import Text
from pybtex.style.template import Node, node
from sphinxcontrib.bibtex.plugin import register_plugin
from sphinxcontrib.bibtex.style import template
from sphinxcontrib.bibtex.style.referencing import BaseReferenceStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle

STYLE_NAME = "author_year_suffixed"
#: the disambiguating letter pybtex's alpha labels append after the two-digit year ("VB23a")
_SUFFIX = re.compile(r"\d([a-z])$")


def label_suffix(label: str) -> str:
    """The disambiguating letter of an alpha label (``"VB23b"`` -> ``"b"``; ``"VB22"`` -> ``""``)."""
    match = _SUFFIX.search(label)
    return match.group(1) if match else ""


@node
def year_with_suffix(children: list, data: dict[str, Any]) -> Text:
    """The entry's year followed by its label's letter, if the label has one."""
    assert not children
    formatted = data.get("formatted_entry")
    suffix = label_suffix(formatted.label) if formatted is not None else ""
    return Text(template.year.format_data(data), suffix)


def with_suffixed_year(tree: Any) -> Any:
    """A copy of the template ``tree`` with every ``year`` node replaced by :func:`year_with_suffix`."""
    if not isinstance(tree, Node):
        return tree
    if tree.f is template.year.f:
        return year_with_suffix
    copy = tree._clone()
    copy.children = [with_suffixed_year(child) for child in tree.children]
    return copy


@dataclass
class _SuffixedYear(BaseReferenceStyle):
    """One of author_year's styles, its templates' years suffixed."""

    base: Any = None  #: the wrapped style (a BaseReferenceStyle)

    def role_names(self):
        return self.base.role_names()

    def outer(self, role_name: str, children: list) -> Node:
        return self.base.outer(role_name, children)

    def inner(self, role_name: str) -> Node:
        return with_suffixed_year(self.base.inner(role_name))


@dataclass
class SuffixedAuthorYearReferenceStyle(AuthorYearReferenceStyle):
    """``author_year`` with "2023a" / "2023b" for works of the same authors and year."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.styles = [_SuffixedYear(base=style) for style in self.styles]
        self.role_style = {name: style for style in self.styles for name in style.role_names()}


def setup(app: Any) -> dict[str, Any]:
    register_plugin("sphinxcontrib.bibtex.style.referencing", STYLE_NAME, SuffixedAuthorYearReferenceStyle,
                    force=True)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
