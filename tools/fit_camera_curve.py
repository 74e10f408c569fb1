"""Fit the camera kind's curve family (``exposure_core/camera.py``) to MSEC training renders.

For every training scene the EV 0 render is degraded to each EV e in {-1.5, -1, +1, +1.5} with
``camera.recipe_curve`` and compared with the real render at EV e (PSNR, 8-bit codes, the
renders area-downscaled to ``--short-side``). Every candidate is a per-channel lookup table,
so a fit needs only, per render and channel and EV 0 code x, the count, sum and sum of squares
of the real codes at x: the squared error of any table follows from them exactly.

Fits (grid search, then printed with their spread):
- ``fitted``: one (slope, gamma) for all scenes and EVs, best mean PSNR;
- per scene: the best (slope, gamma) over the scene's four EVs (one camera curve per scene);
  the 5th-95th percentiles become the ranges the draws use. Slope and gamma move together
  (correlation about +0.9), so the draws take ``gamma`` and the toe exponent ``slope / gamma``
  (the shadows' ``y ~ l ** (slope / gamma)``) from their ranges, not slope and gamma apart;
- per render, at the fitted curve: the best ``contrast`` factor and the least-squares
  ``saturation`` factor; their 5th-95th percentiles become their ranges.

Writes ``exposure_core/camera_ranges.json`` (``--output``). Only ``msec/training`` is read.

    python tools/fit_camera_curve.py            # ~1 min on 2 cores, plus ~30 s decoding once
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from exposure_core import camera
from exposure_core.exposure import LUMA_WEIGHTS
from exposure_core.metrics.reference import psnr_from_mse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root

from tools.msec_data import load_split

EVS = (-1.5, -1.0, 1.0, 1.5)
SLOPES = np.round(np.arange(1.0, 3.0001, 0.05), 2)
GAMMAS = np.round(np.arange(1.5, 4.0001, 0.05), 2)
CONTRASTS = np.round(np.arange(0.6, 1.4001, 0.02), 2)


def code_stats(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """``(3, 256)``: per EV 0 code, over the 3 channels pooled: count, sum and sum of squares
    of the real codes ``after`` (uint8 ``(H, W, 3)`` each)."""
    x = before.ravel().astype(np.int64)
    y = after.ravel().astype(np.float64)
    return np.stack([np.bincount(x, w, 256) for w in (None, y, y * y)])


def psnr_table(luts: np.ndarray, stats: np.ndarray) -> np.ndarray:
    """PSNR (dB) of every lookup table (``(K, 256)`` in codes) on every render (``(R, 3, 256)``
    stats): ``(K, R)``."""
    n, s, q = stats[:, 0], stats[:, 1], stats[:, 2]
    sse = (luts**2) @ n.T - 2.0 * luts @ s.T + q.sum(axis=1)[None, :]
    mse = np.maximum(sse / n.sum(axis=1)[None, :], 1e-6)
    return psnr_from_mse(mse, 255.0)


def lut(recipe: camera.CameraRecipe) -> np.ndarray:
    """The recipe's table as the 8-bit codes it writes."""
    return np.floor(camera.recipe_curve(recipe).astype(np.float64) * 255.0 + 0.5)


def saturation_fit(toned: np.ndarray, real: np.ndarray) -> float:
    """Least-squares ``s`` in ``real ~ Y + s * (toned - Y)`` (``Y`` the luma of ``toned``)."""
    t = toned.astype(np.float64)
    luma = (t @ LUMA_WEIGHTS.astype(np.float64))[..., None]
    chroma = t - luma
    return float(np.sum(chroma * (real - luma)) / max(np.sum(chroma * chroma), 1e-9))


def pct(values: np.ndarray) -> str:
    p = np.percentile(values, [5, 25, 50, 75, 95])
    return " ".join(f"{v:.3f}" for v in p) + f"   (mean {np.mean(values):.3f})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--short-side", type=int, default=224)
    ap.add_argument("--output", type=Path, default=camera.RANGES_FILE)
    args = ap.parse_args(argv)

    data = load_split("training", args.short_side)
    scenes = list(data)
    stats = np.stack([code_stats(data[s][0.0], data[s][e]) for s in scenes for e in EVS])
    stats = stats.reshape(len(scenes), len(EVS), 3, 256)
    grid = [(float(n), float(g)) for n in SLOPES for g in GAMMAS]
    # psnr[k, s, j]: candidate k, scene s, EV j
    psnr = np.stack(
        [
            psnr_table(np.stack([lut(camera.CameraRecipe(e, n, g)) for n, g in grid]), stats[:, j])
            for j, e in enumerate(EVS)
        ],
        axis=2,
    )
    best = int(np.argmax(psnr.mean(axis=(1, 2))))
    slope, gamma = grid[best]
    print(f"training: {len(scenes)} scenes x {len(EVS)} EVs at short side {args.short_side} px")
    print(f"fitted (one curve for all): slope {slope:.2f}  gamma {gamma:.2f}")
    for name, cols in (("over (P1, P1.5)", [2, 3]), ("under (N1, N1.5)", [0, 1])):
        print(f"  mean PSNR {name}: {psnr[best][:, cols].mean():.2f} dB")
    per_scene = np.array([grid[k] for k in np.argmax(psnr.mean(axis=2), axis=0)])
    oracle = psnr.mean(axis=2).max(axis=0)
    print("per-scene fits, percentiles 5 25 50 75 95:")
    print(f"  slope  {pct(per_scene[:, 0])}")
    print(f"  gamma  {pct(per_scene[:, 1])}")
    print(f"  toe    {pct(per_scene[:, 0] / per_scene[:, 1])}   (slope / gamma)")
    print(f"  corr(slope, gamma) {np.corrcoef(per_scene.T)[0, 1]:+.2f}")
    print(f"  mean PSNR with each scene's own curve: {oracle.mean():.2f} dB")

    contrasts = []
    sats = []
    for j, e in enumerate(EVS):
        luts = np.stack([lut(camera.CameraRecipe(e, slope, gamma, c)) for c in CONTRASTS])
        contrasts += [float(CONTRASTS[k]) for k in np.argmax(psnr_table(luts, stats[:, j]), 0)]
        table = lut(camera.CameraRecipe(e, slope, gamma))
        sats += [saturation_fit(table[data[s][0.0]] / 255.0, data[s][e] / 255.0) for s in scenes]
    contrasts_a, sats_a = np.array(contrasts), np.array(sats)
    print("per-render fits at the fitted curve, percentiles 5 25 50 75 95:")
    print(f"  contrast   {pct(contrasts_a)}")
    print(f"  saturation {pct(sats_a)}")

    def box(values: np.ndarray) -> list[float]:
        return [round(float(v), 3) for v in np.percentile(values, [5, 95])]

    out = {
        "fitted": {"slope": slope, "gamma": gamma},
        "ranges": {
            "slope": box(per_scene[:, 0]),
            "gamma": box(per_scene[:, 1]),
            "toe": box(per_scene[:, 0] / per_scene[:, 1]),
            "contrast": box(contrasts_a),
            "saturation": box(sats_a),
        },
        "source": (
            f"tools/fit_camera_curve.py --short-side {args.short_side}: MSEC training, "
            f"{len(scenes)} scenes, EVs {list(EVS)}; ranges are 5th-95th percentiles of the "
            "per-scene (slope, gamma, slope / gamma) fits and of the per-render contrast and "
            "saturation fits"
        ),
    }
    args.output.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.output}:\n{json.dumps(out['fitted'])}\n{json.dumps(out['ranges'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
