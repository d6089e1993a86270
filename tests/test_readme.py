"""Every Python snippet of README.md runs as printed, in a temporary folder."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """The ```python blocks of a Markdown text: ``[(line of the opening fence, code), ...]``."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in _FENCE.finditer(text)]


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_python_blocks_finds_every_fenced_python_block():
    text = "a\n```python\nx = 1\n```\n```bash\nls\n```\n```python\ny = 2\nz = 3\n```\n"
    assert python_blocks(text) == [(2, "x = 1\n"), (8, "y = 2\nz = 3\n")]


def test_readme_has_python_snippets_and_its_test_command():
    text = README.read_text(encoding="utf-8")
    assert BLOCKS, "README.md has no ```python block"
    assert "make test" in text


@pytest.mark.parametrize("line,code", BLOCKS, ids=[f"README.md:{line}" for line, _ in BLOCKS])
def test_readme_snippet_runs(line, code, tmp_path, monkeypatch, one_thread):
    monkeypatch.chdir(tmp_path)  # files the snippet writes land here
    compiled = compile(code, f"README.md (snippet at line {line})", "exec")
    exec(compiled, {"__name__": "__readme__"})  # noqa: S102 - the README's own code
