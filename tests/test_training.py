"""vqcore.training: the one fit loop and its two-phase recipe, and SFVQ's schedule."""
import pytest
import torch

import vqcore
from vqcore import ResidualVQ
from vqcore.quantizers.space_filling import decode_curve
from vqcore.training import fit_quantizer, fit_sfvq, growth_schedule, shared_initialisation


def _data() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(512, 8) @ torch.randn(8, 8)


def _mse(q, x) -> float:
    return float(((q.quantize(x) - x) ** 2).sum(1).mean().detach())


def test_two_phase_training_lowers_the_error_and_checks_its_input():
    x = _data()
    q = ResidualVQ(8, 2, 3)
    q.init_from_data(x, generator=torch.Generator().manual_seed(0))
    before = _mse(q, x)
    log = fit_quantizer(q, x, 60, batch_size=64, lr=1e-2, finetune_fraction=0.25, finetune_lr_factor=0.1,
                        replace_every=10, replace_until=0.9, init=False, seed=0, progress=False)
    assert _mse(q, x) < before
    assert len(log.loss) == 4 + 1 and len(log.replaced) == 4  # 45 + 15 steps; replacement only in phase 1
    with pytest.raises(ValueError, match="finetune_fraction"):
        fit_quantizer(q, x, 10, batch_size=8, finetune_fraction=1.5, init=False, progress=False)


def test_two_phases_equal_two_single_phase_fits():
    """The recipe is phase 1 (replacement, seed) then phase 2 (lr * factor, no replacement, seed + 1)."""
    x = _data()
    torch.manual_seed(1)
    a = ResidualVQ(8, 2, 3)
    b = ResidualVQ(8, 2, 3)
    b.load_state_dict(a.state_dict())
    torch.manual_seed(2)
    fit_quantizer(a, x, 40, batch_size=32, lr=1e-2, replace_every=5, finetune_fraction=0.25,
                  finetune_lr_factor=0.5, seed=3, progress=False)
    torch.manual_seed(2)
    fit_quantizer(b, x, 30, batch_size=32, lr=1e-2, replace_every=5, seed=3, progress=False)
    fit_quantizer(b, x, 10, batch_size=32, lr=5e-3, replace_every=0, init=False, seed=4, progress=False)
    assert torch.equal(a.codebooks, b.codebooks)


def test_growth_schedule_has_one_phase_per_doubling():
    assert growth_schedule(120, 5) == [30, 60, 90]
    assert growth_schedule(10, 2) == []


def test_fit_quantizer_reduces_error_for_every_multicodebook_quantizer():
    torch.manual_seed(0)
    data = torch.randn(2000, 8) @ torch.randn(8, 8)
    for q in (vqcore.ResidualVQ(8, stages=3, bits_per_stage=3),
              vqcore.AdditiveVQ(8, stages=3, bits_per_stage=3, beam_width=4),
              vqcore.ProductVQ(8, stages=2, bits_per_stage=3)):
        q.init_from_data(data, generator=torch.Generator().manual_seed(0))
        start = q.quantize(data).sub(data).pow(2).mean().item()
        fit_quantizer(q, data, steps=150, batch_size=128, lr=0.01, replace_every=50, progress=False, init=False)
        assert q.quantize(data).sub(data).pow(2).mean().item() < start


def test_sfvq_projection_never_worse_than_nearest_vertex():
    torch.manual_seed(0)
    q = vqcore.SpaceFillingVQ(3, bits=5)
    data = torch.randn(2000, 3)
    fit_sfvq(q, data, steps=120, batch_size=128, progress=False)
    assert q.num_active == 32
    x = torch.randn(500, 3)
    proj, index = q.project(x)
    vertex = q.decode(q.encode(x))
    err_proj = ((proj - x) ** 2).sum(-1)
    err_vertex = ((vertex - x) ** 2).sum(-1)
    assert bool((err_proj <= err_vertex + 1e-6).all())
    assert bool((index >= 0).all()) and bool((index <= 31).all())
    # the fractional index decodes back to the projection
    assert torch.allclose(decode_curve(q.vertices.detach(), index), proj.detach(), atol=1e-5)


class _RowSampler:
    """A BatchSampler that draws rows of a fixed tensor exactly as the tensor path does."""

    def __init__(self, data: torch.Tensor) -> None:
        self.data, self.dim, self.calls = data, data.shape[1], []

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        self.calls.append(batch_size)
        return self.data[torch.randint(self.data.shape[0], (batch_size,), generator=generator)]


class _GaussianSampler:
    dim = 8

    def __init__(self) -> None:
        self.batches = []

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        x = torch.randn(batch_size, self.dim, generator=generator)
        self.batches.append(x)
        return x


def _pair(seed: int = 5) -> tuple[ResidualVQ, ResidualVQ]:
    torch.manual_seed(seed)
    a = ResidualVQ(8, 2, 3)
    b = ResidualVQ(8, 2, 3)
    b.load_state_dict(a.state_dict())
    return a, b


def test_a_sampler_replaying_the_rows_equals_the_tensor_path():
    """The tensor path draws its batches as before; a sampler consuming the generator the same way
    gives bit-identical codebooks, through both phases and the replacements."""
    x = _data()
    a, b = _pair()
    kw = dict(batch_size=32, lr=1e-2, replace_every=5, finetune_fraction=0.25, init=False, seed=3, progress=False)
    torch.manual_seed(2)
    log_a = fit_quantizer(a, x, 40, **kw)
    torch.manual_seed(2)
    sampler = _RowSampler(x)
    log_b = fit_quantizer(b, sampler, 40, **kw)
    assert torch.equal(a.codebooks, b.codebooks)
    assert log_a.loss == log_b.loss and log_a.replaced == log_b.replaced
    assert sampler.calls == [32] * 40


def test_a_sampler_gives_fresh_batches_and_initialises_from_its_draws():
    q = ResidualVQ(8, 2, 3)
    sampler = _GaussianSampler()
    torch.manual_seed(0)
    fit_quantizer(q, sampler, 12, batch_size=16, lr=1e-2, replace_every=0, init=True, init_samples=256,
                  seed=1, progress=False)
    first, *batches = sampler.batches
    assert first.shape == (256, 8) and len(batches) == 12
    assert all(not torch.equal(batches[0], b) for b in batches[1:])
    # init_from_data saw the first draw: the same seed and draw give the same starting codebooks
    ref = ResidualVQ(8, 2, 3)
    ref.init_from_data(torch.randn(256, 8, generator=torch.Generator().manual_seed(1)),
                       generator=_after_draw(256, 8, seed=1))
    fresh = ResidualVQ(8, 2, 3)
    fit_quantizer(fresh, _GaussianSampler(), 1, batch_size=16, lr=0.0, replace_every=0, init=True,
                  init_samples=256, seed=1, progress=False)
    assert torch.allclose(ref.codebooks, fresh.codebooks)


def _after_draw(num: int, dim: int, seed: int) -> torch.Generator:
    gen = torch.Generator().manual_seed(seed)
    torch.randn(num, dim, generator=gen)
    return gen


def test_fit_quantizer_rejects_a_bad_sampler():
    q = ResidualVQ(8, 2, 3)

    class Wrong:
        dim = 4

        def sample(self, batch_size, generator):
            return torch.randn(batch_size, 4, generator=generator)

    class Short(_GaussianSampler):
        def sample(self, batch_size, generator):
            return torch.randn(batch_size - 1, 8, generator=generator)

    with pytest.raises(ValueError, match="sampler draws 4-dimensional"):
        fit_quantizer(q, Wrong(), 2, init=False, progress=False)
    with pytest.raises(ValueError, match="must return"):
        fit_quantizer(q, Short(), 2, batch_size=8, init=False, progress=False)
    with pytest.raises(ValueError, match="BatchSampler"):
        fit_quantizer(q, [[0.0] * 8], 2, init=False, progress=False)


def _fit(q, x, seed):
    torch.manual_seed(seed)  # the estimators' noise
    return fit_quantizer(q, x, 12, batch_size=32, lr=1e-2, replace_every=4, finetune_fraction=0.25, seed=seed,
                         progress=False, log_every=1)


@pytest.mark.parametrize(("cls", "args", "estimators"), [
    (vqcore.ResidualVQ, (8, 2, 3), ("nsvq", "ste", "ema")),
    (vqcore.VQ, (8, 4), ("nsvq", "ema", "rotation")),
    (vqcore.ProductVQ, (8, 2, 3), ("nsvq", "diveq")),
    (vqcore.AdditiveVQ, (8, 2, 3), ("nsvq", "ste")),
])
def test_a_shared_initialisation_fits_exactly_as_each_its_own(cls, args, estimators, monkeypatch):
    """Estimators on the same data and seed: inside shared_initialisation() init_from_data runs once and
    every fit (codebooks, EMA statistics, logs) is bit for bit the fit without it."""
    x = _data()
    alone = {}
    for est in estimators:
        q = cls(*args, estimator=est)
        alone[est] = (q, _fit(q, x, 5))
    calls = []
    original = cls.init_from_data
    monkeypatch.setattr(cls, "init_from_data", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    with shared_initialisation():
        for est in estimators:
            q = cls(*args, estimator=est)
            log = _fit(q, x, 5)
            want_q, want_log = alone[est]
            assert log.loss == want_log.loss and log.replaced == want_log.replaced
            for (name, got), (_, want) in zip(q.state_dict().items(), want_q.state_dict().items()):
                assert torch.equal(got, want), (est, name)
        q = cls(*args, estimator=estimators[0])
        other_seed = _fit(q, x, 6)  # another seed: its own initialisation
        other_data = _fit(cls(*args, estimator=estimators[0]), x * 2, 5)  # other data: its own
    assert len(calls) == 3  # the first fit, the other seed, the other data
    assert other_seed.loss != alone[estimators[0]][1].loss and other_data.loss != alone[estimators[0]][1].loss
    fit_quantizer(cls(*args), x, 2, batch_size=32, progress=False)  # outside the context: nothing is kept
    assert len(calls) == 4
