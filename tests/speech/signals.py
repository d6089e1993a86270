"""Test signals that need no eSpeak."""
from __future__ import annotations

import numpy as np


def speechlike(seconds: float = 1.0, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """A harmonic signal with a moving pitch, a formant-like tilt and noise bursts (no eSpeak needed)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    t = np.arange(n) / 16000
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.1 * np.sin(2 * np.pi * 3 * t))) / 16000
    x = sum(np.sin(k * phase) / k for k in range(1, 30))
    x *= 0.5 * (1 + np.sin(2 * np.pi * 2 * t))
    x += 0.05 * rng.standard_normal(n) * (np.sin(2 * np.pi * 1.5 * t) > 0.7)
    return (0.1 * x / np.abs(x).max()).astype(np.float32)
