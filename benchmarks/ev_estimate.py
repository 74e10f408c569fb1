"""How well ``exposure_core.ev_estimate`` reads the exposure error of real camera renders.

On ``msec/validation`` (24 scenes, five renders each, full resolution):
- relative: ``ev_estimate(render at EV e) - ev_estimate(EV 0 render)`` against e: mean absolute
  error per EV and overall, and whether its sign is right on every +-1.5 EV render;
- absolute: on the +-1.5 EV renders, the fraction flagged (``|estimate| >=`` the threshold
  chosen on training, stored with the weights) in the right direction, and the fraction of
  EV 0 renders flagged.
On ``realdata/msec`` (14 single renders whose names give the EV): the same absolute figures.
On ``realdata/flickr`` (8 photos with no label): each estimate, for a look.

    python benchmarks/ev_estimate.py                  # ~1 min, reuses the fidelity cache
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from exposure_core import imageio
from exposure_core.ev_estimate import MODEL_FILE, ev_estimate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root

from tools.msec_data import ev_of_name, load_split, shared_root


def flagged(estimate: float, ev: float, threshold: float) -> bool:
    """Flagged in the right direction."""
    return bool(np.sign(ev) * estimate >= threshold)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--short-side", type=int, default=0, help="0: full resolution")
    args = ap.parse_args(argv)
    threshold = float(json.loads(MODEL_FILE.read_text())["threshold"])
    data = load_split("validation", args.short_side)
    est = {
        s: {ev: ev_estimate(c.astype(np.float32) / np.float32(255)) for ev, c in r.items()}
        for s, r in data.items()
    }
    evs = (-1.5, -1.0, 1.0, 1.5)
    print(f"MSEC validation split, {len(data)} scenes; threshold |estimate| >= {threshold:.2f}")
    print("\n| EV | mean estimate | MAE of est(e) - est(0) vs e | sign right (relative) |")
    print("|---:|---:|---:|---:|")
    print(f"| 0 | {np.mean([e[0.0] for e in est.values()]):+.2f} | - | - |")
    errors, signs_rel = [], []
    for ev in evs:
        diff = np.array([e[ev] - e[0.0] for e in est.values()])
        errors.extend(np.abs(diff - ev))
        right = np.sign(diff) == np.sign(ev)
        if abs(ev) == 1.5:
            signs_rel.extend(right)
        mean_est = np.mean([e[ev] for e in est.values()])
        print(f"| {ev:+g} | {mean_est:+.2f} | {np.mean(np.abs(diff - ev)):.2f} | "
              f"{right.sum()}/{len(right)} |")  # fmt: skip
    print(f"\nrelative MAE over all 96 non-zero renders: {np.mean(errors):.3f} stops")
    print(f"relative sign right on +-1.5 EV: {sum(signs_rel)}/{len(signs_rel)}")
    far = [(e[ev], ev) for e in est.values() for ev in (-1.5, 1.5)]
    abs_sign = sum(np.sign(v) == np.sign(ev) for v, ev in far)
    rej = sum(flagged(v, ev, threshold) for v, ev in far)
    zero_flag = sum(abs(e[0.0]) >= threshold for e in est.values())
    print(f"absolute sign right on +-1.5 EV: {abs_sign}/{len(far)}")
    print(f"+-1.5 EV flagged in the right direction: {rej}/{len(far)} ({rej / len(far):.0%})")
    for ev in (-1.5, 1.5):
        sub = [v for v, e in far if e == ev]
        print(f"  EV {ev:+g}: {sum(flagged(v, ev, threshold) for v in sub)}/{len(sub)}")
    print(f"EV 0 renders flagged: {zero_flag}/{len(est)}")
    print("other thresholds (for the trade-off only; the threshold is chosen on training):")
    for t in (0.5, 0.7, 0.9, 1.1):
        hit = np.mean([flagged(v, ev, t) for v, ev in far])
        false = np.mean([abs(e[0.0]) >= t for e in est.values()])
        print(
            f"  |estimate| >= {t:.1f}: +-1.5 EV flagged right {hit:.0%}, EV 0 flagged {false:.0%}"
        )

    real = shared_root() / "realdata"
    rows = []
    for path in sorted((real / "msec").glob("*.JPG")):
        ev = ev_of_name(path.name)
        rows.append((path.name, ev, ev_estimate(imageio.read_image(path))))
    hits = sum(flagged(v, ev, threshold) for _, ev, v in rows)
    signs = sum(np.sign(v) == np.sign(ev) for _, ev, v in rows)
    print(f"\nrealdata/msec ({len(rows)} renders): sign right {signs}/{len(rows)}, "
          f"flagged in the right direction {hits}/{len(rows)}")  # fmt: skip
    print("| file | EV | estimate |\n|---|---:|---:|")
    for name, ev, v in rows:
        print(f"| {name} | {ev:+g} | {v:+.2f} |")
    print("\nrealdata/flickr (no labels):\n| file | estimate | verdict |\n|---|---:|---|")
    for path in sorted((real / "flickr").glob("*.jpg")):
        v = ev_estimate(imageio.read_image(path))
        verdict = "under" if v <= -threshold else "over" if v >= threshold else "kept"
        print(f"| {path.name} | {v:+.2f} | {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
