"""What limits ``prep enhance --model stops``: the camera curve, or the estimate in stops?

On MSEC's training renders (192 scenes at a 224 px short side; never the validation split),
each render at EV e (+-1, +-1.5) is corrected along the fitted camera curve
(``exposure_core.stops_correction.correct_float``) and scored (PSNR) against its scene's EV 0
render, with three choices of the stops to undo:

- ``oracle``: the render's true EV (the curve's own ceiling);
- ``estimate x k``: the estimator's out-of-fold estimate (``tools/train_ev_estimator.py``'s
  data, settings and five folds by scene, each scene estimated by the model that did not see
  it), scaled by k (1: what ``prep enhance`` does; other k: whether the estimate is
  systematically too timid or too bold);
- the mean and spread of the out-of-fold estimates for each EV.

    python benchmarks/stops_ceiling.py      # ~3 min on 2 cores (the MSEC cache of tools/msec_data)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root

from exposure_core.metrics.reference import psnr
from exposure_core.stops_correction import correct_float
from tools.msec_data import load_split
from tools.train_ev_estimator import dataset, fit

SCALES = (0.8, 0.9, 1.0, 1.1, 1.2, 1.4)


def out_of_fold(data: dict[str, dict[float, np.ndarray]]) -> dict[tuple[str, float], float]:
    """Each real render's out-of-fold estimate, by (scene, EV)."""
    x, y, groups, sources = dataset(data, 4, 0)
    oof = np.zeros_like(y)
    for k in range(5):
        train, held = groups % 5 != k, groups % 5 == k
        oof[held] = fit(x[train], y[train], groups[train], 8, 0.03, 0.5, 2000, 0).predict(x[held])
    keys = [(scene, ev) for scene, renders in data.items() for ev in renders]  # dataset()'s order
    return dict(zip(keys, oof[sources == 0], strict=True))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--short-side", type=int, default=224)
    args = ap.parse_args(argv)
    data = load_split("training", args.short_side)
    estimates = out_of_fold(data)
    rows: dict[str, dict[str, list[float]]] = {}
    for (scene, ev), estimate in estimates.items():
        if ev == 0:
            continue
        render = data[scene][ev].astype(np.float32) / 255
        reference = data[scene][0.0].astype(np.float32) / 255
        group = "over" if ev > 0 else "under"
        undo = {"oracle (true EV)": ev, **{f"estimate x {k:g}": k * estimate for k in SCALES}}
        for name, stops in undo.items():
            corrected = np.clip(correct_float(render, stops), 0, 1)
            rows.setdefault(name, {}).setdefault(group, []).append(psnr(corrected, reference))
    print(f"MSEC training, {len(data)} scenes at a {args.short_side} px short side; PSNR (dB) "
          "against the EV 0 render")  # fmt: skip
    print("| stops undone | over (EV +1, +1.5) | under (EV -1, -1.5) |")
    print("|---|---|---|")
    for name, groups in rows.items():
        print(f"| {name} | {np.mean(groups['over']):.2f} | {np.mean(groups['under']):.2f} |")
    print("\n| EV | mean out-of-fold estimate | standard deviation |")
    print("|---|---|---|")
    for ev in (-1.5, -1.0, 0.0, 1.0, 1.5):
        values = np.array([v for (_, e), v in estimates.items() if e == ev])
        print(f"| {ev:+g} | {values.mean():+.2f} | {values.std():.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
