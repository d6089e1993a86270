"""Files: atomic writes (:mod:`.atomic`), safetensors files with a format tag (:mod:`.tensors`)
and the results JSON in the authors' layout (:mod:`.results`). Nothing here knows a quantizer."""
