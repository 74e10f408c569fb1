"""Degraded copies of a photo, as files would hold them: seed 002's overexposure (tau), EV
shifts in gamma space, and camera-like renders at the fitted curve; quantised to 8-bit codes.
Used by ``benchmarks/filter_confusion.py`` and ``tools/choose_max_stops.py``."""

from __future__ import annotations

import numpy as np

from exposure_core import camera, exposure, imageio


def quantise(image: np.ndarray) -> np.ndarray:
    return imageio.codes_to_float(imageio.float_to_codes(image, 8))


def dequantised(image: np.ndarray, seed: int) -> np.ndarray:
    """``image`` (8-bit codes as float32 in [0, 1]) plus uniform noise of half a code."""
    noise = np.random.default_rng(seed).uniform(-0.5, 0.5, image.shape).astype(np.float32)
    return np.clip(image + noise / np.float32(255), 0.0, 1.0)


def degraded(
    image: np.ndarray,
    taus: list[float],
    evs: list[float],
    dither_seed: int | None = None,
    camera_evs: tuple[float, ...] = (),
) -> dict[str, np.ndarray]:
    """The original and its degraded copies, by row name (HWC, RGB, [0,1], float32).

    With ``dither_seed`` the copies are made from ``dequantised(image, dither_seed)``; the
    camera-like copies (``camera_evs``) always from the photo's own 8-bit codes.
    """
    rows = {"original": image}
    source = image if dither_seed is None else dequantised(image, dither_seed)
    for tau in taus:
        rows[f"tau {tau:g}"] = quantise(exposure.overexpose(source, tau))
    for ev in evs:
        rows[f"EV {ev:+g}"] = quantise(exposure.shift_ev(source, ev))
    codes = imageio.float_to_codes(image, 8)
    for ev in camera_evs:
        recipe = camera.fitted_recipe(ev)
        rows[f"camera {ev:+g}"] = imageio.codes_to_float(camera.render_codes(codes, recipe))
    return rows
