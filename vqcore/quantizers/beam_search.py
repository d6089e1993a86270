"""Beam search for additive quantization, tensorized over the whole batch.

The error of a tuple of codewords expands as
``||x - sum_s c_s||^2 = ||x||^2 - 2 sum_s <x, c_s> + sum_{s,t} <c_s, c_t>``.
With the inner products ``<x, c>`` of all ``M*K`` codewords (one matmul per batch) and the
codeword Gram matrix (shared by the batch), adding codeword ``j`` to a partial tuple with
error ``e`` gives the error ``e - 2 <x, c_j> + ||c_j||^2 + 2 sum_{s in tuple} <c_s, c_j>``.
That is also the distance from the tuple's residual to ``c_j``, so "the B nearest codewords to
the residual" and "the B best extended tuples" are the same list. Every beam step is then a
gather, an add and a top-k; no ``D``-dimensional distance is computed inside the loop.

How the work is kept small (every score is the same float computation as in the plain
step-by-step search, so the codes are the same; only the order in which a ``topk`` lists exactly
equal scores may differ):

- each partial tuple stores increments only for the codebooks it has not used (``U`` blocks of
  ``K``), built by one ``embedding_bag`` that sums, in the order the codewords were added, the
  ``||c||^2 - 2 <x, c>`` block and one Gram block per codeword (the same float additions, in the
  same order, as updating the increments step by step);
- the best candidates of a step are found hierarchically (see :func:`_smallest`), so the
  ``(n, beam, U*K)`` scores are never formed and each ``topk`` sees a few hundred values;
- vectors are searched in chunks sized for the cache on CPUs and for occupancy on GPUs; on a CPU
  with ``torch.get_num_threads() > 1`` the chunks are shared among that many Python threads, each
  running torch with one thread (the operations of one chunk are too small for intra-op threads);
- the inner products ``<x, c>`` are computed one matrix product per block of
  :func:`matmul_block` rows, at the same row offsets whatever the chunk size (a BLAS product of
  a few rows need not round like the same rows inside a larger product), so that the default
  chunks, larger than one block, score every vector exactly as one-block chunks do;
- the Gram blocks depend on the codebooks only: :class:`SearchTables` holds them for reuse
  (:class:`~vqcore.AdditiveVQ` keeps one while its codebooks stay the same).
- for float32 vectors on a CPU the steps after the inner products run in C
  (:mod:`.beam_search_native`, where a compiler has built it): the same tables and float
  additions, one vector at a time with a short list of its best tuples, several times faster than
  the torch kernels below; only the order of exactly equal scores may differ.

Rows far larger than the codewords (``||x|| ~ 1e7 ||c||`` in float32) would lose the codewords'
terms to the rounding of ``||x||^2``; they are searched in float64 with scores relative to
``||x||^2`` (:func:`_precise_rows`).
"""
from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
import torch.nn.functional as F

from . import beam_search_native

#: rows of one matrix product of the inner products: about this many elements in the
#: ``(rows, beam, M*K)`` increments (the chunk size of the searches before chunks grew larger
#: than one product, so the scores, hence the codes, are those of those searches)
_CHUNK_ELEMENTS = {"cpu": 1 << 21, "cuda": 1 << 27}
#: vectors searched at once by default: about this many elements in the ``(chunk, beam, M*K)``
#: increments per thread on CPU (fewer, larger operations than one-block chunks: 4 to 9 % faster
#: at K = 512 and 1024 on the 2-core CPU, ``benchmarks/beam_chunks.py``), one block on GPUs
_SEARCH_ELEMENTS = {"cpu": 1 << 22, "cuda": 1 << 27}
#: hierarchical top-k: the largest block of candidates, and the smaller blocks each one splits into
_TOP_BLOCK, _FANOUT = 64, 8
#: block minima by one ``amin`` (not repeated halving) when the blocks per row are at least this many
#: and the blocks at most ``2 ** _AMIN_TIMES`` entries long
_AMIN_INNER, _AMIN_TIMES = 32, 3


def _set_hashes(num_stages: int, codebook_size: int, device: torch.device) -> torch.Tensor:
    """``(M*K,)`` int64 values whose sums identify a set of (codebook, entry) pairs.

    Mixed radix ``(entry + 1) * (K + 1) ** m`` when it fits in 63 bits (exact); otherwise fixed
    pseudo-random 62-bit values (wrapping sums; a false match has probability about 2**-60).
    """
    if (codebook_size + 1) ** num_stages < 2 ** 62:
        entry = torch.arange(1, codebook_size + 1, dtype=torch.int64)
        radix = (codebook_size + 1) ** torch.arange(num_stages, dtype=torch.int64)
        values = (radix[:, None] * entry[None, :]).reshape(-1)
    else:
        gen = torch.Generator().manual_seed(0x5EED)
        values = torch.randint(0, 2 ** 62, (num_stages * codebook_size,), generator=gen, dtype=torch.int64)
    return values.to(device)


def _drop_repeats(score: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """``+inf`` for every candidate whose key already appeared at a lower column.

    score, key: ``(n, C)``, candidates sorted by ascending score. Returns the new score.
    """
    key_sorted, order = key.sort(dim=1, stable=True)
    repeat = torch.zeros_like(key_sorted, dtype=torch.bool)
    repeat[:, 1:] = key_sorted[:, 1:] == key_sorted[:, :-1]
    return score.masked_fill(torch.zeros_like(repeat).scatter_(1, order, repeat), float("inf"))


def _block_sizes(codebook_size: int) -> list[int]:
    """Block sizes of the hierarchical top-k, largest first, ending with 1 (single candidates).

    Powers of ``_FANOUT`` up to ``_TOP_BLOCK`` dividing ``K``, else the largest power of two below
    ``_FANOUT`` dividing it (``[1]`` for odd ``K``: a plain top-k).
    """
    sizes = [1]
    while sizes[-1] * _FANOUT <= _TOP_BLOCK and codebook_size % (sizes[-1] * _FANOUT) == 0:
        sizes.append(sizes[-1] * _FANOUT)
    if len(sizes) == 1:
        g = 1
        while 2 * g < _FANOUT and codebook_size % (2 * g) == 0:
            g *= 2
        if g > 1:
            sizes.append(g)
    return sizes[::-1]


def _halve_min(values: torch.Tensor, times: int) -> torch.Tensor:
    """``(R, L) -> (R, L / 2**times)``: value ``j`` is the minimum of entries ``j, j + L', j + 2L', ...``
    with ``L' = L / 2**times``. Halving with ``minimum`` (contiguous, vectorised) is far cheaper than
    ``amin`` over a short innermost dimension; for a long ``L'``, one ``amin`` over the strided middle
    dimension of the ``(R, 2**times, L')`` view (also contiguous along ``L'``) reads the values once.
    """
    if values.shape[1] >> times >= _AMIN_INNER and times <= _AMIN_TIMES:
        return values.view(values.shape[0], 1 << times, -1).amin(1)
    for _ in range(times):
        half = values.shape[1] // 2
        values = torch.minimum(values[:, :half], values[:, half:])
    return values


def _smallest(inc: torch.Tensor, err: torch.Tensor, sizes: list[int], pool: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``pool`` smallest candidates ``err[t] + inc[r, k]`` of each vector, ascending.

    inc: ``(n * b * U, K)``, rows ``r`` grouped by partial tuple ``t = r // U`` (``b`` per vector);
    err: ``(n, b)``. Returns ``(score (n, pool), flat index into inc (n, pool))``.

    Exact hierarchical selection: block ``j`` of size ``G`` in a row holds entries ``j, j + K/G,
    j + 2K/G, ...``. The ``pool`` smallest candidates lie in the ``pool`` blocks with the
    smallest minima, and ``err + min(block) == min(err + block)`` (rounding is monotone), so a
    ``topk`` over the top-level block minima picks ``pool`` blocks, then one over their
    ``fanout`` sub-blocks each, and so on down to single candidates. The scores of all
    candidates are never formed, and each ``topk`` sees a few hundred values.
    """
    n, b = err.shape
    rows, device = inc.shape[0], inc.device
    if pool == 1 and b == 1:  # the best candidate: no block minima needed
        best, idx = inc.view(n, -1).min(dim=1, keepdim=True)
        return best + err, idx + (torch.arange(n, device=device) * (rows // n * inc.shape[1])).unsqueeze(-1)
    mins = [inc]  # block minima, smallest blocks first
    for small, big in zip(sizes[::-1][:-1], sizes[::-1][1:]):
        mins.append(_halve_min(mins[-1], (big // small).bit_length() - 1))
    mins.reverse()
    width = mins[0].shape[1]  # blocks per row at this level
    per_tuple = rows // (n * b) * width
    score = (mins[0].view(n, b, per_tuple) + err.unsqueeze(-1)).view(n, -1)
    last = len(sizes) == 1
    if last or pool < score.shape[1]:
        score, idx = score.topk(pool, dim=1, largest=False, sorted=last)
    else:
        idx = torch.arange(score.shape[1], device=device).expand(n, -1)
    idx = idx + (torch.arange(n, device=device) * (b * per_tuple)).unsqueeze(-1)  # flat index into mins[0]
    sel_err = torch.take(err, idx // per_tuple)
    for level in range(1, len(sizes)):
        fan = sizes[level - 1] // sizes[level]
        child_width = mins[level].shape[1]
        # the sub-blocks of block (row, j): (row, j + width * f) for f < fan
        child = ((idx // width) * child_width + idx % width).unsqueeze(-1) + torch.arange(fan, device=device) * width
        vals = torch.take(mins[level], child).add_(sel_err.unsqueeze(-1)).view(n, -1)
        width = child_width
        if level == len(sizes) - 1:
            score, col = vals.topk(pool, dim=1, largest=False, sorted=True)
            return score, child.view(n, -1).gather(1, col)
        if pool < vals.shape[1]:
            col = vals.topk(pool, dim=1, largest=False, sorted=False)[1]
            idx = child.view(n, -1).gather(1, col)
            sel_err = sel_err.gather(1, col // fan)
        else:  # fewer sub-blocks than the pool: keep them all
            idx = child.view(n, -1)
            sel_err = sel_err.repeat_interleave(fan, dim=1)
    return score, idx


def _best_completion(inc: torch.Tensor, err: torch.Tensor, path: torch.Tensor, codebook_size: int
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The last step of a beam search, where each tuple has one codebook left: its best completion.

    inc: ``(n * b, K)`` increments of each tuple's last codebook; err: ``(n, b)``; path: ``(n, b, M-1)``.
    Returns ``(error (n,), beam (n, 1), entry (n, 1), path of the chosen beam (n, M-1))``.
    """
    n, n_beam = err.shape
    # min_k (err + inc[k]) == err + min_k inc[k] (rounding is monotone): each tuple's best entry first
    tuple_min, entry = inc.view(n * n_beam, codebook_size).min(dim=1, keepdim=True)
    best_err, beam = (tuple_min.view(n, n_beam) + err).min(dim=1, keepdim=True)
    pick = torch.arange(n, device=err.device).unsqueeze(-1) * n_beam + beam  # (n, 1) global tuple index
    prefix = path.reshape(n * n_beam, -1).index_select(0, pick.view(-1))
    return best_err.squeeze(1), beam, entry.view(-1).index_select(0, pick.view(-1)).unsqueeze(-1), prefix


def _ordered_track(n: int, lin_start: int, table: torch.Tensor, err: torch.Tensor, sizes: list[int],
                   num_stages: int, codebook_size: int, beam_width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Beam search through the codebooks in their fixed order ``0, 1, ..., M-1`` (the search of a
    residual quantizer with a beam, as faiss's ``ResidualQuantizer`` does it).

    Step ``m`` extends each of the ``B`` kept tuples with every entry of codebook ``m`` and keeps
    the ``B`` best; tuples of one step all use the same codebooks, so there are no duplicates.
    err: ``(n, 1)`` squared norms of the chunk. Returns ``(codes (n, M), error (n,))``.
    """
    device = table.device
    m_count, k_size = num_stages, codebook_size
    vec = torch.arange(n, device=device)
    inc = table[lin_start + vec * m_count]  # (n, K): codebook 0's linear block
    path = torch.empty(n, 1, 0, dtype=torch.long, device=device)
    n_beam = 1
    for step in range(m_count - 1):
        pool = min(n_beam * k_size, beam_width)
        err, cand = _smallest(inc, err, sizes, pool)
        parent = cand // k_size  # global index of the parent tuple
        path = torch.cat([path.reshape(n * n_beam, step).index_select(0, parent.view(-1)).view(n, pool, step),
                          (cand % k_size).unsqueeze(-1)], dim=2)
        n_beam = pool
        nxt = step + 1
        bags = torch.cat([(lin_start + vec * m_count + nxt).view(n, 1, 1).expand(n, n_beam, 1),
                          (torch.arange(step + 1, device=device) * k_size + path) * m_count + nxt], dim=2)
        inc = F.embedding_bag(bags.view(-1, step + 2), table, mode="sum")
    best_err, _, entry, prefix = _best_completion(inc, err, path, k_size)
    return torch.cat([prefix, entry], dim=1), best_err


def _beam_search_chunk(x: torch.Tensor, tables: SearchTables, table: torch.Tensor, lin_start: int,
                       beam_width: int, ordered: bool = False, relative: bool = False,
                       block: int | None = None) -> torch.Tensor:
    """Codes ``(n, M)`` of the chunk ``x`` ``(n, D)``; ``table``: the Gram rows of ``tables`` followed by
    scratch rows, of which rows ``[lin_start, lin_start + n * M)`` are this chunk's.

    ``block``: rows of ``x`` per matrix product of the inner products (None: all ``n`` in one).

    ``relative``: scores leave out ``||x||^2`` (the same for every tuple of a vector), so that they keep
    the codewords' terms when ``||x||`` is far larger than the codewords (see :func:`_precise_rows`).
    """
    n, device = x.shape[0], x.device
    m_count, k_size = tables.num_stages, tables.codebook_size
    mk = m_count * k_size
    # table rows: [0, MK*M) the Gram blocks (row j*M + m: 2 <c_j, c> for c in codebook m), then
    # this chunk's linear blocks (row lin_start + i*M + m: ||c||^2 - 2 <x_i, c> for c in codebook m)
    lin = table[lin_start:lin_start + n * m_count].view(n, mk)
    block = n if block is None else block
    for i in range(0, n, block):
        torch.addmm(tables.norms, x[i:i + block], tables.flat_books.T, alpha=-2.0, out=lin[i:i + block])
    if m_count == 1:
        return lin.argmin(-1, keepdim=True)
    if not relative:  # the same search in C, where it is built (float32 on a CPU): the same codes
        codes = beam_search_native.beam_search(lin, (x * x).sum(-1), table[:tables.gram_rows], tables.hashes,
                                               m_count, k_size, beam_width, ordered)
        if codes is not None:
            return codes
    sizes = _block_sizes(k_size)
    vec = torch.arange(n, device=device)
    # Per partial tuple (n_beam per vector, "global" index t = vector * n_beam + beam):
    #   inc (n * n_beam * U, K): the error change when entry k of its u-th unused codebook is added,
    #       ||c||^2 - 2 <x, c> + 2 sum_{s in tuple} <c_s, c>, for its U unused codebooks only
    #   unused (n, n_beam, U): those codebooks, ascending; path (n, n_beam, step): its codewords
    #   (flat index m*K + k) in the order they were added; err, key (n, n_beam): error, set hash
    inc = lin.view(n * m_count, k_size)
    unused = torch.arange(m_count, device=device).repeat(n, 1).view(n, 1, m_count)
    err = sq_norms = x.new_zeros(n, 1) if relative else (x * x).sum(-1, keepdim=True)
    key = torch.zeros(n, 1, dtype=torch.int64, device=device)
    path = unused[:, :, :0]
    n_beam, n_unused = 1, m_count
    for step in range(m_count - 1):
        # Every extension of every tuple, ranked together. The paper's procedure (the B best
        # extensions of each tuple, then the B best distinct sets) keeps the same B sets: an
        # extension among the B best distinct sets overall is among its own tuple's B best.
        # A set of step+1 codewords has at most step+1 parents, so the B-th best distinct set
        # is among the (B - 1) * (step + 1) + 1 best candidates.
        pool = min(n_beam * n_unused * k_size, (beam_width - 1) * (step + 1) + 1)
        cand_score, cand = _smallest(inc, err, sizes, pool)
        tup = cand // k_size  # t * U + slot: also the flat index into `unused`
        new = torch.take(unused, tup) * k_size + cand % k_size
        cand_key = torch.take(key, tup // n_unused) + tables.hashes[new]
        if step and pool > 1:  # a single candidate has no repeats
            cand_score = _drop_repeats(cand_score, cand_key)
        if pool > beam_width or step:
            err, pos = cand_score.topk(min(beam_width, pool), dim=1, largest=False, sorted=False)
            tup, new, key = tup.gather(1, pos), new.gather(1, pos), cand_key.gather(1, pos)
        else:  # the first step's pool is the beam: every candidate is kept
            err, key = cand_score, cand_key
        parent = tup // n_unused  # global index of the parent tuple
        n_parent, n_beam = n_beam, tup.shape[1]
        # the new tuples' unused codebooks (the parent's but `new`'s), and their paths
        keep = torch.arange(n_unused - 1, device=device)
        keep = keep + (keep >= (tup - parent * n_unused).unsqueeze(-1)).long()  # (n, n_beam, U-1)
        unused = torch.take(unused, (parent * n_unused).unsqueeze(-1) + keep)
        path = torch.cat([path.reshape(n * n_parent, step).index_select(0, parent.view(-1)).view(n, n_beam, step),
                          new.unsqueeze(-1)], dim=2)
        n_unused -= 1
        # inc of each new tuple and unused codebook m: lin[m] + gram[path_0, m] + gram[path_1, m] + ...
        # (embedding_bag adds a bag's rows in order: the same sums as step-by-step updates)
        bags = torch.cat([(lin_start + vec.view(n, 1, 1) * m_count + unused).unsqueeze(-1),
                          path.unsqueeze(2) * m_count + unused.unsqueeze(-1)], dim=3)
        inc = F.embedding_bag(bags.view(-1, step + 2), table, mode="sum")
    # one codebook left per tuple: every completion
    best_err, beam, entry, prefix = _best_completion(inc, err, path, k_size)
    full = torch.cat([prefix, unused.view(n, n_beam).gather(1, beam) * k_size + entry], dim=1)  # (n, M) flat
    codes = torch.empty_like(full).scatter_(1, full // k_size, full % k_size)
    if ordered:
        fixed, fixed_err = _ordered_track(n, lin_start, table, sq_norms, sizes, m_count, k_size, beam_width)
        codes = torch.where((fixed_err < best_err).unsqueeze(-1), fixed, codes)
    return codes


class SearchTables:
    """What a beam search over one set of codebooks needs besides the vectors: the codewords, their
    squared norms, the set hashes and the Gram blocks, built once and reused while the codebooks stay
    the same (:meth:`matches`). :class:`~vqcore.AdditiveVQ` keeps one per quantizer.

    The Gram rows (``2 <c_j, c>``, ``(M*K*M, K)``) and the scratch rows that hold each chunk's linear
    blocks share one table, so that one ``embedding_bag`` sums both; :meth:`table` grows the scratch
    on demand. One search at a time uses a table (:meth:`claim`); a concurrent search builds its own.

    codebooks: ``(M, K, D)``; dtype: the dtype of the vectors to be searched.
    """

    def __init__(self, codebooks: torch.Tensor, dtype: torch.dtype) -> None:
        self.codebooks = codebooks.detach().to(dtype).clone()
        self.num_stages, self.codebook_size, dim = self.codebooks.shape
        self.flat_books = self.codebooks.view(-1, dim)
        self.norms = (self.flat_books * self.flat_books).sum(-1)
        self.hashes = _set_hashes(self.num_stages, self.codebook_size, self.codebooks.device)
        self.gram_rows = self.num_stages * self.codebook_size * self.num_stages
        self._table: torch.Tensor | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:  # copies rebuild the table and the lock
        return {k: v for k, v in self.__dict__.items() if k not in ("_table", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _table=None, _lock=threading.Lock())

    def matches(self, codebooks: torch.Tensor, dtype: torch.dtype) -> bool:
        """Whether these tables are those of ``codebooks`` (same values, shape and device) for ``dtype``."""
        return (self.codebooks.dtype == dtype and self.codebooks.shape == codebooks.shape
                and self.codebooks.device == codebooks.device and torch.equal(self.codebooks, codebooks.to(dtype)))

    def table(self, scratch_rows: int) -> torch.Tensor:
        """``(gram_rows + at least scratch_rows, K)``: the Gram rows, then scratch rows."""
        if self._table is None or self._table.shape[0] < self.gram_rows + scratch_rows:
            table = self.codebooks.new_empty(self.gram_rows + scratch_rows, self.codebook_size)
            gram = table[:self.gram_rows].view(self.flat_books.shape[0], -1)
            if self._table is None:  # 2 <c_j, c>; scaling by 2 is exact, so alpha=2 rounds like mm then * 2
                torch.addmm(gram, self.flat_books, self.flat_books.T, beta=0.0, alpha=2.0, out=gram)
            else:
                gram.copy_(self._table[:self.gram_rows].view_as(gram))
            self._table = table
        return self._table

    def claim(self) -> bool:
        """Take the tables for one search (False: another search holds them); :meth:`release` after."""
        return self._lock.acquire(blocking=False)

    def release(self) -> None:
        self._lock.release()


def _precise_rows(x: torch.Tensor, tables: SearchTables) -> torch.Tensor | None:
    """``(N,)`` bool: the rows too large for the search's scores in ``x.dtype``, or None when there are none.

    A score starts at ``||x||^2`` and adds ``||c||^2 - 2 <x, c>`` per codeword; the codewords' own
    terms, which tell close tuples apart, round away once ``||x||^2 * eps`` (``eps``: the dtype's
    relative precision) reaches ``||c||^2`` (float32, ``||x|| ~ 1e7 ||c||``: arbitrary codes). Rows
    with ``||x||^2 * eps > max ||c||^2`` (none in ordinary data: ``||x|| > ~2900 max ||c||`` in
    float32) are searched in float64 without the ``||x||^2``.
    """
    if x.numel() == 0:
        return None
    scale = tables.norms.max()
    if not scale > 0:  # all codewords zero: every tuple is as good as any other
        return None
    bound = scale / torch.finfo(x.dtype).eps
    if x.abs().amax() ** 2 * x.shape[1] <= bound:  # cheap: no row can pass the bound
        return None
    rows = (x.double() ** 2).sum(-1) > bound.double()
    return rows if rows.any() else None


def matmul_block(device: torch.device, beam_width: int, num_stages: int, codebook_size: int) -> int:
    """Rows of one matrix product of the inner products when :func:`additive_beam_search` is not
    given ``chunk_size`` (given one, each chunk is one product)."""
    budget = _CHUNK_ELEMENTS.get(device.type, 1 << 24)
    return max(1, budget // (beam_width * num_stages * codebook_size))


def default_chunk_size(device: torch.device, beam_width: int, num_stages: int, codebook_size: int) -> int:
    """Vectors searched at once by :func:`additive_beam_search` when ``chunk_size`` is not given: a
    whole number of :func:`matmul_block` blocks."""
    block = matmul_block(device, beam_width, num_stages, codebook_size)
    budget = _SEARCH_ELEMENTS.get(device.type, 1 << 24)
    return block * max(1, budget // (block * beam_width * num_stages * codebook_size))


def _search_chunks(x: torch.Tensor, tables: SearchTables, beam_width: int, chunk_size: int, ordered: bool,
                   relative: bool, block: int | None = None) -> torch.Tensor:
    """The chunks of ``x`` searched with ``tables`` (claimed by the caller), in Python threads on a CPU;
    ``block`` (dividing ``chunk_size``): rows per matrix product (None: one per chunk)."""
    starts = list(range(0, x.shape[0], chunk_size))
    threads = torch.get_num_threads() if x.device.type == "cpu" else 1
    workers = max(1, min(threads, len(starts)))
    scratch = chunk_size * tables.num_stages  # rows of one chunk's linear blocks; each worker its own
    table = tables.table(workers * scratch)

    def search(chunk_starts: list[int], lin_start: int) -> list[torch.Tensor]:
        with torch.no_grad():
            return [_beam_search_chunk(x[i:i + chunk_size], tables, table, lin_start, beam_width, ordered, relative,
                                       block) for i in chunk_starts]

    if workers == 1:
        out = search(starts, tables.gram_rows)
    else:
        groups = [starts[w::workers] for w in range(workers)]
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="vqcore-beam") as pool:
                done = list(pool.map(search, groups, [tables.gram_rows + w * scratch for w in range(workers)]))
        finally:
            torch.set_num_threads(threads)
        by_start = {i: codes for group, codes in zip(groups, done) for i, codes in zip(group, codes)}
        out = [by_start[i] for i in starts]
    return torch.cat(out) if len(out) > 1 else out[0]


def additive_beam_search(x: torch.Tensor, codebooks: torch.Tensor, beam_width: int,
                         chunk_size: int | None = None, ordered: bool = False,
                         tables: SearchTables | None = None) -> torch.Tensor:
    """Encode ``x`` with additive quantization by beam search.

    Args:
        x: ``(N, D)``.
        codebooks: ``(M, K, D)``, full-dimensional codebooks whose chosen entries are summed.
        beam_width: ``B``, partial tuples kept per vector (``B`` larger than the candidates at hand
            keeps them all).
        chunk_size: vectors searched at once, one matrix product of the inner products each
            (default: :func:`default_chunk_size` vectors, one product per :func:`matmul_block` rows).
        ordered: also run a beam search of the same width through the codebooks in their fixed
            order (:func:`_ordered_track`, the search of a residual quantizer) and return, per
            vector, whichever of the two tuples has the smaller error. The free-order search alone
            can lose to the fixed-order one on codebooks trained for a fixed order (RVQ's, or
            AVQ codebooks warm-started from them), where using a small late-stage codebook early
            leaves a large early-stage codebook for a small residual. Costs about half as much
            again as the free-order search for ``M = 4``.
        tables: the :class:`SearchTables` of an earlier search, reused when they match ``codebooks``
            and ``x.dtype`` (else built here): the Gram blocks are then not computed again.
    Returns:
        ``(N, M)`` long: the entry chosen from each codebook (in codebook order).

    On a CPU with ``T = torch.get_num_threads() > 1`` and more than one chunk, ``T`` Python threads
    search the chunks, and torch is set to one thread until they are done (the setting is
    process-wide, so other threads of the process see it too while the search runs). The codes
    do not depend on the number of threads, on ``chunk_size`` or on ``tables``. Rows far larger
    than the codewords (:func:`_precise_rows`) are searched in float64 with scores relative to
    ``||x||^2``.
    """
    x = x.detach()
    if tables is None or not tables.matches(codebooks, x.dtype):
        tables = SearchTables(codebooks, x.dtype)
    block = None
    if chunk_size is None:
        chunk_size = default_chunk_size(x.device, beam_width, tables.num_stages, tables.codebook_size)
        block = matmul_block(x.device, beam_width, tables.num_stages, tables.codebook_size)
        threads = torch.get_num_threads() if x.device.type == "cpu" else 1
        if threads > 1:  # no fewer chunks than the threads can share, where one-block chunks had them
            share = -(-x.shape[0] // threads)
            chunk_size = min(chunk_size, block * -(-share // block))
        if block >= min(chunk_size, x.shape[0]):
            block = None  # one product per chunk
    chunk_size = max(1, min(chunk_size, x.shape[0]))
    if not tables.claim():  # another search is using them: a private copy
        tables = SearchTables(tables.codebooks, x.dtype)
        tables.claim()
    try:
        precise = _precise_rows(x, tables)
        if precise is None:
            return _search_chunks(x, tables, beam_width, chunk_size, ordered, relative=False, block=block)
        codes = x.new_empty(x.shape[0], tables.num_stages, dtype=torch.long)
        if not precise.all():
            codes[~precise] = _search_chunks(x[~precise], tables, beam_width, chunk_size, ordered, relative=False,
                                             block=block)
    finally:
        tables.release()
    wide = SearchTables(codebooks, torch.float64)
    wide.claim()
    codes[precise] = _search_chunks(x[precise].double(), wide, beam_width, chunk_size, ordered, relative=True,
                                    block=block)
    return codes


def additive_exhaustive_search(x: torch.Tensor, codebooks: torch.Tensor) -> torch.Tensor:
    """Ground truth for tiny sizes: try all ``K ** M`` tuples. ``(N, D), (M, K, D) -> (N, M)``."""
    num_stages, codebook_size, _ = codebooks.shape
    if codebook_size ** num_stages > 1 << 20:
        raise ValueError(f"exhaustive search over {codebook_size}**{num_stages} tuples is too large")
    tuples = torch.tensor(list(itertools.product(range(codebook_size), repeat=num_stages)), device=x.device)
    stage = torch.arange(num_stages, device=x.device)
    recon = codebooks.to(x.dtype)[stage, tuples].sum(1)  # (K^M, D)
    err = torch.cdist(x, recon) if x.dtype != torch.float64 else ((x[:, None] - recon[None]) ** 2).sum(-1)
    return tuples[err.argmin(dim=1)]
