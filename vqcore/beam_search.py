"""Beam search for additive quantization, tensorized over the whole batch.

The error of a tuple of codewords expands as
``||x - sum_s c_s||^2 = ||x||^2 - 2 sum_s <x, c_s> + sum_{s,t} <c_s, c_t>``.
With the inner products ``<x, c>`` of all ``M*K`` codewords (one matmul per batch) and the
codeword Gram matrix (shared by the batch), adding codeword ``j`` to a partial tuple with
error ``e`` gives the error ``e - 2 <x, c_j> + ||c_j||^2 + 2 sum_{s in tuple} <c_s, c_j>``.
That is also the distance from the tuple's residual to ``c_j``, so "the B nearest codewords to
the residual" and "the B best extended tuples" are the same list. Every beam step is then a
gather, an add and a top-k; no ``D``-dimensional distance is computed inside the loop.
"""
from __future__ import annotations

import itertools

import torch

#: elements of the (chunk, beam, M*K) score tensor processed at once, per device type
_CHUNK_ELEMENTS = {"cpu": 1 << 21, "cuda": 1 << 27}


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


def _masked_gram(flat_books: torch.Tensor, num_stages: int, codebook_size: int) -> torch.Tensor:
    """``2 <c_i, c_j>`` ``(MK, MK)``, with ``+inf`` where ``c_j`` shares ``c_i``'s codebook.

    Adding row ``i`` to a tuple's increments both accounts for ``c_i`` and rules out its codebook.
    """
    gram = 2 * (flat_books @ flat_books.T)
    book = torch.arange(num_stages, device=flat_books.device).repeat_interleave(codebook_size)
    return gram.masked_fill(book[:, None] == book[None, :], float("inf"))


def _beam_search_chunk(x: torch.Tensor, flat_books: torch.Tensor, gram2: torch.Tensor, hashes: torch.Tensor,
                       num_stages: int, codebook_size: int, beam_width: int) -> torch.Tensor:
    n, device = x.shape[0], x.device
    m_count, k_size = num_stages, codebook_size
    rows = torch.arange(n, device=device)[:, None]
    # inc[i, b, j]: how the error of tuple b changes when c_j is added (+inf for used codebooks)
    #   = ||c_j||^2 - 2 <x, c_j> + 2 sum_{s in tuple} <c_s, c_j>
    norms = (flat_books * flat_books).sum(-1)
    inc = torch.addmm(norms, x, flat_books.T, alpha=-2.0).unsqueeze(1)  # (n, 1, MK)
    err = (x * x).sum(-1, keepdim=True)  # (n, b)
    chosen = torch.full((n, 1, m_count), -1, dtype=torch.long, device=device)  # entry per codebook
    key = torch.zeros(n, 1, dtype=torch.int64, device=device)
    mk = m_count * k_size
    for step in range(m_count - 1):
        b = inc.shape[1]
        # Every extension of every tuple, ranked together. The paper's procedure (the B best
        # extensions of each tuple, then the B best distinct sets) keeps the same B sets: an
        # extension among the B best distinct sets overall is among its own tuple's B best.
        # A set of step+1 codewords has at most step+1 parents, so the B-th best distinct set
        # is among the (B - 1) * (step + 1) + 1 best candidates.
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
        parent_rows = (rows * b + par).reshape(-1)
        if step < m_count - 2:
            inc = inc.reshape(n * b, mk).index_select(0, parent_rows).add_(gram2.index_select(0, new.reshape(-1)))
            inc = inc.reshape(n, -1, mk)
        else:  # one codebook left per tuple: only its block of increments is needed
            last = (chosen < 0).long().argmax(-1)  # (n, b)
            block = (last * k_size).unsqueeze(-1) + torch.arange(k_size, device=device)  # (n, b, K)
            inc = (torch.take(inc, (rows * b + par).unsqueeze(-1) * mk + block)
                   + torch.take(gram2, new.unsqueeze(-1) * mk + block))
    if m_count == 1:
        return inc[:, 0].argmin(-1, keepdim=True)
    total = (err.unsqueeze(-1) + inc).reshape(n, -1)  # (n, b * K): every completion
    best = total.argmin(dim=1)
    beam, entry = best // k_size, best % k_size
    codes = chosen[torch.arange(n, device=device), beam]
    return codes.scatter(1, last[torch.arange(n, device=device), beam].unsqueeze(-1), entry.unsqueeze(-1))


def additive_beam_search(x: torch.Tensor, codebooks: torch.Tensor, beam_width: int,
                         chunk_size: int | None = None) -> torch.Tensor:
    """Encode ``x`` with additive quantization by beam search.

    Args:
        x: ``(N, D)``.
        codebooks: ``(M, K, D)``, full-dimensional codebooks whose chosen entries are summed.
        beam_width: ``B``, partial tuples kept per vector (``B`` larger than the candidates at hand
            keeps them all).
        chunk_size: vectors searched at once (default: chosen from the device's memory budget).
    Returns:
        ``(N, M)`` long: the entry chosen from each codebook (in codebook order).
    """
    num_stages, codebook_size, dim = codebooks.shape
    flat_books = codebooks.reshape(-1, dim).to(x.dtype)
    gram2 = _masked_gram(flat_books, num_stages, codebook_size)
    hashes = _set_hashes(num_stages, codebook_size, x.device)
    if chunk_size is None:
        budget = _CHUNK_ELEMENTS.get(x.device.type, 1 << 24)
        chunk_size = max(1, budget // (beam_width * num_stages * codebook_size))
    out = [
        _beam_search_chunk(x[i:i + chunk_size], flat_books, gram2, hashes, num_stages, codebook_size, beam_width)
        for i in range(0, x.shape[0], chunk_size)
    ]
    return torch.cat(out) if len(out) > 1 else out[0]


def additive_exhaustive_search(x: torch.Tensor, codebooks: torch.Tensor) -> torch.Tensor:
    """Ground truth for tiny sizes: try all ``K ** M`` tuples. ``(N, D), (M, K, D) -> (N, M)``."""
    num_stages, codebook_size, dim = codebooks.shape
    if codebook_size ** num_stages > 1 << 20:
        raise ValueError(f"exhaustive search over {codebook_size}**{num_stages} tuples is too large")
    tuples = torch.tensor(list(itertools.product(range(codebook_size), repeat=num_stages)), device=x.device)
    stage = torch.arange(num_stages, device=x.device)
    recon = codebooks.to(x.dtype)[stage, tuples].sum(1)  # (K^M, D)
    err = torch.cdist(x, recon) if x.dtype != torch.float64 else ((x[:, None] - recon[None]) ** 2).sum(-1)
    return tuples[err.argmin(dim=1)]
