"""Training speed: steps/second of our ResidualVQ (every estimator, Adam) and SpaceFillingVQ (its curve
estimators), of vector-quantize-pytorch's ResidualVQ, and of the diveq package's ResidualDIVEQ and SFDIVEQ."""
from __future__ import annotations

from functools import partial
from typing import Any

import torch
import torch.nn.functional as F

from vqcore.quantizers.registry import build_quantizer

from .config import BITS, DIM, STAGES, Sizes
from .peers import diveq_module, vqp_residual_vq
from .timing import Job, rates, round_robin


def _ours_pass(model: torch.nn.Module, opt: torch.optim.Optimizer, batches: list[torch.Tensor]) -> None:
    for x in batches:
        x = x.detach().requires_grad_(True)
        res = model(x)
        loss = F.mse_loss(res.output, x) + res.loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def _peer_pass(model: torch.nn.Module, opt: torch.optim.Optimizer | None, batches: list[torch.Tensor]) -> None:
    for x in batches:
        x = x.detach().requires_grad_(True)
        quantized, _, commit = model(x)
        loss = F.mse_loss(quantized, x) + commit.sum()
        if opt is not None:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        if opt is not None:
            opt.step()


#: our estimators timed on ResidualVQ(64, 4, 8) (key ``vqcore.ResidualVQ`` for NSVQ, else ``vqcore.ResidualVQ.<name>``)
RVQ_ESTIMATORS = ("nsvq", "ste", "ema", "diveq", "diveq_detach", "rotation")
#: ... and on SpaceFillingVQ(64, bits=8), grown to 256 vertices (key ``vqcore.SpaceFillingVQ.<name>``)
SFVQ_ESTIMATORS = ("nsvq", "sf_diveq", "sf_diveq_detach")
#: ours / the diveq package's module with the same estimator
DIVEQ_PAIRS = (("vqcore.ResidualVQ.diveq", "diveq.ResidualDIVEQ"), ("vqcore.SpaceFillingVQ.sf_diveq", "diveq.SFDIVEQ"))


def _ours_job(data: torch.Tensor, batches: list[torch.Tensor], device: torch.device, estimator: str = "nsvq") -> Job:
    model = build_quantizer("RVQ", DIM, STAGES * BITS, stages=STAGES, estimator=estimator).to(device)
    model.init_from_data(data)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    key = "vqcore.ResidualVQ" + ("" if estimator == "nsvq" else f".{estimator}")
    return Job(key, "vqcore", f"ResidualVQ(64, 4, 8), {estimator} estimator, Adam(lr=1e-3)",
               partial(_ours_pass, model, opt, batches), len(batches), device.type)


def _ours_curve_job(data: torch.Tensor, batches: list[torch.Tensor], device: torch.device, estimator: str) -> Job:
    model = build_quantizer("SFVQ", DIM, BITS, estimator=estimator)
    model.init_from_data(data.cpu())
    while not model.fully_grown:
        model.grow()
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    return Job(f"vqcore.SpaceFillingVQ.{estimator}", "vqcore",
               f"SpaceFillingVQ(64, bits=8) with 256 vertices, {estimator} estimator, Adam(lr=1e-3)",
               partial(_ours_pass, model, opt, batches), len(batches), device.type)


def _diveq_pass(model: torch.nn.Module, opt: torch.optim.Optimizer, batches: list[torch.Tensor]) -> None:
    for x in batches:
        x = x.detach().requires_grad_(True)
        z_q = model(x)[0]  # (z_q, indices, perplexity)
        loss = F.mse_loss(z_q, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def _diveq_jobs(diveq: Any, batches: list[torch.Tensor], device: torch.device) -> list[Job]:
    jobs = []
    for name, description in (("ResidualDIVEQ", "ResidualDIVEQ(256, 64, 4), codebook_reset=False, Adam(lr=1e-3)"),
                              ("SFDIVEQ", "SFDIVEQ(256, 64), skip_iters=0, Adam(lr=1e-3)")):
        model = diveq_module(diveq, name).to(device).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        jobs.append(Job(f"diveq.{name}", "diveq", description, partial(_diveq_pass, model, opt, batches),
                        len(batches), device.type))
    return jobs


def _peer_job(vqp: Any, batches: list[torch.Tensor], device: torch.device) -> Job:
    model = vqp_residual_vq(vqp).to(device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-3) if params else None
    description = ("ResidualVQ(dim=64, num_quantizers=4, codebook_size=256), default EMA codebooks (updated in "
                   "forward) + commitment loss"
                   + ("" if params else "; it has no trainable parameters, so no optimizer step"))
    return Job("vector_quantize_pytorch.ResidualVQ", "vector_quantize_pytorch", description,
               partial(_peer_pass, model, opt, batches), len(batches), device.type)


def training_speed(vqp: Any, data: torch.Tensor, batch: int, sizes: Sizes, device: torch.device,
                   diveq: Any = None) -> dict[str, Any]:
    """Steps/second on the same ``batch``-vector batches drawn from ``data`` (``(N, DIM)`` on ``device``);
    ``vqp`` is vector_quantize_pytorch and ``diveq`` the diveq package, each None where missing (then
    only ours are timed): our RVQ with every estimator of :data:`RVQ_ESTIMATORS`, our SFVQ with
    :data:`SFVQ_ESTIMATORS`, and the peers' modules."""
    steps, repeats = sizes.train_steps, sizes.train_repeats
    gen = torch.Generator().manual_seed(2)
    batches = [data[torch.randint(data.shape[0], (batch,), generator=gen).to(data.device)] for _ in range(steps)]
    out: dict[str, Any] = {
        "what": f"training steps/second, batch {batch}: forward + backward (+ optimizer step) on the same "
                "batches; the input requires grad (as the output of an encoder would); median of "
                f"{repeats} passes of {steps} steps after a warm-up pass",
        "batch": batch, "steps": steps,
    }
    jobs = [_ours_job(data, batches, device, estimator) for estimator in RVQ_ESTIMATORS]
    jobs += [_ours_curve_job(data, batches, device, estimator) for estimator in SFVQ_ESTIMATORS]
    if vqp is not None:
        jobs.append(_peer_job(vqp, batches, device))
    if diveq is not None:
        jobs += _diveq_jobs(diveq, batches, device)
    times = round_robin(jobs, repeats, device, "training speed")
    for job in jobs:
        median, best = rates(job.count, times[job.key])
        out[job.key] = {"method": job.description, "steps_per_s_median": median, "steps_per_s_best": best}
    if vqp is not None:
        out["ratio_vqcore_over_peer"] = (out["vqcore.ResidualVQ"]["steps_per_s_median"]
                                         / out["vector_quantize_pytorch.ResidualVQ"]["steps_per_s_median"])
    if diveq is not None:
        out["ratios_over_diveq"] = {f"{a} / {b}": out[a]["steps_per_s_median"] / out[b]["steps_per_s_median"]
                                    for a, b in DIVEQ_PAIRS}
    return out
