"""Standalone training loops: a quantizer fitted to a data set (every experiment's recipe), and SFVQ's growth schedule.

These loops are what the experiments use; inside a larger model, call the quantizer's
``forward`` in your own loop and, every ``num_batches`` batches, ``replace_unused_codebooks``.

Both loops also run under ``torch.distributed`` (e.g. launched by ``torchrun``), unchanged for
the caller: every rank calls them with its data (the whole set or its shard); rank ``r`` draws
its batches (and, in :func:`fit_sfvq`, its dither) with ``seed + r``; the starting state is
rank 0's; gradients are averaged over the ranks before each step (as DDP would); replacement,
initialisation and growth are synchronised by the quantizers (see
:mod:`vqcore.quantizers.distributed`); the logged losses are means over the ranks. A single
process runs exactly what it ran before.

Inside ``with shared_initialisation():`` (:func:`shared_initialisation`), :func:`fit_quantizer`
computes each distinct ``init_from_data`` once: quantizers that differ only in their estimator,
fitted to the same data with the same seed (the curves of an estimator comparison), start from
the codebooks and the generator state of the first one's initialisation instead of repeating it.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .quantizers import distributed
from .quantizers.checks import check_positive_int, check_vectors
from .quantizers.additive import AdditiveVQ
from .quantizers.base import Quantizer, QuantizerOutput
from .quantizers.product import ProductVQ
from .quantizers.residual import ResidualVQ
from .quantizers.space_filling import SpaceFillingVQ
from .quantizers.vq import VQ

logger = logging.getLogger(__name__)


@runtime_checkable
class BatchSampler(Protocol):
    """A source of fresh training vectors: :func:`fit_quantizer` draws every batch anew from it
    instead of from a fixed data set (e.g. :class:`vqcore.data.toy_sources.SourceSampler`)."""

    dim: int

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """``batch_size`` new vectors drawn with ``generator``: ``(batch_size, dim)`` float32."""
        ...


@dataclass
class TrainingLog:
    """Per-step training loss and the entries replaced at each replacement."""

    loss: list[float] = field(default_factory=list)
    replaced: list[int] = field(default_factory=list)


#: the quantizers whose ``init_from_data`` sets their codebooks (and, for EMA, ``ema_cluster_size = 1``
#: and ``ema_embed_sum = codebooks``) from the data and the generator only, whatever they held before
_DATA_ONLY_INIT = (VQ, ResidualVQ, AdditiveVQ, ProductVQ)
#: initialisations kept by :func:`shared_initialisation` (least recently used dropped first)
_SHARED_INITS = 16


@dataclass
class _StoredInit:
    data: torch.Tensor          #: the data it was computed from (a copy)
    codebooks: torch.Tensor     #: the codebooks after ``init_from_data``
    generator_state: torch.Tensor  #: the generator's state after it


_SHARED: contextvars.ContextVar[OrderedDict | None] = contextvars.ContextVar("vqcore_shared_init", default=None)


@contextlib.contextmanager
def shared_initialisation() -> Iterator[None]:
    """Within this context, :func:`fit_quantizer` initialises a quantizer from data only once per
    distinct initialisation and reuses the result.

    An initialisation is reused when the quantizer's class (:class:`~vqcore.VQ`,
    :class:`~vqcore.ResidualVQ`, :class:`~vqcore.AdditiveVQ` or :class:`~vqcore.ProductVQ`),
    shape, dtype and device, the generator's state before ``init_from_data`` (the seed) and the
    data (compared value for value) are those of an earlier one: the codebooks and the generator's
    state after it are copied, and, for the EMA estimator, its statistics set as
    ``init_from_data`` sets them. The fit is then exactly the one without the context (the
    initialisation depends on nothing else). Not used under ``torch.distributed``. The last
    ``16`` initialisations (and their data) are kept, in this thread or task only, until the
    context ends.
    """
    token = _SHARED.set(OrderedDict())
    try:
        yield
    finally:
        _SHARED.reset(token)


@torch.no_grad()
def _init_from_data(quantizer: Quantizer, data: torch.Tensor, generator: torch.Generator) -> None:
    """``quantizer.init_from_data(data, generator)``, or its stored result (:func:`shared_initialisation`)."""
    store = _SHARED.get()
    if store is None or type(quantizer) not in _DATA_ONLY_INIT or distributed.is_distributed():
        quantizer.init_from_data(data, generator=generator)
        return
    books = quantizer.codebooks
    key = (type(quantizer), tuple(books.shape), books.dtype, str(books.device), tuple(data.shape), data.dtype,
           str(data.device), bytes(generator.get_state().numpy()))
    stored = store.get(key)
    if stored is not None and torch.equal(stored.data, data):
        store.move_to_end(key)
        books.data.copy_(stored.codebooks)
        generator.set_state(stored.generator_state)
        if quantizer.estimator == "ema":
            quantizer.ema_cluster_size.fill_(1.0)
            quantizer.ema_embed_sum.copy_(books.data)
        return
    quantizer.init_from_data(data, generator=generator)
    store[key] = _StoredInit(data.detach().clone(), books.detach().clone(), generator.get_state())
    store.move_to_end(key)
    while len(store) > _SHARED_INITS:
        store.popitem(last=False)


def _batches(data: torch.Tensor, batch_size: int, steps: int, generator: torch.Generator):
    n = data.shape[0]
    for _ in range(steps):
        idx = torch.randint(n, (batch_size,), generator=generator).to(data.device)
        yield data[idx]


def _sampled_batches(sampler: BatchSampler, batch_size: int, steps: int, generator: torch.Generator,
                     device: torch.device):
    for _ in range(steps):
        x = sampler.sample(batch_size, generator)
        if tuple(x.shape) != (batch_size, sampler.dim):
            raise ValueError(f"sampler.sample({batch_size}) must return ({batch_size}, {sampler.dim}), "
                             f"got {tuple(x.shape)}")
        yield x.to(device)


def _check_sampler(sampler: BatchSampler, dim: int) -> None:
    if not isinstance(sampler, BatchSampler):
        raise ValueError(f"data must be a tensor or a BatchSampler (dim, sample), got {type(sampler).__name__}")
    if sampler.dim != dim:
        raise ValueError(f"data: the sampler draws {sampler.dim}-dimensional vectors, the quantizer takes {dim}")


def fit_quantizer(quantizer: Quantizer, data: torch.Tensor | BatchSampler, steps: int, *, batch_size: int = 256,
                  lr: float = 1e-3, replace_every: int = 100, replace_until: float = 0.9,
                  discard_threshold: float = 0.01, finetune_fraction: float = 0.0,
                  finetune_lr_factor: float = 0.1, init: bool = True, seed: int = 0,
                  progress: bool = True, log_every: int = 10, init_samples: int = 16384,
                  monitor: Callable[[QuantizerOutput], None] | None = None) -> TrainingLog:
    """Fit a quantizer to ``data`` ``(N, D)`` with Adam, minimising ``mse(output, x) + loss``.

    ``data`` is a tensor (batches drawn with replacement from its rows) or a :class:`BatchSampler`
    (every batch freshly drawn from it with the phase's generator; ``init_from_data`` then uses
    ``init_samples`` vectors drawn from it first).

    With NSVQ, ``mse(output, x)`` equals the hard quantizer's error and its gradient reaches the
    codebooks; with STE/EMA the returned auxiliary loss trains them.

    The papers' recipe has two phases. The first ``steps - round(steps * finetune_fraction)``
    steps run at ``lr`` from ``init_from_data`` (when ``init``), with codebook replacement every
    ``replace_every`` steps until ``replace_until`` of that phase; the rest (a step decay of the
    learning rate) run at ``lr * finetune_lr_factor`` with a fresh Adam, without replacement, on
    batches drawn with ``seed + 1``. ``finetune_fraction = 0`` (the default) is one phase.

    ``monitor``, when given, is called with the quantizer's output after every training step of
    both phases (e.g. to log codebook usage); it must not change the quantizer.

    Returns:
        :class:`TrainingLog` with the loss every ``log_every`` steps of both phases and the
        replacement counts.
    """
    check_positive_int("steps", steps)
    if not 0.0 <= finetune_fraction <= 1.0:
        raise ValueError(f"finetune_fraction must be in [0, 1], got {finetune_fraction}")
    fine = round(steps * finetune_fraction)
    first = steps - fine
    log = TrainingLog()
    phases = [(first, lr, replace_every, init, seed), (fine, lr * finetune_lr_factor, 0, init and first == 0, seed + 1)]
    for phase_steps, phase_lr, phase_replace, phase_init, phase_seed in phases:
        if phase_steps > 0:
            _fit_phase(quantizer, data, phase_steps, log, batch_size=batch_size, lr=phase_lr,
                       replace_every=phase_replace, replace_until=replace_until,
                       discard_threshold=discard_threshold, init=phase_init, seed=phase_seed,
                       progress=progress, log_every=log_every, monitor=monitor, init_samples=init_samples)
    return log


def _fit_phase(quantizer: Quantizer, data: torch.Tensor | BatchSampler, steps: int, log: TrainingLog, *,
               batch_size: int, lr: float, replace_every: int, replace_until: float, discard_threshold: float,
               init: bool, seed: int, progress: bool, log_every: int,
               monitor: Callable[[QuantizerOutput], None] | None = None, init_samples: int = 16384) -> None:
    """One phase of :func:`fit_quantizer`: its own Adam and batch generator; appends to ``log``."""
    check_positive_int("batch_size", batch_size)
    gen = torch.Generator().manual_seed(seed + distributed.rank())
    if isinstance(data, torch.Tensor):
        flat, _ = check_vectors(data, quantizer.dim, name="data")
        batches = _batches(flat, batch_size, steps, gen)
    else:
        _check_sampler(data, quantizer.dim)
        check_positive_int("init_samples", init_samples)
        device = quantizer.codebooks.device
        flat = data.sample(init_samples, gen).to(device) if init else None
        batches = _sampled_batches(data, batch_size, steps, gen, device)
    distributed.broadcast_state(quantizer)
    if init:
        _init_from_data(quantizer, flat, gen)
    quantizer.train()
    params = [p for p in quantizer.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr) if params else None
    pending = []
    for step, x in enumerate(tqdm(batches, total=steps, disable=not progress,
                                  desc=f"train {type(quantizer).__name__}", leave=False), start=1):
        out = quantizer(x)
        loss = F.mse_loss(out.output, x) + out.loss
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            distributed.average_gradients(params)
            optimizer.step()
        if monitor is not None:
            monitor(out)
        if step % log_every == 0:
            pending.append(loss.detach())
        if replace_every and step % replace_every == 0 and step <= replace_until * steps:
            log.replaced.append(quantizer.replace_unused_codebooks(replace_every, discard_threshold, generator=gen))
    log.loss += _mean_over_ranks(pending)
    quantizer.eval()


def _mean_over_ranks(losses: list[torch.Tensor]) -> list[float]:
    """Logged scalar losses, averaged over the ranks under torch.distributed (one all-reduce)."""
    if not losses:
        return []
    stacked = torch.stack(losses)
    if distributed.is_distributed():
        stacked = distributed.all_reduce_sum(stacked) / distributed.world_size()
    return stacked.tolist()


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
    gen = torch.Generator().manual_seed(seed + distributed.rank())
    torch.manual_seed(seed + distributed.rank())
    distributed.broadcast_state(sfvq)
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
        distributed.average_gradients(sfvq.parameters())
        optimizer.step()
        if step % log_every == 0:
            pending.append(loss.detach())
        if step in grow_at and not sfvq.fully_grown:
            sfvq.grow(optimizer)
    while not sfvq.fully_grown:  # too few steps for the schedule: still end at full size
        sfvq.grow(optimizer)
    log.loss = _mean_over_ranks(pending)
    sfvq.eval()
    return log
