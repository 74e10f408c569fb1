"""Per-image scores of ``prep evaluate`` and their averages by set, method and group.

Images: float32 (H, W, 3) RGB in [0, 1], gamma-encoded, at the evaluation resolution.

Scoring is split so that it can run elsewhere: ``image_job`` packs one image (its target and
every method's output) into an ``ImageJob`` (``exposure_core.metrics.scores``), with the seed
``Tally.next_seed`` draws for it in image order (``Tally.job`` does both), a scorer turns
it into ``ImageScores`` (``score_image_reference``, with scikit-image;
``exposure_core.metrics.fast`` in numpy and OpenCV in worker processes, or
``exposure_models.metrics_torch`` in torch on a GPU), and ``Tally.record`` adds them, in image
order.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from exposure_core.metrics.histogram import HU_LUMA_WEIGHTS, HistogramSimilarity
from exposure_core.metrics.scores import ImageJob, ImageScores

# Groups left out of the overall ("all") averages: a pair whose input already is its target
# (an EV 0 variant, or tau so close to 1 that nothing changed) measures whether a method leaves
# a good photo alone, not how it corrects exposure; it is reported in its own table.
UNRANKED = frozenset({"unchanged"})
METRICS = ("psnr", "ssim", "mae", "delta_e2000", "psnr_gt_mean", "lpips")
# Exposure groups, in report order: (key, label).
GROUPS = (
    ("overexpose", "overexposed (tau clipping)"),
    ("ev_under", "underexposed (EV < 0)"),
    ("ev_over", "overexposed (EV > 0)"),
    ("native", "native pairs (MSEC / LOL / folders)"),
    ("unchanged", "input is the target (EV 0, or tau ~ 1)"),
)
GROUP_LABELS = dict(GROUPS)
LUMA_BINS = 64
Row = dict[str, Any]


def exposure_group(kind: str, ev: float | None, unchanged: bool = False) -> str:
    """The report group of a manifest row: one of the keys of ``GROUPS``.

    ``unchanged``: the input equals the target pixel for pixel (whatever the kind).
    """
    if unchanged:
        return "unchanged"
    if kind == "overexpose":
        return "overexpose"
    if kind == "native":
        return "native"
    if kind not in ("ev", "camera") or ev is None:  # camera-like: over/under by ev's sign
        raise ValueError(f"cannot group kind={kind!r} with ev={ev!r}")
    return "ev_under" if ev < 0 else "ev_over" if ev > 0 else "unchanged"


def ev_key(row: Row) -> tuple[str, float] | None:
    """A row's (kind, EV) for the tables by EV (a synthetic shift and a native MSEC EV are not
    the same); a camera-like variant's drawn EV to the nearest half stop. None without EV."""
    ev = row.get("ev")
    if ev is None:
        return None
    return (row["kind"], round(2.0 * ev) / 2.0 if row["kind"] == "camera" else ev)


def exposure_side(row: Row) -> str | None:
    """Which exposure problem a row shows: "over" (tau clipping, EV > 0), "under" (EV < 0);
    None for pairs whose input already is the target."""
    if row["group"] == "unchanged":
        return None
    if row["kind"] == "overexpose":
        return "over"
    ev = row.get("ev")
    if ev is None or ev == 0:
        return None
    return "over" if ev > 0 else "under"


def native_ev_group(row: Row) -> str | None:
    """MSEC's groups of a native pair with a known EV: "under" (EV < 0) or "over" (EV > 0);
    None otherwise (EV 0, synthetic rows, pairs without EV)."""
    return exposure_side(row) if row["kind"] == "native" else None


def tau_bucket(tau: float | None, edges: list[float]) -> float | None:
    """The smallest bucket upper edge >= ``tau``; None without tau or above the last edge."""
    if tau is None:
        return None
    return next((edge for edge in edges if tau <= edge + 1e-9), None)


def luma_histogram(image: np.ndarray) -> np.ndarray:
    """Pixel counts of ``L = 0.27 R + 0.67 G + 0.06 B`` in ``LUMA_BINS`` bins on [0, 1]."""
    luma = np.clip(image, 0.0, 1.0) @ HU_LUMA_WEIGHTS
    return np.histogram(luma, bins=LUMA_BINS, range=(0.0, 1.0))[0].astype(np.int64)


def image_job(
    target: np.ndarray, outputs: dict[str, np.ndarray | None], native: bool, seed: int
) -> ImageJob:
    """One image to score: the outputs that apply (not None) against ``target``; ``native``
    adds the GT-mean PSNR, ``seed`` places the histogram-similarity crops."""
    applied = {m: pred for m, pred in outputs.items() if pred is not None}
    return ImageJob(target, applied, native, seed)


class Tally:
    """Everything scored so far: per-image rows, histogram similarity, luminance histograms.

    Histogram similarity draws one seed per image from a single RNG seeded by ``seed``;
    every method of that image uses it, so methods are compared on the same patches.
    """

    def __init__(self, seed: int) -> None:
        self.rows: list[Row] = []
        self.rng = np.random.default_rng(seed)
        self.similarity: dict[tuple[str, str, str], HistogramSimilarity] = defaultdict(
            HistogramSimilarity
        )
        self.luma = {role: np.zeros(LUMA_BINS, np.int64) for role in ("output", "target", "input")}

    def next_seed(self) -> int:
        """The seed of the next image's histogram-similarity crops (one call per image, in
        image order)."""
        return int(self.rng.integers(2**63))

    def job(self, base: Row, target: np.ndarray, outputs: dict[str, np.ndarray | None]) -> ImageJob:
        """The ``ImageJob`` of one image (call once per image, in order: it draws the seed).

        ``base`` holds set, id, group...; ``outputs`` maps method -> image (None: the method
        does not apply to this image).
        """
        return image_job(target, outputs, base["group"] == "native", self.next_seed())

    def record(
        self,
        base: Row,
        methods: Iterable[str],
        scores: ImageScores,
        extra: dict[str, dict[str, float]] | None = None,
    ) -> None:
        """Add one image's rows, one per method in ``methods`` order (a method without scores
        did not apply: its row gets none)."""
        for method in methods:
            row = base | {"method": method}
            if method in scores.metrics:
                row |= scores.metrics[method] | (extra or {}).get(method, {})
                groups = (base["group"],) if base["group"] in UNRANKED else ("all", base["group"])
                for group in groups:
                    self.similarity[(base["set"], method, group)].add_statistics(
                        scores.patches[method], scores.target_patches
                    )
            self.rows.append(row)

    def add_luma(self, inp: np.ndarray, output: np.ndarray, target: np.ndarray) -> None:
        for role, image in (("input", inp), ("output", output), ("target", target)):
            self.luma[role] += luma_histogram(image)

    def hist_similarity(self, set_name: str, method: str, group: str = "all") -> dict[str, float]:
        key = (set_name, method, group)
        return self.similarity[key].result() if key in self.similarity else {}


def averages(rows: Iterable[Row], key: Callable[[Row], Any]) -> dict[Any, dict[str, dict]]:
    """``{key(row): {method: {"n": images scored, metric: mean}}}`` over rows with scores.

    Rows of a method that did not apply (no ``psnr``) are left out; a metric is averaged
    over the rows that have it (``psnr_gt_mean`` only exists for native pairs).
    """
    sums: dict[Any, dict[str, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        if row.get("psnr") is None:
            continue
        group = key(row)
        if group is None:
            continue
        cell = sums[group][row["method"]]
        for metric in METRICS:
            value = row.get(metric)
            if value is not None and not math.isnan(value):
                cell.setdefault(metric, []).append(float(value))
    return {
        group: {
            method: {"n": len(cell["psnr"])} | {m: float(np.mean(v)) for m, v in cell.items()}
            for method, cell in by_method.items()
        }
        for group, by_method in sums.items()
    }
