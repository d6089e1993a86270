"""vqcore.quantizers.beam_search: what the searches find, and that the speed-ups do not change it.

The first tests check the searches against exhaustive and plain fixed-order search. The reference
further below is the straightforward tensorized beam search (full ``(n, beam, M*K)`` score
tensors, ``+inf`` for used codebooks, step-by-step increment updates) that the optimised code
replaced; the optimised code must return exactly the same codes.
"""
from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from vqcore.quantizers import beam_search
from vqcore.quantizers.beam_search import (
    _drop_repeats,
    _set_hashes,
    _smallest,
    additive_beam_search,
    additive_exhaustive_search,
)


# -- what the search finds --------------------------------------------------------

@pytest.mark.parametrize("stages,size", [(2, 5), (3, 4), (4, 3), (1, 7)])
def test_avq_wide_beam_equals_exhaustive(stages, size):
    torch.manual_seed(stages)
    x = torch.randn(200, 6, dtype=torch.float64)
    books = torch.randn(stages, size, 6, dtype=torch.float64)
    # a beam wider than any number of partial tuples keeps them all
    wide = math.comb(stages, stages // 2) * size ** stages
    exhaustive = additive_exhaustive_search(x, books)
    assert torch.equal(additive_beam_search(x, books, wide), exhaustive)
    assert torch.equal(additive_beam_search(x, books, wide, ordered=True), exhaustive)


def test_avq_wider_beam_lowers_error_on_average():
    torch.manual_seed(0)
    x = torch.randn(2000, 16)
    books = torch.randn(4, 16, 16) * 0.5
    stage = torch.arange(4)
    errors = []
    for beam in (1, 4, 16):
        codes = additive_beam_search(x, books, beam)
        errors.append(((books[stage, codes].sum(1) - x) ** 2).sum(-1).mean().item())
    assert errors[0] > errors[1] > errors[2]


def _fixed_order_beam_search(x: torch.Tensor, books: torch.Tensor, beam: int) -> torch.Tensor:
    """Plain fixed-order beam search (codebook 0, then 1, ...), one vector at a time: ``(N, M)`` codes."""
    stages, size, _ = books.shape
    out = []
    for v in x:
        tuples = [((), v)]  # (codes so far, residual)
        for m in range(stages):
            cand = [(codes + (k,), res - books[m, k]) for codes, res in tuples for k in range(size)]
            cand.sort(key=lambda c: float((c[1] ** 2).sum()))
            tuples = cand[:beam]
        out.append(tuples[0][0])
    return torch.tensor(out)


@pytest.mark.parametrize("beam", [1, 3, 8])
def test_avq_ordered_track_is_never_worse_than_either_search(beam, gen):
    gen_ = gen(7)
    x = torch.randn(150, 6, dtype=torch.float64, generator=gen_)
    # codebooks of shrinking scale, as a residual quantizer trains them: free order can lose here
    books = torch.randn(3, 6, 6, dtype=torch.float64, generator=gen_) * torch.tensor([1.0, 0.5, 0.25]).view(3, 1, 1)
    stage = torch.arange(3)

    def err(codes):
        return ((books[stage, codes].sum(1) - x) ** 2).sum(-1)

    free = err(additive_beam_search(x, books, beam))
    fixed = err(_fixed_order_beam_search(x, books, beam))
    both = err(additive_beam_search(x, books, beam, ordered=True))
    assert torch.all(both <= torch.minimum(free, fixed) + 1e-12)
    if beam > 1:  # the two searches do disagree here, so the test can see a lost tuple
        assert torch.any(fixed < free - 1e-9) or torch.any(free < fixed - 1e-9)


# -- the optimised search equals the plain tensorized one ---------------------------


def _reference_beam_search(x: torch.Tensor, codebooks: torch.Tensor, beam_width: int) -> torch.Tensor:
    m_count, k_size, dim = codebooks.shape
    flat = codebooks.reshape(-1, dim).to(x.dtype)
    mk = m_count * k_size
    book = torch.arange(m_count).repeat_interleave(k_size)
    gram2 = (2 * (flat @ flat.T)).masked_fill(book[:, None] == book[None, :], float("inf"))
    hashes = _set_hashes(m_count, k_size, x.device)
    n = x.shape[0]
    rows = torch.arange(n)[:, None]
    inc = torch.addmm((flat * flat).sum(-1), x, flat.T, alpha=-2.0).unsqueeze(1)  # (n, 1, MK)
    if m_count == 1:
        return inc[:, 0].argmin(-1, keepdim=True)
    err = (x * x).sum(-1, keepdim=True)
    chosen = torch.full((n, 1, m_count), -1, dtype=torch.long)
    key = torch.zeros(n, 1, dtype=torch.int64)
    for step in range(m_count - 1):
        b = inc.shape[1]
        score = (err.unsqueeze(-1) + inc).reshape(n, b * mk)
        pool = min(score.shape[1], (beam_width - 1) * (step + 1) + 1)
        cand_score, col = score.topk(pool, dim=1, largest=False, sorted=True)
        par, new = col // mk, col % mk
        cand_key = key.gather(1, par) + hashes[new]
        if step:
            cand_score = _drop_repeats(cand_score, cand_key)
        err, pos = cand_score.topk(min(beam_width, pool), dim=1, largest=False, sorted=False)
        par, new, key = par.gather(1, pos), new.gather(1, pos), cand_key.gather(1, pos)
        chosen = chosen[rows, par].scatter(2, (new // k_size).unsqueeze(-1), (new % k_size).unsqueeze(-1))
        inc = (inc.reshape(n * b, mk)[(rows * b + par).reshape(-1)] + gram2[new.reshape(-1)]).reshape(n, -1, mk)
    last = (chosen < 0).long().argmax(-1)  # (n, b): the codebook each tuple has left
    block = (last * k_size).unsqueeze(-1) + torch.arange(k_size)
    total = (err.unsqueeze(-1) + torch.gather(inc, 2, block)).reshape(n, -1)
    best = total.argmin(dim=1)
    beam, entry = best // k_size, best % k_size
    codes = chosen[torch.arange(n), beam]
    return codes.scatter(1, last[torch.arange(n), beam].unsqueeze(-1), entry.unsqueeze(-1))


def _data(n: int, dim: int, stages: int, size: int, dtype: torch.dtype, seed: int):
    gen = torch.Generator().manual_seed(seed)
    mix = torch.randn(dim, dim, generator=gen) / dim ** 0.5
    x = (torch.randn(n, dim, generator=gen) @ mix).to(dtype)
    books = (0.3 * torch.randn(stages, size, dim, generator=gen)).to(dtype)
    return x, books


@pytest.mark.parametrize("beam", [1, 4, 16])
@pytest.mark.parametrize("stages,size,dim,dtype", [
    (4, 256, 64, torch.float32),   # the benchmark configuration
    (3, 64, 16, torch.float64),
    (5, 16, 12, torch.float32),
    (4, 12, 8, torch.float32),     # K with a factor 4 only: two-level selection
    (3, 5, 6, torch.float64),      # odd K: plain top-k
    (2, 32, 8, torch.float32),
])
def test_optimised_beam_search_equals_reference(beam, stages, size, dim, dtype):
    x, books = _data(800 if size >= 64 else 400, dim, stages, size, dtype, seed=stages * 100 + size)
    assert torch.equal(additive_beam_search(x, books, beam), _reference_beam_search(x, books, beam))


def test_results_do_not_depend_on_chunk_size():
    x, books = _data(300, 16, 4, 64, torch.float32, seed=3)
    want = additive_beam_search(x, books, 8, chunk_size=300)
    for chunk in (7, 64, 10_000):
        assert torch.equal(additive_beam_search(x, books, 8, chunk_size=chunk), want)
    assert torch.equal(additive_beam_search(x[:20], books, 8, chunk_size=1), want[:20])



def _products(monkeypatch, x, *args, **kwargs):
    """The codes of ``additive_beam_search(x, *args, **kwargs)`` and the (first row, rows) of ``x`` of
    every matrix product of its inner products."""
    seen, addmm = [], torch.addmm

    def spy(inp, mat1, *a, **k):
        if mat1.untyped_storage().data_ptr() == x.untyped_storage().data_ptr():
            seen.append(((mat1.data_ptr() - x.data_ptr()) // (x.stride(0) * x.element_size()), mat1.shape[0]))
        return addmm(inp, mat1, *a, **k)

    monkeypatch.setattr(torch, "addmm", spy)
    try:
        codes = additive_beam_search(x, *args, **kwargs)
    finally:
        monkeypatch.setattr(torch, "addmm", addmm)
    return codes, sorted(seen)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("ordered", [False, True])
def test_default_chunks_score_like_one_product_chunks(monkeypatch, threads, ordered):
    """Default chunks hold several blocks of matmul_block rows, one product each at the offsets of
    one-block chunks, so the scores (not only the codes) are those of chunk_size=matmul_block."""
    monkeypatch.setitem(beam_search._CHUNK_ELEMENTS, "cpu", 8 * 4 * 16 * 7)  # blocks of 7 rows
    monkeypatch.setitem(beam_search._SEARCH_ELEMENTS, "cpu", 8 * 4 * 16 * 7 * 4)  # chunks of 4 blocks
    x, books = _data(101, 16, 4, 16, torch.float32, seed=9)
    cpu = torch.device("cpu")
    block = beam_search.matmul_block(cpu, 8, 4, 16)
    assert block == 7 and beam_search.default_chunk_size(cpu, 8, 4, 16) == 28
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        want, want_products = _products(monkeypatch, x, books, 8, chunk_size=block, ordered=ordered)
        got, products = _products(monkeypatch, x, books, 8, ordered=ordered)
    finally:
        torch.set_num_threads(old)
    assert products == want_products == [(i, min(7, 101 - i)) for i in range(0, 101, 7)]
    assert torch.equal(got, want)
    assert torch.equal(got, _reference_beam_search(x, books, 8)) or ordered


@pytest.mark.parametrize("size,tuples,per_tuple,pool", [
    (256, 16, 3, 31), (256, 1, 4, 16), (256, 16, 2, 46), (64, 5, 2, 200), (12, 4, 3, 9), (7, 3, 2, 5),
    (256, 2, 1, 512),  # the pool is every candidate
])
def test_hierarchical_selection_is_an_exact_top_k(size, tuples, per_tuple, pool):
    gen = torch.Generator().manual_seed(size + pool)
    n = 40
    inc = torch.randn(n * tuples * per_tuple, size, generator=gen)
    err = 3 * torch.rand(n, tuples, generator=gen)
    full = (inc.view(n, tuples, per_tuple * size) + err.unsqueeze(-1)).view(n, -1)
    want = full.topk(pool, dim=1, largest=False, sorted=True).values
    score, idx = _smallest(inc, err, beam_search._block_sizes(size), pool)
    assert torch.equal(score, want)
    # the indices name candidates holding those scores, each once
    assert torch.equal(full.gather(1, idx - (torch.arange(n) * full.shape[1]).unsqueeze(-1)), score)
    assert all(len(set(row.tolist())) == pool for row in idx)


def test_embedding_bag_adds_a_bag_in_order_exactly():
    """The increments are rebuilt by embedding_bag; its sums must be the step-by-step float additions."""
    gen = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        table = (torch.randn(500, 64, generator=gen) * 10 ** torch.randn(500, 1, generator=gen)).to(dtype)
        for length in (2, 3, 4, 7):
            bags = torch.randint(500, (3000, length), generator=gen)
            want = table[bags[:, 0]]
            for j in range(1, length):
                want = want + table[bags[:, j]]
            assert torch.equal(F.embedding_bag(bags, table, mode="sum"), want)


def test_threads_share_the_chunks_without_changing_the_codes():
    x, books = _data(700, 16, 4, 32, torch.float32, seed=5)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        want = additive_beam_search(x, books, 8, chunk_size=50)
        for t in (2, 3):
            torch.set_num_threads(t)
            for ordered in (False, True):
                got = additive_beam_search(x, books, 8, chunk_size=50, ordered=ordered)
                ref = want if not ordered else additive_beam_search(x, books, 8, chunk_size=700, ordered=True)
                assert torch.equal(got, ref)
            assert torch.get_num_threads() == t  # restored after the search
    finally:
        torch.set_num_threads(threads)

# -- reused tables, and rows far larger than the codewords ---------------------------

def test_reused_tables_give_the_same_codes_and_are_rebuilt_for_new_codebooks():
    x, books = _data(300, 16, 4, 64, torch.float32, seed=11)
    tables = beam_search.SearchTables(books, x.dtype)
    for beam in (1, 4):
        for ordered in (False, True):
            want = additive_beam_search(x, books, beam, ordered=ordered)
            assert torch.equal(additive_beam_search(x, books, beam, ordered=ordered, tables=tables), want)
            # a smaller scratch than the one already there, and one that must grow
            assert torch.equal(additive_beam_search(x, books, beam, chunk_size=7, ordered=ordered, tables=tables),
                               want)
    other = books.flip(1)
    assert not tables.matches(other, x.dtype) and not tables.matches(books, torch.float64)
    assert torch.equal(additive_beam_search(x, other, 4, tables=tables), additive_beam_search(x, other, 4))


def test_tables_in_use_are_not_shared_and_copies_drop_the_gram_table():
    import copy
    import pickle

    x, books = _data(50, 8, 3, 16, torch.float32, seed=12)
    tables = beam_search.SearchTables(books, x.dtype)
    tables.table(10)
    assert tables.claim()
    try:  # another search while the tables are claimed builds its own
        assert torch.equal(additive_beam_search(x, books, 4, tables=tables), additive_beam_search(x, books, 4))
    finally:
        tables.release()
    for clone in (copy.deepcopy(tables), pickle.loads(pickle.dumps(tables))):
        assert clone._table is None and clone.matches(books, x.dtype) and clone.claim()
        assert torch.equal(additive_beam_search(x, books, 4, tables=clone), additive_beam_search(x, books, 4))


def test_gram_rows_built_in_place_equal_the_plain_product():
    _, books = _data(1, 64, 4, 256, torch.float32, seed=13)
    tables = beam_search.SearchTables(books, torch.float32)
    flat = books.reshape(-1, 64)
    want = (2 * (flat @ flat.T)).view(-1, 256)
    assert torch.equal(tables.table(0)[:tables.gram_rows], want)
    assert torch.equal(tables.table(1000)[:tables.gram_rows], want)  # grown: copied, not recomputed


def _relative_exhaustive(x: torch.Tensor, books: torch.Tensor) -> torch.Tensor:
    """Exhaustive search in float64 over the errors relative to ``||x||^2``, ``||sum c||^2 - 2 <x, sum c>``:
    the codes rows far larger than the codewords must get."""
    m_count, k_size, _ = books.shape
    tuples = torch.tensor(list(itertools.product(range(k_size), repeat=m_count)))
    recon = books.double()[torch.arange(m_count), tuples].sum(1)
    return tuples[((recon * recon).sum(-1) - 2 * x.double() @ recon.T).argmin(1)]


@pytest.mark.parametrize("ordered", [False, True])
def test_rows_far_larger_than_the_codewords_get_exact_codes(ordered, monkeypatch):
    """||x|| ~ 1e7 ||c||: float32 scores that start at ||x||^2 cannot tell the tuples apart; such rows are
    searched in float64 relative to ||x||^2, so a beam wide enough to be exhaustive is exact again."""
    gen = torch.Generator().manual_seed(14)
    books = torch.randn(3, 4, 6, generator=gen)
    x = torch.randn(60, 6, generator=gen)
    x[::2] *= 1e7  # half the rows huge, half ordinary
    wide = math.comb(3, 1) * 4 ** 3
    codes = additive_beam_search(x, books, wide, ordered=ordered)
    want = _relative_exhaustive(x[::2], books)
    assert torch.equal(codes[::2], want)
    assert torch.equal(codes[1::2], additive_beam_search(x[1::2], books, wide, ordered=ordered))
    assert torch.equal(codes[1::2], additive_exhaustive_search(x[1::2], books))
    # the rows are searched by themselves: the same codes in any batch
    assert torch.equal(additive_beam_search(x[::2], books, wide, ordered=ordered), codes[::2])
    # without the precise path the float32 scores lose the codewords' terms: the test can fail
    monkeypatch.setattr(beam_search, "_precise_rows", lambda x, tables: None)
    assert not torch.equal(additive_beam_search(x[::2], books, wide, ordered=ordered), want)


def test_only_rows_beyond_the_bound_take_the_precise_path():
    gen = torch.Generator().manual_seed(15)
    books = torch.randn(2, 8, 4, generator=gen)
    tables = beam_search.SearchTables(books, torch.float32)
    bound = tables.norms.max() / torch.finfo(torch.float32).eps
    x = torch.randn(5, 4, generator=gen)
    x = x / x.norm(dim=1, keepdim=True) * bound.sqrt() * torch.tensor([0.5, 0.99, 1.01, 2.0, 1e3]).view(5, 1)
    assert beam_search._precise_rows(x, tables).tolist() == [False, False, True, True, True]
    assert beam_search._precise_rows(x[:2], tables) is None
    assert beam_search._precise_rows(x, beam_search.SearchTables(torch.zeros(2, 8, 4), torch.float32)) is None


def test_additive_vq_keeps_its_tables_until_the_codebooks_change():
    import vqcore

    x, books = _data(200, 16, 3, 32, torch.float32, seed=16)
    q = vqcore.AdditiveVQ(16, 3, 5, beam_width=4, ordered_track=False)
    with torch.no_grad():
        q.codebooks.copy_(books)
    first = q.encode(x)
    kept = q.__dict__["_search_tables"]
    assert torch.equal(q.encode(x), first) and q.__dict__["_search_tables"] is kept
    with torch.no_grad():
        q.codebooks.data.mul_(-1)  # in place, through .data: no version bump, the values tell
    assert torch.equal(q.encode(x), additive_beam_search(x, -books, 4))
    assert q.__dict__["_search_tables"] is not kept


def _reference_fixed_order(x: torch.Tensor, codebooks: torch.Tensor, beam_width: int) -> torch.Tensor:
    """The plain tensorized fixed-order beam search (codebook 0, 1, ...), with the same float additions as
    the search's ordered track: ``(N, M)`` codes."""
    m_count, k_size, dim = codebooks.shape
    flat = codebooks.reshape(-1, dim).to(x.dtype)
    lin = torch.addmm((flat * flat).sum(-1), x, flat.T, alpha=-2.0).view(-1, m_count, k_size)
    gram2 = (2 * (flat @ flat.T)).view(-1, m_count, k_size)
    n = x.shape[0]
    err, path = (x * x).sum(-1, keepdim=True), torch.zeros(n, 1, 0, dtype=torch.long)
    for m in range(m_count):
        inc = lin[:, m].unsqueeze(1).expand(n, path.shape[1], k_size)
        for s in range(m):
            inc = inc + gram2[path[:, :, s] + s * k_size, m]
        score = (err.unsqueeze(-1) + inc).reshape(n, -1)
        keep = 1 if m == m_count - 1 else min(beam_width, score.shape[1])
        err, col = score.topk(keep, dim=1, largest=False, sorted=True)
        parent = col // k_size
        path = torch.cat([path.gather(1, parent.unsqueeze(-1).expand(-1, -1, m)), (col % k_size).unsqueeze(-1)], 2)
    return path[:, 0]


@pytest.mark.parametrize("beam", [1, 4, 16])
@pytest.mark.parametrize("stages,size,dim,dtype", [(4, 256, 64, torch.float32), (3, 64, 16, torch.float64),
                                                   (4, 12, 8, torch.float32), (3, 5, 6, torch.float64)])
def test_ordered_track_picks_between_the_plain_searches(beam, stages, size, dim, dtype):
    """With ordered=True every vector gets the free-order reference's tuple or the plain fixed-order one,
    whichever has the smaller error."""
    x, books = _data(400, dim, stages, size, dtype, seed=stages * 10 + size + beam)
    free, fixed = _reference_beam_search(x, books, beam), _reference_fixed_order(x, books, beam)
    got = additive_beam_search(x, books, beam, ordered=True)
    stage = torch.arange(stages)

    def err(codes):
        return ((books.double()[stage, codes].sum(1) - x.double()) ** 2).sum(-1)

    is_free, is_fixed = (got == free).all(1), (got == fixed).all(1)
    assert torch.all(is_free | is_fixed)
    e_got, e_other = err(got), torch.where(is_free, err(fixed), err(free))
    assert torch.all(e_got <= e_other * (1 + 1e-5) + 1e-9)
    if beam > 1 and stages == 4 and size == 256:  # both searches do win somewhere: the test sees a wrong pick
        assert torch.any(~is_free) and torch.any(~is_fixed)
