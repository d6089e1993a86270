"""The bit allocation: exact bit accounting at every bitrate."""
from __future__ import annotations

import pytest

from vqcore.speech import allocation
from vqcore.speech.allocation import BITRATES, bit_allocation


@pytest.mark.parametrize("bitrate", BITRATES)
def test_bit_accounting_is_exact(bitrate):
    a = bit_allocation(bitrate)
    assert a.bits_per_frame * allocation.FRAMES_PER_SECOND == round(bitrate * 1000)
    assert a.bits_per_frame == {8.0: 160, 9.6: 192, 13.2: 264, 16.4: 328, 24.4: 488, 32.0: 640}[bitrate]
    assert a.side_bits == allocation.SIDE_BITS == 48
    assert a.side_bits + a.vq_bits == a.bits_per_frame == sum(a.field_widths)
    assert len(a.bits_per_stage) == 20 and max(a.bits_per_stage) <= 10
    assert all(b == 0 or b >= allocation.MIN_BITS_PER_STAGE for b in a.bits_per_stage)
    assert sum(len(ps) * b * 4 for b, ps in a.groups.items()) == a.vq_bits
    assert list(a.bits_per_stage) == sorted(a.bits_per_stage, reverse=True)  # low frequencies first


def test_bit_allocation_rejects_inexact_rates():
    with pytest.raises(ValueError, match="whole number of bits"):
        bit_allocation(8.01)
    with pytest.raises(ValueError):
        bit_allocation(2.0)  # 40 bits: less than the side information
    assert "| 13.2 | 264 |" in allocation.bit_allocation_markdown()


@pytest.mark.parametrize("bitrate", BITRATES)
def test_coded_and_uncoded_sub_vectors_partition_the_frame(bitrate):
    a = bit_allocation(bitrate)
    assert sorted(a.coded + a.uncoded) == list(range(allocation.NUM_SUBVECTORS))
    assert all(a.bits_per_stage[p] > 0 for p in a.coded) and all(a.bits_per_stage[p] == 0 for p in a.uncoded)
    assert sorted(p for ps in a.groups.values() for p in ps) == a.coded
