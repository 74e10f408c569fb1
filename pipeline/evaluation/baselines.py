"""Non-learned exposure-correction baselines (numpy + OpenCV only).

Every function takes and returns float32 ``(H, W, 3)`` RGB in [0, 1], sRGB/gamma-encoded.
*Blind* baselines see only the image. *Oracles* also need the degradation's
parameter (tau or EV) that only a synthetic pair knows: they bound what inverting
the tone change alone can achieve (seed 002, section 3.6) and are labelled as such.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from exposure_core import camera as camera_kind
from exposure_core import imageio, stops_correction
from exposure_core.exposure import (
    DEFAULT_GAMMA,
    Curve,
    check_rgb,
    gamma_decode,
    gamma_encode,
    inverse_overexpose,
    luminance,
    shift_ev,
)
from pipeline.evaluation import methods

# Below this mean linear luminance an image is treated as black: no gain is defined.
_BLACK_MEAN_LIN = 1e-6


def _to_levels(channel: np.ndarray, top: float) -> np.ndarray:
    """Float channel on [0, top] -> uint8 levels 0..255 (rounded)."""
    return np.clip(np.rint(channel * (255.0 / top)), 0, 255).astype(np.uint8)


def identity(image: np.ndarray) -> np.ndarray:
    """The uncorrected input (a copy), the floor every method must beat."""
    check_rgb(image)
    return image.copy()


def histogram_equalization(image: np.ndarray) -> np.ndarray:
    """Global histogram equalisation of the luma only; chroma is kept.

    Y, Cr, Cb are BT.601 (OpenCV ``RGB2YCrCb`` on float). Y is quantised to 256
    levels for ``cv2.equalizeHist`` because equalisation is defined on a discrete
    set of levels (a float histogram would have one pixel per value); Cr and Cb keep
    full float precision. The result is clipped to [0, 1].
    """
    check_rgb(image)
    ycrcb = cv2.cvtColor(np.clip(image, 0.0, 1.0), cv2.COLOR_RGB2YCrCb)
    equalised = cv2.equalizeHist(_to_levels(ycrcb[..., 0], 1.0))
    ycrcb[..., 0] = equalised.astype(np.float32) / np.float32(255.0)
    rgb = cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB)
    return np.clip(rgb, 0.0, 1.0).astype(np.float32, copy=False)


def clahe(image: np.ndarray, clip_limit: float = 2.0, tiles: int = 8) -> np.ndarray:
    """OpenCV CLAHE on the L channel of CIELAB (sRGB, D65); a and b are kept.

    L is quantised to 8 bits (256 levels over 0..100) for CLAHE. OpenCV turns
    ``clip_limit`` into a per-bin count with integer truncation, and with 65536 bins
    (16-bit) that count collapses to 1 for any usual tile size, so ``clip_limit``
    would no longer mean what it means in the 8-bit CLAHE everyone quotes. OpenCV's
    float Lab conversion is itself approximate (round trip within about 2e-3 in RGB,
    under one 8-bit level).

    Args:
        image: float32 ``(H, W, 3)`` RGB in [0, 1].
        clip_limit: contrast limit, in multiples of the mean histogram bin count (> 0).
        tiles: the image is split into ``tiles x tiles`` regions (>= 1).
    Returns:
        float32 ``(H, W, 3)`` RGB in [0, 1].
    """
    check_rgb(image)
    if not clip_limit > 0:
        raise ValueError(f"clip_limit must be > 0, got {clip_limit}")
    if int(tiles) != tiles or tiles < 1:
        raise ValueError(f"tiles must be an integer >= 1, got {tiles}")
    lab = cv2.cvtColor(np.clip(image, 0.0, 1.0), cv2.COLOR_RGB2Lab)
    engine = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=(int(tiles), int(tiles)))
    lightness = engine.apply(_to_levels(lab[..., 0], 100.0))
    lab[..., 0] = lightness.astype(np.float32) * np.float32(100.0 / 255.0)
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    return np.clip(rgb, 0.0, 1.0).astype(np.float32, copy=False)


def auto_exposure(
    image: np.ndarray, target_mean_lin: float = 0.18, gamma: float = DEFAULT_GAMMA
) -> np.ndarray:
    """Blind auto-exposure: one gain in linear light so the mean luminance becomes mid grey.

    ``light = pixel ** gamma``; gain = ``target_mean_lin / mean(Rec.709 luminance)``;
    ``pixel' = clip(light * gain) ** (1/gamma)``. Clipping means the reached mean can
    fall short of the target on images with bright areas. An (almost) black image has
    no defined gain and is returned unchanged.

    Args:
        image: float32 ``(H, W, 3)`` gamma-encoded RGB in [0, 1].
        target_mean_lin: wanted mean linear luminance, in (0, 1]; 0.18 is photographic mid grey.
        gamma: power-law exponent (> 0).
    Returns:
        float32 ``(H, W, 3)`` RGB in [0, 1].
    """
    check_rgb(image)
    if not 0.0 < target_mean_lin <= 1.0:
        raise ValueError(f"target_mean_lin must be in (0, 1], got {target_mean_lin}")
    light = gamma_decode(image, gamma)
    mean_lin = float(luminance(light).mean(dtype=np.float64))
    if mean_lin < _BLACK_MEAN_LIN:
        return image.copy()
    gain = np.float32(target_mean_lin / mean_lin)
    return gamma_encode(light * gain, gamma)


def inverse_overexpose_oracle(
    image: np.ndarray, tau: float, gamma: float = DEFAULT_GAMMA, curve: Curve = "gamma"
) -> np.ndarray:
    """ORACLE (needs the true tau): seed 002's inverse transform, ``light = light' * tau``.

    Exact wherever the original light was below tau; clipped areas stay flat.
    """
    check_rgb(image)
    return inverse_overexpose(image, tau, gamma, curve)


def inverse_ev_oracle(
    image: np.ndarray, ev: float, gamma: float = DEFAULT_GAMMA, curve: Curve = "gamma"
) -> np.ndarray:
    """ORACLE (needs the true EV): undo ``shift_ev(original, ev)`` with ``shift_ev(image, -ev)``.

    Exact wherever the shift did not clip (and, for ``ev < 0``, did not round to 0).
    """
    check_rgb(image)
    return shift_ev(image, -ev, gamma, curve)


def stops_reexposure(image: np.ndarray) -> np.ndarray:
    """The photo re-exposed by its estimated error in stops along the fitted camera curve
    (``exposure_core.stops_correction``): the first stage of a ``pre_exposure: stops`` model,
    alone. Blind (it sees only the image), but learned: the estimator is trained on MSEC's
    training renders.

    Args:
        image: float32 ``(H, W, 3)`` gamma-encoded (sRGB) RGB in [0, 1].
    Returns:
        float32 ``(H, W, 3)`` RGB in [0, 1].
    """
    check_rgb(image)
    codes = imageio.float_to_codes(image, 16)
    return stops_correction.correct_float(image, stops_correction.estimate_stops(codes))


Baseline = Callable[[np.ndarray], np.ndarray]

BLIND_BASELINES: dict[str, Baseline] = {
    methods.IDENTITY: identity,
    methods.HE: histogram_equalization,
    methods.CLAHE: clahe,
    methods.AUTO_EXPOSURE: auto_exposure,
    methods.STOPS: stops_reexposure,
}


def oracle(
    image: np.ndarray,
    kind: str,
    tau: float | None,
    ev: float | None,
    gamma: float | None,
    curve: Curve = "gamma",
    camera: dict | None = None,
) -> np.ndarray | None:
    """The oracle inverse for a pairs-manifest row, or None where none applies.

    Args:
        image: float32 ``(H, W, 3)`` degraded input, RGB in [0, 1].
        kind: the row's kind: ``"overexpose"``, ``"ev"``, ``"camera"`` or ``"native"``.
        tau, ev, gamma: the row's synthesis parameters (None when the row has none).
        curve: transfer curve the pair was synthesised with.
        camera: a ``"camera"`` row's curve numbers (``exposure_core.camera.CameraRecipe``
            without ``ev``); its inverse is ``camera.invert_float``.
    Returns:
        The inverted image; None for ``"native"`` rows (real captures have no known
        parameter) or when the parameter the kind needs is missing (gamma too, for
        ``curve="gamma"``; ev and the curve's numbers for ``"camera"``).
    """
    if kind not in ("overexpose", "ev", "camera", "native"):
        raise ValueError(f"kind must be 'overexpose', 'ev', 'camera' or 'native', got {kind!r}")
    if kind == "camera":
        if ev is None or not isinstance(camera, dict):
            return None
        recipe = camera_kind.CameraRecipe.from_dict({**camera, "ev": ev})
        return camera_kind.invert_float(image, recipe)
    if kind == "native" or (gamma is None and curve == "gamma"):
        return None
    # The sRGB curve has no exponent: gamma is unused there.
    exponent = DEFAULT_GAMMA if gamma is None else gamma
    if kind == "overexpose":
        return None if tau is None else inverse_overexpose_oracle(image, tau, exponent, curve)
    return None if ev is None else inverse_ev_oracle(image, ev, exponent, curve)
