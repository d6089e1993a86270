"""Small fixes to the HTML that Jupyter Book 1.0 writes (a local Sphinx extension, see _config.yml).

- Some inline scripts (sphinx-thebe's ``const THEBE_JS_URL = ...``, sphinx-togglebutton's
  settings) are registered twice and reach every page twice; the second ``const`` declaration
  is a JavaScript error in the reader's console. Drop repeated scripts from each page.
"""
from __future__ import annotations

from typing import Any


def _script_key(script: Any) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    # the same inline script is registered once with filename None and once with ""
    return str(getattr(script, "filename", script) or ""), tuple(sorted((k, str(v)) for k, v in attributes.items() if k != "priority"))


def _drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app) -> dict[str, Any]:
    app.connect("html-page-context", _drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
