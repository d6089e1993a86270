"""The fidelity report (:mod:`vqcore.eval.fidelity`): its checks on synthetic data whose answer is
known, ratios and scale-free curves, the anomaly detector, the toy analysis, and the report over
the committed ``Results/`` and ``reference/``."""
from __future__ import annotations

import math

import numpy as np
import pytest

from vqcore.eval import fidelity as F
from vqcore.eval.fidelity import checks as C
from vqcore.eval.fidelity import phones as P
from vqcore.eval.fidelity.anomalies import band_problems, duplicate_series, published_anomalies
from vqcore.eval.fidelity.catalogue import Finding
from vqcore.eval.fidelity.compare import matched_ratios, scale_free_ratios
from vqcore.eval.fidelity.files import FigureData, panel_of
from vqcore.experiments import registry
from vqcore.io import results

BITS = ["12 bits", "16 bits", "20 bits", "24 bits"]


def _file(series: dict, x=BITS, metric="MSE", x_key="VQ Bitrate", context=None, meta=None, **extra):
    """A validated ResultFile: a list is a plain series, a (mean, low, high) triple a band."""
    obj = dict(context or {})
    obj.update({"Metric": metric, x_key: list(x)})
    for m, v in series.items():
        if isinstance(v, tuple):
            obj[f"Mean ({m})"], obj[f"Quantile Low ({m})"], obj[f"Quantile High ({m})"] = map(list, v)
    for m, v in series.items():
        if not isinstance(v, tuple):
            obj[m] = list(v)
    obj.update(extra)
    if meta:
        obj["meta"] = meta
    return results.validate(obj)


def _panels(*files):
    return [panel_of(f, f"p{i}.json") for i, f in enumerate(files)]


def _outcome(check, *files):
    return F.SideOutcome(tuple(check.points(_panels(*files))))


# -- curve checks -----------------------------------------------------------------------------

def test_order_holds_fails_and_knows_the_seed_spread():
    f = _file({"A": ([1, 2, 3, 4], [0.5, 1.5, 2.5, 3.5], [1.5, 2.5, 3.5, 4.5]),
               "B": ([2, 3, 2.9, 5], [1.8, 2.8, 2.7, 4.8], [2.2, 3.2, 3.1, 5.2])})
    out = _outcome(C.Order("A", "<", "B"), f)
    assert out.fraction() == "3/4" and out.held is False
    (bad,) = out.failed
    assert bad.x == "20 bits" and bad.within_spread is True  # [2.5, 3.5] overlaps [2.7, 3.1]
    far = _file({"A": ([5, 5], [4.9, 4.9], [5.1, 5.1]), "B": ([1, 1], [0.9, 0.9], [1.1, 1.1])}, x=BITS[:2])
    assert all(p.within_spread is False for p in _outcome(C.Order("A", "<", "B"), far).failed)
    assert _outcome(C.Order("A", "<", "B", x_min=24), f).fraction() == "1/1"
    with pytest.raises(ValueError, match="rel"):
        C.Order("A", "<<", "B").points(_panels(f))


def test_order_ties_skip_and_missing_points():
    f = _file({"A": [1.0, 0.9, None, 1.0], "B": [1.0, 0.8, 0.5, 1.0]}, x=["1", "2", "4", "8"], x_key="T")
    assert _outcome(C.Order("A", ">", "B"), f).fraction() == "1/3"  # the missing point is not counted
    assert _outcome(C.Order("A", ">", "B", ties="skip"), f).fraction() == "1/1"
    assert _outcome(C.Order("A", ">", "Nope"), f).n == 0


def test_rises_close_ratio_gap_relclose():
    f = _file({"A": [1, 2, 2, 3], "B": [1, 2, 1.5, 3.1]})
    assert _outcome(C.Rises(), f).fraction() == "5/6"  # B falls once; equal counts as risen
    assert _outcome(C.Rises(falls=True, methods=("A",)), f).fraction() == "1/3"
    close = _outcome(C.Close(("A", "B"), 0.10), f)
    assert close.fraction() == "3/4" and close.failed[0].x == "20 bits"
    assert _outcome(C.AtLeastRatio("A", ("B",), 1.2), f).fraction() == "1/4"
    assert _outcome(C.AtLeastGap("B", "A", 0.05), f).fraction() == "1/4"
    assert _outcome(C.RelClose("B", "A", 0.05), f).fraction() == "3/4"


def test_extreme_worst_and_best():
    f = _file({"A": [1, 1, 1, 1], "B": [2, 2, 2, 2], "C": [3, 0.5, 3, 0.5]})
    assert _outcome(C.Extreme("C", ("A", "B", "C"), worst=True), f).fraction() == "2/4"
    assert _outcome(C.Extreme("C", ("A", "B", "C"), worst=False), f).fraction() == "2/4"
    assert _outcome(C.Extreme("C", ("A", "B", "C"), worst=False, x_min=24), f).fraction() == "1/1"
    # higher is better: the worst is the lowest
    assert _outcome(C.Extreme("A", ("A", "B"), worst=True, lower_is_better=False), f).fraction() == "4/4"


def test_less_gain_at_higher_dimension():
    low = _file({"A": [8, 4, 2, 1]}, context={"Data Dimension": 64})     # halves every 4 bits
    high = _file({"A": [8, 6, 4.5, 3.4]}, context={"Data Dimension": "128"})  # about 3/4 every 4 bits
    assert _outcome(C.LessGainAtHigherDim(("A",)), high, low).fraction() == "3/3"
    assert _outcome(C.LessGainAtHigherDim(("A",)), low, _file({"A": [8, 2, 0.5, 0.1]},
                                                              context={"Data Dimension": 128})).fraction() == "0/3"


def test_exact_compares_ours_with_the_paper():
    ours = _file({"A": [1.0, 2.0, 3.0, 4.0]})
    paper = _file({"A": [1.0, 2.0, 3.0 + 1e-12, 4.1]})
    points = C.Exact(1e-9).points_pair([(panel_of(ours, "a"), panel_of(paper, "a"))])
    assert [p.held for p in points] == [True, True, True, False]


def test_most_and_all_verdicts():
    pts = tuple(F.Point("p", str(i), held) for i, held in enumerate([True, True, False]))
    assert F.SideOutcome(pts, "all").held is False and F.SideOutcome(pts, "most").held is True
    assert F.SideOutcome(pts[2:] + pts[:1], "most").held is False  # 1 of 2 is not more than half
    assert F.SideOutcome((), "all").held is None


def test_finding_evaluates_both_sides_and_compare_has_no_paper_side():
    ours, paper = _file({"A": [1, 2, 3, 4], "B": [2, 3, 4, 5]}), _file({"A": [3, 2, 3, 4], "B": [2, 3, 4, 5]})
    data = FigureData("x", (panel_of(ours, "f.json"),), (panel_of(paper, "f.json"),))
    r = Finding("k", "A < B", "test", (C.Order("A", "<", "B"),)).evaluate(data)
    assert (r.ours.fraction(), r.paper.fraction()) == ("4/4", "3/4")
    exact = Finding("e", "equal", "test", (C.Exact(1e-9),)).evaluate(data)
    assert exact.paper is None and exact.ours.fraction() == "7/8"
    alone = Finding("k", "A < B", "test", (C.Order("A", "<", "B"),)).evaluate(FigureData("x", data.ours, ()))
    assert alone.paper is None


# -- the Interspeech checks -------------------------------------------------------------------

def _hist(centre: float, size: int = 64, width: float = 2.0) -> list[float]:
    h = np.exp(-0.5 * ((np.arange(size) - centre) / width) ** 2)
    return list(h / h.sum())


def _hists(centres: dict[str, float], size: int = 64, **context):
    return _file({k: _hist(c, size) for k, c in centres.items()}, x=[str(i) for i in range(size)],
                 x_key="Index", metric="Share", context=context)


def test_groups_separate_beyond_chance_and_silence_at_an_end():
    ordered = _hists({"c1": 5, "c2": 12, "v1": 50, "v2": 40})
    assert _outcome(P.GroupsSeparate(("c1", "c2"), ("v1", "v2")), ordered).fraction() == "4/4"
    assert _outcome(P.OrderBeyondChance(("c1", "c2"), ("v1", "v2")), ordered).fraction() == "1/1"
    assert _outcome(P.OrderBeyondChance(("c1", "c2"), ("v1", "v2"), expect_order=False), ordered).fraction() == "0/1"
    mixed = _hists({"c1": 5, "c2": 50, "v1": 12, "v2": 40})
    out = _outcome(P.GroupsSeparate(("c1", "c2"), ("v1", "v2")), mixed)
    assert out.n == 4 and out.n_held < 4
    assert _outcome(P.AtOneEnd("c1"), ordered).fraction() == "1/1"
    assert _outcome(P.AtOneEnd("v2"), ordered).fraction() == "0/1"  # 40 of 0..63: inside
    assert _outcome(P.AtOneEnd("v1"), _hists({"v1": 60})).fraction() == "1/1"  # the other end counts too


def test_unordered_histograms_are_within_chance():
    rng = np.random.default_rng(3)
    flat = {k: list(rng.dirichlet(np.ones(64))) for k in ("c1", "c2", "v1", "v2")}
    f = _file(flat, x=[str(i) for i in range(64)], x_key="Index", metric="Share")
    assert _outcome(P.OrderBeyondChance(("c1", "c2"), ("v1", "v2"), expect_order=False), f).fraction() == "1/1"


def test_neighbour_peaks_skip_absent_phones():
    f = _hists({"f": 10, "v": 12, "s": 40, "z": 10})
    out = _outcome(P.NeighbourPeaks((("f", "v"), ("s", "z"), ("hh", "hv")), max_fraction=0.125), f)
    assert [(p.x, p.held) for p in out.points] == [("f/v", True), ("s/z", False)]


def test_smooth_within_phones():
    times = [f"{0.01 + 0.02 * i:.3f} s" for i in range(8)]
    f = _file({"SFVQ": [10, 11, 12, 12, 50, 51, 90, 20], "VQ": [3, 200, 7, 100, 50, 60, 90, 91]}, x=times,
              x_key="Time", metric="Codebook index",
              Phones={"start_s": [0.0, 0.08], "end_s": [0.08, 0.16], "timit": ["s", "iy"], "group": ["f", "v"]})
    out = _outcome(P.SmoothWithinPhones(min_frames=3), f)
    assert [(p.x.split()[0], p.held) for p in out.points] == [("s", True), ("iy", False)]


def test_per_seed():
    f = _file({"A": [0.4], "B": [0.8]}, x=["8 bits"], metric="JS",
              **{"Per seed": {"Seed": [0, 1], "A": [0.4, 0.9], "B": [0.8, 0.85]}})
    assert _outcome(P.PerSeed("A", "B"), f).fraction() == "1/2"
    assert _outcome(P.PerSeed("A", "B", within=0.1), f).fraction() == "1/2"


# -- ratios and scale-free curves -------------------------------------------------------------

def test_ratio_stats_and_matching_by_label():
    r = F.model.stats("A", "p", [2.0, 1.0, math.nan, 4.0, 3.0])
    assert (r.n, r.median, r.min, r.max) == (4, 2.5, 1.0, 4.0)
    assert r.within((1.0, 4.0)) and not r.within((1.5, 4.0))
    ours = _file({"A": [2, 4, 6, 8], "B": [1, 1, 1, 1]})
    paper = _file({"A": [2, 2, 2, 2], "C": [1, 1, 1, 1]}, x=["16 bits", "12 bits", "24 bits", "40 bits"])
    curves, pooled = matched_ratios([(panel_of(ours, "a"), panel_of(paper, "a"))])
    assert [c.curve for c in curves] == ["A"] and curves[0].values == (1.0, 2.0, 4.0)  # 20 bits unmatched
    assert pooled.median == 2.0
    assert F.point_ratio(1.5, 0.5, "Complexity (log10 WMOPS)") == pytest.approx(10.0)
    assert math.isnan(F.point_ratio(1.0, 0.0, "MSE"))


def test_scale_free_curves_remove_a_scale():
    curve = F.scale_free([4.0, 2.0, None, 1.0])
    assert curve[:2] + curve[3:] == [1.0, 0.5, 0.25] and math.isnan(curve[2])
    assert F.scale_free([20.0, 23.0, 25.0], "difference") == [0.0, 3.0, 5.0]
    assert all(math.isnan(v) for v in F.scale_free([None, 1.0]))
    with pytest.raises(ValueError, match="mode"):
        F.scale_free([1.0], "log")
    assert F.scale_free_mode("Peak SNR") == "difference" and F.scale_free_mode("MSE") == "ratio"
    assert F.per_bit_change([12, 16, 20], [8.0, 4.0, 2.0]) == [-1.0, -0.5]
    assert F.per_bit_change([12, 16], [8.0, 4.0], relative=True) == [pytest.approx(math.log(0.5) / 4)]
    with pytest.raises(ValueError, match="length"):
        F.per_bit_change([1, 2], [1.0])
    xs = [12, 20, 28, 40]
    assert F.gain_ratio(xs, [1.0, 2.0, 3.0, 4.5], 12, 28, 40) == pytest.approx(0.75)  # a straight line
    assert F.gain_ratio(xs, [1.0, 2.0, 3.0, 3.0], 12, 28, 40) == 0.0  # flat after 28
    assert F.gain_ratio(xs, [5.0, 4.0, 3.0, 2.0], 12, 20, 40) == pytest.approx(2.0)  # falling curves too
    assert math.isnan(F.gain_ratio(xs, [1.0, 2.0, None, 4.0], 12, 28, 40))
    assert math.isnan(F.gain_ratio(xs, [1.0, 2.0, 1.0, 4.0], 12, 28, 40))  # no gain below mid
    with pytest.raises(ValueError, match="mid=30"):
        F.gain_ratio(xs, [1.0, 2.0, 3.0, 4.0], 12, 30, 40)
    with pytest.raises(ValueError, match="low < mid < high"):
        F.gain_ratio(xs, [1.0, 2.0, 3.0, 4.0], 28, 12, 40)
    ours = _file({"A": [10, 5, 2.5, 1.25], "B": [3, 2, 1, 0.5]})
    scaled = _file({"A": [20, 10, 5, 2.5], "B": [9, 6, 3, 1.5]})
    free = scale_free_ratios([(panel_of(ours, "a"), panel_of(scaled, "a"))])
    assert free.n == 6 and free.min == pytest.approx(1.0) and free.max == pytest.approx(1.0)


# -- anomalies --------------------------------------------------------------------------------

def test_duplicate_series_and_band_problems_on_synthetic_files():
    f = _file({"A": ([1, 2, 3], [0, 1, 2], [2, 3, 4]), "B": ([1.5, 2.5, 3.5], [0.5, 1.5, 2.5], [2, 3, 4]),
               "C": [9, 9, 9]}, x=BITS[:3])
    (dup,) = duplicate_series(panel_of(f, "f"), "x", "paper")
    assert '"Quantile High (B)" equals "Quantile High (A)" in all 3 entries' in dup.text
    assert not duplicate_series(panel_of(_file({"A": [1, 2], "B": [1, 2]}, x=BITS[:2]), "f"), "x", "paper")
    bad = _file({"A": ([1, 5, 3], [0, 1, 2], [2, 3, 4])}, x=BITS[:3])
    (problem,) = band_problems(panel_of(bad, "f"), "x", "ours")
    assert "1 of 3 points (16 bits)" in problem.text


def test_the_published_figure_5_has_one_duplicate_series(reference_dir):
    found = [a for a in published_anomalies(reference_dir) if a.kind == "duplicate series"]
    assert [a.figure for a in found] == ["icassp2023/Figure 5/Recall.json"]
    assert '"Quantile High (PVQ proposed)" equals "Quantile High (RVQ proposed)" in all 10 entries' in found[0].text


# -- the toy analysis -------------------------------------------------------------------------

def test_toy_scale_measures_a_constant_ratio(tmp_path):
    for dim, factor in ((64, 0.5), (128, 1.0)):
        rel = f"icassp2023/Figure 3/D{dim}.json"
        paper = {"A": [100.0, 90.0, 80.0, 70.0], "B": [101.0, 91.0, 79.0, 69.0]}
        meta = {"figure": "3", "data": {"kind": "uncorrelated", "dim": dim, "test_energy": float(dim)}}
        ours = _file({k: [factor * v for v in vs] for k, vs in paper.items()}, meta=meta)
        for root, f in ((tmp_path / "ours", ours), (tmp_path / "ref", _file(paper))):
            results.write(f, root / rel)
    toy = F.toy_scale(F.load_ours(tmp_path / "ours"), tmp_path / "ref")
    assert [r.dim for r in toy.rows] == [64, 128]
    assert [r.ratio.median for r in toy.rows] == pytest.approx([0.5, 1.0])
    assert all(r.deviation == pytest.approx(0.0) and r.ratio.n == 8 for r in toy.rows)
    assert [r.implied_variance for r in toy.rows] == pytest.approx([2.0, 1.0])
    assert f"{toy.rows[0].implied_energy:.3g}" in toy.text and "within 5% of a constant" in toy.text
    assert F.toy_scale(F.load_ours(tmp_path / "ours"), None) is None


# -- the report over the committed results ----------------------------------------------------

@pytest.fixture(scope="module")
def committed(repo_root):
    return F.summary(repo_root / "Results", repo_root / "reference"), repo_root


def test_summary_has_one_row_per_registry_figure(committed):
    summary, _ = committed
    assert [r.figure for r in summary.rows] == list(registry.figure_ids())
    assert F.FIGURE_IDS == registry.figure_ids()
    for row in summary.rows:
        fig = registry.figure(row.figure)
        assert row.ours[1] > 0, f"no finding of figure {row.figure} could be checked in ours"
        if fig.paper == "interspeech2023":
            assert row.paper == (0, 0) and row.ratio is None
        else:
            assert row.paper[1] > 0 and row.ratio is not None and row.ratio.n > 0
    table = summary.to_markdown()
    assert table.count("\n") == len(summary.rows) + 1 and table.startswith("| figure |")


def test_every_finding_has_points_in_our_committed_data(committed):
    _, root = committed
    reports = F.figure_reports(root / "Results", root / "reference")
    assert [r.figure for r in reports] == list(F.FIGURE_IDS)
    for report in reports:
        for f in report.findings:
            assert f.ours is not None and f.ours.n > 0, f"figure {report.figure}: {f.text} has no point in ours"
        assert len(report.panels) == len(registry.figure(report.figure).files), f"{report.figure}: {report.panels}"


def test_committed_figure_reports_match_the_published_facts(committed):
    _, root = committed
    report = F.figure_report("Figure 5", root / "Results", root / "reference")
    kinds = {a.kind for a in report.anomalies if a.side == "paper"}
    assert kinds == {"duplicate series", "finding contradicted"}
    baseline = next(f for f in report.findings if f.key == "5.baseline")
    assert baseline.paper.held is False and not any(p.held for p in baseline.paper.points if p.x == "1")
    complexity = F.figure_report("4c", root / "Results", root / "reference")
    assert complexity.ratio.min == pytest.approx(1.0) and complexity.ratio.max == pytest.approx(1.0)
    assert all(f.ours.held for f in complexity.findings) and not complexity.deviations
    toy = F.figure_report("3", root / "Results", root / "reference").toy
    assert [r.dim for r in toy.rows] == [64, 128, 256]
    assert all(r.ratio.n == 24 for r in toy.rows)
    markdown = report.to_markdown()
    assert "| finding | source | ours | paper |" in markdown and report._repr_markdown_() == markdown


def test_deviations_carry_a_cause_or_say_not_explained(committed):
    _, root = committed
    devs = F.deviations(root / "Results", root / "reference")
    assert devs and {d.kind for d in devs} <= {"finding", "ratio"}
    text = F.deviations_markdown(devs)
    assert text.count("\n- ") + 1 == len(devs)
    assert all(("*Cause:* not explained" in line) or ("*Cause:*" in line) for line in text.splitlines())
    assert any(d.cause is None for d in devs) and "not explained" in text


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="figure_id"):
        F.figure_report("7", tmp_path, None)
    with pytest.raises(ValueError, match="results_dir"):
        F.summary(tmp_path / "missing", None)
    with pytest.raises(ValueError, match="figure_id"):
        F.summary(tmp_path, None).row("7")


# -- the plotting helper ----------------------------------------------------------------------

def test_plot_scale_free_draws_ours_and_the_paper():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vqcore.plotting.fidelity import plot_per_bit, plot_scale_free, plot_scale_free_panels

    ours, paper = _file({"A": [10, 5, 2.5, 1.25]}), _file({"A": [20, 12, 6, 3]})
    ax = plot_scale_free(ours, paper)
    lines = ax.get_lines()
    assert [ln.get_linestyle() for ln in lines] == ["-", "--"]
    assert list(lines[0].get_ydata()) == [1.0, 0.5, 0.25, 0.125]
    ax2 = plot_per_bit(ours, None)
    assert len(ax2.get_lines()[0].get_xdata()) == 3
    first, second = plot_scale_free_panels(ours, paper)
    assert first.get_legend() is not None and len(second.get_lines()) >= 2
    plt.close("all")


def test_the_issues_figure_3_cases_and_a_paper_folder_as_reference(committed):
    _, root = committed
    report = F.figure_report("3", root / "Results", root / "reference" / "icassp2023")  # the notebooks' default
    by_key = {f.key: f for f in report.findings}
    assert by_key["3.pvq256"].ours.held is False and by_key["3.pvq256"].paper.held is True
    assert by_key["3.pvq64"].paper.held is True
    whole = F.figure_report("3", root / "Results", root / "reference")
    assert report.ratio.values == whole.ratio.values and report.has_paper
    alone = F.figure_report("sfvqgroups", root / "Results", root / "reference")
    assert not alone.has_paper and "no published data" in alone.to_markdown()
    row = F.summary(root / "Results", None).row("2a")
    assert row.paper == (0, 0) and row.ratio is None and row.cell().endswith("no published data")


def test_points_markdown_and_per_method_toy_deviation(tmp_path):
    ours, paper = _file({"A": [1, 2, 3, 4], "B": [2, 3, 2, 5]}), _file({"A": [1, 2, 3, 4], "B": [2, 3, 4, 5]})
    data = FigureData("x", (panel_of(ours, "f.json"),), (panel_of(paper, "f.json"),))
    result = Finding("k", "A < B", "test", (C.Order("A", "<", "B"),)).evaluate(data)
    table = F.points_markdown(result)
    assert table.count("\n| MSE |") == 4 and "**no**: A 3, B 2" in table
    row = F.ToyRow(64, F.model.stats("all", "", [1.0, 1.0, 1.2, 0.9]), 1.0, ("3",),
                   ("A, 12 bits", "A, 16 bits", "B, 12 bits", "B, 16 bits"))
    assert row.method_deviation() == pytest.approx({"A": 0.0, "B": 0.2})
    assert row.farthest == "B, 12 bits" and row.deviation == pytest.approx(0.2)


def test_the_panels_of_every_figure_are_its_registry_files(committed):
    _, root = committed
    ours = F.load_ours(root / "Results")
    for fid in F.FIGURE_IDS:
        data = F.figure_data(fid, ours, root / "reference", F.catalogue.PANEL_METRICS[fid])
        assert sorted(p.rel for p in data.ours) == sorted(registry.figure(fid).files), fid


# -- the NSVQ paper's figures ------------------------------------------------------------------

KBPS = ["8 kbits/sec", "16.4 kbits/sec", "32 kbits/sec"]
NSVQ_BITS = ["6 bits", "7 bits", "8 bits", "9 bits"]


def _nsvq_data(fid: str, files: dict) -> FigureData:
    return FigureData(fid, tuple(panel_of(f, f"{m}.json") for m, f in files.items()), ())


def _verdicts(fid: str, data: FigureData) -> dict:
    return {f.key: f.evaluate(data).ours.held for f in F.findings(fid)}


def test_nsvq_speech_findings_hold_and_fail_on_synthetic_data():
    extra = {"DiVeQ": [9.0, 1.0, 0.5]}  # no paper counterpart, falling: no finding may look at it
    good = {m: _file({"STE": [1.0, 2.0, 3.0], "NSVQ": [1.1, 2.2, 3.3], **extra}, x=KBPS, metric=m,
                     x_key="Sampling Rate") for m in ("PESQ", "STOI", "pSNR")}
    assert _verdicts("nsvq1", _nsvq_data("nsvq1", good)) == {"nsvq1.ste": True, "nsvq1.rises": True}
    bad = dict(good, STOI=_file({"STE": [1.0, 2.0, 3.0], "NSVQ": [1.1, 0.9, 3.3], **extra}, x=KBPS, metric="STOI",
                                x_key="Sampling Rate"))
    verdicts = _verdicts("nsvq1", _nsvq_data("nsvq1", bad))
    assert verdicts == {"nsvq1.ste": False, "nsvq1.rises": False}
    ste = next(f for f in F.findings("nsvq1") if f.key == "nsvq1.ste").evaluate(_nsvq_data("nsvq1", bad))
    assert ste.ours.fraction() == "8/9" and ste.ours.failed[0].x == "16.4 kbits/sec"


def _images(nsvq, ema=(1.0, 2.0, 3.0, 4.0)):
    series = {"STE": [1.0, 2.0, 3.0, 4.0], "EMA": list(ema), "NSVQ w/o CBR": [0.9, 1.9, 2.9, 3.9],
              "NSVQ": list(nsvq), "DiVeQ": [9.0, 9.0, 9.0, 9.0]}  # DiVeQ best everywhere: not among the paper's
    return {m: _file(series, x=NSVQ_BITS, metric=m) for m in ("Peak SNR", "SSIM")}


def test_nsvq_image_findings_hold_and_fail_on_synthetic_data():
    assert set(_verdicts("nsvq3", _nsvq_data("nsvq3", _images([1.5, 2.5, 3.5, 4.5])))) == {
        "nsvq3.best", "nsvq3.high", "nsvq3.ste", "nsvq3.ema", "nsvq3.cbr"}
    assert all(_verdicts("nsvq3", _nsvq_data("nsvq3", _images([1.5, 2.5, 3.5, 4.5]))).values())
    # the paper's own pattern: below the others at the lowest rate, best from 8 bits up
    low = _verdicts("nsvq3", _nsvq_data("nsvq3", _images([0.95, 2.5, 3.5, 4.5])))
    assert low == {"nsvq3.best": True, "nsvq3.high": True, "nsvq3.ste": True, "nsvq3.ema": True,
                   "nsvq3.cbr": True}
    # best only at the lowest rates; EMA above NSVQ from 8 bits up; replacement hurting at 9 bits
    late = _verdicts("nsvq3", _nsvq_data("nsvq3", _images([1.5, 2.5, 3.5, 3.8], ema=[1.0, 2.0, 3.6, 4.6])))
    assert late == {"nsvq3.best": False, "nsvq3.high": False, "nsvq3.ste": True, "nsvq3.ema": False,
                    "nsvq3.cbr": False}
    worst = _verdicts("nsvq3", _nsvq_data("nsvq3", _images([0.5, 1.5, 2.5, 3.5])))
    assert not any(worst.values())


def test_nsvq_files_are_their_own_figures_and_extra_series_match_nothing(tmp_path):
    ours_dir, ref = tmp_path / "Results", tmp_path / "reference" / "nsvq2022" / "Figure 1"
    ref.mkdir(parents=True)
    meta = {"figure": "1", "paper": "nsvq2022"}
    pesq = _file({"STE": [1.0, 2.0, 3.0], "NSVQ": [1.2, 2.4, 3.6], "Rotation": [5.0, 5.0, 5.0]}, x=KBPS,
                 metric="PESQ", x_key="Sampling Rate", meta=meta)
    usage = _file({"STE": [0.1, 0.1, 0.1], "NSVQ": [0.0, 0.0, 0.0]}, x=KBPS, metric="Dead codes",
                  x_key="Sampling Rate", meta=meta)
    icassp = _file({"AVQ": [1.0, 2.0, 3.0]}, x=KBPS, metric="PESQ", x_key="Sampling Rate",
                   meta={"figure": "1", "paper": "icassp2023"})
    results.write(pesq, ours_dir / "nsvq2022" / "Figure 1" / "PESQ.json")
    results.write(usage, ours_dir / "nsvq2022" / "Figure 1" / "usage.json")
    results.write(icassp, ours_dir / "icassp2023" / "Figure 1" / "PESQ.json")
    results.write(_file({"STE": [1.0, 2.0, 3.0], "NSVQ": [1.0, 2.0, 3.0]}, x=KBPS, metric="PESQ",
                       x_key="Sampling Rate"), ref / "PESQ.json")
    grouped = F.load_ours(ours_dir)
    assert sorted(grouped["nsvq1"]) == ["nsvq2022/Figure 1/PESQ.json", "nsvq2022/Figure 1/usage.json"]
    assert sorted(grouped["1"]) == ["icassp2023/Figure 1/PESQ.json"]
    # the whole reference folder, and the paper's (the notebooks pass that one)
    for reference_dir in (tmp_path / "reference", tmp_path / "reference" / "nsvq2022"):
        report = F.figure_report("nsvq1", ours_dir, reference_dir)
        assert report.panels == ("PESQ",) and report.has_paper  # usage.json is not a panel
        assert [c.curve for c in report.curves] == ["STE", "NSVQ"]  # Rotation has no paper counterpart
        assert report.ratio.values == pytest.approx([1.0, 1.0, 1.0, 1.2, 1.2, 1.2])
        assert report.held("ours") == (2, 2) and report.held("paper") == (1, 2)  # the paper's NSVQ = STE


def test_the_committed_nsvq_figures_against_the_published_ones(committed):
    summary, root = committed
    for fid in ("nsvq1", "nsvq3"):
        report = F.figure_report(fid, root / "Results", root / "reference" / "nsvq2022")  # the notebooks' default
        held, checked = report.held("paper")
        assert checked == len(F.findings(fid)) and held == checked, fid  # the paper's data show what it says
        assert summary.row(fid).paper == (held, checked)
        assert {c.curve for c in report.curves} <= {"STE", "EMA", "NSVQ w/o CBR", "NSVQ"}  # not DiVeQ, Rotation
    assert F.figure_report("1", root / "Results", root / "reference").panels == ("PESQ", "pSNR")
