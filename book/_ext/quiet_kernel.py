"""No library log lines or kernel warnings from the kernels that execute the pages (a local Sphinx extension).

The pages' code runs in IPython kernels that myst-nb starts during the build. This extension gives
those kernels an IPython folder of their own under the build folder (``IPYTHONDIR``, inherited by
every kernel the build starts) with

- ``ipython_kernel_config.py``: the kernel application logs errors only, so ipykernel's warning that
  it runs over TCP without encryption (the kernel talks to the build on 127.0.0.1) is not printed;
- a startup file that keeps faiss's loader logger at WARNING, so the INFO lines in which faiss says
  which of its builds it loaded never reach a page, whatever logging a cell configures.

Stderr that still reaches a cell's outputs is kept out of the pages by ``execute.stderr_output``
in _config.yml.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: loggers that are set to WARNING in every kernel: name -> why
QUIET_LOGGERS = {"faiss.loader": "faiss logs which of its builds (AVX2, AVX512, ...) it loaded, at INFO"}

KERNEL_CONFIG = '''\
# Written by book/_ext/quiet_kernel.py for the kernels of the book build; rewritten at every build.
c.IPKernelApp.log_level = "ERROR"
'''


def startup_script() -> str:
    """The startup file's text; it binds no name in the notebooks' namespace."""
    lines = ["# Written by book/_ext/quiet_kernel.py for the kernels of the book build; rewritten at every build."]
    for name, why in QUIET_LOGGERS.items():
        lines.append(f"# {why}")
        lines.append(f'__import__("logging").getLogger({name!r}).setLevel(__import__("logging").WARNING)')
    return "\n".join(lines) + "\n"


def write_ipython_dir(root: Path) -> Path:
    """Write the kernels' IPython folder under ``root``; returns it (the value for ``IPYTHONDIR``)."""
    profile = root / "profile_default"
    (profile / "startup").mkdir(parents=True, exist_ok=True)
    for path, text in ((profile / "ipython_kernel_config.py", KERNEL_CONFIG),
                       (profile / "startup" / "00-quiet-logging.py", startup_script())):
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
    return root


def _quiet_kernels(app: Any, config: Any) -> None:
    # beside the doctrees (_build/.doctrees -> _build/ipython): a build folder, never the sources
    root = write_ipython_dir(Path(app.doctreedir).parent / "ipython")
    os.environ["IPYTHONDIR"] = str(root)


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", _quiet_kernels)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
