"""The Interspeech 2023 SFVQ pieces: log-mel and Griffin-Lim, the index analysis, the voice-conversion
VQ-VAE, and the experiment at smoke scale (its result files validate and it resumes without retraining)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from vqcore import VQ, SpaceFillingVQ
from vqcore.io import results
from vqcore.speech.logmel import LogMel, griffin_lim, mel_filterbank
from vqcore.eval.index_divergence import (
    adjacent_divergence,
    class_histograms,
    js_divergence,
    mean_index,
    permuted_adjacent_divergence,
)
from vqcore.models.voice_conversion import VoiceConversionVQVAE

pytestmark = pytest.mark.usefixtures("one_thread")
REPO = Path(__file__).resolve().parents[2]


def tone(freq: float, seconds: float = 0.5, rate: int = 16000) -> torch.Tensor:
    t = torch.arange(int(seconds * rate)) / rate
    return 0.1 * torch.sin(2 * math.pi * freq * t)


# -- log-mel and Griffin-Lim ------------------------------------------------------------------------

def test_mel_filterbank_has_unit_peaks_in_order():
    fb = mel_filterbank(40, 1024, 16000)
    assert fb.shape == (40, 513)
    peak = fb.max(1).values  # the peak falls between FFT bins: at most 1, never far below
    assert bool((peak <= 1).all()) and bool((peak > 0.8).all())
    peaks = fb.argmax(1)
    assert bool((peaks[1:] >= peaks[:-1]).all())
    with pytest.raises(ValueError, match="fmax"):
        mel_filterbank(40, 1024, 16000, fmax=9000)


def test_logmel_frames_align_with_phone_labels_and_find_a_tone():
    lm = LogMel(n_mels=40)
    x = tone(1000.0)
    feats = lm(x)
    assert feats.shape == (x.shape[0] // 320, 40)
    centre_hz = (lm.filters * torch.linspace(0, 8000, 513)).sum(1) / lm.filters.sum(1)
    band = int(feats[5:-5].mean(0).argmax())
    assert abs(float(centre_hz[band]) - 1000.0) < 120.0
    # frame i is centred on sample i*hop + hop/2: a click there shows in frame i, not in its neighbours
    click = torch.zeros(16000)
    click[10 * 320 + 160] = 1.0
    energy = lm.mel_magnitude(click).sum(1)
    assert int(energy.argmax()) == 10
    with pytest.raises(ValueError, match="win_length"):
        LogMel(win_length=2048, n_fft=1024)
    with pytest.raises(ValueError, match="audio"):
        lm(torch.zeros(2, 3, 400))


def test_griffin_lim_gives_back_the_log_mel():
    lm = LogMel(n_mels=40)
    t = torch.arange(8000) / 16000
    x = 0.1 * torch.sin(2 * math.pi * (300 * t + 600 * t ** 2)) + 0.05 * torch.sin(2 * math.pi * 2500 * t)
    target = lm(x)
    y = griffin_lim(target, lm, iterations=32)
    assert y.shape == (target.shape[0] * 320,) and float(y.abs().max()) <= 0.98 + 1e-6
    err = float(((lm(y) - target)[2:-2] ** 2).mean())
    assert err < 0.1 * float(target.var()), err
    with pytest.raises(ValueError, match="oversample"):
        griffin_lim(target, lm, oversample=3)


# -- index analysis --------------------------------------------------------------------------------

def test_js_divergence_limits():
    p = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    q = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    assert np.allclose(js_divergence(p, q), [0.0, 1.0])
    with pytest.raises(ValueError, match="same shape"):
        js_divergence(p, q[:, :2])


def test_ordered_codes_beat_their_permuted_baseline_and_random_codes_do_not():
    rng = np.random.default_rng(0)
    labels = [f"p{k}" for k in rng.integers(0, 8, 6000)]
    ordered = np.array([int(l[1:]) * 32 + rng.integers(0, 32) for l in labels])  # class k -> codes 32k..32k+31
    random = rng.integers(0, 256, len(labels))
    for codes, ordered_case in ((ordered, True), (random, False)):
        div = adjacent_divergence(codes, labels, 256, min_count=5)
        base = permuted_adjacent_divergence(codes, labels, 256, min_count=5, permutations=30, seed=1)
        assert base.shape == (30,)
        if ordered_case:
            assert div < 0.5 * base.mean()
        else:
            assert abs(div - base.mean()) < 0.1 * base.mean()
    hist = class_histograms(ordered, labels, ["p0", "p7"], 256)
    assert hist.shape == (2, 256) and hist[0, 32:].sum() == 0 and hist[1, :224].sum() == 0
    centres = mean_index(hist)
    assert 0 <= centres[0] < 32 and 224 <= centres[1] < 256
    with pytest.raises(ValueError, match="codes"):
        adjacent_divergence(np.array([0, 300]), ["a", "b"], 256)
    with pytest.raises(ValueError, match="labels"):
        adjacent_divergence(np.array([0, 1]), ["a"], 256)


# -- the model ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("quantizer", [SpaceFillingVQ(8, 4), VQ(8, 4)])
def test_voice_conversion_model_shapes_gradients_and_conversion(quantizer):
    torch.manual_seed(0)
    model = VoiceConversionVQVAE(20, 3, quantizer, channels=16, speaker_dim=4)
    x = torch.randn(2, 30, 20)
    spk = torch.tensor([0, 1])
    with torch.no_grad():
        quantizer.init_from_data(model.encode(x).reshape(-1, 8))
    out = model(x, spk)
    assert out.reconstruction.shape == x.shape and out.codes.shape == (2, 30)
    ((out.reconstruction - x) ** 2).mean().backward()
    assert quantizer.codebooks.grad is not None and quantizer.codebooks.grad.abs().sum() > 0
    model.eval()
    a, codes = model.convert(x, spk)
    b, codes_b = model.convert(x, torch.tensor([2, 2]))
    assert torch.equal(codes, codes_b) and not torch.allclose(a, b)  # same content, another voice
    assert int(codes.max()) < quantizer.num_codes
    with pytest.raises(ValueError, match="speakers"):
        model.decode(torch.randn(2, 30, 8), torch.tensor([0]))
    with pytest.raises(ValueError, match="quantizer"):
        VoiceConversionVQVAE(20, 3, torch.nn.Linear(2, 2))


# -- the experiment at smoke scale ---------------------------------------------------------------------

def test_smoke_experiment_writes_valid_files_and_resumes(tmp_path, monkeypatch):
    pytest.importorskip("espeakng_loader")
    from vqcore.experiments import interspeech, interspeech_runs

    with pytest.raises(ValueError, match="figure"):
        interspeech.run_interspeech(["nope"], "smoke", tmp_path, "cpu")
    written = interspeech.run_interspeech(interspeech.FIGURES, "smoke", tmp_path, "cpu", progress=False)
    names = {p.name for p in written}
    assert names == set(interspeech.FILES.values())
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == sorted(
        f for fig in interspeech.FIGURES for f in interspeech.figure_files(fig))
    loaded = results.load_dir(tmp_path)
    assert len(loaded) == len(interspeech.FILES)
    for rel, r in loaded.items():
        assert r.meta["preset"] == "smoke", rel
    div = results.load(tmp_path / "interspeech2023" / "adjacent_index_divergence.json")
    per_seed = div.extra["Per seed"]
    assert per_seed["Seed"] == list(interspeech.PRESETS["smoke"].seeds)
    assert all(0 <= v <= 1 for key in ("SFVQ", "VQ", "SFVQ permuted", "VQ permuted") for v in per_seed[key])
    groups = results.load(tmp_path / "interspeech2023" / "phone_group_histograms.json")
    assert groups.x == [str(i) for i in range(256)]
    for s in groups.series.values():
        assert abs(sum(s.values) - 1) < 1e-9
    sentence = results.load(tmp_path / "interspeech2023" / "index_vs_time.json")
    assert "greasy wash water" in sentence.context["Sentence"]
    for e in sentence.extra["Audio examples"]["examples"]:
        assert (tmp_path / "interspeech2023" / e["file"]).stat().st_size > 1000
    sf = results.load(tmp_path / "interspeech2023" / "sfvq_2d_mse.json")
    assert all(v > 0 for s in sf.series.values() for v in s.values)

    # a second run reuses the stored models: training again would fail
    def no_training(*args, **kwargs):
        raise AssertionError("a stored model was trained again")

    monkeypatch.setattr(interspeech_runs, "train_voice_conversion", no_training)
    again = interspeech.run_interspeech(["sfvqdivergence"], "smoke", tmp_path, "cpu", progress=False)
    assert json.loads(again[0].read_text())["Per seed"] == per_seed
    # every stored model is safetensors, one per method and seed, beside its record
    runs = tmp_path / ".runs" / "interspeech" / "smoke"
    seeds = interspeech.PRESETS["smoke"].seeds
    assert sorted(p.name for p in runs.glob("*.safetensors")) == sorted(
        f"{m}-s{s}.safetensors" for m in interspeech.METHODS for s in seeds)
    assert not list(tmp_path.rglob("*.pt"))


# -- the results of record -------------------------------------------------------------------------------

def test_results_of_record_show_the_papers_claims():
    folder = REPO / "Results" / "interspeech2023"
    path = folder / "adjacent_index_divergence.json"
    if not path.is_file():
        pytest.skip("no Interspeech results of record yet: run `python -m vqcore reproduce --preset quick`")
    div = results.load(path)
    assert div.meta["preset"] == "quick" and len(div.meta["seeds"]) >= 3
    per_seed = div.extra["Per seed"]
    assert all(a < b for a, b in zip(per_seed["SFVQ"], per_seed["VQ"])), "SFVQ below VQ for every seed"
    groups = results.load(folder / "phone_group_histograms.json")
    centre = {g: mean_index(np.array([s.values]))[0] for g, s in groups.series.items()}
    consonants = [centre[g] for g in ("silence", "plosives", "fricatives", "nasals")]
    vowels = [centre[g] for g in ("vowels", "diphthongs", "semivowels")]
    assert max(consonants) < min(vowels) or max(vowels) < min(consonants)


def test_figures_and_files_come_from_the_registry():
    from vqcore.experiments import interspeech, registry

    assert interspeech.FIGURES == ("sfvq2d", "sfvqtime", "sfvqgroups", "sfvqfricatives", "sfvqcontrol",
                                   "sfvqdivergence")
    assert all(registry.figure(f).runner == "vqcore.experiments.interspeech:run_interspeech"
               for f in interspeech.FIGURES)
    assert interspeech.FILES["sfvqgroups"] == "phone_group_histograms.json"
    assert interspeech.figure_files("sfvqdivergence") == ["interspeech2023/adjacent_index_divergence.json"]
    with pytest.raises(ValueError, match="figure"):
        interspeech.figure_files("2a")
