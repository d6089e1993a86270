"""The figure notebooks run under papermill, overlay the published curves, and the committed
results of record are valid and show the paper's orderings.

The notebook tests are slow (a kernel per notebook); the results-of-record tests are quick.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vqcore.experiments import registry
from vqcore.io import results
from vqcore.plotting.figures import ordering_by_x

from tests.helpers import execute, has_image, output_text, outputs

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
RESULTS = REPO / "Results"
#: every notebook the registry names, once each, in the papers' order
FIGURE_NOTEBOOKS = list(dict.fromkeys(f.notebook for f in registry.FIGURES))
PARAMETERS = {"results_dir": "../Results", "reference_dir": "../reference/icassp2023", "preset": "quick",
              "device": "auto", "seed": 0, "run_experiment": False}
#: Figures 2a, 2b, 3 (toy), then 4c and 6b (complexity)
RECORD_FILES = [rel for fid in ("2a", "2b", "3", "4c", "6b") for rel in registry.figure(fid).files]
#: figures 4a and 4b, checked for validity with the others; their orderings in tests/experiments/test_images.py
IMAGE_RECORD_FILES = [rel for fid in ("4a", "4b") for rel in registry.figure(fid).files]


def test_the_registry_names_the_eight_notebooks():
    assert FIGURE_NOTEBOOKS == ["fig1_speech", "fig2_toy_mse", "fig3_dimension", "fig4ab_images",
                                "fig4c_6b_complexity", "fig5_6a_ann", "sfvq_2d", "sfvq_phones"]
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(FIGURE_NOTEBOOKS)
    assert RECORD_FILES[:2] == ["icassp2023/Figure 2/correlated_dataset_Fig2-a.json",
                                "icassp2023/Figure 2/uncorrelated_dataset_Fig2-b.json"]
    assert len(RECORD_FILES) == 7 and "Complexity" in RECORD_FILES[5] and "Complexity" in RECORD_FILES[6]


@pytest.mark.parametrize("name", FIGURE_NOTEBOOKS)
def test_notebook_writes_no_result_file_name(name):
    """The notebooks take their result files from the registry, so no name is written twice."""
    text = (NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8")
    for fig in registry.FIGURES:
        for rel in fig.files + fig.artefacts:
            path = Path(rel)
            if path.suffix:  # a file; the folders among the artefacts ("audio", "models") are plain words
                assert path.name not in text, (name, rel)
            if path.suffix == ".json" and "_" in path.stem:  # "Data_Dimension_64", not "PESQ" or "Recall"
                assert path.stem not in text, (name, rel)


# -- the committed notebooks -------------------------------------------------------------------

@pytest.mark.parametrize("name", FIGURE_NOTEBOOKS)
def test_notebook_is_committed_clean_with_its_parameters(name):
    import nbformat

    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "commit notebooks without outputs"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    namespace: dict = {}
    exec(tagged[0].source, namespace)  # noqa: S102 - our own parameter cell
    expected = dict(PARAMETERS)
    if registry.FIGURES[[f.notebook for f in registry.FIGURES].index(name)].paper != "icassp2023":
        expected["reference_dir"] = None  # the Interspeech paper published no result files
    assert {k: namespace[k] for k in expected} == expected
    if expected["reference_dir"] is not None:
        assert (NOTEBOOKS / expected["reference_dir"]).is_dir(), "the default reference_dir must exist"
    assert any(c.cell_type == "markdown" and "Conclusion" in c.source for c in nb.cells)


@pytest.mark.slow
@pytest.mark.parametrize("name", FIGURE_NOTEBOOKS)
def test_notebook_runs_the_smoke_experiment_and_overlays_the_paper(name, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the kernel inherits it; much faster on a busy CPU
    reference = (REPO / "reference" / "icassp2023").resolve()
    results_dir = tmp_path / "Results"
    nb = execute(name, tmp_path, results_dir=str(results_dir), preset="smoke", run_experiment=True,
                 reference_dir=str(reference) if reference.is_dir() else None)
    written = sorted(results_dir.rglob("*.json"))
    assert written and all(results.load(p).meta["preset"] == "smoke" for p in written
                           if not any(part.startswith(".") for part in p.relative_to(results_dir).parts))
    assert has_image(nb)
    text = output_text(nb)
    assert "ours" in text
    if not reference.is_dir():
        pytest.skip(f"no published results at {reference}: overlay not checked")
    assert "overlay" in text and "paper" in text
    assert any("paper" in (out.get("data", {}).get("text/html") or "") for out in outputs(nb)), "no table with the paper's values"


@pytest.mark.slow
@pytest.mark.parametrize("name", FIGURE_NOTEBOOKS)
def test_notebook_plots_the_committed_results_with_its_defaults(name, tmp_path):
    """What the book build does: default parameters, run from the notebook's folder."""
    nb = execute(name, tmp_path)
    assert has_image(nb)
    assert "Findings" in output_text(nb) or "Ordering" in output_text(nb) or "ordering" in output_text(nb)


# -- the results of record ---------------------------------------------------------------------

@pytest.mark.parametrize("rel", RECORD_FILES + IMAGE_RECORD_FILES)
def test_results_of_record_are_valid(rel):
    path = RESULTS / rel
    assert path.is_file(), f"missing result of record {rel}: run `python -m vqcore reproduce --preset quick`"
    result = results.load(path)
    assert result.x == [f"{b} bits" for b in range(12, 41, 4)]
    assert set(result.series) == {"AVQ", "RVQ", "PVQ"}
    meta = result.meta
    assert meta["preset"] == "quick" and meta["versions"] and meta["date"]
    if "Complexity" in rel:
        assert all(not s.is_band for s in result.series.values())
    else:
        assert all(s.is_band for s in result.series.values())
        assert meta["seeds"] and meta["quantiles"] and meta["over"]
    assert json.loads(path.read_text(encoding="utf-8")).get("meta", {}).get("preset") != "smoke"


def test_results_of_record_show_the_papers_orderings():
    corr = results.load(RESULTS / RECORD_FILES[0])
    assert all(ordering_by_x(corr, ["AVQ", "RVQ", "PVQ"]).values()), "correlated data: AVQ < RVQ < PVQ"
    for rel in RECORD_FILES[5:]:
        cx = results.load(RESULTS / rel)
        assert all(ordering_by_x(cx, ["AVQ", "RVQ", "PVQ"], lower_is_better=False).values())
    for rel in RECORD_FILES[:2]:  # dimension 64: the MSE falls with every 4 bits added
        for s in results.load(RESULTS / rel).series.values():
            assert all(a > b for a, b in zip(s.mean, s.mean[1:])), rel
    # Figure 3: the MSE falls from 12 to 40 bits, and by a smaller fraction at a higher dimension
    # (at 256 dimensions one 4-bit step can be within the seed noise, so single steps are not checked)
    for method in ("AVQ", "RVQ", "PVQ"):
        gains = []
        for rel in RECORD_FILES[2:5]:
            mean = results.load(RESULTS / rel).series[method].mean
            assert mean[-1] < mean[0], (rel, method)
            gains.append(1 - mean[-1] / mean[0])
        assert gains[0] > gains[1] > gains[2], (method, gains)
