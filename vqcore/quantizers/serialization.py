"""Save and load trained quantizers without pickle: safetensors weights plus a JSON configuration.

:func:`load` treats the file as untrusted. From the file's header alone, before any tensor is read
or any quantizer is built, it checks that the metadata names a quantizer class; that the
configuration is a JSON object of that class's constructor arguments, each of the right type; that
the codebooks it describes hold at most ``max_values`` numbers; and that the file holds exactly the
tensors that configuration needs, with those shapes and floating-point (or, for counts, integer)
dtypes. Then it reads the tensors and checks their values: finite codebooks and EMA buffers (whose
codebook entries' squared norms stay finite too, so that they can be searched), non-negative EMA
counts, and SFVQ's active-vertex count (a power of two from 4 to the codebook size). Every failure
is a ``ValueError`` naming the file and what is wrong. :func:`plan_stored` and :func:`build_stored`
are these two steps, for files that hold several quantizers (:mod:`vqcore.speech.codec_io`).

:func:`save` refuses (``ValueError``, nothing written) a quantizer whose values :func:`load` would
refuse, such as NaN or inf codebooks after a diverged training.
"""
from __future__ import annotations

import inspect
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch

from ..io.json_limits import loads_limited
from ..io.tensors import TensorHeader, read_safetensors, write_safetensors
from .base import Quantizer
from .registry import QUANTIZERS

__all__ = ["FORMAT", "MAX_VALUES", "StoredPlan", "build_stored", "check_device", "load", "plan_stored", "save"]

FORMAT = "vqcore-quantizer/1"
#: the most numbers a loaded quantizer's codebooks may hold (stages x entries x entry size) unless
#: :func:`load` is told otherwise: 2**28, 1 GiB in float32 (the EMA estimator keeps a second copy).
MAX_VALUES = 2 ** 28
#: a config's limits: 64 KiB of JSON, integers of at most 19 digits (every int64)
_MAX_CONFIG_CHARS = 1 << 16
_MAX_INT_DIGITS = 19
_INT_KEYS = frozenset({"dim", "bits", "stages", "bits_per_stage", "beam_width"})
_FLOAT_KEYS = frozenset({"beta", "ema_decay", "init_std", "eps"})
_BOOL_KEYS = frozenset({"ordered_track"})
_STR_KEYS = frozenset({"estimator"})
_FLOATING = ("F16", "BF16", "F32", "F64")
_INTEGER = ("I8", "I16", "I32", "I64", "U8")
#: class name -> (config key of the number of codebooks, None for one codebook; key of the bits per
#: codebook; whether the codebooks split the vector into ``stages`` parts)
_LAYOUT: dict[str, tuple[str | None, str, bool]] = {
    "VQ": (None, "bits", False), "SpaceFillingVQ": (None, "bits", False),
    "ResidualVQ": ("stages", "bits_per_stage", False), "AdditiveVQ": ("stages", "bits_per_stage", False),
    "ProductVQ": ("stages", "bits_per_stage", True),
}


class _Expected(NamedTuple):
    """A tensor the configuration needs: its shape and whether it holds floats or integers."""

    shape: tuple[int, ...]
    floating: bool


def save(quantizer: Quantizer, path: str | os.PathLike) -> Path:
    """Write ``quantizer`` (weights, buffers and constructor configuration) to a ``.safetensors`` file,
    atomically; a ``ValueError`` naming ``path`` when it cannot be written, or when :func:`load` would
    refuse what it holds (NaN or inf codebooks, say, after a diverged training): then nothing is written."""
    if QUANTIZERS.get(type(quantizer).__name__) is not type(quantizer):
        raise ValueError(f"quantizer must be one of {sorted(QUANTIZERS)}, got {type(quantizer).__name__}")
    state = quantizer.state_dict()
    problem = _values_problem(state, int(state["codebooks"].shape[-2]))
    if problem:
        raise ValueError(f"{path}: cannot save this {type(quantizer).__name__}: {problem} "
                         f"(load would refuse the file)")
    meta = {"class": type(quantizer).__name__, "config": json.dumps(quantizer.config())}
    return write_safetensors(path, state, FORMAT, meta)


def load(path: str | os.PathLike, device: str | torch.device = "cpu", *, max_values: int = MAX_VALUES) -> Quantizer:
    """Rebuild a quantizer written by :func:`save` on ``device``.

    The file is checked before anything is built (see the module docstring); a ``ValueError`` names
    the file and what is wrong. ``max_values`` bounds the numbers its codebooks may hold
    (default :data:`MAX_VALUES`); raise it to load a larger quantizer.
    """
    _check_max_values(max_values)
    check_device(path, device)
    plans: list[StoredPlan] = []

    def check(meta: dict[str, str], headers: dict[str, TensorHeader]) -> None:
        plans.append(plan_stored(str(path), meta.get("class"), meta.get("config"), headers, max_values=max_values))

    _, tensors = read_safetensors(path, FORMAT, check=check)
    return build_stored(str(path), plans[0], tensors).to(device)


class StoredPlan(NamedTuple):
    """A stored quantizer that passed :func:`plan_stored`: what :func:`build_stored` builds."""

    cls: type[Quantizer]
    #: the constructor arguments as stored (checked)
    config: dict[str, Any]
    #: entries per codebook
    codebook_size: int
    #: numbers its codebooks hold (stages x entries x entry size)
    values: int


def plan_stored(where: str, class_name: object, config: object, headers: Mapping[str, TensorHeader], *,
                max_values: int = MAX_VALUES) -> StoredPlan:
    """Check a stored quantizer from a file's header alone, before any tensor is read or anything built:
    ``class_name`` names a vqcore quantizer, ``config`` (JSON text or a parsed object) is a valid set
    of its constructor arguments whose codebooks hold at most ``max_values`` numbers, and ``headers``
    (tensor name -> :class:`~vqcore.io.tensors.TensorHeader`) are exactly the tensors it stores.

    ``where`` starts every error message (the file, and which quantizer in it); every failure is a
    ``ValueError``. Used by :func:`load` and by containers of several quantizers (the speech codec's file).
    """
    _check_max_values(max_values)
    cls = QUANTIZERS.get(class_name) if isinstance(class_name, str) else None
    if cls is None:
        raise ValueError(f"{where}: metadata key 'class' names no vqcore quantizer: {class_name!r}")
    if config is None or isinstance(config, str):
        config = _parse_config(where, config)
    elif not isinstance(config, dict):
        raise ValueError(f"{where}: 'config' must be a JSON object of constructor arguments, "
                         f"got {type(config).__name__}")
    args = _check_config(where, cls, config)
    expected, size = _expected_tensors(where, cls, args, max_values)
    _check_headers(where, cls, dict(headers), expected)
    return StoredPlan(cls, config, size, math.prod(expected["codebooks"].shape))


def build_stored(where: str, plan: StoredPlan, tensors: Mapping[str, torch.Tensor]) -> Quantizer:
    """The quantizer of ``plan`` (from :func:`plan_stored`) holding ``tensors`` (those the plan's
    headers described), on the CPU, after checking their values (finite codebooks, SFVQ's vertex
    count, ...); a ``ValueError`` starting with ``where``."""
    problem = _values_problem(dict(tensors), plan.codebook_size)
    if problem:
        raise ValueError(f"{where}: {problem}")
    quantizer = _construct(where, plan.cls, plan.config)
    try:
        quantizer.load_state_dict(dict(tensors))
    except RuntimeError as exc:  # a safety net: the checks above should have refused the file
        raise ValueError(f"{where}: the tensors do not fit {plan.cls.__name__}({plan.config}): {exc}") from exc
    return quantizer


def _check_max_values(max_values: object) -> None:
    if isinstance(max_values, bool) or not isinstance(max_values, int) or max_values < 1:
        raise ValueError(f"max_values must be an integer >= 1, got {max_values!r}")


def check_device(path: object, device: object) -> None:
    """Refuse a ``device`` torch cannot name or cannot allocate on (no CUDA, a missing GPU, ``meta``)."""
    try:
        dev = torch.device(device)  # type: ignore[arg-type]
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: device must name a torch device such as 'cpu' or 'cuda:0', "
                         f"got {device!r}") from exc
    if dev.type == "meta":
        raise ValueError(f"{path}: device 'meta' holds no values; load onto a real device such as 'cpu'")
    try:
        torch.empty(0, device=dev)
    except Exception as exc:  # torch raises RuntimeError, or AssertionError without a CUDA build
        raise ValueError(f"{path}: device {device!r} is not available here ({exc})") from exc


def _construct(path: object, cls: type[Quantizer], config: dict[str, Any]) -> Quantizer:
    """``cls(**config)``; the constructor's own refusals become a ``ValueError`` naming the file."""
    try:
        return cls(**config)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{path}: config is not valid for {cls.__name__}: {exc}") from exc


def _parse_config(path: object, text: str | None) -> dict[str, Any]:
    """The metadata key ``config``: a JSON object within :func:`~vqcore.io.json_limits.loads_limited`'s
    limits at a config's size (64 KiB, integers of at most 19 digits: int64's, no NaN or inf)."""
    if text is None:
        raise ValueError(f"{path}: metadata key 'config' is missing")
    try:
        config = loads_limited(text, max_chars=_MAX_CONFIG_CHARS, max_int_digits=_MAX_INT_DIGITS)
    except ValueError as exc:
        raise ValueError(f"{path}: metadata key 'config' {exc}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: metadata key 'config' must be a JSON object of constructor arguments, "
                         f"got {type(config).__name__}")
    return config


def _check_config(path: object, cls: type[Quantizer], config: dict[str, Any]) -> dict[str, Any]:
    """Refuse unknown, missing or mistyped constructor arguments; return them with the defaults filled in."""
    params = {name: p for name, p in inspect.signature(cls).parameters.items()
              if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unknown = sorted(set(config) - set(params))
    if unknown:
        raise ValueError(f"{path}: config key {unknown[0]!r} is not an argument of {cls.__name__} "
                         f"(it takes {', '.join(params)})")
    missing = [name for name, p in params.items() if p.default is p.empty and name not in config]
    if missing:
        raise ValueError(f"{path}: config lacks the key {missing[0]!r} ({cls.__name__} needs it)")
    for key, value in config.items():
        _check_value(path, key, value)
    args = {name: p.default for name, p in params.items() if p.default is not p.empty}
    args.update(config)
    if args.get("estimator", "nsvq") not in cls.estimators:
        raise ValueError(f"{path}: config key 'estimator' must be one of {cls.estimators} for {cls.__name__}, "
                         f"got {args['estimator']!r}")
    return args


def _check_value(path: object, key: str, value: Any) -> None:
    """One constructor argument's JSON type (and, for integers, that it is positive)."""
    if key in _INT_KEYS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{path}: config key {key!r} must be an integer >= 1, got {value!r}")
    elif key in _FLOAT_KEYS:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{path}: config key {key!r} must be a finite number, got {value!r}")
    elif key in _BOOL_KEYS:
        if not isinstance(value, bool):
            raise ValueError(f"{path}: config key {key!r} must be true or false, got {value!r}")
    elif key in _STR_KEYS:
        if not isinstance(value, str):
            raise ValueError(f"{path}: config key {key!r} must be a string, got {value!r}")
    elif value is not None and not isinstance(value, (bool, int, float, str)):
        raise ValueError(f"{path}: config key {key!r} must be a number, a string, a boolean or null, "
                         f"got {type(value).__name__}")


def _expected_tensors(path: object, cls: type[Quantizer], args: dict[str, Any],
                      max_values: int) -> tuple[dict[str, _Expected], int]:
    """The tensors (name -> shape and kind) a quantizer built from ``args`` stores, and its codebook size."""
    if cls.__name__ not in _LAYOUT:
        raise ValueError(f"{path}: load does not know the tensors of {cls.__name__}")
    stages_key, bits_key, split = _LAYOUT[cls.__name__]
    stages, bits, dim = (args[stages_key] if stages_key else 1), args[bits_key], args["dim"]
    if split and dim % stages:
        raise ValueError(f"{path}: config key 'dim' ({dim}) must be divisible by 'stages' ({stages})")
    if bits >= max_values.bit_length():
        raise ValueError(f"{path}: config key {bits_key!r} ({bits}) asks for 2**{bits} codebook entries, "
                         f"more than max_values={max_values}")
    size, sub_dim = 1 << bits, dim // stages if split else dim
    values = stages * size * sub_dim
    if values > max_values:
        raise ValueError(f"{path}: config asks for codebooks of {stages} x {size} x {sub_dim} = {values} values, "
                         f"more than max_values={max_values}")
    expected = {"codebooks": _Expected((stages, size, sub_dim), True)}
    if args.get("estimator") == "ema":
        expected["ema_cluster_size"] = _Expected((stages, size), True)
        expected["ema_embed_sum"] = _Expected((stages, size, sub_dim), True)
    if cls.__name__ == "SpaceFillingVQ":
        expected["_num_active"] = _Expected((), False)
    return expected, size


def _check_headers(path: object, cls: type[Quantizer], headers: dict[str, TensorHeader],
                   expected: dict[str, _Expected]) -> None:
    """The file's tensors are exactly ``expected``: names, shapes and dtypes, read from the header."""
    for name, want in expected.items():
        if name not in headers:
            why = " (the 'ema' estimator keeps it)" if name.startswith("ema_") else ""
            raise ValueError(f"{path}: tensor {name!r} is missing{why}; {cls.__name__} with this config "
                             f"stores {sorted(expected)}")
        got = headers[name]
        if got.shape != want.shape:
            raise ValueError(f"{path}: tensor {name!r} has shape {got.shape}, but the config needs {want.shape}")
        kinds = _FLOATING if want.floating else _INTEGER
        if got.dtype not in kinds:
            raise ValueError(f"{path}: tensor {name!r} has dtype {got.dtype}, expected one of {', '.join(kinds)}")
    extra = sorted(set(headers) - set(expected))
    if extra:
        raise ValueError(f"{path}: tensor {extra[0]!r} is not part of {cls.__name__} with this config "
                         f"(it stores {sorted(expected)})")


def _values_problem(tensors: dict[str, torch.Tensor], codebook_size: int) -> str | None:
    """What :func:`load` refuses in the tensors' values (a sentence), or None: NaN, inf or values beyond
    the default dtype, codebook entries whose squared norms overflow it, negative EMA counts, an SFVQ
    vertex count that is not a power of two from 4 to ``codebook_size``."""
    limit = torch.finfo(torch.get_default_dtype()).max
    for name, t in tensors.items():
        if not t.is_floating_point() or t.numel() == 0:
            continue
        t = t.detach()
        if not bool(torch.isfinite(t).all()):
            return f"tensor {name!r} holds NaN or inf values"
        if max(-float(t.min()), float(t.max())) > limit:
            return f"tensor {name!r} holds values beyond {torch.get_default_dtype()}'s range (+-{limit:.3g})"
    books = tensors["codebooks"].detach()
    if books.numel() and not bool(torch.isfinite(books.to(torch.get_default_dtype()).square().sum(-1)).all()):
        return (f"tensor 'codebooks' holds entries too large to search (their squared norms "
                f"overflow {torch.get_default_dtype()})")
    counts = tensors.get("ema_cluster_size")
    if counts is not None and counts.numel() and float(counts.min()) < 0:
        return "tensor 'ema_cluster_size' holds negative counts"
    active = tensors.get("_num_active")
    if active is not None:
        n = int(active)
        if not 4 <= n <= codebook_size or n & (n - 1):
            return (f"tensor '_num_active' (SFVQ's active vertices) must be a power of two "
                    f"from 4 to {codebook_size}, got {n}")
    return None
