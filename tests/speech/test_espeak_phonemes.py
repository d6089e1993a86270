"""eSpeak NG's phoneme tables, and the TIMIT mapping that must cover them (needs ``espeakng-loader``)."""
from __future__ import annotations

from vqcore.speech import espeak_phonemes, phones

from tests.helpers import need


def test_mapping_covers_espeak_english_phoneme_tables():
    need("espeakng-loader")
    for table in ("en", "en-us", "en-us-nyc"):
        inventory = espeak_phonemes.phoneme_inventory(table)
        assert inventory, table
        missing = [m for m in inventory if m not in phones.ESPEAK_TO_TIMIT]
        assert not missing, f"eSpeak table {table} has unmapped phonemes {missing}"
