"""The papers' experiments, each writing result files in the authors' layout.

The framework:

- :mod:`~vqcore.experiments.registry`: every figure of both papers: its runner, its result files,
  its notebook and its paper. ``vqcore reproduce``, ``vqcore figures``, the notebooks and the
  book read it.
- :mod:`~vqcore.experiments.common`: what every runner shares: the device, the figure parser, the
  preset type and its lookup, seeds and the runner signature.
- :mod:`~vqcore.experiments.run_cache`: finished runs on disk (JSON records, safetensors
  companions, a lock per run), so an interrupted experiment resumes and runners share the work.
- :mod:`~vqcore.experiments.fit_presets`: the preset fields of the papers' training recipe.
- :mod:`~vqcore.experiments.reproduce`: run the runners of the chosen figures at a preset, then
  execute their notebooks.

The runners (the registry says which figure each makes), each with the modules it uses:

- :mod:`~vqcore.experiments.toy`: Gaussian toy data, ICASSP 2023 Figures 2a, 2b and 3; its
  presets in :mod:`~vqcore.experiments.toy_presets`.
- :mod:`~vqcore.experiments.complexity_figures`: the complexity model, Figures 4c and 6b.
- :mod:`~vqcore.experiments.speech_coding`: speech coding, Figure 1
  (``speech_presets``, ``speech_runs``, ``speech_players``), and
  :mod:`~vqcore.experiments.speech_analysis`, Figure 1's analysis of why PVQ wins PESQ.
- :mod:`~vqcore.experiments.images`: image compression, Figures 4a and 4b
  (``image_presets``, ``image_data``, ``image_training``, ``image_metrics``, ``image_results``).
- :mod:`~vqcore.experiments.ann_recall`: nearest-neighbour search, Figures 5 and 6a
  (``ann_presets``, ``ann_proposed``, ``ann_baselines``).
- :mod:`~vqcore.experiments.interspeech`: the space-filling VQ, the Interspeech 2023 figures
  (``interspeech_presets``, ``interspeech_runs``, ``interspeech_figures``, ``sfvq_2d``,
  ``voice_conversion_training``, ``voice_conversion_audio``).
- :mod:`~vqcore.experiments.nsvq2022_speech` and :mod:`~vqcore.experiments.nsvq2022_images`: the
  NSVQ paper's (IEEE Access 2022) Figures 1 and 3, every estimator side by side
  (``nsvq2022_presets``, ``nsvq2022_usage``: codebook usage over training).
- :mod:`~vqcore.experiments.autoencoder_training`: the training loop of an autoencoder around a
  quantizer, shared by the image experiments and the NSVQ paper's speech figure.

The studies beside the figures (how close the figures come to the paper, and why):

- :mod:`~vqcore.experiments.toy_sources`: which toy data the paper's curves fit, source by source
  (the sources in :mod:`vqcore.data.toy_sources`).
- :mod:`~vqcore.experiments.image_ceiling`: what caps the image SSIM (the autoencoder without a quantizer).
- :mod:`~vqcore.experiments.budget_study`: every experiment family at 1x, 4x and 16x the quick
  budget, and the distance to the paper at each (``budget_summary``).
- :mod:`~vqcore.experiments.timing`: what each figure's results of record cost, from their ``meta``.
- :mod:`~vqcore.experiments.rerun_check`: a re-run of a preset against the results of record: what each
  figure cost there and how far its numbers moved.

Importing this package imports none of them.
"""
