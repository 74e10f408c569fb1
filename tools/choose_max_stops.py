"""Choose ``filter.max_stops`` (reject a photo whose ``|ev_estimate|`` is above it) without
looking at any photo the figures are reported on.

Two sets judge each candidate, with the filter's statistic rules (``params.yaml``) applied first,
as ``prep filter`` applies them:

- ``msec/training`` (192 scenes, full resolution): the EV 0 render should be kept, the +-1.5 EV
  renders rejected in the right direction. The estimates are out of fold: the estimator is
  retrained five times (``tools/train_ev_estimator.py``'s data, settings and folds, by scene)
  and each scene is estimated by the model that did not see it. A statistic rule's verdict is
  read at full resolution, the estimate at the estimator's 224 px.
- the calibration half of the real-photo corpus (``tools/real_photos.py``): originals should be
  kept, the degraded copies of ``tools/degraded_copies.py`` rejected. The shipped
  estimator never saw these photos.

The choice: the candidate with the best balanced accuracy on training (mean of EV 0 kept and
+-1.5 EV rejected) among those keeping >= 90 % of the calibration originals; ties go to the
larger limit (fewer well-exposed photos lost).

    python tools/choose_max_stops.py --corpus ~/.cache/exposure-real-photos   # ~6 min, 2 cores
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exposure_core import imageio  # noqa: E402
from exposure_core.ev_estimate import ev_estimate  # noqa: E402
from exposure_core.exposure_stats import (  # noqa: E402
    FilterThresholds,
    analysis_sample,
    judge,
    photo_stats,
)
from pipeline.params import load_params  # noqa: E402
from tools.degraded_copies import degraded  # noqa: E402
from tools.msec_data import ev_of_name, load_split, shared_root  # noqa: E402
from tools.train_ev_estimator import dataset, fit  # noqa: E402

CANDIDATES = np.round(np.arange(0.5, 2.0001, 0.05), 2)
MIN_KEPT = 0.90


def stats_direction(image: np.ndarray, p: FilterThresholds) -> int:
    """The statistic rules alone: 0 kept, -1 rejected as under, +1 as over (or washed out)."""
    keep, reason = judge(photo_stats(image, p), p)
    return 0 if keep else (-1 if reason.startswith("underexposed") else 1)


def training_rows(p: FilterThresholds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Real training renders: EV, out-of-fold estimate, statistic-rule direction."""
    data = load_split("training", 224)
    x, y, groups, sources = dataset(data, 4, 0)
    oof = np.zeros_like(y)
    for k in range(5):
        train, held = groups % 5 != k, groups % 5 == k
        oof[held] = fit(x[train], y[train], groups[train], 8, 0.03, 0.5, 2000, 0).predict(x[held])
    real = sources == 0
    folder = shared_root() / "msec" / "training" / "INPUT_IMAGES"
    direction = {}
    for path in sorted(folder.glob("*.JPG")):
        scene = path.stem.rsplit("_", 1)[0]
        if scene in data:
            image = analysis_sample(imageio.read_image(path), p.analysis_side)
            direction[(scene, ev_of_name(path.name))] = stats_direction(image, p)
    keys = [(s, ev) for s, renders in data.items() for ev in renders]  # dataset()'s order
    dirs = np.array([direction[k] for k in keys])
    return y[real], oof[real], dirs


def calibration_rows(corpus: Path, p: FilterThresholds) -> dict[str, list[tuple[float, int]]]:
    """Per row name (original, tau, EV copies): (estimate, statistic-rule direction)."""
    scenes = json.loads((corpus / "corpus.json").read_text(encoding="utf-8"))["scenes"]
    rows: dict[str, list[tuple[float, int]]] = {}
    for s in scenes:
        if s["split"] != "calibration":
            continue
        image = analysis_sample(imageio.read_image(corpus / s["path"]), p.analysis_side)
        for name, copy in degraded(image, [0.5, 0.55, 0.6], [-2, -1.5, 1.5, 2]).items():
            rows.setdefault(name, []).append((ev_estimate(copy), stats_direction(copy, p)))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path("~/.cache/exposure-real-photos"))
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    args = ap.parse_args(argv)
    p = load_params(args.params).filter
    y, oof, dirs = training_rows(p)
    calib = calibration_rows(args.corpus.expanduser(), p)
    zero, far = y == 0.0, np.abs(y) == 1.5
    print(f"msec/training: {zero.sum()} EV 0 and {far.sum()} +-1.5 EV renders (out of fold); "
          f"calibration: {len(calib['original'])} scenes")  # fmt: skip
    print("| max_stops | train EV 0 kept | train +-1.5 rejected right | balanced | "
          "calib originals kept | calib worst degraded row rejected |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|")
    best, chosen = -1.0, float("nan")
    for t in CANDIDATES:
        rejected = np.where(dirs != 0, dirs, np.where(np.abs(oof) > t, np.sign(oof), 0))
        kept0 = float(np.mean(rejected[zero] == 0))
        right = float(np.mean(rejected[far] == np.sign(y[far])))
        score = (kept0 + right) / 2

        def kept(rows: list[tuple[float, int]], t: float = t) -> float:
            return float(np.mean([d == 0 and abs(e) <= t for e, d in rows]))

        orig = kept(calib["original"])
        worst = min(1 - kept(r) for name, r in calib.items() if name != "original")
        print(f"| {t:.2f} | {kept0:.1%} | {right:.1%} | {score:.3f} | {orig:.1%} | {worst:.1%} |")
        if orig >= MIN_KEPT and score >= best - 1e-9:
            best, chosen = score, float(t)
    print(f"\nchosen filter.max_stops: {chosen:g} (balanced accuracy on training {best:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
