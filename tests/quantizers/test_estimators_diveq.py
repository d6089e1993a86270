"""vqcore.quantizers.estimators: DiVeQ, DiVeQ-detach and SF-DiVeQ, on every quantizer, against the
formulas and against the authors' ``diveq`` package on the same inputs and noise."""
from __future__ import annotations

import json
import warnings

import pytest
import torch

import vqcore
from tests.helpers import need
from vqcore.quantizers import estimators
from vqcore.quantizers.estimators import Segment

#: one small quantizer of every class (dim 8), by class name: (class, positional arguments, keyword arguments)
SPECS = {
    "VQ": (vqcore.VQ, (8, 4), {}),
    "ResidualVQ": (vqcore.ResidualVQ, (8, 3, 3), {}),
    "AdditiveVQ": (vqcore.AdditiveVQ, (8, 3, 3), {"beam_width": 4}),
    "ProductVQ": (vqcore.ProductVQ, (8, 2, 3), {}),
    "SpaceFillingVQ": (vqcore.SpaceFillingVQ, (8, 4), {}),
}
DIVEQ_FAMILY = ("diveq", "diveq_detach")


def make(name: str, estimator: str, **kwargs) -> vqcore.Quantizer:
    cls, args, base = SPECS[name]
    return cls(*args, estimator=estimator, **base, **kwargs)


def norms(v: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(v, dim=-1)


# -- which quantizer accepts which estimator --------------------------------------------------------------

def test_every_quantizer_lists_the_estimators_it_accepts():
    for name, (cls, _, _) in SPECS.items():
        assert set(estimators.COMMON) <= set(cls.estimators), name
        assert ("ema" in cls.estimators) == (name in ("VQ", "ResidualVQ")), name
        assert set(estimators.CURVE) <= set(cls.estimators) or name != "SpaceFillingVQ", name
        assert not set(estimators.CURVE) & set(cls.estimators) or name == "SpaceFillingVQ", name
        assert set(cls.estimators) <= set(estimators.ESTIMATORS)
    for name in ("VQ", "ResidualVQ", "AdditiveVQ", "ProductVQ"):
        with pytest.raises(ValueError, match="estimator must be one of"):
            make(name, "sf_diveq")


@pytest.mark.parametrize("bad", [-1e-3, float("inf"), float("nan"), "0.1", True, None])
def test_diveq_noise_std_is_checked(bad):
    for name in SPECS:
        with pytest.raises(ValueError, match="diveq_noise_std"):
            make(name, "diveq", diveq_noise_std=bad)


def test_curve_estimators_need_a_segment():
    x = torch.randn(4, 3)
    for name in estimators.CURVE:
        with pytest.raises(ValueError, match="segment"):
            estimators.apply_estimator(name, x, x)
    with pytest.raises(ValueError, match="estimator must be one of"):
        estimators.apply_estimator("gumbel", x, x)


@pytest.mark.parametrize("name", list(SPECS))
def test_diveq_noise_std_round_trips_through_config_and_files(name, tmp_path):
    q = make(name, "sf_diveq" if name == "SpaceFillingVQ" else "diveq", diveq_noise_std=0.05)
    assert q.diveq_noise_std == 0.05 and q.config()["diveq_noise_std"] == 0.05
    assert type(q)(**q.config()).config() == q.config()
    back = vqcore.load(vqcore.save(q, tmp_path / "q.safetensors"))
    assert back.config() == q.config() and back.diveq_noise_std == 0.05
    assert make(name, "nsvq").diveq_noise_std == estimators.DEFAULT_DIVEQ_NOISE_STD == 1e-3


def test_files_without_diveq_noise_std_load_with_the_default_and_bad_values_are_refused(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = vqcore.save(vqcore.VQ(8, 4, estimator="diveq", diveq_noise_std=0.2), tmp_path / "q.safetensors")
    with safe_open(str(path), framework="pt") as f:
        meta, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    config = json.loads(meta["config"])
    for value, name in ((None, "old.safetensors"), (-0.5, "negative.safetensors"), ("0.1", "text.safetensors")):
        changed = {k: v for k, v in config.items() if k != "diveq_noise_std"}
        if value is not None:
            changed["diveq_noise_std"] = value
        save_file(tensors, str(tmp_path / name), metadata={**meta, "config": json.dumps(changed)})
    assert vqcore.load(tmp_path / "old.safetensors").diveq_noise_std == estimators.DEFAULT_DIVEQ_NOISE_STD
    for name in ("negative.safetensors", "text.safetensors"):
        with pytest.raises(ValueError, match="diveq_noise_std") as info:
            vqcore.load(tmp_path / name)
        assert name in str(info.value)


# -- the formulas ---------------------------------------------------------------------------------------------

def test_diveq_is_the_formula_with_noise_of_the_given_standard_deviation(gen):
    x, q = torch.randn(32, 6, dtype=torch.float64), torch.randn(32, 6, dtype=torch.float64)
    s = 0.3
    out = estimators.diveq(x, q, s, generator=gen(7))
    e = s * torch.randn(32, 6, dtype=torch.float64, generator=gen(7))  # a standard deviation, not a variance
    direction = (q - x + e) / norms(q - x + e).unsqueeze(-1)
    assert torch.allclose(out, x + norms(q - x).unsqueeze(-1) * direction, rtol=1e-12, atol=1e-12)
    detached = estimators.diveq(x, q, 0.0)
    assert torch.allclose(detached, q, rtol=1e-12, atol=1e-12)
    same = q.clone()
    same[0] = x[0]  # zero error: the output is x, no NaN
    assert torch.equal(estimators.diveq(x, same, 0.0)[0], x[0])


def test_diveq_detach_gradients_are_the_projections_of_the_formula():
    """output = x + ||q - x|| sg(n), n = (q - x) / ||q - x||: dx = (I - n n^T) g, dq = n n^T g."""
    torch.manual_seed(0)
    x = torch.randn(16, 5, dtype=torch.float64, requires_grad=True)
    q = torch.randn(16, 5, dtype=torch.float64, requires_grad=True)
    g = torch.randn(16, 5, dtype=torch.float64)
    (estimators.diveq(x, q, 0.0) * g).sum().backward()
    n = (q - x).detach() / norms(q - x).detach().unsqueeze(-1)
    along = (n * g).sum(-1, keepdim=True) * n
    assert torch.allclose(x.grad, g - along, atol=1e-12)
    assert torch.allclose(q.grad, along, atol=1e-12)


def test_sf_diveq_is_the_formula_and_its_detach_variant_gives_the_dithered_point(gen):
    x, a, b = (torch.randn(20, 4, dtype=torch.float64, generator=gen(i)) for i in range(3))
    lam = torch.rand(20, 1, dtype=torch.float64, generator=gen(3))
    s = 0.2
    out = estimators.sf_diveq(x, Segment(a, b, lam), s, generator=gen(9))
    noise = gen(9)
    e1 = s * torch.randn(20, 4, dtype=torch.float64, generator=noise)  # drawn for c_i first, then c_{i+1}
    e2 = s * torch.randn(20, 4, dtype=torch.float64, generator=noise)
    n1 = (a - x + e1) / norms(a - x + e1).unsqueeze(-1)
    n2 = (b - x + e2) / norms(b - x + e2).unsqueeze(-1)
    want = x + norms(a - x).unsqueeze(-1) * (1 - lam) * n1 + norms(b - x).unsqueeze(-1) * lam * n2
    assert torch.allclose(out, want, rtol=1e-12, atol=1e-12)
    point = (1 - lam) * a + lam * b
    assert torch.allclose(estimators.sf_diveq(x, Segment(a, b, lam), 0.0), point, rtol=1e-12, atol=1e-12)


# -- every quantizer: forward values, error norms, gradients ---------------------------------------------------

@pytest.mark.parametrize("estimator", DIVEQ_FAMILY)
@pytest.mark.parametrize("name", list(SPECS))
def test_diveq_keeps_the_hard_error_norm_and_trains_codebooks_and_inputs(name, estimator):
    torch.manual_seed(0)
    q = make(name, estimator)
    x = torch.randn(64, 8, requires_grad=True)
    out = q(x)
    hard = norms(out.quantized - x)
    assert torch.allclose(norms(out.output - x), hard, rtol=1e-5, atol=1e-6)
    assert out.loss.item() == 0.0
    # forward value: q (detach), or a point at the same distance within about noise_std of q's direction
    gap = norms(out.output - out.quantized).detach()
    if estimator == "diveq_detach":
        assert torch.allclose(out.output, out.quantized, atol=1e-5)
    else:
        assert float(gap.max()) > 0 and bool((gap <= 2 * hard * 1e-2 + 1e-6).all())
    out.output.pow(2).sum().backward()
    assert q.codebooks.grad is not None and q.codebooks.grad.abs().sum() > 0
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("estimator", estimators.CURVE)
def test_sf_diveq_on_the_curve(estimator):
    torch.manual_seed(0)
    q = make("SpaceFillingVQ", estimator)
    q.init_from_data(torch.randn(256, 8))
    q.grow()
    x = torch.randn(64, 8, requires_grad=True)
    torch.manual_seed(1)
    out = q(x)
    torch.manual_seed(1)
    u = torch.rand(q.num_active - 1)  # the dither SFVQ.forward draws first
    index = out.extras["fractional_index"]
    seg = index.floor().long()
    assert torch.allclose(index - seg, u[seg])
    start, end, lam = q.vertices[seg], q.vertices[seg + 1], u[seg].unsqueeze(-1)
    assert torch.allclose(out.quantized, (1 - lam) * start + lam * end)
    if estimator == "sf_diveq_detach":
        assert torch.allclose(out.output, out.quantized, atol=1e-5)
    else:
        assert 0 < float(norms(out.output - out.quantized).detach().max()) < 0.1
    assert out.loss.item() == 0.0
    out.output.pow(2).sum().backward()
    used = torch.unique(torch.cat([seg, seg + 1]))
    assert bool((q.codebooks.grad[0, used].abs().sum(-1) > 0).all())  # both vertices of each segment learn
    assert x.grad.abs().sum() > 0
    with torch.no_grad():
        assert torch.equal(q.quantize(x), q.project(x)[0])  # inference stays the projection


# -- every quantizer trains --------------------------------------------------------------------------------

@torch.no_grad()
def mse(q: vqcore.Quantizer, x: torch.Tensor) -> float:
    return float(((q.quantize(x) - x) ** 2).mean())


def train_briefly(q: vqcore.Quantizer, steps: int = 25) -> tuple[float, float]:
    """Quantization MSE of shifted Gaussian data before and after ``steps`` Adam steps on
    ``mse(output, x) + loss`` (shared with test_estimators_rotation)."""
    x = torch.randn(128, 8, generator=torch.Generator().manual_seed(0)) + 2.0
    if isinstance(q, vqcore.SpaceFillingVQ):
        q.init_from_data(torch.randn(64, 8))  # a start away from the data
    before = mse(q, x)
    opt = torch.optim.Adam(q.parameters(), lr=0.05)
    q.train()
    for _ in range(steps):
        res = q(x.clone().requires_grad_(True))
        loss = ((res.output - x) ** 2).mean() + res.loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return before, mse(q, x)


@pytest.mark.parametrize("name,estimator", [(n, e) for n in SPECS for e in DIVEQ_FAMILY]
                         + [("SpaceFillingVQ", e) for e in estimators.CURVE])
def test_every_quantizer_trains_with_diveq(name, estimator):
    torch.manual_seed(0)
    before, after = train_briefly(make(name, estimator))
    assert after < 0.5 * before, (before, after)


# -- agreement with the authors' diveq package ----------------------------------------------------------------

QUIET = {"allow_warning": False}
NO_RESET = {**QUIET, "verbose": False, "codebook_reset": False}


def _same_step(ref: torch.nn.Module, ours: vqcore.Quantizer, x: torch.Tensor, seed: int):
    """One forward + backward of both with the same random stream; (ref output, ref indices, our result)."""
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(99))
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    torch.manual_seed(seed)
    z_q, indices, _ = ref(x1)
    torch.manual_seed(seed)
    res = ours(x2)
    (z_q * g).sum().backward()
    (res.output * g).sum().backward()
    return z_q, indices, res, x1.grad, x2.grad


@pytest.mark.parametrize("which", ["DIVEQ", "DIVEQDetach", "ResidualDIVEQ", "ProductDIVEQ"])
def test_agrees_with_the_diveq_package(which):
    """Same codebooks, inputs and noise: the same output and the same gradients (the diveq package
    passes its ``noise_var`` to Normal as a standard deviation, which is what ``diveq_noise_std`` is)."""
    need("diveq")
    import diveq

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if which in ("DIVEQ", "DIVEQDetach"):
            ref = getattr(diveq, which)(16, 8, **NO_RESET, **({"noise_var": 0.01} if which == "DIVEQ" else {}))
            ours = vqcore.VQ(8, 4, estimator="diveq" if which == "DIVEQ" else "diveq_detach", diveq_noise_std=0.01)
        else:
            ref = getattr(diveq, which)(8, 8, 2, noise_var=0.01, **NO_RESET)
            cls = vqcore.ResidualVQ if which == "ResidualDIVEQ" else vqcore.ProductVQ
            ours = cls(8, 2, 3, estimator="diveq", diveq_noise_std=0.01)
    ref_books = ref.codebook.data if ref.codebook.dim() == 3 else ref.codebook.data.unsqueeze(0)
    ref_books.normal_()
    ours.codebooks.data.copy_(ref_books)
    x = torch.randn(128, 8, generator=torch.Generator().manual_seed(1))
    z_q, indices, res, grad_ref, grad_ours = _same_step(ref, ours, x, seed=5)
    codes = indices.unsqueeze(-1) if torch.is_tensor(indices) else torch.stack(indices, -1)
    assert torch.equal(codes, res.codes)
    assert torch.allclose(z_q, res.output, atol=1e-5)
    assert torch.allclose(grad_ref, grad_ours, atol=1e-5)
    ref_grad = ref.codebook.grad if ref.codebook.dim() == 3 else ref.codebook.grad.unsqueeze(0)
    assert torch.allclose(ref_grad, ours.codebooks.grad, atol=1e-4)


def _curve_pair(which: str):
    import diveq

    ref = getattr(diveq, which)(16, 8, skip_iters=0, avg_iters=0, **QUIET,
                                **({"noise_var": 0.01} if which == "SFDIVEQ" else {}))
    ours = vqcore.SpaceFillingVQ(8, 4, estimator="sf_diveq" if which == "SFDIVEQ" else "sf_diveq_detach",
                                 diveq_noise_std=0.01)
    while not ours.fully_grown:
        ours.grow()
    ref.codebook.data.copy_(torch.randn(16, 8, generator=torch.Generator().manual_seed(2)).cumsum(0))
    ours.codebooks.data[0] = ref.codebook.data
    return ref, ours


def test_sf_diveq_agrees_with_the_diveq_package():
    """SFDIVEQ draws the per-segment dither, then the noise towards c_i, then towards c_{i+1}, as
    SpaceFillingVQ.forward does: same dithered points, outputs and gradients."""
    need("diveq")
    ref, ours = _curve_pair("SFDIVEQ")
    x = torch.randn(128, 8, generator=torch.Generator().manual_seed(1)) * 3
    z_q, indices, res, grad_ref, grad_ours = _same_step(ref, ours, x, seed=5)
    assert torch.equal(indices, res.extras["fractional_index"].floor().long())
    assert torch.allclose(z_q, res.output, atol=1e-4)
    assert torch.allclose(grad_ref, grad_ours, atol=1e-4)
    assert torch.allclose(ref.codebook.grad, ours.codebooks.grad[0], atol=1e-3)
    with torch.no_grad():
        assert torch.allclose(ref.inference(x)[0], ours.quantize(x), atol=1e-5)  # the same projection


def test_the_packages_sf_diveq_detach_returns_the_first_vertex_ours_the_dithered_point():
    """A documented difference: diveq 0.1.3's SFDIVEQDetach scales the direction to c_i in both terms,
    so its forward value is c_i; our "sf_diveq_detach" is SF-DiVeQ with zero noise, the dithered point."""
    need("diveq")
    ref, ours = _curve_pair("SFDIVEQDetach")
    x = torch.randn(128, 8, generator=torch.Generator().manual_seed(1)) * 3
    z_q, indices, res, _, _ = _same_step(ref, ours, x, seed=5)
    assert torch.equal(indices, res.extras["fractional_index"].floor().long())
    assert torch.allclose(z_q, ref.codebook.data[indices], atol=1e-4)
    assert torch.allclose(res.output, res.quantized, atol=1e-4)
    assert float(norms(res.quantized - ref.codebook.data[indices]).detach().max()) > 0.1
