"""The C beam search (``beam_search_native.c``): built on first use with the system's C compiler,
loaded with :mod:`ctypes`, used by :func:`vqcore.quantizers.beam_search.additive_beam_search` for
float32 vectors on a CPU. The same library holds the row argmin (:func:`argmin_rows`) of the
nearest-codeword search (:func:`vqcore.quantizers.nearest.nearest`: VQ, RVQ, PVQ, SFVQ).

It runs the same search on the same tables as the torch code (the linear blocks from torch's
matrix product, the Gram blocks, the set hashes), with every score the same float addition in the
same order, so the codes are the same but for the order of exactly equal scores; it keeps each
vector's best tuples in a short list instead of ranking whole batches with torch's top-k kernels,
which is where the torch search spends its time on a CPU (``benchmarks/README.md``).

- The library is compiled once per source, compiler and CPU into the cache folder
  (``$VQCORE_NATIVE_DIR``, else ``$XDG_CACHE_HOME/vqcore`` or ``~/.cache/vqcore``; written
  atomically, so concurrent first uses do not clash) with ``-O3 -march=native`` and without
  ``-ffast-math`` or contracted multiply-adds (the additions must round as torch's do).
- ``VQCORE_NATIVE=0`` turns it off; so does a missing compiler or a failed build (logged once), and
  the torch search runs instead: the codes are the same either way.
- ctypes releases the GIL during the call, so the threads of
  :func:`~vqcore.quantizers.beam_search.additive_beam_search` search their chunks in parallel.
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import torch

from .checks import _is_compiling

logger = logging.getLogger(__name__)

__all__ = ["SOURCE", "argmin_rows", "available", "beam_search", "library_path"]

#: the C source
SOURCE = Path(__file__).with_name("beam_search_native.c")
#: the compiler flags (besides ``-shared -fPIC -o``)
FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fno-fast-math", "-std=c99")
#: the most codebooks the C search takes (the bits of its used-codebook mask)
MAX_STAGES = 64
#: the most floats in one of its two ``(beam, M*K)`` increment buffers (else the torch search runs)
MAX_BUFFER = 1 << 26

_lock = threading.Lock()
_state: dict[str, object] = {}


def _cache_dir() -> Path:
    if os.environ.get("VQCORE_NATIVE_DIR"):
        return Path(os.environ["VQCORE_NATIVE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vqcore"


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return next((line for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        return ""


def library_path(compiler: str) -> Path:
    """Where the library built from :data:`SOURCE` by ``compiler`` for this CPU is cached."""
    digest = hashlib.sha256()
    for part in (SOURCE.read_bytes(), compiler.encode(), " ".join(FLAGS).encode(), platform.machine().encode(),
                 _cpu_flags().encode()):
        digest.update(part)
        digest.update(b"\0")
    return _cache_dir() / f"beam_search_native-{digest.hexdigest()[:16]}.so"


def _build(compiler: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.stem + "-", suffix=".so.tmp", dir=target.parent)
    os.close(fd)
    try:
        subprocess.run([compiler, *FLAGS, "-shared", "-fPIC", "-o", tmp, str(SOURCE)], check=True,
                       capture_output=True, text=True, timeout=120)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load() -> ctypes.CDLL | None:
    if os.environ.get("VQCORE_NATIVE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    if "lib" in _state:  # loaded (or found missing) already: no lock on the search's path
        return _state["lib"]  # type: ignore[return-value]
    with _lock:
        if "lib" in _state:
            return _state["lib"]  # type: ignore[return-value]
        lib = None
        compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
        if compiler is None:
            logger.info("no C compiler found: the beam search runs in torch")
        else:
            try:
                path = library_path(compiler)
                if not path.is_file():
                    logger.info("building the C beam search: %s -> %s", SOURCE.name, path)
                    _build(compiler, path)
                lib = ctypes.CDLL(str(path))
                fn = lib.vqcore_beam_search_f32
                fn.restype = ctypes.c_int
                fn.argtypes = [ctypes.c_int64, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32,
                               ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
                rows = lib.vqcore_argmin_rows_f32
                rows.restype = None
                rows.argtypes = [ctypes.c_int64, ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p]
            except (OSError, subprocess.SubprocessError, AttributeError) as err:
                detail = getattr(err, "stderr", None) or err
                logger.warning("the C beam search could not be built or loaded (%s): the beam search runs in torch",
                               str(detail).strip()[:500])
                lib = None
        _state["lib"] = lib
        return lib


def available() -> bool:
    """Whether the C search is built and loaded here (building it now if needed)."""
    return _load() is not None


def beam_search(lin: torch.Tensor, sq_norms: torch.Tensor, gram: torch.Tensor, hashes: torch.Tensor,
                num_stages: int, codebook_size: int, beam_width: int, ordered: bool) -> torch.Tensor | None:
    """Codes ``(n, M)`` int64 of the C search, or None where it does not apply (then the caller runs
    the torch search): off or not built, not float32 CPU tensors, ``M`` outside ``[2, 64]``, or
    increment buffers above :data:`MAX_BUFFER` floats.

    lin: ``(n, M*K)`` ``||c||^2 - 2 <x, c>``; sq_norms: ``(n,)`` ``||x||^2``; gram: ``(M*K, M*K)``
    ``2 <c_j, c_l>`` (or the same values as ``(M*K*M, K)`` blocks); hashes: ``(M*K,)`` int64; all contiguous.
    """
    if not 2 <= num_stages <= MAX_STAGES or beam_width * num_stages * codebook_size > MAX_BUFFER:
        return None
    tensors = (lin, sq_norms, gram)
    if any(t.device.type != "cpu" or t.dtype != torch.float32 or not t.is_contiguous() for t in tensors):
        return None
    if hashes.dtype != torch.int64 or not hashes.is_contiguous() or hashes.device.type != "cpu":
        return None
    lib = _load()
    if lib is None:
        return None
    n = lin.shape[0]
    codes = torch.empty(n, num_stages, dtype=torch.int64)
    rc = lib.vqcore_beam_search_f32(n, num_stages, codebook_size, beam_width, int(ordered), lin.data_ptr(),
                                    sq_norms.data_ptr(), gram.data_ptr(), hashes.data_ptr(), codes.data_ptr())
    return codes if rc == 0 else None


def argmin_rows(scores: torch.Tensor) -> torch.Tensor | None:
    """``scores.argmin(-1)`` of a contiguous float32 CPU ``(n, K)`` tensor (``K >= 1``), in C: the same
    indices (the first NaN of a row that has one, else the first index of its minimum), in one
    thread, several times faster than torch's kernel (sharing the rows among threads gained
    nothing on the 2-core machine: the reads are bound by memory). None where it does not apply
    (off or not built, another dtype, device or layout, or inside ``torch.compile``): the caller
    runs torch's then.
    """
    if (scores.dim() != 2 or scores.shape[1] < 1 or scores.device.type != "cpu" or scores.dtype != torch.float32
            or not scores.is_contiguous() or _is_compiling()):
        return None
    lib = _load()
    if lib is None:
        return None
    out = torch.empty(scores.shape[0], dtype=torch.int64)
    lib.vqcore_argmin_rows_f32(scores.shape[0], scores.shape[1], scores.data_ptr(), out.data_ptr())
    return out
