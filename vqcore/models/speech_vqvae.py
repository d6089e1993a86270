"""A speech VQ-VAE: a learned encoder and decoder around one VQ codebook, between the envelope layer
of :mod:`vqcore.speech.envelope` and its synthesis.

Per 20 ms frame the encoder maps the envelope-normalized spectrum (320 MDCT coefficients,
:meth:`~vqcore.speech.envelope.EnvelopeCodec.analyze`'s ``"target"``) to ``L`` latent vectors of
``latent_dim`` values; one codebook of ``2 ** codebook_bits`` entries codes every latent vector of
every frame; the decoder maps the ``L`` codewords back to 320 normalized coefficients, which the
envelope scales and the inverse MDCT turns into audio. Encoder and decoder are MLPs of one hidden
layer (``hidden`` units, GELU).

**Perceptual weighting.** The model codes the spectrum times ``sqrt(w(f))``, with the weight
``w(f) = 1 / (1 + f / knee_hz)`` that the ICASSP codec's bit allocation uses
(:mod:`vqcore.speech.allocation`, knee at 300 Hz), and the decoder divides by it: the squared
error that training minimizes (in that domain) is the normalized spectrum's error weighted by
``w(f)``, so the bits go where the weight is high, at low frequencies, as the allocation puts
them. ``knee_hz=None``: no weighting.

**Bits per frame**: the envelope's 48 bits, then ``L`` codes of ``codebook_bits`` bits, where ``L`` is
what the bitrate leaves: ``(bitrate * 1000 / 50 - 48) / codebook_bits`` (it must be whole). With
8-bit codes the ICASSP rates give ``L`` = 14, 18, 27, 35, 55 and 74 (8 to 32 kbit/s).

Unlike :class:`~vqcore.speech.codec.SpeechCodec`, whose quantizers are fitted alone to the spectra,
this codec is trained end to end on the spectral error
(:func:`vqcore.experiments.autoencoder_training.train_model`): the gradient estimator decides what
reaches the encoder and what the decoder sees in training, so estimators can differ here.

Example::

    model = SpeechVQVAE(13.2, estimator="nsvq")     # 27 latent vectors of 8 bits per frame
    out = model(frames)                              # frames (B, 320): out.reconstruction (B, 320)
    data = model.encode(audio)                       # bytes, 264 bits per frame
    audio_out = model.decode(data, length=len(audio))
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..quantizers.base import Quantizer
from ..quantizers.checks import check_positive_int
from ..quantizers.vq import VQ
from ..speech.allocation import FRAME_SIZE, SAMPLE_RATE, SIDE_BITS, WEIGHT_KNEE_HZ, bits_per_frame
from ..speech.envelope import ENVELOPE_FIELDS, EnvelopeCodec
from .image_vqvae import VQVAEOutput

__all__ = ["SpeechVQVAE", "latents_per_frame"]


def latents_per_frame(bitrate: float, codebook_bits: int) -> int:
    """``L``: the latent vectors per frame that ``bitrate`` (kbit/s) leaves after the envelope's bits,
    at ``codebook_bits`` bits each; a ValueError when that is not a positive whole number (or the frame's
    bits are not whole: :func:`~vqcore.speech.allocation.bits_per_frame`)."""
    left = bits_per_frame(bitrate) - SIDE_BITS
    if left < codebook_bits or left % codebook_bits:
        raise ValueError(f"bitrate {bitrate} kbit/s leaves {left} bits per frame after the {SIDE_BITS} envelope "
                         f"bits: not a positive whole number of {codebook_bits}-bit codes")
    return left // codebook_bits


class SpeechVQVAE(EnvelopeCodec):
    """The speech VQ-VAE codec at one bitrate (see the module docstring).

    Args:
        bitrate: kbit/s, e.g. one of :data:`~vqcore.speech.allocation.BITRATES`.
        codebook_bits: bits per latent vector (codebook size ``2 ** codebook_bits``).
        latent_dim: the dimension of each latent vector.
        hidden: hidden units of the encoder and of the decoder.
        estimator, diveq_noise_std: the :class:`~vqcore.quantizers.vq.VQ`'s (ignored with ``quantizer``).
        quantizer: a VQ of dimension ``latent_dim`` and ``codebook_bits`` bits to use instead of a fresh one.
        knee_hz: the knee of the perceptual weighting (None: none).
        window, compand: as :class:`~vqcore.speech.envelope.EnvelopeCodec`'s.

    Shapes: frames ``(B, 320)``; latents ``(B, L, latent_dim)``; codes ``(B, L)``.
    """

    def __init__(self, bitrate: float, *, codebook_bits: int = 8, latent_dim: int = 8, hidden: int = 512,
                 estimator: str = "nsvq", diveq_noise_std: float = 1e-3, quantizer: Quantizer | None = None,
                 knee_hz: float | None = WEIGHT_KNEE_HZ, window: str = "sine", compand: float = 1.0) -> None:
        super().__init__(window, compand)
        self.codebook_bits = check_positive_int("codebook_bits", codebook_bits, maximum=16)
        self.latent_dim = check_positive_int("latent_dim", latent_dim, maximum=4096)
        self.hidden = check_positive_int("hidden", hidden, maximum=1 << 16)
        self.latents = latents_per_frame(bitrate, self.codebook_bits)
        self.bitrate = float(bitrate)
        if knee_hz is not None and not (isinstance(knee_hz, (int, float)) and 0 < knee_hz < float("inf")):
            raise ValueError(f"knee_hz must be a positive number or None, got {knee_hz!r}")
        self.knee_hz = None if knee_hz is None else float(knee_hz)
        centre_hz = (torch.arange(FRAME_SIZE, dtype=torch.float64) + 0.5) * SAMPLE_RATE / (2 * FRAME_SIZE)
        weight = torch.ones(FRAME_SIZE, dtype=torch.float64) if knee_hz is None else (1 + centre_hz / knee_hz).rsqrt()
        self.register_buffer("_weight", weight, persistent=False)
        if quantizer is None:
            quantizer = VQ(self.latent_dim, self.codebook_bits, estimator=estimator, diveq_noise_std=diveq_noise_std)
        if not isinstance(quantizer, VQ) or quantizer.dim != self.latent_dim or quantizer.bits != self.codebook_bits:
            got = (f"a {type(quantizer).__name__} of dim {quantizer.dim} and {quantizer.bits} bits"
                   if isinstance(quantizer, Quantizer) else type(quantizer).__name__)
            raise ValueError(f"quantizer must be a VQ of dim {self.latent_dim} and {self.codebook_bits} bits, got {got}")
        width = self.latents * self.latent_dim
        self.encoder = nn.Sequential(nn.Linear(FRAME_SIZE, self.hidden), nn.GELU(), nn.Linear(self.hidden, width))
        self.decoder = nn.Sequential(nn.Linear(width, self.hidden), nn.GELU(), nn.Linear(self.hidden, FRAME_SIZE))
        self.quantizer = quantizer

    # -- description -----------------------------------------------------------------------
    @property
    def field_widths(self) -> list[int]:
        """Gain, 14 shapes, then ``L`` codes of ``codebook_bits`` bits."""
        return list(ENVELOPE_FIELDS) + [self.codebook_bits] * self.latents

    def config(self) -> dict[str, Any]:
        """Constructor arguments (without the quantizer's estimator)."""
        return {"bitrate": self.bitrate, "codebook_bits": self.codebook_bits, "latent_dim": self.latent_dim,
                "hidden": self.hidden, "knee_hz": self.knee_hz, "window": self.mdct.window_kind, "compand": self.compand}

    def extra_repr(self) -> str:
        return (f"bitrate={self.bitrate:g} kbit/s, {self.latents} x {self.codebook_bits}-bit codes per frame, "
                f"latent_dim={self.latent_dim}, hidden={self.hidden}")

    # -- the coded domain --------------------------------------------------------------------
    def weigh(self, target: torch.Tensor) -> torch.Tensor:
        """Normalized (companded) spectra ``(..., 320)`` -> the frames the model codes: times ``sqrt(w(f))``."""
        return target * self._weight.to(target)

    def unweigh(self, frames: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`weigh`."""
        return frames / self._weight.to(frames)

    def training_frames(self, normalized: torch.Tensor) -> torch.Tensor:
        """Normalized spectra ``(T, 320)`` (:meth:`~vqcore.speech.envelope.EnvelopeCodec.normalized_spectrum`)
        -> the frames the model trains on ``(T, 320)`` float32: companded, then weighted."""
        return self.weigh(self.compress(normalized)).to(torch.float32).contiguous()

    # -- passes --------------------------------------------------------------------------------
    def _check_frames(self, frames: torch.Tensor) -> None:
        if not isinstance(frames, torch.Tensor) or frames.dim() != 2 or frames.shape[1] != FRAME_SIZE:
            shape = tuple(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__
            raise ValueError(f"frames must be a tensor (B, {FRAME_SIZE}) of normalized spectra, got {shape}")

    def encode_latents(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, 320)`` coded frames (:meth:`training_frames`) -> latents ``(B, L, latent_dim)``."""
        self._check_frames(frames)
        return self.encoder(frames).reshape(frames.shape[0], self.latents, self.latent_dim)

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents ``(B, L, latent_dim)`` -> spectra ``(B, 320)``."""
        if latents.dim() != 3 or latents.shape[1:] != (self.latents, self.latent_dim):
            raise ValueError(f"latents must have shape (B, {self.latents}, {self.latent_dim}), got {tuple(latents.shape)}")
        return self.decoder(latents.reshape(latents.shape[0], -1))

    def forward(self, frames: torch.Tensor) -> VQVAEOutput:
        """Training pass ``(B, 320)`` -> :class:`~vqcore.models.image_vqvae.VQVAEOutput`; the decoder sees
        the quantizer's training output (NSVQ's noisy substitute, DiVeQ's point near the codeword, ...)."""
        z = self.encode_latents(frames)
        q = self.quantizer(z)
        return VQVAEOutput(reconstruction=self.decode_latents(q.output), latents=z, quantizer=q)

    @torch.no_grad()
    def reconstruct(self, frames: torch.Tensor) -> torch.Tensor:
        """Inference: the hard-quantized reconstruction, ``(B, 320)`` -> ``(B, 320)``."""
        return self.decode_latents(self.quantizer.quantize(self.encode_latents(frames)))

    # -- bitstream -----------------------------------------------------------------------------
    @torch.no_grad()
    def encode_fields(self, audio: Any) -> torch.Tensor:
        """Every field of every frame: ``(T, 15 + L)`` long (gain, shapes, then the ``L`` codes)."""
        a = self.analyze(audio)
        device = self.quantizer.codebooks.device
        frames = self.weigh(a["target"]).to(device)
        codes = self.quantizer.encode(self.encode_latents(frames))[..., 0].cpu()
        return torch.cat([self.envelope_fields(a), codes], dim=1)

    @torch.no_grad()
    def decode_fields(self, fields: torch.Tensor, length: int | None = None) -> np.ndarray:
        """Inverse of :meth:`encode_fields`: ``(T, 15 + L)`` fields -> float32 audio."""
        device = self.quantizer.codebooks.device
        codes = fields[:, len(ENVELOPE_FIELDS):].to(device).unsqueeze(-1)
        spectrum = self.decode_latents(self.quantizer.decode(codes)).cpu().to(torch.float64)
        return self.synthesize(fields, self.expand(self.unweigh(spectrum)), length)
