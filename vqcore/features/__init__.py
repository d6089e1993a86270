"""Signal features for the speech models: log-mel analysis and its Griffin-Lim inversion.

- :mod:`~vqcore.features.logmel`: :class:`~vqcore.features.logmel.LogMel` (analysis) and
  :func:`~vqcore.features.logmel.griffin_lim` (the vocoder of the voice-conversion examples).

torch only (no librosa or torchaudio).
"""
from .logmel import LogMel, griffin_lim, mel_filterbank

__all__ = ["LogMel", "griffin_lim", "mel_filterbank"]
