"""vqcore.quantizers.checks: bad input and bad arguments raise ValueErrors naming what is wrong."""
from __future__ import annotations

import pytest
import torch

import vqcore


def test_bad_inputs_raise_value_errors_naming_the_argument(q):
    with pytest.raises(ValueError, match=r"x must have last dimension 8"):
        q.encode(torch.randn(3, 7))
    with pytest.raises(ValueError, match="NaN or inf"):
        q.encode(torch.tensor([[float("nan")] * 8]))
    with pytest.raises(ValueError, match="NaN or inf"):
        q(torch.full((2, 8), float("inf")))
    with pytest.raises(ValueError, match="empty batch"):
        q.quantize(torch.randn(0, 8))
    with pytest.raises(ValueError, match="codes out of range"):
        q.decode(torch.full((2, q.num_stages), q.num_codes))
    with pytest.raises(ValueError, match="codes out of range"):
        q.decode(torch.full((2, q.num_stages), -1))
    with pytest.raises(ValueError, match="codes must have last dimension"):
        q.decode(torch.zeros(2, q.num_stages + 1, dtype=torch.long))
    with pytest.raises(ValueError, match="integer dtype"):
        q.decode(torch.zeros(2, q.num_stages))


def test_value_checks_can_be_switched_off():
    q = vqcore.VQ(2, bits=2)
    with vqcore.validation(False):
        q.encode(torch.tensor([[float("nan"), 0.0]]))
    with pytest.raises(ValueError):
        q.encode(torch.tensor([[float("nan"), 0.0]]))


@pytest.mark.parametrize("make,match", [
    (lambda: vqcore.ProductVQ(10, stages=3, bits_per_stage=2), "dim must be divisible by stages"),
    (lambda: vqcore.AdditiveVQ(8, stages=2, bits_per_stage=2, beam_width=0), "beam_width"),
    (lambda: vqcore.SpaceFillingVQ(8, bits=1), "bits must be an integer >= 2"),
    (lambda: vqcore.ResidualVQ(8, stages=0, bits_per_stage=2), "stages"),
    (lambda: vqcore.VQ(0, bits=2), "dim"),
    (lambda: vqcore.VQ(4, bits=2, estimator="magic"), "estimator"),
])
def test_bad_constructor_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_sfvq_codes_beyond_active_vertices_are_rejected():
    q = vqcore.SpaceFillingVQ(2, bits=4)
    assert q.num_codes == 4
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        q.decode(torch.tensor([[5]]))


@pytest.mark.parametrize("x,match", [
    ([[0.0, 1.0]], "torch.Tensor"),
    (torch.zeros(2, 2, dtype=torch.long), "floating-point"),
    (torch.tensor(1.0), "last dimension"),
])
def test_encode_rejects_what_is_not_a_float_tensor_of_vectors(x, match):
    with pytest.raises(ValueError, match=match):
        vqcore.VQ(2, bits=2).encode(x)


# -- issue 13, part 1: one test per class of bad input ---------------------------------------------

import threading  # noqa: E402

import numpy as np  # noqa: E402

from vqcore.quantizers.checks import value_checks_enabled  # noqa: E402

_FLOAT_ARGS = {  # class -> float arguments it takes
    vqcore.VQ: ("beta", "ema_decay", "init_std"),
    vqcore.ResidualVQ: ("beta", "ema_decay", "init_std"),
    vqcore.AdditiveVQ: ("beta", "init_std"),
    vqcore.ProductVQ: ("beta", "init_std"),
    vqcore.SpaceFillingVQ: ("beta", "eps", "init_std"),
}
_POSITIONAL = {vqcore.VQ: (8, 4), vqcore.ResidualVQ: (8, 2, 3), vqcore.AdditiveVQ: (8, 2, 3),
               vqcore.ProductVQ: (8, 2, 3), vqcore.SpaceFillingVQ: (8, 4)}
_BAD_FLOATS = {
    "beta": [float("nan"), float("inf"), -0.5, "abc", None, True, torch.tensor(0.25), 1 + 2j],
    "ema_decay": [float("nan"), 0.0, 1.0, 1.5, -0.1, "0.9"],
    "init_std": [float("nan"), float("inf"), -float("inf"), -1.0, [1.0]],
    "eps": [float("nan"), -0.1, 0.0, 0.5, float("inf"), "small"],
}


def test_meta_device_tensors_are_refused_naming_the_argument(q):
    with pytest.raises(ValueError, match=r"^x is on the meta device"):
        q.encode(torch.empty(3, 8, device="meta"))
    with pytest.raises(ValueError, match=r"^x is on the meta device"):
        q.quantize(torch.empty(3, 8, device="meta"))
    with pytest.raises(ValueError, match=r"^x is on the meta device"):
        q(torch.empty(3, 8, device="meta"))
    with pytest.raises(ValueError, match=r"^codes is on the meta device"):
        q.decode(torch.zeros(3, q.num_stages, dtype=torch.long, device="meta"))
    with pytest.raises(ValueError, match=r"^x is on the meta device"):
        q.init_from_data(torch.empty(16, 8, device="meta"))


def test_tensors_not_dense_or_on_another_device_are_refused(q):
    with pytest.raises(ValueError, match=r"^x must be a dense"):
        q.encode(torch.randn(3, 8).to_sparse())
    moved = q.to("meta")  # codebooks on another device than the input
    with pytest.raises(ValueError, match=r"^x is on cpu but the quantizer's codebooks are on meta"):
        moved.encode(torch.randn(3, 8))


@pytest.mark.parametrize("cls,name,value", [
    (cls, name, value) for cls, names in _FLOAT_ARGS.items() for name in names for value in _BAD_FLOATS[name]
])
def test_bad_float_arguments_raise_value_errors_naming_them(cls, name, value):
    with pytest.raises(ValueError, match=rf"^{name} must be a finite real number"):
        cls(*_POSITIONAL[cls], **{name: value})


def test_good_float_arguments_are_kept_as_python_floats():
    q = vqcore.VQ(8, 4, estimator="ema", beta=np.float32(0.5), ema_decay=np.float64(0.9), init_std=2)
    assert (q.beta, q.ema_decay, q.init_std) == (0.5, 0.9, 2.0)
    assert all(type(v) is float for v in (q.beta, q.ema_decay, q.init_std))
    assert vqcore.SpaceFillingVQ(8, 4, eps=0.25).eps == 0.25


@pytest.mark.parametrize("cls", [vqcore.ResidualVQ, vqcore.AdditiveVQ, vqcore.ProductVQ])
@pytest.mark.parametrize("bits", [25, 40, 63, 64, 10 ** 30])
def test_bits_per_stage_is_capped_at_24(cls, bits):
    with pytest.raises(ValueError, match=r"^bits_per_stage must be an integer >= 1 and <= 24.*capped at 24"):
        cls(8, 2, bits)


@pytest.mark.parametrize("make", [
    lambda: vqcore.VQ(10 ** 40, 4),
    lambda: vqcore.VQ(2 ** 20, 24),
    lambda: vqcore.ResidualVQ(8, 10 ** 9, 1),
    lambda: vqcore.ProductVQ(2 ** 30, 2, 24),
])
def test_codebooks_too_large_to_allocate_are_refused(make):
    with pytest.raises(ValueError, match=r"(dim|stages) must be an integer|the codebooks would hold"):
        make()


@pytest.mark.parametrize("np_int", [np.int8, np.int32, np.int64, np.uint8, np.uint64])
def test_numpy_integers_are_accepted_for_int_arguments(np_int):
    made = [vqcore.VQ(np_int(8), np_int(4)), vqcore.ResidualVQ(np_int(8), np_int(2), np_int(3)),
            vqcore.AdditiveVQ(np_int(8), np_int(2), np_int(3), np_int(4)),
            vqcore.ProductVQ(np_int(8), np_int(2), np_int(3)), vqcore.SpaceFillingVQ(np_int(8), np_int(4))]
    for q in made:
        assert all(type(v) is int for v in q.config().values() if not isinstance(v, (str, float, bool)))
        assert q.encode(torch.randn(5, 8)).shape == (5, q.num_stages)
    torch.manual_seed(0)
    a = vqcore.ResidualVQ(np.int64(8), np.int64(2), np.int64(3))
    torch.manual_seed(0)
    b = vqcore.ResidualVQ(8, 2, 3)
    assert torch.equal(a.codebooks, b.codebooks) and a.config() == b.config()


@pytest.mark.parametrize("value", [True, np.bool_(True), 8.0, np.float64(8.0), "8", torch.tensor(8), None])
def test_bools_floats_and_others_are_refused_for_int_arguments(value):
    with pytest.raises(ValueError, match=r"^dim must be an integer"):
        vqcore.VQ(value, 4)
    with pytest.raises(ValueError, match=r"^bits_per_stage must be an integer"):
        vqcore.ResidualVQ(8, 2, value if value is not True else False)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_half_precision_inputs_give_float32_outputs_as_documented(q, dtype):
    x = torch.randn(4, 8).to(dtype)
    assert q.quantize(x).dtype == torch.float32
    out = q(x)
    assert out.output.dtype == out.quantized.dtype == torch.float32
    assert q.encode(x).dtype == torch.long
    assert q.decode(q.encode(x)).dtype == torch.float32
    assert q.quantize(x.double()).dtype == torch.float64
    assert "float32" in vqcore.Quantizer.__doc__ and "bfloat16" in vqcore.Quantizer.__doc__
    for method in ("encode", "decode", "quantize", "forward"):
        doc = getattr(type(q), method).__doc__ or getattr(vqcore.Quantizer, method).__doc__
        assert "float" in doc or "dtype" in doc, method


def test_validation_switch_is_local_to_a_thread():
    off, checked = threading.Event(), threading.Event()
    seen: dict[str, object] = {}
    q = vqcore.VQ(2, bits=2)
    bad = torch.tensor([[float("nan"), 0.0]])

    def silencer() -> None:
        with vqcore.validation(False):
            seen["silencer"] = value_checks_enabled()
            q.encode(bad)  # no error here
            off.set()
            checked.wait(10)

    def checker() -> None:
        off.wait(10)
        seen["checker"] = value_checks_enabled()
        try:
            q.encode(bad)
            seen["error"] = None
        except ValueError as err:
            seen["error"] = str(err)
        checked.set()

    threads = [threading.Thread(target=silencer), threading.Thread(target=checker)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert seen["silencer"] is False and seen["checker"] is True
    assert seen["error"] is not None and seen["error"].startswith("x contains NaN or inf")
    assert value_checks_enabled()
    with pytest.raises(ValueError, match="^enabled must be True or False"):
        with vqcore.validation("no"):
            pass


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("value", [1e19, -3e18, 1e30, 3e38])
def test_huge_finite_inputs_are_refused(q, dtype, value):
    x = torch.randn(3, 8).to(dtype)
    x[1, 2] = value
    for call in (q.encode, q.quantize, q):
        with pytest.raises(ValueError, match=r"^x holds a value of magnitude .* rescale"):
            call(x)


def test_large_inputs_below_the_bound_stay_finite(q):
    x = torch.rand(3, 8) * 1e18  # below the float32 bound sqrt(max / (16 * 8)) = 1.6e18
    assert torch.isfinite(q.quantize(x)).all()
    out = q(x)
    assert torch.isfinite(out.output).all() and torch.isfinite(out.loss)
    assert torch.isfinite(q.quantize(torch.full((2, 8), 1e19, dtype=torch.float64))).all()
