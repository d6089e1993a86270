"""The smoke corpus, synthesized once for the speech tests that need it (needs ``espeakng-loader``)."""
from __future__ import annotations

import pytest

from vqcore.speech import corpus as corpus_mod

from tests.helpers import need


@pytest.fixture(scope="session")
def smoke_corpus(tmp_path_factory):
    need("espeakng-loader")
    return corpus_mod.build_corpus("smoke", seed=0, cache_dir=tmp_path_factory.mktemp("speech"))
