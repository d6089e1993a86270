"""The training loop of an autoencoder around a quantizer (the image VQ-VAE, the speech VQ-VAE):
:func:`train_model`. (:func:`vqcore.training.fit_quantizer` fits a quantizer alone.)

``model(x)`` must return an object with ``reconstruction`` (the shape of ``x``) and ``quantizer``
(its :class:`~vqcore.quantizers.base.QuantizerOutput`, or None), as
:class:`~vqcore.models.image_vqvae.VQVAEOutput` does; ``model.quantizer`` is the quantizer or None.

A long training (the image autoencoder's pretraining at a large budget runs for hours) keeps its
state every :attr:`Checkpoints.every` steps in a run cache: the weights, the buffers, Adam's
moments, the batch generator's and torch's random states, the losses so far. A killed run started
again with the same settings goes on from the last one, and ends with the same weights, bit for
bit, as a run that was never stopped (on the same device and number of threads).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from ..quantizers.base import QuantizerOutput
from .run_cache import RunCache

logger = logging.getLogger(__name__)

__all__ = ["Checkpoints", "TrainingSchedule", "train_model"]

#: the fields of a checkpoint's record
_CHECKPOINT_FIELDS = {"step": int, "steps": int, "replaced": int, "loss_every_10": [float], "train_seconds": float}


class TrainingSchedule(Protocol):
    """The schedule fields :func:`train_model` reads (the image and NSVQ presets have them)."""

    finetune_fraction: float
    finetune_lr_factor: float
    replace_every: int
    replace_until: float
    discard_threshold: float


@dataclass(frozen=True)
class Checkpoints:
    """Where :func:`train_model` keeps its state: every ``every`` steps, as the unfinished run ``name``
    of ``cache`` made with ``settings`` (:meth:`~vqcore.experiments.run_cache.RunCache.put_partial`).
    The caller stores the finished run and then calls :meth:`clear`."""

    cache: RunCache
    name: str
    settings: Mapping[str, Any]
    every: int = 1000

    def __post_init__(self) -> None:
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"every must be an integer >= 1, got {self.every!r}")

    def clear(self) -> None:
        """Drop the kept state (the finished run is stored)."""
        self.cache.drop_partial(self.name)


def _state(model: nn.Module, opt: torch.optim.Adam, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Everything the rest of the training depends on, as named CPU tensors."""
    kept = model.state_dict()
    out = {f"model.{k}": v for k, v in kept.items()}
    out.update({f"buffer.{k}": b for k, b in model.named_buffers() if k not in kept})  # not persistent: usage counts
    for i, group in opt.state_dict()["state"].items():
        out.update({f"adam.{i}.{k}": v if isinstance(v, torch.Tensor) else torch.tensor(v) for k, v in group.items()})
    out["rng.batches"] = gen.get_state()
    out["rng.torch"] = torch.get_rng_state()
    device = next(model.parameters()).device
    if device.type == "cuda":
        out["rng.cuda"] = torch.cuda.get_rng_state(device)
    return {k: v.detach().to("cpu") for k, v in out.items()}


def _expected_state(model: nn.Module, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """The names, shapes and dtypes of :func:`_state` once Adam has taken a step (meta tensors)."""
    meta = {k: torch.empty(v.shape, dtype=v.dtype, device="meta") for k, v in model.state_dict().items()}
    out = {f"model.{k}": v for k, v in meta.items()}
    out.update({f"buffer.{k}": torch.empty(b.shape, dtype=b.dtype, device="meta")
                for k, b in model.named_buffers() if k not in meta})
    for i, p in enumerate(model.parameters()):
        if not p.requires_grad:  # Adam keeps no state for it
            continue
        out[f"adam.{i}.step"] = torch.empty((), dtype=torch.float32, device="meta")
        out[f"adam.{i}.exp_avg"] = out[f"adam.{i}.exp_avg_sq"] = torch.empty(p.shape, dtype=p.dtype, device="meta")
    out["rng.batches"] = torch.empty(gen.get_state().shape, dtype=torch.uint8, device="meta")
    out["rng.torch"] = torch.empty(torch.get_rng_state().shape, dtype=torch.uint8, device="meta")
    device = next(model.parameters()).device
    if device.type == "cuda":
        out["rng.cuda"] = torch.empty(torch.cuda.get_rng_state(device).shape, dtype=torch.uint8, device="meta")
    return out


def _resume(checkpoints: Checkpoints, steps: int, model: nn.Module, opt: torch.optim.Adam,
            gen: torch.Generator) -> tuple[int, list[float], int, float]:
    """Load the kept state into ``model``, ``opt``, ``gen`` and torch's generator: ``(its step, the losses
    so far, the entries replaced so far, the training seconds so far)``; ``(0, [], 0, 0.0)`` when none fits."""
    stored = checkpoints.cache.get_partial(checkpoints.name, checkpoints.settings, fields=_CHECKPOINT_FIELDS,
                                           like=_expected_state(model, gen))
    if stored is None:
        return 0, [], 0, 0.0
    record, tensors = stored
    if record["steps"] != steps or not 0 < record["step"] < steps:
        logger.warning("%s: its checkpoint is at step %s of %s, this run has %d steps; starting afresh",
                       checkpoints.name, record["step"], record["steps"], steps)
        return 0, [], 0, 0.0
    device = next(model.parameters()).device
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    buffers = dict(model.named_buffers())
    for k, v in tensors.items():
        if k.startswith("buffer."):
            buffers[k[len("buffer."):]].copy_(v)
    state = opt.state_dict()
    state["state"] = {i: {name: tensors[f"adam.{i}.{name}"] for name in ("step", "exp_avg", "exp_avg_sq")}
                      for i, p in enumerate(model.parameters()) if p.requires_grad}
    opt.load_state_dict(state)
    gen.set_state(tensors["rng.batches"])
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors:
        torch.cuda.set_rng_state(tensors["rng.cuda"], device)
    logger.info("%s: resumed at step %d of %d", checkpoints.name, record["step"], steps)
    return record["step"], list(record["loss_every_10"]), record["replaced"], float(record["train_seconds"])


def train_model(model: nn.Module, patches: torch.Tensor, steps: int, batch_size: int, lr: float, seed: int,
                preset: TrainingSchedule, replace: bool, warmup: float = 0.0, *, aux_loss: bool = False,
                monitor: Callable[[QuantizerOutput], None] | None = None,
                checkpoints: Checkpoints | None = None) -> dict[str, Any]:
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
    with the quantizer's output after every step (e.g. to log codebook usage). With ``checkpoints``
    the state is kept every ``checkpoints.every`` steps and a kept state is resumed from (see the
    module docstring); a ``monitor``'s own state is not kept, so the two do not go together.
    Returns ``{"final_train_loss", "replaced", "loss_every_10", "train_seconds"}`` (the seconds of every
    call that trained it, when it resumed).
    """
    if checkpoints is not None and monitor is not None:
        raise ValueError("checkpoints: a monitor's state is not kept in a checkpoint; pass one or the other")
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    decay_at = steps - round(steps * preset.finetune_fraction)
    warm_steps = round(steps * warmup)
    replace_until = min(decay_at, round(preset.replace_until * steps))
    q = model.quantizer
    done, losses, replaced, before = (_resume(checkpoints, steps, model, opt, gen) if checkpoints is not None
                                      else (0, [], 0, 0.0))
    for step in range(done + 1, steps + 1):
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
        if checkpoints is not None and step % checkpoints.every == 0 and step < steps:
            checkpoints.cache.put_partial(checkpoints.name, checkpoints.settings,
                                          {"step": step, "steps": steps, "replaced": replaced, "loss_every_10": losses,
                                           "train_seconds": before + time.perf_counter() - start},
                                          _state(model, opt, gen))
    model.eval()
    return {"final_train_loss": losses[-1] if losses else None, "replaced": replaced, "loss_every_10": losses,
            "train_seconds": before + time.perf_counter() - start}
