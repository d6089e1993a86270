"""The package's architecture as tests: imports only point down the layers, and the public face.

The layers, from the bottom (a module may import from its own layer and the ones below):

    io < quantizers < training < {eval, data} < {speech, models} < experiments < plotting < cli

Within the evaluation layer, data may import eval but eval may not import data. ``vqcore``
itself (its ``__init__``) sits with training: it re-exports the quantizers and training.
"""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import vqcore

PACKAGE = Path(vqcore.__file__).resolve().parent

#: first name below ``vqcore`` -> layer (higher may import lower); "" is vqcore/__init__.py itself
LAYERS: dict[str, int] = {
    "io": 0,
    "quantizers": 1,
    "training": 2, "": 2,
    "eval": 3, "data": 3,
    "speech": 4, "models": 4,
    "experiments": 5,
    "plotting": 6,
    "cli": 7, "__main__": 7,
}
#: imports inside one layer that are still not allowed: (importer, imported)
FORBIDDEN_SIDEWAYS = {("eval", "data")}
#: names of vqcore/__init__ that any layer may import (package metadata, not code)
METADATA = {"__version__"}

PUBLIC_FACE = {"VQ", "ResidualVQ", "AdditiveVQ", "ProductVQ", "SpaceFillingVQ", "Quantizer", "QuantizerOutput",
               "save", "load", "pack_codes", "unpack_codes", "packed_size", "pack_message", "unpack_message", "validation", "training",
               "__version__"}


def module_name(path: Path) -> str:
    """``vqcore/io/atomic.py`` -> ``vqcore.io.atomic``; a package's ``__init__.py`` -> the package."""
    parts = ["vqcore", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def part(name: str) -> str:
    """The layer key of a vqcore module: the first name below ``vqcore`` (``""`` for vqcore itself)."""
    return name.split(".")[1] if "." in name else ""


def _resolve_from(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _root_names(names: list[str]) -> list[str]:
    """What ``from vqcore import <names>`` reaches: the submodule, or the module that defines the name."""
    out = []
    for name in names:
        if name in METADATA:
            continue
        if is_module(f"vqcore.{name}"):
            out.append(f"vqcore.{name}")
        else:
            out.append(getattr(getattr(vqcore, name, None), "__module__", None) or "vqcore")
    return out


def vqcore_imports(path: Path) -> list[tuple[int, str]]:
    """Every vqcore module that the file at ``path`` imports (anywhere in it): ``[(line, module), ...]``."""
    return imports_in(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")


def imports_in(source: str, importer: str, is_package: bool = False) -> list[tuple[int, str]]:
    """The vqcore modules that ``source``, the code of module ``importer``, imports: ``[(line, module), ...]``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, importer)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "vqcore"]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve_from(importer, is_package, node)
            if target.split(".")[0] != "vqcore":
                continue
            if target == "vqcore":
                found += [(node.lineno, t) for t in _root_names([a.name for a in node.names])]
            else:
                found += [(node.lineno, f"{target}.{a.name}" if is_module(f"{target}.{a.name}") else target)
                          for a in node.names]
    return found


def violations(importer: str, imports: list[tuple[int, str]]) -> list[str]:
    """The imports that break the layering, each naming both modules and both layers."""
    out = []
    mine = part(importer)
    for line, imported in imports:
        theirs = part(imported)
        upward = LAYERS[theirs] > LAYERS[mine]
        if upward or (mine, theirs) in FORBIDDEN_SIDEWAYS:
            out.append(f"{importer} (layer {mine or 'vqcore'}) imports {imported} (layer {theirs or 'vqcore'}) "
                       f"at line {line}")
    return out


MODULE_FILES = sorted(PACKAGE.rglob("*.py"))


def test_every_folder_and_top_module_has_a_layer():
    unknown = sorted({part(module_name(p)) for p in MODULE_FILES} - set(LAYERS))
    assert not unknown, f"no layer for vqcore.{unknown}: add them to LAYERS in {__file__}"


@pytest.mark.parametrize("path", MODULE_FILES, ids=lambda p: module_name(p))
def test_imports_only_point_down(path):
    bad = violations(module_name(path), vqcore_imports(path))
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_the_import_parser_resolves_relative_and_root_imports():
    source = ("from . import estimators\nfrom ..io.tensors import read_safetensors\nimport vqcore.eval.ann\n"
              "from vqcore import VQ, __version__, training\nfrom .. import experiments\nimport numpy\n"
              "def f():\n    from ..plotting import figures\n")
    got = [m for _, m in imports_in(source, "vqcore.quantizers.base")]
    assert got == ["vqcore.quantizers.estimators", "vqcore.io.tensors", "vqcore.eval.ann",
                   "vqcore.quantizers.vq", "vqcore.training", "vqcore.experiments",
                   "vqcore.plotting.figures"]
    assert [m for _, m in imports_in("from .atomic import atomic_write_text\n", "vqcore.io", True)] == [
        "vqcore.io.atomic"]


def test_violations_name_both_modules():
    assert violations("vqcore.eval.ann", [(3, "vqcore.data.sift")]) == [
        "vqcore.eval.ann (layer eval) imports vqcore.data.sift (layer data) at line 3"]
    assert violations("vqcore.quantizers.vq", [(1, "vqcore.training")])
    assert not violations("vqcore.data.sift", [(1, "vqcore.eval.ann"), (2, "vqcore.io.atomic")])
    assert not violations("vqcore.io.results", [(1, "vqcore.io.atomic")])


def test_the_public_face_is_exactly_the_documented_one():
    assert set(vqcore.__all__) == PUBLIC_FACE
    # nothing else public at the top, apart from the subpackages that importing vqcore loads
    public = {name for name, value in vars(vqcore).items()
              if not name.startswith("_") and not inspect.ismodule(value)}
    assert public == PUBLIC_FACE - {"training", "__version__"}
    assert inspect.ismodule(vqcore.training) and vqcore.training.__name__ == "vqcore.training"
    assert isinstance(vqcore.__version__, str) and vqcore.__version__
    for name in PUBLIC_FACE - {"training", "__version__"}:
        assert getattr(vqcore, name) is getattr(vqcore.quantizers, name), name
