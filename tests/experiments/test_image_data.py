"""The data of the image experiment (vqcore.experiments.image_data, on vqcore.data.images)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vqcore.data.images import image_tiles, load_image, random_patches, split_images
from vqcore.experiments.image_data import image_data
from vqcore.experiments.image_presets import get_image_preset

SMOKE = get_image_preset("smoke")


def test_patches_and_tiles_are_deterministic_crops_of_the_images():
    train, _ = split_images(seed=0)
    a = random_patches(train, 16, 40, seed=5)
    b = random_patches(train, 16, 40, seed=5)
    c = random_patches(train, 16, 40, seed=6)
    assert a.shape == (40, 16, 16) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 0.0 <= a.min() and a.max() <= 1.0
    tiles = image_tiles("camera", 64)  # 512 x 512
    assert tiles.shape == (64, 64, 64)
    img = load_image("camera")
    assert np.allclose(tiles[1], img[:64, 64:128]) and np.allclose(tiles[8], img[64:128, :64])
    with pytest.raises(ValueError, match="size"):
        random_patches(train, 0, 4)
    with pytest.raises(ValueError, match="count"):
        random_patches(train, 8, 0)
    with pytest.raises(ValueError, match="size"):
        image_tiles("camera", -1)


def test_image_data_is_deterministic_per_seed_and_split_by_image():
    a = image_data(SMOKE, 0)
    b = image_data(SMOKE, 0)
    c = image_data(SMOKE, 1)
    assert torch.equal(a.patches, b.patches) and torch.equal(a.tiles, b.tiles)
    assert a.train_names == b.train_names and a.test_names == b.test_names
    assert not torch.equal(a.patches, c.patches)
    assert set(a.train_names).isdisjoint(a.test_names)
    assert a.patches.shape == (SMOKE.num_patches, 1, SMOKE.patch_size, SMOKE.patch_size)
    assert a.tiles.shape[1:] == (1, SMOKE.tile_size, SMOKE.tile_size)
    assert set(a.tile_images) == set(a.test_names)
    info = a.describe()
    assert set(info["test_images"]) == set(a.test_names)
    assert info["test_pixels"] == sum(load_image(n).size for n in a.test_names)
    assert info["train_pixels"] == sum(load_image(n).size for n in a.train_names)


def test_tiles_per_image_and_the_example_crop():
    a = image_data(SMOKE, 0)
    counts = [a.tile_images.count(n) for n in a.test_names]
    assert all(1 <= c <= SMOKE.tiles_per_image for c in counts) and sum(counts) == a.tiles.shape[0]
    img = load_image(a.example_image)
    e = SMOKE.example_size
    assert a.example.shape == (1, 1, e, e) and a.example_image in a.test_names
    r, c = (img.shape[0] - e) // 2, (img.shape[1] - e) // 2
    assert np.allclose(a.example[0, 0].numpy(), img[r:r + e, c:c + e])
