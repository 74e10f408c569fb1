"""Super-resolution scores in the SR literature's convention, and the interpolation baselines.

Images are float32 (H, W, 3) RGB in [0, 1], gamma-encoded. Scores are computed after shaving
``scale`` pixels off every border (the convention since SRCNN: border pixels have no full
neighbourhood in the low-resolution image), on the luma Y of ITU-R BT.601 studio-range YCbCr
(what MATLAB's ``rgb2ycbcr`` gives and SR papers report) and on RGB, with the PSNR and SSIM
of ``exposure_core.metrics.reference``.
"""

from __future__ import annotations

import cv2
import numpy as np

from exposure_core.metrics.reference import psnr_array, ssim_array

# BT.601 studio range: Y = 16 + 65.481 R + 128.553 G + 24.966 B (R, G, B in [0, 1]), /255
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0
_Y_OFFSET = 16.0 / 255.0
INTERPOLATIONS = {"bicubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}
SCORES = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")


def luma_y(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB [0, 1] -> (H, W) float64 BT.601 studio luma in [16/255, 235/255]."""
    return rgb.astype(np.float64) @ _Y_WEIGHTS + _Y_OFFSET


def shave(image: np.ndarray, border: int) -> np.ndarray:
    """``image`` without ``border`` pixels on each side."""
    if border <= 0:
        return image
    if min(image.shape[:2]) <= 2 * border:
        raise ValueError(f"image {image.shape[:2]} too small to shave {border} px per border")
    return image[border:-border, border:-border]


def sr_scores(pred: np.ndarray, target: np.ndarray, scale: int) -> dict[str, float]:
    """PSNR (dB, peak 1) and SSIM (Wang et al. 2004 settings) on Y and on RGB, after shaving
    ``scale`` px per border. Both (H, W, 3) in [0, 1] of the same shape."""
    if pred.shape != target.shape or pred.ndim != 3 or pred.shape[2] != 3:
        raise ValueError(
            f"pred and target must be equal (H, W, 3), got {pred.shape}, {target.shape}"
        )
    p, t = shave(np.clip(pred, 0, 1), scale), shave(target, scale)
    py, ty = luma_y(p), luma_y(t)
    return {
        "psnr_y": psnr_array(py, ty),
        "ssim_y": ssim_array(py, ty),
        "psnr_rgb": psnr_array(p, t),
        "ssim_rgb": ssim_array(p, t, channel_axis=2),
    }


def interpolate(lr: np.ndarray, scale: int, method: str) -> np.ndarray:
    """Up-sample (h, w, 3) by ``scale`` with OpenCV's bicubic or Lanczos-4, clipped to [0, 1]."""
    if method not in INTERPOLATIONS:
        raise ValueError(f"method must be one of {sorted(INTERPOLATIONS)}, got {method!r}")
    h, w = lr.shape[:2]
    out = cv2.resize(lr, (w * scale, h * scale), interpolation=INTERPOLATIONS[method])
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def crop_to_multiple(image: np.ndarray, scale: int) -> np.ndarray:
    """The top-left part of ``image`` whose sides are multiples of ``scale``."""
    h, w = image.shape[:2]
    return image[: h - h % scale, : w - w % scale]
