"""Exposure statistics of one photo, and the verdict ``prep filter`` draws from them.

The statistics tell exposure from content:

- **Blown highlights** are light clipped in every channel (white), over connected regions, with
  a clipping spike: many more white pixels at the top code than just below it. A natural
  highlight (snow, a white wall, fog) rolls off over the codes below the top; clipped light
  piles up at the top. A saturated colour (a red petal, a blue sky) reaches the top code in one
  or two channels only and is not counted.
- **Clipped light** is a pixel with a channel at the top code whose every channel is at least
  ``light_level`` (a pale pixel, not a saturated colour), counted when it piles up at the top:
  many times more such pixels at the top code than at the code just below it. Light clipped by
  the sensor, or by overexposure in linear light, jumps to the top code from a smooth density
  below it; a natural highlight, or a camera's highlight roll-off, fills the last codes about
  evenly, so its ratio stays near the two-to-one of two top codes against one.
- **No highlights**: the brightest 0.1 % of the pixels stay well below the top in every channel.
  A photo darkened by 1.5 stops cannot go above ``0.5 ** (1.5 / 2.2) = 0.62``; a low-key photo
  that keeps a highlight somewhere passes.
- **Stops**: ``exposure_core.ev_estimate`` reads the exposure error in stops from the whole
  tonal distribution. A camera's exposure error leaves none of the fingerprints above (its tone
  curve rolls highlights off instead of clipping them, and an underexposed render keeps a few
  lamps or sky), so a photo whose estimate is beyond ``max_stops`` either way is rejected too.

Every function is pure and takes ``float32`` ``(H, W, 3)`` gamma-encoded RGB in [0, 1].
Levels are compared as 8-bit codes (``round(x * 255)``) whatever the source bit depth, so a
16-bit photo and its 8-bit copy give the same statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import cv2
import numpy as np

from exposure_core.ev_estimate import MAX_EV, code_counts, count_percentiles, ev_estimate
from exposure_core.exposure import LUMA_WEIGHTS, channel_extremes, check_rgb
from exposure_core.percentiles import float_percentiles
from exposure_core.schema import AtLeast, Between, check_fields

Level = Annotated[float, Between(0.0, 1.0)]  # a fraction of pixels or a level in [0, 1]

TOP_CODE = 254  # a channel at the top code (one code of tolerance for rounding)
WHITE_CODE = 250  # every channel at least this: white
NEAR_CODE = 230  # codes NEAR_CODE..TOP_CODE-1 hold a white highlight's natural roll-off
CRUSHED_CODE = 2  # the brightest channel at most this: crushed to black
_EPS = 1e-4  # floor of a fraction in a ratio (about 100 pixels of a 1 MP photo)


@dataclass(frozen=True)
class FilterThresholds:
    """Thresholds that decide whether a clean photo is well exposed (docs/stages.md: "filter").

    Tuned on the calibration half of the real-photo corpus (``tools/real_photos.py``).
    """

    analysis_side: Annotated[int, AtLeast(16)] = 1024  # stats on every k-th pixel: long side ~
    min_highlight: Level = 0.65  # brightest 0.1 % of pixels below this: no highlights
    shadow_level: Level = 0.10  # luma below this is deep shadow (named in the reason)
    max_blown: Level = 0.01  # fraction of pixels in blown (white, clipped) regions
    min_blown_region: Level = 0.0005  # a white region counts from this fraction of the image
    min_blown_spike: Annotated[float, AtLeast(0)] = 1.0  # white at the top code / 24 codes below
    light_level: Level = 0.45  # a clipped pixel is light, not colour, if every channel >= this
    max_clipped_light: Level = 0.002  # with a spike above min_clipped_spike: clipped highlights
    min_clipped_spike: Annotated[float, AtLeast(0)] = 24.0  # top code / the codes just below
    rolloff_codes: Annotated[int, Between(1, 64)] = 1  # codes below the top the spike uses
    max_p05: Level = 0.76  # 5th percentile luma above this: no shadows, washed out
    # |ev_estimate| above this many stops: under- or overexposed (MAX_EV: the rule is off)
    max_stops: Annotated[float, Between(0.0, MAX_EV)] = MAX_EV  # off by default: see below

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class ExposureStats:
    """Exposure statistics of one image (fractions of pixels, levels in [0, 1]).

    Luma levels are of the gamma-encoded ``Y' = 0.2126 R' + 0.7152 G' + 0.0722 B'``.
    """

    highlight: float  # 99.9th percentile of each pixel's brightest channel
    blown: float  # pixels in connected white regions (every channel clipped) of min_region+
    blown_spike: float  # white pixels at the top code / those in the codes just below
    clipped_light: float  # a channel at the top code and every channel >= light_level
    clipped_spike: float  # clipped_light / light pixels whose brightest channel is just below,
    # in the rolloff_codes codes under the top code
    clipped_any: float  # a channel at the top code, saturated colours included (reported)
    shadows: float  # luma below shadow_level
    crushed: float  # the brightest channel at most 2/255
    mean: float
    median: float
    p01: float
    p05: float
    p95: float
    p99: float


def code_indices(image: np.ndarray) -> np.ndarray:
    """``float32 (H, W, 3)`` in [0, 1] -> ``int16 (H, W, 3)`` 8-bit code indices, rounded.

    Histogram bins for the statistics, not an image: files are decoded by ``imageio`` alone.
    """
    check_rgb(image)
    return _codes_of_clipped(np.clip(image, 0.0, 1.0)).astype(np.int16)


def _codes_of_clipped(clipped: np.ndarray) -> np.ndarray:
    """float32 values in [0, 1] -> uint8 code indices ``round(x * 255)`` (``code_indices``)."""
    return (clipped * np.float32(255) + np.float32(0.5)).astype(np.uint8)


def region_fraction(mask: np.ndarray, min_region: float) -> float:
    """Fraction of the image covered by 8-connected regions of ``mask`` of ``min_region``+.

    Args:
        mask: bool ``(H, W)``.
        min_region: smallest region counted, as a fraction of the image (0 counts all).
    Returns:
        A fraction in [0, 1].
    """
    if mask.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {mask.shape}")
    if not mask.any():
        return 0.0
    # the labels alone, and each region's area counted over the mask's pixels: the areas of
    # connectedComponentsWithStats, without its boxes and centroids (about 4x faster)
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    areas = np.bincount(labels[mask], minlength=count)[1:]
    return float(areas[areas >= min_region * mask.size].sum() / mask.size)


def _ratio(top: float, near: float) -> float:
    return top / max(near, _EPS)


def exposure_stats(
    image: np.ndarray,
    min_region: float = 0.0005,
    light_level: float = 0.45,
    shadow_level: float = 0.10,
    rolloff_codes: int = 1,
) -> ExposureStats:
    """Statistics that ``judge`` decides on.

    Args:
        image: float32 ``(H, W, 3)`` gamma-encoded RGB in [0, 1].
        min_region: smallest white region that counts as blown, as a fraction of the image.
        light_level: a clipped pixel is clipped light when every channel is at least this.
        shadow_level: luma below this is deep shadow.
        rolloff_codes: the clipping spike of clipped light compares the top code with this
            many codes just below it (>= 1).
    Returns:
        An ``ExposureStats``.
    """
    if rolloff_codes < 1:
        raise ValueError(f"rolloff_codes must be >= 1, got {rolloff_codes}")
    check_rgb(image)
    clipped = np.clip(image, 0.0, 1.0)
    top, low = channel_extremes(_codes_of_clipped(clipped))
    size = top.size
    top_hist = code_counts(top)
    low_hist = code_counts(low) / size
    # clipped and near-clipped light need both extremes: only pixels near the top qualify
    near = top >= TOP_CODE - rolloff_codes
    near_top, near_low = top[near], low[near]
    light = near_low >= light_level * 255
    at_top = near_top >= TOP_CODE
    clipped_light = float(np.count_nonzero(at_top & light)) / size
    near_light = float(np.count_nonzero(~at_top & light)) / size
    blown = region_fraction(low >= WHITE_CODE, min_region) if low_hist[WHITE_CODE:].any() else 0.0

    luma = clipped @ LUMA_WEIGHTS
    mean = float(luma.mean())
    shadows = float(np.count_nonzero(luma < shadow_level)) / size
    p01, p05, p50, p95, p99 = float_percentiles(luma.ravel(), (1, 5, 50, 95, 99))
    return ExposureStats(
        highlight=float(count_percentiles(top_hist, (99.9,))[0]) / 255,
        blown=blown,
        blown_spike=_ratio(float(low_hist[255]), float(low_hist[NEAR_CODE:255].sum())),
        clipped_light=clipped_light,
        clipped_spike=_ratio(clipped_light, near_light),
        clipped_any=float(top_hist[TOP_CODE:].sum()) / size,
        shadows=shadows,
        crushed=float(top_hist[: CRUSHED_CODE + 1].sum()) / size,
        mean=mean,
        median=float(p50),
        p01=float(p01),
        p05=float(p05),
        p95=float(p95),
        p99=float(p99),
    )


def analysis_sample(image: np.ndarray, side: int) -> np.ndarray:
    """Every k-th pixel of ``(H, W, 3)`` ``image`` so that its long side is about ``side``.

    Striding keeps exact code values (no averaging): the statistics see the photo's own codes.
    """
    step = max(1, -(-max(image.shape[:2]) // side))
    return np.ascontiguousarray(image[::step, ::step])


def photo_stats(image: np.ndarray, p: FilterThresholds) -> ExposureStats:
    """``exposure_stats`` with the levels of ``prep filter``'s thresholds ``p``."""
    return exposure_stats(image, p.min_blown_region, p.light_level, p.shadow_level, p.rolloff_codes)


def judge(stats: ExposureStats, p: FilterThresholds, ev: float | None = None) -> tuple[bool, str]:
    """Decide whether a photo is well exposed; the reason names the test and its figures.

    Tests, in order: no highlights (underexposed); blown regions with a clipping spike;
    clipped light with a spike; no shadows (washed out); then, when the photo's ``ev``
    (``ev_estimate``, stops) is given, an estimate beyond ``max_stops`` either way.
    A high-key or low-key photo that keeps a highlight and a shadow passes the statistics.
    """
    if stats.highlight < p.min_highlight:
        shadows = f", {stats.shadows:.0%} in deep shadow" if stats.shadows >= 0.05 else ""
        return False, (
            f"underexposed: no highlights (brightest 0.1% of pixels at {stats.highlight:.2f} "
            f"< {p.min_highlight:.2f}){shadows}"
        )
    if stats.blown > p.max_blown and stats.blown_spike > p.min_blown_spike:
        return False, (
            f"overexposed: {stats.blown:.1%} of pixels in blown white regions > "
            f"{p.max_blown:.1%} (clipping spike {stats.blown_spike:.1f})"
        )
    if stats.clipped_light > p.max_clipped_light and stats.clipped_spike > p.min_clipped_spike:
        return False, (
            f"overexposed: clipped highlights, {stats.clipped_light:.1%} of pixels "
            f"(clipping spike {stats.clipped_spike:.1f} > {p.min_clipped_spike:g})"
        )
    if stats.p05 > p.max_p05:
        return (
            False,
            f"washed out: no shadows (5th percentile luma {stats.p05:.2f} > {p.max_p05:.2f})",
        )
    if ev is not None and abs(ev) > p.max_stops:
        word = "underexposed" if ev < 0 else "overexposed"
        return False, (
            f"{word}: about {ev:+.1f} stops (ev_estimate {ev:+.2f}, beyond "
            f"{p.max_stops:g} either way)"
        )
    return True, "well exposed"


@dataclass(frozen=True)
class Assessment:
    """What ``prep filter`` (and the enhancer's gate) conclude about one photo."""

    keep: bool
    reason: str
    stats: ExposureStats
    ev_estimate: float  # stops, negative: under (exposure_core.ev_estimate)


def assess(sample: np.ndarray, p: FilterThresholds) -> Assessment:
    """The statistics, the estimate in stops and the verdict of one photo.

    Args:
        sample: float32 ``(H, W, 3)`` gamma-encoded RGB in [0, 1]: the photo's
            ``analysis_sample`` at ``p.analysis_side`` (both the filter and the gate pass it).
        p: the filter's thresholds.
    """
    stats = photo_stats(sample, p)
    ev = ev_estimate(sample)
    keep, reason = judge(stats, p, ev)
    return Assessment(keep, reason, stats, ev)


def verdict(sample: np.ndarray, p: FilterThresholds) -> tuple[bool, str]:
    """``assess``'s ``(keep, reason)`` alone: the estimate in stops is computed only where the
    stops rule can fire (``max_stops`` below the estimate's bound), as for the enhancer's gate,
    which records no estimate."""
    ev = ev_estimate(sample) if p.max_stops < MAX_EV else None
    return judge(photo_stats(sample, p), p, ev)
