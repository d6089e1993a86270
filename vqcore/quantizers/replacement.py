"""Codebook replacement: revive entries that the training batches stopped choosing.

:func:`replace_unused` works on one process's tensors and draws from one process's random
state. Under torch.distributed, :meth:`vqcore.Quantizer.replace_unused_codebooks` calls it on
every rank with usage counts already summed over the ranks and then broadcasts rank 0's
codebooks, so the choices that count are made once, on rank 0.
"""
from __future__ import annotations

import torch


@torch.no_grad()
def replace_unused(codebook: torch.Tensor, usage_batches: torch.Tensor, num_batches: int,
                   discard_threshold: float = 0.01, noise_std: float = 1e-12,
                   generator: torch.Generator | None = None) -> int:
    """Overwrite unused entries of one codebook in place (the papers' behaviour).

    Args:
        codebook: ``(K, d)`` entries, modified in place.
        usage_batches: ``(K,)`` number of batches (out of ``num_batches``) in which each entry was chosen.
        num_batches: batches counted since the last replacement.
        discard_threshold: entries with ``usage_batches / num_batches < discard_threshold`` are unused.
        noise_std: standard deviation of the Gaussian noise added to the copies.
    Returns:
        How many entries were replaced (``K`` when none was used: then all are perturbed).
    """
    unused = usage_batches / num_batches < discard_threshold
    used_idx = torch.nonzero(~unused).flatten()
    unused_idx = torch.nonzero(unused).flatten()
    n_unused = int(unused_idx.numel())
    if n_unused == 0:
        return 0
    k, d = codebook.shape
    if used_idx.numel() == 0:
        codebook.add_(noise_std * torch.randn(k, d, generator=generator, device="cpu").to(codebook))
        return k
    pick = torch.randint(int(used_idx.numel()), (n_unused,), generator=generator, device="cpu").to(used_idx.device)
    noise = torch.randn(n_unused, d, generator=generator, device="cpu").to(codebook)
    codebook[unused_idx] = codebook[used_idx[pick]] + noise_std * noise
    return n_unused
