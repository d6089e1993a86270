"""Training across processes: two gloo ranks keep bit-identical codebooks (vqcore.quantizers.distributed).

One launch of 2 CPU processes runs every scenario below; each rank trains on its own half of
the batches. The tests then compare the ranks with each other (bit for bit) and with a single
process that trains on the two halves concatenated, wherever the maths says they must agree:

- EMA (VQ, RVQ): the per-batch counts and sums are all-reduced, so the running averages are
  those of the concatenated batch. Equal up to float32 rounding only (``allclose``): the sum
  of a rank's sums is added in another order than one sum over the whole batch.
- STE (VQ) and SFVQ with the same dither on both ranks: DDP averages the two ranks' gradients
  of their mean losses, which is the gradient of the mean over the concatenated batch (equal
  halves); equal up to rounding again.
- NSVQ (VQ, RVQ) and SFVQ with per-rank dither: each rank draws its own noise (dither), so the
  gradient is another draw of the same estimator; the single process's run agrees only in
  distribution and is not compared. The ranks still agree bit for bit, because they apply the
  same averaged gradient to the same codebooks.
- Replacement on untrained codebooks: usage is OR-ed over the ranks and rank 0's choices are
  broadcast, so it equals the single process's replacement exactly.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

import vqcore
from vqcore.quantizers import distributed
from vqcore.training import fit_quantizer, fit_sfvq

WORLD = 2
STEPS, BATCH, DIM = 6, 32, 4  # per rank: BATCH vectors a step
LAUNCH_TIMEOUT_S = 300
REPO = Path(__file__).resolve().parents[2]


# -- the helpers without a process group -----------------------------------------------
def test_helpers_are_no_ops_without_a_process_group():
    assert not distributed.is_distributed()
    assert (distributed.world_size(), distributed.rank()) == (1, 0)
    t = torch.arange(6.0).reshape(2, 3)
    assert distributed.all_reduce_sum(t) is t and torch.equal(t, torch.arange(6.0).reshape(2, 3))
    assert distributed.broadcast(t.T) is not None and torch.equal(t, torch.arange(6.0).reshape(2, 3))
    q = vqcore.VQ(2, bits=2)
    before = q.codebooks.detach().clone()
    q.codebooks.grad = torch.ones_like(q.codebooks)
    distributed.broadcast_state(q)
    distributed.average_gradients(q.parameters())
    assert torch.equal(q.codebooks, before) and torch.equal(q.codebooks.grad, torch.ones_like(before))


# -- the scenarios: one function each, run by every rank and by the single process -----------
def _batches(seed: int) -> torch.Tensor:
    """``(STEPS, WORLD, BATCH, DIM)``: rank ``r`` trains on ``[:, r]``, the single process on both."""
    return torch.randn(STEPS, WORLD, BATCH, DIM, generator=torch.Generator().manual_seed(seed))


def _mine(batches: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """This process's batches ``(STEPS, n, DIM)``: its half, or (one process) the halves concatenated."""
    return batches[:, rank] if world > 1 else batches.reshape(STEPS, WORLD * BATCH, DIM)


def _ema(make, rank: int, world: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(100 + rank)  # different random codebooks on the ranks: init must override them
    q = make()
    data = _mine(_batches(1), rank, world)
    q.init_from_data(_batches(2)[0, rank], generator=torch.Generator().manual_seed(3 + rank))
    q.train()
    replaced = []
    for step, x in enumerate(data, start=1):
        q(x)
        if step % 3 == 0:
            replaced.append(q.replace_unused_codebooks(3, discard_threshold=0.5, noise_std=0.01,
                                                       generator=torch.Generator().manual_seed(10 * step + rank)))
    return {"codebooks": q.codebooks.detach(), "ema_cluster_size": q.ema_cluster_size,
            "replaced": torch.tensor(replaced)}


def _gradient(make, rank: int, world: int, *, optimizer: str = "adam") -> dict[str, torch.Tensor]:
    torch.manual_seed(100 + rank)  # different codebooks and NSVQ noise: DDP and init_from_data align the former
    q = make()
    model = DistributedDataParallel(q) if world > 1 else q
    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)(q.parameters(), lr=0.05)
    q.init_from_data(_batches(2)[0, rank], generator=torch.Generator().manual_seed(3 + rank))
    q.train()
    for step, x in enumerate(_mine(_batches(1), rank, world), start=1):
        out = model(x)
        loss = F.mse_loss(out.output, x) + out.loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step == 3:
            q.replace_unused_codebooks(3, discard_threshold=0.5, generator=torch.Generator().manual_seed(7 + rank))
    return {"codebooks": q.codebooks.detach()}


def _sfvq(rank: int, world: int, *, dither_seed: int, estimator: str = "nsvq") -> dict[str, torch.Tensor]:
    torch.manual_seed(100 + rank)
    q = vqcore.SpaceFillingVQ(DIM, bits=4, estimator=estimator)  # 4 -> 8 -> 16 vertices
    model = DistributedDataParallel(q) if world > 1 else q
    opt = torch.optim.SGD(q.parameters(), lr=0.1)
    q.init_from_data(_batches(2)[0, rank])
    torch.manual_seed(dither_seed)
    q.train()
    for step, x in enumerate(_mine(_batches(1), rank, world), start=1):
        loss = F.mse_loss(model(x).quantized, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step in (2, 4):
            q.grow(opt)
    return {"codebooks": q.codebooks.detach(), "vertices": q.vertices.detach(), "num_active": q._num_active}


def _replacement(rank: int, world: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(100 + rank)
    q = vqcore.VQ(2, bits=3)
    distributed.broadcast_state(q)  # rank 0's random codebook everywhere
    with torch.no_grad():
        q.codebooks[0, 4:] += 100.0  # far from the data: never chosen ...
    x = torch.randn(WORLD, 64, 2, generator=torch.Generator().manual_seed(5))
    x[1, 0] = q.codebooks[0, 4].detach()  # ... except entry 4, once, in rank 1's half
    q.train()
    for _ in range(3):
        q(x[rank] if world > 1 else x.reshape(-1, 2))
    usage = q.usage_batches.clone()
    replaced = q.replace_unused_codebooks(3, noise_std=0.1, generator=torch.Generator().manual_seed(10 + rank))
    with distributed.local():  # one rank alone: no collective, so no hang
        if rank == world - 1:
            q.train()(x[0])
            assert not distributed.is_distributed()
    return {"codebooks": q.codebooks.detach(), "usage": usage, "replaced": torch.tensor(replaced)}


def _init(rank: int, world: int) -> dict[str, torch.Tensor]:
    """``init_from_data`` of every class from each rank's own data and generator: rank 0's everywhere."""
    results = {}
    for name, make in [("VQ", lambda: vqcore.VQ(DIM, bits=3, estimator="ema")),
                       ("RVQ", lambda: vqcore.ResidualVQ(DIM, stages=2, bits_per_stage=3)),
                       ("AVQ", lambda: vqcore.AdditiveVQ(DIM, stages=2, bits_per_stage=3, beam_width=2)),
                       ("PVQ", lambda: vqcore.ProductVQ(DIM, stages=2, bits_per_stage=3)),
                       ("SFVQ", lambda: vqcore.SpaceFillingVQ(DIM, bits=3))]:
        torch.manual_seed(0)  # the same random codebooks everywhere: only init may differ
        q = make()
        q.init_from_data(_batches(2)[0, rank], generator=torch.Generator().manual_seed(3 + rank))
        results[name] = q.codebooks.detach()
    return results


def _fit_loops(rank: int, world: int) -> dict[str, torch.Tensor]:
    """The training module's loops, unchanged, on every rank with the same data set."""
    data = torch.randn(512, DIM, generator=torch.Generator().manual_seed(4))
    results = {}
    for name, make in [("VQ-nsvq", lambda: vqcore.VQ(DIM, bits=4)),
                       ("RVQ-ema", lambda: vqcore.ResidualVQ(DIM, stages=2, bits_per_stage=3, estimator="ema"))]:
        torch.manual_seed(100 + rank)
        q = make()
        log = fit_quantizer(q, data, steps=6, batch_size=32, replace_every=3, discard_threshold=0.5, progress=False,
                            log_every=2)
        results[name] = q.codebooks.detach()
        results[name + "-loss"] = torch.tensor(log.loss)
    torch.manual_seed(100 + rank)
    sfvq = vqcore.SpaceFillingVQ(DIM, bits=4)
    log = fit_sfvq(sfvq, data, steps=6, batch_size=32, progress=False, log_every=2)
    results["SFVQ"], results["SFVQ-loss"] = sfvq.codebooks.detach(), torch.tensor(log.loss)
    return results


SCENARIOS = {
    "VQ-ema": lambda r, w: _ema(lambda: vqcore.VQ(DIM, bits=4, estimator="ema"), r, w),
    "RVQ-ema": lambda r, w: _ema(lambda: vqcore.ResidualVQ(DIM, stages=2, bits_per_stage=3, estimator="ema"), r, w),
    "VQ-nsvq": lambda r, w: _gradient(lambda: vqcore.VQ(DIM, bits=4), r, w),
    "RVQ-nsvq": lambda r, w: _gradient(lambda: vqcore.ResidualVQ(DIM, stages=2, bits_per_stage=3), r, w),
    "VQ-ste": lambda r, w: _gradient(lambda: vqcore.VQ(DIM, bits=4, estimator="ste"), r, w, optimizer="sgd"),
    "SFVQ-own-dither": lambda r, w: _sfvq(r, w, dither_seed=20 + r),
    "SFVQ-same-dither": lambda r, w: _sfvq(r, w, dither_seed=20, estimator="ste"),
    "replacement": _replacement,
    "init": _init,
    "fit-loops": _fit_loops,
}
#: scenarios whose single-process run on the concatenated batches the ranks must equal
EQUAL_TO_ONE_PROCESS = ["VQ-ema", "RVQ-ema", "VQ-ste", "SFVQ-same-dither"]
#: scenarios that must equal their single-process run bit for bit (no sum changes its order)
BIT_EQUAL_TO_ONE_PROCESS = ["replacement", "init"]


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD,
                            timeout=timedelta(seconds=120))
    try:
        torch.save({name: run(rank, WORLD) for name, run in SCENARIOS.items()}, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> list[dict[str, dict[str, torch.Tensor]]]:
    """Every scenario's results on each of the two ranks: ``[rank 0's, rank 1's]``."""
    tmp = tmp_path_factory.mktemp("ddp")
    context = mp.start_processes(_worker, args=(str(tmp / "store"), str(tmp)), nprocs=WORLD, join=False,
                                 start_method="spawn")
    deadline = time.monotonic() + LAUNCH_TIMEOUT_S
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for p in context.processes:
                p.kill()
            pytest.fail(f"the {WORLD} ranks did not finish within {LAUNCH_TIMEOUT_S} s")
    return [torch.load(tmp / f"rank{r}.pt") for r in range(WORLD)]


@pytest.fixture(scope="module")
def one_process():
    """The scenarios that have a single-process counterpart, run here on the concatenated batches."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield {name: SCENARIOS[name](0, 1) for name in [*EQUAL_TO_ONE_PROCESS, *BIT_EQUAL_TO_ONE_PROCESS]}
    torch.set_num_threads(threads)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_ranks_hold_bit_identical_codebooks(ranks, name):
    first, second = ranks[0][name], ranks[1][name]
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), f"{name}: {key} differs between the ranks"


@pytest.mark.slow
@pytest.mark.parametrize("name", EQUAL_TO_ONE_PROCESS)
def test_ranks_equal_one_process_on_the_concatenated_batches(ranks, one_process, name):
    for key, expected in one_process[name].items():
        got = ranks[0][name][key]
        assert got.shape == expected.shape
        assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5), (
            f"{name}: {key} differs from one process by {float((got - expected).abs().max()):.3g}")


@pytest.mark.slow
def test_init_from_data_is_rank_0s_on_every_rank(ranks, one_process):
    """Every rank initialised from its own data, yet all hold exactly what rank 0's data gives alone."""
    for name, expected in one_process["init"].items():
        assert torch.equal(ranks[0]["init"][name], expected), name
        assert torch.equal(ranks[1]["init"][name], expected), name


@pytest.mark.slow
def test_the_runs_do_real_work(ranks, one_process):
    """The scenarios exercise what they claim: replacement happened, growth reached 16 vertices."""
    assert int(ranks[0]["VQ-ema"]["replaced"].sum()) > 0
    assert int(ranks[0]["SFVQ-own-dither"]["num_active"]) == 16
    # own dither per rank: the ranks agree with each other, but not with the shared-dither run
    assert not torch.equal(ranks[0]["SFVQ-own-dither"]["vertices"], ranks[0]["SFVQ-same-dither"]["vertices"])


@pytest.mark.slow
def test_replacement_uses_every_ranks_usage_and_rank_0s_choices(ranks, one_process):
    got, expected = ranks[0]["replacement"], one_process["replacement"]
    # entry 4 was chosen only on rank 1: without the all-reduce rank 0 would replace it
    assert got["usage"][0, 4] == 3 and int(got["replaced"]) == 3
    for key in got:  # untrained codebooks: the single process's replacement, bit for bit
        assert torch.equal(got[key], expected[key]), key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("estimator", ["nsvq", "ema"])
def test_example_under_torchrun(estimator):
    """README's command: examples/ddp_train.py on 2 ranks ends with bit-identical codebooks."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={_free_port()}", str(REPO / "examples" / "ddp_train.py"), "--estimator", estimator,
           "--steps", "20", "--batch-size", "64", "--replace-every", "10"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "codebooks bit-identical on all 2 ranks: True" in done.stdout, done.stdout
