"""Confusion table of ``prep filter`` on the real-photo corpus, with cleanvision beside it.

The corpus comes from ``tools/real_photos.py``: each split (``calibration``, ``heldout``) holds
real photographs taken as well exposed. Every photo is judged as it is (``original``) and as
degraded copies quantised to 8 bits like files: overexposed with seed 002's transform (tau in
``--taus``), shifted by the EVs in ``--evs`` and rendered as a camera would at the EVs in
``--camera-evs`` (``exposure_core.camera.fitted_recipe``). A tau copy with nothing clipped (under
0.5 % of its pixels with a channel at the top code) is a brighter exposure, not an error: it is
left out of its row (the count excused is printed). The verdict is ``prep filter``'s, the
``max_stops`` rule on ``ev_estimate`` included. A copy made from 8-bit codes misses some codes
where the transform stretches the scale (a comb in its histogram) that no camera exposure
leaves; ``--dither`` makes every copy from the photo plus half a code of uniform noise (seeded
per photo), so no code goes missing and only the exposure itself can give a copy away. Per
split and row: how many the filter keeps
and rejects with the thresholds of ``params.yaml`` (``--params``), and the same for
cleanvision's ``dark`` and ``light`` checks (default thresholds, computed with cleanvision's
own code; a photo is kept when it is neither). Balanced accuracy: the mean of the originals
kept and the degraded copies rejected. Thresholds are tuned on ``calibration``; ``heldout``
is the figure to report. Targets on ``heldout``: originals kept >= 90 %, every degraded row
rejected >= 95 %.

    python tools/real_photos.py --output ~/.cache/exposure-real-photos
    pip install cleanvision   # optional: without it the cleanvision columns are left out
    python benchmarks/filter_confusion.py --corpus ~/.cache/exposure-real-photos
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exposure_core import imageio  # noqa: E402
from exposure_core.exposure_stats import ExposureStats, analysis_sample, assess  # noqa: E402
from pipeline.params import FilterParams, load_params  # noqa: E402
from tools.degraded_copies import degraded  # noqa: E402

SPLITS = ("calibration", "heldout")
TARGET_KEPT = 0.90
TARGET_REJECTED = 0.95
NOTHING_CLIPPED = 0.005  # a copy with fewer pixels at the top code has nothing clipped


class CleanVision:
    """cleanvision's dark/light verdicts on one image, with its default thresholds."""

    def __init__(self) -> None:
        from cleanvision.issue_managers.image_property import BrightnessProperty
        from cleanvision.issue_managers.image_property_issue_manager import (
            ImagePropertyIssueManager,
        )

        defaults = ImagePropertyIssueManager().get_default_params()
        self.dark_threshold = float(defaults["dark"]["threshold"])
        self.light_threshold = float(defaults["light"]["threshold"])
        self.dark = BrightnessProperty("dark")
        self.light = BrightnessProperty("light")

    def verdict(self, image: np.ndarray) -> tuple[bool, str]:
        from PIL import Image

        pil = Image.open(io.BytesIO(imageio.encode(image, ".png")))  # as cleanvision reads files
        dark_score = float(self.dark.calculate(pil)["brightness_perc_99"])
        light_score = 1.0 - float(self.light.calculate(pil)["brightness_perc_5"])
        if dark_score < self.dark_threshold:
            return False, "dark"
        if light_score < self.light_threshold:
            return False, "light"
        return True, "ok"


def load_cleanvision(enabled: bool) -> CleanVision | None:
    if not enabled:
        return None
    try:
        return CleanVision()
    except ImportError:
        print(
            "cleanvision is not installed: its columns are left out "
            "(pip install cleanvision to add them)",
            file=sys.stderr,
        )
        return None


@dataclass
class Row:
    ours: list[bool] = field(default_factory=list)
    theirs: list[bool] = field(default_factory=list)
    reasons: Counter = field(default_factory=Counter)
    slipped: Counter = field(default_factory=Counter)  # degraded copies kept, by why
    excused: int = 0  # tau copies with nothing clipped, left out of the row


def judge_split(
    paths: list[Path],
    params: FilterParams,
    taus: list[float],
    evs: list[float],
    cleanvision: CleanVision | None,
    dither: bool = False,
    camera_evs: tuple[float, ...] = (),
) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for index, path in enumerate(paths):
        image = analysis_sample(imageio.read_image(path), params.analysis_side)
        copies = degraded(image, taus, evs, index if dither else None, camera_evs)
        for name, copy in copies.items():
            found = assess(copy, params)
            stats, keep, reason = found.stats, found.keep, found.reason
            row = rows.setdefault(name, Row())
            if name.startswith("tau") and stats.clipped_any < NOTHING_CLIPPED:
                row.excused += 1
                continue
            row.ours.append(keep)
            if not keep:
                row.reasons[reason.split(":")[0] + ": " + _test_name(reason)] += 1
            elif name != "original":
                row.slipped[why_kept(stats, params)] += 1
            if cleanvision is not None:
                row.theirs.append(cleanvision.verdict(copy)[0])
    return rows


def why_kept(stats: ExposureStats, params: FilterParams) -> str:
    """Why a degraded copy passed: what its clipping looks like to the statistics."""
    if stats.clipped_any < NOTHING_CLIPPED:
        return "nothing clipped"
    if stats.clipped_light <= params.max_clipped_light and stats.blown <= params.max_blown:
        return "colour clipped only"
    return "clipped light without a spike"


def _test_name(reason: str) -> str:
    """The test a reason names, without its figures (``no highlights``, ``blown white``)."""
    text = reason.split(":", 1)[1]
    for key in ("no highlights", "blown white", "clipped highlights", "shadows", "ev_estimate"):
        if key in text:
            return key
    return text.strip()


def balanced_accuracy(rows: dict[str, Row], attr: str) -> float:
    kept = float(np.mean(getattr(rows["original"], attr)))
    bad = [v for name, row in rows.items() if name != "original" for v in getattr(row, attr)]
    return (kept + 1.0 - float(np.mean(bad))) / 2.0


def print_table(split: str, n_photos: int, rows: dict[str, Row], show_reasons: bool) -> None:
    has_cv = bool(rows["original"].theirs)
    n = len(rows["original"].ours)
    print(f"\n{split}: {n} scenes from {n_photos} photos")
    head = f"{'row':<12}{'n':>5}{'ours kept':>11}{'ours rejected':>15}"
    if has_cv:
        head += f"{'cleanvision kept':>18}{'cleanvision rejected':>22}"
    print(head)
    for name, row in rows.items():
        kept = float(np.mean(row.ours))
        line = f"{name:<12}{len(row.ours):>5}{kept:>11.1%}{1 - kept:>15.1%}"
        if has_cv:
            theirs = float(np.mean(row.theirs))
            line += f"{theirs:>18.1%}{1 - theirs:>22.1%}"
        if show_reasons and row.reasons:
            line += "   " + ", ".join(f"{k} {v}" for k, v in row.reasons.most_common())
        if show_reasons and row.slipped:
            line += "   kept: " + ", ".join(f"{k} {v}" for k, v in row.slipped.most_common())
        if row.excused:
            line += f"   ({row.excused} with nothing clipped excused)"
        print(line)
    line = f"{'balanced accuracy':<28}{balanced_accuracy(rows, 'ours'):>15.3f}"
    if has_cv:
        line += f"{'':>18}{balanced_accuracy(rows, 'theirs'):>22.3f}"
    print(line)
    kept = float(np.mean(rows["original"].ours))
    worst = min(1 - float(np.mean(r.ours)) for k, r in rows.items() if k != "original")
    met = kept >= TARGET_KEPT and worst >= TARGET_REJECTED
    print(
        f"targets (originals kept >= {TARGET_KEPT:.0%}, each degraded row rejected >= "
        f"{TARGET_REJECTED:.0%}): kept {kept:.1%}, worst row rejected {worst:.1%} -> "
        f"{'met' if met else 'not met'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--corpus",
        type=Path,
        default=Path("~/.cache/exposure-real-photos"),
        help="folder written by tools/real_photos.py",
    )
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--max-stops", type=float, help="override filter.max_stops")
    parser.add_argument("--splits", default=",".join(SPLITS))
    parser.add_argument("--taus", default="0.5,0.55,0.6")
    parser.add_argument("--evs", default="-2,-1.5,1.5,2")
    parser.add_argument("--camera-evs", default="-1.5,1.5", help="camera-like copies at these EVs")
    parser.add_argument("--no-cleanvision", action="store_true")
    parser.add_argument(
        "--reasons",
        action="store_true",
        help="print the rejection reasons, and why the degraded copies that were kept passed",
    )
    parser.add_argument(
        "--dither", action="store_true", help="make the copies from a dequantised photo"
    )
    args = parser.parse_args()
    corpus = args.corpus.expanduser()
    index = corpus / "corpus.json"
    if not index.is_file():
        sys.exit(
            f"{index}: no corpus here; build it with: python tools/real_photos.py --output {corpus}"
        )
    scenes = json.loads(index.read_text(encoding="utf-8"))["scenes"]
    params = load_params(args.params, {"filter.max_stops": args.max_stops}).filter
    taus = [float(t) for t in args.taus.split(",") if t]
    evs = [float(e) for e in args.evs.split(",") if e]
    cleanvision = load_cleanvision(not args.no_cleanvision)
    start = time.perf_counter()
    for split in args.splits.split(","):
        chosen = [s for s in scenes if s["split"] == split]
        if not chosen:
            sys.exit(f"{index}: no scenes in split {split!r}")
        paths = [corpus / s["path"] for s in chosen]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            sys.exit(f"{missing[0]}: listed in {index} but missing; rerun tools/real_photos.py")
        camera_evs = tuple(float(e) for e in args.camera_evs.split(",") if e)
        rows = judge_split(paths, params, taus, evs, cleanvision, args.dither, camera_evs)
        print_table(split, len({s["photo"] for s in chosen}), rows, args.reasons)
    copies = "dequantised photo (--dither)" if args.dither else "8-bit codes"
    print(f"\n{time.perf_counter() - start:.0f} s; params: {args.params}; copies from {copies}")


if __name__ == "__main__":
    main()
