"""The Interspeech presets: a common.Preset subclass, looked up with common.get_preset."""
from __future__ import annotations

import dataclasses

import pytest

from vqcore.experiments import common
from vqcore.experiments.interspeech_presets import PRESETS, InterspeechPreset, get_preset


def test_presets_are_frozen_common_presets_of_every_scale():
    assert tuple(PRESETS) == common.PRESET_NAMES
    for name, p in PRESETS.items():
        assert isinstance(p, common.Preset) and p.name == name and p.seeds
        with pytest.raises(dataclasses.FrozenInstanceError):
            p.steps = 1  # type: ignore[misc]
    smoke = PRESETS["smoke"]
    assert (smoke.steps, smoke.bits, smoke.latent_dim, smoke.bits_2d, smoke.seeds) == (40, 8, 8, (3, 5), (0, 1))
    assert PRESETS["paper"].channels == 256 and PRESETS["quick"].channels == 96
    with pytest.raises(TypeError):
        InterspeechPreset("x", (0,), "smoke", 10)  # keyword-only


def test_get_preset_by_name_instance_and_overrides():
    assert get_preset(" Smoke ") is PRESETS["smoke"]
    assert get_preset(PRESETS["quick"]) is PRESETS["quick"]
    shorter = get_preset("smoke", {"steps": 4})
    assert shorter.steps == 4 and shorter.channels == PRESETS["smoke"].channels
    with pytest.raises(ValueError, match="preset"):
        get_preset("huge")
    with pytest.raises(ValueError, match="overrides"):
        get_preset("smoke", {"nope": 1})


def test_settings_and_training_settings():
    p = dataclasses.replace(PRESETS["smoke"], notes="anything")
    settings = p.settings()
    assert "notes" not in settings and settings["bits_2d"] == [3, 5] and settings["name"] == "smoke"
    assert set(settings) == {f.name for f in dataclasses.fields(p)} - {"notes"}
    training = p.training_settings()
    assert training["steps"] == 40 and "permutations" not in training and "seeds" not in training
    # a setting of the analysis does not change the models; one of the training does
    assert dataclasses.replace(p, permutations=7).training_settings() == training
    assert dataclasses.replace(p, lr=1.0).training_settings() != training
