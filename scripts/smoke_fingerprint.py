"""Fingerprint of every result file the smoke preset writes: the proof that a refactoring changed nothing.

    python scripts/smoke_fingerprint.py run  --out before.json     # run every figure at the smoke preset
    python scripts/smoke_fingerprint.py compare before.json after.json
    python scripts/smoke_fingerprint.py run --figures 2a,2b --out part.json   # some figures only
    python scripts/smoke_fingerprint.py compare before.json part.json --subset

``run`` executes ``vqcore reproduce --preset smoke`` (all figures, no notebooks) into a fresh
temporary results folder, one torch thread, and records for every file written there:

- result JSON: every value outside ``meta`` exactly, and ``meta`` with the keys that hold dates,
  wall-clock or compute timings removed (anything whose name says date, time, seconds, wall,
  compute, or ends in ``_s``);
- safetensors files (models): the SHA-256 of every tensor, and their metadata with timing keys removed;
- ``.npz`` arrays: the SHA-256 of every array;
- any other artefact (bitstreams, audio): its SHA-256.

``compare`` exits 0 when the two fingerprints agree on every result JSON (values and the
remaining meta), and 1 otherwise, listing what differs. ``--rename OLD=NEW`` (repeatable)
replaces ``OLD`` by ``NEW`` in every string of the first fingerprint before comparing: meta
text that names a module that moved (``vqcore.complexity`` -> ``vqcore.eval.complexity``). Artefact hashes that differ are listed
as well; they count as differences too unless ``--json-only`` is given.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_TIMING = re.compile(r"(date|time|seconds|wall|compute)|(_s$)", re.IGNORECASE)


def _strip(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if not _TIMING.search(k)}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def fingerprint(root: Path) -> dict[str, Any]:
    """``{relative path: stripped JSON or {"sha256": ...}}`` for every file under ``root`` but ``.runs``."""
    out: dict[str, Any] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or rel.startswith(".runs/"):
            continue
        if path.suffix == ".json":
            obj = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(obj, dict) and isinstance(obj.get("meta"), dict):
                obj["meta"] = _strip(obj["meta"])
            out[rel] = {"json": obj}
        elif path.suffix == ".safetensors":
            out[rel] = {"tensors": _safetensors(path)}
        elif path.suffix == ".npz":
            import numpy as np

            with np.load(path) as arrays:
                out[rel] = {"tensors": {k: _sha(np.ascontiguousarray(arrays[k]).tobytes()) for k in arrays.files}}
        else:
            out[rel] = {"sha256": _sha(path.read_bytes())}
    return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _safetensors(path: Path) -> dict[str, Any]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as f:
        meta = dict(f.metadata() or {})
        tensors = {k: _sha(f.get_tensor(k).contiguous().view(-1).view(torch_uint8()).numpy().tobytes())
                   for k in f.keys()}  # noqa: SIM118
    for key, value in list(meta.items()):
        try:
            parsed = json.loads(value)
        except (TypeError, ValueError):
            continue
        meta[key] = _strip(parsed)
    return {"meta": _strip(meta), "tensors": tensors}


def torch_uint8() -> Any:
    import torch

    return torch.uint8


def run(out: Path, figures: str | None = None) -> int:
    import torch

    from vqcore.experiments.reproduce import reproduce

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="vqcore-smoke-") as tmp:
        start = time.perf_counter()
        reproduce("smoke", figures, results_dir=tmp, device="cpu", notebooks=False, progress=False)
        wall = time.perf_counter() - start
        files = fingerprint(Path(tmp))
    out.write_text(json.dumps({"wall_s": round(wall, 1), "files": files}, indent=1, sort_keys=True) + "\n",
                   encoding="utf-8")
    print(f"{len(files)} files fingerprinted in {wall:.0f} s -> {out}")
    return 0


def _diff(a: Any, b: Any, where: str, found: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                found.append(f"{where}/{k}: only in {'after' if k not in a else 'before'}")
            else:
                _diff(a[k], b[k], f"{where}/{k}", found)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f"{where}[{i}]", found)
    elif a != b:
        found.append(f"{where}: {json.dumps(a)[:120]} != {json.dumps(b)[:120]}")


def _rename(obj: Any, renames: list[tuple[str, str]]) -> Any:
    if isinstance(obj, dict):
        return {k: _rename(v, renames) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rename(v, renames) for v in obj]
    if isinstance(obj, str):
        for old, new in renames:
            obj = obj.replace(old, new)
    return obj


def compare(before: Path, after: Path, json_only: bool, renames: list[tuple[str, str]] = (),
            subset: bool = False) -> int:
    a = _rename(json.loads(before.read_text(encoding="utf-8"))["files"], list(renames))
    b = json.loads(after.read_text(encoding="utf-8"))["files"]
    if subset:  # AFTER ran some figures only: compare the files it has
        a = {k: v for k, v in a.items() if k in b}
    found: list[str] = []
    artefacts: list[str] = []
    for rel in sorted(set(a) | set(b)):
        if rel not in a or rel not in b:
            found.append(f"{rel}: only in {'after' if rel not in a else 'before'}")
        elif "json" in a[rel] or "json" in b[rel]:
            _diff(a[rel].get("json"), b[rel].get("json"), rel, found)
        elif a[rel] != b[rel]:
            artefacts.append(f"{rel}: artefact bytes differ")
    n_json = sum("json" in v for v in a.values())
    for line in found + artefacts:
        print(line)
    bad = bool(found) or (bool(artefacts) and not json_only)
    print(f"{n_json} result JSON files, {len(a) - n_json} other artefacts compared: "
          + ("DIFFERENT" if bad else "identical" + (" (artefacts aside)" if artefacts else "")))
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run the smoke preset and write its fingerprint")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--figures", default=None, help="comma-separated figures (default: all)")
    p = sub.add_parser("compare", help="compare two fingerprints")
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("--json-only", action="store_true", help="ignore differing artefact bytes")
    p.add_argument("--rename", action="append", default=[], metavar="OLD=NEW",
                   help="replace OLD by NEW in the strings of BEFORE (a module that moved)")
    p.add_argument("--subset", action="store_true", help="AFTER ran some figures only: compare those files")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.out, args.figures)
    renames = []
    for item in args.rename:
        old, sep, new = item.partition("=")
        if not sep or not old:
            parser.error(f"--rename: expected OLD=NEW, got {item!r}")
        renames.append((old, new))
    return compare(args.before, args.after, args.json_only, renames, args.subset)


if __name__ == "__main__":
    sys.exit(main())
