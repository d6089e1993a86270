"""The real photographs that install with scikit-image and scikit-learn, as grey float images.

No image is downloaded: every image listed here ships inside the ``scikit-image`` or
``scikit-learn`` wheel. Only real photographs (camera, telescope, microscope, fundus camera,
scanner) are used; synthetic test patterns and drawings are left out.

Used (``name``: source, what it is):

- scikit-image ``skimage.data``: ``astronaut`` (portrait of Eileen Collins), ``brick`` (brick
  wall), ``camera`` (cameraman), ``chelsea`` (a cat), ``clock`` (clock with motion blur),
  ``coffee`` (a cup of coffee), ``coins`` (Greek coins), ``grass``, ``gravel`` (textures),
  ``hubble_deep_field`` (telescope photograph), ``immunohistochemistry`` (stained tissue,
  microscope), ``moon`` (lunar surface), ``page`` (photographed book page), ``rocket`` (launch of
  a rocket), ``text`` (photographed handwritten and printed text), ``retina`` (fundus
  photograph), ``cell`` (microscope), ``microaneurysms`` (fundus crop), ``motorcycle_left`` and
  ``motorcycle_right`` (the two views of ``stereo_motorcycle``; they share one group, so they
  always fall on the same side of a split).
- scikit-learn ``load_sample_images``: ``china`` (a temple), ``flower``.

Left out: synthetic or drawn images (``binary_blobs``, ``checkerboard``, ``colorwheel``,
``logo``, ``horse`` (a binary silhouette), ``shepp_logan_phantom``), ``cat`` (the same image as
``chelsea``), ``lfw_subset`` (25 x 25 face crops, too small for SIFT), and every image that needs
the optional ``pooch`` download (``eagle``, ``lily``, ``skin``, ``brain``, ``cells3d``, ``kidney``,
``palisades_of_vogt``, ...).

Images are converted to grey (ITU-R BT.709 luma via :func:`skimage.color.rgb2gray` for colour
images) ``float64`` in ``[0, 1]``, and cached in memory (read-only arrays).
"""
from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

__all__ = ["IMAGE_NAMES", "SKIMAGE_PHOTOS", "SKLEARN_PHOTOS", "image_group", "image_tiles", "list_images",
           "load_image", "random_patches", "split_images"]

#: photographs from ``skimage.data`` (function name, or ``motorcycle_left``/``motorcycle_right``)
SKIMAGE_PHOTOS: tuple[str, ...] = (
    "astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee", "coins", "grass", "gravel",
    "hubble_deep_field", "immunohistochemistry", "microaneurysms", "moon", "motorcycle_left",
    "motorcycle_right", "page", "retina", "rocket", "text",
)
#: photographs from ``sklearn.datasets.load_sample_images`` (file stem)
SKLEARN_PHOTOS: tuple[str, ...] = ("china", "flower")
#: every image, in a fixed order
IMAGE_NAMES: tuple[str, ...] = SKIMAGE_PHOTOS + SKLEARN_PHOTOS


def list_images() -> list[str]:
    """Names of all the photographs, in a fixed order (see the module docstring)."""
    return list(IMAGE_NAMES)


def image_group(name: str) -> str:
    """The group an image is split with (the two stereo views share ``"motorcycle"``)."""
    return "motorcycle" if name.startswith("motorcycle_") else name


def _to_grey_float(img: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2gray, rgba2rgb
    from skimage.util import img_as_float

    img = np.asarray(img)
    if img.ndim == 3 and img.shape[-1] == 4:
        img = rgba2rgb(img)
    if img.ndim == 3:
        img = rgb2gray(img)
    out = img_as_float(img).astype(np.float64, copy=True)
    if out.ndim != 2:
        raise ValueError(f"expected a 2-d grey image, got shape {out.shape}")
    return out


def _load_raw(name: str) -> np.ndarray:
    if name in SKLEARN_PHOTOS:
        from sklearn.datasets import load_sample_image
        return load_sample_image(f"{name}.jpg")
    if name not in SKIMAGE_PHOTOS:
        raise KeyError(f"unknown image {name!r}; choose from {IMAGE_NAMES}")
    from skimage import data
    if name.startswith("motorcycle_"):
        left, right, _ = data.stereo_motorcycle()
        return left if name.endswith("left") else right
    return getattr(data, name)()


@functools.cache
def load_image(name: str) -> np.ndarray:
    """Image ``name`` as a grey ``(H, W)`` ``float64`` array in ``[0, 1]`` (cached, read-only)."""
    img = _to_grey_float(_load_raw(name))
    img.setflags(write=False)
    return img


def split_images(names: Sequence[str] | None = None, test_fraction: float = 0.2, seed: int = 0,
                 ) -> tuple[list[str], list[str]]:
    """A seeded split by image (by :func:`image_group`) into ``(train, test)`` name lists.

    At least one group goes to each side (given two or more groups); both lists keep the order
    of ``names``. The same ``names``, ``test_fraction`` and ``seed`` always give the same split.
    """
    names = list(IMAGE_NAMES if names is None else names)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    groups = sorted({image_group(n) for n in names})
    if len(groups) < 2:
        raise ValueError("need images from at least two groups to split")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(groups))
    n_test = min(max(1, round(test_fraction * len(groups))), len(groups) - 1)
    test_groups = {groups[i] for i in order[:n_test]}
    train = [n for n in names if image_group(n) not in test_groups]
    test = [n for n in names if image_group(n) in test_groups]
    return train, test


def random_patches(names: Sequence[str], size: int, count: int, seed: int = 0) -> np.ndarray:
    """``count`` random ``size x size`` crops of the images ``names``: ``(count, size, size)`` ``float32``.

    Every position of every image is equally likely (an image is picked with probability
    proportional to its number of valid crop positions, then a position uniformly); an image
    smaller than ``size`` on a side is never picked. The same arguments always give the same crops.
    """
    names = list(names)
    if not names:
        raise ValueError("names must list at least one image")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be an integer >= 1, got {size!r}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an integer >= 1, got {count!r}")
    images = [load_image(n) for n in names]
    positions = np.array([max(0, h - size + 1) * max(0, w - size + 1) for h, w in (im.shape for im in images)],
                         dtype=np.float64)
    if positions.sum() == 0:
        raise ValueError(f"size ({size}) is larger than every image in names")
    rng = np.random.default_rng(seed)
    which = rng.choice(len(images), size=count, p=positions / positions.sum())
    out = np.empty((count, size, size), dtype=np.float32)
    for i, k in enumerate(which):
        h, w = images[k].shape
        r, c = rng.integers(h - size + 1), rng.integers(w - size + 1)
        out[i] = images[k][r:r + size, c:c + size]
    return out


def image_tiles(name: str, size: int) -> np.ndarray:
    """All non-overlapping ``size x size`` tiles of image ``name`` in raster order, from its top-left
    corner (the right and bottom remainders are left out): ``(rows * cols, size, size)`` ``float32``."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be an integer >= 1, got {size!r}")
    img = load_image(name)
    rows, cols = img.shape[0] // size, img.shape[1] // size
    tiles = img[:rows * size, :cols * size].reshape(rows, size, cols, size).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(tiles.reshape(rows * cols, size, size), dtype=np.float32)
