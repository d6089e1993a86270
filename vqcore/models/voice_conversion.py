"""A small voice-conversion VQ-VAE on log-mel frames (the Interspeech 2023 SFVQ paper's setting, scaled down).

Encoder: 1-D convolutions over time on the (normalised) log-mel frames, with instance
normalisation (per utterance and channel, no affine), which removes much of the constant,
speaker-dependent part of the features, and a 1x1 projection to a ``latent_dim`` vector per
20 ms frame. Quantizer: any :class:`vqcore.quantizers.base.Quantizer` of that dimension; the experiments use a
:class:`~vqcore.SpaceFillingVQ` of 256 vertices or a plain :class:`~vqcore.VQ` of 256 codewords,
both trained through noise substitution (NSVQ). Decoder: convolutions from the quantized latent
concatenated with a learned speaker embedding to the log-mel frames of the same speaker.
Conversion decodes the same latents with another speaker's embedding.

Shapes: log-mel input ``(B, T, n_mels)`` (normalised or raw: :meth:`VoiceConversionVQVAE.normalise`),
speakers ``(B,)`` long, latents ``(B, T, latent_dim)``, codes ``(B, T)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..quantizers.base import Quantizer
from ..quantizers.space_filling import SpaceFillingVQ

__all__ = ["VCOutput", "VoiceConversionVQVAE"]


@dataclass
class VCOutput:
    """What a training pass returns: reconstruction ``(B, T, n_mels)``, latents and quantizer output ``(B, T, D)``,
    the quantizer's auxiliary loss (zero with NSVQ) and its codes ``(B, T)``."""

    reconstruction: torch.Tensor
    latent: torch.Tensor
    quantized: torch.Tensor
    loss: torch.Tensor
    codes: torch.Tensor


def _conv(cin: int, cout: int, kernel: int) -> nn.Conv1d:
    return nn.Conv1d(cin, cout, kernel, padding=kernel // 2)


class VoiceConversionVQVAE(nn.Module):
    """Convolutional encoder, a quantizer, and a speaker-conditioned convolutional decoder.

    Args:
        n_mels: log-mel bands.
        num_speakers: speakers with a learned embedding (the training speakers).
        quantizer: a vqcore quantizer whose ``dim`` is the latent dimension.
        channels: hidden channels of encoder and decoder.
        speaker_dim: size of the speaker embedding.
        kernel: convolution kernel size (frames).
        layers: hidden convolutions in the encoder and in the decoder.
    """

    def __init__(self, n_mels: int, num_speakers: int, quantizer: Quantizer, *, channels: int = 96,
                 speaker_dim: int = 16, kernel: int = 5, layers: int = 2) -> None:
        super().__init__()
        for name, value in (("n_mels", n_mels), ("num_speakers", num_speakers), ("channels", channels),
                            ("speaker_dim", speaker_dim), ("kernel", kernel), ("layers", layers)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(quantizer, Quantizer):
            # the house rule: bad input raises ValueError naming the argument
            raise ValueError(f"quantizer must be a vqcore Quantizer, got {type(quantizer).__name__}")  # noqa: TRY004
        self.n_mels, self.latent_dim = int(n_mels), int(quantizer.dim)
        self.quantizer = quantizer
        enc: list[nn.Module] = [_conv(n_mels, channels, kernel), nn.InstanceNorm1d(channels), nn.GELU()]
        for _ in range(layers - 1):
            enc += [_conv(channels, channels, kernel), nn.InstanceNorm1d(channels), nn.GELU()]
        enc.append(nn.Conv1d(channels, self.latent_dim, 1))
        self.encoder = nn.Sequential(*enc)
        self.speakers = nn.Embedding(num_speakers, speaker_dim)
        dec: list[nn.Module] = [_conv(self.latent_dim + speaker_dim, channels, kernel), nn.GELU()]
        for _ in range(layers - 1):
            dec += [_conv(channels, channels, kernel), nn.GELU()]
        dec.append(_conv(channels, n_mels, kernel))
        self.decoder = nn.Sequential(*dec)
        self.register_buffer("mel_mean", torch.zeros(n_mels))
        self.register_buffer("mel_std", torch.ones(n_mels))

    # -- feature normalisation ---------------------------------------------------------
    @torch.no_grad()
    def set_normalisation(self, frames: torch.Tensor) -> None:
        """Per-band mean and standard deviation from training frames ``(N, n_mels)``."""
        if frames.dim() != 2 or frames.shape[1] != self.n_mels:
            raise ValueError(f"frames must have shape (N, {self.n_mels}), got {tuple(frames.shape)}")
        self.mel_mean.copy_(frames.mean(0))
        self.mel_std.copy_(frames.std(0).clamp_min(1e-3))

    def normalise(self, logmel: torch.Tensor) -> torch.Tensor:
        return (logmel - self.mel_mean) / self.mel_std

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mel_std + self.mel_mean

    # -- parts ------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised log-mel ``(B, T, n_mels)`` -> latents ``(B, T, latent_dim)``."""
        if x.dim() != 3 or x.shape[-1] != self.n_mels:
            raise ValueError(f"x must have shape (B, T, {self.n_mels}), got {tuple(x.shape)}")
        return self.encoder(x.transpose(1, 2)).transpose(1, 2)

    def decode(self, z: torch.Tensor, speakers: torch.Tensor) -> torch.Tensor:
        """Latents ``(B, T, D)`` and speaker ids ``(B,)`` -> normalised log-mel ``(B, T, n_mels)``."""
        if speakers.dim() != 1 or speakers.shape[0] != z.shape[0]:
            raise ValueError(f"speakers must have shape ({z.shape[0]},), got {tuple(speakers.shape)}")
        emb = self.speakers(speakers).unsqueeze(1).expand(-1, z.shape[1], -1)
        h = torch.cat([z, emb], -1).transpose(1, 2)
        return self.decoder(h).transpose(1, 2)

    def forward(self, x: torch.Tensor, speakers: torch.Tensor) -> VCOutput:
        """Training pass on normalised log-mel ``(B, T, n_mels)``: the quantizer's training output
        (NSVQ: a noisy point at the quantization error's distance) is decoded."""
        z = self.encode(x)
        q = self.quantizer(z)
        return VCOutput(self.decode(q.output, speakers), z, q.quantized, q.loss, q.codes[..., 0])

    @torch.no_grad()
    def quantize(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inference on normalised log-mel ``(B, T, n_mels)``: ``(quantized latents (B, T, D), codes (B, T))``.

        For an SFVQ the latent is projected onto the curve and the code is the nearest vertex; for
        other quantizers it is the hard quantization and its code.
        """
        z = self.encode(x)
        if isinstance(self.quantizer, SpaceFillingVQ):
            q, _ = self.quantizer.project(z)
            codes = self.quantizer.encode(z)[..., 0]
        else:
            codes = self.quantizer.encode(z)
            q = self.quantizer.decode(codes)
            codes = codes[..., 0]
        return q, codes

    @torch.no_grad()
    def convert(self, x: torch.Tensor, speakers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised log-mel ``(B, T, n_mels)`` spoken by anyone -> that content in the voice of ``speakers``
        ``(B,)``: ``(normalised log-mel (B, T, n_mels), codes (B, T))``. With the source's own
        speaker this is the reconstruction."""
        q, codes = self.quantize(x)
        return self.decode(q, speakers), codes

    def config(self) -> dict[str, Any]:
        return {"n_mels": self.n_mels, "num_speakers": self.speakers.num_embeddings,
                "speaker_dim": self.speakers.embedding_dim, "latent_dim": self.latent_dim,
                "quantizer": type(self.quantizer).__name__, "quantizer_config": self.quantizer.config()}
