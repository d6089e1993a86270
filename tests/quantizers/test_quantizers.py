"""Behaviour of the quantizers: search correctness, estimators, replacement, persistence, bad input."""
from __future__ import annotations

import math

import pytest
import torch

import vqcore
from vqcore.quantizers.beam_search import additive_beam_search, additive_exhaustive_search
from vqcore.quantizers.nearest import nearest


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def make_all(dim: int = 8):
    return [
        vqcore.VQ(dim, bits=4),
        vqcore.ResidualVQ(dim, stages=3, bits_per_stage=3),
        vqcore.AdditiveVQ(dim, stages=3, bits_per_stage=3, beam_width=4),
        vqcore.ProductVQ(dim, stages=2, bits_per_stage=3),
        vqcore.SpaceFillingVQ(dim, bits=4),
    ]


# -- search correctness ---------------------------------------------------------

@pytest.mark.parametrize("stages,size", [(2, 5), (3, 4), (4, 3), (1, 7)])
def test_avq_wide_beam_equals_exhaustive(stages, size):
    torch.manual_seed(stages)
    x = torch.randn(200, 6, dtype=torch.float64)
    books = torch.randn(stages, size, 6, dtype=torch.float64)
    # a beam wider than any number of partial tuples keeps them all
    wide = math.comb(stages, stages // 2) * size ** stages
    exhaustive = additive_exhaustive_search(x, books)
    assert torch.equal(additive_beam_search(x, books, wide), exhaustive)
    assert torch.equal(additive_beam_search(x, books, wide, ordered=True), exhaustive)


def test_avq_beam_wider_than_candidates_at_hand():
    torch.manual_seed(1)
    q = vqcore.AdditiveVQ(6, stages=2, bits_per_stage=3, beam_width=16)  # 8-entry codebooks, beam 16
    x = torch.randn(100, 6)
    exhaustive = additive_exhaustive_search(x.double(), q.codebooks.detach().double())
    assert torch.equal(q.encode(x), exhaustive)


def test_avq_wider_beam_lowers_error_on_average():
    torch.manual_seed(0)
    x = torch.randn(2000, 16)
    books = torch.randn(4, 16, 16) * 0.5
    stage = torch.arange(4)
    errors = []
    for beam in (1, 4, 16):
        codes = additive_beam_search(x, books, beam)
        errors.append(((books[stage, codes].sum(1) - x) ** 2).sum(-1).mean().item())
    assert errors[0] > errors[1] > errors[2]


def test_avq_beam_codes_are_consistent_with_reported_error():
    torch.manual_seed(3)
    q = vqcore.AdditiveVQ(8, stages=3, bits_per_stage=2, beam_width=2)
    x = torch.randn(50, 8)
    codes = q.encode(x)
    assert codes.shape == (50, 3) and codes.dtype == torch.long
    assert torch.allclose(q.decode(codes), q.codebooks[torch.arange(3), codes].sum(1))


def _fixed_order_beam_search(x: torch.Tensor, books: torch.Tensor, beam: int) -> torch.Tensor:
    """Plain fixed-order beam search (codebook 0, then 1, ...), one vector at a time: ``(N, M)`` codes."""
    stages, size, _ = books.shape
    out = []
    for v in x:
        tuples = [((), v)]  # (codes so far, residual)
        for m in range(stages):
            cand = [(codes + (k,), res - books[m, k]) for codes, res in tuples for k in range(size)]
            cand.sort(key=lambda c: float((c[1] ** 2).sum()))
            tuples = cand[:beam]
        out.append(tuples[0][0])
    return torch.tensor(out)


@pytest.mark.parametrize("beam", [1, 3, 8])
def test_avq_ordered_track_is_never_worse_than_either_search(beam):
    gen_ = gen(7)
    x = torch.randn(150, 6, dtype=torch.float64, generator=gen_)
    # codebooks of shrinking scale, as a residual quantizer trains them: free order can lose here
    books = torch.randn(3, 6, 6, dtype=torch.float64, generator=gen_) * torch.tensor([1.0, 0.5, 0.25]).view(3, 1, 1)
    stage = torch.arange(3)

    def err(codes):
        return ((books[stage, codes].sum(1) - x) ** 2).sum(-1)

    free = err(additive_beam_search(x, books, beam))
    fixed = err(_fixed_order_beam_search(x, books, beam))
    both = err(additive_beam_search(x, books, beam, ordered=True))
    assert torch.all(both <= torch.minimum(free, fixed) + 1e-12)
    if beam > 1:  # the two searches do disagree here, so the test can see a lost tuple
        assert torch.any(fixed < free - 1e-9) or torch.any(free < fixed - 1e-9)


def test_avq_ordered_track_option_is_kept_and_checked(tmp_path):
    q = vqcore.AdditiveVQ(6, stages=3, bits_per_stage=2, beam_width=2, ordered_track=True)
    x = torch.randn(40, 6, generator=gen(2))
    assert torch.equal(q.encode(x), additive_beam_search(x, q.codebooks.detach(), 2, ordered=True))
    vqcore.save(q, tmp_path / "avq.safetensors")
    assert vqcore.load(tmp_path / "avq.safetensors").ordered_track is True
    with pytest.raises(ValueError, match="ordered_track"):
        vqcore.AdditiveVQ(6, stages=3, bits_per_stage=2, ordered_track="yes")


def test_rvq_equals_greedy_residual_search():
    torch.manual_seed(0)
    q = vqcore.ResidualVQ(10, stages=3, bits_per_stage=4)
    x = torch.randn(300, 10)
    residual = x.clone()
    expected = []
    for m in range(3):
        d = torch.cdist(residual, q.codebooks[m].detach())
        idx = d.argmin(1)
        expected.append(idx)
        residual = residual - q.codebooks[m].detach()[idx]
    assert torch.equal(q.encode(x), torch.stack(expected, 1))
    assert torch.allclose(q.quantize(x), x - residual, atol=1e-5)


def test_pvq_equals_per_part_nearest_search():
    torch.manual_seed(0)
    q = vqcore.ProductVQ(12, stages=3, bits_per_stage=4)
    x = torch.randn(300, 12)
    parts = x.reshape(300, 3, 4)
    expected = torch.stack([torch.cdist(parts[:, m], q.codebooks[m].detach()).argmin(1) for m in range(3)], 1)
    assert torch.equal(q.encode(x), expected)
    assert torch.allclose(q.quantize(x).reshape(300, 3, 4)[:, 1], q.codebooks[1][expected[:, 1]])


def test_vq_is_nearest_codeword_and_batched_nearest_agrees():
    torch.manual_seed(0)
    q = vqcore.VQ(5, bits=5)
    x = torch.randn(4, 7, 5)
    codes = q.encode(x)
    assert codes.shape == (4, 7, 1)
    expected = torch.cdist(x.reshape(-1, 5), q.codebooks[0].detach()).argmin(1)
    assert torch.equal(codes.reshape(-1), expected)
    books = torch.randn(3, 6, 5)
    pts = torch.randn(3, 20, 5)
    assert torch.equal(nearest(pts, books), torch.stack([torch.cdist(pts[i], books[i]).argmin(1) for i in range(3)]))


def test_sfvq_projection_never_worse_than_nearest_vertex():
    torch.manual_seed(0)
    q = vqcore.SpaceFillingVQ(3, bits=5)
    data = torch.randn(2000, 3)
    vqcore.training.fit_sfvq(q, data, steps=120, batch_size=128, progress=False)
    assert q.num_active == 32
    x = torch.randn(500, 3)
    proj, index = q.project(x)
    vertex = q.decode(q.encode(x))
    err_proj = ((proj - x) ** 2).sum(-1)
    err_vertex = ((vertex - x) ** 2).sum(-1)
    assert bool((err_proj <= err_vertex + 1e-6).all())
    assert bool((index >= 0).all()) and bool((index <= 31).all())
    # the fractional index decodes back to the projection
    assert torch.allclose(vqcore.quantizers.space_filling.decode_curve(q.vertices.detach(), index), proj.detach(), atol=1e-5)


def test_sfvq_doubling_keeps_old_vertices_and_adds_twins():
    q = vqcore.SpaceFillingVQ(2, bits=3, eps=0.1)
    q.init_from_data(torch.randn(400, 2, generator=gen()))
    old = q.vertices.detach().clone()
    assert q.grow() == 8
    new = q.vertices.detach()
    assert torch.allclose(new[0::2][:2], old[:2]) and torch.allclose(new[1::2][2:], old[2:])
    assert torch.allclose(new[1], 0.9 * old[0] + 0.1 * old[1])  # twin eps along the curve
    assert torch.allclose(new[4], 0.1 * old[1] + 0.9 * old[2])
    with pytest.raises(ValueError, match="already has all"):
        q.grow()


def test_sfvq_initial_vertices_are_norm_group_means():
    x = torch.randn(400, 3, generator=gen(2))
    q = vqcore.SpaceFillingVQ(3, bits=4)
    q.init_from_data(x)
    order = x.norm(dim=1).argsort()
    assert torch.allclose(q.vertices[0], x[order[:100]].mean(0))
    assert torch.allclose(q.vertices[3], x[order[300:]].mean(0))


def test_sfvq_training_reduces_error_and_reaches_both_vertices():
    torch.manual_seed(0)
    q = vqcore.SpaceFillingVQ(2, bits=3)
    q.init_from_data(torch.randn(100, 2))
    out = q(torch.randn(64, 2))
    out.quantized.pow(2).sum().backward()
    assert (q.codebooks.grad[0, :4].abs().sum(-1) > 0).sum() >= 2
    assert "fractional_index" in out.extras and out.codes.shape == (64, 1)


# -- estimators -----------------------------------------------------------------

@pytest.mark.parametrize("q", make_all(), ids=lambda q: type(q).__name__)
def test_nsvq_output_has_exactly_the_hard_error_norm_and_grads_reach_codebooks(q):
    torch.manual_seed(0)
    x = torch.randn(64, 8, requires_grad=True)
    out = q(x)
    hard = torch.linalg.vector_norm(x - out.quantized, dim=-1)
    noisy = torch.linalg.vector_norm(out.output - x, dim=-1)
    assert torch.allclose(hard, noisy, rtol=1e-5, atol=1e-6)
    out.output.pow(2).sum().backward()
    assert q.codebooks.grad is not None and q.codebooks.grad.abs().sum() > 0
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("cls,kwargs", [
    (vqcore.VQ, {"bits": 4}),
    (vqcore.ResidualVQ, {"stages": 2, "bits_per_stage": 3}),
    (vqcore.AdditiveVQ, {"stages": 2, "bits_per_stage": 3, "beam_width": 4}),
    (vqcore.ProductVQ, {"stages": 2, "bits_per_stage": 3}),
])
def test_ste_forward_equals_hard_quantization_with_losses(cls, kwargs):
    torch.manual_seed(0)
    q = cls(8, estimator="ste", **kwargs)
    x = torch.randn(32, 8, requires_grad=True)
    out = q(x)
    assert torch.allclose(out.output, q.quantize(x.detach()), atol=1e-6)
    assert out.loss.item() > 0
    out.loss.backward()
    assert q.codebooks.grad.abs().sum() > 0  # codebook loss trains the codebook
    x.grad = None
    q(x).output.sum().backward()
    assert torch.allclose(x.grad, torch.ones_like(x))  # straight through


@pytest.mark.parametrize("cls,kwargs", [(vqcore.VQ, {"bits": 3}), (vqcore.ResidualVQ, {"stages": 2, "bits_per_stage": 2})])
def test_ema_moves_codebooks_towards_their_data(cls, kwargs):
    torch.manual_seed(0)
    q = cls(4, estimator="ema", ema_decay=0.5, **kwargs)
    assert not q.codebooks.requires_grad
    x = torch.randn(512, 4) + 3.0
    before = q.quantize(x).sub(x).pow(2).mean().item()
    q.train()
    for _ in range(30):
        q(x)
    assert q.quantize(x).sub(x).pow(2).mean().item() < 0.5 * before
    with pytest.raises(ValueError, match="estimator"):
        vqcore.AdditiveVQ(4, 2, 2, estimator="ema")


def test_fit_quantizer_reduces_error_for_every_multicodebook_quantizer():
    torch.manual_seed(0)
    data = torch.randn(2000, 8) @ torch.randn(8, 8)
    for q in make_all()[1:4]:
        q.init_from_data(data, generator=gen())
        start = q.quantize(data).sub(data).pow(2).mean().item()
        vqcore.training.fit_quantizer(q, data, steps=150, batch_size=128, lr=0.01, replace_every=50, progress=False, init=False)
        assert q.quantize(data).sub(data).pow(2).mean().item() < start


# -- replacement ------------------------------------------------------------------

def test_replacement_revives_dead_entries():
    torch.manual_seed(0)
    q = vqcore.VQ(2, bits=3)
    with torch.no_grad():
        q.codebooks[0, 4:] = 100.0  # far away: never chosen
    x = torch.randn(256, 2)
    q.train()
    for _ in range(10):
        q(x)
    assert q.replace_unused_codebooks(num_batches=10) == 4
    assert float(q.codebooks[0, 4:].detach().abs().max()) < 50
    assert q.usage_batches.sum() == 0
    for _ in range(10):
        q(x)
    assert q.replace_unused_codebooks(num_batches=10, discard_threshold=0.0) == 0


def test_replacement_is_per_codebook():
    q = vqcore.ResidualVQ(2, stages=2, bits_per_stage=2)
    with torch.no_grad():
        q.codebooks[1, 2:] = 1e3
    q.train()
    q(torch.randn(64, 2, generator=gen()) * 0.1)
    replaced = q.replace_unused_codebooks(1, discard_threshold=0.5)
    assert replaced >= 2 and float(q.codebooks[1].detach().abs().max()) < 1e3


# -- shapes, dtypes, persistence, packing -----------------------------------------------

@pytest.mark.parametrize("q", make_all(), ids=lambda q: type(q).__name__)
def test_shapes_dtypes_and_bits(q):
    x = torch.randn(2, 3, 8, dtype=torch.bfloat16)
    codes = q.encode(x)
    assert codes.shape == (2, 3, q.num_stages) and codes.dtype == torch.long
    assert q.decode(codes).shape == (2, 3, 8)
    assert q.quantize(x).dtype == torch.float32
    assert q.quantize(x.double()).dtype == torch.float64
    assert q.bits == q.num_stages * q.bits_per_stage


@pytest.mark.parametrize("q", make_all(), ids=lambda q: type(q).__name__)
def test_save_load_round_trip(q, tmp_path):
    if isinstance(q, vqcore.SpaceFillingVQ):
        q.init_from_data(torch.randn(100, 8))
        q.grow()
    path = vqcore.save(q, tmp_path / "q.safetensors")
    back = vqcore.load(path)
    assert type(back) is type(q) and back.config() == q.config()
    x = torch.randn(40, 8)
    assert torch.equal(back.encode(x), q.encode(x))
    assert torch.allclose(back.quantize(x), q.quantize(x))
    assert not list(tmp_path.glob("*.tmp"))


def test_load_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="bad.safetensors"):
        vqcore.load(bad)
    with pytest.raises(ValueError, match="not a file"):
        vqcore.load(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("q", make_all(), ids=lambda q: type(q).__name__)
def test_pack_unpack_round_trip_uses_exactly_bits_per_vector(q):
    x = torch.randn(37, 8)
    codes = q.encode(x)
    data = q.pack(codes)
    assert len(data) == math.ceil(37 * q.bits / 8)
    assert torch.equal(q.unpack(data, 37), codes)
    with pytest.raises(ValueError, match="bytes"):
        q.unpack(data + b"\0", 37)


def test_packing_handles_odd_widths():
    from vqcore.quantizers.packing import pack_codes, unpack_codes
    codes = torch.tensor([[1, 0, 5], [0, 3, 7], [1, 2, 0]])
    data = pack_codes(codes, [1, 2, 3])
    assert len(data) == 3 * 6 // 8 + 1
    assert torch.equal(unpack_codes(data, 3, [1, 2, 3]), codes)
    assert data[0] >> 2 == 0b100101  # MSB first: 1 | 00 | 101


# -- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("q", make_all(), ids=lambda q: type(q).__name__)
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


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("q", make_all(), ids=lambda q: type(q).__name__)
def test_gpu_matches_cpu(q):
    x = torch.randn(500, 8)
    cpu_codes = q.encode(x)
    q_gpu = q.to("cuda")
    assert torch.equal(q_gpu.encode(x.cuda()).cpu(), cpu_codes)
    out = q_gpu(x.cuda())
    assert out.output.device.type == "cuda"
