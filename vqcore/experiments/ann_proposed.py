"""The proposed quantizers of Figures 5 and 6a: AVQ, RVQ and PVQ trained with NSVQ, then the base reconstructed.

Every quantizer has ``stages`` codebooks of ``2 ** bits_per_stage`` entries
(:func:`vqcore.quantizers.registry.build_quantizer`) and is trained with
:func:`vqcore.training.fit_quantizer` on the (normalised) learning set: codebooks from data, Adam
on NSVQ's output error with codebook replacement every ``replace_every`` steps, the last
``finetune_fraction`` of the steps at ``lr * finetune_lr_factor`` without replacement. AVQ started
from the RVQ codebooks of its seed (``avq_init = "rvq"``) instead trains ``avq_steps`` beam-search
steps at ``avq_lr``, without replacement or fine-tuning.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from ..quantizers.base import Quantizer
from ..quantizers.registry import build_quantizer
from ..training import TrainingLog, fit_quantizer
from .ann_presets import AnnPreset

__all__ = ["PROPOSED", "describe_proposed", "reconstruct", "run_proposed"]

#: the proposed methods
PROPOSED: tuple[str, ...] = ("AVQ", "RVQ", "PVQ")


def describe_proposed(p: AnnPreset) -> dict[str, str]:
    """``{"<method> proposed": what it is}`` for the result metadata."""
    avq_start = (f"starts from the trained RVQ proposed codebooks of the same seed, then {p.avq_steps} "
                 "beam-search NSVQ steps" if p.avq_init == "rvq" else "from data")
    return {
        "AVQ proposed": f"AdditiveVQ, beam width {p.beam_width}, NSVQ; {avq_start}",
        "RVQ proposed": "ResidualVQ (greedy encoding), NSVQ",
        "PVQ proposed": "ProductVQ, NSVQ",
    }


@torch.no_grad()
def reconstruct(q: Quantizer, x: np.ndarray, device: torch.device, chunk: int = 4096) -> np.ndarray:
    """``decode(encode(x))`` of ``x`` ``(N, D)`` in chunks of ``chunk`` rows: ``(N, D)`` float32."""
    out = []
    for start in range(0, len(x), chunk):
        xb = torch.as_tensor(x[start:start + chunk], device=device)
        out.append(q.decode(q.encode(xb)).float().cpu())
    return torch.cat(out).numpy()


def _fit(method: str, q: Quantizer, data: torch.Tensor, seed: int, p: AnnPreset, warm: bool,
         progress: bool) -> TrainingLog:
    if warm:
        return fit_quantizer(q, data, p.avq_steps, batch_size=p.avq_batch_size, lr=p.avq_lr,
                             finetune_fraction=0.0, finetune_lr_factor=1.0, replace_every=0, replace_until=0.0,
                             init=False, seed=seed + 7, progress=progress)
    steps, bs, lr = ((p.avq_steps, p.avq_batch_size, p.avq_lr) if method == "AVQ"
                     else (p.steps, p.batch_size, p.lr))
    return fit_quantizer(q, data, steps, batch_size=bs, lr=lr, finetune_fraction=p.finetune_fraction,
                         finetune_lr_factor=p.finetune_lr_factor, replace_every=p.replace_every,
                         replace_until=p.replace_until, init=True, seed=seed, progress=progress)


def run_proposed(method: str, seed: int, p: AnnPreset, learn: np.ndarray, base: np.ndarray,
                 device: torch.device, progress: bool, warm: torch.Tensor | None = None,
                 ) -> tuple[np.ndarray, dict[str, Any], Quantizer]:
    """Train the proposed ``method`` on ``learn`` ``(L, D)`` with ``seed`` and reconstruct ``base`` ``(N, D)``.

    Args:
        warm: for AVQ, the codebooks ``(stages, 2 ** bits_per_stage, D)`` to start from (the RVQ
            proposed codebooks of ``seed``); None trains from data.
    Returns:
        ``(decoded, info, quantizer)``: the decoded base ``(N, D)`` float32; ``info`` with the
        codewords replaced, the final loss, the training and encoding seconds and the warm start.
    """
    torch.manual_seed(seed)
    q = build_quantizer(method, learn.shape[1], p.code_bits, stages=p.stages, beam_width=p.beam_width,
                        ordered_track=False).to(device)  # AVQ: the paper's free-order search
    data = torch.as_tensor(learn, device=device)
    warm_start = method == "AVQ" and warm is not None
    t0 = time.perf_counter()
    if warm_start:
        q.codebooks.data.copy_(torch.as_tensor(warm).to(q.codebooks))
    log = _fit(method, q, data, seed, p, warm_start, progress)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t1 = time.perf_counter()
    decoded = reconstruct(q, base, device)
    t2 = time.perf_counter()
    info = {"replaced": int(sum(log.replaced)), "final_loss": log.loss[-1] if log.loss else None,
            "train_s": t1 - t0, "encode_s": t2 - t1, "warm_start": "RVQ" if warm is not None else None}
    return decoded, info, q
