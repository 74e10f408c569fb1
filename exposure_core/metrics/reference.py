"""The image-quality metrics and their constants: the one definition every path follows.

Every metric takes ``pred`` and ``target``: float32 ``(H, W, 3)`` RGB in [0, 1],
sRGB/gamma-encoded, the same shape. Full-reference metrics (PSNR, SSIM, MAE, CIEDE2000) are
computed on RGB at whatever resolution the caller passes; the caller decides (and reports) the
evaluation resolution. They are scikit-image's, in float64; the faster paths
(``exposure_core.metrics.fast`` on the CPU, ``exposure_models.metrics_torch`` in torch) use the
constants below and are held to these functions by the tests.

``psnr_array`` and ``ssim_array`` take any pair of arrays of one shape on the [0, 1] scale (a
luma plane, say), for conventions that score something other than RGB.
"""

from __future__ import annotations

import numpy as np

from exposure_core.exposure import check_rgb

# SSIM (Wang et al. 2004, data range 1): a Gaussian window of sigma 1.5, cut as scipy's
# gaussian_filter cuts it at skimage's truncate 3.5: radius int(3.5 * 1.5 + 0.5) = 5, 11 taps.
SSIM_SIGMA = 1.5
SSIM_RADIUS = 5
SSIM_K1, SSIM_K2 = 0.01, 0.03
SSIM_MIN_SIDE = 2 * SSIM_RADIUS + 1
# skimage's sRGB -> XYZ matrix and the D65 2-degree white (xyz_tristimulus_values), which its
# rgb2lab uses.
XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
D65_WHITE = (0.95047, 1.0, 1.08883)


def ssim_window() -> np.ndarray:
    """The SSIM window's 1-D weights: float64 ``(2 * SSIM_RADIUS + 1,)``, sum 1, as scipy's
    ``gaussian_filter`` computes them for ``SSIM_SIGMA`` (the 2-D window is their outer
    product)."""
    taps = np.exp(-0.5 / SSIM_SIGMA**2 * np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1.0) ** 2)
    return taps / taps.sum()


def check_pair(pred: np.ndarray, target: np.ndarray) -> None:
    """ValueError unless both are float32 (H, W, 3) arrays of the same shape."""
    check_rgb(pred, "pred")
    check_rgb(target, "target")
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {pred.shape} and {target.shape}"
        )


def psnr_from_mse(mse: np.ndarray | float, data_range: float = 1.0) -> np.ndarray | float:
    """PSNR in dB from mean squared errors (any shape) on a scale of ``data_range``; an MSE of
    0 gives ``inf``."""
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(data_range**2 / np.asarray(mse, np.float64))


def psnr_array(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two arrays of one shape on the [0, 1] scale (data range 1), in float64.

    Identical arrays give ``inf``.
    """
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(psnr_from_mse(mse))


def psnr(pred: np.ndarray, target: np.ndarray) -> float:
    """Peak signal-to-noise ratio on RGB in [0, 1] (data range 1), in dB, computed in float64.

    Identical images give ``inf``: callers that average over a set must decide how to
    treat it (skip, cap at ``scores.PSNR_CAP``, or report separately) and say so.
    """
    check_pair(pred, target)
    return psnr_array(pred, target)


def ssim_array(a: np.ndarray, b: np.ndarray, channel_axis: int | None = None) -> float:
    """Mean SSIM of two arrays of one shape on the [0, 1] scale (data range 1), in float64.

    ``skimage.metrics.structural_similarity`` with the Gaussian window (``SSIM_SIGMA``,
    ``SSIM_RADIUS``), ``SSIM_K1``/``SSIM_K2`` and population covariances
    (``use_sample_covariance=False``), as Wang et al.'s MATLAB code; ``channel_axis``: the
    axis of channels whose means are averaged (None: one 2-D plane).
    """
    from skimage.metrics import structural_similarity  # imported here: scipy takes a while

    return float(
        structural_similarity(
            a.astype(np.float64),
            b.astype(np.float64),
            channel_axis=channel_axis,
            data_range=1.0,
            gaussian_weights=True,
            sigma=SSIM_SIGMA,
            use_sample_covariance=False,
            K1=SSIM_K1,
            K2=SSIM_K2,
        )
    )


def ssim(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean SSIM on RGB in [0, 1] (``ssim_array`` over ``channel_axis=2``: the per-channel
    means averaged). Both sides must be at least ``SSIM_MIN_SIDE`` (11) pixels."""
    check_pair(pred, target)
    if min(pred.shape[:2]) < SSIM_MIN_SIDE:
        raise ValueError(f"ssim needs both sides >= {SSIM_MIN_SIDE}, got shape {pred.shape}")
    return ssim_array(pred, target, channel_axis=2)


def mae(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute error over all pixels and channels, on the [0, 1] scale."""
    check_pair(pred, target)
    return float(np.mean(np.abs(pred.astype(np.float64) - target.astype(np.float64))))


def delta_e2000(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean CIEDE2000 colour difference over pixels (sRGB, D65, 2-degree observer).

    Both images go to CIELAB with ``skimage.color.rgb2lab`` (sRGB transfer curve,
    ``XYZ_FROM_RGB``, ``D65_WHITE``) in float64; 0 means identical colours, black against
    white gives 100.
    """
    from skimage.color import deltaE_ciede2000, rgb2lab  # imported here: scipy takes a while

    check_pair(pred, target)
    lab_pred = rgb2lab(pred.astype(np.float64))
    lab_target = rgb2lab(target.astype(np.float64))
    return float(np.mean(deltaE_ciede2000(lab_pred, lab_target, channel_axis=-1)))


def evaluate_pair(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """All full-reference metrics of one image: ``psnr``, ``ssim``, ``mae``, ``delta_e2000``."""
    check_pair(pred, target)
    return {
        "psnr": psnr(pred, target),
        "ssim": ssim(pred, target),
        "mae": mae(pred, target),
        "delta_e2000": delta_e2000(pred, target),
    }
