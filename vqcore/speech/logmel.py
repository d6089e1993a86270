"""Log-mel spectrogram analysis and Griffin-Lim resynthesis, in torch only.

Analysis (:class:`LogMel`): Hann-windowed STFT, magnitude, a triangular mel filterbank (HTK mel
scale, :func:`mel_filterbank`) and ``log(mel + floor)``. Frame ``i`` is centred on sample
``i * hop + hop // 2``, i.e. in the middle of the ``i``-th block of ``hop`` samples, which is
where :meth:`vqcore.speech.corpus.Item.phone_labels` reads the phone of frame ``i``; an
utterance of ``n`` samples has ``n // hop`` frames.

Synthesis (:func:`griffin_lim`): the vocoder of the voice-conversion examples. The mel magnitudes
are mapped back to a linear-frequency magnitude by non-negative least squares (the pseudo-inverse
solution clipped at zero, refined by multiplicative updates); the frames are linearly interpolated to a finer hop (``oversample``, which gives
Griffin-Lim more overlap to work with); then the fast Griffin-Lim iteration (Perraudin, Balazs and
Søndergaard 2013: the usual projection onto consistent spectrograms plus a momentum term)
estimates a phase. It is a documented, training-free vocoder: intelligible, but phasey and
buzzy compared with a neural vocoder.
"""
from __future__ import annotations

import math

import torch

__all__ = ["LogMel", "griffin_lim", "hz_to_mel", "mel_filterbank", "mel_to_hz"]


def hz_to_mel(f: torch.Tensor | float) -> torch.Tensor:
    """HTK mel scale: ``2595 log10(1 + f / 700)``."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(f, dtype=torch.float64) / 700.0)


def mel_to_hz(m: torch.Tensor | float) -> torch.Tensor:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (torch.as_tensor(m, dtype=torch.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, fmin: float = 0.0, fmax: float | None = None) -> torch.Tensor:
    """Triangular filters equally spaced on the mel scale, each with unit peak: ``(n_mels, n_fft // 2 + 1)``."""
    if n_mels < 1:
        raise ValueError(f"n_mels must be >= 1, got {n_mels}")
    if n_fft < 2:
        raise ValueError(f"n_fft must be >= 2, got {n_fft}")
    fmax = sample_rate / 2 if fmax is None else float(fmax)
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(f"fmin and fmax must satisfy 0 <= fmin < fmax <= sample_rate / 2, got {fmin}, {fmax}")
    edges = mel_to_hz(torch.linspace(float(hz_to_mel(fmin)), float(hz_to_mel(fmax)), n_mels + 2, dtype=torch.float64))
    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


class LogMel:
    """Log-mel analysis of 16 kHz speech.

    Args:
        sample_rate: Hz.
        n_mels: mel bands.
        hop: samples between frames (320 = 20 ms at 16 kHz).
        win_length: Hann window length in samples.
        n_fft: FFT size (>= ``win_length``).
        floor: added to the mel magnitudes before the logarithm.

    Shapes: :meth:`__call__` ``(num_samples,)`` or ``(B, num_samples)`` -> ``(num_frames, n_mels)``
    or ``(B, num_frames, n_mels)`` with ``num_frames = num_samples // hop``.
    """

    def __init__(self, sample_rate: int = 16000, n_mels: int = 64, hop: int = 320, win_length: int = 640,
                 n_fft: int = 1024, floor: float = 1e-4) -> None:
        for name, value in (("sample_rate", sample_rate), ("n_mels", n_mels), ("hop", hop),
                            ("win_length", win_length), ("n_fft", n_fft)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if win_length > n_fft:
            raise ValueError(f"win_length ({win_length}) must be <= n_fft ({n_fft})")
        if hop > win_length:
            raise ValueError(f"hop ({hop}) must be <= win_length ({win_length})")
        if not floor > 0:
            raise ValueError(f"floor must be > 0, got {floor}")
        self.sample_rate, self.n_mels, self.hop = int(sample_rate), int(n_mels), int(hop)
        self.win_length, self.n_fft, self.floor = int(win_length), int(n_fft), float(floor)
        self.window = torch.hann_window(self.win_length, dtype=torch.float64).float()
        self.filters = mel_filterbank(self.n_mels, self.n_fft, self.sample_rate)
        self._pinv = torch.linalg.pinv(self.filters.double()).float()  # (F, n_mels)

    def config(self) -> dict[str, float | int]:
        return {"sample_rate": self.sample_rate, "n_mels": self.n_mels, "hop": self.hop,
                "win_length": self.win_length, "n_fft": self.n_fft, "floor": self.floor}

    def num_frames(self, num_samples: int) -> int:
        return num_samples // self.hop

    def stft(self, audio: torch.Tensor) -> torch.Tensor:
        """Complex STFT ``(..., F, num_frames)``, frame ``i`` centred on sample ``i * hop + hop // 2``."""
        audio = torch.as_tensor(audio, dtype=torch.float32)
        if audio.dim() not in (1, 2):
            raise ValueError(f"audio must have shape (num_samples,) or (B, num_samples), got {tuple(audio.shape)}")
        n = audio.shape[-1] // self.hop
        if n < 1:
            raise ValueError(f"audio must hold at least one hop ({self.hop} samples), got {audio.shape[-1]}")
        shifted = audio[..., self.hop // 2:]  # centre=True puts frame i at sample i*hop of the shifted signal
        spec = torch.stft(shifted, self.n_fft, self.hop, self.win_length, self.window.to(audio.device),
                          center=True, pad_mode="constant", return_complex=True)
        return spec[..., :n]

    def mel_magnitude(self, audio: torch.Tensor) -> torch.Tensor:
        """Mel magnitudes ``(..., num_frames, n_mels)``."""
        mag = self.stft(audio).abs()
        return (self.filters.to(mag.device) @ mag).transpose(-1, -2)

    def __call__(self, audio: torch.Tensor) -> torch.Tensor:
        return torch.log(self.mel_magnitude(audio) + self.floor)

    def linear_magnitude(self, logmel: torch.Tensor, iterations: int = 100) -> torch.Tensor:
        """Non-negative linear magnitude ``(F, num_frames)`` whose mel bands match a log-mel ``(num_frames, n_mels)``.

        Least squares under ``>= 0``: the pseudo-inverse solution clipped at zero, refined by
        ``iterations`` multiplicative updates (Lee and Seung's rule for the Euclidean distance),
        which keep it non-negative.
        """
        logmel = torch.as_tensor(logmel, dtype=torch.float32)
        if logmel.dim() != 2 or logmel.shape[1] != self.n_mels:
            raise ValueError(f"logmel must have shape (num_frames, {self.n_mels}), got {tuple(logmel.shape)}")
        mel = (logmel.exp() - self.floor).clamp_min(0.0).T  # (n_mels, T)
        fb = self.filters.to(mel.device)
        spec = (self._pinv.to(mel.device) @ mel).clamp_min(0.0) + 1e-6
        numerator = fb.T @ mel
        for _ in range(int(iterations)):
            spec = spec * numerator / (fb.T @ (fb @ spec) + 1e-10)
        return spec


def griffin_lim(logmel: torch.Tensor, analysis: LogMel, iterations: int = 64, oversample: int = 2,
                momentum: float = 0.99, seed: int = 0) -> torch.Tensor:
    """Waveform ``(num_frames * hop,)`` from a log-mel ``(num_frames, n_mels)`` made by ``analysis``.

    Non-negative least-squares inversion of the mel filterbank (:meth:`LogMel.linear_magnitude`), linear interpolation of the frames to ``hop / oversample``,
    then ``iterations`` of fast Griffin-Lim with ``momentum`` from a seeded random phase. The output
    is aligned with the analysed audio (frame ``i`` centred on sample ``i * hop + hop // 2``) and
    scaled so that its peak is at most 0.98.
    """
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    if oversample < 1 or analysis.hop % oversample:
        raise ValueError(f"oversample must be a positive divisor of the hop ({analysis.hop}), got {oversample}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    mag = analysis.linear_magnitude(logmel)  # (F, T)
    n = mag.shape[1]
    hop = analysis.hop // oversample
    if oversample > 1:  # frame i sits at i*hop + hop/2; interpolate onto the finer grid
        fine = (torch.arange(n * oversample, dtype=torch.float64) + 0.5) / oversample - 0.5
        fine = fine.clamp(0, n - 1)
        lo = fine.floor().long().clamp(max=n - 1)
        hi = (lo + 1).clamp(max=n - 1)
        w = (fine - lo).float()
        mag = mag[:, lo] * (1 - w) + mag[:, hi] * w
    length = n * analysis.hop
    window = analysis.window.to(mag.device)
    # the fine frames are centred on samples j*hop + hop/2 (+ offset); synthesise on a signal shifted
    # by half a fine hop so that torch's centred frames line up, then shift back
    shift = hop // 2

    def stft(x: torch.Tensor) -> torch.Tensor:
        return torch.stft(x, analysis.n_fft, hop, analysis.win_length, window, center=True,
                          pad_mode="constant", return_complex=True)[:, : mag.shape[1]]

    def istft(spec: torch.Tensor) -> torch.Tensor:
        return torch.istft(spec, analysis.n_fft, hop, analysis.win_length, window, center=True,
                           length=length - shift)

    gen = torch.Generator().manual_seed(int(seed))
    phase = torch.rand(mag.shape, generator=gen) * (2 * math.pi)
    spec = torch.polar(mag, phase.to(mag.device))
    previous = torch.zeros_like(spec)
    for _ in range(int(iterations)):
        rebuilt = stft(istft(spec))
        accelerated = rebuilt - momentum * previous
        previous = rebuilt
        spec = mag * torch.exp(1j * torch.angle(accelerated))
    audio = torch.cat([torch.zeros(shift, device=mag.device), istft(spec)])
    peak = audio.abs().max()
    if peak > 0.98:
        audio = audio * (0.98 / peak)
    return audio
