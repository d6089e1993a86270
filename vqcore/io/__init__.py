"""Files: atomic writes (:mod:`.atomic`), safetensors files with a format tag (:mod:`.tensors`),
cached ``.npz`` data arrays keyed by their settings (:mod:`.arrays`) and the results JSON in the
authors' layout (:mod:`.results`). Nothing here knows a quantizer."""
