"""The frame and envelope layer that every speech codec of this project shares.

:class:`EnvelopeCodec` does what comes before and after the vector quantization:

1. **Frames.** 16 kHz audio, 20 ms frames: an MDCT (:mod:`vqcore.speech.mdct`) with a 320-sample
   hop gives 320 coefficients per frame (25 Hz each, 0..8 kHz).
2. **Envelope side information, 48 bits per frame (2.4 kbit/s).** 14 bands
   (:data:`~vqcore.speech.allocation.BAND_WIDTHS`). The frame gain is the level of the loudest
   band (``10 log10`` of its mean square), scalar-quantized with 6 bits (1.5 dB steps from
   -84 dB). Each band's level relative to the gain is scalar-quantized with 3 bits to one of
   :data:`SHAPE_LEVELS_DB`. The decoded band levels give a scale per coefficient.
3. **Normalized spectrum.** Coefficients divided by their decoded band scale (unit mean square
   where the envelope is exact), optionally companded (:func:`compress`): what a codec's
   quantizers code (:meth:`EnvelopeCodec.analyze`'s ``"target"``).
4. **Bits.** A frame's fields are the gain, the 14 shapes, then the codec's own codes
   (:attr:`EnvelopeCodec.field_widths`), packed MSB first frame after frame with
   :func:`vqcore.quantizers.packing.pack_codes`; the message is padded to whole bytes once.

A subclass says how the normalized spectrum is coded: :attr:`~EnvelopeCodec.field_widths`,
:meth:`~EnvelopeCodec.encode_fields` and :meth:`~EnvelopeCodec.decode_fields` (which builds the
decoded normalized spectrum and hands it to :meth:`~EnvelopeCodec.synthesize`). The codecs:
:class:`~vqcore.speech.codec.SpeechCodec` (sub-vectors coded by AVQ, RVQ or PVQ) and
:class:`~vqcore.speech.vqvae_codec.SpeechVQVAE` (a learned encoder and decoder around one VQ
codebook).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ..quantizers.packing import pack_codes, packed_size, unpack_codes
from .allocation import BAND_WIDTHS, FRAME_SIZE, GAIN_BITS, SHAPE_BITS
from .mdct import MDCT

__all__ = ["POWERS", "SHAPE_LEVELS_DB", "EnvelopeCodec", "as_audio", "check_power", "compress", "expand"]

GAIN_MIN_DB = -84.0
GAIN_STEP_DB = 1.5
#: band level relative to the frame gain (the loudest band), one per 3-bit shape index
SHAPE_LEVELS_DB: tuple[float, ...] = (0.0, -4.0, -8.0, -12.0, -17.0, -23.0, -30.0, -40.0)
#: the side information's field widths: the gain, then one shape per band
ENVELOPE_FIELDS: tuple[int, ...] = (GAIN_BITS,) + (SHAPE_BITS,) * len(BAND_WIDTHS)

assert len(SHAPE_LEVELS_DB) == 2 ** SHAPE_BITS


def as_audio(audio: Any) -> torch.Tensor:
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


#: the codecs' powers: name -> (its range in words, the check, what 1 means)
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


class EnvelopeCodec(nn.Module):
    """Frames, envelope side information, normalization, synthesis and the bitstream (see the module
    docstring); a subclass codes the normalized spectrum.

    Args:
        window: MDCT window, ``"sine"`` or ``"kbd"``.
        compand: the power ``a`` in (0, 1] of the companding of the normalized coefficients before
            quantization (1: none). Encoder and decoder must agree.
    """

    def __init__(self, window: str = "sine", compand: float = 1.0) -> None:
        super().__init__()
        self.compand = check_power("compand", compand)
        self.mdct = MDCT(FRAME_SIZE, window)
        self.register_buffer("_band_index", torch.repeat_interleave(
            torch.arange(len(BAND_WIDTHS)), torch.tensor(BAND_WIDTHS)), persistent=False)

    # -- what a subclass provides ----------------------------------------------------------
    @property
    def field_widths(self) -> list[int]:
        """The bits of every field of a frame: :data:`ENVELOPE_FIELDS`, then the codec's codes."""
        raise NotImplementedError

    def encode_fields(self, audio: Any) -> torch.Tensor:
        """Every field of every frame: ``(T, len(field_widths))`` long."""
        raise NotImplementedError

    def decode_fields(self, fields: torch.Tensor, length: int | None = None) -> np.ndarray:
        """Inverse of :meth:`encode_fields`: ``(T, F)`` fields -> float32 audio."""
        raise NotImplementedError

    # -- description -----------------------------------------------------------------------
    @property
    def bits_per_frame(self) -> int:
        return sum(self.field_widths)

    def num_frames(self, length: int) -> int:
        """Frames for a signal of ``length`` samples: ``ceil(length / 320) + 1``."""
        return self.mdct.num_frames(length)

    def packed_bytes(self, length: int) -> int:
        """Size of :meth:`encode`'s output for ``length`` samples: ``ceil(frames * bits_per_frame / 8)``."""
        return packed_size(self.num_frames(length), self.field_widths)

    # -- companding --------------------------------------------------------------------------
    def compress(self, normalized: torch.Tensor) -> torch.Tensor:
        """Normalized coefficients (any shape) -> what the quantizers see: ``sign(y) |y|^compand``."""
        return compress(normalized, self.compand)

    def expand(self, quantized: torch.Tensor) -> torch.Tensor:
        """The quantizers' output (any shape) -> normalized coefficients: ``sign(z) |z|^(1 / compand)``."""
        return expand(quantized, self.compand)

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

    # -- analysis and synthesis --------------------------------------------------------------
    def analyze(self, audio: Any) -> dict[str, torch.Tensor]:
        """MDCT, envelope indices and normalized spectrum of ``audio``.

        Returns:
            a dict with ``"coefficients"`` ``(T, 320)`` float64, ``"gain"`` ``(T,)``, ``"shape"``
            ``(T, 14)``, ``"scale"`` ``(T, 320)`` float64, ``"normalized"`` ``(T, 320)`` float32
            (coefficients / scale) and ``"target"`` ``(T, 320)`` float32 (the normalized
            coefficients companded by :meth:`compress`: what the quantizers see).
        """
        x = as_audio(audio)
        coeffs = self.mdct.forward(x)
        gain, shape = self.quantize_envelope(self._band_levels_db(coeffs))
        scale = self._scales(gain, shape)
        normalized = (coeffs / scale).to(torch.float32)
        return {"coefficients": coeffs, "gain": gain, "shape": shape, "scale": scale,
                "normalized": normalized, "target": self.compress(normalized)}

    def normalized_spectrum(self, audio: Any) -> torch.Tensor:
        """``(T, 320)`` float32: the envelope-normalized spectrum (before companding)."""
        return self.analyze(audio)["normalized"]

    @staticmethod
    def envelope_fields(analysis: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(T, 15)`` long: the gain and shape fields of :meth:`analyze`'s output."""
        return torch.cat([analysis["gain"].unsqueeze(1), analysis["shape"]], dim=1)

    def synthesize(self, fields: torch.Tensor, normalized: torch.Tensor, length: int | None = None) -> np.ndarray:
        """The decoded normalized spectrum ``(T, 320)`` float64, scaled by the envelope of ``fields``
        (``(T, F)``, the side information first) -> float32 audio (``length`` samples when given)."""
        n_bands = len(BAND_WIDTHS)
        gain, shape = fields[:, 0], fields[:, 1:1 + n_bands]
        out = self.mdct.inverse(normalized * self._scales(gain, shape), length)
        return out.to(torch.float32).numpy()

    # -- bitstream -----------------------------------------------------------------------------
    def encode(self, audio: Any) -> bytes:
        """Audio (16 kHz, 1-D, float in [-1, 1] or int16) -> the packed bitstream."""
        return pack_codes(self.encode_fields(audio), self.field_widths)

    def decode(self, data: bytes, length: int | None = None) -> np.ndarray:
        """Bitstream -> float32 audio: ``(frames - 1) * 320`` samples, or the first ``length``."""
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"data must be bytes, got {type(data).__name__}")
        frames = len(data) * 8 // self.bits_per_frame
        if frames < 2:
            raise ValueError(f"{len(data)} bytes hold {frames} frames of {self.bits_per_frame} bits; need at least 2")
        return self.decode_fields(unpack_codes(bytes(data), frames, self.field_widths), length)

    def roundtrip(self, audio: Any) -> tuple[np.ndarray, bytes]:
        """``(decode(encode(audio)) trimmed to the input length, the bytes)``."""
        x = as_audio(audio)
        data = self.encode(x)
        return self.decode(data, length=x.numel()), data
