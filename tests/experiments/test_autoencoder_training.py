"""The end-to-end training loop (vqcore.experiments.autoencoder_training): a run killed part way and
started again from its checkpoint ends exactly where an uninterrupted run ends."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from vqcore import ResidualVQ
from vqcore.experiments import image_training
from vqcore.experiments.autoencoder_training import Checkpoints, train_model
from vqcore.experiments.run_cache import RunCache
from vqcore.models.image_vqvae import ImageVQVAE

SCHEDULE = SimpleNamespace(finetune_fraction=0.25, finetune_lr_factor=0.1, replace_every=4, replace_until=0.9,
                           discard_threshold=0.5)
STEPS = 24
SETTINGS = {"what": "a test run"}


class Killed(Exception):
    pass


def _model() -> ImageVQVAE:
    torch.manual_seed(0)
    return ImageVQVAE(latent_dim=4, channels=4, downsampling=1, quantizer=ResidualVQ(4, 2, 3))


def _patches() -> torch.Tensor:
    return torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(1))


def _train(model: ImageVQVAE, checkpoints: Checkpoints | None = None) -> dict:
    torch.manual_seed(5)  # the NSVQ noise comes from torch's generator
    return train_model(model, _patches(), STEPS, 8, 1e-2, 7, SCHEDULE, replace=True, warmup=0.2,
                       checkpoints=checkpoints)


def _kill_after(cache: RunCache, saves: int, monkeypatch) -> list[int]:
    """Make the ``saves``-th checkpoint the last thing the run does."""
    steps: list[int] = []
    real = cache.put_partial

    def put_then_die(key, settings, record, tensors):
        real(key, settings, record, tensors)
        steps.append(record["step"])
        if len(steps) == saves:
            raise Killed

    monkeypatch.setattr(cache, "put_partial", put_then_die)
    return steps


def test_a_killed_run_resumes_from_its_checkpoint_and_ends_bit_for_bit_where_an_unbroken_run_ends(
        tmp_path, monkeypatch):
    unbroken = _model()
    expected = _train(unbroken)
    cache = RunCache(tmp_path, "test/1")
    checkpoints = Checkpoints(cache, "run", SETTINGS, every=5)
    saved = _kill_after(cache, 3, monkeypatch)
    with pytest.raises(Killed):
        _train(_model(), checkpoints)
    assert saved == [5, 10, 15] and cache.path("run.partial").is_file()
    monkeypatch.undo()
    torch.manual_seed(123)  # whatever torch's generator holds now, the checkpoint's state is restored
    resumed = _model()
    log = train_model(resumed, _patches(), STEPS, 8, 1e-2, 7, SCHEDULE, replace=True, warmup=0.2,
                      checkpoints=checkpoints)
    for name, value in unbroken.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
    assert log["loss_every_10"] == expected["loss_every_10"] and log["replaced"] == expected["replaced"]
    assert log["train_seconds"] > 0
    checkpoints.clear()
    assert not cache.path("run.partial").exists() and not cache.tensors_path("run.partial").exists()
    checkpoints.clear()  # nothing left: no error


def test_a_checkpoint_of_other_settings_or_steps_or_a_damaged_one_is_not_used(tmp_path, monkeypatch):
    expected = _model()
    _train(expected)
    cache = RunCache(tmp_path, "test/1")
    _kill_after(cache, 1, monkeypatch)
    with pytest.raises(Killed):
        _train(_model(), Checkpoints(cache, "run", SETTINGS, every=5))
    monkeypatch.undo()
    for checkpoints in (Checkpoints(cache, "run", {"what": "another run"}, every=5),):
        fresh = _model()
        _train(fresh, checkpoints)
        assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in expected.state_dict().items())
    # a checkpoint of a run with more steps: started afresh, with a warning
    other = _model()
    torch.manual_seed(5)
    log = train_model(other, _patches(), STEPS - 4, 8, 1e-2, 7, SCHEDULE, replace=True, warmup=0.2,
                      checkpoints=Checkpoints(cache, "run", SETTINGS, every=50))
    assert len(log["loss_every_10"]) == 2
    cache.tensors_path("run.partial").write_bytes(b"not a tensor file")
    damaged = _model()
    _train(damaged, Checkpoints(cache, "run", SETTINGS, every=50))
    assert all(torch.equal(v, damaged.state_dict()[k]) for k, v in expected.state_dict().items())


def test_checkpoints_refuse_a_bad_interval_and_a_monitor(tmp_path):
    cache = RunCache(tmp_path, "test/1")
    with pytest.raises(ValueError, match="every must be an integer >= 1"):
        Checkpoints(cache, "run", SETTINGS, every=0)
    with pytest.raises(ValueError, match="checkpoints: a monitor"):
        train_model(_model(), _patches(), STEPS, 8, 1e-2, 7, SCHEDULE, replace=True,
                    checkpoints=Checkpoints(cache, "run", SETTINGS), monitor=lambda out: None)


def test_the_image_pretraining_resumes_after_a_kill(tmp_path, monkeypatch):
    from vqcore.experiments.image_data import image_data
    from vqcore.experiments.image_presets import get_image_preset

    preset = get_image_preset("smoke", {"pretrain_steps": 30, "num_patches": 64})
    data = image_data(preset, 0)
    monkeypatch.setattr(image_training, "PRETRAIN_CHECKPOINT_EVERY", 10)
    unbroken, _ = image_training.pretrained_autoencoder(preset, 0, data, RunCache(tmp_path / "a", "t/1"), "cpu")
    cache = RunCache(tmp_path / "b", "t/1")
    _kill_after(cache, 2, monkeypatch)
    with pytest.raises(Killed):
        image_training.pretrained_autoencoder(preset, 0, data, cache, "cpu")
    monkeypatch.setattr(cache, "put_partial", RunCache.put_partial.__get__(cache))
    resumed, info = image_training.pretrained_autoencoder(preset, 0, data, cache, "cpu")
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in unbroken.state_dict().items())
    assert info["steps"] == 30 and not cache.path("autoencoder-s0.partial").exists()
