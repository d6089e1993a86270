"""The peer libraries (each optional: a missing one is reported and its rows are skipped) and their encoders.

vector-quantize-pytorch's, nsvq's and diveq's quantizers run on the benchmark's device; faiss-cpu's on the CPU.
"""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .config import BEAM, BITS, CODEBOOK, DIM, STAGES, BenchData, Sizes
from .timing import Job, batched

logger = logging.getLogger(__name__)


def optional_import(name: str) -> Any:
    """The module ``name``, or None (with a warning) when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        logger.warning("peer %s is not installed (%s); its rows are skipped", name, exc)
        return None


def package_version(dist: str, module: Any) -> str | None:
    """The installed version of distribution ``dist`` (else the module's ``__version__``); None without the module."""
    if module is None:
        return None
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return getattr(module, "__version__", None)


@dataclass(frozen=True)
class Peers:
    """The peer modules, each None where it is not installed."""

    faiss: Any
    vqp: Any   #: vector_quantize_pytorch
    nsvq: Any
    diveq: Any = None  #: the DiVeQ authors' package (DIVEQ, SFDIVEQ, ResidualDIVEQ, ProductDIVEQ, ...)

    @classmethod
    def load(cls) -> Peers:
        return cls(optional_import("faiss"), optional_import("vector_quantize_pytorch"), optional_import("nsvq"),
                   optional_import("diveq"))

    def versions(self) -> dict[str, str | None]:
        return {"faiss": package_version("faiss-cpu", self.faiss),
                "vector_quantize_pytorch": package_version("vector-quantize-pytorch", self.vqp),
                "nsvq": package_version("nsvq", self.nsvq), "diveq": package_version("diveq", self.diveq)}


@dataclass(frozen=True)
class FaissModels:
    """faiss's trained residual, local-search and product quantizers (64 dims, 4 x 8 bits)."""

    rq: Any
    lsq: Any
    pq: Any

    def codebooks(self, which: str) -> np.ndarray:
        """``"rq"`` or ``"lsq"``: its codebooks, ``(STAGES, CODEBOOK, DIM)`` float32."""
        faiss = importlib.import_module("faiss")
        model = {"rq": self.rq, "lsq": self.lsq}[which]
        return faiss.vector_to_array(model.codebooks).reshape(STAGES, CODEBOOK, DIM)


def train_faiss(faiss: Any, data: BenchData, sizes: Sizes) -> tuple[FaissModels, list[str]]:
    """Train faiss's RQ (plain k-means per stage, greedy while training), LSQ and PQ; with the notes
    for the JSON that say how."""
    with tqdm(total=3, desc="train faiss", leave=False) as bar:
        rq = faiss.ResidualQuantizer(DIM, STAGES, BITS)
        rq.train_type = faiss.ResidualQuantizer.Train_default
        rq.max_beam_size = 1  # the beam is set per encoding job
        rq.train(data.train_np)
        bar.update()
        lsq = faiss.LocalSearchQuantizer(DIM, STAGES, BITS)
        lsq.train_iters = sizes.lsq_train_iters
        lsq.train(data.train_np[:8192])
        bar.update()
        pq = faiss.ProductQuantizer(DIM, STAGES, BITS)
        pq.train(data.train_np)
        bar.update()
    notes = [f"faiss ResidualQuantizer trained with train_type=Train_default and max_beam_size=1 (greedy, to keep "
             f"the run short) on {sizes.train_vectors} vectors; encoded with max_beam_size={BEAM} (and 1 for the "
             "greedy row)",
             f"faiss LocalSearchQuantizer trained with train_iters={lsq.train_iters} on "
             f"{min(8192, sizes.train_vectors)} vectors; its encoding (ILS, encode_ils_iters={lsq.encode_ils_iters}) "
             f"is timed on {sizes.lsq_vectors} vectors"]
    return FaissModels(rq, lsq, pq), notes


def rq_codes(rq: Any, beam: int, x: np.ndarray) -> np.ndarray:
    """faiss RQ's codes of ``x`` (``(N, DIM)``) with beam ``beam``: ``(N, STAGES)`` uint8."""
    rq.max_beam_size = beam
    return rq.compute_codes(x)


def _vqp_indices(model: Any, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)[1]  # (quantized, indices, losses)


def vqp_residual_vq(vqp: Any) -> Any:
    """vector-quantize-pytorch's ``ResidualVQ`` in the benchmark's configuration (64 dims, 4 x 256 entries)."""
    return vqp.ResidualVQ(dim=DIM, num_quantizers=STAGES, codebook_size=CODEBOOK)


def _vqp_jobs(vqp: Any, data: BenchData, batch: int, device: torch.device) -> list[Job]:
    model = vqp_residual_vq(vqp).to(device).eval()
    return [Job("vector_quantize_pytorch.ResidualVQ", "vector_quantize_pytorch",
                "ResidualVQ(dim=64, num_quantizers=4, codebook_size=256) eval forward (returns indices)",
                batched(partial(_vqp_indices, model), data.test_dev, batch), data.test_dev.shape[0], device.type)]


def _nsvq_jobs(nsvq: Any, data: BenchData, batch: int, device: torch.device) -> list[Job]:
    kw = {"num_embeddings": CODEBOOK, "embedding_dim": DIM, "num_codebooks": STAGES,
          "allow_warning": False, "verbose": False}
    jobs = []
    for name in ("ResidualNSVQ", "ProductNSVQ"):
        model = getattr(nsvq, name)(**kw).to(device).eval()
        jobs.append(Job(f"nsvq.{name}", "nsvq", f"{name}(256, 64, 4).inference",
                        batched(model.inference, data.test_dev, batch), data.test_dev.shape[0], device.type))
    return jobs


#: the diveq package's modules in the benchmark's configuration: job key suffix -> (class, arguments, description)
DIVEQ_MODULES = {
    "ResidualDIVEQ": ((CODEBOOK, DIM, STAGES), "ResidualDIVEQ(256, 64, 4).inference"),
    "ProductDIVEQ": ((CODEBOOK, DIM, STAGES), "ProductDIVEQ(256, 64, 4).inference"),
    "SFDIVEQ": ((CODEBOOK, DIM), "SFDIVEQ(256, 64).inference (projection onto the curve of 256 codewords)"),
}


def diveq_module(diveq: Any, name: str) -> torch.nn.Module:
    """One of :data:`DIVEQ_MODULES`, quiet, without the codebook replacement its forward would run every
    100 steps (vqcore's runs outside ``forward``), and SFDIVEQ quantizing from the first step
    (``skip_iters=0``: no warm-up phase that passes the input through)."""
    args, _ = DIVEQ_MODULES[name]
    kw: dict[str, Any] = {"allow_warning": False}
    if name == "SFDIVEQ":
        kw.update(skip_iters=0, avg_iters=0)
    else:
        kw.update(verbose=False, codebook_reset=False)
    return getattr(diveq, name)(*args, **kw)


def _diveq_jobs(diveq: Any, data: BenchData, batch: int, device: torch.device) -> list[Job]:
    jobs = []
    for name, (_, description) in DIVEQ_MODULES.items():
        model = diveq_module(diveq, name).to(device).eval()
        jobs.append(Job(f"diveq.{name}", "diveq", description, batched(model.inference, data.test_dev, batch),
                        data.test_dev.shape[0], device.type))
    return jobs


def _faiss_jobs(models: FaissModels, data: BenchData, sizes: Sizes) -> list[Job]:
    x = data.test_np
    rows = [("ResidualQuantizer.beam16", f"ResidualQuantizer(64, 4, 8), max_beam_size={BEAM}, compute_codes",
             partial(rq_codes, models.rq, BEAM), x),
            ("ResidualQuantizer.beam1", "ResidualQuantizer(64, 4, 8), max_beam_size=1 (greedy), compute_codes",
             partial(rq_codes, models.rq, 1), x),
            ("LocalSearchQuantizer", "LocalSearchQuantizer(64, 4, 8), compute_codes", models.lsq.compute_codes,
             x[:sizes.lsq_vectors]),
            ("ProductQuantizer", "ProductQuantizer(64, 4, 8), compute_codes", models.pq.compute_codes, x)]
    return [Job(f"faiss.{name}", "faiss", description, batched(encode, inputs, sizes.batch), inputs.shape[0], "cpu")
            for name, description, encode, inputs in rows]


def peer_encode_jobs(peers: Peers, models: FaissModels | None, data: BenchData, sizes: Sizes,
                     device: torch.device) -> list[Job]:
    """The peers' encoding jobs, in the JSON's row order: vector-quantize-pytorch, nsvq, diveq, faiss."""
    jobs = []
    if peers.vqp is not None:
        jobs += _vqp_jobs(peers.vqp, data, sizes.batch, device)
    if peers.nsvq is not None:
        jobs += _nsvq_jobs(peers.nsvq, data, sizes.batch, device)
    if peers.diveq is not None:
        jobs += _diveq_jobs(peers.diveq, data, sizes.batch, device)
    if models is not None:
        jobs += _faiss_jobs(models, data, sizes)
    return jobs
