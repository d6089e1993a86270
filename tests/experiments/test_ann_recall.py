"""ICASSP 2023 Figures 5 and 6a: the committed results of record and the book page's notebook."""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from vqcore.io import results
from vqcore.eval.ann import POWERS_OF_TEN, POWERS_OF_TWO
from vqcore.experiments.ann_recall import FIG5_FILE, FIG6A_FILE, FIGURES, figure_methods
from vqcore.plotting.recall import depth_positions, recall_at_depth, recall_ordering

from tests.helpers import execute, has_image, output_text, outputs

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "Results"
NOTEBOOK = REPO / "notebooks" / "fig5_6a_ann.ipynb"


def _record(rel: Path) -> results.ResultFile:
    path = RESULTS / rel
    assert path.is_file(), f"missing result of record {rel}: run vqcore.experiments.ann_recall.run_ann at preset quick"
    return results.load(path)


@pytest.mark.parametrize("figure", FIGURES)
def test_results_of_record_are_valid_quick_and_monotone(figure):
    rel = FIG5_FILE if figure == "5" else FIG6A_FILE
    result = _record(rel)
    depths = POWERS_OF_TWO if figure == "5" else POWERS_OF_TEN
    assert result.metric == "Recall @ T" and result.x_key == "T" and result.x == [str(t) for t in depths]
    proposed, baselines = figure_methods(figure)
    assert set(result.series) == {f"{m} proposed" for m in proposed} | {f"{m} baseline" for m in baselines}
    meta = result.meta
    assert meta["preset"] == "quick" and meta["seeds"] and meta["device"] and meta["versions"] and meta["date"]
    assert meta["quantiles"] and meta["over"] and meta["settings"]["code_bits"] == 64
    data = meta["data"]
    assert data["n_query"] >= 1000 and data["n_base"] >= 20000 and data["dim"] == 128
    assert set(data["base_images"]).isdisjoint(data["query_images"])
    for name, s in result.series.items():
        values = s.mean if s.mean is not None else s.values
        assert all(0.0 <= v <= 1.0 for v in values), name
        assert all(b >= a for a, b in itertools.pairwise(values)), f"{name}: recall falls as T grows"
        if s.is_band:
            assert all(lo <= m <= hi for lo, m, hi in zip(s.low, s.mean, s.high)), name
    assert json.loads((RESULTS / rel).read_text(encoding="utf-8"))["meta"]["preset"] != "smoke"


def test_results_of_record_show_the_orderings_that_hold():
    fig5, fig6 = _record(FIG5_FILE), _record(FIG6A_FILE)
    # the paper's headline: AVQ proposed has the best recall@1, ahead of RVQ and PVQ
    r1 = recall_at_depth(fig5, 1)
    assert r1["AVQ proposed"] > max(r1["RVQ proposed"], r1["PVQ proposed"])
    # AVQ's lead over RVQ is beyond the query sampling noise (standard error ~0.007 with 5000 queries)
    assert r1["AVQ proposed"] - r1["RVQ proposed"] > 0.02
    # every proposed quantizer is within a few points of its classical baseline at T = 1 and T = 16
    for depth in (1, 16):
        r = recall_at_depth(fig5, depth)
        for m in ("AVQ", "PVQ"):
            assert abs(r[f"{m} proposed"] - r[f"{m} baseline"]) < 0.05, (m, depth)
    for depth in (1, 10):
        r = recall_at_depth(fig6, depth)
        assert abs(r["RVQ proposed"] - r["RVQ baseline"]) < 0.05, depth
    # deep enough, everything finds the neighbour: recall 1 at T = 10000 only if the base is no larger
    n_base = fig6.meta["data"]["n_base"]
    if n_base <= 10000:
        assert recall_at_depth(fig6, 10000)["RVQ proposed"] == 1.0
    assert min(recall_at_depth(fig5, 512).values()) > 0.95
    # the same RVQ runs feed both figures
    assert r1["RVQ proposed"] == recall_at_depth(fig6, 1)["RVQ proposed"]


def test_recall_helpers_refuse_bad_input():
    fig5 = _record(FIG5_FILE)
    assert depth_positions(fig5, 2)[-1] == pytest.approx(9.0)
    assert recall_ordering(fig5, 1, ["AVQ proposed", "PVQ baseline"]) in (True, False)
    with pytest.raises(ValueError, match="depth"):
        recall_at_depth(fig5, 3)
    with pytest.raises(ValueError, match="base"):
        depth_positions(fig5, 1)
    with pytest.raises(ValueError, match="methods"):
        recall_ordering(fig5, 1, ["AVQ proposed", "QVQ proposed"])


def test_notebook_ends_with_its_conclusion():
    """The rest of the committed-notebook checks are in test_notebooks.py, for every figure notebook."""
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.cells[-1].cell_type == "markdown" and "Conclusion" in nb.cells[-1].source


@pytest.mark.slow
def test_notebook_plots_the_results_of_record_and_overlays_the_paper(tmp_path):
    """What the book build does (run from the notebook's folder), with the authors' files overlaid
    when they are present (test_notebooks.py runs it with its defaults alone)."""
    reference = (REPO.parent / "shared" / "reference" / "icassp2023").resolve()
    params = {"reference_dir": str(reference)} if reference.is_dir() else {}
    nb = execute("fig5_6a_ann", tmp_path, **params)
    assert has_image(nb)
    text = output_text(nb)
    assert "ours" in text and "Findings" in text
    if not reference.is_dir():
        pytest.skip(f"no published results at {reference}: overlay not checked")
    assert "overlay" in text and "paper" in text
    assert any("paper" in (out.get("data", {}).get("text/html") or "") for out in outputs(nb))
