"""Camera-like exposure errors: the exposure changed in scene light, before a tone curve.

A raw converter changes exposure in linear light and only then applies its tone curve, so an
overexposed render rolls its highlights off along the curve's shoulder (no pile-up at the top
code) and an underexposed one keeps its brightest highlights near the top. This module renders
that from a finished 8-bit photo, in the manner of "unprocessing" (Brooks et al., "Unprocessing
Images for Learned Raw Denoising", CVPR 2019, who invert a smoothstep tone curve and a gamma):
the photo is taken back to scene light through an assumed camera curve, scaled by ``2**ev``
and rendered again through the curve.

**The curve family** (a log-logistic, or Naka-Rushton, curve with a power-law encoding)::

    y = C(l) = (l**n / (1 + l**n)) ** (1 / g)        l >= 0 scene light, y in [0, 1)

``n`` (``slope``) is the contrast in log exposure (it sets the toe and the shoulder together),
``g`` (``gamma``) the encoding exponent. The curve has a toe (``y ~ l**(n/g)`` in the shadows)
and a shoulder that approaches 1 without reaching it, so no finite light clips. Scene light is
in units of the curve's midpoint (``l = 1`` renders to ``0.5 ** (1/g)``, code 195 for g = 2.6).

**An exposure error** at ``ev`` stops, with an optional ``contrast`` factor ``c`` and
``saturation`` factor ``s``; with ``D = y**g`` (so ``l**n = D / (1 - D)``)::

    logit(D') = c * (logit(D) + n * ev * ln 2)        y' = D' ** (1 / g)
    y'' = Y' + s * (y' - Y')                          Y' = Rec. 709 luma of y' (gamma-encoded)

i.e. ``y' = C_c(2**ev * C^-1(y))`` where ``C_c`` is the curve with slope ``n * c``. The same
curve undoes and renders (one camera took the photo and renders the error), so ``ev = 0``,
``c = 1``, ``s = 1`` gives back the input exactly, for every curve. Code 0 is read as black
(``l = 0``, it stays black) and code 255 as ``TOP_LEVEL`` (254.75 / 255): a clipped pixel is
taken at a light that renders inside the top code (not at infinite light), so an underexposed
render pulls it a little below the top, as a camera render of the raw file's headroom does.

Fitted on MSEC training (``tools/fit_camera_curve.py``, ``camera_ranges.json``): one curve for
all scenes, n = 1.8 and g = 2.6; per scene, n 1.43..2.02 and g 1.66..3.20 (5th-95th
percentiles) with the toe exponent n / g within 0.64..0.87.

Everything but ``saturation`` acts per channel on each value alone, so on 8-bit codes it runs
as one 256-entry lookup table (``recipe_curve``), exact and deterministic. A ``CameraRecipe``
(ev, slope, gamma, contrast, saturation, quality) fully determines the output.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import numpy as np

from exposure_core import imageio
from exposure_core.exposure import LUMA_WEIGHTS, check_rgb, code_levels
from exposure_core.schema import Between, ConfigError, check_fields

TOP_LEVEL = 254.75 / 255.0  # what code 255 is read as: inside the top code's rounding interval
RANGES_FILE = Path(__file__).with_name("camera_ranges.json")
_LN2 = float(np.log(2.0))
# A RAW file's sensor white in the curve's scene light: with the fitted curve, linear 0.18
# renders to about code 130 (the sRGB curve gives code 118) and the white to code 255.
RAW_WHITE = 2.0


@dataclass(frozen=True)
class CameraRecipe:
    """The numbers that fully determine one camera-like exposure error.

    ``ev``: exposure change in stops (negative darkens). ``slope`` (n) and ``gamma`` (g): the
    camera curve ``C(l) = (l**n / (1 + l**n)) ** (1/g)``. ``contrast``: the render curve's slope
    is ``n * contrast`` (1 keeps it). ``saturation``: chroma factor about the luma (1 keeps it).
    ``quality``: JPEG quality of a re-encode, or ``None`` for none.
    """

    ev: Annotated[float, Between(-4.0, 4.0)] = 0.0
    slope: Annotated[float, Between(0.5, 4.0)] = 1.8
    gamma: Annotated[float, Between(1.0, 4.0)] = 2.6
    contrast: Annotated[float, Between(0.5, 2.0)] = 1.0
    saturation: Annotated[float, Between(0.0, 2.0)] = 1.0
    quality: int | None = None

    def __post_init__(self) -> None:
        check_fields(self)
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise ConfigError("quality", f"must be in [1, 100] or null, got {self.quality!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CameraRecipe:
        """From a stored mapping; an unknown key is a ``ConfigError`` naming it."""
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(unknown[0], "not a camera recipe parameter")
        return cls(**data)


def camera_curve(light: np.ndarray, slope: float, gamma: float) -> np.ndarray:
    """The camera curve ``C(l) = (l**n / (1 + l**n)) ** (1/g)``.

    Args:
        light: float array of any shape, scene light >= 0 (1 = the curve's midpoint).
    Returns:
        float64 array of the same shape, encoded values in [0, 1) (no clipping: a shoulder).
    """
    CameraRecipe(slope=slope, gamma=gamma)  # range checks, one ConfigError naming the field
    ln = np.power(np.maximum(np.asarray(light, np.float64), 0.0), slope)
    return np.power(ln / (1.0 + ln), 1.0 / gamma)


def inverse_camera_curve(encoded: np.ndarray, slope: float, gamma: float) -> np.ndarray:
    """Scene light from encoded values: ``l = (D / (1 - D)) ** (1/n)``, ``D = y**g``.

    Args:
        encoded: float array of any shape in [0, 1]; 1 is read as ``TOP_LEVEL`` (finite light).
    Returns:
        float64 array of the same shape, scene light >= 0.
    """
    CameraRecipe(slope=slope, gamma=gamma)
    d = np.power(np.clip(np.asarray(encoded, np.float64), 0.0, TOP_LEVEL), gamma)
    return np.power(d / (1.0 - d), 1.0 / slope)


def _tone(encoded: np.ndarray, recipe: CameraRecipe) -> np.ndarray:
    """The per-channel part of ``recipe`` (ev, curve, contrast) on encoded values, float64."""
    return _logit_map(encoded, recipe.gamma, recipe.contrast, recipe.slope * recipe.ev * _LN2)


def _logit_map(encoded: np.ndarray, gamma: float, factor: float, offset: float) -> np.ndarray:
    """``logit(D') = factor * (logit(D) + offset)`` with ``D = y**gamma``, ``y' = D'**(1/g)``.

    Works in the logit of ``D``: the exposure is an offset there and the contrast a factor,
    which is exact and avoids overflowing ``l**n`` for large ``ev``. Black stays black.
    """
    y = np.clip(np.asarray(encoded, np.float64), 0.0, TOP_LEVEL)
    d = np.power(y, gamma)
    black = d <= 0.0
    with np.errstate(divide="ignore"):
        z = np.log(np.where(black, 1.0, d)) - np.log1p(-d)
    z = factor * (z + offset)
    d_out = 0.5 + 0.5 * np.tanh(0.5 * z)  # the logistic function, without overflow
    return np.where(black, 0.0, np.power(d_out, 1.0 / gamma))


def invert_float(image: np.ndarray, recipe: CameraRecipe) -> np.ndarray:
    """The inverse of ``render_float`` with the recipe known (the evaluation's oracle).

    Undoes the saturation change (``y' = Y'' + (y'' - Y'') / s``; none when ``s`` is 0), then
    ``logit(D) = logit(D') / c - n * ev * ln 2``. Exact up to quantisation, clipping and the
    JPEG re-encode, which it cannot undo.

    Args:
        image: float32 ``(H, W, 3)`` gamma-encoded RGB in [0, 1] (a rendered variant).
    Returns:
        float32 ``(H, W, 3)`` gamma-encoded RGB in [0, 1].
    """
    check_rgb(image)
    y = np.asarray(image, np.float64)
    if recipe.saturation not in (0.0, 1.0):
        y = _saturate(y, 1.0 / recipe.saturation)
    offset = -recipe.contrast * recipe.slope * recipe.ev * _LN2
    return _logit_map(y, recipe.gamma, 1.0 / recipe.contrast, offset).astype(np.float32)


def recipe_curve(recipe: CameraRecipe, bits: int = 8) -> np.ndarray:
    """The per-channel tone curve of ``recipe`` on the ``2**bits`` code levels.

    Returns:
        float32 ``(2**bits,)`` values in [0, 1], for ``imageio.apply_curve`` (a lookup table).
    """
    return _tone(code_levels(bits), recipe).astype(np.float32)


def _saturate(image: np.ndarray, saturation: float) -> np.ndarray:
    if saturation == 1.0:
        return image
    luma = (image @ LUMA_WEIGHTS.astype(np.float64))[..., None]
    return np.clip(luma + saturation * (image - luma), 0.0, 1.0)


def render_float(image: np.ndarray, recipe: CameraRecipe) -> np.ndarray:
    """Render ``recipe``'s exposure error on a float photo (no quantisation, no JPEG).

    Args:
        image: float32 ``(H, W, 3)`` gamma-encoded RGB in [0, 1] (a finished photo).
    Returns:
        float32 ``(H, W, 3)`` gamma-encoded RGB in [0, 1].
    """
    check_rgb(image)
    out = _saturate(_tone(image, recipe), recipe.saturation)
    return out.astype(np.float32)


def render_codes(codes: imageio.Codes, recipe: CameraRecipe) -> imageio.Codes:
    """Render ``recipe`` on integer codes: a lookup table per channel, then the saturation
    change (if any), 8-bit quantisation and the JPEG re-encode (if ``recipe.quality``).

    Args:
        codes: an 8- or 16-bit sRGB image.
    Returns:
        8-bit ``Codes`` of the same size; the same recipe and input give the same bytes.
    """
    toned = imageio.apply_curve(codes, recipe_curve(recipe, codes.bits))
    if recipe.saturation != 1.0 or toned.bits != 8:
        image = imageio.codes_to_float(toned)
        toned = imageio.float_to_codes(_saturate(image, recipe.saturation).astype(np.float32))
    if recipe.quality is not None:
        toned = jpeg_roundtrip(toned, recipe.quality)
    return toned


def jpeg_roundtrip(codes: imageio.Codes, quality: int) -> imageio.Codes:
    """Encode as a baseline JPEG at ``quality`` (1..100) and decode again (libjpeg, OpenCV)."""
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ConfigError("quality", f"must be an integer in [1, 100], got {quality!r}")
    return imageio.decode_codes(imageio.encode(codes, ".jpg", quality=quality), "<jpeg>")


# --- parameter ranges, fitted on MSEC training (tools/fit_camera_curve.py) ---------------------


@cache
def fitted_ranges() -> dict[str, Any]:
    """The committed fit: ``{"fitted": {slope, gamma}, "ranges": {name: [low, high]}, ...}``."""
    return json.loads(RANGES_FILE.read_text())


def fitted_recipe(ev: float) -> CameraRecipe:
    """The camera kind at the fitted curve (the one that best fits MSEC training)."""
    fit = fitted_ranges()["fitted"]
    return CameraRecipe(ev=ev, slope=fit["slope"], gamma=fit["gamma"])


def draw_recipe(
    rng: np.random.Generator,
    ev_range: tuple[float, float] = (-2.0, 2.0),
    min_abs_ev: float = 0.0,
    quality_range: tuple[int, int] | None = None,
    ranges: dict[str, list[float]] | None = None,
) -> CameraRecipe:
    """Draw a recipe: ``ev`` uniform in ``ev_range`` (redrawn while ``|ev| < min_abs_ev``),
    ``gamma``, the toe exponent ``slope / gamma``, ``contrast`` and ``saturation`` each uniform
    in its fitted range (``camera_ranges.json``, or ``ranges``; slope and gamma of real cameras
    move together, so the toe is drawn rather than the slope), the JPEG quality uniform in
    ``quality_range`` (none when ``None``).

    The draws happen in a fixed order (ev, gamma, toe, contrast, saturation, quality), so one
    seed gives one recipe.
    """
    lo, hi = ev_range
    if not lo <= hi:
        raise ValueError(f"ev_range must be (low, high) with low <= high, got {ev_range}")
    if min_abs_ev > max(abs(lo), abs(hi)):
        raise ValueError(f"min_abs_ev {min_abs_ev} leaves nothing in ev_range {ev_range}")
    box = ranges if ranges is not None else fitted_ranges()["ranges"]
    ev = float(rng.uniform(lo, hi))
    while abs(ev) < min_abs_ev:
        ev = float(rng.uniform(lo, hi))
    gamma = float(rng.uniform(*box["gamma"]))
    slope = gamma * float(rng.uniform(*box["toe"]))
    contrast = float(rng.uniform(*box["contrast"]))
    saturation = float(rng.uniform(*box["saturation"]))
    quality = None
    if quality_range is not None:
        quality = int(rng.integers(quality_range[0], quality_range[1] + 1))
    return CameraRecipe(ev, slope, gamma, contrast, saturation, quality)


# --- from RAW files ----------------------------------------------------------------------------


def render_raw_camera(
    path: str | Path,
    recipe: CameraRecipe,
    preserve_highlights: float = 1.0,
    white: float = RAW_WHITE,
) -> imageio.Codes:
    """Render a RAW file at ``recipe.ev`` with LibRaw's own exposure shift and the curve family.

    LibRaw develops the sensor data to linear sRGB (camera white balance, no auto-brightening,
    16 bit) with ``exp_shift = 2**ev`` (valid for -2..+3 EV) and ``exp_preserve_highlights =
    preserve_highlights`` (0..1; 1 rolls off what the shift would push past the sensor's white).
    Its linear output ``v`` in [0, 1] is rendered with the curve family pinned so the sensor's
    white renders to 1 (as a raw converter's curve does), ``white`` being the sensor's white in
    the curve's scene light (``l = white * v``)::

        y = (D(white * v) / D(white)) ** (1 / g)        D(l) = l**m / (1 + l**m),  m = n * c

    then saturation, 8-bit quantisation and the optional JPEG re-encode, as ``render_codes``.

    Raises:
        imageio.ImageError: (a ``UserError``) naming the file when rawpy cannot read it.
        ConfigError: an ev outside -2..+3, ``preserve_highlights`` outside [0, 1] or a
            ``white`` <= 0, naming the parameter.
    """
    import rawpy  # imported lazily: only RAW inputs need it

    path = Path(path)
    if not -2.0 <= recipe.ev <= 3.0:
        raise ConfigError("ev", f"a RAW exposure shift must be within [-2, 3], got {recipe.ev}")
    if not 0.0 <= preserve_highlights <= 1.0:
        raise ConfigError("preserve_highlights", f"must be in [0, 1], got {preserve_highlights}")
    if not white > 0.0:
        raise ConfigError("white", f"must be > 0, got {white}")
    if not path.is_file():
        raise imageio.ImageError(path, "no such file")
    try:
        with rawpy.imread(str(path)) as raw:
            rgb = raw.postprocess(
                use_camera_wb=True,
                no_auto_bright=True,
                exp_shift=float(2.0**recipe.ev),
                exp_preserve_highlights=float(preserve_highlights),
                output_bps=16,
                gamma=(1.0, 1.0),  # linear output: the curve comes next
                output_color=rawpy.ColorSpace.sRGB,
                user_flip=None,
            )
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raise imageio.ImageError(
            path, f"not a readable RAW file ({type(exc).__name__}: {exc})"
        ) from exc
    slope = recipe.slope * recipe.contrast
    d_white = float(camera_curve(np.array(white), slope, recipe.gamma)) ** recipe.gamma
    d = camera_curve(rgb.astype(np.float64) * (white / 65535.0), slope, recipe.gamma)
    encoded = np.power(d**recipe.gamma / d_white, 1.0 / recipe.gamma)
    image = _saturate(np.clip(encoded, 0.0, 1.0), recipe.saturation)
    codes = imageio.float_to_codes(image.astype(np.float32))
    return codes if recipe.quality is None else jpeg_roundtrip(codes, recipe.quality)
