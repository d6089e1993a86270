"""The papers' complexity model (vqcore.eval.complexity) and the ``vqcore complexity`` command.

The figure values are checked against the authors' published JSON files, read at
test time from ``reference/icassp2023`` (the vendored copies in the repository);
no published number is copied into the project.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from vqcore.eval import complexity as cx
from vqcore.cli import main

REFERENCE = Path(__file__).resolve().parents[2] / "reference"
PUBLISHED = {
    "4c": REFERENCE / "icassp2023" / "Figure 4" / "Complexity_Fig4-c.json",
    "6b": REFERENCE / "icassp2023" / "Figure 6" / "Complexity_Fig6-b.json",
}


def _published(figure: str) -> dict:
    if not REFERENCE.is_dir():
        pytest.skip(f"authors' reference folder {REFERENCE} is absent: cannot compare with published figures")
    path = PUBLISHED[figure]
    if not path.is_file():
        pytest.skip(f"published complexity file {path} is absent")
    return json.loads(path.read_text())


# -- the published figures --------------------------------------------------------

@pytest.mark.parametrize("figure", ["4c", "6b"])
def test_matches_published_figure(figure):
    ref = _published(figure)
    ours = cx.complexity_table(figure)
    assert set(ours) == set(ref)
    assert ours["Metric"] == ref["Metric"]
    assert ours["VQ Bitrate"] == ref["VQ Bitrate"]
    for method in ("AVQ", "RVQ", "PVQ"):
        assert len(ours[method]) == len(ref[method])
        for bits, mine, theirs in zip(ref["VQ Bitrate"], ours[method], ref[method]):
            assert abs(mine - theirs) <= 1e-9, f"{figure} {method} at {bits}: {mine} vs published {theirs}"


def test_figure_settings():
    s4 = cx.figure_settings("4c")
    assert [s.bits for s in s4] == list(range(12, 41, 4))
    assert all((s.dim, s.stages, s.beam_width) == (64, 4, 16) for s in s4)
    assert [s.bits_per_stage for s in s4] == list(range(3, 11))
    s6 = cx.figure_settings("Fig6-b")
    assert all((s.dim, s.stages) == (128, 4) for s in s6)
    assert [s.beam_width for s in s6] == [min(2 ** b, 64) for b in range(3, 11)]
    assert cx.figure_settings("Figure 4c") == s4
    with pytest.raises(ValueError, match="figure"):
        cx.figure_settings("5a")
    with pytest.raises(ValueError, match="figure"):
        cx.complexity_table(4)


# -- building blocks and hand-counted cases -------------------------------------------

def test_building_blocks():
    assert cx.dist(3, 2, 1) == cx.OperationCounts(additions=9, multiplications=6)
    assert cx.dist(3, 2, 4) == cx.OperationCounts(additions=36, multiplications=24)
    assert cx.argmin(5) == cx.OperationCounts(additions=4, moves=4)
    # sort(5, 2, 3): 3 * (argmin(5) + argmin(4)) = 3 * 7
    assert cx.sort(5, 2, 3) == cx.OperationCounts(additions=21, moves=21)
    # the closed form equals the published loop, also when s > n
    for n, s, t in [(8, 16, 16), (32, 16, 1), (1, 1, 1), (64, 64, 3)]:
        loop = cx.OperationCounts()
        for _ in range(t):
            for j in range(s):
                loop += cx.argmin(n - j)
        assert cx.sort(n, s, t) == loop
    assert cx.mse(2, 3) == cx.OperationCounts(additions=20, multiplications=16)


def test_hand_counted_methods():
    # RVQ D=2, M=2, K=2: dist(2,2): A6 P4; argmin(2): A1 V1; V+=2; final A+=2
    rvq = cx.count_rvq(2, 2, 2)
    assert rvq == cx.OperationCounts(additions=9, multiplications=4, moves=3)
    assert cx.wmops("rvq", 2, 2, 1) == pytest.approx(16e-6, rel=1e-15)
    # PVQ D=3, M=2, K=2: D/M = 3/2 stays fractional
    pvq = cx.count_pvq(3, 2, 2)
    assert pvq == cx.OperationCounts(additions=5, multiplications=3, moves=Fraction(17, 2))
    # (wmops refuses D=3, M=2 for PVQ, as ProductVQ does; the building block keeps D/M exact)
    assert float(pvq.weighted("single") / 10**6) == pytest.approx(16.5e-6, rel=1e-15)
    with pytest.raises(cx.ComplexityArgumentError, match="dim must be divisible by stages"):
        cx.wmops("pvq", 3, 2, 1)
    # AVQ D=1, M=2, K=1, B=1 counted by hand: A7 P5 V5 R1
    avq = cx.count_avq(1, 2, 1, 1)
    assert avq == cx.OperationCounts(additions=7, multiplications=5, moves=5, branches=1)
    assert avq.weighted("single") == 21
    assert avq.weighted("double") == 38


def test_operation_counts_dataclass():
    c = cx.OperationCounts(1, 2, Fraction(1, 2), 3)
    assert (c + c).moves == 1
    assert (2 * c).branches == 6
    assert c.as_dict() == {"additions": 1, "multiplications": 2, "moves": 0.5, "branches": 3}
    assert c.weighted("single") == Fraction(1 + 2) + Fraction(1, 2) + 12
    with pytest.raises(ValueError, match="precision"):
        c.weighted("half")
    with pytest.raises(ValueError, match="additions"):
        cx.OperationCounts(additions=1.5)


# -- precision and ordering ---------------------------------------------------------------

@pytest.mark.parametrize("method", ["avq", "rvq", "pvq"])
def test_double_precision(method):
    kw = {"dim": 64, "stages": 4, "bits_per_stage": 8, "beam_width": 16}
    counts = cx.operation_counts(method, **kw)
    single = cx.wmops(method, **kw)
    double = cx.wmops(method, **kw, precision="double")
    expected = (2 * (counts.additions + counts.multiplications + counts.moves) + 4 * counts.branches) / 10**6
    assert double == float(expected)
    if counts.branches:  # branches weigh 4 in both precisions
        assert single < double < 2 * single
    else:
        assert double == pytest.approx(2 * single, rel=1e-15)
    assert cx.wmops(method.upper(), **kw, precision="DOUBLE") == double


@pytest.mark.parametrize("figure", ["4c", "6b"])
def test_avq_much_costlier_than_rvq_costlier_than_pvq(figure):
    table = cx.complexity_table(figure)
    for a, r, p in zip(table["AVQ"], table["RVQ"], table["PVQ"]):
        assert a > r + 1  # more than ten times the cost
        assert r > p
    # costs grow with the bitrate
    for method in ("AVQ", "RVQ", "PVQ"):
        assert table[method] == sorted(table[method])


def test_ordering_other_settings():
    for dim, bps, beam in [(16, 4, 4), (32, 6, 8), (100, 5, 2)]:
        a = cx.wmops("avq", dim, 3, bps, beam)
        r = cx.wmops("rvq", dim, 3, bps)
        # dim is not divisible by 3, which wmops refuses for PVQ: the published count itself
        p = float(cx.count_pvq(dim, 3, 2 ** bps).weighted() / 10**6)
        assert a > 2 * r and r > p


# -- bad arguments ----------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,name", [
    ({"method": "sq"}, "method"),
    ({"method": 3}, "method"),
    ({"dim": 0}, "dim"),
    ({"dim": 8.0}, "dim"),
    ({"dim": True}, "dim"),
    ({"stages": 1}, "stages"),
    ({"bits_per_stage": 0}, "bits_per_stage"),
    ({"bits_per_stage": "8"}, "bits_per_stage"),
    ({"beam_width": None}, "beam_width"),
    ({"beam_width": 0}, "beam_width"),
    ({"method": "rvq", "beam_width": -1}, "beam_width"),
    ({"precision": "half"}, "precision"),
    ({"precision": None}, "precision"),
    ({"bits_per_stage": 25}, "bits_per_stage"),
    ({"bits_per_stage": 20000}, "bits_per_stage"),
    ({"stages": cx.MAX_STAGES + 1}, "stages"),
    ({"method": "rvq", "stages": 10**9}, "stages"),
    ({"method": "pvq", "dim": 63}, "dim"),
    ({"method": "pvq", "dim": 64, "stages": 3}, "dim"),
    ({"dim": 10**400}, "dim"),
    ({"beam_width": 10**200}, "beam_width"),
    ({"method": "rvq", "dim": 10**400}, "dim"),
])
def test_bad_arguments(kwargs, name):
    args = {"method": "avq", "dim": 64, "stages": 4, "bits_per_stage": 8, "beam_width": 16}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name) as err:
        cx.wmops(**args)
    assert isinstance(err.value, cx.ComplexityArgumentError) and name in err.value.arguments


def test_limits_are_accepted():
    """The largest codebook (the quantizers' 24 bits) and MAX_STAGES stages still count."""
    assert cx.MAX_BITS_PER_STAGE == 24
    assert math.isfinite(cx.wmops("rvq", 64, cx.MAX_STAGES, cx.MAX_BITS_PER_STAGE))
    assert math.isfinite(cx.wmops("pvq", 64, 4, cx.MAX_BITS_PER_STAGE))
    assert math.isfinite(cx.wmops("avq", 64, 4, cx.MAX_BITS_PER_STAGE, 16))
    assert cx.wmops("pvq", 64, 4, 8) == float(cx.count_pvq(64, 4, 2 ** 8).weighted() / 10**6)


def test_beam_width_optional_for_rvq_and_pvq():
    assert cx.wmops("rvq", 64, 4, 8) == cx.wmops("rvq", 64, 4, 8, beam_width=16)
    assert cx.wmops("pvq", 64, 4, 8) > 0


# -- command line ------------------------------------------------------------------------

AVQ_ARGS = ["complexity", "--method", "avq", "--dim", "64", "--stages", "4",
            "--bits-per-stage", "8", "--beam-width", "16"]


def test_cli_text(capsys):
    assert main(AVQ_ARGS) == 0
    out = capsys.readouterr().out
    value = cx.wmops("avq", 64, 4, 8, 16)
    assert f"WMOPS: {value!r}" in out
    assert f"log10 WMOPS: {math.log10(value)!r}" in out


def test_cli_json(capsys):
    assert main(AVQ_ARGS + ["--precision", "double", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["method"] == "avq" and result["precision"] == "double"
    assert result["codebook_size"] == 256 and result["beam_width"] == 16
    assert result["wmops"] == cx.wmops("avq", 64, 4, 8, 16, "double")
    assert result["log10_wmops"] == pytest.approx(math.log10(result["wmops"]), abs=1e-12)
    assert set(result["operations"]) == {"additions", "multiplications", "moves", "branches"}


def test_cli_pvq_case_insensitive(capsys):
    assert main(["complexity", "--method", "PVQ", "--dim", "64", "--stages", "4",
                 "--bits-per-stage", "8", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["wmops"] == cx.wmops("pvq", 64, 4, 8)
    assert result["beam_width"] is None


def test_cli_errors(capsys):
    assert main(AVQ_ARGS[:-2]) == 2  # AVQ without --beam-width
    assert "beam_width" in capsys.readouterr().err
    assert main(AVQ_ARGS[:4] + ["0", "--stages", "4", "--bits-per-stage", "8", "--beam-width", "16"]) == 2
    assert "dim" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["complexity", "--method", "sq", "--dim", "4", "--stages", "2", "--bits-per-stage", "2"])
    assert exc.value.code == 2
    assert main([]) == 2


def test_python_dash_m():
    proc = subprocess.run([sys.executable, "-m", "vqcore", *AVQ_ARGS, "--json"],
                          check=False, capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["wmops"] == cx.wmops("avq", 64, 4, 8, 16)
