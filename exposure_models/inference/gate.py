"""Whether the enhancer leaves a photo as it is: well exposed, and the network agrees.

A well-exposed photo should come out of ``prep enhance`` unchanged. The network alone cannot
always tell a bright, correctly exposed scene with clipped highlights from an overexposed copy
of it, and corrects both a little. So the enhancer asks two questions before it applies the
network's correction:

1. Does ``prep filter``'s verdict (``exposure_core.exposure_stats.verdict``, the same
   thresholds) call the photo well exposed? Its overexposure tests look for clipped light with
   a clipping spike, its underexposure test for a missing highlight, and its stops rule for an
   exposure error (``ev_estimate``) beyond ``max_stops``, which catches a camera's own
   exposure error that leaves no clipping behind.
2. Does the network change the photo's brightness by less than ``max_lift`` upwards and
   ``max_darken`` downwards (log2 of the mean-luma ratio of its output to its input,
   gamma-encoded)? A photo one stop under still keeps a highlight, so it can pass the filter;
   the network, which sees it as dark, brightens it by more than that and is then trusted. A
   camera's overexposure rolls highlights off along its tone curve and leaves no clipping for
   the filter to see; a network trained on such renders darkens it, and is trusted from
   ``max_darken`` on.

Both yes: the photo is left alone, bit for bit. The pure functions here decide; the enhancer
(``exposure_models.inference.enhancer``) applies the decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from exposure_core import imageio
from exposure_core.exposure import LUMA_WEIGHTS
from exposure_core.exposure_stats import FilterThresholds, analysis_sample, verdict

LUMA_FLOOR = 1e-4  # keeps the log of a black image finite


@dataclass(frozen=True)
class Verdict:
    """The gate's decision for one photo, with the reason in words."""

    leave_alone: bool
    reason: str
    lift: float  # log2 mean-luma ratio, network output / input (working resolution)


def mean_luma_lift(low_input: np.ndarray, low_output: np.ndarray) -> float:
    """log2 of the network's mean-luma ratio, output over input.

    Args:
        low_input, low_output: float32 ``(h, w, 3)`` gamma-encoded RGB in [0, 1], the
            network's input and output at working resolution.
    Returns:
        > 0 when the network brightens the photo, < 0 when it darkens it.
    """
    mean_in = float((low_input @ LUMA_WEIGHTS).mean())
    mean_out = float((low_output @ LUMA_WEIGHTS).mean())
    return math.log2((mean_out + LUMA_FLOOR) / (mean_in + LUMA_FLOOR))


def float_analysis_sample(codes: imageio.Codes, side: int) -> np.ndarray:
    """A strided subsample of the photo with a long side of about ``side``, as float32 RGB.

    ``exposure_stats.analysis_sample`` of the codes (striding keeps exact code values, as
    ``prep filter`` analyses a photo), then converted to float.
    """
    return imageio.codes_to_float(imageio.Codes(analysis_sample(codes.array, side)))


def decide(
    photo_sample: np.ndarray,
    low_input: np.ndarray,
    low_output: np.ndarray,
    thresholds: FilterThresholds,
    max_lift: float,
    max_darken: float,
) -> Verdict:
    """Leave the photo alone when the filter keeps it and the network changes its brightness by
    less than ``max_lift`` up and ``max_darken`` down.

    Args:
        photo_sample: float32 ``(H, W, 3)`` gamma-encoded RGB in [0, 1]: the photo (or the
            ``float_analysis_sample`` of it) that the filter's statistics are computed on.
        low_input, low_output: the network's input and output at working resolution.
        thresholds: ``prep filter``'s thresholds (``max_stops`` included).
        max_lift: brightening (log2 mean-luma ratio) from which the network is trusted.
        max_darken: darkening (minus the log2 mean-luma ratio) from which it is trusted.
    """
    lift = mean_luma_lift(low_input, low_output)
    keep, reason = verdict(photo_sample, thresholds)
    if not keep:
        return Verdict(False, reason, lift)
    if lift >= max_lift or -lift >= max_darken:
        change = "lifts" if lift > 0 else "darkens"
        return Verdict(
            False, f"well exposed for the filter, but the network {change} it {lift:+.2f}", lift
        )
    return Verdict(True, f"well exposed (network change {lift:+.2f})", lift)
