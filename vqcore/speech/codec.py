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

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from ..quantizers.base import Quantizer
from ..quantizers.packing import pack_codes, packed_size, unpack_codes
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
from .mdct import MDCT

# the frame layout and the bit allocation live in vqcore.speech.allocation; the codec's users
# find them here too
__all__ = ["METHODS", "POWERS", "SHAPE_LEVELS_DB", "SpeechCodec", "check_power", "compress", "expand", "sharpen"]

GAIN_MIN_DB = -84.0
GAIN_STEP_DB = 1.5
#: band level relative to the frame gain (the loudest band), one per 3-bit shape index
SHAPE_LEVELS_DB: tuple[float, ...] = (0.0, -4.0, -8.0, -12.0, -17.0, -23.0, -30.0, -40.0)
NOISE_FILL_SEED = 0x5EED

METHODS = ("avq", "rvq", "pvq")

assert len(SHAPE_LEVELS_DB) == 2 ** SHAPE_BITS


def _as_audio(audio: Any) -> torch.Tensor:
    """1-D float64 tensor in [-1, 1] from a numpy array / tensor (int16 is scaled by 1/32768)."""
    if isinstance(audio, torch.Tensor):
        t = audio.detach().cpu()
    else:
        t = torch.as_tensor(np.asarray(audio))
    if t.dtype == torch.int16:
        t = t.to(torch.float64) / 32768.0
    t = t.to(torch.float64)
    if t.dim() != 1 or t.numel() == 0:
        raise ValueError(f"audio must be a non-empty 1-D signal, got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError("audio contains NaN or inf")
    return t


def compress(y: torch.Tensor, power: float) -> torch.Tensor:
    """``sign(y) |y|^power`` elementwise (any shape; ``power`` 1: ``y`` itself)."""
    return y if power == 1.0 else y.sign() * y.abs().pow(power)


def expand(z: torch.Tensor, power: float) -> torch.Tensor:
    """The inverse of :func:`compress`: ``sign(z) |z|^(1 / power)``."""
    return z if power == 1.0 else z.sign() * z.abs().pow(1.0 / power)


def sharpen(q: torch.Tensor, power: float) -> torch.Tensor:
    """Each vector (last axis) made peakier with its energy kept: ``sign(q) |q|^power``, rescaled to
    ``||q||`` (``power`` 1: ``q`` itself; an all-zero vector stays zero)."""
    if power == 1.0:
        return q
    s = q.sign() * q.abs().pow(power)
    return s * (q.pow(2).sum(-1, keepdim=True) / s.pow(2).sum(-1, keepdim=True).clamp_min(1e-30)).sqrt()


#: the codec's powers: name -> (its range in words, the check, what 1 means)
POWERS = {"compand": ("(0, 1]", lambda v: 0.0 < v <= 1.0, "no companding"),
           "postfilter": ("[1, 4]", lambda v: 1.0 <= v <= 4.0, "no postfilter")}


def check_power(name: str, value: Any, *, numbers_only: bool = False) -> float:
    """``value`` as a float when it is a valid ``name`` power (``"compand"``: in (0, 1]; ``"postfilter"``:
    in [1, 4]; with ``numbers_only``, an int or float, not a numeric string), else a ValueError naming ``name``."""
    interval, ok, one = POWERS[name]
    try:
        number = float(value) if not numbers_only or isinstance(value, (int, float)) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and ok(number)):
        raise ValueError(f"{name} must be a number in {interval} (1: {one}), got {value!r}")
    return number


class SpeechCodec(nn.Module):
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
        super().__init__()
        self.noise_fill = float(noise_fill)
        self.compand = check_power("compand", compand)
        self.postfilter = check_power("postfilter", postfilter)
        self.allocation = bit_allocation(bitrate)
        self.bitrate = float(bitrate)
        self.method = method.lower()
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        self.mdct = MDCT(FRAME_SIZE, window)
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
        self.register_buffer("_band_index", torch.repeat_interleave(
            torch.arange(len(BAND_WIDTHS)), torch.tensor(BAND_WIDTHS)), persistent=False)

    # -- description -----------------------------------------------------------------------
    @property
    def bits_per_frame(self) -> int:
        return self.allocation.bits_per_frame

    def num_frames(self, length: int) -> int:
        """Frames for a signal of ``length`` samples: ``ceil(length / 320) + 1``."""
        return self.mdct.num_frames(length)

    def packed_bytes(self, length: int) -> int:
        """Size of :meth:`encode`'s output for ``length`` samples: ``ceil(frames * bits_per_frame / 8)``."""
        return packed_size(self.num_frames(length), self.allocation.field_widths)

    def extra_repr(self) -> str:
        extra = "" if self.compand == 1.0 else f", compand={self.compand:g}"
        extra += "" if self.postfilter == 1.0 else f", postfilter={self.postfilter:g}"
        return (f"bitrate={self.bitrate:g} kbit/s, method={self.method!r}{extra}, "
                f"groups={self.allocation.describe()['quantizers']}")

    # -- companding --------------------------------------------------------------------------
    def compress(self, normalized: torch.Tensor) -> torch.Tensor:
        """Normalized coefficients (any shape) -> what the quantizers see: ``sign(y) |y|^compand``."""
        return compress(normalized, self.compand)

    def expand(self, quantized: torch.Tensor) -> torch.Tensor:
        """The quantizers' output (any shape) -> normalized coefficients: ``sign(z) |z|^(1 / compand)``."""
        return expand(quantized, self.compand)

    def reconstruct(self, quantized: torch.Tensor) -> torch.Tensor:
        """The quantizers' output, sub-vectors ``(T, 20, 16)`` (uncoded ones zero) -> the decoder's
        normalized sub-vectors: expanded (:meth:`expand`), then postfiltered (:func:`sharpen`)."""
        return sharpen(self.expand(quantized), self.postfilter)

    # -- envelope ----------------------------------------------------------------------------
    def _band_levels_db(self, coeffs: torch.Tensor) -> torch.Tensor:
        """``(T, 320)`` -> ``(T, 14)`` band levels, ``10 log10(mean square)``."""
        sq = coeffs.pow(2)
        sums = torch.zeros(coeffs.shape[0], len(BAND_WIDTHS), dtype=coeffs.dtype)
        sums.index_add_(1, self._band_index.cpu(), sq)
        mean = sums / torch.tensor(BAND_WIDTHS, dtype=coeffs.dtype)
        return 10 * torch.log10(mean + 1e-12)

    @staticmethod
    def quantize_envelope(levels_db: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Band levels ``(T, 14)`` dB -> ``(gain index (T,), shape indices (T, 14))``."""
        top = levels_db.max(dim=1).values
        gain = torch.clamp(torch.round((top - GAIN_MIN_DB) / GAIN_STEP_DB), 0, 2 ** GAIN_BITS - 1).long()
        rel = levels_db - (GAIN_MIN_DB + GAIN_STEP_DB * gain.to(levels_db.dtype)).unsqueeze(1)
        table = torch.tensor(SHAPE_LEVELS_DB, dtype=levels_db.dtype)
        shape = (rel.unsqueeze(-1) - table).abs().argmin(-1)
        return gain, shape

    @staticmethod
    def decode_envelope(gain: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        """Indices -> decoded band levels ``(T, 14)`` dB."""
        table = torch.tensor(SHAPE_LEVELS_DB, dtype=torch.float64)
        return (GAIN_MIN_DB + GAIN_STEP_DB * gain.to(torch.float64)).unsqueeze(1) + table[shape]

    def _scales(self, gain: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        """Per-coefficient scale ``(T, 320)`` from the envelope indices."""
        band_rms = 10 ** (self.decode_envelope(gain, shape) / 20)
        return band_rms[:, self._band_index.cpu()]

    # -- analysis ----------------------------------------------------------------------------
    def analyze(self, audio: Any) -> dict[str, torch.Tensor]:
        """MDCT, envelope indices and normalized spectrum of ``audio``.

        Returns:
            a dict with ``"coefficients"`` ``(T, 320)`` float64, ``"gain"`` ``(T,)``, ``"shape"``
            ``(T, 14)``, ``"scale"`` ``(T, 320)`` float64, ``"normalized"`` ``(T, 320)`` float32
            (coefficients / scale) and ``"target"`` ``(T, 320)`` float32 (the normalized
            coefficients companded by :meth:`compress`: what the quantizers see).
        """
        x = _as_audio(audio)
        coeffs = self.mdct.forward(x)
        gain, shape = self.quantize_envelope(self._band_levels_db(coeffs))
        scale = self._scales(gain, shape)
        normalized = (coeffs / scale).to(torch.float32)
        return {"coefficients": coeffs, "gain": gain, "shape": shape, "scale": scale,
                "normalized": normalized, "target": self.compress(normalized)}

    def normalized_spectrum(self, audio: Any) -> torch.Tensor:
        """``(T, 320)`` float32: the envelope-normalized spectrum (before companding and the split
        into sub-vectors)."""
        return self.analyze(audio)["normalized"]

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
        parts = [a["gain"].unsqueeze(1), a["shape"]]
        codes = torch.zeros(frames, NUM_SUBVECTORS, STAGES, dtype=torch.long)
        for b, ps in self.allocation.groups.items():
            q = self.quantizers[f"b{b}"]
            vecs = sub[:, ps].to(q.codebooks.device)
            codes[:, ps] = q.encode(vecs).cpu()
        parts.append(codes[:, self.allocation.coded].reshape(frames, -1))
        return torch.cat(parts, dim=1)

    @torch.no_grad()
    def decode_fields(self, fields: torch.Tensor, length: int | None = None) -> np.ndarray:
        """Inverse of :meth:`encode_fields`: ``(T, F)`` fields -> float32 audio."""
        frames = fields.shape[0]
        n_bands = len(BAND_WIDTHS)
        gain, shape = fields[:, 0], fields[:, 1:1 + n_bands]
        coded = self.allocation.coded
        codes = torch.zeros(frames, NUM_SUBVECTORS, STAGES, dtype=torch.long)
        codes[:, coded] = fields[:, 1 + n_bands:].reshape(frames, len(coded), STAGES)
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
        coeffs = sub.reshape(frames, FRAME_SIZE) * self._scales(gain, shape)
        out = self.mdct.inverse(coeffs, length)
        return out.to(torch.float32).numpy()

    def encode(self, audio: Any) -> bytes:
        """Audio (16 kHz, 1-D, float in [-1, 1] or int16) -> the packed bitstream."""
        fields = self.encode_fields(audio)
        return pack_codes(fields, self.allocation.field_widths)

    def decode(self, data: bytes, length: int | None = None) -> np.ndarray:
        """Bitstream -> float32 audio: ``(frames - 1) * 320`` samples, or the first ``length``."""
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"data must be bytes, got {type(data).__name__}")
        frames = len(data) * 8 // self.bits_per_frame
        if frames < 2:
            raise ValueError(f"{len(data)} bytes hold {frames} frames of {self.bits_per_frame} bits; need at least 2")
        fields = unpack_codes(bytes(data), frames, self.allocation.field_widths)
        return self.decode_fields(fields, length)

    def roundtrip(self, audio: Any) -> tuple[np.ndarray, bytes]:
        """``(decode(encode(audio)) trimmed to the input length, the bytes)``."""
        x = _as_audio(audio)
        data = self.encode(x)
        return self.decode(data, length=x.numel()), data
