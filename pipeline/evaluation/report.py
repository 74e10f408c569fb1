"""``reports/README.md``: the evaluation written for people (tables: ``report_tables``)."""

from __future__ import annotations

from collections.abc import Callable

from exposure_core.metrics.histogram import HU_BINS
from exposure_core.metrics.scores import PSNR_CAP
from pipeline.evaluation.methods import ORACLE, ORACLE_LABEL
from pipeline.evaluation.results import (
    PSNR_CONVENTION,
    SSIM_CONVENTION,
    Results,
    method_stats,
    resolution_text,
)
from pipeline.evaluation.scoring import GROUP_LABELS, Row, ev_key, native_ev_group
from pipeline.evaluation.tables import (
    images,
    label,
    metric_table,
    psnr_by,
    psnr_ssim_by,
    verdicts,
)

MSEC_EVS = (-1.5, -1.0, 0.0, 1.0, 1.5)


def _msec_groups() -> list[tuple[str, Callable[[Row], bool]]]:
    """MSEC's EV groups of native pairs: each EV, under (EV < 0), over (EV > 0), all."""

    def native(row: Row) -> bool:
        # a pair whose input is its target (EV 0 against itself) is not a correction
        return row["kind"] == "native" and row.get("ev") is not None and row["group"] != "unchanged"

    def at(ev: float) -> Callable[[Row], bool]:
        return lambda r: native(r) and r["ev"] == ev

    groups = [(f"EV {ev:+g}", at(ev)) for ev in MSEC_EVS]
    groups += [(side, lambda r, s=side: native_ev_group(r) == s) for side in ("under", "over")]
    return [*groups, ("all five EVs", native)]


def _set_title(set_name: str) -> str:
    """``paired:validation`` -> "Paired folder `validation`"; a further MSEC reference
    (``paired:validation:ev0``) says what it is scored against."""
    folder, _, ref = set_name.split(":", 1)[1].partition(":")
    against = {"ev0": "the EV 0 render"}.get(ref, ref.replace("_", " "))
    return f"Paired folder `{folder}`" + (f", against {against}" if ref else "")


def _set_section(results: Results, set_name: str, level: str) -> list[str]:
    stats = method_stats(results, set_name)
    rows = results.rows_of(set_name)
    methods = results.methods
    out = [f"{level} Ranking by PSNR", ""]
    out += metric_table(stats.get("all", {}), methods, ranked=True)
    if ORACLE in methods:
        out += [
            "",
            f"{ORACLE_LABEL} is not ranked: it is given the true tau/EV. It is averaged "
            f"over the images it applies to; {results.oracle_excluded(set_name)} image(s) "
            "without a known tau/EV (native pairs) are excluded.",
        ]
    same = sum(1 for r in rows if r["group"] == "unchanged" and r["method"] == methods[0])
    if same:
        out += [
            "",
            f"{same} image(s) whose input is the target (EV 0, or tau ~ 1) are left out of "
            "this ranking: "
            "they measure whether a method leaves a well-exposed photo alone, and have their "
            f"own table below (identity scores the {PSNR_CAP:g} dB cap there).",
        ]
    out += ["", f"{level} Does the model beat the blind baselines?", ""]
    out += verdicts(rows, methods)
    out += ["", f"{level} By exposure kind"]
    for group, title in GROUP_LABELS.items():
        if group in stats:
            n = max(s["n"] for s in stats[group].values())
            out += ["", f"**{title}**: {images(n)}", ""]
            out += metric_table(stats[group], methods, ranked=False)
    sections = (
        ("source", lambda r: r["source"], "By source"),
        ("EV", ev_key, "By EV (EV-shifted and native pairs with a known EV)"),
        ("tau <=", lambda r: r["tau_bucket"], "By tau bucket (overexposed pairs)"),
    )
    for name, key, title in sections:
        table = psnr_by(rows, methods, key, name)
        if table:
            out += ["", f"{level} {title}: PSNR (dB)", "", *table]
    msec = psnr_ssim_by(rows, methods, _msec_groups())
    if msec:
        out += ["", f"{level} MSEC's EV groups (native pairs): PSNR (dB) / SSIM", "", *msec]
    return out


def readme(results: Results) -> str:
    """The whole report as Markdown (links relative to the report folder)."""
    n_test = results.n_images.get("test", 0)
    out = ["# Evaluation report", ""]
    expected = results.expected.get("test")
    listed = f" of {expected} listed in the shard index" if expected is not None else ""
    out.append(
        f"Model `{results.model}` scored on the test split: {images(n_test)}{listed} "
        f"({len(results.skipped)} sample(s) skipped in all sets, listed at the end), at "
        f"{resolution_text(results.resolution)}. "
        f"Methods: {', '.join(label(m) for m in results.methods)}."
    )
    out += ["", "## Test split", ""]
    out += _set_section(results, "test", "###")
    for set_name in results.sets[1:]:
        count = images(results.n_images[set_name])
        out += ["", f"## {_set_title(set_name)}: {count}", ""]
        out += _set_section(results, set_name, "###")
    if results.samples:
        best = results.best_blind or "none"
        out += [
            "",
            "## Samples",
            "",
            f"input | best blind baseline other than identity by mean test PSNR ({best}) | "
            "model | target",
            "",
        ]
        out += [f"![{sid}](samples/{sid}.png)" for sid in results.samples]
    out += ["", "## Conventions", "", *conventions(results)]
    if results.skipped or results.notes:
        out += ["", "## Skipped samples and notes", ""]
        out += [f"- skipped: {line}" for line in results.skipped]
        out += [f"- {line}" for line in results.notes]
    return "\n".join(out) + "\n"


def conventions(results: Results) -> list[str]:
    return [
        f"- Resolution: {resolution_text(results.resolution)}.",
        f"- PSNR: {PSNR_CONVENTION}.",
        f"- SSIM: {SSIM_CONVENTION}.",
        "- MAE: mean absolute error over pixels and channels on the [0, 1] scale.",
        "- ΔE2000: mean CIEDE2000 over pixels (sRGB, D65, 2° observer, skimage).",
        "- Histogram similarity (Hu et al. 2018, seed 002): per image 4 square crops along the "
        "short side, each resized to 80 x 80 (area), 4 random 64 x 64 patches of each; per patch "
        "mean luminance L = 0.27R + 0.67G + 0.06B, contrast 2·std(L), mean HLS saturation; "
        f"{HU_BINS}-bin histograms on [0, 1] over the whole set (or kind), similarity "
        "Σ min(h_out, h_target) in %. Crops come from one RNG seeded by `evaluate.seed`, and "
        "every method of an image uses the same crops.",
        "- GT-mean PSNR (native pairs only, as some LOL papers report): the output scaled by "
        "one gain so its mean grey level (BT.601) equals the target's, clipped, then PSNR. "
        "The plain PSNR column is without this rescaling.",
        f"- {ORACLE_LABEL}: seed 002's inverse transform with the pair's true tau (light · tau) "
        "or the inverse EV shift; not a blind method.",
        f"- PSNR of identical images is infinite and counted as {PSNR_CAP:g} dB. Pairs whose "
        "input is the target (EV 0, or tau ~ 1) are left out of the ranking and the verdicts "
        "and reported in their own table.",
        "- LPIPS / Inception Score: only with `evaluate.lpips_weights` / "
        "`evaluate.inception_weights` (torch.export `.pt2` or TorchScript); IS uses 10 splits "
        "from 100 images up.",
    ]
