"""ICASSP 2023 Figures 5 and 6a: the runner at the smoke preset, its run cache, the committed results of
record and the book page's notebook."""
from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import pytest

from vqcore.eval.ann import POWERS_OF_TEN, POWERS_OF_TWO, recall_at
from vqcore.experiments import ann_recall
from vqcore.experiments.ann_recall import FIGURES, PRESETS, AnnPreset, figure_methods, run_ann
from vqcore.experiments.registry import figure, result_path
from vqcore.io import results
from vqcore.io.tensors import read_safetensors
from vqcore.plotting.recall import depth_positions, recall_at_depth, recall_ordering

from tests.helpers import execute, has_image, output_text, outputs

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "Results"
NOTEBOOK = REPO / "notebooks" / "fig5_6a_ann.ipynb"
FIG5_FILE, FIG6A_FILE = (Path(figure(f).files[0]) for f in ("5", "6a"))


def _record(rel: Path) -> results.ResultFile:
    path = RESULTS / rel
    assert path.is_file(), f"missing result of record {rel}: run vqcore.experiments.ann_recall.run_ann at preset quick"
    return results.load(path)


# -- the runner at the smoke preset ----------------------------------------------------------------

@pytest.fixture(scope="module")
def smoke_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("sift-cache")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, smoke_cache):
    out = tmp_path_factory.mktemp("Results")
    paths = run_ann(FIGURES, "smoke", out, "cpu", progress=False, cache_dir=smoke_cache)
    return out, dict(zip(FIGURES, paths))


def _values(path: Path) -> dict:
    return {k: v for k, v in json.loads(path.read_text()).items() if k != "meta"}


def test_figures_and_result_files_come_from_the_registry():
    assert FIGURES == ("5", "6a")
    assert FIG5_FILE == Path("icassp2023") / "Figure 5" / "Recall.json"
    assert FIG6A_FILE == Path("icassp2023") / "Figure 6" / "Recall_RVQ_Fig6-a.json"
    assert figure_methods("6a") == (("RVQ",), ("RVQ",))
    with pytest.raises(ValueError, match="figure"):
        figure_methods("4a")


def test_presets_are_frozen_and_keep_their_settings():
    smoke = PRESETS["smoke"]
    assert isinstance(smoke, AnnPreset) and smoke.name == "smoke" and smoke.seeds == (0,)
    assert (smoke.stages, smoke.bits_per_stage, smoke.code_bits, smoke.n_learn) == (8, 4, 32, 700)
    assert PRESETS["quick"].code_bits == PRESETS["paper"].code_bits == 64
    assert PRESETS["quick"].n_base == 50000 and PRESETS["paper"].n_base is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        smoke.steps = 3  # type: ignore[misc]


def test_smoke_run_writes_both_figures(smoke_run, reference_dir):
    out, paths = smoke_run
    assert paths["5"] == out / FIG5_FILE and paths["6a"] == out / FIG6A_FILE
    assert paths["5"] == result_path(out, "5")
    fig5, fig6 = results.load(paths["5"]), results.load(paths["6a"])
    assert fig5.x == [str(t) for t in POWERS_OF_TWO] and fig6.x == [str(t) for t in POWERS_OF_TEN]
    for ours, ref in ((paths["5"], "Figure 5/Recall.json"), (paths["6a"], "Figure 6/Recall_RVQ_Fig6-a.json")):
        mine = json.loads(ours.read_text())
        theirs = json.loads((reference_dir / "icassp2023" / ref).read_text())
        assert set(mine) - {"meta"} == set(theirs)  # the authors' series names, no more, no fewer
        assert mine["Metric"] == theirs["Metric"]
    n_base = fig5.meta["data"]["n_base"]
    assert fig5.meta["preset"] == "smoke" and n_base < 10000
    for f in (fig5, fig6):
        for method, s in f.series.items():
            values = s.mean if s.mean is not None else s.values
            assert all(0.0 <= v <= 1.0 for v in values), method
            assert all(b >= a for a, b in itertools.pairwise(values)), method
    assert fig6.series["RVQ proposed"].mean[-1] == 1.0 and fig6.series["RVQ baseline"].values[-1] == 1.0  # T=10000 >= N


def test_smoke_meta_names_the_runs_each_figure_draws(smoke_run):
    _out, paths = smoke_run
    meta5, meta6 = (results.load(paths[f]).meta for f in ("5", "6a"))
    assert set(meta5["runs"]) == set(meta5["methods"]) == {
        "AVQ proposed", "RVQ proposed", "PVQ proposed", "AVQ baseline", "PVQ baseline"}
    assert set(meta6["runs"]) == {"RVQ proposed", "RVQ baseline"}
    assert meta5["runs"]["RVQ proposed"] == meta6["runs"]["RVQ proposed"]  # the same runs feed both
    assert meta5["runs"]["AVQ proposed"][0]["warm_start"] == "RVQ"
    assert meta5["notes"] == PRESETS["smoke"].notes and meta5["settings"]["code_bits"] == 32
    assert meta5["baseline_seed"] == 0 and meta5["seeds"] == [0]


def test_recall_reaches_one_at_the_base_size(smoke_run):
    out, paths = smoke_run
    n_base = results.load(paths["5"]).meta["data"]["n_base"]
    n_query = results.load(paths["5"]).meta["data"]["n_query"]
    runs = sorted((out / ".runs" / "ann" / "smoke").glob("*.safetensors"))
    assert len(runs) == 6  # 3 proposed (1 seed) + 3 baselines
    assert sorted(p.with_suffix(".json").name for p in runs) == sorted(
        p.name for p in (out / ".runs" / "ann" / "smoke").glob("*.json"))  # a record per run
    for path in runs:
        _meta, tensors = read_safetensors(path, ann_recall.RUN_FORMAT)
        ranks = tensors["ranks"].numpy()
        assert ranks.shape == (n_query,) and ranks.max() < n_base
        rec = recall_at(ranks, range(1, n_base + 1))
        assert all(b >= a for a, b in itertools.pairwise(rec)), path.name
        assert rec[-1] == 1.0
        assert ("codebooks" in tensors) == (path.name == "proposed-RVQ-seed0.safetensors")
    record = json.loads((out / ".runs" / "ann" / "smoke" / "baseline-PVQ-seed0.json").read_text())
    assert record["key"] == {"kind": "baseline", "method": "PVQ", "seed": 0}
    assert record["format"] == ann_recall.RUN_FORMAT and record["info"]["recall_1"] >= 0.0


def test_smoke_run_resumes_from_checkpoints(smoke_run, smoke_cache, tmp_path, monkeypatch):
    out, paths = smoke_run
    before = json.loads(paths["5"].read_text())

    def no_training(*args, **kwargs):
        raise AssertionError("a stored run was recomputed")

    monkeypatch.setattr(ann_recall, "run_proposed", no_training)
    monkeypatch.setattr(ann_recall, "run_baseline", no_training)
    again = run_ann(["5"], "smoke", tmp_path, "cpu", progress=False, cache_dir=smoke_cache,
                    checkpoint_dir=out / ".runs" / "ann")
    assert again == [tmp_path / FIG5_FILE] and not (tmp_path / FIG6A_FILE).exists()
    after = json.loads(again[0].read_text())
    assert {k: v for k, v in before.items() if k != "meta"} == {k: v for k, v in after.items() if k != "meta"}
    assert after["meta"]["runs"] == before["meta"]["runs"]  # the stored timings, not new ones
    assert after["meta"]["wall_time_s"] < 10


def test_a_damaged_or_mismatched_run_is_recomputed(smoke_run, smoke_cache, tmp_path, monkeypatch):
    out, paths = smoke_run
    runs = tmp_path / "runs"
    for path in (out / ".runs" / "ann" / "smoke").iterdir():
        (runs / "smoke").mkdir(parents=True, exist_ok=True)
        (runs / "smoke" / path.name).write_bytes(path.read_bytes())
    damaged = runs / "smoke" / "baseline-RVQ-seed0.safetensors"
    damaged.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    recomputed = []
    real = ann_recall.run_baseline

    def counting(method, *args, **kwargs):
        recomputed.append(method)
        return real(method, *args, **kwargs)

    monkeypatch.setattr(ann_recall, "run_baseline", counting)
    again = run_ann(["6a"], "smoke", tmp_path / "Results", "cpu", progress=False, cache_dir=smoke_cache,
                    checkpoint_dir=runs)
    assert recomputed == ["RVQ"]  # only the damaged run; RVQ proposed came from the cache
    assert _values(again[0]) == _values(paths["6a"])  # faiss with the same seed gives the same baseline
    read_safetensors(damaged, ann_recall.RUN_FORMAT)  # rewritten whole
    # a record made with other settings is not reused either
    record = json.loads((runs / "smoke" / "baseline-RVQ-seed0.json").read_text())
    record["settings"]["preset"]["faiss_beam"] = 3
    (runs / "smoke" / "baseline-RVQ-seed0.json").write_text(json.dumps(record))
    run_ann(["6a"], "smoke", tmp_path / "Results", "cpu", progress=False, cache_dir=smoke_cache,
            checkpoint_dir=runs)
    assert recomputed == ["RVQ", "RVQ"]


def test_unknown_preset_is_refused(tmp_path):
    with pytest.raises(ValueError, match="preset"):
        run_ann(FIGURES, "huge", tmp_path, "cpu")
    with pytest.raises(ValueError, match="figures"):
        run_ann(["7"], "smoke", tmp_path, "cpu")
    with pytest.raises(ValueError, match="overrides"):
        run_ann(FIGURES, "smoke", tmp_path, "cpu", overrides={"stepz": 3})
    with pytest.raises(ValueError, match="seeds"):
        run_ann(FIGURES, "smoke", tmp_path, "cpu", seeds=[])


def test_avq_init_is_checked(tmp_path):
    with pytest.raises(ValueError, match="avq_init"):
        run_ann(FIGURES, "smoke", tmp_path, "cpu", overrides={"avq_init": "pvq"})


# -- the results of record -------------------------------------------------------------------------

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
    reference = (REPO / "reference" / "icassp2023").resolve()
    params = {"reference_dir": str(reference)} if reference.is_dir() else {}
    nb = execute("fig5_6a_ann", tmp_path, **params)
    assert has_image(nb)
    text = output_text(nb)
    assert "ours" in text and "Findings" in text
    if not reference.is_dir():
        pytest.skip(f"no published results at {reference}: overlay not checked")
    assert "overlay" in text and "paper" in text
    assert any("paper" in (out.get("data", {}).get("text/html") or "") for out in outputs(nb))
