"""The Interspeech 2023 SFVQ experiments: the 2-D picture and the phone analysis of a voice-conversion VQ-VAE.

Figures (keys of :data:`FIGURES`):

- ``sfvq2d``: VQ (codewords, Voronoi cells) beside SFVQ (its curve) on a 2-D Gaussian and on a
  uniform pentagon at :attr:`InterspeechPreset.bits_2d` bits. Writes the trained quantizers
  (``interspeech2023/sfvq_2d/*.safetensors``) and their MSE (``sfvq_2d_mse.json``), so the
  notebook only draws.
- ``sfvqtime`` (paper's figure of the latent trajectory): the codebook index of every frame of
  "She had your dark suit in greasy wash water all year", SFVQ against VQ (``index_vs_time.json``,
  with the phone segmentation and the converted-voice audio examples under ``audio/``).
- ``sfvqgroups``: histograms of the SFVQ indices per TIMIT phone group over the test set
  (``phone_group_histograms.json``).
- ``sfvqfricatives``: the same per fricative phone (``fricative_histograms.json``).
- ``sfvqcontrol``: the phone-group histograms of the plain VQ (``vq_phone_group_histograms.json``).
- ``sfvqdivergence``: the adjacent-index Jensen-Shannon divergence of SFVQ and VQ and their
  permuted-index baselines over seeds (``adjacent_index_divergence.json``,
  :mod:`vqcore.eval.index_divergence`).

The model (:class:`vqcore.models.voice_conversion.VoiceConversionVQVAE`) is trained on the
training speakers of the eSpeak NG corpus (:mod:`vqcore.speech.corpus`), once per method
(``SFVQ``: :class:`~vqcore.SpaceFillingVQ` of ``2 ** bits`` vertices grown from 4 by doubling,
trained jointly through NSVQ around the dithered curve point; ``VQ``: a plain
:class:`~vqcore.VQ` of the same size, NSVQ with codebook replacement) and per seed. The indices are
read on the test set (unseen speakers and sentences). The histograms and the sentence are those of
the first seed (the model of record); the divergence uses every seed.

Result layout (:mod:`vqcore.io.results`). The divergence and the 2-D MSE use ``"VQ Bitrate"``; the
histograms use ``"Index"`` for the codebook index (labels ``"0" .. "255"``) and the sentence file
``"Time"`` for the frame time (labels in seconds); each also says so in its ``"x axis"`` context key.

Resumable: every trained model and its test-set codes are stored under
``<results_dir>/.runs/interspeech/<preset>/`` (state dict + JSON record, atomically) and reused when
the settings match.
"""
from __future__ import annotations

import dataclasses
import io
import logging
import math
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..io import results
from ..io.atomic import atomic_write_bytes
from ..quantizers.base import Quantizer
from ..speech.logmel import LogMel, griffin_lim
from ..eval.index_divergence import (
    adjacent_divergence,
    class_histograms,
    permuted_adjacent_divergence,
)
from ..models.voice_conversion import VoiceConversionVQVAE
from ..quantizers.serialization import save as save_quantizer
from ..quantizers.space_filling import SpaceFillingVQ
from ..training import fit_quantizer, fit_sfvq, growth_schedule
from ..quantizers.vq import VQ
from .common import RunRecords
from .common import resolve_device

logger = logging.getLogger(__name__)

__all__ = [
    "FIGURES",
    "INDEX_X_KEY",
    "METHODS",
    "PRESETS",
    "TIME_X_KEY",
    "InterspeechPreset",
    "figure_files",
    "gaussian_2d",
    "get_preset",
    "run_interspeech",
    "train_voice_conversion",
    "uniform_pentagon",
]

#: the figures this module makes
FIGURES: tuple[str, ...] = ("sfvq2d", "sfvqtime", "sfvqgroups", "sfvqfricatives", "sfvqcontrol", "sfvqdivergence")
#: the quantizers compared, in the files' order
METHODS: tuple[str, ...] = ("SFVQ", "VQ")
#: the x key of the per-index files, and of the per-frame file
INDEX_X_KEY = "Index"
TIME_X_KEY = "Time"
#: the paper's folder under ``Results``
FOLDER = "interspeech2023"
RUN_FORMAT = "vqcore-interspeech-run/1"
FILES: dict[str, str] = {
    "sfvq2d": "sfvq_2d_mse.json",
    "sfvqtime": "index_vs_time.json",
    "sfvqgroups": "phone_group_histograms.json",
    "sfvqfricatives": "fricative_histograms.json",
    "sfvqcontrol": "vq_phone_group_histograms.json",
    "sfvqdivergence": "adjacent_index_divergence.json",
}
CONSONANT_GROUPS = ("silence", "plosives", "fricatives", "nasals")
VOWEL_GROUPS = ("vowels", "diphthongs", "semivowels")


@dataclass(frozen=True)
class InterspeechPreset:
    """Settings of the SFVQ experiments (the Interspeech figures) at one scale.

    Features: log-mel (:class:`~vqcore.speech.logmel.LogMel`), ``n_mels`` bands, 20 ms hop at
    16 kHz. Model: ``layers`` convolutions of ``channels`` channels in the encoder and in the
    decoder, latent dimension ``latent_dim``, speaker embedding ``speaker_dim``. Training: Adam,
    ``steps`` batches of ``batch_size`` random ``segment_frames``-frame excerpts, learning rate ``lr``
    (``codebook_lr`` for the quantizer), cosine decay to ``lr / 10``; SFVQ doubles at
    :func:`vqcore.training.growth_schedule` (``bits - 1`` equal phases); VQ replaces unused
    codewords every ``replace_every`` steps until ``replace_until`` of the steps.
    Analysis: pairs of adjacent indices with at least ``min_count`` test frames each;
    ``permutations`` random relabellings for the baseline.
    """

    name: str
    corpus: str
    seeds: tuple[int, ...]
    steps: int
    corpus_seed: int = 0
    bits: int = 8
    n_mels: int = 64
    latent_dim: int = 16
    channels: int = 96
    layers: int = 2
    speaker_dim: int = 16
    batch_size: int = 16
    segment_frames: int = 48
    lr: float = 2e-3
    codebook_lr: float = 5e-3
    replace_every: int = 100
    replace_until: float = 0.8
    min_count: int = 5
    permutations: int = 200
    gl_iterations: int = 64
    bits_2d: tuple[int, ...] = (3, 5, 7)
    steps_2d: int = 2000
    num_2d: int = 20000
    quantiles: tuple[float, float] = (0.05, 0.95)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def training_settings(self) -> dict[str, Any]:
        """What determines a trained model (the cache key besides method and seed)."""
        keep = ("corpus", "corpus_seed", "bits", "n_mels", "latent_dim", "channels", "layers", "speaker_dim",
                "batch_size", "segment_frames", "lr", "codebook_lr", "replace_every", "replace_until", "steps")
        return {k: getattr(self, k) for k in keep}


PRESETS: dict[str, InterspeechPreset] = {
    "smoke": InterspeechPreset(name="smoke", corpus="smoke", seeds=(0, 1), steps=40, channels=32, n_mels=40,
                               latent_dim=8, batch_size=8, segment_frames=32, min_count=2, permutations=20,
                               gl_iterations=8, bits_2d=(3, 5), steps_2d=200, num_2d=2000),
    "quick": InterspeechPreset(name="quick", corpus="quick", seeds=(0, 1, 2), steps=3000),
    "paper": InterspeechPreset(name="paper", corpus="paper", seeds=(0, 1, 2, 3, 4), steps=20000, channels=256,
                               layers=3, batch_size=32, segment_frames=64, lr=1e-3, codebook_lr=2e-3,
                               permutations=1000, gl_iterations=100, steps_2d=5000, num_2d=50000),
}


def get_preset(preset: str | InterspeechPreset) -> InterspeechPreset:
    """The preset named ``preset`` (``smoke``, ``quick``, ``paper``) or ``preset`` itself."""
    if isinstance(preset, InterspeechPreset):
        return preset
    key = str(preset).strip().lower()
    if key not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    return PRESETS[key]


def figure_files(figure: str) -> list[str]:
    """Result files (relative to the results folder) that ``figure`` writes."""
    if figure not in FIGURES:
        raise ValueError(f"figure must be one of {FIGURES}, got {figure!r}")
    return [f"{FOLDER}/{FILES[figure]}"]


def _check_figures(figures: Iterable[str]) -> list[str]:
    out = []
    for f in ([figures] if isinstance(figures, str) else figures):
        key = str(f).strip().lower().replace("-", "")
        if key not in FIGURES:
            raise ValueError(f"figure must be one of {FIGURES}, got {f!r}")
        if key not in out:
            out.append(key)
    if not out:
        raise ValueError("figures must name at least one figure")
    return out


# -- the 2-D picture ------------------------------------------------------------------------------

def gaussian_2d(n: int, seed: int) -> torch.Tensor:
    """``n`` samples of a standard 2-D Gaussian: ``(n, 2)``."""
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(int(seed)))


def pentagon_corners() -> torch.Tensor:
    """The corners of the regular pentagon of circumradius 1, one pointing up: ``(5, 2)``."""
    angles = math.pi / 2 + 2 * math.pi * torch.arange(5) / 5
    return torch.stack([angles.cos(), angles.sin()], 1)


def uniform_pentagon(n: int, seed: int) -> torch.Tensor:
    """``n`` points uniform in the regular pentagon of :func:`pentagon_corners`: ``(n, 2)``."""
    gen = torch.Generator().manual_seed(int(seed))
    corners = pentagon_corners()
    triangle = torch.randint(5, (n,), generator=gen)
    u = torch.rand(n, 2, generator=gen)
    u = torch.where(u.sum(1, keepdim=True) > 1, 1 - u, u)
    return u[:, :1] * corners[triangle] + u[:, 1:] * corners[(triangle + 1) % 5]


DATA_2D = {"Gaussian": gaussian_2d, "Pentagon": uniform_pentagon}


def quantizer_2d_path(results_dir: str | Path, data: str, method: str, bits: int) -> Path:
    """Where the 2-D figure's trained quantizer of ``method`` at ``bits`` on ``data`` is stored."""
    return Path(results_dir) / FOLDER / "sfvq_2d" / f"{data.lower()}_{method.lower()}_{bits}bits.safetensors"


def _run_2d(p: InterspeechPreset, results_dir: Path, seed: int, device: torch.device, progress: bool) -> Path:
    start = time.perf_counter()
    labels = [f"{b} bits" for b in p.bits_2d]
    series: dict[str, results.Series] = {}
    jobs = [(d, b) for d in DATA_2D for b in p.bits_2d]
    values: dict[str, list[float]] = {}
    for data, bits in tqdm(jobs, desc="2-D VQ and SFVQ", disable=not progress, leave=False):
        x = DATA_2D[data](p.num_2d, seed).to(device)
        torch.manual_seed(seed)
        vq = VQ(2, bits).to(device)
        fit_quantizer(vq, x, steps=p.steps_2d, lr=1e-2, seed=seed, progress=False)
        sf = SpaceFillingVQ(2, bits).to(device)
        fit_sfvq(sf, x, steps=p.steps_2d, lr=1e-2, seed=seed, progress=False)
        with torch.no_grad():
            mse = {"VQ": float(((vq.quantize(x) - x) ** 2).sum(-1).mean()),
                   "SFVQ vertex": float(((sf.decode(sf.encode(x)) - x) ** 2).sum(-1).mean()),
                   "SFVQ curve": float(((sf.project(x)[0] - x) ** 2).sum(-1).mean())}
        for m, v in mse.items():
            values.setdefault(f"{m} ({data})", []).append(v)
        save_quantizer(vq.cpu(), quantizer_2d_path(results_dir, data, "VQ", bits))
        save_quantizer(sf.cpu(), quantizer_2d_path(results_dir, data, "SFVQ", bits))
    for name, v in values.items():
        series[name] = results.Series(values=v)
    meta = results.make_meta(
        p.name, [seed], device, over="a single training run per point (no band)", paper="interspeech2023",
        figure="sfvq2d", data={"Gaussian": "standard 2-D Gaussian", "Pentagon": "uniform in a regular pentagon"
                               " of circumradius 1", "num_points": p.num_2d},
        metric_definition="mean over the training points of ||x - Q(x)||^2; 'SFVQ vertex': nearest vertex; "
                          "'SFVQ curve': projection onto the curve (fractional index)",
        training=f"VQ: vqcore.training.fit_quantizer, {p.steps_2d} steps, lr 1e-2, codebook replacement; "
                 f"SFVQ: vqcore.training.fit_sfvq, {p.steps_2d} steps, lr 1e-2, doubling from 4 vertices",
        models=f"{FOLDER}/sfvq_2d/<data>_<method>_<bits>bits.safetensors (vqcore.load)",
        wall_time_s=round(time.perf_counter() - start, 3))
    result = results.ResultFile(metric="MSE", x_key="VQ Bitrate", x=labels, series=series, meta=meta)
    return results.write(result, results_dir / FOLDER / FILES["sfvq2d"])


# -- the speech data -----------------------------------------------------------------------------

@dataclass
class Utterance:
    """An item's log-mel ``(T, n_mels)`` and per-frame phone labels."""

    item: Any
    logmel: torch.Tensor
    phones: list[str]
    groups: list[str]


def _load_speech(p: InterspeechPreset, analysis: LogMel, progress: bool) -> tuple[Any, list[Utterance], list[Utterance]]:
    from ..speech.corpus import build_corpus

    corpus = build_corpus(p.corpus, seed=p.corpus_seed, progress=progress)
    out: dict[str, list[Utterance]] = {"train": [], "test": []}
    for split, utterances in out.items():
        for item in tqdm(corpus.items(split), desc=f"log-mel ({split})", disable=not progress, leave=False):
            audio = torch.from_numpy(corpus.load_audio(item))
            lm = analysis(audio)
            n = lm.shape[0]
            utterances.append(Utterance(item, lm, item.phone_labels(analysis.hop, n, "timit"),
                                        item.phone_labels(analysis.hop, n, "group")))
    return corpus, out["train"], out["test"]


def _batches(train: list[Utterance], speaker_ids: dict[str, int], p: InterspeechPreset, gen: torch.Generator):
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
    return zlib.crc32(f"interspeech-{method}-s{seed}".encode()) & 0x7FFFFFFF


def build_model(method: str, p: InterspeechPreset, num_speakers: int) -> VoiceConversionVQVAE:
    """The untrained model with the ``method`` quantizer (``"SFVQ"`` or ``"VQ"``)."""
    if method == "SFVQ":
        q: Quantizer = SpaceFillingVQ(p.latent_dim, p.bits)
    elif method == "VQ":
        q = VQ(p.latent_dim, p.bits)
    else:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return VoiceConversionVQVAE(p.n_mels, num_speakers, q, channels=p.channels, speaker_dim=p.speaker_dim,
                                layers=p.layers)


def train_voice_conversion(method: str, p: InterspeechPreset, train: list[Utterance], speaker_ids: dict[str, int],
                           seed: int, device: torch.device, progress: bool = True) -> tuple[VoiceConversionVQVAE, dict]:
    """Train the VQ-VAE with the ``method`` quantizer on the training utterances; ``(model, log)``.

    The quantizer starts from the latents of the untrained encoder (SFVQ: 4 vertices from
    :meth:`~vqcore.SpaceFillingVQ.init_from_data`; VQ: random latents as codewords).
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
    q_params = {id(t) for t in q.parameters()}
    others = [t for t in model.parameters() if id(t) not in q_params]
    optimizer = torch.optim.Adam([{"params": others, "lr": p.lr}, {"params": list(q.parameters()), "lr": p.codebook_lr}])
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, p.steps) / p.steps)))
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
def _evaluate(model: VoiceConversionVQVAE, train: list[Utterance], test: list[Utterance],
              speaker_ids: dict[str, int], device: torch.device) -> dict[str, Any]:
    """Test-set codes per utterance, and the reconstruction MSE (normalised log-mel) of training utterances."""
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


# -- the run cache -----------------------------------------------------------------------------------

class _Cache:
    """Trained models: ``<root>/<method>-s<seed>.json`` (record) and ``.pt`` (state dict)."""

    def __init__(self, root: Path):
        self.records = RunRecords(root, RUN_FORMAT)

    def model_path(self, method: str, seed: int) -> Path:
        return self.records.path(f"{method}-s{seed}", ".pt")

    def get(self, method: str, seed: int, settings: dict) -> dict | None:
        return self.records.get(f"{method}-s{seed}", settings, companions=(".pt",))

    def put(self, method: str, seed: int, settings: dict, model: VoiceConversionVQVAE, record: dict) -> None:
        buf = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buf)
        atomic_write_bytes(self.model_path(method, seed), buf.getvalue())
        self.records.put(f"{method}-s{seed}", settings, {"method": method, "seed": seed, **record})

    def load_model(self, method: str, seed: int, p: InterspeechPreset, num_speakers: int,
                   device: torch.device) -> VoiceConversionVQVAE:
        model = build_model(method, p, num_speakers)
        state = torch.load(self.model_path(method, seed), map_location="cpu", weights_only=True)
        model.load_state_dict(state)  # restores the SFVQ's number of active vertices too
        return model.to(device).eval()


# -- audio ---------------------------------------------------------------------------------------------

def _audio_examples(models: dict[str, VoiceConversionVQVAE], corpus: Any, train: list[Utterance],
                    sentence: Utterance, speaker_ids: dict[str, int], analysis: LogMel, p: InterspeechPreset,
                    out_dir: Path, device: torch.device) -> dict[str, Any]:
    """Write the converted-voice examples (Griffin-Lim) and return their description."""
    from ..speech.corpus import SPEAKERS, wav_bytes

    gender = {s.name: s.gender for s in SPEAKERS}
    train_speakers = sorted(speaker_ids, key=speaker_ids.get)
    male = next(s for s in train_speakers if gender[s] == "male")
    female = next(s for s in train_speakers if gender[s] == "female")
    own = next(u for u in train if u.item.speaker == male)
    entries: list[dict[str, Any]] = []

    def write(name: str, audio: np.ndarray, **info: Any) -> None:
        atomic_write_bytes(out_dir / name, wav_bytes(audio, analysis.sample_rate))
        entries.append({"file": f"audio/{name}", **info})

    def vocode(logmel: torch.Tensor) -> np.ndarray:
        return griffin_lim(logmel.cpu(), analysis, iterations=p.gl_iterations).numpy()

    for tag, u, targets in (("test", sentence, [male, female]), ("train", own, [male, female])):
        write(f"{tag}_source.wav", corpus.load_audio(u.item), kind="source", speaker=u.item.speaker,
              text=u.item.text, split=u.item.split)
        write(f"{tag}_vocoder.wav", vocode(u.logmel), kind="vocoder only (Griffin-Lim of the source log-mel)",
              speaker=u.item.speaker, text=u.item.text, split=u.item.split)
        for method, model in models.items():
            x = model.normalise(u.logmel.to(device)).unsqueeze(0)
            for target in targets:
                y, _ = model.convert(x, torch.tensor([speaker_ids[target]], device=device))
                kind = "reconstruction" if target == u.item.speaker else "converted"
                write(f"{tag}_{method.lower()}_to_{target}.wav", vocode(model.denormalise(y[0])), kind=kind,
                      method=method, speaker=u.item.speaker, target_speaker=target, text=u.item.text,
                      split=u.item.split)
    return {"vocoder": f"Griffin-Lim, {p.gl_iterations} fast iterations, momentum 0.99, frames interpolated to a "
                       "10 ms hop (vqcore.speech.logmel.griffin_lim)", "examples": entries}


# -- assembling the result files ----------------------------------------------------------------------

def _normalised_rows(counts: np.ndarray) -> list[list[float]]:
    totals = counts.sum(1, keepdims=True)
    return [(row / t if t else row.astype(float)).tolist() for row, t in zip(counts, totals[:, 0])]


def _histogram_file(codes: np.ndarray, labels: list[str], classes: Sequence[str], method: str, seed: int,
                    p: InterspeechPreset, meta: dict, what: str) -> results.ResultFile:
    present = [c for c in classes if c in set(labels)]
    counts = class_histograms(codes, labels, present, 2 ** p.bits)
    series = {c: results.Series(values=row) for c, row in zip(present, _normalised_rows(counts))}
    context = {"Method": method, "Seed": seed, "x axis": f"codebook index (key {INDEX_X_KEY!r}); each series is the "
               f"share of the test frames of that {what} coded with each index (sums to 1)"}
    extra = {"Frames": {c: int(n) for c, n in zip(present, counts.sum(1))}}
    return results.ResultFile(metric=f"Share of the {what}'s test frames", x_key=INDEX_X_KEY,
                              x=[str(i) for i in range(2 ** p.bits)], series=series, context=context,
                              meta=meta, extra=extra)


def run_interspeech(figures: Iterable[str] = FIGURES, preset: str | InterspeechPreset = "quick",
                    results_dir: str | Path = "Results", device: str | torch.device | None = "auto",
                    progress: bool = True, seeds: Sequence[int] | None = None,
                    cache_dir: str | Path | None = None) -> list[Path]:
    """Run (or resume) the SFVQ experiments for ``figures`` and write their result files.

    Args:
        figures: keys of :data:`FIGURES`.
        preset: ``"smoke"``, ``"quick"``, ``"paper"`` or an :class:`InterspeechPreset`.
        results_dir: the ``Results`` folder; files go to ``<results_dir>/interspeech2023/``.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ...
        progress: tqdm bars.
        seeds: override the preset's seeds (the first is the model of record).
        cache_dir: trained models (default ``<results_dir>/.runs/interspeech/<preset>``).
    Returns:
        The result files written.
    """
    p = get_preset(preset)
    figs = _check_figures(figures)
    seeds = tuple(int(s) for s in (p.seeds if seeds is None else seeds))
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    dev = resolve_device(device)
    results_dir = Path(results_dir)
    written: list[Path] = []
    if "sfvq2d" in figs:
        written.append(_run_2d(p, results_dir, seeds[0], dev, progress))
    speech = [f for f in figs if f != "sfvq2d"]
    if not speech:
        return written
    start = time.perf_counter()
    analysis = LogMel(n_mels=p.n_mels)
    corpus, train, test = _load_speech(p, analysis, progress)
    speaker_ids = {s: i for i, s in enumerate(sorted({u.item.speaker for u in train}))}
    cache = _Cache(Path(cache_dir) if cache_dir is not None else results_dir / ".runs" / "interspeech" / p.name)
    settings = p.training_settings()
    records: dict[tuple[str, int], dict] = {}
    need_all = "sfvqdivergence" in speech
    runs = [(m, s) for s in (seeds if need_all else seeds[:1]) for m in METHODS]
    for method, seed in tqdm(runs, desc=f"interspeech ({p.name})", disable=not progress, unit="model"):
        record = cache.get(method, seed, settings)
        if record is None:
            model, log = train_voice_conversion(method, p, train, speaker_ids, seed, dev, progress)
            record = {**log, **_evaluate(model, train, test, speaker_ids, dev), "device": str(dev),
                      "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            cache.put(method, seed, settings, model, record)
            logger.info("%s seed %d: trained in %.0f s, final loss %.3f", method, seed, log["train_seconds"],
                        log["losses"][-1] if log["losses"] else float("nan"))
        records[(method, seed)] = record
    wall = time.perf_counter() - start

    num_codes = 2 ** p.bits
    phones = [ph for u in test for ph in u.phones]
    groups = [g for u in test for g in u.groups]
    codes = {k: np.array([c for cs in r["test_codes"] for c in cs], dtype=np.int64) for k, r in records.items()}
    data = {"corpus": corpus.manifest["config"], "corpus_seed": p.corpus_seed,
            "espeak": corpus.manifest["espeak"], "split": corpus.manifest["split"],
            "test_frames": len(phones), "features": analysis.config()}
    model_desc = {"SFVQ": f"SpaceFillingVQ, {num_codes} vertices (grown from 4 by doubling, {p.bits - 1} equal "
                          "phases), NSVQ around the dithered curve point; index = nearest vertex",
                  "VQ": f"VQ, {num_codes} codewords, NSVQ, codebook replacement every {p.replace_every} steps"}
    common = {"paper": "interspeech2023", "data": data, "methods": model_desc, "settings": p.as_dict(),
              "model": "VoiceConversionVQVAE (vqcore.models.voice_conversion)", "wall_time_s": round(wall, 3),
              "wall_time_definition": "this call's time to train the missing models and read the stored ones",
              "compute_seconds": round(sum(r["train_seconds"] for r in records.values()), 1),
              "train_seconds": {f"{m} seed {s}": round(r["train_seconds"], 1) for (m, s), r in records.items()},
              "train_reconstruction_mse": {f"{m} seed {s}": round(r["train_reconstruction_mse"], 4)
                                           for (m, s), r in records.items()}}
    record_seed = seeds[0]
    one = {"over": "the test frames of one trained model (the first seed); no band"}
    folder = results_dir / FOLDER
    from ..speech.phones import GROUP_NAMES, GROUPS

    if "sfvqgroups" in speech:
        meta = results.make_meta(p.name, [record_seed], dev, figure="sfvqgroups", **one, **common)
        written.append(results.write(_histogram_file(codes[("SFVQ", record_seed)], groups, GROUP_NAMES, "SFVQ",
                                                     record_seed, p, meta, "phone group"), folder / FILES["sfvqgroups"]))
    if "sfvqfricatives" in speech:
        meta = results.make_meta(p.name, [record_seed], dev, figure="sfvqfricatives", **one, **common)
        written.append(results.write(_histogram_file(codes[("SFVQ", record_seed)], phones, GROUPS["fricatives"],
                                                     "SFVQ", record_seed, p, meta, "phone"),
                                     folder / FILES["sfvqfricatives"]))
    if "sfvqcontrol" in speech:
        meta = results.make_meta(p.name, [record_seed], dev, figure="sfvqcontrol", **one, **common)
        written.append(results.write(_histogram_file(codes[("VQ", record_seed)], groups, GROUP_NAMES, "VQ",
                                                     record_seed, p, meta, "phone group"), folder / FILES["sfvqcontrol"]))
    if "sfvqdivergence" in speech:
        per_seed: dict[str, list[float]] = {}
        for method in METHODS:
            for s in seeds:
                c = codes[(method, s)]
                per_seed.setdefault(method, []).append(adjacent_divergence(c, phones, num_codes, p.min_count))
                perm = permuted_adjacent_divergence(c, phones, num_codes, p.min_count, p.permutations, seed=s)
                per_seed.setdefault(f"{method} permuted", []).append(float(np.nanmean(perm)))
                per_seed.setdefault(f"{method} used indices", []).append(len(np.unique(c)))
        series = {}
        for name, values in per_seed.items():
            if name.endswith("used indices"):
                continue
            summary = results.summarize(values, quantiles=p.quantiles)
            series[name] = results.Series(mean=[summary.mean], low=[summary.low], high=[summary.high])
        meta = results.make_meta(
            p.name, seeds, dev, quantiles=p.quantiles, figure="sfvqdivergence",
            over="seeds (one trained model per seed and method; the value of a seed is over all test frames)",
            metric_definition=(f"mean Jensen-Shannon divergence (bits) between the TIMIT-phone distributions of "
                               f"the test frames coded with indices i and i+1, over the pairs where both indices "
                               f"code at least {p.min_count} frames; 'permuted': the same after relabelling the "
                               f"indices by a random permutation, mean over {p.permutations} permutations "
                               f"(vqcore.eval.index_divergence)"), **common)
        result = results.ResultFile(
            metric="Adjacent-index Jensen-Shannon divergence", x_key="VQ Bitrate", x=[f"{p.bits} bits"],
            series=series, context={"Labels": "TIMIT phones"}, meta=meta,
            extra={"Per seed": {"Seed": list(seeds), **per_seed}})
        written.append(results.write(result, folder / FILES["sfvqdivergence"]))
    if "sfvqtime" in speech:
        from ..speech.corpus import SFVQ_SENTENCE

        sentence = next(u for u in test if u.item.text == SFVQ_SENTENCE)
        k = test.index(sentence)
        models = {m: cache.load_model(m, record_seed, p, len(speaker_ids), dev) for m in METHODS}
        audio = _audio_examples(models, corpus, train, sentence, speaker_ids, analysis, p, folder / "audio", dev)
        for m, model in models.items():
            save_quantizer(model.quantizer.cpu(), folder / "models" / f"{m.lower()}_seed{record_seed}.safetensors")
        hop_s = analysis.hop / analysis.sample_rate
        times = [f"{(i + 0.5) * hop_s:.3f} s" for i in range(sentence.logmel.shape[0])]
        segs = sentence.item.segments
        meta = results.make_meta(p.name, [record_seed], dev, figure="sfvqtime", **one, **common)
        result = results.ResultFile(
            metric="Codebook index", x_key=TIME_X_KEY, x=times,
            series={m: results.Series(values=[float(c) for c in records[(m, record_seed)]["test_codes"][k]])
                    for m in METHODS},
            context={"Sentence": sentence.item.text, "Speaker": sentence.item.speaker, "Item": sentence.item.id,
                     "Source audio": "audio/test_source.wav",
                     "x axis": f"frame centre in seconds (key {TIME_X_KEY!r}), 20 ms frames"},
            meta=meta,
            extra={"Phones": {"start_s": [s.start / analysis.sample_rate for s in segs],
                              "end_s": [s.end / analysis.sample_rate for s in segs],
                              "timit": [s.timit for s in segs], "group": [s.group for s in segs]},
                   "Audio examples": audio})
        written.append(results.write(result, folder / FILES["sfvqtime"]))
    return written
