"""What ``prep evaluate`` computed, and its machine-readable files.

``Results`` gathers the scores; ``method_stats`` turns them into per-method averages (all
images and per exposure group) used by the JSON files and the README alike: ``metrics/``
holds the headline (PSNR and SSIM per method and kind, one file per method, so that
``dvc metrics show`` prints a row per method) and
``breakdown.json`` everything else (a plain output: DVC does not flatten it). Plot tables
follow the top-level ``plots:`` of dvc.yaml: ``psnr_by_tau.csv`` (tau bucket upper edge),
``psnr_by_ev.csv`` (EV-shifted pairs) and ``luminance_histogram.csv``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from exposure_core.manifest import slug
from exposure_core.metrics.reference import SSIM_RADIUS, SSIM_SIGMA
from exposure_core.metrics.scores import PSNR_CAP
from pipeline.evaluation.methods import MODEL, ORACLE, ORACLE_LABEL
from pipeline.evaluation.scoring import (
    GROUPS,
    LUMA_BINS,
    METRICS,
    UNRANKED,
    Row,
    Tally,
    averages,
    ev_key,
    native_ev_group,
)
from pipeline.params.evaluate import DEFAULT_BASELINES

# column order of the PSNR plot tables (dvc.yaml's plots): the default methods; an opt-in
# baseline (stops) is in the metrics, tables and per-image rows, not in these plots
PLOT_METHODS = (MODEL, *DEFAULT_BASELINES, ORACLE)
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
    f"RGB in [0, 1] (data range 1), Gaussian window sigma {SSIM_SIGMA:g} "
    f"({2 * SSIM_RADIUS + 1} taps), population "
    "covariances, mean over pixels and channels (Wang et al. 2004; skimage)"
)
PSNR_CONVENTION = (
    f"RGB in [0, 1], data range 1, mean of per-image PSNR; identical images capped at "
    f"{PSNR_CAP:g} dB"
)
SIMILARITY_KEYS = ("luminance", "contrast", "saturation", "mean")


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


HEADLINE = ("psnr", "ssim")  # per method and kind in the metrics folder


def _by(rows: list[Row], key: Callable[[Row], Any]) -> dict[str, dict[str, dict[str, float]]]:
    """``averages`` with string keys (JSON), in sorted key order."""
    table = averages(rows, key)
    return {_key_text(k): {m: _rounded(s) for m, s in table[k].items()} for k in sorted(table)}


def _key_text(key: Any) -> str:
    if isinstance(key, tuple):  # (kind, EV)
        return f"{key[0]} {key[1]:+g}"
    return f"{key:g}" if isinstance(key, float) else str(key)


def _set_names(results: Results) -> dict[str, str]:
    """Set name -> its key in the JSON files: "test", or the paired folder's name."""
    return {s: s.split(":", 1)[1] if s.startswith("paired:") else s for s in results.sets}


def metrics_json(results: Results) -> dict[str, Any]:
    """The DVC metrics, small enough to read as a table in ``dvc metrics show``:
    ``{method: {"all" | kind: {"psnr", "ssim"}}}`` for the test split, the image counts, and
    the same per paired folder. Everything else is in ``breakdown_json``."""

    def block(set_name: str) -> dict[str, Any]:
        table = method_stats(results, set_name)
        out: dict[str, Any] = {"n_images": results.n_images[set_name]}
        if set_name in results.expected:
            out["n_expected"] = results.expected[set_name]
        sides = averages(results.rows_of(set_name), native_ev_group)  # MSEC: under, over
        for method in results.methods:
            kinds = {
                group: {k: round(float(table[group][method][k]), 4) for k in HEADLINE}
                for group in ("all", *(g for g, _ in GROUPS))
                if method in table.get(group, {})
            }
            kinds |= {
                side: {k: round(float(sides[side][method][k]), 4) for k in HEADLINE}
                for side in ("under", "over")
                if method in sides.get(side, {})
            }
            if kinds:
                out[method] = kinds
        return out

    metrics = block("test") if "test" in results.n_images else {}
    metrics["skipped"] = len(results.skipped)
    paired = {key: block(s) for s, key in _set_names(results).items() if s != "test"}
    if paired:
        metrics["paired"] = paired
    return metrics


METRICS_DIR = "metrics"  # one small JSON file per method: a row each in `dvc metrics show`
COUNTS_NAME = "_counts"  # n_images, n_expected, skipped of the test split
_COUNT_KEYS = ("n_images", "n_expected", "skipped")


def metrics_files(results: Results) -> dict[str, dict[str, Any]]:
    """``metrics_json`` split into the files of the metrics folder, ``{file name: content}``:
    ``<method>.json`` holds ``{"all" | kind: {"psnr", "ssim"}}`` for the test split, so that
    ``dvc metrics show`` prints one row per method and one column per kind and metric (DVC
    flattens each file into one row); ``_counts.json`` the image counts; and
    ``paired_<folder>.json`` each paired folder's block."""
    head = metrics_json(results)
    files: dict[str, dict[str, Any]] = {}
    counts = {k: head[k] for k in _COUNT_KEYS if k in head}
    for key, value in head.items():
        if key == "paired":
            files |= {f"paired_{slug(name)}.json": block for name, block in value.items()}
        elif key not in _COUNT_KEYS:
            files[f"{key}.json"] = value
    files[f"{COUNTS_NAME}.json"] = counts
    return files


def read_metrics(folder: Path) -> dict[str, Any]:
    """The metrics folder read back into ``metrics_json``'s one dictionary (paired folders
    under ``"paired"``, keyed by their file names)."""
    out: dict[str, Any] = {}
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if path.stem == COUNTS_NAME:
            out |= data
        elif path.stem.startswith("paired_"):
            out.setdefault("paired", {})[path.stem.removeprefix("paired_")] = data
        else:
            out[path.stem] = data
    return out


def breakdown_json(results: Results) -> dict[str, Any]:
    """Every average ``prep evaluate`` computed, per set: by kind (every metric, histogram
    similarity, learned metrics), by source, by EV and by tau bucket; and the conventions."""

    def block(set_name: str) -> dict[str, Any]:
        table = method_stats(results, set_name)
        rows = results.rows_of(set_name)
        overexposed = [r for r in rows if r["kind"] == "overexpose"]
        out: dict[str, Any] = {
            "n_images": results.n_images[set_name],
            "by_kind": {
                group: {m: _rounded(table[group][m]) for m in results.methods if m in table[group]}
                for group in ("all", *(g for g, _ in GROUPS))
                if group in table
            },
            "by_source": _by(rows, lambda r: r["source"]),
            "by_ev": _by(rows, ev_key),
            "by_ev_group": _by(rows, native_ev_group),  # MSEC's under / over (native EVs)
            "by_tau_bucket": _by(overexposed, lambda r: r["tau_bucket"]),
        }
        if ORACLE in results.methods:
            out["oracle_excluded"] = results.oracle_excluded(set_name)
        return out

    out: dict[str, Any] = {
        "resolution": "full" if results.resolution == 0 else results.resolution,
        "ssim_convention": SSIM_CONVENTION,
        "psnr_convention": PSNR_CONVENTION,
        "skipped": len(results.skipped),
    }
    if ORACLE in results.methods:
        out["oracle_label"] = ORACLE_LABEL
    out |= {key: block(s) for s, key in _set_names(results).items() if s == "test"}
    paired = {key: block(s) for s, key in _set_names(results).items() if s != "test"}
    if paired:
        out["paired"] = paired
    return out


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
