"""128-d SIFT descriptors from the bundled photographs: base, query and learning sets with exact ground truth.

The paper used SIFT1M (INRIA TEXMEX), which cannot be downloaded here. This module builds a
small stand-in the same way SIFT1M was made, from the real photographs of
:mod:`vqcore.data.images`:

1. **Extraction.** :class:`skimage.feature.SIFT` (Lowe's detector and descriptor; 128 values per
   keypoint, stored as ``uint8`` in ``0..255`` like SIFT1M) on each grey image at one or more
   scales (``skimage.transform.rescale`` with anti-aliasing). Scales give more descriptors per
   image; ``c_dog`` (the DoG contrast threshold) below the default ``0.04 / 3`` gives more, weaker
   keypoints. A scale at which detection fails (too small an image, no keypoint) contributes
   nothing. Each image's descriptors are cached as ``.npz``.
2. **Split by image.** :func:`vqcore.data.images.split_images` puts a seeded ``query_fraction``
   of the images aside: the **query** set is drawn from those images only, so no query comes from
   an image that gave base vectors. The other images' descriptors (exact duplicate rows removed)
   are shuffled with the seed and cut into a **learning** set (training the quantizers) and a
   **base** set (the database that is searched), disjoint.
3. **Ground truth.** The exact L2 nearest base vector of every query by brute force
   (:func:`vqcore.eval.ann.exact_nearest`, torch, in batches, float64, on the GPU when asked). Descriptors are
   integers, so the float64 distances are exact; ties go to the lowest base index.

The sets are cached as one ``.npz`` under :func:`default_cache_dir` (``$VQCORE_CACHE/sift`` or
``~/.cache/vqcore/sift``), keyed by every parameter, and written atomically. The same parameters
and seed always give the same arrays.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..eval.ann import exact_nearest
from ..io.arrays import load_npz, save_npz, settings_key
from .images import list_images, load_image, split_images

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_C_DOG", "SiftSets", "build_sift_sets", "default_cache_dir",
           "extract_descriptors", "image_descriptors"]

#: scikit-image's default DoG contrast threshold
DEFAULT_C_DOG = 0.04 / 3
#: bump when the extraction or split changes, so old caches are not reused
_FORMAT = 1


def default_cache_dir() -> Path:
    """``$VQCORE_CACHE/sift`` if ``VQCORE_CACHE`` is set, else ``~/.cache/vqcore/sift``."""
    root = os.environ.get("VQCORE_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "vqcore") / "sift"


def extract_descriptors(image: np.ndarray, scales: Sequence[float] = (1.0,), c_dog: float = DEFAULT_C_DOG,
                        ) -> np.ndarray:
    """SIFT descriptors of a grey image at each of ``scales``: ``(n, 128)`` ``uint8``.

    A scale where the image is too small or where no keypoint is found adds no rows (logged).
    """
    from skimage.feature import SIFT
    from skimage.transform import rescale

    image = np.asarray(image, dtype=np.float64)
    out = []
    for s in scales:
        img = image if s == 1.0 else rescale(image, float(s), anti_aliasing=s < 1.0, preserve_range=True)
        if min(img.shape) < 32:
            logger.info("SIFT: skip scale %s (image %s too small)", s, img.shape)
            continue
        sift = SIFT(c_dog=c_dog)
        try:
            sift.detect_and_extract(img)
        except (RuntimeError, ValueError, IndexError) as exc:  # no keypoint, too few octaves, ...
            logger.info("SIFT: no descriptors at scale %s: %s", s, exc)
            continue
        desc = sift.descriptors
        if desc is not None and len(desc):
            out.append(np.asarray(desc, dtype=np.uint8).reshape(-1, 128))
    return np.concatenate(out) if out else np.zeros((0, 128), np.uint8)


def image_descriptors(name: str, scales: Sequence[float] = (1.0,), c_dog: float = DEFAULT_C_DOG,
                      cache_dir: str | os.PathLike | None = None) -> np.ndarray:
    """:func:`extract_descriptors` of the photograph ``name``; each scale is cached as ``.npz``."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    out = []
    for s in scales:
        params = {"format": _FORMAT, "name": name, "scale": float(s), "c_dog": float(c_dog)}
        path = cache / "images" / f"{name}-{settings_key(params)}.npz"
        stored = load_npz(path, ("descriptors",))  # a damaged cache is rebuilt
        if stored is not None:
            desc = stored["descriptors"]
        else:
            desc = extract_descriptors(load_image(name), (float(s),), c_dog)
            save_npz(path, descriptors=desc)
            logger.info("SIFT %s at scale %s: %d descriptors", name, s, len(desc))
        out.append(desc)
    return np.concatenate(out) if out else np.zeros((0, 128), np.uint8)


@dataclass
class SiftSets:
    """Base, query and learning sets of raw SIFT descriptors (``float32``, values ``0..255``).

    Attributes:
        base: ``(N, 128)`` searched database.  query: ``(Q, 128)``.  learn: ``(L, 128)`` training set.
        ground_truth: ``(Q,)`` int64 index into ``base`` of each query's exact nearest neighbour.
        gt_distance: ``(Q,)`` its squared distance.
        base_images, query_images: the photographs each side came from (learn shares base's).
        info: the parameters, sizes and cache path.
    """

    base: np.ndarray
    query: np.ndarray
    learn: np.ndarray
    ground_truth: np.ndarray
    gt_distance: np.ndarray
    base_images: list[str]
    query_images: list[str]
    info: dict[str, Any] = field(default_factory=dict)


def _unique_rows(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` without exact duplicates, in order of first occurrence."""
    if len(x) == 0:
        return x
    _, first = np.unique(x, axis=0, return_index=True)
    return x[np.sort(first)]


def _pool(names: Sequence[str], scales: Sequence[float], c_dog: float, cache: Path) -> np.ndarray:
    """The descriptors of the photographs ``names``, exact duplicates removed: ``(n, 128)`` ``uint8``."""
    parts = [image_descriptors(n, scales, c_dog, cache) for n in names]
    return _unique_rows(np.concatenate(parts) if parts else np.zeros((0, 128), np.uint8))


_SET_ARRAYS = ("base", "query", "learn", "ground_truth", "gt_distance")


def _load_sets(path: Path) -> SiftSets | None:
    """The sets cached at ``path``, or None when there are none or the file is damaged."""
    arrays = load_npz(path, _SET_ARRAYS + ("info",))
    if arrays is None:
        return None
    try:
        info = json.loads(str(arrays["info"]))
        return SiftSets(**{k: arrays[k] for k in _SET_ARRAYS}, base_images=info["base_images"],
                        query_images=info["query_images"], info=info)
    except (ValueError, KeyError, TypeError) as exc:
        logger.warning("ignoring unreadable cache %s: %s", path, exc)
        return None


def build_sift_sets(n_base: int | None, n_query: int, n_learn: int, seed: int = 0, *,
                    scales: Sequence[float] = (1.0,), c_dog: float = DEFAULT_C_DOG, query_fraction: float = 0.2,
                    images: Sequence[str] | None = None, cache_dir: str | os.PathLike | None = None,
                    device: Any = None, min_base: int = 1) -> SiftSets:
    """Build (or load from cache) the SIFT base, query and learning sets with ground truth.

    Args:
        n_base: base size; ``None`` takes every descriptor left after the learning set. When the
            images give fewer, the base is smaller (logged; ``info["n_base"]`` has the size).
        n_query: queries, drawn from the held-out images (fewer if those give fewer).
        n_learn: learning-set size, taken first from the shuffled base-image descriptors.
        seed: seeds the image split and the shuffles.
        scales, c_dog: extraction parameters (see :func:`extract_descriptors`).
        query_fraction: share of the image groups held out for the queries.
        images: photograph names (default: all of :func:`vqcore.data.images.list_images`).
        cache_dir: cache folder (default :func:`default_cache_dir`).
        device: where the brute-force ground truth runs (``"cuda"`` when present).
        min_base: raise ``ValueError`` when fewer base vectors remain.
    """
    names = list(list_images() if images is None else images)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    params = {"format": _FORMAT, "n_base": n_base, "n_query": int(n_query), "n_learn": int(n_learn),
              "seed": int(seed), "scales": [float(s) for s in scales], "c_dog": float(c_dog),
              "query_fraction": float(query_fraction), "images": names}
    path = cache / f"sets-{settings_key(params)}.npz"
    stored = _load_sets(path)
    if stored is not None:
        return stored

    base_names, query_names = split_images(names, query_fraction, seed)
    rng = np.random.default_rng(seed)

    train_pool = _pool(base_names, scales, c_dog, cache)
    train_pool = train_pool[rng.permutation(len(train_pool))]
    if n_learn >= len(train_pool):
        raise ValueError(f"the base images give {len(train_pool)} descriptors, not more than n_learn={n_learn}")
    learn = train_pool[:n_learn]
    rest = train_pool[n_learn:]
    base = rest if n_base is None else rest[:n_base]
    if n_base is not None and len(base) < n_base:
        logger.warning("SIFT: the images give only %d base vectors (asked for %d)", len(base), n_base)
    if len(base) < min_base:
        raise ValueError(f"only {len(base)} base vectors, fewer than min_base={min_base}")
    query_pool = _pool(query_names, scales, c_dog, cache)
    query = query_pool[rng.permutation(len(query_pool))[:n_query]]
    if len(query) < n_query:
        logger.warning("SIFT: the query images give only %d queries (asked for %d)", len(query), n_query)
    if len(query) == 0:
        raise ValueError("the held-out images gave no query descriptors")

    base = base.astype(np.float32)
    query = query.astype(np.float32)
    learn = learn.astype(np.float32)
    gt, gt_dist = exact_nearest(query, base, device=device)
    info = dict(params, n_base=len(base), n_query=len(query), n_learn=len(learn),
                n_base_pool=len(rest), n_query_pool=len(query_pool),
                base_images=base_names, query_images=query_names, cache=str(path))
    save_npz(path, base=base, query=query, learn=learn, ground_truth=gt, gt_distance=gt_dist,
             info=np.array(json.dumps(info)))
    return SiftSets(base=base, query=query, learn=learn, ground_truth=gt, gt_distance=gt_dist,
                    base_images=base_names, query_images=query_names, info=info)
