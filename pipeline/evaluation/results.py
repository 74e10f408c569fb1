"""What ``prep evaluate`` computed, and its machine-readable files.

``Results`` gathers the scores; ``method_stats`` turns them into per-method averages (all
images and per exposure group) used by ``metrics.json`` and the README alike. Plot tables
follow the top-level ``plots:`` of dvc.yaml: ``psnr_by_tau.csv`` (tau bucket upper edge),
``psnr_by_ev.csv`` (EV-shifted pairs) and ``luminance_histogram.csv``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.evaluation.baselines import BLIND_BASELINES
from pipeline.evaluation.methods import MODEL, ORACLE, ORACLE_LABEL
from pipeline.evaluation.scoring import (
    GROUPS,
    LUMA_BINS,
    METRICS,
    PSNR_CAP,
    UNRANKED,
    Row,
    Tally,
    averages,
)

PLOT_METHODS = (MODEL, *BLIND_BASELINES, ORACLE)  # column order of the PSNR plot tables
ROW_FIELDS = (
    "set",
    "id",
    "scene",
    "source",
    "kind",
    "group",
    "tau",
    "tau_bucket",
    "ev",
    "width",
    "height",
    "method",
    *METRICS,
)
SSIM_CONVENTION = (
    "RGB in [0, 1] (data range 1), Gaussian window sigma 1.5 (11 taps), population "
    "covariances, mean over pixels and channels (Wang et al. 2004; skimage)"
)
PSNR_CONVENTION = (
    f"RGB in [0, 1], data range 1, mean of per-image PSNR; identical images capped at "
    f"{PSNR_CAP:g} dB"
)
SIMILARITY_KEYS = ("luminance", "contrast", "saturation", "mean")
KIND_KEYS = frozenset({"n", "psnr", "ssim", "mae", "delta_e2000", "psnr_gt_mean", "hist_mean"})


@dataclass
class Results:
    """Everything one evaluation produced (sets: "test", then "paired:<folder>")."""

    methods: list[str]
    resolution: int
    model: str
    tally: Tally
    n_images: dict[str, int] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)  # pairs the shard index lists
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    learned: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # IS
    best_blind: str | None = None
    samples: list[str] = field(default_factory=list)  # sample ids, in grid order

    @property
    def sets(self) -> list[str]:
        return list(self.n_images)

    def rows_of(self, set_name: str) -> list[Row]:
        return [r for r in self.tally.rows if r["set"] == set_name]

    def oracle_excluded(self, set_name: str) -> int:
        return sum(
            1 for r in self.rows_of(set_name) if r["method"] == ORACLE and r.get("psnr") is None
        )


def method_stats(results: Results, set_name: str) -> dict[str, dict[str, dict[str, float]]]:
    """``{"all" | group: {method: {"n", metrics..., "hist_<stat>"...}}}`` for one set."""
    rows = results.rows_of(set_name)
    ranked = [r for r in rows if r["group"] not in UNRANKED]
    table = averages(ranked, lambda r: "all") | averages(rows, lambda r: r["group"])
    for group, by_method in table.items():
        for method, stats in by_method.items():
            sim = results.tally.hist_similarity(set_name, method, group)
            stats.update({f"hist_{k}": sim[k] for k in SIMILARITY_KEYS if k in sim})
            if group == "all":
                stats.update(results.learned.get(set_name, {}).get(method, {}))
    return table


def resolution_text(resolution: int) -> str:
    if resolution == 0:
        return "full resolution (the prep enhance path)"
    return (
        f"long side {resolution} px (input and target downscaled with INTER_AREA, never up), "
        "then the prep enhance path"
    )


def _rounded(stats: dict[str, float]) -> dict[str, float]:
    return {k: (int(v) if k == "n" else round(float(v), 4)) for k, v in stats.items()}


def metrics_json(results: Results) -> dict[str, Any]:
    """The DVC metrics: per method overall numbers and ``by_kind``, per set."""

    def block(set_name: str) -> dict[str, Any]:
        table = method_stats(results, set_name)
        out: dict[str, Any] = {"n_images": results.n_images[set_name]}
        if set_name in results.expected:
            out["n_expected"] = results.expected[set_name]
        for method in results.methods:
            if method not in table.get("all", {}):
                continue
            entry: dict[str, Any] = _rounded(table["all"][method])
            # Per kind only the headline numbers: dvc metrics show prints one column per key.
            entry["by_kind"] = {
                g: _rounded({k: v for k, v in table[g][method].items() if k in KIND_KEYS})
                for g, _ in GROUPS
                if method in table.get(g, {})
            }
            out[method] = entry
        if ORACLE in results.methods:
            out["oracle_excluded"] = results.oracle_excluded(set_name)
        return out

    metrics = block("test") if "test" in results.n_images else {}
    metrics |= {
        "resolution": "full" if results.resolution == 0 else results.resolution,
        "ssim_convention": "RGB [0,1], Gaussian window sigma 1.5",
        "psnr_convention": f"RGB [0,1], identical images capped at {PSNR_CAP:g} dB",
        "skipped": len(results.skipped),
    }
    if ORACLE in results.methods:
        metrics["oracle_label"] = ORACLE_LABEL
    paired = {s.split(":", 1)[1]: block(s) for s in results.sets if s.startswith("paired:")}
    if paired:
        metrics["paired"] = paired
    return metrics


def _csv_text(header: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return buffer.getvalue()


def _value(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value


def per_image_csv(results: Results) -> str:
    """One row per image per method; empty cells where a metric or method does not apply."""
    return _csv_text(
        list(ROW_FIELDS), [[_value(r.get(k)) for k in ROW_FIELDS] for r in results.tally.rows]
    )


def psnr_plot_csv(results: Results, axis: str) -> str:
    """Mean PSNR per method against ``axis`` ("tau": bucket edge, "ev"): test set only."""
    if axis == "tau":
        rows = [r for r in results.rows_of("test") if r["kind"] == "overexpose"]
        table = averages(rows, lambda r: r["tau_bucket"])
    else:
        rows = [r for r in results.rows_of("test") if r["kind"] == "ev"]
        table = averages(rows, lambda r: r["ev"])
    lines = [
        [x, *(_value(table[x][m]["psnr"]) if m in table[x] else None for m in PLOT_METHODS)]
        for x in sorted(table)
    ]
    return _csv_text([axis, *PLOT_METHODS], lines)


def luminance_csv(tally: Tally) -> str:
    """Normalised luminance histograms (bin centres) of model output, target and input."""
    centres = (np.arange(LUMA_BINS) + 0.5) / LUMA_BINS
    roles = ("output", "target", "input")
    norm = {r: tally.luma[r] / max(1, int(tally.luma[r].sum())) for r in roles}
    lines = [
        [round(float(c), 6), *(round(float(norm[r][i]), 8) for r in roles)]
        for i, c in enumerate(centres)
    ]
    return _csv_text(["luminance", *roles], lines)
