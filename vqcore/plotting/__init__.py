"""Plot helpers for the figure notebooks: curves with bands and the paper's overlay
(:mod:`.figures`), recall against search depth (:mod:`.recall`), the fidelity report's scale-free
curves (:mod:`~vqcore.plotting.fidelity`) and encoding cost against codebook size and beam (:mod:`~vqcore.plotting.encode_cost`). They take
:class:`~vqcore.io.results.ResultFile` objects, so our files and the authors' draw the same way."""
