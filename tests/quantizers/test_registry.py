"""vqcore.quantizers.registry: every quantizer by name, and the one factory."""
from __future__ import annotations

import re

import pytest
import torch

import vqcore
from vqcore.quantizers.registry import METHODS, QUANTIZERS, build_quantizer, quantizer_class

CLASS_OF_METHOD = {"VQ": vqcore.VQ, "RVQ": vqcore.ResidualVQ, "AVQ": vqcore.AdditiveVQ,
                   "PVQ": vqcore.ProductVQ, "SFVQ": vqcore.SpaceFillingVQ}


def test_tables_hold_the_five_classes_under_their_names():
    assert METHODS == CLASS_OF_METHOD
    assert QUANTIZERS == {cls.__name__: cls for cls in CLASS_OF_METHOD.values()}


@pytest.mark.parametrize("method,cls", CLASS_OF_METHOD.items())
def test_quantizer_class_accepts_method_names_in_any_case_and_class_names(method, cls):
    assert quantizer_class(method) is cls
    assert quantizer_class(method.lower()) is cls
    assert quantizer_class(cls.__name__) is cls


@pytest.mark.parametrize("name", ["LVQ", "", "additivevq ", None, 3])
def test_quantizer_class_rejects_unknown_names_naming_the_argument(name):
    with pytest.raises(ValueError, match=r"^name must be .* got " + re.escape(repr(name))):
        quantizer_class(name)


@pytest.mark.parametrize("method,stages,bits_per_stage", [("RVQ", 4, 3), ("AVQ", 2, 6), ("PVQ", 3, 4)])
def test_build_quantizer_splits_bits_evenly_over_stages(method, stages, bits_per_stage):
    q = build_quantizer(method, 12, stages * bits_per_stage, stages=stages)
    assert type(q) is CLASS_OF_METHOD[method]
    assert (q.dim, q.num_stages, q.bits_per_stage, q.bits) == (12, stages, bits_per_stage, stages * bits_per_stage)


@pytest.mark.parametrize("method", ["VQ", "SFVQ"])
def test_build_quantizer_gives_single_codebook_methods_all_bits(method):
    q = build_quantizer(method, 4, 6)
    assert type(q) is CLASS_OF_METHOD[method] and q.num_stages == 1 and q.bits == 6


@pytest.mark.parametrize("method", ["RVQ", "AVQ", "PVQ"])
def test_build_quantizer_rejects_bits_not_divisible_by_stages(method):
    with pytest.raises(ValueError, match=r"^bits \(10\) must be divisible by stages \(3\)"):
        build_quantizer(method, 12, 10, stages=3)


@pytest.mark.parametrize("method", ["VQ", "SFVQ"])
def test_build_quantizer_rejects_stages_for_single_codebook_methods(method):
    with pytest.raises(ValueError, match=r"^stages must be 1 for"):
        build_quantizer(method, 4, 6, stages=2)


@pytest.mark.parametrize("bits,stages,name", [(0, 1, "bits"), (8, 0, "stages"), (True, 1, "bits")])
def test_build_quantizer_checks_bits_and_stages(bits, stages, name):
    with pytest.raises(ValueError, match=rf"^{name} must be an integer"):
        build_quantizer("RVQ", 4, bits, stages=stages)


def test_build_quantizer_passes_beam_options_to_avq_only():
    avq = build_quantizer("AVQ", 8, 6, stages=2, beam_width=3, ordered_track=True)
    assert (avq.beam_width, avq.ordered_track) == (3, True)
    assert build_quantizer("avq", 8, 6, stages=2).config()["beam_width"] == 16  # the default
    assert build_quantizer("avq", 8, 6, stages=2).ordered_track is True  # as AdditiveVQ's default
    assert build_quantizer("avq", 8, 6, stages=2, ordered_track=False).ordered_track is False
    for method, stages in (("VQ", 1), ("RVQ", 2), ("PVQ", 2), ("SFVQ", 1)):
        q = build_quantizer(method, 8, 6, stages=stages, beam_width=3, ordered_track=True)
        assert "beam_width" not in q.config() and "ordered_track" not in q.config()


def test_build_quantizer_passes_further_options_to_the_constructor():
    q = build_quantizer("RVQ", 8, 6, stages=2, estimator="ema", ema_decay=0.5)
    assert (q.estimator, q.ema_decay) == ("ema", 0.5)
    with pytest.raises(TypeError):
        build_quantizer("PVQ", 8, 6, stages=2, ema_decay=0.5)  # PVQ has no EMA update


@pytest.mark.parametrize("name", sorted(QUANTIZERS))
def test_every_registered_class_survives_save_and_load(name, tmp_path):
    cls = QUANTIZERS[name]
    method = next(m for m, c in METHODS.items() if c is cls)
    stages = 1 if cls in (vqcore.VQ, vqcore.SpaceFillingVQ) else 2
    q = build_quantizer(method, 8, 4, stages=stages)
    back = vqcore.load(vqcore.save(q, tmp_path / f"{name}.safetensors"))
    assert type(back) is cls and QUANTIZERS[type(back).__name__] is cls
    assert back.config() == q.config()
    x = torch.randn(20, 8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(back.encode(x), q.encode(x))


def test_save_refuses_a_class_outside_the_registry(tmp_path):
    class Mine(vqcore.VQ):
        pass

    with pytest.raises(ValueError, match="quantizer must be one of"):
        vqcore.save(Mine(4, 2), tmp_path / "mine.safetensors")
