"""vqcore's benchmark against peer libraries; run it with ``python benchmarks/run.py`` (see README.md).

Modules: :mod:`.config` (the configuration, the sizes of a run, the data), :mod:`.timing` (the job
record and the round-robin timer), :mod:`.ours` and :mod:`.peers` (the encoders timed),
:mod:`.training` (training steps/second), :mod:`.quality` (MSE on shared codebooks),
:mod:`.report` (ratios, targets, the summary, the JSON), :mod:`.run` (the command line) and
:mod:`.grid` (encoding speed and MSE over codebook size and beam width, against faiss).
"""
