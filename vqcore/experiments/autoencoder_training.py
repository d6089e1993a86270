"""The training loop of an autoencoder around a quantizer (the image VQ-VAE, the speech VQ-VAE):
:func:`train_model`. (:func:`vqcore.training.fit_quantizer` fits a quantizer alone.)

``model(x)`` must return an object with ``reconstruction`` (the shape of ``x``) and ``quantizer``
(its :class:`~vqcore.quantizers.base.QuantizerOutput`, or None), as
:class:`~vqcore.models.image_vqvae.VQVAEOutput` does; ``model.quantizer`` is the quantizer or None.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from ..quantizers.base import QuantizerOutput

__all__ = ["TrainingSchedule", "train_model"]


class TrainingSchedule(Protocol):
    """The schedule fields :func:`train_model` reads (the image and NSVQ presets have them)."""

    finetune_fraction: float
    finetune_lr_factor: float
    replace_every: int
    replace_until: float
    discard_threshold: float


def train_model(model: nn.Module, patches: torch.Tensor, steps: int, batch_size: int, lr: float, seed: int,
                preset: TrainingSchedule, replace: bool, warmup: float = 0.0, *, aux_loss: bool = False,
                monitor: Callable[[QuantizerOutput], None] | None = None) -> dict[str, Any]:
    """Train the whole ``model`` (encoder, decoder and quantizer, if any) on examples ``patches`` ``(N, ...)``
    (image crops ``(N, 1, P, P)``, speech frames ``(N, 320)``, ...) to reconstruct them.

    One Adam on the reconstruction MSE for ``steps`` steps of ``batch_size`` examples drawn with ``seed``: the
    learning rate rises linearly over the first ``warmup`` fraction (so that a fresh Adam does not
    kick trained weights), stays at ``lr``, and the last ``preset.finetune_fraction`` runs at
    ``lr * preset.finetune_lr_factor`` (same optimizer, same batch stream); codebook replacement
    when ``replace`` and the model has a quantizer, until the decay or ``preset.replace_until``.
    (:func:`vqcore.training.fit_quantizer` fits a quantizer alone; this loop trains the model
    around it.) With ``aux_loss`` the quantizer's auxiliary loss (codebook and commitment terms of
    STE, EMA and the rotation trick) is added to the MSE; ``monitor``, when given, is called
    with the quantizer's output after every step (e.g. to log codebook usage).
    Returns ``{"final_train_loss", "replaced", "loss_every_10"}``.
    """
    gen = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    decay_at = steps - round(steps * preset.finetune_fraction)
    warm_steps = round(steps * warmup)
    replace_until = min(decay_at, round(preset.replace_until * steps))
    q = model.quantizer
    losses, replaced = [], 0
    for step in range(1, steps + 1):
        rate = lr * preset.finetune_lr_factor if step > decay_at else lr * min(1.0, step / (warm_steps + 1))
        for group in opt.param_groups:
            group["lr"] = rate
        x = patches[torch.randint(patches.shape[0], (batch_size,), generator=gen)].to(device)
        out = model(x)
        loss = F.mse_loss(out.reconstruction, x)
        if aux_loss and out.quantizer is not None:
            loss = loss + out.quantizer.loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if monitor is not None and out.quantizer is not None:
            monitor(out.quantizer)
        if step % 10 == 0 or step == steps:
            losses.append(float(loss.detach()))
        if (replace and q is not None and preset.replace_every and step % preset.replace_every == 0
                and step <= replace_until):
            replaced += q.replace_unused_codebooks(preset.replace_every, preset.discard_threshold, generator=gen)
    model.eval()
    return {"final_train_loss": losses[-1] if losses else None, "replaced": replaced, "loss_every_10": losses}
