"""ICASSP 2023 Figures 4c and 6b: the complexity model's values, written as the authors' files."""
from __future__ import annotations

import pytest

from vqcore.experiments import registry
from vqcore.experiments.complexity_figures import FIGURES, complexity_result, run_complexity
from vqcore.io import results


def test_complexity_files_match_the_published_values(tmp_path, reference_dir):
    for path in run_complexity(results_dir=tmp_path):
        ours = results.load(path)
        rel = path.relative_to(tmp_path)
        published = results.load(reference_dir / rel)
        assert ours.x == published.x and ours.metric == published.metric
        assert set(ours.series) == set(published.series) == {"AVQ", "RVQ", "PVQ"}
        for method, s in ours.series.items():
            assert not s.is_band
            for a, b in zip(s.values, published.series[method].values):
                assert abs(a - b) <= 1e-9, (rel, method)
        assert ours.meta["figure"] in ("4c", "6b")
    assert registry.figure("4c").files == ("icassp2023/Figure 4/Complexity_Fig4-c.json",)


def test_the_runner_writes_the_registrys_files(tmp_path):
    assert FIGURES == ("4c", "6b")
    written = run_complexity(["Figure 6b"], "smoke", tmp_path, "cpu", progress=False)
    assert written == [registry.result_path(tmp_path, "6b")]
    assert results.load(written[0]).meta["preset"] == "smoke"
    assert complexity_result("4c", "double").meta["precision"] == "double"
    with pytest.raises(ValueError, match="figure"):
        run_complexity(["2a"], results_dir=tmp_path)
    with pytest.raises(ValueError, match="preset"):
        run_complexity(["4c"], "huge", tmp_path)
