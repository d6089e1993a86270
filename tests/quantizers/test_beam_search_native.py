"""vqcore.quantizers.beam_search_native: the C beam search returns the torch search's codes, and
everything falls back to the torch search where it is off, cannot be built or does not apply."""
from __future__ import annotations

import logging
import os
import shutil

import pytest
import torch

from vqcore.quantizers import beam_search_native as native
from vqcore.quantizers.beam_search import SearchTables, additive_beam_search, additive_exhaustive_search

#: CI has a C compiler (.ci/run installs one): there the C search must be built, not skipped
NEED_COMPILER = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _torch_codes(monkeypatch, *args, **kwargs) -> torch.Tensor:
    with monkeypatch.context() as m:
        m.setenv("VQCORE_NATIVE", "0")
        return additive_beam_search(*args, **kwargs)


def test_the_c_search_is_built_where_a_compiler_is():
    have = any(shutil.which(c) for c in ("cc", "gcc", "clang")) or bool(os.environ.get("CC"))
    if not have and not NEED_COMPILER:
        pytest.skip("no C compiler here")
    assert native.available()
    assert native.library_path(shutil.which("cc") or shutil.which("gcc") or "cc").suffix == ".so"


@pytest.mark.parametrize("stages,size,beam,dim", [
    (2, 4, 1, 3), (2, 16, 40, 5),    # a beam wider than the candidates keeps them all
    (3, 5, 3, 4), (3, 8, 2, 6),      # K not a multiple of the 8 candidates compared at once
    (4, 7, 64, 6), (4, 16, 4, 8), (4, 64, 16, 16), (4, 256, 8, 32),
    (5, 32, 8, 16), (6, 3, 12, 4),   # many duplicate sets: the same codewords in other orders
])
@pytest.mark.parametrize("ordered", [False, True])
def test_the_c_search_returns_the_torch_search_codes(monkeypatch, stages, size, beam, dim, ordered):
    if not native.available():
        pytest.skip("the C search is not built here")
    gen = torch.Generator().manual_seed(stages * 1000 + size * 10 + beam)
    books = torch.randn(stages, size, dim, generator=gen)
    x = torch.randn(700, dim, generator=gen) * 1.5
    expected = _torch_codes(monkeypatch, x, books, beam, ordered=ordered)
    got = additive_beam_search(x, books, beam, ordered=ordered)
    assert torch.equal(got, expected)


def test_the_c_search_with_the_widest_beam_is_exhaustive():
    if not native.available():
        pytest.skip("the C search is not built here")
    torch.manual_seed(3)
    books = torch.randn(3, 4, 5)
    x = torch.randn(300, 5)
    assert torch.equal(additive_beam_search(x, books, 3 * 4 ** 3), additive_exhaustive_search(x, books))


def test_the_c_search_is_called_and_reads_the_tables_it_is_given():
    if not native.available():
        pytest.skip("the C search is not built here")
    torch.manual_seed(0)
    books, x = torch.randn(4, 16, 8), torch.randn(50, 8)
    tables = SearchTables(books, torch.float32)
    lin = torch.addmm(tables.norms, x, tables.flat_books.T, alpha=-2.0)
    gram = tables.table(0)[:tables.gram_rows]
    codes = native.beam_search(lin, (x * x).sum(-1), gram, tables.hashes, 4, 16, 4, False)
    assert codes is not None and codes.shape == (50, 4) and codes.dtype == torch.int64
    assert torch.equal(codes, additive_beam_search(x, books, 4))
    # where it does not apply it declines, and the caller runs the torch search
    assert native.beam_search(lin.double(), (x * x).sum(-1), gram, tables.hashes, 4, 16, 4, False) is None
    assert native.beam_search(lin, (x * x).sum(-1), gram, tables.hashes, 1, 64, 4, False) is None
    assert native.beam_search(lin, (x * x).sum(-1), gram, tables.hashes, 4, 16, native.MAX_BUFFER, False) is None


def test_turned_off_it_is_not_used(monkeypatch):
    monkeypatch.setenv("VQCORE_NATIVE", "0")
    assert not native.available()
    torch.manual_seed(1)
    books, x = torch.randn(3, 8, 4), torch.randn(20, 4)
    tables = SearchTables(books, torch.float32)
    lin = torch.addmm(tables.norms, x, tables.flat_books.T, alpha=-2.0)
    assert native.beam_search(lin, (x * x).sum(-1), tables.table(0)[:tables.gram_rows], tables.hashes,
                              3, 8, 2, False) is None


def test_a_failed_build_falls_back_to_torch_with_a_warning(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(native, "_state", {})  # forget the library this process loaded
    monkeypatch.setenv("VQCORE_NATIVE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", shutil.which("false") or "/bin/false")
    torch.manual_seed(2)
    books, x = torch.randn(3, 8, 4), torch.randn(40, 4)
    expected = _torch_codes(monkeypatch, x, books, 4)
    with caplog.at_level(logging.WARNING, logger=native.__name__):
        assert not native.available()
        assert torch.equal(additive_beam_search(x, books, 4), expected)
    assert "could not be built" in caplog.text
    assert not any(tmp_path.iterdir())  # no half-written library is left behind


def test_the_library_is_built_into_the_cache_folder_atomically(monkeypatch, tmp_path):
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        if NEED_COMPILER:
            pytest.fail("CI needs a C compiler (.ci/run installs gcc)")
        pytest.skip("no C compiler here")
    monkeypatch.setattr(native, "_state", {})
    monkeypatch.setenv("VQCORE_NATIVE_DIR", str(tmp_path / "cache"))
    assert native.available()
    built = list((tmp_path / "cache").iterdir())
    assert [p.name for p in built] == [native.library_path(compiler).name]  # no temporary file left


def _scores_with_ties_and_specials(gen: torch.Generator, rows: int, size: int) -> torch.Tensor:
    s = torch.randn(rows, size, generator=gen).round()  # many exactly equal scores
    pick = torch.rand(rows, size, generator=gen)
    s[pick < 0.02] = float("nan")
    s[(pick > 0.3) & (pick < 0.35)] = float("-inf")
    s[(pick > 0.5) & (pick < 0.55)] = -0.0
    s[::7] = float("inf")
    return s


@pytest.mark.parametrize("size", [1, 2, 7, 8, 15, 16, 17, 33, 64, 1000])
def test_the_c_argmin_gives_torch_argmin_indices(size):
    if not native.available():
        pytest.skip("the C search is not built here")
    gen = torch.Generator().manual_seed(size)
    for s in (torch.randn(200, size, generator=gen), _scores_with_ties_and_specials(gen, 200, size)):
        assert torch.equal(native.argmin_rows(s), s.argmin(-1))


def test_the_c_argmin_does_not_apply_to_other_inputs(monkeypatch):
    s = torch.randn(10, 6)
    assert native.argmin_rows(s.double()) is None
    assert native.argmin_rows(s.t()) is None  # not contiguous
    assert native.argmin_rows(s[None]) is None  # not 2-D
    monkeypatch.setenv("VQCORE_NATIVE", "0")
    assert native.argmin_rows(s) is None


def test_the_nearest_codeword_search_gives_the_same_codes_in_c_and_in_torch(monkeypatch):
    """VQ, RVQ and PVQ encode through vqcore.quantizers.nearest, whose argmin runs in C on a CPU."""
    import vqcore
    if not native.available():
        pytest.skip("the C search is not built here")
    torch.manual_seed(4)
    quantizers = [vqcore.VQ(8, 7), vqcore.ResidualVQ(8, 3, 5), vqcore.ProductVQ(8, 2, 4)]
    x = torch.randn(3000, 8)
    x[5] = quantizers[0].codebooks[0, 3]  # an exact hit
    with_c = [q.encode(x) for q in quantizers]
    monkeypatch.setenv("VQCORE_NATIVE", "0")
    for q, codes in zip(quantizers, with_c):
        assert torch.equal(codes, q.encode(x)), type(q).__name__
