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
