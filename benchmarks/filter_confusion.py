"""Confusion figures of ``prep filter`` on photos made from scikit-image's bundled photos.

Originals: the six demo photos (8-bit). Degraded: the same photos overexposed with seed 002's
transform (tau in --taus) or shifted by the EVs in --evs, quantised to 8 bits like files.
Prints, per group, how many the filter keeps and rejects with the default thresholds, and the
reasons. Targets: keep >= 90 % of originals, reject >= 90 % of tau <= 0.6 and |EV| >= 1.5.

    python benchmarks/filter_confusion.py
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.core import exposure, imageio  # noqa: E402
from pipeline.params import FilterParams  # noqa: E402
from pipeline.sources.demo import DEMO_SCENES, _load  # noqa: E402
from pipeline.stages.filter import judge  # noqa: E402


def quantise(image: np.ndarray) -> np.ndarray:
    return imageio.codes_to_float(imageio.float_to_codes(image, 8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--taus", default="0.5,0.55,0.6,0.7,0.8")
    parser.add_argument("--evs", default="-2.5,-2,-1.5,-1,-0.5,0.5,1,1.5,2,2.5")
    args = parser.parse_args()
    params = FilterParams()
    photos = {n: _load(n).astype(np.float32) / np.float32(255) for n in DEMO_SCENES}
    groups: dict[str, list[np.ndarray]] = {"original": [quantise(p) for p in photos.values()]}
    for tau in map(float, args.taus.split(",")):
        groups[f"tau {tau:g}"] = [quantise(exposure.overexpose(p, tau)) for p in photos.values()]
    for ev in map(float, args.evs.split(",")):
        groups[f"EV {ev:+g}"] = [quantise(exposure.shift_ev(p, ev)) for p in photos.values()]
    print(f"{'group':<12}{'kept':>6}{'rejected':>10}  reasons")
    for name, images in groups.items():
        verdicts = [judge(exposure.exposure_stats(img), params) for img in images]
        kept = sum(k for k, _ in verdicts)
        reasons = Counter(r.split(":")[0] for k, r in verdicts if not k)
        print(f"{name:<12}{kept:>6}{len(images) - kept:>10}  {dict(reasons)}")
    targets = {
        "originals kept": groups["original"],
        "tau <= 0.6 rejected": [
            i
            for k, v in groups.items()
            if k.startswith("tau") and float(k.split()[1]) <= 0.6
            for i in v
        ],
        "EV <= -1.5 or >= +1.5 rejected": [
            i
            for k, v in groups.items()
            if k.startswith("EV") and abs(float(k.split()[1])) >= 1.5
            for i in v
        ],
    }
    for label, images in targets.items():
        kept = sum(judge(exposure.exposure_stats(img), params)[0] for img in images)
        share = kept if label.startswith("originals") else len(images) - kept
        print(f"{label}: {share}/{len(images)} = {share / len(images):.0%}")


if __name__ == "__main__":
    main()
