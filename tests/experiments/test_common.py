"""The run cache (RunRecords, RunCache) against damaged records and models: each class of damage is
logged with the file's path and the run is treated as missing (recomputed); nothing else is lost."""
from __future__ import annotations

import dataclasses
import json
import logging

import pytest
import torch

from vqcore.experiments import toy
from vqcore.experiments.common import get_preset
from vqcore.experiments.run_cache import RunCache, RunRecords, field_problem
from vqcore.experiments.toy_presets import TOY_PRESETS
from vqcore.io.tensors import read_safetensors, write_safetensors
from vqcore.quantizers import build_quantizer
from vqcore.quantizers.serialization import FORMAT as QUANTIZER_FORMAT

pytestmark = pytest.mark.usefixtures("one_thread")

SETTINGS = {"steps": 3}
FIELDS = {"mse": float, "train_seconds": float}
GOOD = {"mse": 0.25, "train_seconds": 1.5}


def _warned(caplog, path) -> bool:
    return any(r.levelno == logging.WARNING and str(path) in r.getMessage() for r in caplog.records)


@pytest.fixture
def records(tmp_path):
    rec = RunRecords(tmp_path, "test-run/1")
    rec.put("run-a", SETTINGS, GOOD)
    rec.put("run-b", SETTINGS, GOOD)
    return rec


def test_a_valid_record_is_returned(records):
    got = records.get("run-a", SETTINGS, fields=FIELDS)
    assert got["mse"] == 0.25 and got["settings"] == SETTINGS
    assert records.get("run-a", {"steps": 4}, fields=FIELDS) is None  # other settings


def test_a_non_utf8_byte_is_logged_with_the_path_and_only_that_run_is_lost(records, caplog):
    path = records.path("run-a")
    data = bytearray(path.read_bytes())
    data[data.index(b"0.25")] = 0xFF
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        assert records.get("run-a", SETTINGS, fields=FIELDS) is None
    assert _warned(caplog, path) and "UnicodeDecodeError" in caplog.text
    assert records.get("run-b", SETTINGS, fields=FIELDS) is not None


@pytest.mark.parametrize("text", ["[1, 2]", "\"run\"", "3", "null", "[" * 100_000 + "]" * 100_000,
                                  "{\"mse\": 1" + "0" * 5000 + "}"])
def test_a_record_that_is_not_a_json_object_is_logged_with_the_path(records, caplog, text):
    path = records.path("run-a")
    path.write_text(text, encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert records.get("run-a", SETTINGS, fields=FIELDS) is None
    assert _warned(caplog, path)


def test_a_missing_field_is_logged_with_the_path_and_the_field(records, caplog):
    records.put("run-a", SETTINGS, {"train_seconds": 1.0})
    with caplog.at_level(logging.WARNING):
        assert records.get("run-a", SETTINGS, fields=FIELDS) is None
    assert _warned(caplog, records.path("run-a")) and "'mse' is missing" in caplog.text
    assert records.get("run-a", SETTINGS) is not None  # a caller that reads no field takes it


@pytest.mark.parametrize("value", ["0.25", True, None, [0.25], {"v": 1}])
def test_a_string_or_other_type_where_a_number_belongs_is_refused(records, caplog, value):
    records.put("run-a", SETTINGS, {**GOOD, "mse": value})
    with caplog.at_level(logging.WARNING):
        assert records.get("run-a", SETTINGS, fields=FIELDS) is None
    assert _warned(caplog, records.path("run-a")) and "mse must be a finite number" in caplog.text


def test_a_non_finite_number_is_refused(records, caplog):
    path = records.path("run-a")
    path.write_text(path.read_text(encoding="utf-8").replace("0.25", "NaN"), encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert records.get("run-a", SETTINGS, fields=FIELDS) is None
    assert _warned(caplog, path)


def test_field_specs_nest():
    spec = {"codes": [[int]], "info": {"t": float}, "loss": (float, type(None))}
    assert field_problem({"codes": [[1, 2], []], "info": {"t": 1}, "loss": None}, spec, "") is None
    assert field_problem({"codes": [[1, "2"]], "info": {"t": 1}, "loss": 1.0}, spec, "") == \
        "codes[0][1] must be int, got '2'"
    assert field_problem({"codes": [], "info": {}, "loss": 1.0}, spec, "") == "info.t is missing"
    assert "loss must be a finite number or None" in field_problem({"codes": [], "info": {"t": 1}, "loss": "x"},
                                                                   spec, "")


def test_a_damage_warning_is_given_once_per_file(records, caplog):
    records.path("run-a").write_bytes(b"\xff")
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            records.get("run-a", SETTINGS)
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 1


# -- stored models -------------------------------------------------------------------------------

def _rewrite(path, fmt, change):
    meta, tensors = read_safetensors(path, fmt)
    meta.pop("format")
    write_safetensors(path, change(tensors), fmt, meta)


@pytest.fixture
def cache(tmp_path):
    return RunCache(tmp_path, "test-run/1")


def _stored_rvq(cache, dim=8, bits=8):
    q = build_quantizer("RVQ", dim, bits, stages=2)
    cache.put_quantizer("rvq", q)
    cache.put("rvq", SETTINGS, GOOD)
    return q


def test_a_stored_quantizer_with_an_extra_tensor_is_recomputed(cache, caplog):
    _stored_rvq(cache)
    assert cache.get_quantizer("rvq", SETTINGS) is not None
    _rewrite(cache.tensors_path("rvq"), QUANTIZER_FORMAT, lambda t: {**t, "extra": torch.zeros(3)})
    with caplog.at_level(logging.WARNING):
        assert cache.get_quantizer("rvq", SETTINGS) is None
    assert _warned(caplog, cache.tensors_path("rvq"))


@pytest.mark.parametrize("damage", ["truncated", "not safetensors", "bad utf-8 config"])
def test_a_stored_quantizer_that_does_not_load_is_recomputed(cache, caplog, damage):
    _stored_rvq(cache)
    path = cache.tensors_path("rvq")
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:40])
    elif damage == "not safetensors":
        path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    else:
        data = path.read_bytes()
        path.write_bytes(data.replace(b'"dim', b'"\xffim', 1))
    with caplog.at_level(logging.WARNING):
        assert cache.get_quantizer("rvq", SETTINGS) is None
    assert _warned(caplog, path)


def test_a_stored_quantizer_of_the_wrong_size_is_recomputed(cache, caplog):
    _stored_rvq(cache, dim=8, bits=8)
    expect = {"class": "ResidualVQ", "dim": 8, "stages": 2, "bits_per_stage": 4}
    assert cache.get_quantizer("rvq", SETTINGS, expect=expect) is not None
    _stored_rvq(cache, dim=8, bits=12)
    with caplog.at_level(logging.WARNING):
        assert cache.get_quantizer("rvq", SETTINGS, expect=expect) is None
    assert _warned(caplog, cache.tensors_path("rvq")) and "bits_per_stage" in caplog.text


def test_load_state_refuses_extra_missing_or_wrong_sized_tensors_and_leaves_the_module(cache, caplog):
    model = torch.nn.Linear(3, 2)
    cache.put_tensors("lin", SETTINGS, GOOD, model.state_dict())
    fresh = torch.nn.Linear(3, 2)
    assert cache.load_state("lin", SETTINGS, fresh, fields=FIELDS) is not None
    assert torch.equal(fresh.weight, model.weight)
    path = cache.tensors_path("lin")
    for change in (lambda t: {**t, "extra": torch.zeros(1)}, lambda t: {"weight": t["weight"]},
                   lambda t: {**t, "weight": torch.zeros(2, 4)}, lambda t: {**t, "bias": t["bias"].double()},
                   lambda t: {**t, "bias": torch.full((2,), float("nan"))}):
        cache.put_tensors("lin", SETTINGS, GOOD, model.state_dict())
        _rewrite(path, "test-run/1", change)
        other = torch.nn.Linear(3, 2)
        before = {k: v.clone() for k, v in other.state_dict().items()}
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert cache.load_state("lin", SETTINGS, other) is None
        assert _warned(caplog, path)
        assert all(torch.equal(before[k], v) for k, v in other.state_dict().items())  # untouched
    bigger = torch.nn.Linear(4, 2)
    cache.put_tensors("lin", SETTINGS, GOOD, model.state_dict())
    assert cache.load_state("lin", SETTINGS, bigger) is None  # a model of another size: retrain


# -- a runner: only the damaged runs are recomputed ---------------------------------------------

def test_the_toy_runner_recomputes_only_the_damaged_record_and_model(tmp_path, monkeypatch, caplog):
    preset = dataclasses.replace(get_preset(TOY_PRESETS, "smoke"), bitrates=(12,))
    toy.run_toy(["2a"], preset, results_dir=tmp_path, device="cpu", progress=False)
    cache = RunCache(tmp_path / ".runs" / "toy" / "smoke", toy.RUN_FORMAT)
    keys = {k.method: k for k in toy.planned_runs(["2a"], preset)}
    pvq, avq, rvq = cache.path(keys["PVQ"]), cache.path(keys["AVQ"]), keys["RVQ"]
    pvq.write_bytes(pvq.read_bytes().replace(b'"mse"', b'"\xffse"'))
    record = json.loads(avq.read_text(encoding="utf-8"))
    avq.write_text(json.dumps({**record, "mse": "0.5"}), encoding="utf-8")
    wrong = build_quantizer("RVQ", rvq.dim, rvq.bits + 4, stages=preset.stages)
    cache.put_quantizer(rvq, wrong)  # a stored model of the wrong size
    calls = []
    real = toy.train_and_evaluate

    def counting(key, *args, **kwargs):
        calls.append(key.method)
        return real(key, *args, **kwargs)

    monkeypatch.setattr(toy, "train_and_evaluate", counting)
    with caplog.at_level(logging.WARNING):
        toy.run_toy(["2a"], preset, results_dir=tmp_path, device="cpu", progress=False)
    assert sorted(calls) == ["AVQ", "PVQ", "RVQ"]  # the damaged two, and the RVQ the AVQ starts from
    assert _warned(caplog, pvq) and _warned(caplog, avq) and _warned(caplog, cache.tensors_path(rvq))
    calls.clear()
    toy.run_toy(["2a"], preset, results_dir=tmp_path, device="cpu", progress=False)
    assert calls == []  # all stored again, whole
    assert not list(cache.root.glob("*.lock"))


# -- the runners' own checks of stored models -------------------------------------------------------

def test_an_image_run_whose_weights_do_not_fit_its_model_is_recomputed(tmp_path, caplog):
    from types import SimpleNamespace

    from vqcore.experiments import image_training as it
    from vqcore.experiments.image_presets import get_image_preset

    preset = get_image_preset("smoke")
    key = it.ImageRunKey("RVQ", 12, 0)
    ae = it.build_model(preset)
    data = SimpleNamespace(example=torch.zeros(1, 1, 16, 16))
    state = {**ae.with_quantizer(it.build_quantizer("RVQ", 12, preset)).state_dict(),
             "_example": torch.zeros(16, 16, dtype=torch.uint8)}
    record = {"ssim": [0.5], "psnr": [20.0], "train_seconds": 1.0, "eval_seconds": 1.0, "final_train_loss": None,
              "replaced": 0, "test_perplexity": [3.0]}
    cache = RunCache(tmp_path, it.RUN_FORMAT)
    settings = it.run_settings(key, preset)
    cache.put_tensors(key, settings, record, state)
    assert it._stored(cache, key, settings, preset, ae, data) is not None
    for bad in ({**state, "extra": torch.zeros(1)}, {**state, "quantizer.codebooks": torch.zeros(4, 16, 16)}):
        cache.put_tensors(key, settings, record, bad)
        with caplog.at_level(logging.WARNING):
            assert it._stored(cache, key, settings, preset, ae, data) is None
        assert _warned(caplog, cache.tensors_path(key))
    cache.put_tensors(key, settings, {**record, "ssim": ["0.5"]}, state)
    assert it._stored(cache, key, settings, preset, ae, data) is None


def test_an_interspeech_model_that_does_not_fit_is_refused_by_name_and_retrained(tmp_path, caplog):
    from types import SimpleNamespace

    from vqcore.experiments import interspeech_runs as ir
    from vqcore.experiments.interspeech_presets import PRESETS
    from vqcore.experiments.voice_conversion_training import build_model

    p = dataclasses.replace(PRESETS["smoke"], bits=4, channels=8, latent_dim=4, n_mels=12, speaker_dim=3)
    cache = ir.run_cache(tmp_path, "smoke")
    model = build_model("VQ", p, num_speakers=3)
    test = [SimpleNamespace(phones=["a", "b"]), SimpleNamespace(phones=["c"])]
    record = {"test_codes": [[1, 2], [3]], "train_seconds": 1.0, "train_reconstruction_mse": 0.1}
    cache.put_tensors("VQ-s0", p.training_settings(), record, model.state_dict())
    assert ir._stored_record(cache, "VQ", 0, p, test, 3) is not None
    for bad in ({**record, "test_codes": [[1, 2]]}, {**record, "test_codes": [[1, 99], [3]]},
                {**record, "train_seconds": "1.0"}):
        cache.put_tensors("VQ-s0", p.training_settings(), bad, model.state_dict())
        assert ir._stored_record(cache, "VQ", 0, p, test, 3) is None
    cache.put_tensors("VQ-s0", p.training_settings(), record, {**model.state_dict(), "extra": torch.zeros(2)})
    with caplog.at_level(logging.WARNING):
        assert ir._stored_record(cache, "VQ", 0, p, test, 3) is None
        with pytest.raises(ValueError, match="VQ-s0"):
            ir.load_model(cache, "VQ", 0, p, 3, torch.device("cpu"))
    assert _warned(caplog, cache.tensors_path("VQ-s0"))
    sfvq = build_model("SFVQ", p, num_speakers=3).state_dict()
    assert int(sfvq["quantizer._num_active"]) == 4
    cache.put_tensors("SFVQ-s0", p.training_settings(), record, sfvq)
    assert ir._stored_record(cache, "SFVQ", 0, p, test, 3) is not None
    for bad in (0, 1, 3, 17):
        cache.put_tensors("SFVQ-s0", p.training_settings(), record, {**sfvq, "quantizer._num_active": torch.tensor(bad)})
        assert ir._stored_record(cache, "SFVQ", 0, p, test, 3) is None
    wrong = build_model("VQ", dataclasses.replace(p, bits=5), num_speakers=3)
    cache.put_tensors("VQ-s0", p.training_settings(), record, wrong.state_dict())  # a model of another size
    assert ir._stored_record(cache, "VQ", 0, p, test, 3) is None
    with pytest.raises(ValueError, match="VQ-s0"):
        ir.load_model(cache, "VQ", 0, p, 3, torch.device("cpu"))


def test_a_folder_that_takes_no_lock_file_runs_unlocked(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    records = RunRecords(tmp_path / "file" / "runs", "test-run/1")  # no lock file can be made there
    with records.claim("run-a") as held:
        assert held is True


def test_a_speech_run_whose_record_or_codec_is_damaged_is_recomputed(tmp_path, caplog):
    from vqcore.experiments import speech_runs as sr
    from vqcore.experiments.speech_presets import SpeechRunKey
    from vqcore.speech.codec import SpeechCodec
    from vqcore.speech.codec_io import save_codec

    cache = RunCache(tmp_path, sr.RUN_FORMAT)
    key = SpeechRunKey("RVQ", 16.0, 0)
    record = {"pesq": [3.0], "psnr": [20.0], "test_items": ["u1"], "measured_kbps": 16.0,
              "train_seconds": 1.0, "eval_seconds": 1.0}
    sr.store_run(cache, key, SETTINGS, record, SpeechCodec(16.0, "rvq"))
    assert sr.stored_record(cache, key, SETTINGS) is not None
    cache.put(key, SETTINGS, {**record, "pesq": ["3.0"]})
    assert sr.stored_record(cache, key, SETTINGS) is None
    cache.put(key, SETTINGS, {**record, "pesq": [3.0, 2.0]})  # scores for two items, one item named
    assert sr.stored_record(cache, key, SETTINGS) is None
    cache.put(key, SETTINGS, record)
    save_codec(SpeechCodec(24.0, "rvq"), cache.tensors_path(key))  # another bitrate's codec
    with caplog.at_level(logging.WARNING):
        assert sr.stored_record(cache, key, SETTINGS) is None
    assert _warned(caplog, cache.tensors_path(key))
    cache.tensors_path(key).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert sr.stored_record(cache, key, SETTINGS) is None
    assert _warned(caplog, cache.tensors_path(key))


@pytest.mark.parametrize("device", ["bogus", "meta", "cuda:99" if torch.cuda.is_available() else "cuda"])
def test_resolve_device_refuses_a_device_that_cannot_run_here(device):
    from vqcore.experiments.common import resolve_device

    with pytest.raises(ValueError, match=r"^device "):
        resolve_device(device)
