"""Helpers shared by the tests: optional packages, and figure notebooks run with papermill."""
from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def need(*packages: str) -> None:
    """Skip the test when one of ``packages`` (pip names) cannot be imported; fail instead in CI
    (``CI=true``), where everything must be installed."""
    missing = []
    for package in packages:
        try:
            importlib.import_module(package.replace("-", "_"))
        except ImportError:
            missing.append(package)
    if not missing:
        return
    message = f"{missing} not installed (pip install {' '.join(missing)}); this test cannot run"
    if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


def outputs(nb) -> list[dict]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]


def output_text(nb) -> str:
    parts = []
    for out in outputs(nb):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        for mime in ("text/plain", "text/html", "text/markdown"):
            value = out.get("data", {}).get(mime)
            if value:
                parts.append(value if isinstance(value, str) else "".join(value))
    return "\n".join(parts)


def has_image(nb) -> bool:
    return any("image/png" in out.get("data", {}) for out in outputs(nb))


def execute(name: str, out_dir: Path, **params):
    """Run ``notebooks/<name>.ipynb`` from its folder with ``params``; the executed notebook."""
    import nbformat
    import papermill as pm

    target = out_dir / f"{name}.ipynb"
    pm.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(target), parameters=params,
                        cwd=str(NOTEBOOKS), progress_bar=False, kernel_name="python3")
    return nbformat.read(target, as_version=4)
