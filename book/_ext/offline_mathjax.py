"""Maths with no network: MathJax served from the built book (a local Sphinx extension, see _config.yml).

Sphinx loads MathJax from a CDN by default, so a book opened from ``file://`` or read offline
shows raw LaTeX. The ``sphinx-mathjax-offline`` wheel (in the ``book`` extra) ships MathJax 3's
built files; this extension adds its ``static/`` folder to ``html_static_path``, so the files land
in ``_build/html/_static/mathjax/``, and checks that ``mathjax_path`` (set in _config.yml) names
one of them rather than a network address.
"""
from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

from sphinx.errors import ConfigError, ExtensionError

#: the distribution that ships MathJax, and where its files are inside it
DISTRIBUTION = "sphinx-mathjax-offline"
STATIC_IN_DISTRIBUTION = "sphinx-mathjax-offline/static"


def mathjax_static_dir() -> Path:
    """The installed folder that holds ``mathjax/`` (copied as is into ``_static/``)."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise ExtensionError(f"{DISTRIBUTION} is not installed: the book serves MathJax from it "
                             "(pip install -e '.[book]', or `make book`)") from None
    static = Path(str(dist.locate_file(STATIC_IN_DISTRIBUTION)))
    if not (static / "mathjax").is_dir():
        raise ExtensionError(f"{DISTRIBUTION} is installed but has no MathJax folder at {static / 'mathjax'}")
    return static


def _serve_mathjax(app: Any, config: Any) -> None:
    path = str(config.mathjax_path)
    if "://" in path or path.startswith("//"):
        raise ConfigError(f"mathjax_path must name a file of the local MathJax (e.g. mathjax/tex-chtml.js), "
                          f"not a network address: got {path!r}")
    static = mathjax_static_dir()
    if not (static / path).is_file():
        raise ConfigError(f"mathjax_path {path!r} is not a file of {DISTRIBUTION} (looked in {static})")
    config.html_static_path = [*config.html_static_path, str(static)]


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", _serve_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
