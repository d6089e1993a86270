"""A small convolutional VQ-VAE for grey images, with any of our quantizers in its latent space.

The encoder maps a grey image ``(B, 1, H, W)`` (values in ``[0, 1]``) to a grid of latent vectors
``(B, D, H / f, W / f)`` with ``f = 2 ** downsampling`` (stride-2 convolutions); the quantizer
(:class:`~vqcore.AdditiveVQ`, :class:`~vqcore.ResidualVQ`, :class:`~vqcore.ProductVQ`, ...) acts
on each latent vector, one vector of ``D`` numbers per ``f x f`` block of pixels; the decoder
mirrors the encoder with transposed convolutions. Without a quantizer the model is a plain
autoencoder (used to pretrain encoder and decoder before a quantizer is inserted).

During training the quantizer's ``forward`` output (NSVQ: the input plus noise of the
quantization error's norm) goes to the decoder; in :meth:`ImageVQVAE.reconstruct` (inference) the
hard quantization does. Bits per pixel: ``quantizer.bits / f ** 2``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from ..quantizers.checks import check_positive_int
from ..quantizers.base import Quantizer, QuantizerOutput

__all__ = ["ImageVQVAE", "VQVAEOutput"]


@dataclass
class VQVAEOutput:
    """What :meth:`ImageVQVAE.forward` returns.

    Attributes:
        reconstruction: ``(B, 1, H, W)`` the decoded image (not clipped).
        latents: ``(B, h, w, D)`` the encoder's output, before quantization.
        quantizer: the quantizer's :class:`~vqcore.quantizers.base.QuantizerOutput` (None without a quantizer).
    """

    reconstruction: torch.Tensor
    latents: torch.Tensor
    quantizer: QuantizerOutput | None


class _ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ImageVQVAE(nn.Module):
    """Convolutional encoder, optional quantizer, convolutional decoder.

    Args:
        latent_dim: ``D``, the dimension of each latent vector (the quantizer's ``dim``).
        channels: hidden channels of the convolutions.
        downsampling: number of stride-2 stages; each latent vector covers ``2 ** downsampling``
            pixels on a side.
        quantizer: a quantizer of dimension ``latent_dim``, or None (plain autoencoder).

    Shapes: input ``(B, 1, H, W)`` with ``H`` and ``W`` multiples of ``2 ** downsampling``;
    latents ``(B, H / f, W / f, D)``.
    """

    def __init__(self, latent_dim: int = 64, channels: int = 48, downsampling: int = 3,
                 quantizer: Quantizer | None = None) -> None:
        super().__init__()
        check_positive_int("latent_dim", latent_dim)
        check_positive_int("channels", channels)
        check_positive_int("downsampling", downsampling)
        self.latent_dim = latent_dim
        self.channels = channels
        self.downsampling = downsampling
        enc: list[nn.Module] = [nn.Conv2d(1, channels, 4, stride=2, padding=1)]
        for _ in range(downsampling - 1):
            enc += [nn.ReLU(), nn.Conv2d(channels, channels, 4, stride=2, padding=1)]
        enc += [_ResBlock(channels), nn.ReLU(), nn.Conv2d(channels, latent_dim, 1)]
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = [nn.Conv2d(latent_dim, channels, 3, padding=1), _ResBlock(channels)]
        for _ in range(downsampling - 1):
            dec += [nn.ReLU(), nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1)]
        dec += [nn.ReLU(), nn.ConvTranspose2d(channels, 1, 4, stride=2, padding=1)]
        self.decoder = nn.Sequential(*dec)
        self.quantizer = None
        if quantizer is not None:
            self.set_quantizer(quantizer)

    # -- description -----------------------------------------------------------------------
    @property
    def factor(self) -> int:
        """Pixels per latent vector along each side: ``2 ** downsampling``."""
        return 2 ** self.downsampling

    @property
    def pixels_per_latent(self) -> int:
        """Pixels each latent vector codes: ``factor ** 2``."""
        return self.factor ** 2

    def bits_per_pixel(self) -> float:
        """The quantizer's bits per latent vector divided by the pixels per latent vector."""
        if self.quantizer is None:
            raise ValueError("the model has no quantizer: bits per pixel are undefined")
        return self.quantizer.bits / self.pixels_per_latent

    def config(self) -> dict[str, int]:
        """Constructor arguments of the autoencoder (without the quantizer)."""
        return {"latent_dim": self.latent_dim, "channels": self.channels, "downsampling": self.downsampling}

    # -- building ----------------------------------------------------------------------------
    def set_quantizer(self, quantizer: Quantizer | None) -> None:
        """Insert (or, with None, remove) the quantizer acting on the latent vectors."""
        if quantizer is not None:
            if not isinstance(quantizer, Quantizer):
                raise ValueError(f"quantizer must be a vqcore Quantizer or None, got {type(quantizer).__name__}")
            if quantizer.dim != self.latent_dim:
                raise ValueError(f"quantizer has dim {quantizer.dim}, the model's latent_dim is {self.latent_dim}")
        self.quantizer = quantizer

    def with_quantizer(self, quantizer: Quantizer) -> ImageVQVAE:
        """A deep copy of this model (encoder and decoder weights) with ``quantizer`` inserted."""
        model = ImageVQVAE(**self.config())
        model.encoder.load_state_dict(copy.deepcopy(self.encoder.state_dict()))
        model.decoder.load_state_dict(copy.deepcopy(self.decoder.state_dict()))
        model.set_quantizer(quantizer)
        return model.to(next(self.parameters()).device)

    # -- passes --------------------------------------------------------------------------------
    def _check_images(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 1:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be a tensor of grey images (B, 1, H, W), got {shape}")
        f = self.factor
        if x.shape[2] % f or x.shape[3] % f:
            raise ValueError(f"x must have height and width divisible by {f}, got {tuple(x.shape[2:])}")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent vectors: ``(B, 1, H, W)`` -> ``(B, H / f, W / f, D)``."""
        self._check_images(x)
        return self.encoder(x - 0.5).permute(0, 2, 3, 1)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Images from latent vectors: ``(B, h, w, D)`` -> ``(B, 1, h f, w f)`` (not clipped)."""
        if latents.dim() != 4 or latents.shape[-1] != self.latent_dim:
            raise ValueError(f"latents must have shape (B, h, w, {self.latent_dim}), got {tuple(latents.shape)}")
        return self.decoder(latents.permute(0, 3, 1, 2)) + 0.5

    def forward(self, x: torch.Tensor) -> VQVAEOutput:
        """Training pass ``(B, 1, H, W)`` -> :class:`VQVAEOutput`; the decoder sees the quantizer's
        training output (NSVQ's noisy substitute), or the latents themselves without a quantizer."""
        z = self.encode(x)
        q = self.quantizer(z) if self.quantizer is not None else None
        return VQVAEOutput(reconstruction=self.decode(q.output if q is not None else z), latents=z, quantizer=q)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """Inference: hard-quantized reconstruction clipped to ``[0, 1]``, ``(B, 1, H, W)`` -> same."""
        self._check_images(x)
        out = []
        for i in range(0, x.shape[0], batch_size):
            z = self.encode(x[i:i + batch_size])
            if self.quantizer is not None:
                z = self.quantizer.quantize(z)
            out.append(self.decode(z).clamp(0.0, 1.0))
        return torch.cat(out)
