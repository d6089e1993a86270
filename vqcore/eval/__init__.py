"""Evaluation: the papers' complexity model (:mod:`.complexity`), nearest-neighbour search with
quantized bases and its exact ground truth (:mod:`.ann`), the adjacent-index divergence of
SFVQ codes (:mod:`.index_divergence`), and the fidelity report that checks our results and the
paper's against the published findings (:mod:`~vqcore.eval.fidelity`)."""
