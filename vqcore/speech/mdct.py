"""MDCT and inverse MDCT with time-domain aliasing cancellation (perfect reconstruction).

A frame of ``hop`` new samples (320 = 20 ms at 16 kHz) gives ``hop`` coefficients from a window
of ``2 * hop`` samples. With a window satisfying the Princen-Bradley condition
``w[n]^2 + w[n + hop]^2 = 1`` (sine, or Kaiser-Bessel-derived) and the orthonormal scaling used
here, the lapped transform is orthogonal: overlap-adding the windowed inverse transforms cancels
the time-domain aliasing and returns the input exactly (to rounding), and the coefficients carry
the signal's energy (Parseval).

Definition, for frame ``t`` covering padded samples ``x[t*hop : t*hop + 2*hop]``::

    X_t[k] = sqrt(2/hop) * sum_n w[n] x[t*hop + n] cos(pi/hop * (n + 1/2 + hop/2) * (k + 1/2))

The signal is padded with ``hop`` zeros in front and zeros at the end up to whole frames, so a
signal of ``L`` samples gives ``ceil(L / hop) + 1`` frames. Inputs may be numpy arrays or torch
tensors ``(..., L)``; the result has the same kind (and torch keeps the device and autograd).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

__all__ = ["MDCT", "mdct_window", "num_frames"]


def mdct_window(hop: int, kind: str = "sine", alpha: float = 4.0) -> np.ndarray:
    """A ``2 * hop`` window satisfying the Princen-Bradley condition.

    Args:
        kind: ``"sine"`` (``sin(pi (n + 1/2) / (2 hop))``) or ``"kbd"`` (Kaiser-Bessel-derived).
        alpha: the KBD window's Kaiser parameter (``beta = pi * alpha``).
    """
    n = np.arange(2 * hop)
    if kind == "sine":
        return np.sin(np.pi * (n + 0.5) / (2 * hop))
    if kind == "kbd":
        kaiser = np.kaiser(hop + 1, np.pi * alpha)
        cum = np.cumsum(kaiser[:hop])
        half = np.sqrt(cum / kaiser.sum())
        return np.concatenate([half, half[::-1]])
    raise ValueError(f"window must be 'sine' or 'kbd', got {kind!r}")


def num_frames(length: int, hop: int) -> int:
    """Frames the MDCT gives for ``length`` samples: ``ceil(length / hop) + 1``."""
    return -(-int(length) // hop) + 1


@lru_cache(maxsize=8)
def _basis(hop: int, kind: str, alpha: float) -> np.ndarray:
    """``(2 hop, hop)`` float64: window times the orthonormal MDCT cosines."""
    n = np.arange(2 * hop)[:, None]
    k = np.arange(hop)[None, :]
    cos = np.cos(np.pi / hop * (n + 0.5 + hop / 2) * (k + 0.5))
    return mdct_window(hop, kind, alpha)[:, None] * math.sqrt(2.0 / hop) * cos


class MDCT:
    """Lapped transform with ``hop`` coefficients per frame (default 320 = 20 ms at 16 kHz).

    Example::

        m = MDCT(320)
        X = m.forward(x)            # (..., frames, 320)
        y = m.inverse(X, len(x))    # equals x to rounding
    """

    def __init__(self, hop: int = 320, window: str = "sine", alpha: float = 4.0) -> None:
        if int(hop) != hop or hop < 2 or hop % 2:
            raise ValueError(f"hop must be an even integer >= 2, got {hop!r}")
        self.hop = int(hop)
        self.window_kind = window
        self.alpha = float(alpha)
        self.window = mdct_window(self.hop, window, alpha)
        self._basis64 = _basis(self.hop, window, self.alpha)

    def _basis_for(self, x: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(self._basis64, dtype=x.dtype, device=x.device)

    def num_frames(self, length: int) -> int:
        return num_frames(length, self.hop)

    def forward(self, x):
        """``(..., L)`` samples -> ``(..., ceil(L/hop) + 1, hop)`` coefficients."""
        is_np = not isinstance(x, torch.Tensor)
        t = torch.as_tensor(np.asarray(x, dtype=np.float64) if is_np else x)
        if not t.is_floating_point():
            t = t.to(torch.float64)
        if t.dim() == 0 or t.shape[-1] == 0:
            raise ValueError(f"x must have shape (..., L) with L >= 1, got {tuple(t.shape)}")
        hop, length = self.hop, t.shape[-1]
        frames = self.num_frames(length)
        total = (frames + 1) * hop
        padded = torch.nn.functional.pad(t, (hop, total - hop - length))
        blocks = padded.unfold(-1, 2 * hop, hop)  # (..., frames, 2 hop)
        out = blocks @ self._basis_for(t)
        return out.numpy() if is_np else out

    def inverse(self, coefficients, length: int | None = None):
        """``(..., T, hop)`` coefficients -> ``(..., length)`` samples (default ``(T - 1) * hop``)."""
        is_np = not isinstance(coefficients, torch.Tensor)
        c = torch.as_tensor(np.asarray(coefficients, dtype=np.float64) if is_np else coefficients)
        if c.dim() < 2 or c.shape[-1] != self.hop:
            raise ValueError(f"coefficients must have shape (..., frames, {self.hop}), got {tuple(c.shape)}")
        hop, frames = self.hop, c.shape[-2]
        blocks = c @ self._basis_for(c).T  # (..., T, 2 hop): windowed, aliased
        lead = blocks.shape[:-2]
        # overlap-add: first halves of frame t plus second halves of frame t-1
        first, second = blocks[..., :hop], blocks[..., hop:]
        out = torch.zeros(*lead, frames + 1, hop, dtype=blocks.dtype, device=blocks.device)
        out[..., :frames, :] += first
        out[..., 1:, :] += second
        signal = out.reshape(*lead, (frames + 1) * hop)[..., hop:]  # drop the front padding
        default = (frames - 1) * hop
        n = default if length is None else int(length)
        if n > default:
            raise ValueError(f"{frames} frames reconstruct at most {default} samples, asked for {n}")
        signal = signal[..., :n]
        return signal.numpy() if is_np else signal
