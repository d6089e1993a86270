"""The AVQ beam search's default chunks against the one-product chunks it had before, side by side.

    python -m benchmarks.beam_chunks                       # K = 8 ... 1024, 1024 vectors, beam 16, 1 thread
    python -m benchmarks.beam_chunks --threads 2 --vectors 4096 --repeats 7

Before, a default chunk was one matrix product of the inner products
(:func:`vqcore.quantizers.beam_search.matmul_block` rows); now a default chunk is
:func:`~vqcore.quantizers.beam_search.default_chunk_size` rows, a whole number of those blocks,
each block still one product. The old behaviour is exactly ``chunk_size=matmul_block(...)``, so
both run from the same code in one process, on the same vectors and codebooks, in turn (round
robin, best of ``--repeats``). Every pass checks that the codes are identical. The Gram table's
old formula (``mm`` then ``* 2``) is timed against the new one (``addmm`` with ``alpha=2``), with
the tables compared bit for bit. Prints one line per codebook size and, with ``--out``, writes
the rows as JSON.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from vqcore.io.atomic import atomic_write_text
from vqcore.quantizers.beam_search import additive_beam_search, default_chunk_size, matmul_block


def _best(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure(sizes: list[int], vectors: int, dim: int, stages: int, beam: int, repeats: int) -> list[dict]:
    """One row per codebook size: seconds per search (old and new chunks) and per Gram table."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(vectors, dim, generator=gen)
    cpu = torch.device("cpu")
    rows = []
    for k in sizes:
        books = torch.randn(stages, k, dim, generator=gen) * 0.5
        block = matmul_block(cpu, beam, stages, k)
        old = lambda: additive_beam_search(x, books, beam, chunk_size=block)  # noqa: E731
        new = lambda: additive_beam_search(x, books, beam)  # noqa: E731
        if not torch.equal(old(), new()):
            raise AssertionError(f"K={k}: the default chunks changed the codes")
        flat = books.reshape(-1, dim)
        gram_old, gram_new = torch.empty(flat.shape[0], flat.shape[0]), torch.empty(flat.shape[0], flat.shape[0])
        gram_a = lambda: torch.mm(flat, flat.T, out=gram_old).mul_(2)  # noqa: E731
        gram_b = lambda: torch.addmm(gram_new, flat, flat.T, beta=0.0, alpha=2.0, out=gram_new)  # noqa: E731
        t = {"old": [], "new": [], "gram_old": [], "gram_new": []}
        for _ in range(repeats):  # round robin: both see the same machine conditions
            t["old"].append(_best(old, 1))
            t["new"].append(_best(new, 1))
            t["gram_old"].append(_best(gram_a, 1))
            t["gram_new"].append(_best(gram_b, 1))
        if not torch.equal(gram_old, gram_new):
            raise AssertionError(f"K={k}: the Gram tables differ")
        row = {"K": k, "old_chunk": block, "new_chunk": default_chunk_size(cpu, beam, stages, k),
               **{f"{name}_s": min(v) for name, v in t.items()}}
        row["speedup"] = row["old_s"] / row["new_s"]
        row["gram_speedup"] = row["gram_old_s"] / row["gram_new_s"]
        rows.append(row)
        print(f"K={k:5d}  chunk {block:5d} -> {row['new_chunk']:5d}:  {row['old_s'] * 1e3:8.1f} -> "
              f"{row['new_s'] * 1e3:8.1f} ms per search (x{row['speedup']:.2f});  Gram {row['gram_old_s'] * 1e3:6.1f}"
              f" -> {row['gram_new_s'] * 1e3:6.1f} ms (x{row['gram_speedup']:.2f})", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="8,64,256,512,1024", help="codebook sizes K, comma-separated")
    parser.add_argument("--vectors", type=int, default=1024, help="vectors per search (AVQ's quick training batch)")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--stages", type=int, default=4)
    parser.add_argument("--beam", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="write the rows to this JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = measure([int(k) for k in args.sizes.split(",")], args.vectors, args.dim, args.stages, args.beam,
                   args.repeats)
    if args.out is not None:
        atomic_write_text(args.out, json.dumps({"options": vars(args) | {"out": str(args.out)}, "rows": rows},
                                               indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
