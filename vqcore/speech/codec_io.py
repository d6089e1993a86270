"""A trained :class:`~vqcore.speech.codec.SpeechCodec` in one safetensors file, without pickle.

The file holds every quantizer's state (``"b<bits>.<name>"`` tensors) and, in its metadata, the
format tag :data:`CODEC_FORMAT`, the bitrate, method, MDCT window, noise-fill level, companding
power, postfilter power and each quantizer's class and configuration: everything :func:`load_codec` needs to rebuild
the codec. A file without the companding or postfilter power (written before those settings
existed) is a codec without them.

:func:`load_codec` treats the file as untrusted, as :func:`vqcore.load` does: from the header
alone it checks the settings, each quantizer's class and configuration (against a memory bound
for all of them together) and that the file holds exactly the tensors those quantizers store,
with their shapes and dtypes (:func:`~vqcore.quantizers.serialization.plan_stored`); only then
does it read the tensors, check their values (finite codebooks, ...) and build the codec. Every
failure is a ``ValueError`` naming the file.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch

from ..io.json_limits import loads_limited
from ..io.tensors import TensorHeader, read_safetensors, write_safetensors
from ..quantizers.serialization import MAX_VALUES, StoredPlan, build_stored, check_device, plan_stored
from .allocation import bit_allocation
from .codec import POWERS, SpeechCodec

__all__ = ["CODEC_FORMAT", "load_codec", "save_codec"]

CODEC_FORMAT = "vqcore-speech-codec/1"
#: the quantizer classes a codec file may name
_CODEC_QUANTIZERS = ("AdditiveVQ", "ResidualVQ", "ProductVQ")
#: the metadata key ``quantizers``: at most this many characters of JSON, integers of at most 19 digits
_MAX_QUANTIZERS_CHARS = 1 << 20
_MAX_INT_DIGITS = 19
_SETTINGS = ("bitrate", "method", "window", "noise_fill", "quantizers")
#: settings a file may lack, with the value that means
_OPTIONAL_SETTINGS = {"compand": "1.0", "postfilter": "1.0"}


def save_codec(codec: SpeechCodec, path: str | os.PathLike, dtype: torch.dtype | None = None) -> Path:
    """Write a trained codec (every quantizer's codebooks plus the settings needed to rebuild it) to one
    ``.safetensors`` file, atomically, without pickle.

    Args:
        dtype: store the codebooks in this dtype (e.g. ``torch.float16`` to halve the file); default:
            as they are (float32). The decoder then uses the stored values.
    """
    if not isinstance(codec, SpeechCodec):
        raise ValueError(f"codec must be a SpeechCodec, got {type(codec).__name__}")  # noqa: TRY004 - the house rule: ValueError naming the argument
    tensors, quantizers = {}, {}
    for key, q in codec.quantizers.items():
        for name, value in q.state_dict().items():
            t = value.detach().to("cpu")
            if dtype is not None and t.is_floating_point():
                t = t.to(dtype)
            tensors[f"{key}.{name}"] = t.contiguous()
        quantizers[key] = {"class": type(q).__name__, "config": q.config()}
    meta = {"bitrate": repr(codec.bitrate), "method": codec.method,
            "window": codec.mdct.window_kind, "noise_fill": repr(codec.noise_fill), "compand": repr(codec.compand),
            "postfilter": repr(codec.postfilter),
            "quantizers": json.dumps(quantizers)}
    return write_safetensors(path, tensors, CODEC_FORMAT, meta)


def load_codec(path: str | os.PathLike, device: str | torch.device = "cpu", *,
               max_values: int = MAX_VALUES) -> SpeechCodec:
    """Rebuild a codec written by :func:`save_codec` (codebooks in float32 on ``device``).

    The file is checked before anything is built (see the module docstring); a ``ValueError`` names
    the file and what is wrong. ``max_values`` bounds the numbers all its codebooks together may
    hold (default :data:`~vqcore.quantizers.serialization.MAX_VALUES`).
    """
    path = Path(path)
    check_device(path, device)
    checked: dict[str, Any] = {}

    def check(meta: dict[str, str], headers: dict[str, TensorHeader]) -> None:
        checked.update(_settings(path, meta))
        checked["plans"] = _plans(path, meta["quantizers"], headers, max_values)
        try:
            groups = sorted(f"b{b}" for b in bit_allocation(checked["bitrate"]).groups)
        except ValueError as exc:
            raise ValueError(f"{path}: metadata key 'bitrate': {exc}") from None
        if sorted(checked["plans"]) != groups:  # else the codec would build untrained ones for the others
            raise ValueError(f"{path}: the file holds the quantizers {sorted(checked['plans'])}, but a codec "
                             f"at {checked['bitrate']:g} kbit/s has {groups}")

    _, tensors = read_safetensors(path, CODEC_FORMAT, check=check)
    quantizers = {}
    for key, plan in checked["plans"].items():
        state = {name[len(key) + 1:]: t.to(torch.float32) if t.is_floating_point() else t
                 for name, t in tensors.items() if name.startswith(key + ".")}
        quantizers[key] = build_stored(f"{path}: quantizer {key!r}", plan, state)
    try:
        codec = SpeechCodec(checked["bitrate"], checked["method"], quantizers=quantizers,
                            window=checked["window"], noise_fill=checked["noise_fill"], compand=checked["compand"],
                            postfilter=checked["postfilter"])
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{path}: the settings and quantizers do not make a codec: {exc}") from exc
    return codec.to(device).eval()


def _settings(path: Path, meta: dict[str, str]) -> dict[str, Any]:
    """The codec's settings from the metadata: bitrate and noise fill finite numbers, method and window
    strings, the companding power a number in (0, 1] and the postfilter's in [1, 4] (1 when the file
    has none)."""
    missing = [key for key in _SETTINGS if key not in meta]
    if missing:
        raise ValueError(f"{path}: metadata key {missing[0]!r} is missing (a codec file has {', '.join(_SETTINGS)})")
    meta = {**_OPTIONAL_SETTINGS, **meta}
    out: dict[str, Any] = {"method": meta["method"], "window": meta["window"]}
    for key in ("bitrate", "noise_fill", "compand", "postfilter"):
        try:
            value = float(meta[key]) if len(meta[key]) <= 64 else math.nan
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{path}: metadata key {key!r} must be a finite number >= 0, got {meta[key][:64]!r}")
        if key in POWERS and not POWERS[key][1](value):
            raise ValueError(f"{path}: metadata key {key!r} must be a number in {POWERS[key][0]}, got {meta[key][:64]!r}")
        out[key] = value
    return out


def _plans(path: Path, text: str, headers: dict[str, TensorHeader], max_values: int) -> dict[str, StoredPlan]:
    """Check every quantizer the metadata key ``quantizers`` describes against its tensors' headers."""
    try:
        specs = loads_limited(text, max_chars=_MAX_QUANTIZERS_CHARS, max_int_digits=_MAX_INT_DIGITS)
    except ValueError as exc:
        raise ValueError(f"{path}: metadata key 'quantizers' {exc}") from None
    if not isinstance(specs, dict) or not specs:
        raise ValueError(f"{path}: metadata key 'quantizers' must be a non-empty JSON object "
                         f"(key -> class and config), got {type(specs).__name__}")
    owned = {name: key for key in specs for name in headers if name.startswith(f"{key}.")}
    stray = sorted(set(headers) - set(owned))
    if stray:
        raise ValueError(f"{path}: tensor {stray[0]!r} belongs to no quantizer of the file ({sorted(specs)})")
    plans, total = {}, 0
    for key, spec in specs.items():
        where = f"{path}: quantizer {key!r}"
        if not isinstance(spec, dict) or set(spec) != {"class", "config"}:
            raise ValueError(f"{where} must be a JSON object with the keys 'class' and 'config', got {spec!r:.80}")
        if spec["class"] not in _CODEC_QUANTIZERS:
            raise ValueError(f"{where} has unknown class {spec['class']!r} (a codec uses {', '.join(_CODEC_QUANTIZERS)})")
        mine = {name[len(key) + 1:]: h for name, h in headers.items() if owned.get(name) == key}
        plan = plan_stored(where, spec["class"], spec["config"], mine, max_values=max_values)
        total += plan.values
        if total > max_values:
            raise ValueError(f"{path}: the codebooks of its quantizers hold more than max_values={max_values} values")
        plans[key] = plan
    return plans
