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

import numpy as np

from exposure_core.exposure import LUMA_WEIGHTS, channel_extremes, check_rgb, srgb_to_linear

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


def _block_mean(image: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    """Average ``k x k`` blocks, ``k = short side // side`` (no change when ``k`` < 2)."""
    k = min(image.shape[:2]) // side
    if k < 2:
        return image
    h, w = image.shape[0] // k * k, image.shape[1] // k * k
    blocks = image[:h, :w].reshape(h // k, k, w // k, k, 3)
    return blocks.mean(axis=(1, 3), dtype=np.float64).astype(np.float32)


def _codes(image: np.ndarray) -> np.ndarray:
    return np.floor(np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.int32)


def _logit_levels(codes: np.ndarray) -> np.ndarray:
    y = np.clip(codes / 255.0, 0.5 / 255.0, 254.75 / 255.0) ** LOGIT_GAMMA
    return np.log(y / (1.0 - y))


def features(image: np.ndarray) -> np.ndarray:
    """Exposure statistics of one photo.

    Args:
        image: float32 ``(H, W, 3)`` gamma-encoded (sRGB) RGB in [0, 1].
    Returns:
        float64 ``(len(FEATURE_NAMES),)``: log2 light percentiles and mean, histogram
        fractions, channel percentiles (encoded), clipping and crush fractions, spike ratios.
    """
    check_rgb(image)
    full = _codes(image)  # clipping is counted at full resolution: averaging would hide it
    small = _block_mean(image)
    light = srgb_to_linear(small) @ LUMA_WEIGHTS
    log_light = np.log2(np.maximum(light, 2.0**LOG2_FLOOR)).ravel().astype(np.float64)
    hist = np.histogram(np.clip(log_light, -11.999, -1e-6), HIST_EDGES)[0] / log_light.size
    top, bottom = channel_extremes(full)
    n = float(top.size)
    at_top = np.count_nonzero(top >= 255) / n
    below_top = np.count_nonzero((top >= 245) & (top < 255)) / n / 10.0
    white = np.count_nonzero(bottom >= 254) / n
    near_white = np.count_nonzero((bottom >= 235) & (bottom < 254)) / n / 19.0
    ordered = np.sort(_codes(small).reshape(-1, 3), axis=1)
    channels = {"max": ordered[:, 2], "mid": ordered[:, 1], "min": ordered[:, 0]}
    logits = [
        v
        for name, ps in CHANNEL_PERCENTILES.items()
        for v in _logit_levels(np.percentile(channels[name], ps))
    ]
    values = [
        *logits,
        *np.percentile(log_light, PERCENTILES),
        float(log_light.mean()),
        float(np.log2(max(float(light.mean()), 2.0**LOG2_FLOOR))),
        *hist,
        *(np.percentile(top, HIGH_PERCENTILES) / 255.0),
        *(np.percentile(bottom, (0.1, 1.0, 10.0)) / 255.0),
        at_top,
        np.count_nonzero(top >= 250) / n,
        white,
        np.count_nonzero(top >= 230) / n,
        np.count_nonzero(top <= 2) / n,
        np.count_nonzero(top <= 16) / n,
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
