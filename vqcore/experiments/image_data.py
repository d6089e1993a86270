"""The data of the image experiment for one seed: the split by image, the training crops, the test
tiles and the decoded-example crop (:class:`ImageData`, :func:`image_data`)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..data.images import image_tiles, load_image, random_patches, split_images
from .image_presets import ImagePreset, get_image_preset

__all__ = ["ImageData", "image_data", "sampled_tiles"]


@dataclass
class ImageData:
    """The data of one seed.

    Attributes:
        train_names, test_names: the split by image.
        patches: ``(N, 1, P, P)`` float32 training crops in ``[0, 1]``.
        tiles: ``(T, 1, S, S)`` float32 test tiles.
        tile_images: ``(T,)`` the test image each tile comes from.
        example: ``(1, 1, E, E)`` the decoded-example crop; ``example_image`` names its image.
    """

    train_names: list[str]
    test_names: list[str]
    patches: torch.Tensor
    tiles: torch.Tensor
    tile_images: list[str]
    example: torch.Tensor
    example_image: str

    def describe(self) -> dict[str, Any]:
        """Images and pixel counts of both sides of the split, and the sizes used (JSON-ready)."""
        def pixels(names: Sequence[str]) -> dict[str, int]:
            return {n: int(load_image(n).size) for n in names}
        train, test = pixels(self.train_names), pixels(self.test_names)
        tiles = {n: self.tile_images.count(n) for n in self.test_names}
        return {
            "source": "real photographs shipped with scikit-image (skimage.data) and scikit-learn "
                      "(load_sample_images), grey, values in [0, 1] (vqcore.data.images)",
            "train_images": train, "test_images": test,
            "train_pixels": sum(train.values()), "test_pixels": sum(test.values()),
            "train_crops": int(self.patches.shape[0]), "crop_size": int(self.patches.shape[-1]),
            "test_tiles": tiles, "tile_size": int(self.tiles.shape[-1]),
            "test_tile_pixels": int(self.tiles[:, 0].numel()),
            "example_image": self.example_image, "example_size": int(self.example.shape[-1]),
        }


def image_data(preset: str | ImagePreset, seed: int) -> ImageData:
    """The split and test tiles (from ``preset.split_seed``) and the training crops of ``seed``
    at ``preset`` (deterministic)."""
    p = get_image_preset(preset)
    train_names, test_names = split_images(test_fraction=p.test_fraction, seed=p.split_seed)
    patches = random_patches(train_names, p.patch_size, p.num_patches, seed=seed)
    tiles, owners = _test_tiles(p, test_names)
    ex_name = p.example_image if p.example_image in test_names else test_names[0]
    return ImageData(train_names=train_names, test_names=test_names,
                     patches=torch.from_numpy(patches).unsqueeze(1),
                     tiles=torch.from_numpy(tiles).unsqueeze(1),
                     tile_images=owners, example=_centre_crop(ex_name, p.example_size)[None, None],
                     example_image=ex_name)


def sampled_tiles(preset: ImagePreset, names: Sequence[str], stream: int) -> tuple[np.ndarray, list[str]]:
    """Up to ``preset.tiles_per_image`` tiles of each image of ``names``, drawn with the generator
    ``(split_seed, stream)``: ``(T, S, S)`` and the image of each tile."""
    rng = np.random.default_rng([preset.split_seed, stream])
    tiles, owners = [], []
    for name in names:
        t = image_tiles(name, preset.tile_size)
        if preset.tiles_per_image and t.shape[0] > preset.tiles_per_image:
            t = t[np.sort(rng.choice(t.shape[0], preset.tiles_per_image, replace=False))]
        tiles.append(t)
        owners += [name] * t.shape[0]
    return np.concatenate(tiles), owners


def _test_tiles(preset: ImagePreset, test_names: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Up to ``preset.tiles_per_image`` tiles of each test image (drawn with ``split_seed``):
    ``(T, S, S)`` and the image of each tile."""
    return sampled_tiles(preset, test_names, 4)


def _centre_crop(name: str, size: int) -> torch.Tensor:
    """The ``(E, E)`` centre crop of image ``name``, ``E = size`` or less for a small image (a multiple of 8)."""
    img = load_image(name)
    e = min(size, *(s // 8 * 8 for s in img.shape))
    r, c = (img.shape[0] - e) // 2, (img.shape[1] - e) // 2
    return torch.from_numpy(np.asarray(img[r:r + e, c:c + e], dtype=np.float32))
