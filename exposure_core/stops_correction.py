"""A photo's global exposure corrected by its estimated error in stops, along the camera curve.

The stops estimator (``exposure_core.ev_estimate``) reads how many stops a photo is off; the
camera kind's fitted curve (``exposure_core.camera``) says how a camera renders a change of
exposure. Together they undo a global exposure error the way the camera would have made it:
the photo is taken back to scene light through the fitted curve, scaled by ``2 ** -stops``
and rendered again (``camera.fitted_recipe(-stops)``: a per-channel tone curve, a lookup table
on codes). This is the first stage of a model trained with ``train.pre_exposure: stops``: the
network then sees the re-exposed photo and corrects what one global curve cannot.

Every function is pure; the estimate is read at ``ESTIMATE_SIDE`` (the short side the
estimator was trained at), so it is the same for a photo at any resolution.
"""

from __future__ import annotations

import numpy as np

from exposure_core import camera, imageio
from exposure_core.ev_estimate import MAX_EV, ev_estimate

ESTIMATE_SIDE = 224  # short side the estimator's training renders were area-downscaled to
PRE_EXPOSURES = ("none", "stops")  # what a model's first stage may be (train.pre_exposure)


def estimate_stops(codes: imageio.Codes) -> float:
    """The photo's estimated exposure error in stops (negative: under), read at
    ``ESTIMATE_SIDE``.

    Args:
        codes: an 8- or 16-bit sRGB image of any size.
    Returns:
        The estimate in stops, within ``[-MAX_EV, MAX_EV]``.
    """
    return ev_estimate(imageio.codes_to_float(imageio.shrink(codes, ESTIMATE_SIDE)))


def correction_curve(stops: float, bits: int = 8) -> np.ndarray:
    """The per-channel curve that takes a photo ``stops`` over back to its exposure.

    Returns:
        float32 ``(2**bits,)`` values in [0, 1] for ``imageio.apply_curve``.
    """
    return camera.recipe_curve(camera.fitted_recipe(_undo(stops)), bits)


def correct_float(image: np.ndarray, stops: float) -> np.ndarray:
    """``image`` re-exposed by ``-stops`` along the fitted camera curve.

    Args:
        image: float32 ``(H, W, 3)`` gamma-encoded (sRGB) RGB in [0, 1].
    Returns:
        float32 ``(H, W, 3)`` gamma-encoded RGB in [0, 1]; the same curve as
        ``correction_curve`` without the quantisation to codes.
    """
    return camera.render_float(image, camera.fitted_recipe(_undo(stops)))


def correct_codes(codes: imageio.Codes, stops: float | None = None) -> tuple[imageio.Codes, float]:
    """The photo re-exposed by its estimated (or the given) error; returns it and the stops.

    Args:
        codes: an 8- or 16-bit sRGB image.
        stops: the error to undo; None estimates it (``estimate_stops``).
    Returns:
        ``(codes of the same size and depth, stops undone)``.
    """
    if stops is None:
        stops = estimate_stops(codes)
    return imageio.apply_curve(codes, correction_curve(stops, codes.bits)), stops


def _undo(stops: float) -> float:
    """The exposure change that undoes ``stops``, kept inside the estimator's range."""
    return float(np.clip(-float(stops), -MAX_EV, MAX_EV))
