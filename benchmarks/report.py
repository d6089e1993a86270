"""The report: the run's header (machine, versions, configuration), ratios ours / peer, the targets,
the text summary, and the JSON, written atomically by :func:`vqcore.io.atomic.atomic_write_text`."""
from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import vqcore
from vqcore.io.atomic import atomic_write_text

from .config import AUTHORS_AVQ_VEC_PER_S, BEAM, BITS, DIM, STAGES, Sizes

#: OpenMP / MKL variables recorded in the JSON
ENV_KEYS = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


@dataclass(frozen=True)
class Comparison:
    """A ratio ours / peer of median encode throughputs, with its target where there is one."""

    ours: str
    peer: str
    target: float | None = None
    applies: str | None = None  #: where the target applies: ``"cpu"`` or ``"any"`` device


COMPARISONS = (
    Comparison("vqcore.AdditiveVQ", "faiss.ResidualQuantizer.beam16", 0.5, "cpu"),
    Comparison("vqcore.AdditiveVQ", "faiss.LocalSearchQuantizer"),
    Comparison("vqcore.AdditiveVQ.ordered_track", "faiss.ResidualQuantizer.beam16", 0.5, "cpu"),
    Comparison("vqcore.ResidualVQ", "vector_quantize_pytorch.ResidualVQ", 1.0, "any"),
    Comparison("vqcore.ResidualVQ", "nsvq.ResidualNSVQ"),
    Comparison("vqcore.ResidualVQ", "faiss.ResidualQuantizer.beam1"),
    Comparison("vqcore.ProductVQ", "vector_quantize_pytorch.ResidualVQ", 1.0, "any"),
    Comparison("vqcore.ProductVQ", "nsvq.ProductNSVQ"),
    Comparison("vqcore.ProductVQ", "faiss.ProductQuantizer"),
    Comparison("vqcore.ResidualVQ", "diveq.ResidualDIVEQ"),
    Comparison("vqcore.ProductVQ", "diveq.ProductDIVEQ"),
    Comparison("vqcore.SpaceFillingVQ.project", "diveq.SFDIVEQ"),
)
#: the floors of the GPU targets (vectors/second)
GPU_FLOORS = (("vqcore.AdditiveVQ", 1e6), ("vqcore.ResidualVQ", 1e8))


# -- the header --------------------------------------------------------------------------------

def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the system has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def header(*, started: str, device: torch.device, faiss_threads: int | None, versions: dict[str, str | None],
           sizes: Sizes, data_label: str, dataset: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The JSON up to its (still empty) ``encode`` rows and ``notes``; ``options``: the command line's."""
    on_gpu = device.type == "cuda"
    return {
        "schema": 1,
        "date": started,
        "device": {"type": device.type, "name": torch.cuda.get_device_name(device) if on_gpu else cpu_model(),
                   "cpu": cpu_model(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                   "faiss_threads": faiss_threads},
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "faiss": versions["faiss"],
                     "vector_quantize_pytorch": versions["vector_quantize_pytorch"], "nsvq": versions["nsvq"],
                     "diveq": versions.get("diveq"), "vqcore": vqcore.__version__},
        "config": {
            "dim": DIM, "stages": STAGES, "bits_per_stage": BITS, "beam_width": BEAM,
            "vectors": sizes.vectors, "batch": sizes.batch, "repeats": sizes.repeats,
            "train_vectors": sizes.train_vectors, "faiss_vectors": sizes.faiss_vectors,
            "faiss_lsq_vectors": sizes.lsq_vectors, "quick": sizes.quick,
            "data": data_label, "dataset": dataset, "options": options,
            "statistic": "vectors/second = vectors / wall-clock seconds per pass; median (and best) of "
                         "`repeats` passes after one warm-up pass",
        },
        "environment": {k: os.environ.get(k) for k in ENV_KEYS},
        "load_average_start": load_average(),
        "encode": {},
        "notes": [],
    }


# -- ratios and targets ------------------------------------------------------------------------

def ratios(rows: dict[str, dict[str, Any]], device_type: str) -> list[dict[str, Any]]:
    """Ours / peer of the encode ``rows`` (median and best) for every :data:`COMPARISONS` pair present."""
    out = []
    for c in COMPARISONS:
        if c.ours not in rows or c.peer not in rows:
            continue
        a, b = rows[c.ours], rows[c.peer]
        row = {"ours": c.ours, "peer": c.peer, "ratio_median": a["vec_per_s_median"] / b["vec_per_s_median"],
               "ratio_best": a["vec_per_s_best"] / b["vec_per_s_best"], "target": c.target}
        if c.target is not None and c.applies in ("any", device_type):
            row["meets_target"] = row["ratio_median"] >= c.target
        out.append(row)
    return out


def authors_row(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The ratio row against the authors' AVQ code: n/a (not runnable here), with the quoted speed."""
    avq = rows.get("vqcore.AdditiveVQ")
    return {
        "ours": "vqcore.AdditiveVQ", "peer": "authors' published AVQ code", "ratio_median": None, "target": 20.0,
        "status": "n/a: the authors' code is not installable here, so it cannot be run side by side",
        "reference_vec_per_s": AUTHORS_AVQ_VEC_PER_S,
        "target_vec_per_s": 20 * AUTHORS_AVQ_VEC_PER_S,
        "vqcore_vec_per_s_median": avq["vec_per_s_median"] if avq else None,
        "vqcore_over_reference": avq["vec_per_s_median"] / AUTHORS_AVQ_VEC_PER_S if avq else None,
    }


def _ratio_target(ratio_rows: list[dict[str, Any]], c: Comparison) -> dict[str, Any] | None:
    r = next((r for r in ratio_rows if r["ours"] == c.ours and r["peer"] == c.peer), None)
    if r is None:
        return None
    return {"target": f"{c.ours} encode >= {c.target:g} x {c.peer}", "value": r["ratio_median"],
            "met": r["ratio_median"] >= c.target}


def speed_targets(rows: dict[str, dict[str, Any]], ratio_rows: list[dict[str, Any]],
                  device_type: str) -> list[dict[str, Any]]:
    """The encoding targets of the device: on the CPU the ratio targets and 20 x the authors' AVQ; on a
    GPU the throughput floors :data:`GPU_FLOORS` and the ratio targets that apply anywhere."""
    applies = ("any", "cpu") if device_type == "cpu" else ("any",)
    ratio_targets = [_ratio_target(ratio_rows, c) for c in COMPARISONS if c.target is not None and c.applies in applies]
    ratio_targets = [t for t in ratio_targets if t is not None]
    if device_type != "cpu":
        floors = [{"target": f"{key} encode > {floor:.0e} vec/s on one GPU", "value": rows[key]["vec_per_s_median"],
                   "met": rows[key]["vec_per_s_median"] > floor} for key, floor in GPU_FLOORS if key in rows]
        return floors + ratio_targets
    authors = [{"target": f"{key} encode >= 20 x the authors' AVQ (840 vec/s quoted, not measured here) = "
                          "16,800 vec/s",
                "value": rows[key]["vec_per_s_median"],
                "met": rows[key]["vec_per_s_median"] >= 20 * AUTHORS_AVQ_VEC_PER_S,
                "note": "against the quoted number; no side-by-side run"}
               for key in ("vqcore.AdditiveVQ", "vqcore.AdditiveVQ.ordered_track") if key in rows]
    return ratio_targets + authors


def quality_targets(q: dict[str, Any]) -> list[dict[str, Any]]:
    """AVQ (free order, and with ``ordered_track``) no worse than faiss RQ on the same codebooks."""
    note = "value: relative MSE difference (vqcore - faiss) / faiss"
    return [{"target": f"vqcore AdditiveVQ (beam {BEAM}) mean squared error <= faiss ResidualQuantizer "
                       f"(beam {BEAM}) with the same codebooks",
             "value": q["relative_difference"], "met": q["vqcore_no_worse"], "note": note},
            {"target": f"vqcore AdditiveVQ (beam {BEAM}, ordered_track=True) mean squared error <= faiss "
                       f"ResidualQuantizer (beam {BEAM}) with the same codebooks",
             "value": q["ordered_track_relative_difference"], "met": q["vqcore_ordered_track_no_worse"],
             "note": note}]


# -- output ------------------------------------------------------------------------------------

def write_json(result: dict[str, Any], out_dir: Path) -> Path:
    """``<out_dir>/<device>-<YYYY-MM-DD>.json`` (indent 2), written atomically."""
    path = Path(out_dir) / f"{result['device']['type']}-{result['date'][:10]}.json"
    return atomic_write_text(path, json.dumps(result, indent=2) + "\n")


def fmt_rate(v: float | None) -> str:
    """``1234567.0`` -> ``"1.23M"``; None -> ``"n/a"``."""
    if v is None:
        return "n/a"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= scale:
            return f"{v / scale:.2f}{unit}"
    return f"{v:.0f}"


def _ratio_line(r: dict[str, Any], width: int) -> str:
    label = f"{r['ours']} / {r['peer']}"
    if r["ratio_median"] is None:
        return (f"{label:<{width}} {'n/a':>7}  >= {r['target']:g}: {r['status']}; 20 x "
                f"{r['reference_vec_per_s']:.0f} = {r['target_vec_per_s']:,.0f} vec/s, vqcore "
                f"{fmt_rate(r['vqcore_vec_per_s_median'])}")
    target = "" if r["target"] is None else f">= {r['target']:g}"
    if "meets_target" in r:
        target += " met" if r["meets_target"] else " NOT met"
    return f"{label:<{width}} {r['ratio_median']:>7.2f}  {target}"


def _speed_lines(result: dict[str, Any]) -> list[str]:
    dev = result["device"]
    lines = [f"device: {dev['name']} ({dev['type']}), torch threads {dev['torch_threads']}, faiss threads "
             f"{dev['faiss_threads']}, OMP_WAIT_POLICY={result['environment']['OMP_WAIT_POLICY']}; load average "
             f"{result['load_average_start']} -> {result['load_average_end']}",
             "", f"{'encode (vectors/s)':<40} {'median':>9} {'best':>9} {'vectors':>8}  device"]
    lines += [f"{key:<40} {fmt_rate(row['vec_per_s_median']):>9} {fmt_rate(row['vec_per_s_best']):>9} "
              f"{row['vectors']:>8}  {row['device']}" for key, row in result["encode"].items()]
    lines += ["", f"{'ratio (ours / peer, medians)':<76} {'ratio':>7}  target"]
    lines += [_ratio_line(r, 76) for r in result["ratios"]]
    if "ratios_1_thread" in result:
        lines += ["", "one thread each (torch and faiss):"]
        lines += [f"  {key:<38} {fmt_rate(row['vec_per_s_median']):>9} {fmt_rate(row['vec_per_s_best']):>9}"
                  for key, row in result["encode_1_thread"].items()]
        lines += ["  " + _ratio_line(r, 74) for r in result["ratios_1_thread"]]
    return lines


def _quality_lines(q: dict[str, Any]) -> list[str]:
    sweep, w = q["by_beam_width"]["mse"], q["with_lsq_codebooks"]
    return ["", (f"AVQ beam {BEAM} MSE with faiss RQ's codebooks: vqcore {q['vqcore_avq_mse']:.6g}, "
                 f"faiss RQ {q['faiss_rq_mse']:.6g} ({100 * q['relative_difference']:+.2f}%); "
                 f"no worse: {q['vqcore_no_worse']}"),
            "  by beam width (vqcore / faiss): " + ", ".join(
                f"B={b}: {v['vqcore_avq_mse']:.5g} / {v['faiss_rq_mse']:.5g}" for b, v in sweep.items()),
            f"  with faiss LSQ's codebooks instead: vqcore AVQ {w['vqcore_avq_mse']:.5g}, faiss RQ beam "
            f"{BEAM} {w['faiss_rq_mse']:.5g}, faiss LSQ encoder {w['faiss_lsq_mse']:.5g}"]


def _training_lines(tr: dict[str, Any]) -> list[str]:
    """Steps/s of every training row (our estimators and the peers), and ours over the diveq package's."""
    rows = {k: v for k, v in tr.items() if isinstance(v, dict) and "steps_per_s_median" in v}
    lines = [f"  {key:<44} {row['steps_per_s_median']:>8.1f} steps/s" for key, row in rows.items()]
    lines += [f"  {pair:<44} {ratio:>8.2f}" for pair, ratio in tr.get("ratios_over_diveq", {}).items()]
    return lines


def summary(result: dict[str, Any]) -> str:
    """The table printed at the end of a run."""
    lines = _speed_lines(result)
    if "quality" in result:
        lines += _quality_lines(result["quality"])
    tr = result["training"]
    if "vector_quantize_pytorch.ResidualVQ" in tr:
        lines.append(f"training steps/s (batch {tr['batch']}): vqcore ResidualVQ "
                     f"{tr['vqcore.ResidualVQ']['steps_per_s_median']:.1f}, vector_quantize_pytorch ResidualVQ "
                     f"{tr['vector_quantize_pytorch.ResidualVQ']['steps_per_s_median']:.1f} "
                     f"(ratio {tr['ratio_vqcore_over_peer']:.2f})")
    lines += _training_lines(tr)
    lines += ["", "targets:"]
    lines += [f"  [{'met' if t['met'] else 'NOT met'}] {t['target']}: {t['value']:.4g}" for t in result["targets"]]
    return "\n".join(lines)
