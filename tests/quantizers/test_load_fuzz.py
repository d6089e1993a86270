"""Property-based tests of vqcore.load: a mutated saved file either loads a working quantizer or raises a
ValueError naming the file; never another exception.

The example budget is fixed (fast); set ``VQCORE_FUZZ_EXAMPLES`` for a deeper run.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import save as save_bytes

import vqcore

EXAMPLES = int(os.environ.get("VQCORE_FUZZ_EXAMPLES", 40))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: one small saved quantizer of every class, and the estimators with extra state
MODELS = {
    "VQ": lambda: vqcore.VQ(4, bits=2),
    "VQ-ema": lambda: vqcore.VQ(4, bits=2, estimator="ema"),
    "ResidualVQ": lambda: vqcore.ResidualVQ(4, stages=2, bits_per_stage=2, estimator="ema"),
    "AdditiveVQ": lambda: vqcore.AdditiveVQ(4, stages=2, bits_per_stage=2, beam_width=2),
    "ProductVQ": lambda: vqcore.ProductVQ(4, stages=2, bits_per_stage=2),
    "SpaceFillingVQ": lambda: vqcore.SpaceFillingVQ(4, bits=3),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def saved(folder: Path) -> dict[str, bytes]:
    """The bytes of every model in :data:`MODELS`, as :func:`vqcore.save` writes them."""
    torch.manual_seed(0)
    return {name: vqcore.save(make(), folder / f"{name}.safetensors").read_bytes() for name, make in MODELS.items()}


def _parts(blob: bytes, folder: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    path = folder / "parts.safetensors"
    path.write_bytes(blob)
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118


def _check_load(path: Path) -> None:
    """The property: ``load`` gives a working quantizer, or a ValueError naming ``path``."""
    try:
        q = vqcore.load(path)
    except ValueError as exc:
        assert str(path) in str(exc), str(exc)
        return
    assert bool(torch.isfinite(q.codebooks).all())
    x = torch.randn(7, q.dim, generator=torch.Generator().manual_seed(0))
    codes = q.encode(x)
    assert codes.shape == (7, q.num_stages)
    assert int(codes.min()) >= 0 and int(codes.max()) < q.num_codes
    assert bool(torch.isfinite(q.decode(codes)).all())
    back = vqcore.load(vqcore.save(q, path.with_suffix(".again")))
    assert back.config() == q.config()


# -- strategies ----------------------------------------------------------------------------------------
_SCALARS = (st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70) | st.integers(-3, 30)
            | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8)
            | st.sampled_from(["nsvq", "ste", "ema", "VQ"]))
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                             max_size=3), max_leaves=8)
_OTHER_KEYS = ["dim", "bits", "stages", "bits_per_stage", "beam_width", "ordered_track", "estimator", "beta",
               "ema_decay", "init_std", "eps", "other"]
#: config edits: ("set", key, JSON value) or ("del", key, None); a key is an index into the model's own
#: keys (most edits) or into :data:`_OTHER_KEYS`
_CONFIG_EDITS = st.lists(st.tuples(st.sampled_from(["set", "set", "del"]), st.integers(0, 15), _JSON),
                         min_size=1, max_size=4)


def _key(config: dict[str, Any], index: int) -> str:
    own = sorted(config)
    return own[index] if index < len(own) else _OTHER_KEYS[index % len(_OTHER_KEYS)]


@st.composite
def _tensor_edits(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """Edits of the tensors: drop, reshape, retype, fill with a special value, poke one entry, add one."""
    edit = st.one_of(
        st.tuples(st.just("drop"), st.integers(0, 3)),
        st.tuples(st.just("shape"), st.integers(0, 3), st.lists(st.integers(0, 9), max_size=4)),
        st.tuples(st.just("dtype"), st.integers(0, 3), st.sampled_from(
            [torch.float16, torch.bfloat16, torch.float64, torch.int32, torch.int64, torch.uint8, torch.bool])),
        st.tuples(st.just("poke"), st.integers(0, 3), st.integers(0, 10 ** 6), st.sampled_from(
            [float("nan"), float("inf"), -float("inf"), 1e30, -1e20, 0.0, -1.0, 2.0, 3.0, 17.0, 8.0, 1e300])),
        st.tuples(st.just("add"), st.sampled_from(["extra", "ema_cluster_size", "_num_active", "codebooks.x"])),
    )
    return draw(st.lists(edit, min_size=1, max_size=3))


def _apply_tensor_edit(tensors: dict[str, torch.Tensor], edit: tuple[Any, ...]) -> None:
    names = sorted(tensors)
    kind, target = edit[0], names[edit[1] % len(names)] if names and isinstance(edit[1], int) else None
    if kind == "drop" and target:
        del tensors[target]
    elif kind == "shape" and target:
        numel = 1
        for n in edit[2]:
            numel *= n
        tensors[target] = torch.zeros(edit[2], dtype=tensors[target].dtype) if numel < 10 ** 4 else tensors[target]
    elif kind == "dtype" and target:
        tensors[target] = tensors[target].to(edit[2])
    elif kind == "poke" and target:
        t = tensors[target].double().reshape(-1)
        if t.numel():
            t[edit[2] % t.numel()] = edit[3]
            tensors[target] = t.reshape(tensors[target].shape).to(tensors[target].dtype)
    elif kind == "add":
        tensors[edit[1]] = torch.ones(2, 2) if edit[1] != "_num_active" else torch.tensor(4)


# -- the properties ----------------------------------------------------------------------------------
@FUZZ
@given(name=st.sampled_from(sorted(MODELS)), edits=_CONFIG_EDITS, cls=st.sampled_from(
    [None] * 8 + ["VQ", "ResidualVQ", "AdditiveVQ", "ProductVQ", "SpaceFillingVQ", "Module", ""]))
def test_mutated_configs_load_or_name_the_file(saved, folder, name, edits, cls):
    meta, tensors = _parts(saved[name], folder)
    config = json.loads(meta["config"])
    for op, index, value in edits:
        key = _key(config, index)
        if op == "del":
            config.pop(key, None)
        else:
            config[key] = value
    meta["config"] = json.dumps(config)
    if cls is not None:
        meta["class"] = cls
    path = folder / "config.safetensors"
    path.write_bytes(save_bytes(tensors, metadata=meta))
    _check_load(path)


@FUZZ
@given(name=st.sampled_from(sorted(MODELS)), cut=st.integers(0, 400), junk=st.text(max_size=6))
def test_mutated_config_text_loads_or_names_the_file(saved, folder, name, cut, junk):
    meta, tensors = _parts(saved[name], folder)
    text = meta["config"]
    cut %= len(text) + 1
    meta["config"] = text[:cut] + junk + text[cut + len(junk) // 2:]
    path = folder / "text.safetensors"
    path.write_bytes(save_bytes(tensors, metadata=meta))
    _check_load(path)


@FUZZ
@given(name=st.sampled_from(sorted(MODELS)), edits=_tensor_edits())
def test_mutated_tensors_load_or_name_the_file(saved, folder, name, edits):
    meta, tensors = _parts(saved[name], folder)
    for edit in edits:
        _apply_tensor_edit(tensors, edit)
    path = folder / "tensors.safetensors"
    path.write_bytes(save_bytes({k: v.contiguous() for k, v in tensors.items()}, metadata=meta))
    _check_load(path)


@FUZZ
@given(name=st.sampled_from(sorted(MODELS)), in_header=st.booleans(),
       pokes=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 255)), min_size=1, max_size=6),
       resize=st.integers(-16, 16))
def test_mutated_bytes_load_or_name_the_file(saved, folder, name, in_header, pokes, resize):
    data = bytearray(saved[name])
    header_end = 8 + struct.unpack("<Q", bytes(data[:8]))[0]
    for pos, byte in pokes:
        lo, hi = (0, header_end) if in_header else (header_end, len(data))
        data[lo + pos % (hi - lo)] = byte
    if resize < 0:
        del data[resize:]
    else:
        data.extend(b"\x00" * resize)
    path = folder / "bytes.safetensors"
    path.write_bytes(bytes(data))
    _check_load(path)
