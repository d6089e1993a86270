"""The image experiment's presets (vqcore.experiments.image_presets)."""
from __future__ import annotations

import dataclasses

import pytest

from vqcore.experiments.common import Preset
from vqcore.experiments.image_presets import IMAGE_PRESETS, ImagePreset, get_image_preset


def test_presets_are_frozen_keyword_only_presets_of_the_three_scales():
    assert tuple(IMAGE_PRESETS) == ("smoke", "quick", "paper")
    for name, p in IMAGE_PRESETS.items():
        assert isinstance(p, Preset) and p.name == name and p.seeds and p.notes
        with pytest.raises(dataclasses.FrozenInstanceError):
            p.steps = 1
    with pytest.raises(TypeError):
        ImagePreset("smoke", (12,), (0,))  # keyword-only


def test_lookup_by_name_instance_and_overrides():
    smoke = IMAGE_PRESETS["smoke"]
    assert get_image_preset(" Smoke ") is smoke and get_image_preset(smoke) is smoke
    fewer = get_image_preset("smoke", {"steps": 5})
    assert fewer.steps == 5 and fewer.bitrates == smoke.bitrates and smoke.steps == 12
    with pytest.raises(ValueError, match="preset"):
        get_image_preset("huge")
    with pytest.raises(ValueError, match="overrides"):
        get_image_preset("smoke", {"no_such_setting": 1})


def test_settings_json_and_the_derived_values():
    smoke = IMAGE_PRESETS["smoke"]
    d = smoke.as_dict()
    assert d["bitrates"] == [12, 40] and d["seeds"] == [0] and d["quantiles"] == [0.05, 0.95]
    assert d["name"] == "smoke" and d["avq_steps"] == 3
    assert {f.name for f in dataclasses.fields(smoke)} == set(d)
    assert smoke.pixels_per_latent == 64 and smoke.bits_per_pixel(12) == 12 / 64
    assert smoke.budget("AVQ") == (3, smoke.lr) and smoke.budget("RVQ") == (12, smoke.lr)
    assert IMAGE_PRESETS["paper"].budget("AVQ") == (20000, 1e-3)  # from scratch: the same budget
    avq = smoke.training_settings("AVQ")
    assert avq["warm_start"] == smoke.training_settings("RVQ") and avq["beam_width"] == 4
    assert "warm_start" not in IMAGE_PRESETS["paper"].training_settings("AVQ")


@pytest.mark.parametrize(("change", "match"), [
    ({"avq_init": "rvq2"}, "avq_init"), ({"patch_size": 30}, "patch_size"),
    ({"example_size": 60}, "example_size"), ({"bitrates": (12, 14)}, "bitrates"),
])
def test_bad_settings_raise_value_errors(change, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(IMAGE_PRESETS["smoke"], **change)
