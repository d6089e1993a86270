"""The ``vqcore`` command line: ``reproduce``, ``figures`` and ``budget`` (``complexity`` is tested in
tests/eval/test_complexity.py), and every class of bad option: one ``error:`` line naming the
option, exit code 2, before any work starts."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vqcore.cli import main as cli_main
from vqcore.experiments import registry


def test_cli_reproduce(tmp_path, capsys):
    out = tmp_path / "Results"
    assert cli_main(["reproduce", "--preset", "smoke", "--figures", "4c,6b", "--results-dir", str(out),
                     "--no-notebooks", "--no-progress"]) == 0
    assert registry.result_path(out, "4c").is_file() and registry.result_path(out, "6b").is_file()
    assert "Complexity_Fig4-c.json" in capsys.readouterr().out
    assert cli_main(["reproduce", "--preset", "smoke", "--figures", "9z", "--no-notebooks"]) == 2
    assert "unknown figure '9z'" in capsys.readouterr().err


def test_cli_reproduce_help_lists_every_figure(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli_main(["reproduce", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    ids = registry.figure_ids()
    assert len(ids) == 18  # 16 of the two 2023 papers, 2 of the NSVQ paper (2022)
    listed = text[text.index("figures among"):].replace("\n", " ")
    listed = " ".join(listed.split())  # argparse wraps the help text
    assert all(f" {fid}," in listed or f" {fid} " in listed for fid in ids), listed
    assert "{smoke,quick,paper}" in text
    with pytest.raises(SystemExit):
        cli_main(["reproduce", "--preset", "huge"])


def test_cli_figures_prints_the_registry(capsys):
    assert cli_main(["figures"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["id", "paper", "title", "notebook"] and lines[0].endswith("result files")
    files = [rel for fig in registry.FIGURES for rel in fig.files]
    assert len(lines) == 1 + len(files)
    for line, rel in zip(lines[1:], files):
        assert line.endswith(rel)
    first = {line.split()[0]: line for line in lines[1:] if not line.startswith(" ")}
    assert list(first) == list(registry.figure_ids())
    for fig in registry.FIGURES:
        assert fig.paper in first[fig.id] and fig.title in first[fig.id] and fig.notebook in first[fig.id]


def test_cli_figures_json(capsys):
    assert cli_main(["figures", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [f["id"] for f in listed] == list(registry.figure_ids())
    assert listed[3]["files"] == list(registry.figure("3").files) and len(listed[3]["files"]) == 3
    assert all(f["notebook"] and f["runner"].count(":") == 1 for f in listed)


# -- bad options: one `vqcore <cmd>: error: --option ...` line, exit code 2, before any work ---------

def _exit_code(argv: list[str]) -> int:
    """``main(argv)``'s status, also when argparse exits (SystemExit) instead of returning."""
    try:
        return cli_main(argv)
    except SystemExit as exc:
        return int(exc.code)


def _error_line(capsys, command: str) -> str:
    """The one ``vqcore <command>: error: ...`` line on stderr."""
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith(f"vqcore {command}: error: ")]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture
def no_work(monkeypatch):
    """Make any start of work (the experiments, the notebooks, the complexity counts) fail the test."""
    import vqcore.experiments.reproduce as rep
    from vqcore.eval import complexity

    def refuse(*args, **kwargs):
        raise AssertionError("work started before the options were checked")

    for module, name in [(rep, "reproduce"), (rep, "run_experiments"), (rep, "run_notebooks"),
                         (complexity, "count_avq"), (complexity, "count_rvq"), (complexity, "count_pvq")]:
        monkeypatch.setattr(module, name, refuse)


def _complexity(method: str, dim: int, stages: int, bits: int, *extra: str) -> list[str]:
    return ["complexity", "--method", method, "--dim", str(dim), "--stages", str(stages),
            "--bits-per-stage", str(bits), *extra]


def _reproduce(tmp_path, *extra: str) -> list[str]:
    return ["reproduce", "--preset", "smoke", "--figures", "4c", "--results-dir", str(tmp_path / "R"),
            "--no-notebooks", "--no-progress", "--device", "cpu", *extra]


@pytest.mark.parametrize("bits", ["25", "20000", "0"])
def test_complexity_bits_per_stage_capped(no_work, capsys, bits):
    assert _exit_code(_complexity("avq", 64, 4, bits, "--beam-width", "16")) == 2
    line = _error_line(capsys, "complexity")
    assert "--bits-per-stage" in line and bits in line


def test_complexity_stages_capped(no_work, capsys):
    assert _exit_code(_complexity("rvq", 64, 10**9, 8)) == 2  # would loop 10**9 times
    line = _error_line(capsys, "complexity")
    assert "--stages" in line and "<= 1024" in line


@pytest.mark.parametrize("method", ["avq", "rvq"])
def test_complexity_result_beyond_float_range(capsys, method):
    """The counts are exact; only their float value overflows, which is an error line (no traceback)."""
    assert _exit_code(_complexity(method, 10**400, 4, 8, *(["--beam-width", "16"] if method == "avq" else []))) == 2
    line = _error_line(capsys, "complexity")
    assert "--dim" in line and "float range" in line


@pytest.mark.parametrize("dim,stages", [(63, 4), (64, 3)])
def test_complexity_pvq_dim_divisible_by_stages(no_work, capsys, dim, stages):
    assert _exit_code(_complexity("pvq", dim, stages, 8)) == 2
    line = _error_line(capsys, "complexity")
    assert "--dim" in line and "divisible by stages" in line


@pytest.mark.parametrize("method", ["rvq", "pvq", "RVQ"])
def test_complexity_beam_width_only_for_avq(no_work, capsys, method):
    assert _exit_code(_complexity(method, 64, 4, 8, "--beam-width", "16")) == 2
    assert "--beam-width applies to avq only" in _error_line(capsys, "complexity")


@pytest.mark.parametrize("device", ["bogus", "meta", "meta:0", "", "cuda:x", "cpu0"])
def test_reproduce_device_not_a_device(no_work, capsys, tmp_path, device):
    assert _exit_code(_reproduce(tmp_path, "--device", device)) == 2
    assert "--device" in _error_line(capsys, "reproduce")
    assert not (tmp_path / "R").exists()  # refused before the results folder is touched


def test_reproduce_device_cuda_unavailable(no_work, capsys, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _exit_code(_reproduce(tmp_path, "--device", "cuda")) == 2
    line = _error_line(capsys, "reproduce")
    assert "--device 'cuda'" in line and "CUDA is not available" in line
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert _exit_code(_reproduce(tmp_path, "--device", "cuda:3")) == 2
    assert "--device 'cuda:3': no CUDA device 3" in _error_line(capsys, "reproduce")


def test_reproduce_results_dir_is_a_file(no_work, capsys, tmp_path):
    file = tmp_path / "file.json"
    file.write_text("{}")
    for bad in (file, file / "below"):
        argv = _reproduce(tmp_path)
        argv[argv.index("--results-dir") + 1] = str(bad)
        assert _exit_code(argv) == 2
        line = _error_line(capsys, "reproduce")
        assert "--results-dir" in line and str(bad) in line
    assert file.read_text() == "{}"


def test_reproduce_results_dir_not_writable(no_work, capsys, tmp_path, monkeypatch):
    import os
    import tempfile

    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):  # root writes anyway: make the write probe fail instead
            def denied(*args, **kwargs):
                raise PermissionError(13, "Permission denied")

            monkeypatch.setattr(tempfile, "mkstemp", denied)
        argv = _reproduce(tmp_path)
        argv[argv.index("--results-dir") + 1] = str(folder / "sub")
        assert _exit_code(argv) == 2
        line = _error_line(capsys, "reproduce")
        assert "--results-dir" in line and ("not writable" in line or "cannot create" in line)
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize("value", ["", "  "])
def test_reproduce_results_dir_empty(no_work, capsys, tmp_path, monkeypatch, value):
    monkeypatch.chdir(tmp_path)
    assert _exit_code(_reproduce(tmp_path, "--results-dir", value)) == 2
    assert "--results-dir must not be empty" in _error_line(capsys, "reproduce")
    assert list(tmp_path.iterdir()) == []


def test_reproduce_executed_dir_checked_when_notebooks_run(no_work, capsys, tmp_path):
    file = tmp_path / "file"
    file.write_text("x")
    assert _exit_code(_reproduce(tmp_path, "--notebooks", "--executed-dir", str(file))) == 2
    assert "--executed-dir" in _error_line(capsys, "reproduce")


@pytest.mark.parametrize("threads", ["0", "-2"])
def test_reproduce_threads_positive(no_work, capsys, tmp_path, threads):
    assert _exit_code(_reproduce(tmp_path, "--threads", threads)) == 2
    assert f"--threads must be an integer >= 1, got {threads}" in _error_line(capsys, "reproduce")


@pytest.mark.parametrize("jobs", ["0", "-1"])
def test_reproduce_jobs_positive(no_work, capsys, tmp_path, jobs):
    assert _exit_code(_reproduce(tmp_path, "--jobs", jobs)) == 2
    assert f"--jobs must be an integer >= 1, got {jobs}" in _error_line(capsys, "reproduce")


@pytest.mark.parametrize("figures", ["9z", "4c,nope", ",", ""])
def test_reproduce_figures_unknown(no_work, capsys, tmp_path, figures):
    argv = _reproduce(tmp_path)
    argv[argv.index("--figures") + 1] = figures
    assert _exit_code(argv) == 2
    assert "--figures: " in _error_line(capsys, "reproduce")
    assert not (tmp_path / "R").exists()


@pytest.mark.parametrize("preset", ["huge", ""])
def test_reproduce_preset_bad(no_work, capsys, tmp_path, preset):
    argv = _reproduce(tmp_path)
    argv[argv.index("--preset") + 1] = preset
    assert _exit_code(argv) == 2
    assert "argument --preset: invalid choice" in _error_line(capsys, "reproduce")


def test_reproduce_good_options_reach_the_runner(tmp_path, monkeypatch):
    """Valid options pass every check unchanged; the write probe leaves nothing behind."""
    import vqcore.experiments.reproduce as rep

    calls = []
    monkeypatch.setattr(rep, "reproduce", lambda *args, **kwargs: calls.append((args, kwargs))
                        or {"results": [], "notebooks": []})
    for device in ("cpu", "auto"):
        assert cli_main(_reproduce(tmp_path, "--device", device, "--threads", "1", "--jobs", "2")) == 0
    assert [c[1]["device"] for c in calls] == ["cpu", "auto"]
    assert calls[0][1]["results_dir"] == str(tmp_path / "R") and calls[0][1]["threads"] == 1
    assert calls[0][1]["jobs"] == 2
    assert list((tmp_path / "R").iterdir()) == []


# -- budget (the study itself is tested in tests/experiments/test_budget_study.py) -----------------------

def _budget(tmp_path, *extra: str) -> list[str]:
    return ["budget", "--families", "toy", "--factors", "1,4", "--results-dir", str(tmp_path / "R"),
            "--device", "cpu", "--no-progress", *extra]


@pytest.mark.parametrize("option,value,needle", [
    ("--families", "toy,nope", "--families: unknown family 'nope'"),
    ("--families", ",", "--families: no family given"),
    ("--factors", "1,0", "--factors: factor must be a positive number (an int, or a Fraction such as 1/4), got 0"),
    ("--factors", "x", "--factors: 'x' is not a number"),
    ("--device", "bogus", "--device"),
    ("--reference-dir", "/nonexistent/reference", "--reference-dir"),
])
def test_budget_bad_options(capsys, tmp_path, monkeypatch, option, value, needle):
    import vqcore.experiments.budget_study as bs

    monkeypatch.setattr(bs, "run_budget_study", lambda *a, **k: pytest.fail("work started before the checks"))
    argv = _budget(tmp_path)
    if option in argv:
        argv[argv.index(option) + 1] = value
    else:
        argv += [option, value]
    assert _exit_code(argv) == 2
    assert needle in _error_line(capsys, "budget")
    assert not (tmp_path / "R").exists()


def test_budget_good_options_reach_the_study(tmp_path, monkeypatch, capsys):
    import vqcore.experiments.budget_study as bs

    calls = []
    monkeypatch.setattr(bs, "run_budget_study", lambda *a, **k: calls.append((a, k)) or [Path("s.json")])
    assert cli_main(_budget(tmp_path, "--base", "smoke")) == 0
    (args, kwargs), = calls
    assert args == ("toy", "1,4") and kwargs["base"] == "smoke" and kwargs["results_dir"] == str(tmp_path / "R")
    assert capsys.readouterr().out.strip() == "s.json"
    assert _exit_code(_budget(tmp_path, "--base", "huge")) == 2
