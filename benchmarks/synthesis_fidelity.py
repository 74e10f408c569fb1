"""How closely each synthesis kind reproduces a real camera's exposure error (MSEC validation).

For each of the 24 scenes of ``msec/validation`` the EV 0 render is degraded to EV e with a
synthesis kind and compared with the real render at EV e (PSNR over all pixels and channels,
8-bit codes); the table gives the mean over the over-exposed (P1, P1.5) and the under-exposed
(N1, N1.5) renders. Kinds:

- ``ev (gamma 2.2)``: today's ``ev`` kind, ``exposure.shift_ev`` (light * 2**ev, clipped);
  ``ev (srgb)`` the same with the sRGB curve;
- ``tau clip``: seed 002's overexposure (it has no EV): over only, at the tau that fits each
  over EV best on ``msec/training`` (chosen there, at 224 px);
- ``smoothstep + gamma``: the unprocessing curve of Brooks et al. (2019) inverted, light * 2**ev,
  clipped, curve again (a hard clip, no shoulder);
- ``camera (fitted)``: ``exposure_core.camera`` at the fitted curve (``camera_ranges.json``);
- ``camera (random draws)``: ``camera.draw_recipe`` (curve, contrast, saturation drawn from the
  fitted ranges; ev the render's own), one draw per render, seed ``--seed``;
- ``ceiling``: a monotone 256-entry curve per channel fitted to the real render itself
  (isotonic least squares): the best any global per-channel curve can do.

    python benchmarks/synthesis_fidelity.py                   # full resolution, ~2 min
    python benchmarks/synthesis_fidelity.py --short-side 224  # the resolution of the fit
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from exposure_core import camera, exposure, imageio
from exposure_core.metrics.reference import psnr_from_mse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root

from tools.msec_data import load_split

OVER, UNDER = (1.0, 1.5), (-1.0, -1.5)
TAUS = np.round(np.arange(0.05, 1.0001, 0.01), 2)


def psnr_of_codes(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of two uint8 images (the one definition, on the 8-bit scale)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(psnr_from_mse(max(mse, 1e-6), 255.0))


def table_of(curve: np.ndarray) -> np.ndarray:
    """A float curve on the 256 code levels -> the uint8 table ``imageio`` would apply."""
    return imageio.curve_table(np.asarray(curve, np.float32), 8)


def smoothstep_table(ev: float) -> np.ndarray:
    """Brooks et al.'s curve: ``y = smoothstep(l ** (1/2.2))``, inverted, shifted, clipped."""
    y = exposure.code_levels(8).astype(np.float64)
    light = (0.5 - np.sin(np.arcsin(1.0 - 2.0 * y) / 3.0)) ** 2.2
    x = np.clip(light * 2.0**ev, 0.0, 1.0) ** (1 / 2.2)
    return table_of(3 * x**2 - 2 * x**3)


def isotonic(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least-squares non-decreasing fit (pool adjacent violators), float64."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for value, weight in zip(y, w, strict=True):
        blocks.append([float(value), float(weight), 1])
        while len(blocks) > 1 and blocks[-2][0] >= blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            total = w1 + w2
            mean = (m1 * w1 + m2 * w2) / total if total > 0 else m2
            blocks.append([mean, total, c1 + c2])
    return np.concatenate([np.full(c, m) for m, _, c in blocks])


def ceiling(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Apply to ``before`` the per-channel monotone curve that best maps it to ``after``."""
    out = np.empty_like(before)
    for c in range(3):
        x = before[..., c].ravel()
        y = after[..., c].ravel().astype(np.float64)
        n = np.bincount(x, minlength=256).astype(np.float64)
        mean = np.bincount(x, y, 256) / np.maximum(n, 1)
        table = np.clip(np.floor(isotonic(mean, n) + 0.5), 0, 255).astype(np.uint8)
        out[..., c] = table[before[..., c]]
    return out


def best_taus(short_side: int = 224) -> dict[float, float]:
    """Per over EV: the tau of seed 002's clip with the best mean PSNR on msec/training."""
    data = load_split("training", short_side)
    levels = exposure.code_levels(8)
    out = {}
    for ev in OVER:
        scores = []
        for tau in TAUS:
            table = table_of(exposure.overexpose(levels, float(tau)))
            scores.append(np.mean([psnr_of_codes(table[r[0.0]], r[ev]) for r in data.values()]))
        out[ev] = float(TAUS[int(np.argmax(scores))])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--short-side", type=int, default=0, help="0: full resolution")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    taus = best_taus()
    print(f"tau chosen on msec/training: {taus}")
    data = load_split("validation", args.short_side)
    rng = np.random.default_rng(args.seed)
    levels = exposure.code_levels(8)
    kinds: dict[str, Callable[[np.ndarray, float, np.ndarray], np.ndarray | None]] = {
        "ev (gamma 2.2)": lambda x, e, _: table_of(exposure.shift_ev(levels, e))[x],
        "ev (srgb)": lambda x, e, _: table_of(exposure.shift_ev(levels, e, curve="srgb"))[x],
        "tau clip": lambda x, e, _: (
            table_of(exposure.overexpose(levels, taus[e]))[x] if e > 0 else None
        ),
        "smoothstep + gamma": lambda x, e, _: smoothstep_table(e)[x],
        "camera (fitted)": lambda x, e, _: (
            camera.render_codes(imageio.Codes(x), camera.fitted_recipe(e)).array
        ),
        "camera (random draws)": lambda x, e, _: (
            camera.render_codes(imageio.Codes(x), camera.draw_recipe(rng, (e, e))).array
        ),
        "ceiling (per-channel curve)": lambda x, _e, real: ceiling(x, real),
    }
    scores: dict[str, dict[float, list[float]]] = {k: {} for k in kinds}
    for renders in data.values():
        for ev in OVER + UNDER:
            for name, kind in kinds.items():
                out = kind(renders[0.0], ev, renders[ev])
                if out is not None:
                    scores[name].setdefault(ev, []).append(psnr_of_codes(out, renders[ev]))
    size = "full resolution" if args.short_side == 0 else f"short side {args.short_side} px"
    print(f"\nMSEC validation split, {len(data)} scenes, {size}: mean PSNR (dB) of the EV 0")
    print("render degraded to EV e against the real render at EV e\n")
    heads = " | ".join(f"EV {e:+g}" for e in OVER + UNDER)
    print(f"| kind | over (P1, P1.5) | under (N1, N1.5) | {heads} |")
    print("|---|---:|---:|" + "---:|" * 4)
    for name, per_ev in scores.items():

        def group(evs: tuple[float, ...], per_ev=per_ev) -> str:
            values = [v for e in evs for v in per_ev.get(e, [])]
            return f"{np.mean(values):.2f}" if values else "n/a"

        cells = " | ".join(group((e,)) for e in OVER + UNDER)
        print(f"| {name} | {group(OVER)} | {group(UNDER)} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
