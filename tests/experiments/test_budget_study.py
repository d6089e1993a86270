"""The budget study (vqcore.experiments.budget_study, budget_summary): scaled presets, the study end to
end (a fake runner for the fast tests, the real toy runner at the smoke preset for the slow one),
resuming, the summary recomputed from the files, the CLI and the plots."""
from __future__ import annotations

import dataclasses
import json
import math
from fractions import Fraction
from pathlib import Path

import pytest

from vqcore.cli import main as cli_main
from vqcore.experiments import budget_study as B
from vqcore.experiments import budget_summary as S
from vqcore.experiments import registry
from vqcore.io import results

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "reference"


# -- scaled presets ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(B.FAMILIES))
@pytest.mark.parametrize("factor", [1, 4, 16])
def test_scaled_preset_scales_every_budget_field_and_nothing_else(name, factor):
    fam = B.FAMILIES[name]
    base = fam.preset_table()["quick"]
    scaled = B.scaled_preset(name, factor)
    assert scaled.name == f"quick-x{factor}" and scaled.seeds == (0,)
    for field in dataclasses.fields(base):
        old, new = getattr(base, field.name), getattr(scaled, field.name)
        if field.name in fam.budget:
            assert new == (None if old is None else old * factor), field.name
        elif field.name in fam.subset:
            assert new == fam.subset[field.name], field.name
        elif field.name not in ("name", "seeds", "notes"):
            assert new == old, field.name
    assert all(isinstance(getattr(scaled, k), int) for k in fam.budget if getattr(base, k) is not None)


def test_scaled_presets_of_two_factors_differ_in_name_and_settings():
    a, b = B.scaled_preset("toy", 1), B.scaled_preset("toy", 4)
    assert a.name != b.name and a.as_dict() != b.as_dict()
    assert B.scaled_preset("toy", 2, base="smoke").steps == 2 * B.FAMILIES["toy"].preset_table()["smoke"].steps


@pytest.mark.parametrize("factor", [0, -1, 1.5, True, "4", None])
def test_scaled_preset_refuses_a_bad_factor(factor):
    with pytest.raises(ValueError, match="factor"):
        B.scaled_preset("toy", factor)


def test_a_fraction_of_the_budget_rounds_each_field_and_names_the_preset_and_folder(tmp_path):
    quick = B.FAMILIES["images"].preset_table()["quick"]
    quarter = B.scaled_preset("images", Fraction(1, 4))
    assert quarter.name == "quick-x0.25"
    assert quarter.pretrain_steps == quick.pretrain_steps // 4 and quarter.steps == quick.steps // 4
    assert quarter.avq_steps == max(1, round(quick.avq_steps / 4))
    assert B.scaled_preset("toy", Fraction(1, 100000)).steps == 1  # never below one step
    assert B.factor_dir(tmp_path, "toy", Fraction(1, 4)) == tmp_path / ".budget" / "toy" / "x0.25"
    assert (B.factor_label(4), B.factor_label(Fraction(1, 2)), B.factor_value(Fraction(1, 4))) == ("4", "0.5", 0.25)
    assert B.factor_label(Fraction(8, 2)) == "4" and isinstance(B.factor_value(Fraction(8, 2)), int)


def test_scaled_preset_refuses_a_bad_family_or_base():
    with pytest.raises(ValueError, match="family: unknown family 'vision'"):
        B.scaled_preset("vision", 4)
    with pytest.raises(ValueError, match="base must be one of"):
        B.scaled_preset("toy", 4, base="huge")


def test_parse_families_and_factors():
    assert B.parse_families("speech, toy") == ["toy", "speech"]
    assert B.parse_families(None) == list(B.FAMILIES)
    assert B.parse_factors("16,1,4,4") == [1, 4, 16]
    assert B.parse_factors("1/4,0.5,1,4") == [Fraction(1, 4), Fraction(1, 2), 1, 4]
    for bad, match in (("1,x", "'x' is not a number"), ("0", "positive number"), ("", "no factor"),
                       ("1/3", "no exact decimal form"), ("-1/4", "positive number"), ("1/0", "not a number")):
        with pytest.raises(ValueError, match=match):
            B.parse_factors(bad)
    with pytest.raises(ValueError, match="no family"):
        B.parse_families(" , ")


def test_every_family_has_one_runner_and_figures_the_report_knows():
    from vqcore.eval.fidelity import FIGURE_IDS

    for fam in B.FAMILIES.values():
        assert registry.load_runner(fam.runner)
        assert set(fam.figures) <= set(FIGURE_IDS)


def test_distance_is_the_median_of_abs_log_ratio():
    assert S.distance([1.0, 1.0]) == 0.0
    assert S.distance([math.e, 1 / math.e, 1.0]) == pytest.approx(1.0)
    assert S.distance([2.0, 0.5]) == pytest.approx(math.log(2))
    assert S.distance([math.nan, -1.0, 0.0]) is None


# -- the study with a fake runner (fast) ---------------------------------------------------------------

def _fake_toy_runner(calls):
    """A runner writing toy-shaped result files whose MSE falls with the budget (no training)."""

    def run(figures, preset, results_dir, device, *, progress=True):
        calls.append(preset.name)
        written = []
        for fid in figures:
            panels = [("2a", 64)] if fid == "2a" else [("3", d) for d in preset.fig3_dims]
            for f, dim in panels:
                rel = (registry.figure("2a").files[0] if f == "2a"
                       else next(r for r in registry.figure("3").files if r.endswith(f"_{dim}.json")))
                x = [f"{b} bits" for b in preset.bitrates]
                series = {m: results.Series(mean=[dim * (1 + k) / (1 + 0.01 * b) / (1 + preset.steps / 1e3)
                                                  for b in preset.bitrates])
                          for k, m in enumerate(("AVQ", "RVQ", "PVQ"))}
                context = {"Data": "Correlated"} if f == "2a" else {"Data Dimension": dim}
                result = results.ResultFile("MSE", "VQ Bitrate", x, series, context,
                                            {"figure": f, "paper": "icassp2023", "preset": preset.name,
                                             "settings": json.loads(json.dumps(preset.as_dict()))})
                written.append(results.write(result, Path(results_dir) / rel))
        return written

    return run


@pytest.fixture
def fake_toy(monkeypatch):
    calls: list[str] = []
    real = registry.load_runner
    monkeypatch.setattr(B.registry, "load_runner",
                        lambda name: _fake_toy_runner(calls) if name == B.FAMILIES["toy"].runner else real(name))
    return calls


def test_study_writes_each_factor_and_a_summary_and_resumes(tmp_path, fake_toy):
    out = B.run_budget_study("toy", (1, 2), tmp_path, "cpu", progress=False, base="smoke", reference_dir=REFERENCE)
    assert out == [tmp_path / ".budget" / "toy.json"] and fake_toy == ["smoke-x1", "smoke-x2"]
    for f in (1, 2):
        assert (B.factor_dir(tmp_path, "toy", f) / registry.figure("2a").files[0]).is_file()
    summary = json.loads(out[0].read_text())
    assert summary["meta"]["distance"] == S.DISTANCE_DEFINITION and summary["meta"]["distance_on"] == "scale_free"
    assert list(summary["factors"]) == ["x1", "x2"]
    x2 = summary["factors"]["x2"]
    assert x2["budget"] == {"steps": 32, "avq_steps": 16} and x2["seconds"]["wall_seconds"] >= 0
    assert set(x2["figures"]) == {"2a", "3"} and x2["figures"]["3"]["distance"] is not None
    assert x2["figures"]["2a"]["findings_held"]["paper"][1] > 0
    assert list(x2["metrics"]["icassp2023/Figure 3/Data_Dimension_256.json"]["series"]) == ["AVQ", "RVQ", "PVQ"]
    assert summary["movement"]["x1->x2"]["icassp2023/Figure 2/correlated_dataset_Fig2-a.json"] > 0
    # a second call computes nothing; a new factor runs only itself
    B.run_budget_study("toy", (1, 2), tmp_path, "cpu", progress=False, base="smoke", reference_dir=REFERENCE)
    assert fake_toy == ["smoke-x1", "smoke-x2"]
    B.run_budget_study("toy", (1, 2, 3), tmp_path, "cpu", progress=False, base="smoke", reference_dir=REFERENCE)
    assert fake_toy == ["smoke-x1", "smoke-x2", "smoke-x3"]
    again = json.loads(out[0].read_text())
    assert again["factors"]["x2"] == x2 and list(again["factors"]) == ["x1", "x2", "x3"]


def test_a_fraction_of_the_budget_runs_into_its_own_folder_and_sorts_first(tmp_path, fake_toy):
    (path,) = B.run_budget_study("toy", "1,1/2", tmp_path, "cpu", progress=False, base="smoke",
                                 reference_dir=REFERENCE)
    assert fake_toy == ["smoke-x0.5", "smoke-x1"]
    assert (tmp_path / ".budget" / "toy" / "x0.5" / registry.figure("2a").files[0]).is_file()
    summary = json.loads(path.read_text())
    assert list(summary["factors"]) == ["x0.5", "x1"] and summary["factors"]["x0.5"]["factor"] == 0.5
    smoke = B.FAMILIES["toy"].preset_table()["smoke"]
    assert summary["factors"]["x0.5"]["budget"] == {"steps": round(smoke.steps / 2), "avq_steps": round(smoke.avq_steps / 2)}
    assert list(summary["movement"]) == ["x0.5->x1"]
    (tmp_path / ".budget" / "toy" / "x0.50").mkdir()  # not a name the study writes: not a factor
    assert list(S.summarize(tmp_path, "toy", REFERENCE, base="smoke")["factors"]) == ["x0.5", "x1"]
    B.run_budget_study("toy", "0.5", tmp_path, "cpu", progress=False, base="smoke", reference_dir=REFERENCE)
    assert fake_toy == ["smoke-x0.5", "smoke-x1"]  # done, with its seconds kept under the key x0.5
    from vqcore.plotting import budget as P
    assert P.distance_rows({"toy": summary})[0][2] == [0.5, 1]


def test_a_factor_whose_files_were_made_with_other_settings_runs_again(tmp_path, fake_toy):
    B.run_budget_study("toy", (1, 2), tmp_path, "cpu", progress=False, base="smoke", reference_dir=REFERENCE)
    stale = B.factor_dir(tmp_path, "toy", 2) / registry.figure("3").files[0]
    old = results.load(stale)
    results.write(results.ResultFile(old.metric, old.x_key, old.x, old.series, old.context,
                                     {**old.meta, "settings": {**old.meta["settings"], "steps": 1}}), stale)
    summary = json.loads((tmp_path / ".budget" / "toy.json").read_text())
    assert summary["factors"]["x2"]["settings"] is not None  # as written before the change
    B.run_budget_study("toy", (1, 2), tmp_path, "cpu", progress=False, base="smoke", reference_dir=REFERENCE)
    assert fake_toy == ["smoke-x1", "smoke-x2", "smoke-x2"]


def test_a_summary_gives_the_steps_its_files_were_made_with_and_whether_they_are_current(tmp_path, fake_toy):
    B.run_budget_study("toy", (1, 2), tmp_path, "cpu", progress=False, base="smoke", reference_dir=REFERENCE)
    fresh = S.summarize(tmp_path, "toy", REFERENCE, base="smoke")["factors"]
    assert fresh["x2"]["current"] and fresh["x2"]["budget"] == {"steps": 32, "avq_steps": 16}
    for path in S.factor_files(B.factor_dir(tmp_path, "toy", 2), B.FAMILIES["toy"].figures):
        full = B.factor_dir(tmp_path, "toy", 2) / path
        old = results.load(full)  # as if made before the preset's steps changed
        earlier = {**old.meta, "settings": {**old.meta["settings"], "steps": 8}}
        results.write(dataclasses.replace(old, meta=earlier), full)
    stale = S.summarize(tmp_path, "toy", REFERENCE, base="smoke")["factors"]
    assert stale["x1"]["current"] and not stale["x2"]["current"]
    assert stale["x2"]["budget"] == {"steps": 8, "avq_steps": 16}


def test_summary_is_recomputed_from_the_files(tmp_path, fake_toy):
    (path,) = B.run_budget_study("toy", (1, 4), tmp_path, "cpu", progress=False, base="smoke",
                                 reference_dir=REFERENCE)
    stored = json.loads(path.read_text())
    seconds = {v["factor"]: v["seconds"] for v in stored["factors"].values()}
    assert S.summarize(tmp_path, "toy", REFERENCE, seconds, base="smoke") == stored
    # the distance is the definition's, on the report's scale-free ratios
    from vqcore.eval.fidelity import figure_report

    report = figure_report("3", B.factor_dir(tmp_path, "toy", 4), REFERENCE)
    assert stored["factors"]["x4"]["figures"]["3"]["distance"] == pytest.approx(S.distance(report.scale_free.values))
    # a factor folder without result files (a killed run) is not in the summary
    (B.factor_dir(tmp_path, "toy", 16) / ".runs").mkdir(parents=True)
    assert "x16" not in S.summarize(tmp_path, "toy", REFERENCE, seconds, base="smoke")["factors"]


def test_factor_files_are_chosen_by_figure_and_paper_or_by_the_registrys_names(tmp_path):
    def write(rel, figure, paper):
        result = results.ResultFile("SSIM", "VQ bitrate", ["6 bits"], {"NSVQ": results.Series(mean=[0.5])}, {},
                                    {"figure": figure, "paper": paper})
        results.write(result, tmp_path / rel)

    nsvq_rel = registry.figure("nsvq3").files[1]
    write(nsvq_rel, "3", "nsvq2022")  # the NSVQ paper's files record the paper's figure number
    write("icassp2023/Figure 3/elsewhere.json", "3", "icassp2023")  # not a registry name: found by figure id
    assert list(S.factor_files(tmp_path, ["nsvq3"])) == [nsvq_rel]
    assert list(S.factor_files(tmp_path, ["3"])) == ["icassp2023/Figure 3/elsewhere.json"]
    assert S.factor_files(tmp_path / "missing", ["3"]) == {}


def test_made_by_compares_what_each_runner_records():
    preset = B.scaled_preset("toy", 2, base="smoke")
    whole = json.loads(json.dumps(preset.as_dict()))

    def files(**metas):
        return {k: results.ResultFile("MSE", "VQ Bitrate", ["12 bits"], {"A": results.Series(mean=[1.0])}, {}, m)
                for k, m in metas.items()}

    assert S.made_by(files(a={"preset": preset.name, "settings": whole}), preset)
    assert S.made_by(files(a={"preset": preset.name, "settings": {**whole, "notes": "other prose"}}), preset)
    assert S.made_by(files(a={"preset": preset.name, "settings": {"steps": preset.steps}},  # a runner's subset
                           b={"preset": preset.name}), preset)
    assert not S.made_by(files(a={"preset": preset.name, "settings": {**whole, "steps": 1}}), preset)
    assert not S.made_by(files(a={"preset": preset.name, "settings": {"steps": 1}}), preset)
    missing = {k: v for k, v in whole.items() if k != "avq_steps"}  # a whole preset without a field it has now
    assert not S.made_by(files(a={"preset": preset.name, "settings": missing}), preset)
    assert not S.made_by(files(a={"preset": "smoke-x4", "settings": whole}), preset)
    assert not S.made_by({}, preset)


def test_a_malformed_summary_is_named(tmp_path):
    path = B.summary_path(tmp_path, "toy")
    path.parent.mkdir(parents=True)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="toy.json: not a budget study summary"):
        S.read_summary(path)


def test_the_study_checks_every_argument_before_it_runs(tmp_path, fake_toy):
    with pytest.raises(ValueError, match="factor"):
        B.run_budget_study("toy", (1, 0), tmp_path, "cpu", progress=False)
    with pytest.raises(ValueError, match="unknown family"):
        B.run_budget_study("toy,vision", (1,), tmp_path, "cpu", progress=False)
    assert fake_toy == [] and not (tmp_path / ".budget").exists()


def test_cli_budget(tmp_path, fake_toy, capsys):
    args = ["budget", "--families", "toy", "--factors", "1,2", "--base", "smoke", "--results-dir", str(tmp_path),
            "--reference-dir", str(REFERENCE), "--device", "cpu", "--no-progress"]
    assert cli_main(args) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / ".budget" / "toy.json")
    assert fake_toy == ["smoke-x1", "smoke-x2"]
    for bad, needle in ((["--families", "toy,vision"], "--families: unknown family 'vision'"),
                        (["--factors", "1,0"], "--factors: factor must be a positive number"),
                        (["--factors", "a"], "--factors: 'a' is not a number"),
                        (["--factors", "1/3"], "--factors: factor 1/3 has no exact decimal form"),
                        (["--threads", "0"], "--threads must be an integer >= 1"),
                        (["--reference-dir", str(tmp_path / "none")], "--reference-dir"),
                        (["--device", "tpu"], "--device")):
        assert cli_main(["budget", "--results-dir", str(tmp_path), *bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith("vqcore budget: error: ") and needle in err, err
    assert fake_toy == ["smoke-x1", "smoke-x2"]
    with pytest.raises(SystemExit):
        cli_main(["budget", "--base", "huge"])


def test_plots_draw_every_figure_and_the_metric_panels(tmp_path, fake_toy):
    import matplotlib

    matplotlib.use("Agg")
    from vqcore.plotting import budget as P

    (path,) = B.run_budget_study("toy", (1, 4), tmp_path, "cpu", progress=False, base="smoke",
                                 reference_dir=REFERENCE)
    summary = json.loads(path.read_text())
    rows = P.distance_rows({"toy": summary})
    assert [(r[0], r[1], r[2]) for r in rows] == [("toy", "2a", [1, 4]), ("toy", "3", [1, 4])]
    ax = P.plot_distance({"toy": summary})
    assert len(ax.get_lines()) == 2 and ax.get_xscale() == "log"
    axes = P.plot_metric_panels(summary, ["icassp2023/Figure 2/correlated_dataset_Fig2-a.json"])
    assert len(axes[0].get_lines()) == 6  # 3 methods at the highest and the lowest rate
    with pytest.raises(ValueError, match="rel: no factor"):
        P.metric_rows(summary, "nothing.json")


# -- the real toy runner at the smoke preset (slow) ---------------------------------------------------

@pytest.mark.slow
def test_smoke_study_of_the_toy_family_end_to_end_and_resumed(tmp_path, monkeypatch):
    from vqcore.experiments import toy

    small = dataclasses.replace(B.FAMILIES["toy"], subset={"bitrates": (12, 16), "fig3_dims": (64,)})
    monkeypatch.setitem(B.FAMILIES, "toy", small)  # 12 smoke runs per factor
    (path,) = B.run_budget_study("toy", (1, 2), tmp_path, "cpu", progress=False, base="smoke",
                                 reference_dir=REFERENCE)
    summary = json.loads(path.read_text())
    assert list(summary["factors"]) == ["x1", "x2"]
    for entry in summary["factors"].values():
        for fid in ("2a", "3"):
            fig = entry["figures"][fid]
            assert fig["distance"] is not None and fig["distance"] >= 0 and fig["scale_free"]["n"] > 0
    # the summary's files are the runner's own, in the factor's folder
    x2 = results.load(B.factor_dir(tmp_path, "toy", 2) / registry.figure("2a").files[0])
    assert x2.meta["preset"] == "smoke-x2" and x2.meta["settings"]["steps"] == 32
    # a lost summary: the runner is called again, but its run cache trains nothing
    trained = []
    real = toy.train_and_evaluate
    monkeypatch.setattr(toy, "train_and_evaluate", lambda *a, **k: trained.append(a[0]) or real(*a, **k))
    path.unlink()
    B.run_budget_study("toy", (1, 2), tmp_path, "cpu", progress=False, base="smoke", reference_dir=REFERENCE)
    assert trained == []
    again = json.loads(path.read_text())
    assert {k: v["figures"] for k, v in again["factors"].items()} == {k: v["figures"]
                                                                     for k, v in summary["factors"].items()}


def test_budget_cuts_say_what_a_quarter_of_the_budget_keeps():
    rel = registry.figure("2a").files[0]

    def entry(factor, held):
        return {"factor": factor, "figures": {"2a": {"findings_held": {"ours": held, "paper": [3, 3]}}}}

    summary = {"factors": {"x0.25": entry(0.25, [3, 3]), "x1": entry(1, [3, 3]), "x4": entry(4, [3, 3])},
               "movement": {"x0.25->x1": {rel: 0.004}, "x1->x4": {rel: 0.002}}}
    (cut,) = S.budget_cuts({"toy": summary})
    assert (cut.family, cut.figure, cut.findings_smaller, cut.moves_down, cut.moves_up) == ("toy", "2a", (3, 3), 0.004, 0.002)
    assert cut.same_within(0.01) and not cut.same_within(0.001)
    summary["factors"]["x0.25"] = entry(0.25, [2, 3])
    assert not S.budget_cuts({"toy": summary})[0].same_within(0.01)  # a finding lost
    del summary["factors"]["x0.25"]
    assert S.budget_cuts({"toy": summary}) == []  # nothing below the quick budget has run
