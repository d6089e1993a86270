"""The eSpeak -> TIMIT phone mapping and the seven TIMIT groups."""
from __future__ import annotations

import pytest

from vqcore.speech import phones


def test_groups_are_the_seven_timit_groups():
    assert phones.GROUP_NAMES == ("plosives", "fricatives", "nasals", "vowels", "semivowels", "diphthongs", "silence")
    assert phones.GROUPS["silence"] == ("h#",)
    assert phones.group_of("zh") == "fricatives" and phones.group_of("oy") == "diphthongs"
    assert phones.group_of("dx") == phones.OTHER


def test_mapping_handles_stress_and_rejects_unknown():
    assert phones.to_timit("'aI") == "ay" and phones.to_timit(",oU") == "ow" and phones.to_timit("_:") == "h#"
    with pytest.raises(KeyError, match="no TIMIT mapping"):
        phones.to_timit("not-a-phoneme")


def test_mapping_table_renders_every_group():
    table = phones.mapping_table_markdown()
    for g in phones.GROUP_NAMES:
        assert f"| {g} |" in table
    assert "`dZ`" in table and "`jh`" in table
    assert phones.groups_table_markdown().count("\n") == len(phones.GROUPS) + 1
