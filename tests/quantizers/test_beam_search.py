"""vqcore.quantizers.beam_search: what the searches find, and that the speed-ups do not change it.

The first tests check the searches against exhaustive and plain fixed-order search. The reference
further below is the straightforward tensorized beam search (full ``(n, beam, M*K)`` score
tensors, ``+inf`` for used codebooks, step-by-step increment updates) that the optimised code
replaced; the optimised code must return exactly the same codes.
"""
from __future__ import annotations

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