"""The Interspeech 2-D picture: its data and a tiny run that stores loadable quantizers."""
from __future__ import annotations

import dataclasses

import pytest
import torch

import vqcore
from vqcore.experiments import registry
from vqcore.experiments.interspeech_presets import PRESETS
from vqcore.experiments.sfvq_2d import (
    gaussian_2d,
    pentagon_corners,
    quantizer_2d_path,
    uniform_pentagon,
    write_sfvq_2d,
)
from vqcore.io import results

pytestmark = pytest.mark.usefixtures("one_thread")


def test_2d_data_are_seeded_and_the_pentagon_points_lie_inside():
    x = uniform_pentagon(4000, seed=3)
    assert x.shape == (4000, 2) and torch.equal(x, uniform_pentagon(4000, seed=3))
    assert not torch.equal(x, uniform_pentagon(4000, seed=4))
    corners = pentagon_corners()
    assert corners.shape == (5, 2) and torch.allclose(corners.norm(dim=1), torch.ones(5))
    # inside: on the inner side of every edge (the apothem of a unit pentagon is cos(pi/5))
    mid = (corners + corners.roll(-1, 0)) / 2
    normals = mid / mid.norm(dim=1, keepdim=True)
    assert bool(((x @ normals.T) <= mid.norm(dim=1) + 1e-6).all())
    g = gaussian_2d(20000, seed=0)
    assert g.shape == (20000, 2) and abs(float(g.std()) - 1) < 0.03


def test_write_sfvq_2d_stores_the_quantizers_it_measured(tmp_path):
    p = dataclasses.replace(PRESETS["smoke"], bits_2d=(2, 3), steps_2d=20, num_2d=300)
    path = write_sfvq_2d(p, tmp_path, seed=0, device=torch.device("cpu"), progress=False)
    assert path == registry.result_path(tmp_path, "sfvq2d")
    r = results.load(path)
    assert r.x == ["2 bits", "3 bits"] and r.meta["figure"] == "sfvq2d"
    assert set(r.series) == {f"{m} ({d})" for m in ("VQ", "SFVQ vertex", "SFVQ curve") for d in ("Gaussian",
                                                                                                 "Pentagon")}
    x = uniform_pentagon(p.num_2d, 0)
    for i, bits in enumerate(p.bits_2d):
        stored = quantizer_2d_path(tmp_path, "Pentagon", "VQ", bits)
        assert stored.parent == tmp_path / registry.figure("sfvq2d").artefacts[0]
        vq = vqcore.load(stored)
        sf = vqcore.load(quantizer_2d_path(tmp_path, "Pentagon", "SFVQ", bits))
        assert isinstance(vq, vqcore.VQ) and isinstance(sf, vqcore.SpaceFillingVQ)
        assert sf.num_active == 2 ** bits  # fully grown when stored
        with torch.no_grad():
            mse = float(((vq.quantize(x) - x) ** 2).sum(-1).mean())
            curve = float(((sf.project(x)[0] - x) ** 2).sum(-1).mean())
        assert mse == pytest.approx(r.series["VQ (Pentagon)"].values[i], rel=1e-5)
        assert curve <= r.series["SFVQ vertex (Pentagon)"].values[i] + 1e-6  # the curve is no farther than a vertex
