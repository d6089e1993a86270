"""Quality at equal codebooks: our AVQ beam search against faiss RQ's, both on faiss RQ's trained codebooks.

Mean squared error per component; for context also at other beam widths, and on faiss LSQ's
codebooks (trained for order-free additive encoding).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from vqcore.quantizers.beam_search import additive_beam_search

from .config import BEAM, BITS, DIM, STAGES, BenchData, Sizes
from .ours import OurQuantizers
from .peers import FaissModels, rq_codes

#: the beam widths of the sweep
SWEEP_WIDTHS = (1, 4, BEAM, 64)


def _mse(reconstruction: torch.Tensor | np.ndarray, x: torch.Tensor) -> float:
    if isinstance(reconstruction, np.ndarray):
        reconstruction = torch.from_numpy(reconstruction)
    return F.mse_loss(reconstruction.cpu(), x).item()


def same_codebooks(ours: OurQuantizers, models: FaissModels, data: BenchData, device: torch.device) -> dict[str, Any]:
    """MSE of our free-order and ``ordered_track`` AVQ and of faiss RQ (beam 16) on the faiss-sized test set."""
    x, x_np, avq = data.test[:data.test_np.shape[0]], data.test_np, ours.avq
    with torch.no_grad():
        mse_ours = _mse(avq.decode(avq.encode(x.to(device))), x)
        mse_ordered = _mse(avq.decode(ours.avq_ordered.encode(x.to(device))), x)
        faiss_codes = rq_codes(models.rq, BEAM, x_np)
        mse_faiss = _mse(models.rq.decode(faiss_codes), x)
        mse_crossed = _mse(avq.decode(torch.from_numpy(faiss_codes.astype(np.int64)).to(device)), x)
    return {
        "what": f"mean squared error per component on {x.shape[0]} test vectors; vqcore AdditiveVQ "
                f"(beam {BEAM}, free codebook order) and faiss ResidualQuantizer (beam {BEAM}, fixed "
                "order) with the SAME codebooks (faiss's trained RQ codebooks copied into AdditiveVQ)",
        "vqcore_avq_mse": mse_ours,
        "faiss_rq_mse": mse_faiss,
        "relative_difference": (mse_ours - mse_faiss) / mse_faiss,
        "faiss_codes_decoded_by_vqcore_mse": mse_crossed,
        "data_variance_per_component": x.var(0).mean().item(),
        "vqcore_no_worse": mse_ours <= mse_faiss,
        "vqcore_avq_ordered_track_mse": mse_ordered,
        "ordered_track_relative_difference": (mse_ordered - mse_faiss) / mse_faiss,
        "vqcore_ordered_track_no_worse": mse_ordered <= mse_faiss,
    }


def _summed(codebooks: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """``(N, DIM)``: the sum of each vector's chosen entries (``codebooks`` ``(M, K, D)``, ``codes`` ``(N, M)``)."""
    return codebooks[torch.arange(codebooks.shape[0], device=codebooks.device), codes].sum(1)


def beam_sweep(ours: OurQuantizers, models: FaissModels, data: BenchData, sizes: Sizes,
               device: torch.device) -> dict[str, Any]:
    """Both searches on the same codebooks at beam widths :data:`SWEEP_WIDTHS`, on a subset."""
    xs, xs_np = data.test[:sizes.sweep_vectors], data.test_np[:sizes.sweep_vectors]
    books = ours.avq.codebooks.detach()
    sweep = {}
    for beam in tqdm(SWEEP_WIDTHS, desc="quality beam sweep", leave=False):
        with torch.no_grad():
            ours_b = _mse(ours.avq.decode(additive_beam_search(xs.to(device), books, beam)), xs)
        faiss_b = _mse(models.rq.decode(rq_codes(models.rq, beam, xs_np)), xs)
        sweep[str(beam)] = {"vqcore_avq_mse": ours_b, "faiss_rq_mse": faiss_b}
    models.rq.max_beam_size = BEAM
    return {"vectors": sizes.sweep_vectors, "mse": sweep}


def with_lsq_codebooks(faiss: Any, models: FaissModels, data: BenchData, sizes: Sizes,
                       device: torch.device) -> dict[str, Any]:
    """Our AVQ search, faiss RQ's beam search and LSQ's own encoder, all on faiss LSQ's codebooks."""
    xs, xs_np = data.test[:sizes.sweep_vectors], data.test_np[:sizes.sweep_vectors]
    lsq_books = models.codebooks("lsq")
    rq_lsq = faiss.ResidualQuantizer(DIM, STAGES, BITS)
    faiss.copy_array_to_vector(lsq_books.ravel(), rq_lsq.codebooks)
    rq_lsq.is_trained = True
    books = torch.from_numpy(lsq_books.copy()).to(device)
    with torch.no_grad():
        ours_lsq = _mse(_summed(books, additive_beam_search(xs.to(device), books, BEAM)), xs)
    return {
        "what": f"the same searches on faiss LocalSearchQuantizer's codebooks (trained for order-free "
                f"additive encoding), {sizes.sweep_vectors} vectors",
        "vqcore_avq_mse": ours_lsq,
        "faiss_rq_mse": _mse(rq_lsq.decode(rq_codes(rq_lsq, BEAM, xs_np)), xs),
        "faiss_lsq_mse": _mse(models.lsq.decode(models.lsq.compute_codes(xs_np)), xs),
    }


def quality(faiss: Any, ours: OurQuantizers, models: FaissModels, data: BenchData, sizes: Sizes,
            device: torch.device) -> dict[str, Any]:
    """The JSON's ``quality`` section."""
    out = same_codebooks(ours, models, data, device)
    out["by_beam_width"] = beam_sweep(ours, models, data, sizes, device)
    out["with_lsq_codebooks"] = with_lsq_codebooks(faiss, models, data, sizes, device)
    return out
