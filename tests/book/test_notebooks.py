"""The figure notebooks run under papermill, overlay the published curves, and the committed
results of record are valid and show the paper's orderings; the plotting helpers' figures are
legible in the book's text column and every curve can be told apart.

The notebook tests are slow (a kernel per notebook); the others are quick.
"""
from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vqcore.experiments import registry
from vqcore.io import results
from vqcore.experiments import speech_analysis
from vqcore.plotting import figures, recall
from vqcore.plotting.figures import ordering_by_x

from tests.helpers import execute, has_image, output_text, outputs

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
RESULTS = REPO / "Results"
#: every notebook the registry names, once each, in the papers' order
FIGURE_NOTEBOOKS = list(dict.fromkeys(f.notebook for f in registry.FIGURES))
#: the notebooks of the studies beside the figures (the Reproduction part of the book)
STUDY_NOTEBOOKS = ["budget_study", "toy_data_sources"]
PARAMETERS = {"results_dir": "../Results", "reference_dir": "../reference/icassp2023", "preset": "quick",
              "device": "auto", "seed": 0, "run_experiment": False}
#: Figures 2a, 2b, 3 (toy), then 4c and 6b (complexity)
RECORD_FILES = [rel for fid in ("2a", "2b", "3", "4c", "6b") for rel in registry.figure(fid).files]
#: figures 4a and 4b, checked for validity with the others; their orderings in tests/experiments/test_images.py
IMAGE_RECORD_FILES = [rel for fid in ("4a", "4b") for rel in registry.figure(fid).files]


def test_the_registry_names_the_eight_notebooks():
    """The two 2023 papers' eight notebooks first, in the papers' order (the NSVQ paper's may follow)."""
    assert FIGURE_NOTEBOOKS[:8] == ["fig1_speech", "fig2_toy_mse", "fig3_dimension", "fig4ab_images",
                                    "fig4c_6b_complexity", "fig5_6a_ann", "sfvq_2d", "sfvq_phones"]
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(FIGURE_NOTEBOOKS + STUDY_NOTEBOOKS)
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

def _clean_parameters(name: str):
    """``(notebook, its parameters)``, after checking that ``name`` is committed clean: valid, a
    title first, no outputs, exactly one ``parameters`` cell."""
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
    return nb, namespace


@pytest.mark.parametrize("name", FIGURE_NOTEBOOKS)
def test_notebook_is_committed_clean_with_its_parameters(name):
    nb, namespace = _clean_parameters(name)
    expected = dict(PARAMETERS)
    paper = registry.FIGURES[[f.notebook for f in registry.FIGURES].index(name)].paper
    # the paper's published files, where it published any (the Interspeech paper did not)
    expected["reference_dir"] = f"../reference/{paper}" if (REPO / "reference" / paper).is_dir() else None
    assert {k: namespace[k] for k in expected} == expected
    if expected["reference_dir"] is not None:
        assert (NOTEBOOKS / expected["reference_dir"]).is_dir(), "the default reference_dir must exist"
    assert any(c.cell_type == "markdown" and "Conclusion" in c.source for c in nb.cells)


@pytest.mark.parametrize("name", STUDY_NOTEBOOKS)
def test_study_notebook_is_committed_clean_with_its_parameters(name):
    _, namespace = _clean_parameters(name)
    assert namespace["results_dir"] == "../Results"
    assert (NOTEBOOKS / namespace["reference_dir"]).is_dir(), "the default reference_dir must exist"


@pytest.mark.slow
@pytest.mark.parametrize("name", FIGURE_NOTEBOOKS)
def test_notebook_runs_the_smoke_experiment_and_overlays_the_paper(name, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the kernel inherits it; much faster on a busy CPU
    paper = next(f.paper for f in registry.FIGURES if f.notebook == name)
    reference = (REPO / "reference" / paper).resolve()
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
def test_notebook_plots_the_committed_results_with_its_defaults(name, book_build):
    """What the book build does: default parameters, run from the notebook's folder. Read from the
    session's book build (the ``book_build`` fixture), which executes every figure notebook so and
    keeps the executed copy, stderr included, rather than executed a second time here."""
    import nbformat

    book_build.check()
    path = book_build.executed / "notebooks" / f"{name}.ipynb"
    assert path.is_file(), f"the book build kept no executed copy of {name} at {path}"
    nb = nbformat.read(path, as_version=4)
    assert has_image(nb)
    assert "Findings" in output_text(nb) or "Ordering" in output_text(nb) or "ordering" in output_text(nb)
    streams = "".join(o.get("text", "") for o in outputs(nb) if o.get("output_type") == "stream")
    assert "below 9.0 px" not in streams, "a figure is illegible in the text column (figures.show)"
    assert "INFO" not in streams, "library log lines on the page"


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


# -- the reader's view: code hidden, Markdown from code, numbers glued -------------------------

def _cells(name):
    import nbformat

    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4).cells


@pytest.mark.parametrize("name", FIGURE_NOTEBOOKS + STUDY_NOTEBOOKS)
def test_notebook_code_is_hidden_and_prints_nothing(name):
    """Every code cell (the parameters cell too) is folded behind a toggle, so a page shows its
    figures first; text from code is displayed as Markdown, never printed as raw text."""
    import nbformat

    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert nb.metadata.get("mystnb", {}).get("render_markdown_format") == "myst", "Markdown outputs need MyST (tables)"
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert "hide-input" in cell.metadata.get("tags", []), cell.source[:80]
        assert not re.search(r"(^|\s)print\(", cell.source), f"print in {name}: {cell.source[:80]}"
    first = next(c for c in nb.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", []))
    assert "figures.setup_notebook(results_dir, reference_dir)" in first.source  # logging, pandas, paths


@pytest.mark.parametrize("name", FIGURE_NOTEBOOKS + STUDY_NOTEBOOKS)
def test_every_glued_name_in_the_prose_is_computed(name):
    """A number in a page's prose is pasted by {glue:text} from a value a code cell glues."""
    cells = _cells(name)
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    used = {m.split(":")[0] for c in cells if c.cell_type == "markdown"
            for m in re.findall(r"\{glue:text\}`([^`]+)`", c.source)}
    glued = set(re.findall(r'glue\(\s*"([a-z0-9_]+)"', code)) | {
        n for pattern in re.findall(r'glue\(\s*f"([^"]+)"', code) for n in used
        if re.fullmatch(re.sub(r"\\\{[^}]*\\\}", "[a-z0-9_]+", re.escape(pattern)), n)}
    assert used <= glued, f"{name}: glued in the prose but never computed: {sorted(used - glued)}"


CONCLUSION_NUMBER = re.compile(r"(?<![\w.{`$\\-])\d+\.\d+(?![\w`])")


@pytest.mark.parametrize("name", FIGURE_NOTEBOOKS + STUDY_NOTEBOOKS)
def test_no_typed_decimal_results_in_the_conclusions(name):
    """The Conclusion's decimals come from the computation: outside maths and code, no decimal
    number is typed in it (settings are whole numbers: 40 bits, 200 steps, 5 %)."""
    cells = _cells(name)
    starts = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## Conclusion" in c.source]
    if not starts:
        pytest.skip(f"{name} has no Conclusion (test_notebook_is_committed_clean_with_its_parameters asks for one)")
    for cell in cells[starts[0]:]:
        if cell.cell_type != "markdown":
            continue
        text = re.sub(r"\$[^$]*\$|`[^`]*`", "", cell.source)
        assert not CONCLUSION_NUMBER.findall(text), (name, CONCLUSION_NUMBER.findall(text))


# -- the committed speech analysis (Figure 1's page) --------------------------------------------

ANALYSIS = RESULTS / speech_analysis.ANALYSIS_FILE


def test_speech_analysis_is_committed_over_every_held_out_utterance():
    analysis = results.load(ANALYSIS)
    pesq_file = results.load(registry.result_path(RESULTS, "1", 0))
    assert analysis.x == pesq_file.x
    meta = analysis.meta
    assert meta["preset"] == pesq_file.meta["preset"] == "quick" and meta["seeds"] and meta["device"] and meta["date"]
    assert meta["data"]["test_items"] == pesq_file.meta["data"]["test_items"]
    assert meta["data"]["test_utterances"] == len(meta["data"]["test_items"]) == 30
    names = {speech_analysis.series_name(m, q) for m in speech_analysis.METHODS for q in speech_analysis.QUANTITIES}
    assert names | set(speech_analysis.HYBRIDS) == set(analysis.series)
    # decoding the stored (float16) codecs gives the PESQ of the results of record, for their seed
    seed = str(meta["seeds"][0])
    for m in speech_analysis.METHODS:
        ours = analysis.series[speech_analysis.series_name(m, "PESQ")].central
        recorded = pesq_file.meta["seed_means"][m][seed]
        assert all(abs(a - b) < 0.01 for a, b in zip(ours, recorded)), m


def test_sharpening_keeps_the_energy_and_deepens_the_valleys():
    import torch

    q = torch.tensor([[1.0, 0.5, 0.1, -0.2], [0.0, 0.0, 0.0, 0.0]])
    s = speech_analysis.sharpen(q)
    assert torch.allclose(s.pow(2).sum(-1), q.pow(2).sum(-1))
    assert torch.equal(s.sign(), q.sign())
    assert s[0, 2].abs() < q[0, 2].abs() and s[0, 0] > q[0, 0]  # small ones smaller, the peak larger


def test_valley_stats_see_added_noise_between_harmonics():
    import numpy as np

    t = np.arange(16000) / 16000
    harmonics = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 8))
    noise = np.random.default_rng(0).normal(size=t.size)
    clean, zero = speech_analysis.valley_stats([(harmonics, harmonics)])
    little, _ = speech_analysis.valley_stats([(harmonics, harmonics + 0.2 * noise)])
    noisy, louder = speech_analysis.valley_stats([(harmonics, harmonics + 0.5 * noise)])
    assert abs(clean) < 1e-9 and zero == 0.0
    assert 0.0 < little < noisy and noisy > 3.0 and louder > 0.0


# -- the plotting helpers: curves told apart, legible figures, ratio tables ---------------------

REFERENCE = REPO / "reference" / "icassp2023"


def _ours_and_paper(figure_id, i=0):
    return (results.load(registry.result_path(RESULTS, figure_id, i)),
            figures.load_reference(REFERENCE, *registry.file_key(figure_id, i)))


def test_every_curve_style_differs_and_follows_the_rules():
    methods = ["AVQ", "RVQ", "PVQ", "AVQ proposed", "RVQ proposed", "PVQ proposed",
               "AVQ baseline", "RVQ baseline", "PVQ baseline"]
    looks = set()
    for m in methods:
        ours, theirs = figures.curve_style(m, "ours"), figures.curve_style(m, "paper")
        assert ours["linestyle"] == "-" and theirs["linestyle"] == "--"
        assert ours["markerfacecolor"] == ours["color"] and theirs["markerfacecolor"] == "white"
        for style in (ours, theirs):
            looks.add((m.split()[-1] if " " in m else "", style["color"], style["marker"], style["linestyle"],
                       style["markerfacecolor"]))
    assert len(looks) == 2 * len(methods)
    for base in ("AVQ", "RVQ", "PVQ"):  # a proposed method and its baseline share a colour, not a marker
        p, b = figures.curve_style(f"{base} proposed", "paper"), figures.curve_style(f"{base} baseline", "paper")
        assert p["color"] == b["color"] and p["marker"] != b["marker"]
    with pytest.raises(ValueError, match="source"):
        figures.curve_style("AVQ", "theirs")


def _line_looks(ax):
    return {line.get_label(): (line.get_color(), line.get_marker(), line.get_linestyle(), line.get_markerfacecolor())
            for a in [ax, *([ax.paper_axis] if getattr(ax, "paper_axis", None) is not None else [])]
            for line in a.get_lines()}


def _legend_labels(ax):
    legends = [a.get_legend() for a in (ax, getattr(ax, "paper_axis", None)) if a is not None and a.get_legend()]
    return [t.get_text() for legend in legends for t in legend.get_texts()]


def test_the_figure_5_overlay_tells_all_its_curves_apart():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours, paper = _ours_and_paper("5")
    fig, axes = figures.panels(1, height=4.0)
    recall.plot_recall(ours, paper, ax=axes[0])
    looks = _line_looks(axes[0])
    assert len(set(looks.values())) == len(looks) == len(ours.methods) + len(paper.methods)
    labels = _legend_labels(axes[0])
    assert "AVQ proposed (paper)" in labels and "AVQ baseline (paper)" in labels and "AVQ proposed (ours)" in labels
    plt.close(fig)


@pytest.mark.parametrize("figure_id", ["1", "2a", "3", "4a", "4c"])
def test_overlay_legends_name_the_papers_curves(figure_id):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours, paper = _ours_and_paper(figure_id)
    fig, axes = figures.panels(1)
    ax = figures.plot_figure(ours, paper, ax=axes[0])
    labels = _legend_labels(ax)
    for m in ours.methods:
        assert f"{m} (ours)" in labels and f"{m} (paper)" in labels
    assert len(set(_line_looks(ax).values())) == 2 * len(ours.methods)
    plt.close(fig)


def _legible(fig):
    return figures.displayed_font_px(fig) >= figures.MIN_FONT_PX


def test_the_helpers_figures_are_legible_in_the_text_column():
    """Every text of the figures the helpers make, at the size the 688-px column shows them, is at
    least 9 px; the old three-panel strip of Figure 3 was not (the check can fail)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib as mpl
    import matplotlib.pyplot as plt

    with mpl.rc_context(figures.book_style()):
        fig, axes = figures.panels(3, height=3.3)
        for i, ax in enumerate(axes):
            figures.plot_figure(*_ours_and_paper("3", i), ax=ax, title="D")
        fig.tight_layout()
        assert _legible(fig), figures.displayed_font_px(fig)
        plt.close(fig)
        for n, ncols in ((1, 1), (2, 1), (2, 2)):
            fig, axes = figures.panels(n, ncols)
            for ax in axes:
                figures.plot_figure(*_ours_and_paper("2a"), ax=ax, title="2a")
            fig.tight_layout()
            assert _legible(fig), (n, ncols, figures.displayed_font_px(fig))
            plt.close(fig)
        fig, axes = figures.panels(1, height=4.0)
        recall.plot_recall(*_ours_and_paper("5"), ax=axes[0], title="5")
        fig.tight_layout()
        assert _legible(fig)
        plt.close(fig)
    with mpl.rc_context({"font.size": 10}):  # the page's old Figure 3: three panels in one 15-inch row
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        for i, ax in enumerate(axes):
            figures.plot_figure(*_ours_and_paper("3", i), ax=ax)
        fig.tight_layout()
        assert not _legible(fig) and figures.displayed_font_px(fig) < 7
        plt.close(fig)


def test_show_warns_about_an_illegible_figure(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "show", lambda: None)
    fig, ax = plt.subplots(figsize=(20, 3))
    ax.plot([0, 1], [0, 1])
    with pytest.warns(UserWarning, match="px"):
        figures.show(fig)
    plt.close(fig)


def test_paper_table_holds_ours_the_papers_and_their_ratio_at_every_point():
    ours, paper = _ours_and_paper("3", 2)
    table = figures.paper_table(ours, paper, difference=True)
    rows = figures.ratio_rows(ours, paper)
    assert len(rows) == len(ours.x) * len(ours.methods)
    for row in rows:
        m, x = row["method"], row["x"]
        assert table.loc[x, (m, "ours")] == row["ours"] and table.loc[x, (m, "paper")] == row["paper"]
        assert math.isclose(table.loc[x, (m, "ours / paper")], row["ours"] / row["paper"])
        assert math.isclose(table.loc[x, (m, "ours - paper")], row["ours"] - row["paper"])
    assert list(figures.paper_table(ours).columns.get_level_values(1)) == ["ours"] * len(ours.methods)


def test_rank_and_runs_read_where_a_method_leads():
    ours, paper = _ours_and_paper("3", 2)  # D = 256
    ranks = figures.rank_by_x(ours, ["AVQ", "RVQ", "PVQ"])
    assert all(sorted(r) == ["AVQ", "PVQ", "RVQ"] for r in ranks.values())
    best = [ranks[x][0] == "PVQ" for x in ours.x]
    assert figures.describe_runs(ours.x, best) in {"at every bitrate"} | {f"from {x} up" for x in ours.x}
    labels = ["12 bits", "16 bits", "20 bits"]
    assert figures.describe_runs(labels, [False] * 3) == "at no bitrate"
    assert figures.describe_runs(labels, [True, False, False]) == "at 12 bits"
    assert figures.describe_runs(labels, [True, True, False]) == "up to 16 bits"
    with pytest.raises(ValueError, match="length"):
        figures.describe_runs(labels, [True])


def test_default_paths_resolve_from_the_repository_root_and_from_notebooks(tmp_path):
    for cwd in (REPO, NOTEBOOKS):
        assert figures.resolve_path("../Results", cwd) == RESULTS
        assert figures.resolve_path(PARAMETERS["reference_dir"], cwd) == REFERENCE
    assert figures.resolve_path("Results", REPO) == RESULTS
    assert figures.resolve_path(tmp_path / "x") == tmp_path / "x"
    assert figures.resolve_path("new_results", tmp_path) == tmp_path / "new_results"
    assert figures.resolve_path(None) is None and figures.resolve_path("") is None
    assert figures.repository_root(NOTEBOOKS) == REPO and figures.repository_root(tmp_path) is None


@pytest.mark.slow
def test_the_one_figure_command_runs_from_the_repository_root(tmp_path):
    """README's command, verbatim apart from the output path, from the repository root."""
    out = tmp_path / "fig2.ipynb"
    done = subprocess.run([str(Path(sys.executable).parent / "papermill"), "notebooks/fig2_toy_mse.ipynb", str(out),
                           "-p", "preset", "quick"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    import nbformat

    nb = nbformat.read(out, as_version=4)
    assert has_image(nb) and "paper" in output_text(nb)
