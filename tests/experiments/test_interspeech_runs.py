"""The Interspeech run cache: models stored as safetensors state dicts, the SFVQ's active vertices included."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from vqcore.experiments.interspeech_presets import PRESETS
from vqcore.experiments.interspeech_runs import RUN_FORMAT, load_model, run_cache
from vqcore.experiments.voice_conversion_training import build_model

pytestmark = pytest.mark.usefixtures("one_thread")
P = dataclasses.replace(PRESETS["smoke"], bits=4, channels=8, latent_dim=4, n_mels=12, speaker_dim=3)


def test_run_cache_location(tmp_path):
    cache = run_cache(tmp_path, "smoke")
    assert cache.root == tmp_path / ".runs" / "interspeech" / "smoke" and cache.run_format == RUN_FORMAT
    assert run_cache(tmp_path, "smoke", tmp_path / "elsewhere").root == tmp_path / "elsewhere"


@pytest.mark.parametrize("method", ["SFVQ", "VQ"])
def test_stored_model_round_trips_through_safetensors(tmp_path, method):
    torch.manual_seed(0)
    model = build_model(method, P, num_speakers=3)
    model.set_normalisation(torch.randn(50, P.n_mels) * 3 + 1)
    q = model.quantizer
    with torch.no_grad():
        q.init_from_data(torch.randn(64, P.latent_dim))
    if method == "SFVQ":
        q.grow()  # 4 -> 8 of 16 vertices: not the default
        assert q.num_active == 8 and "quantizer._num_active" in model.state_dict()
    cache = run_cache(tmp_path, "smoke")
    cache.put_tensors(f"{method}-s0", P.training_settings(), {"method": method}, model.state_dict())
    assert cache.tensors_path(f"{method}-s0").suffix == ".safetensors"
    back = load_model(cache, method, 0, P, 3, torch.device("cpu"))
    assert not back.training
    assert back.quantizer.num_codes == q.num_codes
    for k, v in model.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
    x = torch.randn(1, 20, P.n_mels)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model.convert(x, torch.tensor([1]))[1], back.convert(x, torch.tensor([1]))[1])


def test_load_model_refuses_a_missing_or_stale_run(tmp_path):
    cache = run_cache(tmp_path, "smoke")
    with pytest.raises(ValueError, match="SFVQ-s0"):
        load_model(cache, "SFVQ", 0, P, 3, torch.device("cpu"))
    model = build_model("VQ", P, num_speakers=3)
    cache.put_tensors("VQ-s1", P.training_settings(), {}, model.state_dict())
    load_model(cache, "VQ", 1, P, 3, torch.device("cpu"))
    with pytest.raises(ValueError, match="VQ-s1"):
        load_model(cache, "VQ", 1, dataclasses.replace(P, steps=41), 3, torch.device("cpu"))
    with pytest.raises(ValueError, match="method"):
        build_model("RVQ", P, num_speakers=3)
