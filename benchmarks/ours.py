"""vqcore's quantizers in the benchmark's configuration, built by the package's one factory, and their encoders."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vqcore.quantizers import AdditiveVQ, ProductVQ, ResidualVQ, SpaceFillingVQ
from vqcore.quantizers.registry import build_quantizer

from .config import BEAM, BITS, DIM, STAGES, BenchData, Sizes
from .timing import Job, batched


@dataclass(frozen=True)
class OurQuantizers:
    """RVQ, PVQ and AVQ at 4 x 8 bits (AVQ in free order and with ``ordered_track``, on the same codebooks)
    and SFVQ at 8 bits."""

    rvq: ResidualVQ
    pvq: ProductVQ
    avq: AdditiveVQ
    avq_ordered: AdditiveVQ
    sfvq: SpaceFillingVQ


def build_ours(data: BenchData, rq_codebooks: np.ndarray | None, device: torch.device) -> OurQuantizers:
    """Our quantizers, initialised from the training data; AVQ gets faiss RQ's codebooks
    (``(STAGES, CODEBOOK, DIM)``) when given, so that the quality comparison shares them.
    SFVQ is grown to all of its vertices. In eval mode, on ``device``."""
    gen = torch.Generator().manual_seed(0)
    bits = STAGES * BITS
    rvq = build_quantizer("RVQ", DIM, bits, stages=STAGES)
    rvq.init_from_data(data.train, generator=gen)
    pvq = build_quantizer("PVQ", DIM, bits, stages=STAGES)
    pvq.init_from_data(data.train, generator=gen)
    avq = build_quantizer("AVQ", DIM, bits, stages=STAGES, beam_width=BEAM, ordered_track=False)
    if rq_codebooks is not None:
        avq.codebooks.data.copy_(torch.from_numpy(rq_codebooks))
    else:
        avq.init_from_data(data.train, generator=gen)
    avq_ordered = build_quantizer("AVQ", DIM, bits, stages=STAGES, beam_width=BEAM, ordered_track=True)
    avq_ordered.codebooks.data.copy_(avq.codebooks.data)
    sfvq = build_quantizer("SFVQ", DIM, BITS)
    sfvq.init_from_data(data.train)
    while not sfvq.fully_grown:
        sfvq.grow()
    ours = OurQuantizers(rvq, pvq, avq, avq_ordered, sfvq)
    for q in (rvq, pvq, avq, avq_ordered, sfvq):
        q.to(device).eval()
    return ours


def our_encode_jobs(ours: OurQuantizers, data: BenchData, sizes: Sizes, device: torch.device) -> list[Job]:
    """The encoding jobs of our quantizers, in the JSON's row order."""
    rows = [("ResidualVQ", "ResidualVQ(64, 4, 8) encode (greedy)", ours.rvq),
            ("ProductVQ", "ProductVQ(64, 4, 8) encode", ours.pvq),
            ("AdditiveVQ", f"AdditiveVQ(64, 4, 8, beam_width={BEAM}, ordered_track=False) encode (beam search)", ours.avq),
            ("AdditiveVQ.ordered_track", f"AdditiveVQ(64, 4, 8, beam_width={BEAM}, ordered_track=True) encode "
                                         "(free- and fixed-order beams)", ours.avq_ordered),
            ("SpaceFillingVQ", "SpaceFillingVQ(64, bits=8) encode (nearest of 256 vertices)", ours.sfvq)]
    jobs = [Job(f"vqcore.{name}", "vqcore", description, batched(q.encode, data.test_dev, sizes.batch),
                data.test_dev.shape[0], device.type)
            for name, description, q in rows]
    jobs.append(Job("vqcore.SpaceFillingVQ.project", "vqcore",
                    "SpaceFillingVQ(64, bits=8) project (inference: projection onto the curve of 256 vertices)",
                    batched(ours.sfvq.project, data.test_dev, sizes.batch), data.test_dev.shape[0], device.type))
    return jobs
