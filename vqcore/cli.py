"""Command line for vqcore: ``vqcore <subcommand> ...`` (also ``python -m vqcore``).

Subcommands:

- ``complexity``: weighted operations per vector of AVQ / RVQ / PVQ with the papers'
  complexity model (:mod:`vqcore.eval.complexity`).
- ``reproduce``: re-run the experiments of the chosen figures at a preset, then execute their
  notebooks (:func:`vqcore.experiments.reproduce.reproduce`).
- ``figures``: every figure of both papers with its notebook and result files
  (:mod:`vqcore.experiments.registry`).
- ``budget``: the budget study, each experiment family at multiples of the quick training budget
  (:mod:`vqcore.experiments.budget_study`).
- ``rerun-check``: compare a re-run of a preset with the results of record: cost per figure and how
  far the numbers moved (:mod:`vqcore.experiments.rerun_check`).

Adding a subcommand: write ``_add_<name>_parser(subparsers)`` that creates its parser
and sets ``func=`` to a ``_run_<name>(args) -> int`` function, then append the adder to
``SUBCOMMANDS``. :func:`main` dispatches to ``args.func``.

Bad options are refused before any work starts: argparse's own errors exit with status 2
(``SystemExit``); the checks after parsing print one ``vqcore <cmd>: error: --option ...``
line to stderr and return 2.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from .eval import complexity
from .experiments import registry
from .experiments.common import PRESET_NAMES, device_problem


def _error(command: str, message: str) -> int:
    """Print ``vqcore <command>: error: <message>`` to stderr (argparse's format); returns 2."""
    print(f"vqcore {command}: error: {message}", file=sys.stderr)
    return 2


# -- complexity ------------------------------------------------------------------

def _add_complexity_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "complexity",
        help="WMOPS per vector of AVQ / RVQ / PVQ (the papers' complexity model)",
        description="Millions of weighted operations (ITU-T STL 2009 weights) to encode one "
                    "vector, as in the complexity figures of Vali & Bäckström (ICASSP 2023).",
    )
    p.add_argument("--method", required=True, type=str.lower, choices=complexity.METHODS,
                   help="quantizer: avq, rvq or pvq")
    p.add_argument("--dim", required=True, type=int, help="vector dimension D")
    p.add_argument("--stages", required=True, type=int, help="number of stages / codebooks M (>= 2)")
    p.add_argument("--bits-per-stage", required=True, type=int,
                   help="bits per stage; codebook size K = 2**bits")
    p.add_argument("--beam-width", type=int, default=None, help="beam width B (required for avq)")
    p.add_argument("--precision", type=str.lower, choices=complexity.PRECISIONS, default="single",
                   help="operation weights: single (A=P=V=1, R=4) or double (A=P=V=2, R=4); default single")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=_run_complexity)


def _option(argument: str) -> str:
    """The option of a :mod:`~vqcore.eval.complexity` argument: ``bits_per_stage`` -> ``--bits-per-stage``."""
    return "--" + argument.replace("_", "-")


def _run_complexity(args: argparse.Namespace) -> int:
    if args.beam_width is not None and args.method != "avq":
        return _error("complexity", f"--beam-width applies to avq only (got --method {args.method})")
    try:
        counts = complexity.operation_counts(
            args.method, args.dim, args.stages, args.bits_per_stage, args.beam_width)
        value = complexity.wmops(
            args.method, args.dim, args.stages, args.bits_per_stage, args.beam_width, args.precision)
    except ValueError as err:
        names = getattr(err, "arguments", ())
        prefix = "/".join(_option(n) for n in names) + ": " if names else ""
        return _error("complexity", f"{prefix}{err}")
    log_value = math.log10(value)
    result = {
        "method": args.method,
        "dim": args.dim,
        "stages": args.stages,
        "bits_per_stage": args.bits_per_stage,
        "codebook_size": 2 ** args.bits_per_stage,
        "beam_width": args.beam_width if args.method == "avq" else None,
        "precision": args.precision,
        "operations": counts.as_dict(),
        "wmops": value,
        "log10_wmops": log_value,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    beam = f", B={args.beam_width}" if args.method == "avq" else ""
    print(f"{args.method.upper()}: D={args.dim}, M={args.stages}, "
          f"K={result['codebook_size']} ({args.bits_per_stage} bits/stage){beam}, {args.precision} precision")
    ops = result["operations"]
    print(f"operations: additions={ops['additions']}, multiplications={ops['multiplications']}, "
          f"moves={ops['moves']}, branches={ops['branches']}")
    print(f"WMOPS: {value!r}")
    print(f"log10 WMOPS: {log_value!r}")
    return 0


# -- reproduce -------------------------------------------------------------------

def _add_reproduce_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "reproduce",
        help="re-run the experiments at a preset, then execute the figure notebooks",
        description="Run the experiments of the chosen figures at a preset (smoke: seconds, quick: "
                    "minutes on a CPU, paper: the paper's scale), writing their JSON under the results "
                    "folder (finished runs are stored, so an interrupted run resumes), then execute the "
                    "figure notebooks with papermill on those results.",
    )
    p.add_argument("--preset", type=str.lower, choices=PRESET_NAMES, default="quick",
                   help="experiment scale (default: quick)")
    p.add_argument("--figures", default=None,
                   help=f"comma-separated figures among {', '.join(registry.figure_ids())} "
                        "(default: all; `vqcore figures` lists them)")
    p.add_argument("--results-dir", default="Results", help="results folder (default: Results)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1, ...")
    p.add_argument("--notebooks", action=argparse.BooleanOptionalAction, default=True,
                   help="execute the figure notebooks afterwards (default: yes)")
    p.add_argument("--executed-dir", default="_build/executed",
                   help="where the executed notebooks go (default: _build/executed)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice; 1 is often faster on a busy CPU); "
                        "with --jobs, per process (default: the cores divided among them)")
    p.add_argument("--jobs", type=int, default=1,
                   help="run the experiment runners in this many processes at once (default: 1)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")
    p.set_defaults(func=_run_reproduce)


def _check_device(device: str) -> str | None:
    """Why ``--device`` cannot be used here, or None (:func:`vqcore.experiments.common.device_problem`)."""
    problem = device_problem(device)
    return None if problem is None else "--" + problem


def _check_folder(option: str, folder: str) -> str | None:
    """Why ``folder`` cannot take the files, or None. Creates it (with its parents) and a
    temporary file in it, then removes that file: what the run would do, before any work."""
    if not folder.strip():
        return f"{option} must not be empty (give a folder; '.' for the current one)"
    path = Path(folder)
    if path.exists() and not path.is_dir():
        return f"{option} {folder!r} exists and is not a folder"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return f"{option} {folder!r}: cannot create the folder ({err.strerror or err})"
    try:
        fd, probe = tempfile.mkstemp(prefix=".vqcore-write-check-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        return f"{option} {folder!r} is not writable ({err.strerror or err})"
    return None


def _check_reproduce_options(args: argparse.Namespace) -> str | None:
    """The first bad option of ``reproduce`` as an error message (naming the option), or None."""
    try:
        registry.parse(args.figures)
    except ValueError as err:
        return "--figures: " + str(err).removeprefix("figures: ")
    if args.threads is not None and args.threads < 1:
        return f"--threads must be an integer >= 1, got {args.threads}"
    if args.jobs < 1:
        return f"--jobs must be an integer >= 1, got {args.jobs}"
    problem = _check_device(args.device)
    if problem is None:
        problem = _check_folder("--results-dir", args.results_dir)
    if problem is None and args.notebooks:
        problem = _check_folder("--executed-dir", args.executed_dir)
    return problem


def _run_reproduce(args: argparse.Namespace) -> int:
    import logging

    from .experiments.reproduce import reproduce

    problem = _check_reproduce_options(args)
    if problem is not None:
        return _error("reproduce", problem)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # its CPU-feature lines are not ours
    logging.getLogger("vqcore.quantizers.base").setLevel(logging.WARNING)  # one line per codebook replacement
    try:
        written = reproduce(args.preset, args.figures, results_dir=args.results_dir, device=args.device,
                            notebooks=args.notebooks, executed_dir=args.executed_dir, threads=args.threads,
                            progress=args.progress, jobs=args.jobs)
    except ValueError as err:
        return _error("reproduce", str(err))
    for path in written["results"] + written["notebooks"]:
        print(path)
    return 0


# -- figures ---------------------------------------------------------------------

def _add_figures_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "figures",
        help="list every figure: its paper, notebook and result files",
        description="Every figure of both papers as the registry (vqcore.experiments.registry) names it: "
                    "the id that `vqcore reproduce --figures` takes, its paper, what it shows, the notebook "
                    "under notebooks/ that draws it and its result files under the results folder.",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(func=_run_figures)


_FIGURE_COLUMNS = ("id", "paper", "title", "notebook", "result files")


def _figure_rows() -> list[tuple[str, ...]]:
    """One row per result file; a figure's id, paper, title and notebook on its first row only."""
    rows = []
    for fig in registry.FIGURES:
        for i, rel in enumerate(fig.files):
            first = (fig.id, fig.paper, fig.title, f"notebooks/{fig.notebook}.ipynb", rel)
            rows.append(first if i == 0 else ("", "", "", "", rel))
    return rows


def _run_figures(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps([{"id": f.id, "paper": f.paper, "title": f.title, "notebook": f.notebook,
                           "files": list(f.files), "artefacts": list(f.artefacts), "runner": f.runner}
                          for f in registry.FIGURES], indent=2))
        return 0
    rows = [_FIGURE_COLUMNS, *_figure_rows()]
    widths = [max(len(row[c]) for row in rows) for c in range(len(_FIGURE_COLUMNS) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    return 0


# -- budget ----------------------------------------------------------------------

def _add_budget_parser(subparsers: argparse._SubParsersAction) -> None:
    from .experiments.budget_study import DEFAULT_FACTORS, FAMILIES

    p = subparsers.add_parser(
        "budget",
        help="the budget study: each experiment family at 1/4x, 1x, 4x, 16x ... the quick training budget",
        description="Run each experiment family (a subset of its rates, one seed) with the quick preset's "
                    "training budget times each factor, into <results-dir>/.budget/<family>/x<factor>/ "
                    "(finished runs are stored, so an interrupted study resumes), and write "
                    "<results-dir>/.budget/<family>.json: the distance to the paper per factor.",
    )
    p.add_argument("--families", default=None,
                   help=f"comma-separated families among {', '.join(FAMILIES)} (default: all)")
    p.add_argument("--factors", default=",".join(str(f) for f in DEFAULT_FACTORS),
                   help="comma-separated multiples of the quick budget: integers, or fractions with an exact "
                        "decimal form such as 1/4 or 0.5 (default: "
                        f"{','.join(str(f) for f in DEFAULT_FACTORS)})")
    p.add_argument("--base", type=str.lower, choices=PRESET_NAMES, default="quick",
                   help="the preset whose budget is multiplied (default: quick; smoke for a pipeline check)")
    p.add_argument("--results-dir", default="Results", help="results folder (default: Results)")
    p.add_argument("--reference-dir", default="reference",
                   help="the published files, for the distance to the paper (default: reference)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1, ...")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice; 1 is often faster on a busy CPU)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")
    p.set_defaults(func=_run_budget)


def _check_budget_options(args: argparse.Namespace) -> str | None:
    """The first bad option of ``budget`` as an error message (naming the option), or None."""
    from .experiments.budget_study import parse_factors, parse_families

    for option, parse, value in (("--families", parse_families, args.families),
                                 ("--factors", parse_factors, args.factors)):
        try:
            parse(value)
        except ValueError as err:
            return f"{option}: " + str(err).split(": ", 1)[-1]
    if args.threads is not None and args.threads < 1:
        return f"--threads must be an integer >= 1, got {args.threads}"
    if not Path(args.reference_dir).is_dir():
        return f"--reference-dir {args.reference_dir!r} is not a folder"
    problem = _check_device(args.device)
    return problem if problem is not None else _check_folder("--results-dir", args.results_dir)


def _run_budget(args: argparse.Namespace) -> int:
    import logging

    from .experiments.budget_study import run_budget_study

    problem = _check_budget_options(args)
    if problem is not None:
        return _error("budget", problem)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    logging.getLogger("vqcore.quantizers.base").setLevel(logging.WARNING)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    try:
        written = run_budget_study(args.families, args.factors, results_dir=args.results_dir, device=args.device,
                                   progress=args.progress, base=args.base,
                                   reference_dir=args.reference_dir)
    except ValueError as err:
        return _error("budget", str(err))
    for path in written:
        print(path)
    return 0


# -- rerun-check -----------------------------------------------------------------

def _add_rerun_check_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "rerun-check",
        help="compare a re-run of a preset with the results of record: cost per figure, how far the numbers moved",
        description="Compare the result files of a re-run (vqcore reproduce --results-dir RERUN) with the "
                    "results of record, per figure whose files both hold: compute minutes of each, the median "
                    "and largest |ln(rerun/record)|, and the papers' findings each holds. Writes "
                    "<results-dir>/.rerun/<name>.json and copies the re-run's compared files to "
                    "<results-dir>/.rerun/<name>/, then prints the table.",
    )
    p.add_argument("rerun_dir", help="the re-run's results folder")
    p.add_argument("--results-dir", default="Results", help="the results of record (default: Results)")
    p.add_argument("--reference-dir", default="reference",
                   help="the published files, for the findings (default: reference)")
    p.add_argument("--name", default="quick", help="the comparison's name (default: quick)")
    p.add_argument("--figures", default=None,
                   help="comma-separated figures (default: every figure whose files both folders hold)")
    p.add_argument("--command", dest="how", default=None,
                   help="how the re-run was made, stored as given (e.g. 'vqcore reproduce --jobs 2 --threads 1')")
    p.add_argument("--notes", default=None,
                   help="anything else about the re-run, stored as given (e.g. 'data caches kept from a first re-run')")
    p.set_defaults(func=_run_rerun_check)


def _run_rerun_check(args: argparse.Namespace) -> int:
    from .experiments import rerun_check

    for option, folder in (("rerun_dir", args.rerun_dir), ("--results-dir", args.results_dir),
                           ("--reference-dir", args.reference_dir)):
        if not Path(folder).is_dir():
            return _error("rerun-check", f"{option} {folder!r} is not a folder")
    try:
        figures = None if args.figures is None else registry.parse(args.figures)
        path = rerun_check.store(args.results_dir, args.rerun_dir, args.name, args.reference_dir,
                                 figures=figures, command=args.how, notes=args.notes)
    except ValueError as err:
        return _error("rerun-check", str(err))
    print(rerun_check.markdown(rerun_check.read(path)))
    print(path)
    return 0


# -- dispatch ---------------------------------------------------------------------

#: One function per subcommand; each adds its parser and sets ``func``.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_complexity_parser,
    _add_reproduce_parser,
    _add_figures_parser,
    _add_budget_parser,
    _add_rerun_check_parser,
]


def build_parser() -> argparse.ArgumentParser:
    """The ``vqcore`` argument parser with every subcommand in :data:`SUBCOMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="vqcore", description="vqcore: vector quantizers and the papers' experiments.")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``vqcore`` command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
