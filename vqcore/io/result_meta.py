"""What our result files carry besides the values: the band over seeds (:func:`summarize`: mean and
quantiles, the ``Mean``/``Quantile Low``/``Quantile High`` series of :mod:`vqcore.io.results`) and
the ``"meta"`` object (:func:`make_meta`: preset, seeds, device, package versions, date).

numpy and torch are imported when a function needs them.
"""
from __future__ import annotations

import datetime as _dt
import logging
import platform
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

logger = logging.getLogger(__name__)

__all__ = ["Summary", "make_meta", "summarize"]


class Summary(NamedTuple):
    """Mean and the two quantiles of per-item values: floats, or lists of floats along an axis."""

    mean: Any
    low: Any
    high: Any


def summarize(samples: Any, axis: int | None = None,
              quantiles: tuple[float, float] = (0.05, 0.95)) -> Summary:
    """The mean and the ``quantiles`` (numpy's default linear interpolation) of per-item values.

    ``samples`` is a list, array or tensor of values (one per test item, seed, ...). With
    ``axis=None`` everything is pooled and the three are floats; with an ``axis`` the reduction
    runs along it and each is a list of floats (e.g. items x bitrates, ``axis=0``, gives one
    value per bitrate, ready for ``Series(mean=..., low=..., high=...)``).

    Record the quantile levels, and what they are over, in the file's meta
    (:func:`make_meta` ``quantiles=`` and ``over=``): the layout's "Quantile Low/High" keys do
    not say which quantiles they are. Empty input, non-finite values or bad levels raise
    :class:`ValueError`.
    """
    import numpy as np

    lo, hi = _check_quantiles(quantiles)
    if hasattr(samples, "detach"):  # a torch tensor, possibly on the GPU
        samples = samples.detach().cpu().numpy()
    a = np.asarray(samples, dtype=np.float64)
    if a.size == 0:
        raise ValueError("summarize needs at least one value")
    if not np.isfinite(a).all():
        raise ValueError(f"summarize got {int((~np.isfinite(a)).sum())} non-finite values; drop or fix them first")
    mean = a.mean(axis=axis)
    low, high = np.quantile(a, [lo, hi], axis=axis)
    if axis is None:
        return Summary(float(mean), float(low), float(high))
    return Summary(mean.tolist(), low.tolist(), high.tolist())


def _check_quantiles(quantiles: Sequence[float]) -> tuple[float, float]:
    try:
        lo, hi = (float(q) for q in quantiles)
    except (TypeError, ValueError):
        raise ValueError(f"quantiles must be two levels (low, high), got {quantiles!r}") from None
    if not 0.0 <= lo <= hi <= 1.0:
        raise ValueError(f"quantiles must satisfy 0 <= low <= high <= 1, got {quantiles!r}")
    return lo, hi


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def make_meta(preset: str, seeds: Iterable[int], device: Any, quantiles: tuple[float, float] = (0.05, 0.95),
              over: str = "test items", **extra: Any) -> dict[str, Any]:
    """The ``"meta"`` object of one of our result files.

    ``preset`` (``smoke``, ``quick`` or ``paper``), ``seeds``, ``device`` (a string or
    ``torch.device``), the ``quantiles`` levels of the band and what they are ``over`` (test
    items, seeds, ...), plus package versions (python, torch, numpy, vqcore, and CUDA when torch
    has it), the CUDA device's name when ``device`` is one, and the UTC date. ``extra`` (data set,
    wall time, ...) is added as given and may not replace those keys. torch is imported here,
    not at module import; a package that is missing is recorded as ``None``.
    """
    lo, hi = _check_quantiles(quantiles)
    device = str(device)
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("torch", "numpy", "vqcore"):
        versions[dist] = _version(dist)
    device_name = None
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        versions["torch"] = versions["torch"] or getattr(torch, "__version__", None)
        versions["cuda"] = getattr(torch.version, "cuda", None)
        if device.startswith("cuda") and torch.cuda.is_available():
            try:
                device_name = torch.cuda.get_device_name(torch.device(device))
            except (RuntimeError, ValueError, AssertionError) as exc:  # a bad index should not lose the result
                logger.warning("could not name device %s: %s", device, exc)
    if versions["vqcore"] is None:
        try:
            from .. import __version__ as vq_version
        except ImportError:
            vq_version = None
        versions["vqcore"] = vq_version
    meta: dict[str, Any] = {
        "preset": preset,
        "seeds": [int(s) for s in seeds],
        "quantiles": [lo, hi],
        "over": over,
        "device": device,
    }
    if device_name is not None:
        meta["device_name"] = device_name
    meta["versions"] = versions
    meta["date"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    clash = sorted(set(extra) & set(meta))
    if clash:
        raise ValueError(f"make_meta: extra keys {clash} would replace the standard ones")
    meta.update(extra)
    return meta
