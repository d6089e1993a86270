"""What every part of the benchmark shares: the configuration, the sizes of one run, and the data."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vqcore.data.gaussian import gaussian_dataset

#: dimension, codebooks (stages), bits per codebook, beam width of the additive search
DIM, STAGES, BITS, BEAM = 64, 4, 8, 16
CODEBOOK = 2 ** BITS
#: the authors' published AVQ encoder, as reported (vectors/second); their code is not installable here
AUTHORS_AVQ_VEC_PER_S = 840.0
#: the seed of :func:`vqcore.data.gaussian.gaussian_dataset` (train and test come from generators 1 and 2)
DATA_SEED = 0


@dataclass(frozen=True, kw_only=True)
class Sizes:
    """How much one run measures (``--quick``: a smoke run of a few seconds)."""

    vectors: int          #: test vectors per encode pass
    batch: int            #: vectors per encode call, the same for every method
    repeats: int          #: timed passes per method
    train_vectors: int    #: training set (faiss training, ``init_from_data``, training speed)
    faiss_vectors: int    #: faiss (CPU) rows, the quality comparison
    lsq_vectors: int      #: faiss LSQ encoding (slow)
    sweep_vectors: int    #: the beam-width sweep and the LSQ-codebook comparison
    lsq_train_iters: int  #: faiss LSQ training iterations
    train_steps: int      #: training-speed steps per pass
    train_repeats: int    #: training-speed timed passes
    quick: bool

    @classmethod
    def for_run(cls, *, vectors: int | None, batch: int | None, repeats: int | None, quick: bool,
                on_gpu: bool) -> Sizes:
        """The sizes for the command-line options (None: the default for the device)."""
        n = vectors or (4096 if quick else 4_194_304 if on_gpu else 32_768)
        faiss_n = min(n, 4096 if quick else 32_768)
        return cls(vectors=n, batch=batch or (1_048_576 if on_gpu else 4096),
                   repeats=repeats or (2 if quick else 5),
                   train_vectors=4096 if quick else min(16_384, max(4096, n // 2)),
                   faiss_vectors=faiss_n, lsq_vectors=min(faiss_n, 1024 if quick else 8192),
                   sweep_vectors=min(faiss_n, 1024 if quick else 8192), lsq_train_iters=2 if quick else 5,
                   train_steps=5 if quick else 25, train_repeats=2 if quick else 3, quick=quick)


@dataclass(frozen=True)
class BenchData:
    """The training and test sets, on the CPU, on the device, and (faiss's share) as numpy."""

    train: torch.Tensor     #: (train_vectors, DIM) float32, CPU
    test: torch.Tensor      #: (vectors, DIM) float32, CPU
    train_dev: torch.Tensor
    test_dev: torch.Tensor
    train_np: np.ndarray    #: (train_vectors, DIM)
    test_np: np.ndarray     #: (faiss_vectors, DIM): the first rows of ``test``
    description: dict[str, Any]


def load_data(sizes: Sizes, device: torch.device) -> BenchData:
    """The package's correlated Gaussian source (the factor model of
    :func:`vqcore.data.gaussian.correlated_gaussian`, seed :data:`DATA_SEED`)."""
    split = gaussian_dataset("correlated", DIM, sizes.train_vectors, sizes.vectors, seed=DATA_SEED)
    return BenchData(train=split.train, test=split.test, train_dev=split.train.to(device),
                     test_dev=split.test.to(device), train_np=split.train.numpy(),
                     test_np=split.test[:sizes.faiss_vectors].numpy(), description=split.describe())


def data_label(data: BenchData) -> str:
    """One line for the JSON's ``config.data``."""
    d = data.description
    return (f"correlated Gaussian, vqcore.data.gaussian.gaussian_dataset('correlated', {d['dim']}, seed={d['seed']}): "
            f"factor model x = Q z + sqrt({d['noise_var']:g}) e, Q fixed {d['dim']} x {d['rank']} orthonormal, "
            f"z ~ N(0, I_{d['rank']}), e ~ N(0, I_{d['dim']})")
