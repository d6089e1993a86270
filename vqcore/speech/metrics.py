"""Speech quality metrics of figure 1: wide-band PESQ and perceptually weighted segmental SNR (pSNR).

PESQ: ITU-T P.862.2 wide-band mode at 16 kHz through the ``pesq`` package (its MOS-LQO scale
tops out at about 4.64). STOI through ``pystoi`` when installed.

pSNR, this project's definition:

1. Cut the reference into 20 ms frames (320 samples at 16 kHz, no overlap).
2. Per frame, LPC analysis of the reference: Hann window, autocorrelation to lag 16, a 1.0001
   white-noise correction of lag 0 (-40 dB), Levinson-Durbin: ``A(z)`` of order 16.
3. Weighting filter ``W(z) = A(z/0.92) / A(z/0.6)`` (coefficients ``a_i 0.92^i`` over ``a_i 0.6^i``).
   The reference and the error (reference minus decoded) are each filtered with the frame's
   ``W``; the filter memories carry over from frame to frame, as in CELP codecs' weighting.
4. Per-frame SNR ``10 log10(sum ref_w^2 / sum err_w^2)``, limited to ``[-10, 35]`` dB (the usual
   segmental-SNR limits; an error-free frame counts 35 dB).
5. Average over the frames with speech. **Speech-frame criterion:** a frame has speech when the
   reference frame's mean square is within 40 dB of the loudest frame of the utterance and above
   -100 dB re full scale (1e-10). A phone alignment can be given instead (``speech_frames``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["PESQ_WB_MAX", "lpc", "lpc_frames", "pesq_wb", "psnr", "speech_frames", "stoi", "weighting_filter"]

#: the highest MOS-LQO the P.862.2 wide-band mapping gives
PESQ_WB_MAX = 4.644
FRAME = 320
LPC_ORDER = 16
GAMMA_NUM = 0.92
GAMMA_DEN = 0.6
SNR_LIMITS = (-10.0, 35.0)
SPEECH_RANGE_DB = 40.0
SPEECH_FLOOR = 1e-10


def _pair(reference: Any, degraded: Any) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    deg = np.asarray(degraded, dtype=np.float64).reshape(-1)
    if ref.size == 0:
        raise ValueError("reference is empty")
    if deg.size < ref.size:
        raise ValueError(f"degraded signal has {deg.size} samples, fewer than the reference's {ref.size}")
    return ref, deg[: ref.size]


def pesq_wb(reference: Any, degraded: Any, sample_rate: int = 16000) -> float:
    """Wide-band PESQ (ITU-T P.862.2) MOS-LQO of ``degraded`` against ``reference`` (float signals in [-1, 1]).

    Raises:
        ImportError: the ``pesq`` package is missing (``pip install pesq``).
        ValueError: not 16 kHz, or PESQ found no utterance (too short or silent).
    """
    try:
        from pesq import PesqError
        from pesq import pesq as _pesq
    except ImportError as exc:
        raise ImportError("wide-band PESQ needs the 'pesq' package: pip install pesq") from exc
    if sample_rate != 16000:
        raise ValueError(f"wide-band PESQ needs 16 kHz audio, got {sample_rate} Hz")
    ref, deg = _pair(reference, degraded)
    try:
        return float(_pesq(sample_rate, ref.astype(np.float32), deg.astype(np.float32), "wb"))
    except PesqError as exc:
        raise ValueError(f"PESQ failed: {type(exc).__name__}: {exc}") from exc


def stoi(reference: Any, degraded: Any, sample_rate: int = 16000, extended: bool = False) -> float:
    """STOI (or extended STOI) via ``pystoi``."""
    try:
        from pystoi import stoi as _stoi
    except ImportError as exc:
        raise ImportError("STOI needs the 'pystoi' package: pip install pystoi") from exc
    ref, deg = _pair(reference, degraded)
    return float(_stoi(ref, deg, sample_rate, extended=extended))


def lpc(frame: np.ndarray, order: int = LPC_ORDER) -> np.ndarray:
    """``[1, a_1, ..., a_order]`` of ``A(z)`` by the autocorrelation method (Hann window, Levinson-Durbin).

    A silent frame gives ``A(z) = 1``. The result is minimum phase, so ``1 / A(z/g)`` is stable for ``g <= 1``.
    """
    x = np.asarray(frame, dtype=np.float64) * np.hanning(len(frame))
    r = np.array([np.dot(x[: len(x) - k], x[k:]) for k in range(order + 1)])
    a = np.zeros(order + 1)
    a[0] = 1.0
    if r[0] <= 1e-20:
        return a
    r[0] *= 1.0001
    err = r[0]
    for i in range(1, order + 1):
        k = -(r[i] + np.dot(a[1:i], r[i - 1:0:-1])) / err
        a[1:i] = a[1:i] + k * a[i - 1:0:-1]
        a[i] = k
        err *= 1.0 - k * k
        if err <= 0:
            break
    return a


def lpc_frames(frames: np.ndarray, order: int = LPC_ORDER) -> np.ndarray:
    """:func:`lpc` of every row of ``frames`` ``(n, L)`` at once: ``(n, order + 1)``.

    The same analysis, with the Levinson-Durbin recursion run on all frames together (a frame
    stops where :func:`lpc` would break), so the coefficients agree with :func:`lpc`'s to rounding.
    """
    x = np.asarray(frames, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"frames must be (n, L), got shape {x.shape}")
    length = x.shape[1]
    x = x * np.hanning(length)
    r = np.stack([np.einsum("ij,ij->i", x[:, : length - k], x[:, k:]) for k in range(order + 1)], axis=1)
    a = np.zeros((x.shape[0], order + 1))
    a[:, 0] = 1.0
    live = r[:, 0] > 1e-20  # a silent frame keeps A(z) = 1
    r[:, 0] *= 1.0001
    err = r[:, 0].copy()
    for i in range(1, order + 1):
        if not live.any():
            break
        rows = np.flatnonzero(live)
        k = -(r[rows, i] + np.einsum("ij,ij->i", a[rows, 1:i], r[rows, i - 1:0:-1])) / err[rows]
        a[rows, 1:i] = a[rows, 1:i] + k[:, None] * a[rows, i - 1:0:-1]
        a[rows, i] = k
        err[rows] *= 1.0 - k * k
        live[rows] = err[rows] > 0
    return a


def weighting_filter(a: np.ndarray, gamma_num: float = GAMMA_NUM, gamma_den: float = GAMMA_DEN) -> tuple[np.ndarray, np.ndarray]:
    """``(numerator, denominator)`` of ``W(z) = A(z/gamma_num) / A(z/gamma_den)``."""
    powers = np.arange(len(a))
    return a * gamma_num ** powers, a * gamma_den ** powers


def speech_frames(reference: Any, frame: int = FRAME, range_db: float = SPEECH_RANGE_DB,
                  floor: float = SPEECH_FLOOR) -> np.ndarray:
    """Boolean per full frame: mean square within ``range_db`` of the loudest frame and above ``floor``."""
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    n = ref.size // frame
    energy = np.mean(ref[: n * frame].reshape(n, frame) ** 2, axis=1)
    if n == 0:
        return np.zeros(0, dtype=bool)
    return (energy >= energy.max() * 10 ** (-range_db / 10)) & (energy > floor)


def psnr(reference: Any, degraded: Any, *, frame: int = FRAME, order: int = LPC_ORDER,
         limits: tuple[float, float] = SNR_LIMITS, speech: np.ndarray | None = None,
         per_frame: bool = False) -> float | np.ndarray:
    """Perceptually weighted segmental SNR in dB (definition in the module docstring).

    Args:
        reference, degraded: signals at 16 kHz (``degraded`` is cut to the reference's length).
        speech: optional boolean per full frame overriding the energy criterion.
        per_frame: return every frame's limited SNR (NaN for non-speech frames) instead of the mean.

    Raises:
        ValueError: no frame has speech.
    """
    from scipy.signal import lfilter

    ref, deg = _pair(reference, degraded)
    err = ref - deg
    n = ref.size // frame
    mask = speech_frames(ref, frame) if speech is None else np.asarray(speech, dtype=bool)[:n]
    if mask.shape != (n,):
        raise ValueError(f"speech must have one flag per full frame ({n}), got shape {mask.shape}")
    coefficients = lpc_frames(ref[: n * frame].reshape(n, frame), order)
    pair = np.stack([ref, err])  # the reference and the error go through each frame's filter together
    zi = np.zeros((2, order))
    snr = np.full(n, np.nan)
    for t in range(n):
        num, den = weighting_filter(coefficients[t])
        (ref_w, err_w), zi = lfilter(num, den, pair[:, t * frame:(t + 1) * frame], axis=-1, zi=zi)
        if mask[t]:
            s, e = np.sum(ref_w ** 2), np.sum(err_w ** 2)
            value = limits[1] if e <= 0 else 10 * np.log10(max(s, 1e-30) / e)
            snr[t] = float(np.clip(value, *limits))
    if per_frame:
        return snr
    if not mask.any():
        raise ValueError("no frame of the reference has speech; pSNR is undefined")
    return float(np.nanmean(snr))
