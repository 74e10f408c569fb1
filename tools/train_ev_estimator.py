"""Train the exposure estimator of ``exposure_core/ev_estimate.py`` on MSEC training renders.

Examples (all from ``msec/training``, area-downscaled to ``--short-side``):
- the five real renders of each scene, labelled with their EV (the EV 0 render: 0);
- ``--camera`` camera-like copies of each EV 0 render (``camera.draw_recipe``: EV uniform in
  -2..+2, curve, contrast and saturation from the fitted ranges, half of them re-encoded as JPEG
  at quality 70..95), labelled with the drawn EV;
- one ``ev``-kind copy (``exposure.shift_ev``, gamma 2.2, EV uniform in -2..+2) and one tau
  clip (seed 002, tau uniform in 0.25..0.8, labelled ``log2(1 / tau)``) of each EV 0 render,
  so the project's own synthesis is recognised too;
- ``--corpus FOLDER``: the same copies of the real-photo corpus's calibration photos, each
  original labelled 0 (for the trade-off against well-exposed photos; the shipped weights are
  trained without it, which scored no worse).

The model (features -> one hidden tanh layer -> stops) is fitted by full-batch Adam on the mean
squared error plus an L2 penalty, from a fixed seed: the same data give the same weights. The
rejection threshold (``|estimate| >= threshold`` flags a photo) is chosen on out-of-fold
estimates (5 folds by scene) to best separate the EV 0 renders from the +-1.5 EV renders.
Writes ``exposure_core/ev_estimator.json``.

    python tools/train_ev_estimator.py        # ~2 min on 2 cores, plus ~30 s decoding once
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from exposure_core import camera, exposure, imageio
from exposure_core.ev_estimate import MODEL_FILE, EvModel, features

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root

from tools.msec_data import load_split


def to_float(codes: np.ndarray) -> np.ndarray:
    return codes.astype(np.float32) / np.float32(255)


def lut_copy(codes: np.ndarray, curve: np.ndarray) -> np.ndarray:
    return to_float(imageio.apply_curve(imageio.Codes(codes), curve).array)


def dataset(
    data: dict[str, dict[float, np.ndarray]], n_camera: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels, scene index and source (0 real, 1 camera, 2 ev kind, 3 tau clip)."""
    rng = np.random.default_rng(seed)
    levels = exposure.code_levels(8)
    rows, labels, groups, sources = [], [], [], []

    def add(image: np.ndarray, label: float, group: int, source: int) -> None:
        rows.append(features(image))
        labels.append(label)
        groups.append(group)
        sources.append(source)

    for g, renders in enumerate(data.values()):
        for ev, codes in renders.items():
            add(to_float(codes), ev, g, 0)
        base = imageio.Codes(renders[0.0])
        for k in range(n_camera):
            quality = (70, 95) if k % 2 else None
            recipe = camera.draw_recipe(rng, (-2.0, 2.0), quality_range=quality)
            add(to_float(camera.render_codes(base, recipe).array), recipe.ev, g, 1)
        ev = float(rng.uniform(-2.0, 2.0))
        add(lut_copy(base.array, exposure.shift_ev(levels, ev)), ev, g, 2)
        tau = float(rng.uniform(0.25, 0.8))
        add(lut_copy(base.array, exposure.overexpose(levels, tau)), float(np.log2(1 / tau)), g, 3)
    return np.array(rows), np.array(labels), np.array(groups), np.array(sources)


def corpus_dataset(
    folder: Path, short_side: int, n_camera: int, seed: int, first_group: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The same copies from photos judged well exposed (the calibration half of the real-photo
    corpus, ``tools/real_photos.py``): each original labelled 0, source 4 for the original."""
    rng = np.random.default_rng(seed + 1)
    levels = exposure.code_levels(8)
    rows, labels, groups, sources = [], [], [], []
    for g, path in enumerate(sorted(folder.glob("*.png")), start=first_group):
        base = imageio.shrink(imageio.read_codes(path), short_side)
        copies = [(to_float(base.array), 0.0, 4)]
        for k in range(n_camera):
            quality = (70, 95) if k % 2 else None
            recipe = camera.draw_recipe(rng, (-2.0, 2.0), quality_range=quality)
            copies.append((to_float(camera.render_codes(base, recipe).array), recipe.ev, 1))
        ev = float(rng.uniform(-2.0, 2.0))
        copies.append((lut_copy(base.array, exposure.shift_ev(levels, ev)), ev, 2))
        tau = float(rng.uniform(0.25, 0.8))
        copies.append(
            (lut_copy(base.array, exposure.overexpose(levels, tau)), float(np.log2(1 / tau)), 3)
        )
        for image, label, source in copies:
            rows.append(features(image))
            labels.append(label)
            groups.append(g)
            sources.append(source)
    return np.array(rows), np.array(labels), np.array(groups), np.array(sources)


def scene_pairs(groups: np.ndarray) -> np.ndarray:
    """``(P, 2)`` indices of every pair of examples from one scene."""
    by_scene: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        by_scene.setdefault(int(g), []).append(i)
    pairs = [(a, b) for idx in by_scene.values() for k, a in enumerate(idx) for b in idx[k + 1 :]]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def fit(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    hidden: int,
    l2: float,
    pair_weight: float,
    steps: int,
    seed: int,
) -> EvModel:
    """Full-batch Adam on: mean squared error of the estimates, plus ``pair_weight`` times the
    mean squared error of the differences between two examples of one scene (so a change of
    exposure moves the estimate by as many stops, whatever the scene), plus ``l2`` times the
    sum of squared weights."""
    rng = np.random.default_rng(seed)
    pairs = scene_pairs(groups)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    params = {
        "w1": rng.normal(0.0, 1.0 / np.sqrt(x.shape[1]), (hidden, x.shape[1])),
        "b1": np.zeros(hidden),
        "w2": rng.normal(0.0, 1.0 / np.sqrt(hidden), hidden),
        "b2": np.array(float(y.mean())),
    }
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    lr, beta1, beta2 = 0.01, 0.9, 0.999
    for t in range(1, steps + 1):
        h = np.tanh(z @ params["w1"].T + params["b1"])
        err = h @ params["w2"] + params["b2"] - y
        d_out = 2.0 * err / len(y)
        if len(pairs) and pair_weight > 0:
            pair_err = 2.0 * pair_weight * (err[pairs[:, 0]] - err[pairs[:, 1]]) / len(pairs)
            np.add.at(d_out, pairs[:, 0], pair_err)
            np.add.at(d_out, pairs[:, 1], -pair_err)
        d_h = np.outer(d_out, params["w2"]) * (1.0 - h * h)
        grads = {
            "w1": d_h.T @ z + 2 * l2 * params["w1"],
            "b1": d_h.sum(axis=0),
            "w2": h.T @ d_out + 2 * l2 * params["w2"],
            "b2": np.array(d_out.sum()),
        }
        for k, grad in grads.items():
            m, v = moments[k]
            m[...] = beta1 * m + (1 - beta1) * grad
            v[...] = beta2 * v + (1 - beta2) * grad * grad
            step = lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + 1e-8)
            params[k] = params[k] - step
    return EvModel(mean, scale, params["w1"], params["b1"], params["w2"], float(params["b2"]))


def relative_mae(est: np.ndarray, y: np.ndarray, groups: np.ndarray, real: np.ndarray) -> float:
    """Mean ``|(est(e) - est(EV 0 render)) - e|`` over the real non-zero renders."""
    zero = {int(g): float(v) for g, v, lab, r in zip(groups, est, y, real, strict=True)
            if r and lab == 0.0}  # fmt: skip
    errs = [abs(v - zero[int(g)] - lab) for g, v, lab, r in zip(groups, est, y, real, strict=True)
            if r and lab != 0.0]  # fmt: skip
    return float(np.mean(errs))


def choose_threshold(estimates: np.ndarray, labels: np.ndarray) -> float:
    """The ``|estimate|`` threshold that best separates EV 0 from +-1.5 EV (balanced accuracy,
    a flag counted only in the right direction)."""
    zero = np.abs(estimates[labels == 0.0])
    far = np.abs(labels) == 1.5
    signed = estimates[far] * np.sign(labels[far])
    best, best_t = -1.0, 0.0
    for t in np.round(np.arange(0.3, 1.5001, 0.05), 2):
        score = np.mean(zero < t) + np.mean(signed >= t)
        if score > best:
            best, best_t = score, float(t)
    return best_t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--short-side", type=int, default=224)
    ap.add_argument("--camera", type=int, default=4, help="camera-like copies per scene")
    ap.add_argument("--hidden", type=int, default=8)
    ap.add_argument("--l2", type=float, default=0.03)
    ap.add_argument("--pair-weight", type=float, default=0.5)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--corpus", type=Path, default=None,
        help="the real-photo corpus's calibration folder: its originals (label 0) and copies",
    )  # fmt: skip
    ap.add_argument("--output", type=Path, default=MODEL_FILE)
    args = ap.parse_args(argv)

    data = load_split("training", args.short_side)
    x, y, groups, sources = dataset(data, args.camera, args.seed)
    if args.corpus is not None:
        more = corpus_dataset(args.corpus, args.short_side, args.camera, args.seed, len(data))
        x, y, groups, sources = (
            np.concatenate(pair) for pair in zip((x, y, groups, sources), more, strict=True)
        )
    print(f"training examples: {len(y)} ({np.bincount(sources).tolist()} real/camera/ev/tau)")
    settings = (args.hidden, args.l2, args.pair_weight, args.steps, args.seed)
    oof = np.zeros_like(y)
    folds = groups % 5
    for k in range(5):
        train = folds != k
        model = fit(x[train], y[train], groups[train], *settings)
        oof[folds == k] = model.predict(x[folds == k])
    for name, mask in (("all", sources >= 0), ("real renders", sources == 0),
                       ("camera copies", sources == 1), ("ev kind", sources == 2),
                       ("tau clip", sources == 3), ("corpus originals", sources == 4)):  # fmt: skip
        if not mask.any():
            continue
        print(f"  out-of-fold MAE {name}: {np.mean(np.abs(oof[mask] - y[mask])):.3f} stops")
    real = sources == 0
    print(f"  out-of-fold relative MAE (real renders): {relative_mae(oof, y, groups, real):.3f}")
    threshold = choose_threshold(oof[real], y[real])
    print(f"threshold (out of fold, real renders): |estimate| >= {threshold:.2f} stops")
    far = real & (np.abs(y) == 1.5)
    zero = real & (y == 0.0)
    for t in (0.5, 0.7, 0.9, 1.1):
        hit = np.mean(oof[far] * np.sign(y[far]) >= t)
        false = np.mean(np.abs(oof[zero]) >= t)
        kept = (
            f", corpus originals kept {np.mean(np.abs(oof[sources == 4]) < t):.0%}"
            if np.any(sources == 4)
            else ""
        )
        print(f"  at {t:.1f}: +-1.5 EV flagged right {hit:.0%}, EV 0 flagged {false:.0%}{kept}")
    model = fit(x, y, groups, *settings)
    train_mae = np.mean(np.abs(model.predict(x) - y))
    print(f"final model, training MAE {train_mae:.3f} stops")
    out = {
        **model.to_dict(),
        "threshold": threshold,
        "source": (
            f"tools/train_ev_estimator.py --short-side {args.short_side} --camera {args.camera} "
            f"--hidden {args.hidden} --l2 {args.l2} --pair-weight {args.pair_weight} "
            f"--steps {args.steps} --seed {args.seed}"
        ),
    }
    args.output.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {args.output} ({args.output.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
