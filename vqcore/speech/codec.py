"""A transform speech codec whose spectrum is quantized by AVQ, RVQ or PVQ (trained with NSVQ).

The codec of the ICASSP 2023 figure 1 experiment, as this project builds it (the paper gives no
bit-exact codec; every choice here is documented in the book):

1. **Frames.** 16 kHz audio, 20 ms frames: an MDCT (:mod:`vqcore.speech.mdct`, sine window) with
   a 320-sample hop gives 320 coefficients per frame (25 Hz each, 0..8 kHz).
2. **Envelope side information, 48 bits per frame (2.4 kbit/s) at every bitrate.** 14 bands
   (:data:`BAND_WIDTHS`). The frame gain is the level of the loudest band (``10 log10`` of its
   mean square), scalar-quantized with 6 bits (1.5 dB steps from -84 dB). Each band's level
   relative to the gain is scalar-quantized with 3 bits to one of :data:`SHAPE_LEVELS_DB`
   (finer near the top, where bands are loud). The decoded band levels give a scale per
   coefficient.
3. **Normalized spectrum.** Coefficients divided by their decoded band scale (unit mean square
   where the envelope is exact), split into 20 sub-vectors of 16 coefficients (400 Hz each).
4. **Vector quantization.** Each sub-vector ``p`` gets a 4-stage quantizer with ``b_p`` bits per
   stage (``4 b_p`` bits), from the fixed allocation of :func:`vqcore.speech.allocation.bit_allocation`
   (most bits at low frequencies; 3 to 10 bits per stage, or none). Sub-vectors with equal ``b_p``
   share one quantizer (trained on all of them: the normalization makes bands alike). Sub-vectors
   with ``b_p = 0`` are not transmitted; the decoder leaves them at zero by default
   (``noise_fill`` > 0 fills them with noise at that fraction of the envelope's level: with
   trained quantizers at 8 kbit/s, filling at the full level lowered both PESQ and pSNR).
   **Companding** (``compand`` = ``a``, 1 by default: off): the quantizers see every normalized
   coefficient ``y`` as ``sign(y) |y|^a``, and the decoder raises their output back,
   ``sign(z) |z|^(1/a)`` (:func:`compress`, :func:`expand`). With ``a < 1`` the squared error
   the quantizers minimize (in training and in encoding) is, for small errors, the normalized
   error weighted per coefficient by ``a^2 |y|^(2a - 2)``: the weight grows where the spectrum
   is low, so the valleys of the fine structure (between harmonics, inside a band) are kept
   deeper, at the price of a larger error on the peaks. The envelope normalization shapes the
   noise band by band only; this weighting follows the signal inside the sub-vectors. The bits
   do not change; ``compand`` is a codec setting, stored with the codec.
   **Postfilter** (``postfilter`` = ``p``, 1 by default: off): the decoder makes every decoded
   coded sub-vector ``q`` peakier at the same energy, ``sign(q) |q|^p`` rescaled to ``||q||``
   (:func:`sharpen`), as the adaptive postfilters of speech decoders deepen the valleys of the
   spectrum between formants and harmonics. A decoder setting, not in the bitstream; stored with
   the codec.
5. **Bits.** Per frame: 6 gain bits, 14 x 3 shape bits, then the codes of the coded sub-vectors
   (4 fields of ``b_p`` bits each, low frequencies first), packed MSB first with
   :func:`vqcore.quantizers.packing.pack_codes`, frame after frame; the message is padded to whole bytes
   once, at its end. ``bits per frame * 50 frames/s`` is exactly the bitrate label.

A signal of ``L`` samples takes ``ceil(L / 320) + 1`` frames (the MDCT's one frame of overlap);
:meth:`SpeechCodec.decode` returns ``ceil(L / 320) * 320`` samples, or exactly ``length``.

Example::

    codec = SpeechCodec(13.2, method="avq")
    codec.fit(training_audio, steps=2000)       # NSVQ training of every quantizer
    data = codec.encode(audio)                  # bytes
    out = codec.decode(data, length=len(audio))
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from ..quantizers.base import Quantizer
from ..quantizers.registry import build_quantizer
from ..training import fit_quantizer
from .allocation import (
    BAND_WIDTHS,
    BITRATES,
    FRAME_SIZE,
    FRAMES_PER_SECOND,
    GAIN_BITS,
    NUM_SUBVECTORS,
    SAMPLE_RATE,
    SHAPE_BITS,
    SIDE_BITS,
    STAGES,
    SUBVECTOR_DIM,
    BitAllocation,
    bit_allocation,
    bit_allocation_markdown,
)
from .envelope import ENVELOPE_FIELDS, POWERS, SHAPE_LEVELS_DB, EnvelopeCodec, check_power, compress, expand

# the frame layout and the bit allocation live in vqcore.speech.allocation, the envelope in
# vqcore.speech.envelope; the codec's users find them here too
__all__ = ["METHODS", "POWERS", "SHAPE_LEVELS_DB", "SpeechCodec", "check_power", "compress", "expand", "sharpen"]

NOISE_FILL_SEED = 0x5EED

METHODS = ("avq", "rvq", "pvq")


def sharpen(q: torch.Tensor, power: float) -> torch.Tensor:
    """Each vector (last axis) made peakier with its energy kept: ``sign(q) |q|^power``, rescaled to
    ``||q||`` (``power`` 1: ``q`` itself; an all-zero vector stays zero)."""
    if power == 1.0:
        return q
    s = q.sign() * q.abs().pow(power)
    return s * (q.pow(2).sum(-1, keepdim=True) / s.pow(2).sum(-1, keepdim=True).clamp_min(1e-30)).sqrt()


class SpeechCodec(EnvelopeCodec):
    """The codec at one bitrate, with one quantizer per group of sub-vectors (see the module docstring).

    Args:
        bitrate: kbit/s, e.g. one of :data:`BITRATES`.
        method: ``"avq"``, ``"rvq"`` or ``"pvq"`` (4 stages each); ignored for groups given in ``quantizers``.
        quantizers: optional ``{"b<bits>": Quantizer}`` to use instead of fresh ones (dim 16, 4 stages,
            that many bits per stage).
        beam_width: AVQ beam width (the paper's 16).
        window: MDCT window, ``"sine"`` or ``"kbd"``.
        noise_fill: level of the noise that replaces the uncoded sub-vectors, relative to the
            envelope (0, the default: silence; 1: the band's decoded level). A decoder setting,
            not in the bitstream.
        compand: the power ``a`` in (0, 1] of the companding of the normalized coefficients
            before quantization (1, the default: none; see the module docstring). Encoder and
            decoder must agree; it is stored with the codec.
        postfilter: the power ``p`` in [1, 4] of the decoder's postfilter (1, the default: none;
            see the module docstring). A decoder setting, not in the bitstream.

    Attributes:
        allocation: the :class:`BitAllocation`.
        quantizers: ``nn.ModuleDict`` ``{"b<bits>": quantizer}``.
    """

    def __init__(self, bitrate: float, method: str = "rvq", *, quantizers: dict[str, Quantizer] | None = None,
                 beam_width: int = 16, window: str = "sine", noise_fill: float = 0.0,
                 compand: float = 1.0, postfilter: float = 1.0) -> None:
        super().__init__(window, compand)
        self.noise_fill = float(noise_fill)
        self.postfilter = check_power("postfilter", postfilter)
        self.allocation = bit_allocation(bitrate)
        self.bitrate = float(bitrate)
        self.method = method.lower()
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        given = dict(quantizers or {})
        mods = {}
        for b in self.allocation.groups:
            key = f"b{b}"
            q = given.pop(key, None)
            if q is None:
                q = build_quantizer(self.method, SUBVECTOR_DIM, b * STAGES, stages=STAGES, beam_width=beam_width,
                                    ordered_track=False)  # AVQ: the paper's free-order search
            if q.dim != SUBVECTOR_DIM or q.num_stages != STAGES or q.bits_per_stage != b:
                raise ValueError(f"quantizer {key} must have dim {SUBVECTOR_DIM}, {STAGES} stages and {b} bits per "
                                 f"stage; got dim {q.dim}, {q.num_stages} stages, {q.bits_per_stage} bits")
            mods[key] = q
        if given:
            raise ValueError(f"quantizers {sorted(given)} match no group at {bitrate} kbit/s; groups: {sorted(mods)}")
        self.quantizers = nn.ModuleDict(mods)

    # -- description -----------------------------------------------------------------------
    @property
    def field_widths(self) -> list[int]:
        """The bits of every field of a frame: gain, 14 shapes, then 4 codes per coded sub-vector."""
        return self.allocation.field_widths

    def extra_repr(self) -> str:
        extra = "" if self.compand == 1.0 else f", compand={self.compand:g}"
        extra += "" if self.postfilter == 1.0 else f", postfilter={self.postfilter:g}"
        return (f"bitrate={self.bitrate:g} kbit/s, method={self.method!r}{extra}, "
                f"groups={self.allocation.describe()['quantizers']}")

    # -- decoder shaping -------------------------------------------------------------------
    def reconstruct(self, quantized: torch.Tensor) -> torch.Tensor:
        """The quantizers' output, sub-vectors ``(T, 20, 16)`` (uncoded ones zero) -> the decoder's
        normalized sub-vectors: expanded (:meth:`expand`), then postfiltered (:func:`sharpen`)."""
        return sharpen(self.expand(quantized), self.postfilter)

    # -- training data -----------------------------------------------------------------------
    @staticmethod
    def subvectors(normalized: torch.Tensor) -> torch.Tensor:
        """``(T, 320)`` -> ``(T, 20, 16)``."""
        return normalized.reshape(normalized.shape[0], NUM_SUBVECTORS, SUBVECTOR_DIM)

    def training_vectors(self, audios: Iterable[Any], max_frames: int | None = None) -> dict[str, torch.Tensor]:
        """Training data for every quantizer: ``{"b<bits>": (N, 16) float32}`` (all its sub-vectors of all
        frames, companded as the encoder compands them).

        Args:
            audios: signals (numpy or torch, 16 kHz).
            max_frames: keep at most this many frames in total (the first ones), for small runs.
        """
        spectra, frames = [], 0
        for a in audios:
            y = self.analyze(a)["target"]
            spectra.append(y)
            frames += y.shape[0]
            if max_frames is not None and frames >= max_frames:
                break
        if not spectra:
            raise ValueError("training_vectors needs at least one signal")
        return self.group_vectors(self.subvectors(torch.cat(spectra)[:max_frames]))

    def group_vectors(self, sub: torch.Tensor) -> dict[str, torch.Tensor]:
        """Sub-vectors ``(T, 20, 16)`` -> ``{"b<bits>": (T * len(group), 16)}``: each quantizer's vectors,
        the sub-vectors of its group in every frame."""
        return {f"b{b}": sub[:, ps].reshape(-1, SUBVECTOR_DIM).contiguous() for b, ps in self.allocation.groups.items()}

    def fit(self, audios: Iterable[Any] | dict[str, torch.Tensor], steps: int, **fit_kwargs: Any) -> dict[str, Any]:
        """Train every quantizer with :func:`vqcore.training.fit_quantizer` (NSVQ by default).

        Args:
            audios: training signals, or the output of :meth:`training_vectors`.
            steps: training steps per quantizer.
            fit_kwargs: passed on (``batch_size``, ``lr``, ``seed``, ``progress``, ...).

        Returns:
            ``{"b<bits>": TrainingLog}``.
        """
        data = audios if isinstance(audios, dict) else self.training_vectors(audios)
        logs = {}
        for key, q in self.quantizers.items():
            vectors = data[key].to(q.codebooks.device)
            logs[key] = fit_quantizer(q, vectors, steps, **fit_kwargs)
        self.eval()
        return logs

    # -- bitstream -----------------------------------------------------------------------------
    @torch.no_grad()
    def encode_fields(self, audio: Any) -> torch.Tensor:
        """Every field of every frame: ``(T, len(field_widths))`` long (gain, shapes, then VQ codes)."""
        a = self.analyze(audio)
        sub = self.subvectors(a["target"])
        frames = sub.shape[0]
        codes = torch.zeros(frames, NUM_SUBVECTORS, STAGES, dtype=torch.long)
        for b, ps in self.allocation.groups.items():
            q = self.quantizers[f"b{b}"]
            vecs = sub[:, ps].to(q.codebooks.device)
            codes[:, ps] = q.encode(vecs).cpu()
        return torch.cat([self.envelope_fields(a), codes[:, self.allocation.coded].reshape(frames, -1)], dim=1)

    @torch.no_grad()
    def decode_fields(self, fields: torch.Tensor, length: int | None = None) -> np.ndarray:
        """Inverse of :meth:`encode_fields`: ``(T, F)`` fields -> float32 audio."""
        frames = fields.shape[0]
        side = len(ENVELOPE_FIELDS)
        coded = self.allocation.coded
        codes = torch.zeros(frames, NUM_SUBVECTORS, STAGES, dtype=torch.long)
        codes[:, coded] = fields[:, side:].reshape(frames, len(coded), STAGES)
        sub = torch.zeros(frames, NUM_SUBVECTORS, SUBVECTOR_DIM, dtype=torch.float64)
        for b, ps in self.allocation.groups.items():
            q = self.quantizers[f"b{b}"]
            sub[:, ps] = q.decode(codes[:, ps].to(q.codebooks.device)).detach().cpu().to(torch.float64)
        sub = self.reconstruct(sub)
        empty = self.allocation.uncoded
        if empty and self.noise_fill > 0:  # noise filling, the same for every decoder
            gen = torch.Generator().manual_seed(NOISE_FILL_SEED)
            noise = torch.randn(frames, len(empty), SUBVECTOR_DIM, generator=gen, dtype=torch.float64)
            sub[:, empty] = self.noise_fill * noise
        return self.synthesize(fields, sub.reshape(frames, FRAME_SIZE), length)
