"""Files: atomic writes (:mod:`.atomic`), safetensors files with a format tag (:mod:`.tensors`),
cached ``.npz`` data arrays keyed by their settings (:mod:`.arrays`), the results JSON in the
authors' layout (:mod:`.results`), its bands and meta (:mod:`.result_meta`) and the limits that
keep JSON carried back unchanged (:mod:`.json_limits`). Nothing here knows a quantizer."""
