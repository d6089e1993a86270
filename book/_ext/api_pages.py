"""The API reference, one page per module, written from the package tree (a local Sphinx extension).

At every build, before the table of contents is read, this writes ``book/api/<module>.md`` for every
module of ``vqcore`` (the package pages are the layers' index pages) and removes the pages it wrote
for modules that no longer exist. A page is rewritten only when its text changes, so an unchanged
page is not read again. _toc.yml lists the layers' pages and globs their modules' pages
(``book/api/vqcore.eval.*``); tests/book/test_book.py checks that every page is in it.

What a page documents:

- ``vqcore`` (the public face): the names of its ``__all__``, as ``vqcore.VQ`` and so on;
- every other module: its members (autodoc), less the names that are not defined in it but listed
  in its ``__all__`` (re-exports, documented where they are defined) and less the public-face names
  defined in it (documented once, as ``vqcore.X``; the page links to them).

Run ``python book/_ext/api_pages.py`` to write the pages without building the book.
"""
from __future__ import annotations

import ast
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGE = "vqcore"
#: the folder of the pages, relative to the book's root (the repository root)
PAGES_DIR = "book/api"
#: the first line of every page this extension writes; only such files are ever removed
MARKER = "<!-- Written by book/_ext/api_pages.py from the package tree at every build: edit the docstrings, not this file. -->"


@dataclass
class Module:
    """One module of the package, read from its source file without importing it."""

    name: str                      #: ``vqcore.io.atomic``
    path: Path                     #: its source file
    is_package: bool
    docstring: str
    defined: set[str]              #: names bound at its top level by def, class or assignment
    exported: list[str] | None     #: its ``__all__`` when it is a literal list or tuple
    imported: dict[str, tuple[str, str]] = field(default_factory=dict)  #: name -> (module, name there)
    children: list[str] = field(default_factory=list)  #: modules directly below a package

    @property
    def docname(self) -> str:
        return f"{PAGES_DIR}/{self.name}"


def _targets(node: ast.AST) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _absolute(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name of the module a ``from ... import`` statement reads from."""
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def read_module(name: str, path: Path) -> Module:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    defined: set[str] = set()
    exported: list[str] | None = None
    imported: dict[str, tuple[str, str]] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom):
            source = _absolute(name, is_package, stmt)
            imported.update({alias.asname or alias.name: (source, alias.name) for alias in stmt.names})
        names = _targets(stmt)
        defined.update(names)
        if "__all__" in names and isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            try:
                exported = [str(n) for n in ast.literal_eval(stmt.value)]
            except ValueError:
                exported = None
    return Module(name, path, is_package, ast.get_docstring(tree) or "", defined, exported, imported)


def discover(package_dir: Path) -> dict[str, Module]:
    """Every module of the package below ``package_dir``, by dotted name, in sorted order."""
    if not (package_dir / "__init__.py").is_file():
        raise ValueError(f"package_dir {package_dir} is not a package (no __init__.py)")
    modules: dict[str, Module] = {}
    for path in sorted(package_dir.rglob("*.py")):
        rel = path.relative_to(package_dir.parent).with_suffix("")
        if any(not part.isidentifier() for part in rel.parts) or not (path.parent / "__init__.py").is_file():
            continue  # not importable: a script or data folder inside the tree
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        modules[".".join(parts)] = read_module(".".join(parts), path)
    for name, module in modules.items():
        parent = name.rpartition(".")[0]
        if parent in modules:
            modules[parent].children.append(name)
    return modules


def public_face(package: Module) -> list[str]:
    """The names the package's page documents: its ``__all__`` less dunders and submodules."""
    prefix = f"{package.name}."
    subs = {child[len(prefix):] for child in package.children}
    return [n for n in package.exported or [] if not n.startswith("__") and n not in subs]


def home_of(modules: dict[str, Module], module: str, name: str) -> str | None:
    """The module that defines ``name`` as seen from ``module``, following ``from ... import`` chains."""
    seen = set()
    while (module, name) not in seen and module in modules:
        seen.add((module, name))
        here = modules[module]
        if name in here.defined:
            return module
        if name not in here.imported:
            return None
        module, name = here.imported[name]
    return None


def _rst_block(lines: list[str]) -> list[str]:
    return ["```{eval-rst}", *lines, "```", ""]


def _summary(module: Module) -> str:
    """The docstring's first paragraph on one line."""
    return " ".join(line.strip() for line in module.docstring.split("\n\n", 1)[0].splitlines()).strip()


def module_page(module: Module, excluded: list[str], elsewhere: list[str], members: list[str] | None = None,
                modules: dict[str, Module] | None = None) -> str:
    """The page of one module: its automodule, a note on the names documented elsewhere, its modules."""
    directive = [f".. automodule:: {module.name}"]
    directive.append(f"   :members: {', '.join(members)}" if members is not None else "   :members:")
    if excluded:
        directive.append(f"   :exclude-members: {', '.join(sorted(excluded))}")
    lines = [MARKER, "", f"# `{module.name}`", "", *_rst_block(directive)]
    if elsewhere:
        refs = ", ".join(f"{{py:obj}}`{PACKAGE}.{n}`" for n in elsewhere)
        lines += [f"Defined here and documented on {{doc}}`{PACKAGE}`: {refs}.", ""]
    if module.children and modules is not None:
        lines += ["## Modules", ""]
        lines += _rst_block([f"- :py:mod:`{child}`: {_summary(modules[child]) or '(no docstring)'}"
                             for child in module.children])
    return "\n".join(lines).rstrip() + "\n"


def pages(package_dir: Path) -> dict[str, str]:
    """``{docname: Markdown}`` for every module of the package below ``package_dir``."""
    modules = discover(package_dir)
    top = modules[PACKAGE]
    face = public_face(top)
    homes = {name: home_of(modules, PACKAGE, name) for name in face}
    out = {top.docname: module_page(top, [], [], members=face, modules=modules)}
    for name, module in modules.items():
        if name == PACKAGE:
            continue
        reexported = [n for n in module.exported or [] if n not in module.defined]
        elsewhere = [n for n in face if homes.get(n) == name]
        out[module.docname] = module_page(module, sorted(set(reexported) | set(elsewhere)), elsewhere,
                                          modules=modules)
    return out


def _write(path: Path, text: str) -> bool:
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return True


def write_pages(book_root: Path, package_dir: Path) -> tuple[list[str], list[str]]:
    """Write the pages under ``book_root/book/api``; remove stale ones. Returns (written, removed)."""
    wanted = pages(package_dir)
    written = [doc for doc, text in wanted.items() if _write(book_root / f"{doc}.md", text)]
    removed = []
    folder = book_root / PAGES_DIR
    for path in sorted(folder.glob("*.md")):
        doc = f"{PAGES_DIR}/{path.stem}"
        if doc not in wanted and path.read_text(encoding="utf-8").startswith(MARKER):
            path.unlink()
            removed.append(doc)
    return written, removed


def package_dir_of(book_root: Path) -> Path:
    """The folder of the package that autodoc will import (the installed one), else the book's copy."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is not None and spec.origin:
        return Path(spec.origin).parent
    return book_root / PACKAGE


def _generate(app: Any, config: Any) -> None:
    from sphinx.util import logging as sphinx_logging

    root = Path(app.srcdir)
    written, removed = write_pages(root, package_dir_of(root))
    log = sphinx_logging.getLogger(__name__)
    log.info(f"[api_pages] {len(written)} page(s) written, {len(removed)} removed under {PAGES_DIR}/")


def setup(app: Any) -> dict[str, Any]:
    # before sphinx-external-toc reads _toc.yml (priority 900), so its globs see the pages
    app.connect("config-inited", _generate, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[2]
    w, r = write_pages(root, package_dir_of(root))
    print(f"{len(w)} page(s) written, {len(r)} removed under {root / PAGES_DIR}")
