"""Markdown tables of ``prep evaluate``: method rankings, verdicts, PSNR by group.

Blind methods (the model and the baselines that see only the image) are ranked by mean
PSNR; the oracle knows tau/EV, is listed last under its label and never ranked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.evaluation.methods import (
    EV0_LABEL,
    EV0_RENDER,
    MODEL,
    NOT_BLIND,
    ORACLE,
    ORACLE_LABEL,
)
from pipeline.evaluation.scoring import Row, averages, exposure_side

Stats = dict[str, dict[str, float]]
MISSING = "-"


def fmt(value: float | None, digits: int) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def images(n: int) -> str:
    return f"{n} image" if n == 1 else f"{n} images"


def label(method: str) -> str:
    return {ORACLE: ORACLE_LABEL, EV0_RENDER: EV0_LABEL}.get(method, method)


def metric_table(stats: Stats, methods: list[str], ranked: bool) -> list[str]:
    """Markdown table of one group: blind methods by PSNR, then the oracle and the EV 0
    render (MSEC) unranked."""
    blind = sorted(
        (m for m in methods if m not in NOT_BLIND and m in stats), key=lambda m: -stats[m]["psnr"]
    )
    extra = [
        k for k in ("psnr_gt_mean", "lpips", "inception_score") if any(k in stats[m] for m in stats)
    ]
    names = {
        "psnr_gt_mean": "GT-mean PSNR (native pairs only)",
        "lpips": "LPIPS (lower is better)",
        "inception_score": "Inception Score",
    }
    head = ["rank"] if ranked else []
    head += ["method", "n", "PSNR (dB)", "SSIM", "MAE", "ΔE2000", "hist. sim. L / C / S / mean (%)"]
    head += [names[k] for k in extra]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    order = blind + [m for m in NOT_BLIND if m in stats and m in methods]
    for number, method in enumerate(order, start=1):
        s = stats[method]
        hist = " / ".join(
            fmt(s.get(f"hist_{k}"), 1) for k in ("luminance", "contrast", "saturation", "mean")
        )
        cells = [(MISSING if method in NOT_BLIND else str(number))] if ranked else []
        cells += [
            label(method),
            str(s["n"]),
            fmt(s["psnr"], 2),
            fmt(s["ssim"], 4),
            fmt(s["mae"], 4),
            fmt(s["delta_e2000"], 2),
            hist,
        ]
        cells += [fmt(s.get(k), 4 if k == "lpips" else 2) for k in extra]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def verdicts(rows: list[Row], methods: list[str]) -> list[str]:
    """For over- and underexposure: does the model beat every blind baseline on PSNR and SSIM?"""
    table = averages(rows, exposure_side)
    blind = [m for m in methods if m not in (MODEL, *NOT_BLIND)]
    what = {
        "over": ("Overexposure", "tau clipping and EV > 0"),
        "under": ("Underexposure", "EV < 0"),
    }
    out = []
    for side, (title, scope) in what.items():
        stats = table.get(side, {})
        if MODEL not in stats:
            out.append(f"- **{title}** ({scope}): no such images in this set; no claim.")
            continue
        model, n = stats[MODEL], stats[MODEL]["n"]
        losses = []
        for metric, unit, digits in (("psnr", " dB", 2), ("ssim", "", 4)):
            lost = [
                f"{m} ({fmt(stats[m][metric], digits)}{unit})"
                for m in blind
                if m in stats and stats[m][metric] >= model[metric]
            ]
            if lost:
                losses.append(
                    f"on {metric.upper()} (model {fmt(model[metric], digits)}{unit}) "
                    f"it does not beat {', '.join(lost)}"
                )
        if losses:
            verdict = "the model does **not** beat every blind baseline: " + "; ".join(losses)
        else:
            verdict = f"the model beats every blind baseline ({', '.join(blind)}) on PSNR and SSIM"
        out.append(f"- **{title}** ({scope}, {images(n)}): {verdict}.")
    return out


def _group_text(group: Any) -> str:
    if isinstance(group, tuple):  # (kind, EV)
        return f"{group[1]:+g} ({group[0]})"
    return f"{group:g}" if isinstance(group, float) else str(group)


def psnr_by(rows: list[Row], methods: list[str], key: Callable[[Row], Any], name: str) -> list[str]:
    """Mean PSNR per method (columns) for each value of ``key`` (rows; None: row left out)."""
    table = averages(rows, key)
    if not table:
        return []
    head = [name, "n", *(label(m) for m in methods)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for group in sorted(table):
        stats = table[group]
        n = max(s["n"] for s in stats.values())
        cells = [
            _group_text(group),
            str(n),
            *(fmt(stats[m]["psnr"], 2) if m in stats else MISSING for m in methods),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def psnr_ssim_by(
    rows: list[Row], methods: list[str], groups: list[tuple[str, Callable[[Row], bool]]]
) -> list[str]:
    """PSNR / SSIM per method (columns) for each named group of rows (a row may be in
    several); groups without scored rows and methods that apply to none are left out."""
    scored = {
        r["method"] for r in rows if r.get("psnr") is not None and any(f(r) for _, f in groups)
    }
    methods = [m for m in methods if m in scored]
    head = ["group", "n", *(label(m) for m in methods)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, member in groups:
        stats = averages([r for r in rows if member(r)], lambda r: "x").get("x")
        if not stats:
            continue
        n = max(s["n"] for s in stats.values())
        cells = [name, str(n)]
        cells += [
            f"{fmt(stats[m]['psnr'], 2)} / {fmt(stats[m]['ssim'], 3)}" if m in stats else MISSING
            for m in methods
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines if len(lines) > 2 else []
