"""The training-recipe preset fields shared by the experiments (vqcore.experiments.fit_presets)."""
from __future__ import annotations

import dataclasses
import json

import pytest

from vqcore.experiments.fit_presets import FitPreset

BASE = FitPreset(name="smoke", seeds=(0,), steps=10, batch_size=32, lr=1e-2, replace_every=5, replace_until=0.9,
                 finetune_fraction=0.2, finetune_lr_factor=0.1, beam_width=4)


def test_avq_has_its_own_budget():
    assert BASE.budget("RVQ") == BASE.budget("AVQ") == (10, 32, 1e-2)
    own = dataclasses.replace(BASE, avq_steps=3, avq_lr=1e-3)
    assert own.budget("avq") == (3, 32, 1e-3) and own.budget("PVQ") == (10, 32, 1e-2)


def test_training_settings_name_what_makes_a_run():
    rvq, avq = BASE.training_settings("RVQ"), BASE.training_settings("AVQ")
    assert rvq == {"steps": 10, "batch_size": 32, "lr": 1e-2, "replace_every": 5, "replace_until": 0.9,
                   "finetune_fraction": 0.2, "finetune_lr_factor": 0.1}
    assert avq["beam_width"] == 4 and avq["avq_init"] == "rvq" and avq["warm_start"] == rvq
    scratch = dataclasses.replace(BASE, avq_init="scratch").training_settings("AVQ")
    assert "warm_start" not in scratch
    json.dumps(avq)
    assert BASE.as_dict()["seeds"] == [0]


def test_avq_init_is_checked():
    with pytest.raises(ValueError, match="avq_init"):
        dataclasses.replace(BASE, avq_init="random")
