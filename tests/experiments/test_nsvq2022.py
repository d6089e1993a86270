"""The NSVQ paper's Figures 1 and 3 with every estimator (vqcore.experiments.nsvq2022_*): the smoke
preset end to end, the authors' layout, the usage log, resuming, and bad settings."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vqcore.experiments import image_training, nsvq2022_images, nsvq2022_presets, nsvq2022_speech, registry
from vqcore.experiments.nsvq2022_usage import UsageMonitor, read_usage
from vqcore.io import results
from vqcore.quantizers.base import QuantizerOutput

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "reference"

pytestmark = pytest.mark.usefixtures("one_thread")


def _run_both(root: Path) -> list[Path]:
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        return (nsvq2022_speech.run_nsvq2022_speech(None, "smoke", root, "cpu", progress=False)
                + nsvq2022_images.run_nsvq2022_images(None, "smoke", root, "cpu", progress=False))


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("nsvq2022")
    return root, _run_both(root)


def _layout_matches(ours: dict, theirs: dict) -> None:
    """Our file has every key of the authors' (same x key, metric, method names) and x labels of theirs."""
    x_key = next(k for k in theirs if isinstance(theirs[k], list) and all(isinstance(v, str) for v in theirs[k]))
    assert ours["Metric"] == theirs["Metric"] and x_key in ours
    assert set(ours[x_key]) <= set(theirs[x_key])
    assert set(theirs) - {x_key} <= set(ours) - {x_key}, set(theirs) - set(ours)
    for key in theirs:
        if key not in ("Metric", x_key):
            assert len(ours[key]) == len(ours[x_key])
    assert "meta" in ours and ours["meta"]["paper"] == "nsvq2022"


@pytest.mark.slow
def test_smoke_writes_the_authors_layout_with_the_new_estimators(smoke_run):
    root, written = smoke_run
    expected = [root / rel for fid in ("nsvq1", "nsvq3") for rel in
                (*registry.figure(fid).files, *registry.figure(fid).artefacts)]
    assert written == expected and all(p.is_file() for p in written)
    for fid in ("nsvq1", "nsvq3"):
        for rel in registry.figure(fid).files:
            ours = json.loads((root / rel).read_text())
            theirs = json.loads((REFERENCE / rel).read_text())
            _layout_matches(ours, theirs)
            extra = {"DiVeQ", "DiVeQ-detach", "Rotation"}
            assert extra <= set(results.load(root / rel).series)
    dead = results.load(root / registry.figure("nsvq3").artefacts[0])  # itself a result file
    assert dead.metric == "Dead codes" and set(dead.series) == set(nsvq2022_presets.IMAGE_METHODS)
    assert all(0 <= v <= 1 for s in dead.series.values() for v in s.values) and dead.meta["preset"] == "smoke"
    usage = read_usage(root / registry.figure("nsvq3").artefacts[0])
    run = usage["runs"]["EMA|6 bits|s0"]["quantizers"]["VQ"]
    assert run["codebook_size"] == 64 and run["step"] and len(run["dead"]) == len(run["step"])
    speech = read_usage(root / registry.figure("nsvq1").artefacts[0])
    assert {r["method"] for r in speech["runs"].values()} == set(nsvq2022_presets.SPEECH_METHODS)


@pytest.mark.slow
def test_resume_recomputes_nothing(smoke_run, monkeypatch):
    root, written = smoke_run
    before = {p: json.loads(p.read_text()) for p in written}

    def fail(*args, **kwargs):
        raise AssertionError("a stored run was recomputed")

    monkeypatch.setattr(nsvq2022_speech, "train_model", fail)
    monkeypatch.setattr(image_training, "train_model", fail)  # the autoencoder's and every run's training
    again = _run_both(root)
    assert again == written
    for path, old in before.items():
        new = json.loads(path.read_text())
        assert {k: v for k, v in new.items() if k != "meta"} == {k: v for k, v in old.items() if k != "meta"}


def test_usage_monitor_counts_perplexity_and_dead_entries():
    mon = UsageMonitor(num_stages=1, codebook_size=4, every=2, window=2)
    for codes in ([0, 0, 1, 1], [0, 1, 0, 1], [2, 2, 2, 2], [2, 2, 2, 2]):
        c = torch.tensor(codes).reshape(-1, 1)
        mon(QuantizerOutput(output=c.float(), quantized=c.float(), codes=c, loss=torch.zeros(()),
                            perplexity=torch.zeros(1)))
    log = mon.as_dict()
    assert log["step"] == [2, 4]
    assert log["perplexity"][0] == [pytest.approx(2.0)] and log["perplexity"][1] == [pytest.approx(1.0)]
    assert log["dead"] == [[2], [3]]  # entries 2, 3 unused in steps 1-2; 0, 1, 3 in steps 3-4


def test_presets_and_bad_input():
    assert nsvq2022_presets.get_speech_preset("quick").methods[:2] == ("STE", "NSVQ")
    assert nsvq2022_presets.get_image_preset("paper").methods[:4] == ("STE", "EMA", "NSVQ w/o CBR", "NSVQ")
    assert nsvq2022_presets.METHODS["NSVQ w/o CBR"].replace is False
    with pytest.raises(ValueError, match="stages"):
        nsvq2022_presets.get_image_preset("smoke", {"stages": 2, "bitrates": (6,)})
    with pytest.raises(ValueError, match="methods"):
        nsvq2022_presets.get_speech_preset("smoke", {"methods": ("EMA",)})
    with pytest.raises(ValueError, match="usage_every"):
        nsvq2022_presets.get_image_preset("smoke", {"usage_every": 0})
    with pytest.raises(ValueError, match="figures"):
        nsvq2022_images.run_nsvq2022_images("4a", "smoke", "unused", "cpu")
    with pytest.raises(ValueError, match="preset"):
        nsvq2022_speech.run_nsvq2022_speech(None, "huge", "unused", "cpu")
