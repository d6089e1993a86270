"""Train a quantizer on several processes with DistributedDataParallel, and check the ranks agree.

    torchrun --nproc_per_node=2 examples/ddp_train.py --estimator nsvq
    torchrun --nproc_per_node=2 examples/ddp_train.py --estimator ema
    python examples/ddp_train.py            # one process: the same loop, no process group

Each rank trains on its own batches (Gaussian toy data drawn with seed + rank). Gradient-trained
codebooks (NSVQ, STE) are wrapped in DistributedDataParallel, which averages their gradients;
EMA codebooks have no gradient, so the quantizer runs unwrapped and its EMA statistics are
all-reduced inside ``forward``. Codebook replacement and ``init_from_data`` are made on rank 0
and broadcast. At the end every rank's codebooks are compared with rank 0's.
"""
from __future__ import annotations

import argparse
import os

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

import vqcore


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--estimator", choices=("nsvq", "ste", "ema"), default="nsvq")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=256, help="per rank")
    parser.add_argument("--replace-every", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    distributed = "WORLD_SIZE" in os.environ  # set by torchrun
    one_gpu_each = torch.cuda.device_count() >= int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    device = torch.device(f"cuda:{os.environ.get('LOCAL_RANK', 0)}" if one_gpu_each else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if distributed else 0

    gen = torch.Generator().manual_seed(args.seed + rank)  # this rank's data
    data = torch.randn(args.steps, args.batch_size, 16, generator=gen).to(device)
    q = vqcore.ResidualVQ(dim=16, stages=2, bits_per_stage=6, estimator=args.estimator).to(device)
    q.init_from_data(data[0], generator=gen)  # every rank calls it; rank 0's codebooks win
    model = q
    if distributed and args.estimator != "ema":
        model = DistributedDataParallel(q)  # averages the codebooks' gradients
    params = [p for p in q.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-3) if params else None

    q.train()
    for step, x in enumerate(data, start=1):
        out = model(x)
        loss = F.mse_loss(out.output, x) + out.loss
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if step % args.replace_every == 0:
            replaced = q.replace_unused_codebooks(args.replace_every)  # every rank calls it
            if rank == 0:
                print(f"step {step}: loss {loss.item():.4f}, replaced {replaced} entries")

    if distributed:
        mine = q.codebooks.detach().clone()
        reference = mine.clone()
        dist.broadcast(reference, src=0)
        same = torch.tensor([int(torch.equal(mine, reference))], device=device)
        dist.all_reduce(same, op=dist.ReduceOp.MIN)
        if rank == 0:
            print(f"codebooks bit-identical on all {dist.get_world_size()} ranks: {bool(same.item())}")
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
