"""Estimate a photo's exposure error in stops (negative: underexposed, positive: over).

``ev_estimate(image)`` reads exposure statistics of the photo (``features``: the luma histogram
in log2 light, its percentiles and mean, the brightest and darkest channels' percentiles,
clipping fractions of any and of all channels, the top-code spike, shoulder and toe fractions)
and maps them with a small model, a one-hidden-layer tanh network whose weights ship as
``ev_estimator.json`` (``tools/train_ev_estimator.py`` trains it, deterministically, on MSEC
training renders labelled with their EV, the EV 0 render as 0, plus camera-like, ``ev``-kind
and tau-clip copies of the EV 0 renders). Estimates are clipped to ``[-MAX_EV, MAX_EV]``.

The photo is first block-averaged to a short side of about ``WORK_SIDE`` pixels, so the
statistics, and the estimate, hardly depend on its resolution.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from exposure_core.exposure import LUMA_WEIGHTS, channel_extremes, check_rgb, srgb_to_linear
from exposure_core.percentiles import float_percentiles

MODEL_FILE = Path(__file__).with_name("ev_estimator.json")
WORK_SIDE = 224  # short side the statistics are read at (block average)
MAX_EV = 4.0
LOG2_FLOOR = -12.0  # log2 light of black: about code 1 of an sRGB image
HIST_EDGES = np.arange(-12.0, 0.01, 1.0)  # 12 one-stop bins of log2 luma light
PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)
# Percentiles of the brightest, middle and darkest channel, read in the camera curve's logit
# (``logit(y ** LOGIT_GAMMA)``, exposure_core.camera): a camera's exposure change moves each of
# them by the same amount, in proportion to the stops, whatever the photo shows.
LOGIT_GAMMA = 2.6
CHANNEL_PERCENTILES = {"max": (50, 90, 99), "mid": (5, 10, 25, 50, 75, 90, 95), "min": (10, 50)}
HIGH_PERCENTILES = (90.0, 99.0, 99.9)
_BAND_BYTES = 1 << 20  # float64 scratch of ``_mean_of_blocks``: a band of block rows at a time


def _block_mean(image: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    """Average ``k x k`` blocks, ``k = short side // side`` (no change when ``k`` < 2)."""
    k = min(image.shape[:2]) // side
    if k < 2:
        return image
    return _mean_of_blocks(image, k).astype(np.float32)


def _mean_of_blocks(image: np.ndarray, k: int) -> np.ndarray:
    """Mean of each ``k x k`` block in float64, bit for bit numpy's.

    Args:
        image: float32 ``(H, W, 3)``, any values; ``k`` >= 1.
    Returns:
        float64 ``(H // k, W // k, 3)``: ``blocks.mean(axis=(1, 3), dtype=np.float64)`` of the
        image cut to whole blocks. numpy adds a C-contiguous image's block to 0.0 row by row,
        left to right, and divides by ``k * k``. Here a band of block rows is copied to
        float64 with each offset ``(i, j)`` in a block contiguous, and the ``k * k`` offsets
        are added in that order: the same sums, without numpy's strided reduction over runs
        of 3 values (several times faster). Other layouts take numpy's reduction itself.
    """
    h, w = image.shape[0] // k, image.shape[1] // k
    blocks = image[: h * k, : w * k].reshape(h, k, w, k, 3)
    if not image.flags.c_contiguous:  # numpy may order such a reduction otherwise
        return blocks.mean(axis=(1, 3), dtype=np.float64)
    sums = np.zeros((h, w, 3))
    rows = max(1, _BAND_BYTES // (k * k * w * 3 * 8))
    scratch = np.empty((k, k, min(rows, h), w, 3))
    for top in range(0, h, rows):
        band = blocks[top : top + rows]
        offsets = scratch[:, :, : band.shape[0]]
        np.copyto(offsets, band.transpose(1, 3, 0, 2, 4))
        acc = sums[top : top + band.shape[0]]
        for i in range(k):
            for j in range(k):
                acc += offsets[i, j]
    sums /= k * k
    return sums


def _codes(image: np.ndarray) -> np.ndarray:
    """float32 ``(H, W, 3)`` -> uint8 8-bit codes ``floor(clip(x, 0, 1) * 255 + 0.5)``.

    In float32 arithmetic; the sum lies in [0.5, 255.5], so truncating it to uint8 floors it.
    """
    scaled = np.clip(image, 0.0, 1.0)
    scaled *= 255.0
    scaled += 0.5
    return scaled.astype(np.uint8)


def code_counts(codes: np.ndarray) -> np.ndarray:
    """int64 ``(256,)`` histogram of uint8 ``codes`` (any shape).

    OpenCV's histogram (about 3x faster than ``np.bincount``, which widens the codes to
    int64 first) counts in float32, exact below ``2 ** 24`` codes.
    """
    if codes.size >= 1 << 24:
        return np.bincount(codes.ravel(), minlength=256)
    flat = np.ascontiguousarray(codes).reshape(-1, 1)
    return cv2.calcHist([flat], [0], None, [256], [0, 256]).ravel().astype(np.int64)


def count_percentiles(counts: np.ndarray, ps: tuple[float, ...]) -> np.ndarray:
    """``np.percentile(values, ps)`` of integer values given by their histogram, bit for bit.

    Args:
        counts: ``(V,)`` non-negative integers, ``counts[v]`` values equal to ``v``; not all 0.
        ps: percentiles in [0, 100].
    Returns:
        float64 ``(len(ps),)``. numpy's default ('linear') method: the order statistics at
        ``floor(t)`` and ``floor(t) + 1`` for ``t = (n - 1) * p / 100`` (both the last one
        where ``t >= n - 1``), read here from the cumulative counts, and numpy's ``_lerp`` of
        them with weight ``t - floor(t)`` (which interpolates down from the upper value where
        the weight is >= 0.5).
    """
    n = int(counts.sum())
    virtual = (n - 1) * np.true_divide(np.asarray(ps), 100)
    below = np.floor(virtual)
    gamma = virtual - below
    last = virtual >= n - 1
    cumulative = np.cumsum(counts)
    lower, upper = (
        np.searchsorted(cumulative, np.where(last, n - 1, i).astype(np.intp), side="right")
        for i in (below, below + 1)
    )
    a, b = lower.astype(np.float64), upper.astype(np.float64)
    diff = b - a
    return np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)


@cache
def _code_tables() -> tuple[np.ndarray, np.ndarray]:
    """``(256, 1, 3)`` float32 tables for ``cv2.LUT``: each 8-bit code's value ``code / 255``
    (as a decoded 8-bit file holds it) and that value's ``srgb_to_linear``."""
    levels = np.arange(256, dtype=np.float32) / np.float32(255)

    def table(values: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.broadcast_to(values[:, None, None], (256, 1, 3)))

    return table(levels), table(srgb_to_linear(levels))


def _linear_light(image: np.ndarray, codes: np.ndarray | None) -> np.ndarray:
    """``srgb_to_linear(image)``; read from a table when ``image`` is exactly an 8-bit image.

    Args:
        image: float32 ``(H, W, 3)``.
        codes: ``_codes(image)``, or None to compute the curve.
    Returns:
        float32 ``(H, W, 3)``, the same values: the curve is elementwise, so where every value
        is ``code / 255`` its table of the 256 codes gives them, without the power function
        (about 4x faster with the check).
    """
    if codes is not None and image.flags.c_contiguous:
        levels, light = _code_tables()
        if np.array_equal(cv2.LUT(codes, levels), image):
            return cv2.LUT(codes, light)
    return srgb_to_linear(image)


def _logit_levels(codes: np.ndarray) -> np.ndarray:
    y = np.clip(codes / 255.0, 0.5 / 255.0, 254.75 / 255.0) ** LOGIT_GAMMA
    return np.log(y / (1.0 - y))


def _log2_histogram(log_light: np.ndarray) -> np.ndarray:
    """Counts of ``log_light`` in the one-stop bins of ``HIST_EDGES``, values clipped to
    ``[-11.999, -1e-6]`` first: ``np.histogram``'s counts (the edges are the integers -12..0,
    so a value's bin is its floor), without its sort."""
    first, last = int(HIST_EDGES[0]), int(HIST_EDGES[-1])
    bins = np.clip(np.floor(log_light), first, last - 1).astype(np.intp) - first
    return np.bincount(bins, minlength=last - first)


def features(image: np.ndarray) -> np.ndarray:
    """Exposure statistics of one photo.

    Args:
        image: float32 ``(H, W, 3)`` gamma-encoded (sRGB) RGB in [0, 1].
    Returns:
        float64 ``(len(FEATURE_NAMES),)``: log2 light percentiles and mean, histogram
        fractions, channel percentiles (encoded), clipping and crush fractions, spike ratios.

    Percentiles of 8-bit codes are read from their histograms (``count_percentiles``), those
    of the log light by a counting selection (``percentiles.float_percentiles``): the same
    values as ``np.percentile``.
    """
    check_rgb(image)
    full = _codes(image)  # clipping is counted at full resolution: averaging would hide it
    small = _block_mean(image)
    light = _linear_light(small, full if small is image else None) @ LUMA_WEIGHTS
    log_light = np.log2(np.maximum(light, 2.0**LOG2_FLOOR)).ravel().astype(np.float64)
    hist = _log2_histogram(log_light) / log_light.size
    top, bottom = channel_extremes(full)
    top_counts, bottom_counts = code_counts(top), code_counts(bottom)
    n = float(top.size)

    def fraction(counts: np.ndarray, lo: int, hi: int = 256) -> float:
        return int(counts[lo:hi].sum()) / n  # codes lo..hi-1

    at_top = fraction(top_counts, 255)
    below_top = fraction(top_counts, 245, 255) / 10.0
    white = fraction(bottom_counts, 254)
    near_white = fraction(bottom_counts, 235, 254) / 19.0
    if small is image:
        small_codes, max_counts, min_counts = full, top_counts, bottom_counts
    else:
        small_codes = _codes(small)
        max_counts, min_counts = (code_counts(c) for c in channel_extremes(small_codes))
    # every pixel's three codes are its brightest, middle and darkest channel
    mid_counts = code_counts(small_codes) - max_counts - min_counts
    channels = {"max": max_counts, "mid": mid_counts, "min": min_counts}
    logits = [
        v
        for name, ps in CHANNEL_PERCENTILES.items()
        for v in _logit_levels(count_percentiles(channels[name], ps))
    ]
    log2_mean = float(log_light.mean())
    values = [
        *logits,
        *float_percentiles(light.ravel(), PERCENTILES, log_light),  # log2 is non-decreasing
        log2_mean,
        float(np.log2(max(float(light.mean()), 2.0**LOG2_FLOOR))),
        *hist,
        *(count_percentiles(top_counts, HIGH_PERCENTILES) / 255.0),
        *(count_percentiles(bottom_counts, (0.1, 1.0, 10.0)) / 255.0),
        at_top,
        fraction(top_counts, 250),
        white,
        fraction(top_counts, 230),
        fraction(top_counts, 0, 3),
        fraction(top_counts, 0, 17),
        np.log10((at_top + 1e-4) / (below_top + 1e-4)),  # spike at the top code, any channel
        np.log10((white + 1e-4) / (near_white + 1e-4)),  # spike at the top code, all channels
    ]
    return np.asarray(values, np.float64)


FEATURE_NAMES: tuple[str, ...] = (
    *(f"logit_{name}_p{p}" for name, ps in CHANNEL_PERCENTILES.items() for p in ps),
    *(f"log2_luma_p{p}" for p in PERCENTILES),
    "log2_luma_mean",
    "log2_mean_luma",
    *(f"hist_{int(e)}" for e in HIST_EDGES[:-1]),
    *(f"max_channel_p{p:g}" for p in HIGH_PERCENTILES),
    "min_channel_p0.1",
    "min_channel_p1",
    "min_channel_p10",
    "clip_any",
    "bright_any_250",
    "clip_all",
    "shoulder_230",
    "crushed",
    "toe_16",
    "spike_any",
    "spike_all",
)


@dataclass(frozen=True)
class EvModel:
    """Standardise, one hidden tanh layer, linear output: ``w2 @ tanh(w1 @ z + b1) + b2``."""

    mean: np.ndarray  # (F,)
    scale: np.ndarray  # (F,)
    w1: np.ndarray  # (H, F)
    b1: np.ndarray  # (H,)
    w2: np.ndarray  # (H,)
    b2: float

    def predict(self, feats: np.ndarray) -> np.ndarray:
        """Estimates in stops for ``(N, F)`` (or ``(F,)``) features, clipped to +-MAX_EV."""
        z = (np.atleast_2d(feats) - self.mean) / self.scale
        out = np.tanh(z @ self.w1.T + self.b1) @ self.w2 + self.b2
        return np.clip(out, -MAX_EV, MAX_EV)

    def to_dict(self) -> dict[str, object]:
        arrays = {
            k: np.round(getattr(self, k), 6).tolist() for k in ("mean", "scale", "w1", "b1", "w2")
        }
        return {"features": list(FEATURE_NAMES), **arrays, "b2": round(float(self.b2), 6)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> EvModel:
        if data.get("features") != list(FEATURE_NAMES):
            raise ValueError("ev estimator weights were trained on other features; retrain them")
        arrays = {k: np.asarray(data[k], np.float64) for k in ("mean", "scale", "w1", "b1", "w2")}
        return cls(b2=float(data["b2"]), **arrays)  # type: ignore[arg-type]


@cache
def default_model() -> EvModel:
    """The shipped model (``ev_estimator.json``)."""
    return EvModel.from_dict(json.loads(MODEL_FILE.read_text()))


def ev_estimate(image: np.ndarray, model: EvModel | None = None) -> float:
    """Estimated exposure error of a photo, in stops (negative: under, positive: over).

    Args:
        image: float32 ``(H, W, 3)`` gamma-encoded (sRGB) RGB in [0, 1], any size.
        model: weights to use; the shipped ones by default.
    Returns:
        The estimate in stops, within ``[-MAX_EV, MAX_EV]``.
    """
    return float((model or default_model()).predict(features(image))[0])
