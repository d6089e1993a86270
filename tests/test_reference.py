"""reference/: the authors' published result files, vendored byte-identical, kept apart from Results/."""
import hashlib
from pathlib import Path

import pytest

from vqcore.io import results

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "reference"
SHARED = REPO.parent / "shared" / "reference"
FILES = sorted(p.relative_to(REFERENCE).as_posix() for p in REFERENCE.rglob("*.json"))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_published_file_is_there_and_loads():
    papers = {rel.split("/")[0] for rel in FILES}
    assert papers == {"icassp2023", "nsvq2022"}
    assert sum(rel.startswith("icassp2023/") for rel in FILES) == 13
    for rel in FILES:
        results.load(REFERENCE / rel)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/reference is not beside the repository")
def test_the_copies_are_byte_identical_to_the_published_files():
    published = sorted(p.relative_to(SHARED).as_posix() for p in SHARED.rglob("*.json"))
    assert FILES == published
    for rel in FILES:
        assert _sha(REFERENCE / rel) == _sha(SHARED / rel), rel


def test_the_readme_names_the_sources_the_licence_and_whose_numbers_these_are():
    text = (REFERENCE / "README.md").read_text(encoding="utf-8")
    for needed in ("MHVali/Additive-Residual-Product-Vector-Quantization-Methods",
                   "MHVali/Noise-Substitution-in-Vector-Quantization", "MIT License",
                   "Copyright (c) 2023-present, Descript", "the authors' numbers, not ours"):
        assert needed in text, needed


def test_results_of_record_hold_none_of_the_published_files():
    published = {_sha(REFERENCE / rel) for rel in FILES}
    ours = [p for p in (REPO / "Results").rglob("*") if p.is_file()]
    assert ours and not [p for p in ours if _sha(p) in published]
