"""Files: atomic writes (:mod:`.atomic`), safetensors files with a format tag (:mod:`.tensors`),
cached ``.npz`` data arrays keyed by their settings (:mod:`.arrays`), the results JSON in the
authors' layout (:mod:`.results` reads and writes it, :mod:`.result_format` holds its layout
objects and validation), its bands and meta (:mod:`.result_meta`) and the limits that
keep JSON carried back unchanged (:mod:`.json_limits`), file locks that work with or without fcntl (:mod:`.locks`), and JSON summaries tagged with their format (:mod:`.tagged_json`). Nothing here knows a quantizer."""
