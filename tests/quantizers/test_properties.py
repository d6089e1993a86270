"""Property-based tests (hypothesis) of every quantizer's public methods.

Every input either works, and then agrees with a float64 reference (the codes of VQ, ResidualVQ,
ProductVQ, AdditiveVQ with an exhaustive beam and SpaceFillingVQ equal a float64 brute-force
search wherever the best candidate wins by more than the float32 rounding error;
``decode(encode(x))`` equals ``quantize(x)``), or raises a ValueError whose message names the
argument. No other exception type, and no bad input accepted silently.

The example budget is small by default; set VQCORE_FUZZ_EXAMPLES for a deeper run.
"""
from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import vqcore

EXAMPLES = int(os.environ.get("VQCORE_FUZZ_EXAMPLES", 40))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize="VQCORE_FUZZ_EXAMPLES" not in os.environ,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

FLOAT_DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
OTHER_DTYPES = [torch.int64, torch.int32, torch.uint8, torch.bool, torch.complex64]
SPECIAL = [float("nan"), float("inf"), -float("inf"), 1e19, -3e18, 1e30, 3e38, 1e300]


# -- strategies ------------------------------------------------------------------------------------

@st.composite
def quantizers(draw: st.DrawFn) -> vqcore.Quantizer:
    """A small quantizer of any class, with random sizes, estimator, init scale and (SFVQ) growth."""
    kind = draw(st.sampled_from(["VQ", "ResidualVQ", "AdditiveVQ", "ProductVQ", "SpaceFillingVQ"]))
    seed = draw(st.integers(0, 2 ** 16))
    init_std = draw(st.sampled_from([1e-3, 0.5, 1.0, 1e3]))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if kind == "VQ":
            q: vqcore.Quantizer = vqcore.VQ(draw(st.integers(1, 6)), draw(st.integers(1, 4)), init_std=init_std,
                                            estimator=draw(st.sampled_from(["nsvq", "ste", "ema"])))
        elif kind == "ResidualVQ":
            q = vqcore.ResidualVQ(draw(st.integers(1, 6)), draw(st.integers(1, 3)), draw(st.integers(1, 3)),
                                  init_std=init_std, estimator=draw(st.sampled_from(["nsvq", "ste", "ema"])))
        elif kind == "AdditiveVQ":
            stages, bits = draw(st.integers(1, 3)), draw(st.integers(1, 2))
            exhaustive = stages <= 2 and draw(st.booleans())
            beam = stages * 2 ** bits if exhaustive else draw(st.integers(1, 4))
            q = vqcore.AdditiveVQ(draw(st.integers(1, 6)), stages, bits, beam, init_std=init_std,
                                  ordered_track=draw(st.booleans()), estimator=draw(st.sampled_from(["nsvq", "ste"])))
        elif kind == "ProductVQ":
            stages = draw(st.integers(1, 3))
            q = vqcore.ProductVQ(stages * draw(st.integers(1, 3)), stages, draw(st.integers(1, 3)),
                                 init_std=init_std, estimator=draw(st.sampled_from(["nsvq", "ste"])))
        else:
            bits = draw(st.integers(2, 4))
            q = vqcore.SpaceFillingVQ(draw(st.integers(1, 6)), bits, init_std=init_std,
                                      estimator=draw(st.sampled_from(["nsvq", "ste"])))
            for _ in range(draw(st.integers(0, bits - 2))):
                q.grow()
    return q


@st.composite
def tensors(draw: st.DrawFn, last: int, float_dtypes: list[torch.dtype], other_dtypes: list[torch.dtype],
            values: st.SearchStrategy[float]) -> Any:
    """Mostly ``(..., last)`` tensors; sometimes a wrong last dimension, a 0-dim tensor, an empty
    batch, another dtype, or something that is not a tensor."""
    shape = draw(st.lists(st.integers(1, 4), min_size=0, max_size=2))
    if shape and draw(st.integers(0, 14)) == 0:
        shape[draw(st.integers(0, len(shape) - 1))] = 0  # an empty batch
    width = last if draw(st.integers(0, 9)) else draw(st.integers(0, last + 2))
    if draw(st.integers(0, 24)) == 0:
        return draw(st.sampled_from([None, 3, "x", [[0.0] * last], np.zeros((2, last))]))
    full = tuple(shape) + (width,) if draw(st.integers(0, 24)) else ()
    n = int(np.prod(full)) if full else 1
    data = draw(st.lists(values, min_size=n, max_size=n))
    dtype = draw(st.sampled_from(float_dtypes + other_dtypes) if draw(st.integers(0, 9)) == 0
                 else st.sampled_from(float_dtypes))
    t = torch.tensor(data, dtype=torch.float64).reshape(full)
    if dtype.is_floating_point:
        return t.to(dtype)
    return t.nan_to_num(0, 0, 0).clamp(-100, 100).to(dtype)


@st.composite
def float_values(draw: st.DrawFn) -> st.SearchStrategy[float]:
    scale = draw(st.sampled_from([1.0, 1.0, 1.0, 1e-3, 1e3, 1e9, 1e17, 1e18, 1e19]))
    base = st.floats(-4, 4).map(lambda v: v * scale)
    return st.one_of(base, base, base, base, st.sampled_from(SPECIAL)) if draw(st.integers(0, 5)) == 0 else base


# -- what is valid, and the float64 references -------------------------------------------------------

def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def valid_vectors(x: Any, dim: int) -> bool:
    """The documented contract: a dense float tensor ``(..., dim)`` with at least one vector, finite,
    with ``16 * dim * max|x|**2`` below the compute dtype's largest value."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() == 0:
        return False
    if x.shape[-1] != dim or x.numel() == 0:
        return False
    flat = x.to(compute_dtype(x.dtype)).double()
    if not bool(torch.isfinite(flat).all()):
        return False
    return float(flat.abs().max()) <= math.sqrt(torch.finfo(compute_dtype(x.dtype)).max / (16 * dim))


def _nearest64(x: torch.Tensor, book: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Brute-force nearest row of ``book`` for each row of ``x`` (float64), and whether it wins by
    more than the float32 rounding error of the expanded distance (``scale``: ``(N,)``)."""
    d = ((x[:, None, :] - book[None]) ** 2).sum(-1)
    if d.shape[1] == 1:
        return torch.zeros(x.shape[0], dtype=torch.long), torch.ones(x.shape[0], dtype=torch.bool)
    two = d.topk(2, dim=1, largest=False)
    gap = two.values[:, 1] - two.values[:, 0]
    return two.indices[:, 0], gap > 1e-4 * x.shape[1] * scale + 1e-30


def reference_codes(q: vqcore.Quantizer, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """float64 codes ``(N, M)`` and a mask of the entries the float32 search must reproduce."""
    books = q.codebooks.detach().double()
    xn = torch.linalg.vector_norm(x, dim=-1)
    cmax = float(torch.linalg.vector_norm(books, dim=-1).max())
    if isinstance(q, vqcore.SpaceFillingVQ):
        verts = books[0, : q.num_active]
        code, ok = _nearest64(x, verts, cmax ** 2 + 2 * xn * cmax)
        return code[:, None], ok[:, None]
    if isinstance(q, vqcore.ProductVQ):
        parts = x.reshape(x.shape[0], q.num_stages, q.sub_dim)
        found = [_nearest64(parts[:, m], books[m], cmax ** 2 + 2 * xn * cmax) for m in range(q.num_stages)]
        return torch.stack([c for c, _ in found], 1), torch.stack([o for _, o in found], 1)
    if isinstance(q, vqcore.AdditiveVQ):
        if q.beam_width < q.num_stages * q.codebook_size or q.num_stages > 2:
            return None  # not an exhaustive search
        grids = torch.meshgrid(*[torch.arange(q.codebook_size)] * q.num_stages, indexing="ij")
        tuples = torch.stack([g.reshape(-1) for g in grids], 1)  # (K**M, M)
        sums = books[torch.arange(q.num_stages), tuples].sum(1)
        best, ok = _nearest64(x, sums, (xn + q.num_stages * cmax) ** 2)
        return tuples[best], ok[:, None].expand(-1, q.num_stages)
    # VQ and ResidualVQ: greedy, stage by stage; a stage counts only while every earlier one was clear
    residual, codes, oks = x.clone(), [], []
    clear = torch.ones(x.shape[0], dtype=torch.bool)
    for m in range(q.num_stages):
        code, ok = _nearest64(residual, books[m], cmax ** 2 + 2 * (xn + torch.linalg.vector_norm(residual, dim=-1)) * cmax)
        clear = clear & ok
        codes.append(code)
        oks.append(clear.clone())
        residual = residual - books[m][code]
    return torch.stack(codes, 1), torch.stack(oks, 1)


def reference_decode(q: vqcore.Quantizer, codes: torch.Tensor) -> torch.Tensor:
    books = q.codebooks.detach().double()
    chosen = books[torch.arange(q.num_stages), codes]  # (N, M, d)
    if isinstance(q, vqcore.ProductVQ):
        return chosen.reshape(codes.shape[0], q.dim)
    return chosen.sum(1)


def call(fn: Any, arg: Any, name: str, valid: bool) -> Any:
    """``fn(arg)``; a ValueError must name ``name`` and come only for invalid input."""
    try:
        result = fn(arg)
    except ValueError as err:
        assert not valid, f"valid input refused: {err}"
        assert str(err).startswith(f"{name} "), str(err)
        return None
    assert valid, f"invalid input accepted by {getattr(fn, '__name__', fn)}"
    return result


# -- the properties --------------------------------------------------------------------------------------

@SETTINGS
@given(data=st.data())
def test_encode_quantize_forward_work_or_refuse_with_value_error(data: st.DataObject) -> None:
    q = data.draw(quantizers())
    x = data.draw(tensors(q.dim, FLOAT_DTYPES, OTHER_DTYPES, data.draw(float_values())))
    valid = valid_vectors(x, q.dim)
    event("valid input" if valid else "invalid input")
    codes = call(q.encode, x, "x", valid)
    quantized = call(q.quantize, x, "x", valid)
    # before forward, which moves the codebooks in an EMA step
    decoded = q.decode(codes) if valid else None
    ct = compute_dtype(x.dtype) if valid else None
    x64 = x.to(ct).double().reshape(-1, q.dim) if valid else None
    ref = reference_codes(q, x64) if valid else None
    sfvq = isinstance(q, vqcore.SpaceFillingVQ)
    vertex = q.codebooks.detach().double()[0][codes.reshape(-1)] if valid and sfvq else None
    out = call(q, x, "x", valid)
    if not valid:
        return
    m, lead = q.num_stages, tuple(x.shape[:-1])
    assert codes.shape == (*lead, m) and codes.dtype == torch.long
    assert bool(((codes >= 0) & (codes < q.num_codes)).all())
    assert quantized.shape == x.shape and quantized.dtype == ct and bool(torch.isfinite(quantized).all())
    assert out.output.shape == out.quantized.shape == x.shape and out.output.dtype == ct
    assert bool(torch.isfinite(out.output).all()) and bool(torch.isfinite(out.loss))
    assert out.codes.shape == codes.shape and out.perplexity.shape == (m,)
    flat_codes = codes.reshape(-1, m)
    if ref is not None:
        ref_codes, ok = ref
        assert torch.equal(flat_codes[ok], ref_codes[ok])
        event(f"codes checked against float64: {'all' if bool(ok.all()) else 'some'}")
    if sfvq:
        # the projection is never farther than the nearest vertex
        d_vertex = ((x64 - vertex) ** 2).sum(-1)
        d_proj = ((x64 - quantized.reshape(-1, q.dim).double()) ** 2).sum(-1)
        assert bool((d_proj <= d_vertex * (1 + 1e-4) + 1e-4 * (x64 ** 2).sum(-1) + 1e-30).all())
        assert bool(((out.codes >= 0) & (out.codes < q.num_active)).all())
    else:
        assert torch.equal(decoded.to(ct), quantized)
        assert torch.equal(out.codes, codes)
        if q.estimator != "ema":
            assert torch.equal(out.quantized.detach(), quantized.detach())


@SETTINGS
@given(data=st.data())
def test_decode_works_or_refuses_with_value_error(data: st.DataObject) -> None:
    q = data.draw(quantizers())
    ints = [torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8]
    k = q.num_codes
    values = st.integers(0, k - 1) if data.draw(st.integers(0, 3)) else st.integers(-3, k + 2)
    codes = data.draw(tensors(q.num_stages, [torch.int64], [], values.map(float)))
    if isinstance(codes, torch.Tensor):
        bad = data.draw(st.integers(0, 5)) == 0
        codes = codes.to(data.draw(st.sampled_from([torch.float32, torch.bool] if bad else ints)))
    valid = (isinstance(codes, torch.Tensor) and codes.dtype in ints and codes.dim() > 0
             and codes.shape[-1] == q.num_stages and codes.numel() > 0
             and bool(((codes.long() >= 0) & (codes.long() < k)).all()))
    event("valid codes" if valid else "invalid codes")
    decoded = call(q.decode, codes, "codes", valid)
    if not valid:
        return
    assert decoded.shape == (*codes.shape[:-1], q.dim) and decoded.dtype == q.codebooks.dtype
    ref = reference_decode(q, codes.long().reshape(-1, q.num_stages))
    torch.testing.assert_close(decoded.double().reshape(-1, q.dim), ref, rtol=1e-5, atol=1e-6 * float(ref.abs().max()))


@pytest.mark.parametrize("cls", [vqcore.VQ, vqcore.ResidualVQ, vqcore.AdditiveVQ, vqcore.ProductVQ,
                                 vqcore.SpaceFillingVQ])
@SETTINGS
@given(args=st.lists(st.one_of(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6), st.integers(-3, 12), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                               st.none(), st.text(max_size=3), st.integers(10 ** 10, 10 ** 40)),
                     min_size=4, max_size=4),
       floats=st.dictionaries(st.sampled_from(["beta", "init_std", "ema_decay", "eps"]),
                              st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=3),
                                        st.booleans(), st.integers(-2, 2))))
def test_constructors_work_or_refuse_with_value_error(cls: type, args: list[Any], floats: dict[str, Any]) -> None:
    allowed = {vqcore.VQ: {"beta", "init_std", "ema_decay"}, vqcore.ResidualVQ: {"beta", "init_std", "ema_decay"},
               vqcore.SpaceFillingVQ: {"beta", "init_std", "eps"}}.get(cls, {"beta", "init_std"})
    kwargs = {k: v for k, v in floats.items() if k in allowed}
    args = args[: {vqcore.VQ: 2, vqcore.SpaceFillingVQ: 2, vqcore.AdditiveVQ: 4}.get(cls, 3)]
    names = {"dim", "bits", "stages", "bits_per_stage", "beam_width", *allowed, "the codebooks"}
    try:
        q = cls(*args, **kwargs)
    except ValueError as err:
        assert any(str(err).startswith(f"{n} ") for n in names), str(err)
        event("refused")
        return
    event("built")
    assert q.codebooks.numel() <= 2 ** 32 and bool(torch.isfinite(q.codebooks).all())
    assert all(type(v) in (int, float, str, bool) for v in q.config().values())
