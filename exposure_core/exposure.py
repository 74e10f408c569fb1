"""Pure exposure maths on float images: gamma curves, overexposure, EV shifts.

Every function here is pure (no I/O, no global state) and works on
``float32`` arrays holding gamma-encoded RGB in [0, 1] (``H x W x 3``) unless the
name says otherwise. A name ending in ``_lin`` holds linear light.

The same functions also evaluate tone *curves*: called on the 256 (or 65536) code
levels of an integer image, they give the lookup table that ``imageio.apply_curve``
applies, so the lookup-table path and the float path compute the same mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

Curve = Literal["gamma", "srgb"]

CURVES: tuple[str, ...] = get_args(Curve)
DEFAULT_GAMMA = 2.2  # seed 002's power law
# IEC 61966-2-1 (sRGB): linear segment below the knee, offset power law above it.
SRGB_SLOPE = 12.92  # encoded = SRGB_SLOPE * light below SRGB_LINEAR_KNEE
SRGB_OFFSET = 0.055  # encoded = (1 + SRGB_OFFSET) * light ** (1 / SRGB_EXPONENT) - SRGB_OFFSET
SRGB_EXPONENT = 2.4
SRGB_LINEAR_KNEE = 0.0031308  # in linear light
SRGB_ENCODED_KNEE = 0.04045  # the same point, encoded
# Rec. 709 / sRGB luminance weights for linear RGB.
LUMA_WEIGHTS = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def _check_float(image: np.ndarray, name: str = "image") -> None:
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.float32:
        raise ValueError(f"{name} must be float32, got {image.dtype}")


def check_rgb(image: np.ndarray, name: str = "image") -> None:
    """Raise ValueError unless ``image`` is a non-empty float32 ``(H, W, 3)`` numpy array."""
    _check_float(image, name)
    if image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
        raise ValueError(
            f"{name} must be a non-empty float32 (H, W, 3) array, got shape {image.shape}"
        )


def channel_extremes(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(H, W, 3)`` per-channel values -> ``(H, W)`` brightest and darkest channel of each
    pixel: ``codes.max(axis=2)`` and ``codes.min(axis=2)``, by pairwise maxima (the channel
    axis is innermost, which a reduction over it walks slowly: about 20x faster)."""
    red, green, blue = codes[..., 0], codes[..., 1], codes[..., 2]
    return np.maximum(np.maximum(red, green), blue), np.minimum(np.minimum(red, green), blue)


def _check_gamma(gamma: float) -> None:
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")


def gamma_decode(image: np.ndarray, gamma: float = DEFAULT_GAMMA) -> np.ndarray:
    """Pixel values -> linear light with a pure power law (seed 002): ``light = pixel ** gamma``.

    Args:
        image: float32 array of any shape, gamma-encoded values in [0, 1].
        gamma: exponent (> 0); 2.2 by default.
    Returns:
        float32 array of the same shape, linear light in [0, 1].
    """
    _check_float(image)
    _check_gamma(gamma)
    return np.power(np.clip(image, 0.0, 1.0), np.float32(gamma), dtype=np.float32)


def gamma_encode(image_lin: np.ndarray, gamma: float = DEFAULT_GAMMA) -> np.ndarray:
    """Linear light -> pixel values with a pure power law: ``pixel = light ** (1 / gamma)``.

    Args:
        image_lin: float32 array of any shape, linear light in [0, 1] (clipped).
        gamma: exponent (> 0); 2.2 by default.
    Returns:
        float32 array of the same shape, gamma-encoded values in [0, 1].
    """
    _check_float(image_lin, "image_lin")
    _check_gamma(gamma)
    return np.power(np.clip(image_lin, 0.0, 1.0), np.float32(1.0 / gamma), dtype=np.float32)


def srgb_to_linear(image: np.ndarray) -> np.ndarray:
    """sRGB-encoded values -> linear light with the piecewise IEC 61966-2-1 curve.

    Args:
        image: float32 array of any shape, sRGB values in [0, 1].
    Returns:
        float32 array of the same shape, linear light in [0, 1].
    """
    _check_float(image)
    x = np.clip(image, 0.0, 1.0)
    low = x / np.float32(SRGB_SLOPE)
    high = np.power(
        (x + np.float32(SRGB_OFFSET)) / np.float32(1 + SRGB_OFFSET), np.float32(SRGB_EXPONENT)
    )
    return np.where(x <= SRGB_ENCODED_KNEE, low, high).astype(np.float32, copy=False)


def linear_to_srgb(image_lin: np.ndarray) -> np.ndarray:
    """Linear light -> sRGB-encoded values with the piecewise IEC 61966-2-1 curve.

    Args:
        image_lin: float32 array of any shape, linear light in [0, 1] (clipped).
    Returns:
        float32 array of the same shape, sRGB values in [0, 1].
    """
    _check_float(image_lin, "image_lin")
    x = np.clip(image_lin, 0.0, 1.0)
    low = x * np.float32(SRGB_SLOPE)
    high = np.float32(1 + SRGB_OFFSET) * np.power(x, np.float32(1.0 / SRGB_EXPONENT)) - np.float32(
        SRGB_OFFSET
    )
    return np.where(x <= SRGB_LINEAR_KNEE, low, high).astype(np.float32, copy=False)


@dataclass(frozen=True)
class Encoding:
    """How pixel values encode linear light: the synthesis curve, which a trained model keeps.

    ``prep train`` stores it in the generator checkpoint (from ``synthesize.curve`` and
    ``synthesize.gamma``); the generator's gain output and ``prep enhance`` work in the linear
    light it defines. ``gamma`` is the power-law exponent, unused by ``curve="srgb"``.
    """

    curve: Curve = "gamma"
    gamma: float = DEFAULT_GAMMA

    def __post_init__(self) -> None:
        if self.curve not in CURVES:
            raise ValueError(f"curve must be one of {CURVES}, got {self.curve!r}")
        if isinstance(self.gamma, bool) or not isinstance(self.gamma, (int, float)):
            raise ValueError(f"gamma must be a number, got {self.gamma!r}")
        _check_gamma(self.gamma)

    def to_dict(self) -> dict[str, Any]:
        return {"curve": self.curve, "gamma": float(self.gamma)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Encoding:
        """From a stored mapping; ``None`` (files written before the curve was stored) gives
        the default, seed 002's power law with gamma 2.2."""
        if data is None:
            return cls()
        if not isinstance(data, dict) or set(data) - {"curve", "gamma"}:
            raise ValueError(f"encoding must be a mapping of curve and gamma, got {data!r}")
        return cls(**data)


def to_linear(
    image: np.ndarray, gamma: float = DEFAULT_GAMMA, curve: Curve = "gamma"
) -> np.ndarray:
    """Decode with the chosen transfer curve: ``"gamma"`` (power law) or ``"srgb"``."""
    if curve == "gamma":
        return gamma_decode(image, gamma)
    if curve == "srgb":
        return srgb_to_linear(image)
    raise ValueError(f"curve must be 'gamma' or 'srgb', got {curve!r}")


def from_linear(
    image_lin: np.ndarray, gamma: float = DEFAULT_GAMMA, curve: Curve = "gamma"
) -> np.ndarray:
    """Encode with the chosen transfer curve: ``"gamma"`` (power law) or ``"srgb"``."""
    if curve == "gamma":
        return gamma_encode(image_lin, gamma)
    if curve == "srgb":
        return linear_to_srgb(image_lin)
    raise ValueError(f"curve must be 'gamma' or 'srgb', got {curve!r}")


def overexpose(
    image: np.ndarray, tau: float, gamma: float = DEFAULT_GAMMA, curve: Curve = "gamma"
) -> np.ndarray:
    """Simulate overexposure exactly as seed 002: clip linear light at ``tau``, rescale.

    ``light = pixel ** gamma``; ``light' = min(light, tau) / tau``;
    ``pixel' = light' ** (1/gamma)``.

    Args:
        image: float32 array of any shape, gamma-encoded values in [0, 1].
        tau: clipping threshold in linear light, 0 < tau <= 1 (1 leaves the image unchanged).
        gamma: power-law exponent for ``curve="gamma"``.
        curve: ``"gamma"`` (seed 002) or ``"srgb"``.
    Returns:
        float32 array of the same shape in [0, 1].
    """
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"tau must be in (0, 1], got {tau}")
    light = to_linear(image, gamma, curve)
    clipped = np.minimum(light, np.float32(tau)) / np.float32(tau)
    return from_linear(clipped.astype(np.float32, copy=False), gamma, curve)


def inverse_overexpose(
    image: np.ndarray, tau: float, gamma: float = DEFAULT_GAMMA, curve: Curve = "gamma"
) -> np.ndarray:
    """Seed 002's inverse-transform baseline: ``light = light' * tau`` (clipped areas stay lost).

    Args:
        image: float32 array, an overexposed gamma-encoded image in [0, 1].
        tau: the threshold the image was overexposed with (an oracle: it must be known).
    Returns:
        float32 array of the same shape in [0, 1].
    """
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"tau must be in (0, 1], got {tau}")
    light = to_linear(image, gamma, curve)
    return from_linear(light * np.float32(tau), gamma, curve)


def shift_ev(
    image: np.ndarray, ev: float, gamma: float = DEFAULT_GAMMA, curve: Curve = "gamma"
) -> np.ndarray:
    """Change exposure by ``ev`` stops in linear light: ``light * 2**ev``, clipped to [0, 1].

    Args:
        image: float32 array of any shape, gamma-encoded values in [0, 1].
        ev: exposure change in stops (negative darkens).
    Returns:
        float32 array of the same shape in [0, 1].
    """
    light = to_linear(image, gamma, curve)
    return from_linear(light * np.float32(2.0**ev), gamma, curve)


def code_levels(bits: int) -> np.ndarray:
    """The ``2**bits`` code values of an integer image as float32 in [0, 1] (``levels / max``)."""
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    top = (1 << bits) - 1
    return np.arange(top + 1, dtype=np.float32) / np.float32(top)


def luminance(image_lin: np.ndarray) -> np.ndarray:
    """Rec. 709 luminance of linear RGB.

    Args:
        image_lin: float32 ``(H, W, 3)`` linear RGB.
    Returns:
        float32 ``(H, W)`` linear luminance.
    """
    check_rgb(image_lin, "image_lin")
    return image_lin @ LUMA_WEIGHTS
