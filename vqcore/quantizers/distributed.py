"""Collectives that keep the quantizers' codebooks the same on every rank of a ``torch.distributed`` job.

Every helper is a no-op unless ``torch.distributed`` is initialised with a world size above 1
(and the code is not inside :func:`local`), so single-process training runs exactly the code it
ran before. Under a process group the quantizers use them as follows:

- **Statistics are all-reduced.** The per-batch usage (``usage_batches``, for codebook
  replacement) and the EMA estimator's per-batch counts and sums are summed over the ranks
  before they enter the running averages, so EMA codebooks follow a single process that sees
  the concatenation of every rank's batch (up to float32 rounding: the sums are added in a
  different order).
- **Random choices are made once.** :meth:`~vqcore.Quantizer.replace_unused_codebooks`,
  ``init_from_data`` and :meth:`~vqcore.SpaceFillingVQ.grow` run on every rank (so every rank
  draws from its generator as a single process would) and then **rank 0's codebooks are
  broadcast**: the result is what one process would have computed from rank 0's data.
- **Gradients** of gradient-trained codebooks (NSVQ, STE, SFVQ) are averaged by
  :class:`~torch.nn.parallel.DistributedDataParallel` (or :func:`average_gradients`, which the
  fit loops of :mod:`vqcore.training` use); identical codebooks with the same averaged gradient
  stay identical. The NSVQ noise and the SFVQ dither are drawn by each rank from its own
  random state; that changes the gradient estimate, not the agreement between ranks.

Each of these is a collective: every rank must make the same calls in the same order (forward
passes in training mode, replacement, initialisation, growth). Code that only one rank runs
(rank-0-only evaluation in training mode, say) goes inside :func:`local`. The backends (gloo,
NCCL) return the same bits on every rank for an all-reduce, so the ranks stay bit-identical.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import torch
import torch.distributed
from torch import nn

#: how many :func:`local` blocks are open (process-wide; a plain int so that torch.compile can trace it)
_local_depth = 0


def is_distributed() -> bool:
    """True when ``torch.distributed`` is initialised with more than one rank (and not inside :func:`local`)."""
    if _local_depth or not torch.distributed.is_available() or not torch.distributed.is_initialized():
        return False
    return torch.distributed.get_world_size() > 1


def world_size() -> int:
    """Number of ranks taking part (1 when not distributed)."""
    return torch.distributed.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    return torch.distributed.get_rank() if is_distributed() else 0


@contextlib.contextmanager
def local() -> Iterator[None]:
    """Inside this block the helpers do nothing: for code that only some ranks run (process-wide, all threads)."""
    global _local_depth
    _local_depth += 1
    try:
        yield
    finally:
        _local_depth -= 1


def _in_place(tensor: torch.Tensor, collective: Callable[[torch.Tensor], object]) -> torch.Tensor:
    """Run ``collective`` on ``tensor`` in place (through a contiguous copy where it has gaps)."""
    if tensor.is_contiguous():
        collective(tensor)
    else:
        buffer = tensor.contiguous()
        collective(buffer)
        tensor.copy_(buffer)
    return tensor


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` (any shape) over the ranks, in place; returns it. No-op when not distributed."""
    if is_distributed():
        _in_place(tensor, lambda t: torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM))
    return tensor


def broadcast(tensor: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Overwrite ``tensor`` (any shape) on every rank with rank ``src``'s, in place; returns it.

    No-op when not distributed.
    """
    if is_distributed():
        _in_place(tensor, lambda t: torch.distributed.broadcast(t, src=src))
    return tensor


@torch.no_grad()
def broadcast_state(module: nn.Module, src: int = 0) -> None:
    """Every parameter and buffer of ``module`` from rank ``src`` (what DDP does when it wraps a module)."""
    if not is_distributed():
        return
    for tensor in [*module.parameters(), *module.buffers()]:
        broadcast(tensor.data, src)


@torch.no_grad()
def average_gradients(params: Iterable[torch.Tensor]) -> None:
    """Replace each parameter's ``.grad`` by its mean over the ranks (DDP's all-reduce, unbucketed).

    Every rank must pass the same parameters; a parameter without a gradient on this rank takes
    part with zeros (and then keeps the mean as its gradient).
    """
    if not is_distributed():
        return
    n = world_size()
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        all_reduce_sum(p.grad).div_(n)
