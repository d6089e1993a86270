"""Evaluation: the papers' complexity model (:mod:`.complexity`), nearest-neighbour search with
quantized bases and its exact ground truth (:mod:`.ann`), and the adjacent-index divergence of
SFVQ codes (:mod:`.index_divergence`)."""
