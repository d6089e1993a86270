"""The published findings, one small declarative check each, per figure.

The findings are those of the design notes (``experiments.md`` for the ICASSP 2023 figures,
``algorithms.md`` for the Interspeech 2023 ones, the NSVQ paper's text for its figures),
plus what the published data of a figure shows that issue 11 points at (``source`` says which).
The thresholds that make a word such as "close" or "far behind" checkable are the module
constants below, and the text of every finding names them. The NSVQ findings name only the
paper's methods: the estimators our runs add (DiVeQ, DiVeQ-detach, Rotation) have no published
counterpart, and no finding and no ours/paper ratio looks at them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .checks import AtLeastGap, AtLeastRatio, Close, Exact, Extreme, LessGainAtHigherDim, Order, RelClose, Rises
from .files import FigureData
from .model import FindingResult, Panel, Point, SideOutcome
from .phones import AtOneEnd, GroupsSeparate, NeighbourPeaks, OrderBeyondChance, PerSeed, SmoothWithinPhones

__all__ = ["FIGURE_IDS", "FINDINGS", "PANEL_METRICS", "Finding", "findings"]

#: "far behind": at least this many times the error of the best other method
FAR_BEHIND = 1.5
#: "close": the methods' spread, (max - min) / min, at most this
CLOSE = 0.10
#: "close" for a recall curve and its baseline: at most this far apart, relative to the baseline
RECALL_CLOSE = 0.10
#: "AVQ >> RVQ" in complexity: at least this many orders of magnitude (log10 units)
ORDERS = 1.0
#: "exactly as the model gives": the largest absolute difference in log10 WMOPS
EXACT = 1e-9
#: "at high rates" on the 12..40-bit axis: from this many bits up (the upper half)
HIGH_RATE = 28
#: "an end of the index range": the outer quarter at either end
END_FRACTION = 0.25
#: "neighbouring indices" for the fricatives' peaks: at most this fraction of the range apart
NEIGHBOURS = 0.125
#: "at its baseline" for a divergence: within this relative distance
AT_BASELINE = 0.05
#: NSVQ Figure 3: from this many bits up the published data show NSVQ the best at every rate
NSVQ_HIGH_BITS = 8

_DESIGN = "design notes (experiments.md)"
_ALGORITHMS = "design notes (algorithms.md)"
_ISSUE = "the published data, as issue 11 reads it"
_FIGURE = "the published figure's data"
_PAGE = "the paper, as its figure page reads it"
_NSVQ_PAPER = "the NSVQ paper (IEEE Access 2022), its text on the figure"
_MULTI = ("AVQ", "RVQ", "PVQ")
#: the NSVQ paper's methods (our files add others, which no finding names)
_NSVQ_SPEECH = ("STE", "NSVQ")
_NSVQ_IMAGES = ("STE", "EMA", "NSVQ w/o CBR", "NSVQ")
_CONSONANTS = ("silence", "plosives", "fricatives", "nasals")
_VOWELS = ("vowels", "diphthongs", "semivowels")
_FRICATIVE_SETS = (("f", "v"), ("th", "dh"), ("s", "z", "sh", "zh"), ("hh", "hv"))


@dataclass(frozen=True)
class Finding:
    """One published finding: its checks (their points pooled), its text and where it comes from.

    ``require``: ``"all"`` (every point must hold) or ``"most"`` (more than half). A check with
    ``compare = True`` (:class:`~.checks.Exact`) compares ours with the paper's and has no paper side.
    """

    key: str
    text: str
    source: str
    checks: tuple
    require: str = "all"

    def _side(self, panels: Sequence[Panel]) -> SideOutcome | None:
        if not panels:
            return None
        points: list[Point] = []
        for check in self.checks:
            points += check.points(panels)
        return SideOutcome(tuple(points), self.require)

    def evaluate(self, data: FigureData) -> FindingResult:
        """Check the finding in our panels and in the paper's."""
        if any(getattr(c, "compare", False) for c in self.checks):
            pairs = data.pairs()
            ours = SideOutcome(tuple(p for c in self.checks for p in c.points_pair(pairs)), self.require) \
                if pairs else None
            return FindingResult(self.key, self.text, self.source, ours, None)
        return FindingResult(self.key, self.text, self.source, self._side(data.ours), self._side(data.paper))


def _f(key: str, text: str, source: str, *checks, require: str = "all") -> Finding:
    return Finding(key, text, source, tuple(checks), require)


def _complexity(fid: str) -> tuple[Finding, ...]:
    return (
        _f(f"{fid}.avq", f"AVQ costs at least {10 ** ORDERS:g} times the operations of RVQ at every bitrate",
           _DESIGN, AtLeastGap("AVQ", "RVQ", ORDERS)),
        _f(f"{fid}.rvq", "RVQ costs more than PVQ at every bitrate", _DESIGN, Order("RVQ", ">", "PVQ")),
        _f(f"{fid}.exact", f"equal to the published values (to {EXACT:g} in log10 WMOPS)", _DESIGN, Exact(EXACT)),
    )


def _images(fid: str, metric: str) -> tuple[Finding, ...]:
    return (_f(f"{fid}.rises", f"{metric} rises with the bitrate", _FIGURE, Rises()),)


#: figure id -> its findings, in the papers' order
FINDINGS: dict[str, tuple[Finding, ...]] = {
    "1": (
        _f("1.rises", "PESQ and pSNR rise with the bitrate", _DESIGN, Rises()),
        _f("1.avq", "PESQ and pSNR: AVQ >= RVQ at every bitrate", _DESIGN, Order("AVQ", ">=", "RVQ")),
        _f("1.rvq", "PESQ and pSNR: RVQ >= PVQ at every bitrate", _DESIGN, Order("RVQ", ">=", "PVQ")),
    ),
    "2a": (
        _f("2a.avq", "MSE: AVQ < RVQ at every bitrate", _DESIGN, Order("AVQ", "<", "RVQ")),
        _f("2a.rvq", "MSE: RVQ < PVQ at every bitrate", _DESIGN, Order("RVQ", "<", "PVQ")),
        _f("2a.far", f"PVQ far behind: at least {FAR_BEHIND:g} times the MSE of the best of AVQ and RVQ", _DESIGN,
           AtLeastRatio("PVQ", ("AVQ", "RVQ"), FAR_BEHIND)),
    ),
    "2b": (
        _f("2b.close", f"the three are close: their MSEs within {CLOSE:.0%} of each other at every bitrate",
           _DESIGN, Close(_MULTI, CLOSE)),
        _f("2b.pvq", f"PVQ no worse than AVQ and RVQ at high rates ({HIGH_RATE} bits and up)", _DESIGN,
           Extreme("PVQ", _MULTI, worst=False, x_min=HIGH_RATE)),
    ),
    "3": (
        _f("3.gain", "a higher dimension gains less per added bit (relative MSE reduction per bit, every "
           "method, every step, each pair of neighbouring dimensions)", _DESIGN, LessGainAtHigherDim(_MULTI)),
        _f("3.close", f"uncorrelated data: the three within {CLOSE:.0%} of each other at every bitrate and "
           "dimension", _DESIGN, Close(_MULTI, CLOSE)),
        _f("3.pvq256", f"D = 256: PVQ has the highest MSE from {HIGH_RATE} bits up", _ISSUE,
           Extreme("PVQ", _MULTI, worst=True, x_min=HIGH_RATE, on="Data Dimension=256")),
        _f("3.pvq64", "D = 64: PVQ below AVQ from 20 bits up", _ISSUE,
           Order("PVQ", "<", "AVQ", on="Data Dimension=64", x_min=20)),
    ),
    "4a": (
        _f("4a.avq", "SSIM: AVQ >= RVQ at most bitrates", _DESIGN, Order("AVQ", ">=", "RVQ"), require="most"),
        _f("4a.rvq", "SSIM: RVQ >= PVQ at most bitrates", _DESIGN, Order("RVQ", ">=", "PVQ"), require="most"),
        *_images("4a", "SSIM"),
    ),
    "4b": (
        _f("4b.pvq", "peak SNR: PVQ the lowest at most bitrates", _FIGURE,
           Extreme("PVQ", _MULTI, worst=True, lower_is_better=False), require="most"),
        *_images("4b", "peak SNR"),
    ),
    "4c": _complexity("4c"),
    "5": (
        _f("5.avq", "recall: AVQ > RVQ (proposed) at every T where they differ", _DESIGN,
           Order("AVQ proposed", ">", "RVQ proposed", ties="skip")),
        _f("5.rvq", "recall: RVQ > PVQ (proposed) at every T where they differ", _DESIGN,
           Order("RVQ proposed", ">", "PVQ proposed", ties="skip")),
        _f("5.close", f"the baselines from classical training are close: within {RECALL_CLOSE:.0%} of the "
           "proposed methods' recall at every T", _DESIGN,
           RelClose("AVQ proposed", "AVQ baseline", RECALL_CLOSE),
           RelClose("PVQ proposed", "PVQ baseline", RECALL_CLOSE)),
        _f("5.baseline", "the proposed methods are not below their baselines (AVQ, PVQ; every T)", _ISSUE,
           Order("AVQ proposed", ">=", "AVQ baseline"), Order("PVQ proposed", ">=", "PVQ baseline")),
        _f("5.rises", "recall rises with T", _DESIGN, Rises()),
    ),
    "6a": (
        _f("6a.close", f"RVQ's baseline is close: within {RECALL_CLOSE:.0%} of the proposed RVQ at every T",
           _DESIGN, RelClose("RVQ proposed", "RVQ baseline", RECALL_CLOSE)),
        _f("6a.baseline", "the proposed RVQ is not below its baseline (every T)", _FIGURE,
           Order("RVQ proposed", ">=", "RVQ baseline")),
        _f("6a.rises", "recall rises with T", _DESIGN, Rises()),
    ),
    "6b": _complexity("6b"),
    "sfvq2d": (
        _f("sfvq2d.price", "the SFVQ's nearest vertex quantizes no better than a free VQ of the same size",
           _PAGE, Order("SFVQ vertex (Gaussian)", ">=", "VQ (Gaussian)"),
           Order("SFVQ vertex (Pentagon)", ">=", "VQ (Pentagon)")),
        _f("sfvq2d.falls", "the MSE falls as bits are added", _PAGE, Rises(falls=True)),
    ),
    "sfvqtime": (
        _f("sfvqtime.smooth", "within a phone the SFVQ index moves less than the VQ index (mean step between "
           "consecutive frames), in most phones of 3 frames or more", _ALGORITHMS, SmoothWithinPhones(),
           require="most"),
    ),
    "sfvqgroups": (
        _f("sfvqgroups.halves", "consonant groups (silence, plosives, fricatives, nasals) and vowel groups "
           "(vowels, diphthongs, semivowels) on different sides of the middle of the index range", _ALGORITHMS,
           GroupsSeparate(_CONSONANTS, _VOWELS)),
        _f("sfvqgroups.chance", "the consonant/vowel separation is beyond chance (5% level, index permutations)",
           _ALGORITHMS, OrderBeyondChance(_CONSONANTS, _VOWELS, expect_order=True)),
        _f("sfvqgroups.silence", f"silence at one end of the index range (outer {END_FRACTION:.0%})", _ALGORITHMS,
           AtOneEnd("silence", END_FRACTION)),
    ),
    "sfvqfricatives": (
        _f("sfvqfricatives.peaks", f"similar fricatives (f/v, th/dh, s/z/sh/zh, hh/hv) peak at neighbouring "
           f"indices (at most {NEIGHBOURS:.1%} of the range apart)", _ALGORITHMS,
           NeighbourPeaks(_FRICATIVE_SETS, NEIGHBOURS)),
    ),
    "sfvqcontrol": (
        _f("sfvqcontrol.none", "a plain VQ shows no such order: its consonant/vowel separation is within chance "
           "(5% level, index permutations)", _ALGORITHMS, OrderBeyondChance(_CONSONANTS, _VOWELS, expect_order=False)),
    ),
    "sfvqdivergence": (
        _f("sfvqdivergence.sfvq", "neighbouring SFVQ indices hold similar content: the adjacent-index divergence "
           "below its permuted baseline, every seed", _ALGORITHMS, PerSeed("SFVQ", "SFVQ permuted")),
        _f("sfvqdivergence.vq", "SFVQ's adjacent-index divergence below the VQ's, every seed", _ALGORITHMS,
           PerSeed("SFVQ", "VQ")),
        _f("sfvqdivergence.control", f"a plain VQ at its permuted baseline (within {AT_BASELINE:.0%}), every seed",
           _ALGORITHMS, PerSeed("VQ", "VQ permuted", within=AT_BASELINE)),
    ),
    "nsvq1": (
        _f("nsvq1.ste", "PESQ, STOI and pSNR: NSVQ above STE at every bitrate", _NSVQ_PAPER,
           Order("NSVQ", ">", "STE")),
        _f("nsvq1.rises", "PESQ, STOI and pSNR rise with the bitrate (STE and NSVQ)", _FIGURE,
           Rises(_NSVQ_SPEECH)),
    ),
    "nsvq3": (
        _f("nsvq3.best", "peak SNR and SSIM: NSVQ (with codebook replacement) the best of STE, EMA, NSVQ w/o CBR "
           "and NSVQ at most bitrates", _NSVQ_PAPER,
           Extreme("NSVQ", _NSVQ_IMAGES, worst=False, lower_is_better=False), require="most"),
        _f("nsvq3.high", f"peak SNR and SSIM: NSVQ the best of the four at every bitrate from {NSVQ_HIGH_BITS} "
           "bits up", _FIGURE,
           Extreme("NSVQ", _NSVQ_IMAGES, worst=False, lower_is_better=False, x_min=NSVQ_HIGH_BITS)),
        _f("nsvq3.ste", "peak SNR and SSIM: NSVQ above STE at most bitrates", _NSVQ_PAPER,
           Order("NSVQ", ">", "STE"), require="most"),
        _f("nsvq3.ema", "peak SNR and SSIM: NSVQ above EMA at most bitrates", _NSVQ_PAPER,
           Order("NSVQ", ">", "EMA"), require="most"),
        _f("nsvq3.cbr", "codebook replacement helps NSVQ: NSVQ above NSVQ w/o CBR in peak SNR and SSIM at every "
           "bitrate", _NSVQ_PAPER, Order("NSVQ", ">", "NSVQ w/o CBR")),
    ),
}

_MSE, _RECALL, _COMPLEXITY = "MSE", "Recall @ T", "Complexity (log10 WMOPS)"
#: figure id -> the metrics of its panels (the ``"Metric"`` of the published files, which ours share):
#: other files that name the figure in their ``meta`` (an analysis or the codebook usage beside it) are not
#: its panels.
#: None: every file that names the figure (the Interspeech runner writes one file per figure).
PANEL_METRICS: dict[str, tuple[str, ...] | None] = {
    "1": ("PESQ", "pSNR"), "2a": (_MSE,), "2b": (_MSE,), "3": (_MSE,), "4a": ("SSIM",), "4b": ("Peak SNR",),
    "4c": (_COMPLEXITY,), "5": (_RECALL,), "6a": (_RECALL,), "6b": (_COMPLEXITY,),
    **{fid: None for fid in FINDINGS if fid.startswith("sfvq")},
    "nsvq1": ("PESQ", "STOI", "pSNR"), "nsvq3": ("Peak SNR", "SSIM"),
}

#: every figure the report knows, in the papers' order (the registry's ids; a test checks they are the same)
FIGURE_IDS: tuple[str, ...] = tuple(FINDINGS)


def findings(figure_id: str) -> tuple[Finding, ...]:
    """The findings of ``figure_id``; ValueError naming it when the report does not know the figure."""
    try:
        return FINDINGS[figure_id]
    except KeyError:
        raise ValueError(f"figure_id: unknown figure {figure_id!r}; known: {', '.join(FIGURE_IDS)}") from None
