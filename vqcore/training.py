"""Standalone training loops: a quantizer fitted to a data set (the papers' toy experiments, SFVQ).

These loops are what the experiments use; inside a larger model, call the quantizer's
``forward`` in your own loop and, every ``num_batches`` batches, ``replace_unused_codebooks``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ._checks import check_positive_int, check_vectors
from .base import Quantizer
from .space_filling import SpaceFillingVQ

logger = logging.getLogger(__name__)


@dataclass
class TrainingLog:
    """Per-step training loss and the entries replaced at each replacement."""

    loss: list[float] = field(default_factory=list)
    replaced: list[int] = field(default_factory=list)


def _batches(data: torch.Tensor, batch_size: int, steps: int, generator: torch.Generator):
    n = data.shape[0]
    for _ in range(steps):
        idx = torch.randint(n, (batch_size,), generator=generator).to(data.device)
        yield data[idx]


def fit_quantizer(quantizer: Quantizer, data: torch.Tensor, steps: int, *, batch_size: int = 256,
                  lr: float = 1e-3, replace_every: int = 100, replace_until: float = 0.9,
                  discard_threshold: float = 0.01, init: bool = True, seed: int = 0,
                  progress: bool = True, log_every: int = 10) -> TrainingLog:
    """Fit a quantizer to ``data`` ``(N, D)`` with Adam, minimising ``mse(output, x) + loss``.

    With NSVQ, ``mse(output, x)`` equals the hard quantizer's error and its gradient reaches the
    codebooks; with STE/EMA the returned auxiliary loss trains them. Codebook replacement runs every
    ``replace_every`` steps until ``replace_until * steps`` (it stops near the end of training).

    Returns:
        :class:`TrainingLog` with the loss every ``log_every`` steps and the replacement counts.
    """
    check_positive_int("steps", steps)
    check_positive_int("batch_size", batch_size)
    flat, _ = check_vectors(data, quantizer.dim, name="data")
    gen = torch.Generator().manual_seed(seed)
    if init:
        quantizer.init_from_data(flat, generator=gen)
    quantizer.train()
    params = [p for p in quantizer.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr) if params else None
    log = TrainingLog()
    pending = []
    for step, x in enumerate(tqdm(_batches(flat, batch_size, steps, gen), total=steps, disable=not progress,
                                  desc=f"train {type(quantizer).__name__}", leave=False), start=1):
        out = quantizer(x)
        loss = F.mse_loss(out.output, x) + out.loss
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if step % log_every == 0:
            pending.append(loss.detach())
        if replace_every and step % replace_every == 0 and step <= replace_until * steps:
            log.replaced.append(quantizer.replace_unused_codebooks(replace_every, discard_threshold, generator=gen))
    log.loss = torch.stack(pending).tolist() if pending else []
    quantizer.eval()
    return log


def growth_schedule(steps: int, bits: int) -> list[int]:
    """Steps after which an SFVQ of ``2 ** bits`` vertices doubles: ``bits - 1`` equal phases from 4 vertices."""
    phases = bits - 1
    return [round(steps * (i + 1) / phases) for i in range(phases - 1)]


def fit_sfvq(sfvq: SpaceFillingVQ, data: torch.Tensor, steps: int, *, batch_size: int = 256,
             lr: float = 1e-2, seed: int = 0, init: bool = True, progress: bool = True,
             log_every: int = 10) -> TrainingLog:
    """Standalone SFVQ training (the paper's schedule) on ``data`` ``(N, D)``.

    Starts from 4 vertices (:meth:`SpaceFillingVQ.init_from_data`), trains on ``mse(x, p)`` against
    the dithered curve points, and doubles the vertices at :func:`growth_schedule` until ``2 ** bits``.
    """
    check_positive_int("steps", steps)
    flat, _ = check_vectors(data, sfvq.dim, name="data")
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    if init:
        sfvq.init_from_data(flat)
    grow_at = set(growth_schedule(steps, sfvq.bits)) if sfvq.num_active < sfvq.codebook_size else set()
    sfvq.train()
    optimizer = torch.optim.Adam(sfvq.parameters(), lr=lr)
    log = TrainingLog()
    pending = []
    for step, x in enumerate(tqdm(_batches(flat, batch_size, steps, gen), total=steps, disable=not progress,
                                  desc="train SpaceFillingVQ", leave=False), start=1):
        out = sfvq(x)
        loss = F.mse_loss(out.quantized, x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % log_every == 0:
            pending.append(loss.detach())
        if step in grow_at and not sfvq.fully_grown:
            sfvq.grow(optimizer)
    while not sfvq.fully_grown:  # too few steps for the schedule: still end at full size
        sfvq.grow(optimizer)
    log.loss = torch.stack(pending).tolist() if pending else []
    sfvq.eval()
    return log
