"""Training the Interspeech 2023 voice-conversion VQ-VAE on the eSpeak NG corpus, and reading its codes.

The model (:class:`vqcore.models.voice_conversion.VoiceConversionVQVAE`) is trained on the
training speakers of the corpus (:mod:`vqcore.speech.corpus`), once per method and seed:
``SFVQ`` is a :class:`~vqcore.SpaceFillingVQ` of ``2 ** bits`` vertices grown from 4 by
doubling, trained jointly through NSVQ around the dithered curve point; ``VQ`` a plain
:class:`~vqcore.VQ` of the same size, NSVQ with codebook replacement. Both are built with
:func:`vqcore.quantizers.registry.build_quantizer`.

Shapes: an utterance's log-mel ``(T, n_mels)``, a batch ``(B, segment_frames, n_mels)`` with its
speakers ``(B,)``.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..models.voice_conversion import VoiceConversionVQVAE
from ..quantizers.registry import build_quantizer
from ..quantizers.space_filling import SpaceFillingVQ
from ..speech.logmel import LogMel
from ..training import growth_schedule
from .common import stable_seed
from .interspeech_presets import METHODS, InterspeechPreset

__all__ = ["Utterance", "build_model", "evaluate_model", "load_speech", "train_voice_conversion"]


@dataclass
class Utterance:
    """A corpus item with its log-mel ``(T, n_mels)`` and its per-frame TIMIT phones and phone groups."""

    item: Any
    logmel: torch.Tensor
    phones: list[str]
    groups: list[str]


def load_speech(p: InterspeechPreset, analysis: LogMel, progress: bool = True
                ) -> tuple[Any, list[Utterance], list[Utterance]]:
    """``(corpus, train, test)``: the preset's corpus and the log-mel and labels of its two splits."""
    from ..speech.corpus import build_corpus

    corpus = build_corpus(p.corpus, seed=p.corpus_seed, progress=progress)
    out: dict[str, list[Utterance]] = {"train": [], "test": []}
    for split, utterances in out.items():
        for item in tqdm(corpus.items(split), desc=f"log-mel ({split})", disable=not progress, leave=False):
            lm = analysis(torch.from_numpy(corpus.load_audio(item)))
            n = lm.shape[0]
            utterances.append(Utterance(item, lm, item.phone_labels(analysis.hop, n, "timit"),
                                        item.phone_labels(analysis.hop, n, "group")))
    return corpus, out["train"], out["test"]


def _batches(train: list[Utterance], speaker_ids: dict[str, int], p: InterspeechPreset,
             gen: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless batches of random excerpts ``(B, segment_frames, n_mels)`` and their speakers ``(B,)``,
    utterances drawn in proportion to their length (those shorter than an excerpt never)."""
    lengths = torch.tensor([u.logmel.shape[0] for u in train], dtype=torch.float64)
    usable = (lengths >= p.segment_frames).double()
    if usable.sum() == 0:
        raise ValueError(f"no training utterance has segment_frames={p.segment_frames} frames")
    weights = lengths * usable
    while True:
        pick = torch.multinomial(weights, p.batch_size, replacement=True, generator=gen)
        xs, spk = [], []
        for i in pick.tolist():
            u = train[i]
            s = int(torch.randint(u.logmel.shape[0] - p.segment_frames + 1, (1,), generator=gen))
            xs.append(u.logmel[s:s + p.segment_frames])
            spk.append(speaker_ids[u.item.speaker])
        yield torch.stack(xs), torch.tensor(spk)


def _run_seed(method: str, seed: int) -> int:
    return stable_seed(f"interspeech-{method}-s{seed}")


def build_model(method: str, p: InterspeechPreset, num_speakers: int) -> VoiceConversionVQVAE:
    """The untrained model with the ``method`` quantizer (``"SFVQ"`` or ``"VQ"``) of ``p.bits`` bits."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    quantizer = build_quantizer(method, p.latent_dim, p.bits)
    return VoiceConversionVQVAE(p.n_mels, num_speakers, quantizer, channels=p.channels, speaker_dim=p.speaker_dim,
                                layers=p.layers)


def _optimizer(model: VoiceConversionVQVAE, p: InterspeechPreset
               ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """Adam at ``lr`` (``codebook_lr`` for the quantizer), cosine decay to a tenth over ``steps``."""
    q_params = {id(t) for t in model.quantizer.parameters()}
    others = [t for t in model.parameters() if id(t) not in q_params]
    optimizer = torch.optim.Adam([{"params": others, "lr": p.lr},
                                  {"params": list(model.quantizer.parameters()), "lr": p.codebook_lr}])
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, p.steps) / p.steps)))
    return optimizer, scheduler


def train_voice_conversion(method: str, p: InterspeechPreset, train: list[Utterance], speaker_ids: dict[str, int],
                           seed: int, device: torch.device, progress: bool = True
                           ) -> tuple[VoiceConversionVQVAE, dict[str, Any]]:
    """Train the VQ-VAE with the ``method`` quantizer on the training utterances; ``(model, log)``.

    The quantizer starts from the latents of the untrained encoder (SFVQ: 4 vertices from
    :meth:`~vqcore.SpaceFillingVQ.init_from_data`; VQ: random latents as codewords). The log holds
    the loss every 20 steps, the codewords replaced and the training time.
    """
    run_seed = _run_seed(method, seed)
    torch.manual_seed(run_seed)
    gen = torch.Generator().manual_seed(run_seed)
    model = build_model(method, p, len(speaker_ids))
    model.set_normalisation(torch.cat([u.logmel for u in train]))
    model.to(device)
    batches = _batches(train, speaker_ids, p, gen)
    q = model.quantizer
    with torch.no_grad():
        x0 = torch.cat([model.normalise(next(batches)[0].to(device)) for _ in range(8)])
        q.init_from_data(model.encode(x0).reshape(-1, p.latent_dim), generator=gen)
    optimizer, scheduler = _optimizer(model, p)
    grow_at = set(growth_schedule(p.steps, p.bits)) if isinstance(q, SpaceFillingVQ) else set()
    model.train()
    losses, replaced = [], 0
    start = time.perf_counter()
    bar = tqdm(range(1, p.steps + 1), desc=f"train {method} seed {seed}", disable=not progress, leave=False)
    for step in bar:
        x, spk = next(batches)
        x, spk = model.normalise(x.to(device)), spk.to(device)
        out = model(x, spk)
        loss = F.mse_loss(out.reconstruction, x) + out.loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if step % 20 == 0:
            losses.append(loss.item())
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if isinstance(q, SpaceFillingVQ):
            if step in grow_at and not q.fully_grown:
                q.grow(optimizer)
        elif p.replace_every and step % p.replace_every == 0 and step <= p.replace_until * p.steps:
            replaced += q.replace_unused_codebooks(p.replace_every, generator=gen)
    if isinstance(q, SpaceFillingVQ):
        while not q.fully_grown:
            q.grow(optimizer)
    model.eval()
    return model, {"losses": losses, "replaced": replaced, "train_seconds": time.perf_counter() - start}


@torch.no_grad()
def evaluate_model(model: VoiceConversionVQVAE, train: list[Utterance], test: list[Utterance],
                   speaker_ids: dict[str, int], device: torch.device) -> dict[str, Any]:
    """The test-set codes per utterance (``test_codes``: lists of ints), and the reconstruction MSE
    (normalised log-mel) of every ``len(train) // 40``-th training utterance (``train_reconstruction_mse``)."""
    codes = []
    for u in test:
        _, c = model.quantize(model.normalise(u.logmel.to(device)).unsqueeze(0))
        codes.append(c[0].cpu().tolist())
    errors = []
    for u in train[:: max(1, len(train) // 40)]:
        x = model.normalise(u.logmel.to(device)).unsqueeze(0)
        y, _ = model.convert(x, torch.tensor([speaker_ids[u.item.speaker]], device=device))
        errors.append(float(((y - x) ** 2).mean()))
    return {"test_codes": codes, "train_reconstruction_mse": float(np.mean(errors))}
