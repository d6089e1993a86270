"""Plot helpers for the figure notebooks: curves with bands and the paper's overlay
(:mod:`.figures`) and recall against search depth (:mod:`.recall`). They take
:class:`~vqcore.io.results.ResultFile` objects, so our files and the authors' draw the same way."""
