"""The ``vqcore`` command line: ``reproduce`` and ``figures`` (``complexity`` is tested in
tests/eval/test_complexity.py)."""
from __future__ import annotations

import json

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
    assert len(ids) == 16
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
