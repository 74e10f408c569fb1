"""The full-reference metrics of ``prep evaluate`` on the CPU, in numpy float32 and OpenCV.

The definitions of ``exposure_core.metrics.reference`` (scikit-image's PSNR, SSIM, ``rgb2lab``
and ``deltaE_ciede2000``); tests hold them to 1e-4 of it. PSNR and MAE sum in float64
(OpenCV's ``norm``; they agree to about 1e-12), SSIM and CIEDE2000 compute in float32 (the
images' own precision; their means move by a few 1e-6) and sum in float64. Organised for
speed:

* ``Reference`` holds one target and the terms that depend on it alone (its local means and
  variances, its CIELAB strips and their chroma), so scoring several methods against the same
  target computes them once;
* SSIM's 11-tap Gaussian (the weights of scipy's ``gaussian_filter``) runs through OpenCV's
  ``sepFilter2D`` on the interleaved ``(H, W, 3)`` image, all three channels in one call;
  each image is first shifted by its own per-channel mean (the covariances do not change),
  which keeps float32's cancellation in ``E[x^2] - E[x]^2`` small, nil on flat images; the
  prediction's maps are computed over bands of rows, in reused buffers, with in-place numpy
  maths, so they stay in the CPU's cache;
* CIEDE2000 runs over strips of pixels (``fast_colour``).

Images come in as float32 ``(H, W, 3)`` RGB in [0, 1], gamma-encoded (numpy arrays).
``score_image`` scores one ``ImageJob`` of ``exposure_core.metrics.scores`` (every method's
output against one target) and ``score_stream`` scores a stream of them in worker processes.
Histogram similarity keeps its OpenCV patch cutting and binning (``histogram``), so its values
stay bit-identical. Choosing between this CPU path and the torch one
(``exposure_models.metrics_torch``) is the caller's. This module does not import torch
(worker processes, which import it first, start faster without it).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import cv2
import numpy as np

from exposure_core.exposure import check_rgb
from exposure_core.metrics.fast_colour import chroma, ciede2000, rgb_to_lab, strips
from exposure_core.metrics.reference import (
    SSIM_K1,
    SSIM_K2,
    SSIM_RADIUS,
    check_pair,
    ssim_window,
)
from exposure_core.metrics.scores import PSNR_CAP, ImageJob, ImageScores, gt_mean_rescale
from exposure_core.parallel import map_ordered

# SSIM works on bands of this many valid rows (plus the window's 2 x 5), for the same reason.
SSIM_BAND_ROWS = 64
# The 1-D weights of the SSIM window in float32, as a column for sepFilter2D.
SSIM_TAPS = ssim_window().astype(np.float32).reshape(-1, 1)


def check_image(image: np.ndarray) -> np.ndarray:
    """``image`` itself, a C-contiguous float32 ``(H, W, 3)`` array; ValueError otherwise."""
    check_rgb(image)
    return np.ascontiguousarray(image)


def gaussian_blur(image: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The SSIM window's weighted mean around every pixel of a float32 ``(H, W, C)`` image.

    Same shape as ``image``; only the pixels at least ``SSIM_RADIUS`` from every border
    (whose window lies inside the image, all that skimage keeps of the SSIM map) are used,
    so the border mode never matters. ``out``: an array of the same shape to write into
    (not ``image`` itself).
    """
    return cv2.sepFilter2D(image, cv2.CV_32F, SSIM_TAPS, SSIM_TAPS, dst=out)


def valid(image: np.ndarray) -> np.ndarray:
    """The part of an ``(H, W, ...)`` map whose SSIM window lies inside the image (a view)."""
    r = SSIM_RADIUS
    return image[r:-r, r:-r]


def channel_means(image: np.ndarray) -> np.ndarray:
    """The per-channel means of a float32 ``(H, W, 3)`` image, ``(3,)`` float32 (summed in
    float64)."""
    return np.asarray(cv2.mean(image)[:3], dtype=np.float32)


def add_per_channel(image: np.ndarray, values: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``image + values`` (``values``: one per channel, ``(3,)``) into ``out``, all float32
    ``(H, W, 3)``; as ``(H, W * 3)`` rows, numpy's broadcasting over a last axis of 3 being
    ten times slower."""
    rows = np.tile(values, image.shape[1])
    np.add(image.reshape(image.shape[0], -1), rows, out=out.reshape(out.shape[0], -1))
    return out


def centred(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``image`` minus its per-channel mean (float32, new array) and that mean (``(3,)``)."""
    mean = channel_means(image)
    return add_per_channel(image, -mean, np.empty_like(image)), mean


class Reference:
    """One target image and its own SSIM and CIELAB terms, to score several predictions.

    Args:
        target: float32 ``(H, W, 3)`` RGB in [0, 1], gamma-encoded, both sides >= 11.
    """

    def __init__(self, target: np.ndarray) -> None:
        target = check_image(target)
        if min(target.shape[:2]) < 2 * SSIM_RADIUS + 1:
            raise ValueError(f"ssim needs both sides >= {2 * SSIM_RADIUS + 1}, got {target.shape}")
        self.target = target
        self.centred, self.mean = centred(target)
        self.mu_centred = gaussian_blur(self.centred)  # local mean, minus self.mean
        self.var = gaussian_blur(self.centred * self.centred)
        self.var -= self.mu_centred * self.mu_centred  # local variance
        self.var += np.float32(SSIM_K2**2)  # ... + c2
        self.mu = add_per_channel(self.mu_centred, self.mean, np.empty_like(target))  # local mean
        self.mu_sq = self.mu * self.mu
        self.mu_sq += np.float32(SSIM_K1**2)  # mu^2 + c1
        # five band-sized float32 buffers that ``ssim`` reuses from band to band and from one
        # prediction to the next (fresh arrays cost a page fault every 4 KiB)
        band = (min(target.shape[0], SSIM_BAND_ROWS + 2 * SSIM_RADIUS), *target.shape[1:])
        self.buffers = [np.empty(band, np.float32) for _ in range(5)]
        self.strips = [(lab, chroma(lab[1], lab[2])) for lab in map(rgb_to_lab, strips(target))]

    def _check(self, pred: np.ndarray) -> np.ndarray:
        pred = check_image(pred)
        if pred.shape != self.target.shape:
            raise ValueError(
                f"pred and target must have the same shape, got {pred.shape} and "
                f"{self.target.shape}"
            )
        return pred

    def psnr(self, pred: np.ndarray) -> float:
        """PSNR in dB (data range 1); ``inf`` for identical images."""
        pred = self._check(pred)
        mse = cv2.norm(pred, self.target, cv2.NORM_L2SQR) / pred.size
        return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)

    def mae(self, pred: np.ndarray) -> float:
        """Mean absolute difference over all pixels and channels."""
        pred = self._check(pred)
        return cv2.norm(pred, self.target, cv2.NORM_L1) / pred.size

    def ssim(self, pred: np.ndarray) -> float:
        """Mean SSIM over the valid pixels and the three channels (skimage's conventions).

        Computed over bands of ``SSIM_BAND_ROWS`` valid rows (each read with the window's
        ``SSIM_RADIUS`` rows above and below), so its maps stay in the CPU's cache.
        """
        pred = self._check(pred)
        mean = channel_means(pred)
        height, width = pred.shape[:2]
        valid_rows = height - 2 * SSIM_RADIUS
        total = 0.0
        for top in range(0, valid_rows, SSIM_BAND_ROWS):
            rows = min(SSIM_BAND_ROWS, valid_rows - top) + 2 * SSIM_RADIUS
            total += self._ssim_band_sum(pred[top : top + rows], mean, top)
        return total / (valid_rows * (width - 2 * SSIM_RADIUS) * 3)

    def _ssim_band_sum(self, band: np.ndarray, mean: np.ndarray, top: int) -> float:
        """The sum of the SSIM map over the valid pixels of one band of ``pred``: its rows
        ``top`` on (``mean``: pred's per-channel means), the three channels."""
        rows = band.shape[0]
        x, mu_x, scratch, den, num = (buffer[:rows] for buffer in self.buffers)
        target = {
            name: getattr(self, name)[top : top + rows]
            for name in ("centred", "mu_centred", "var", "mu", "mu_sq")
        }
        add_per_channel(band, -mean, x)  # centred
        gaussian_blur(x, mu_x)  # local mean, minus mean
        gaussian_blur(np.multiply(x, x, out=scratch), den)
        gaussian_blur(np.multiply(x, target["centred"], out=scratch), num)
        num -= np.multiply(mu_x, target["mu_centred"], out=scratch)
        num *= np.float32(2.0)
        num += np.float32(SSIM_K2**2)  # 2 cov + c2
        den -= np.multiply(mu_x, mu_x, out=scratch)
        den += target["var"]  # var_x + var_y + c2
        add_per_channel(mu_x, mean, mu_x)  # the local mean
        lum_den = np.multiply(mu_x, mu_x, out=scratch)
        lum_den += target["mu_sq"]  # mu_x^2 + mu_y^2 + c1
        den *= lum_den
        mu_x *= target["mu"]
        mu_x *= np.float32(2.0)
        mu_x += np.float32(SSIM_K1**2)  # 2 mu_x mu_y + c1
        num *= mu_x
        num /= den
        return float(sum(cv2.sumElems(valid(num))[:3]))  # summed in float64

    def delta_e2000(self, pred: np.ndarray) -> float:
        """Mean CIEDE2000 of ``pred`` against the target over all pixels (summed in float64)."""
        pred = self._check(pred)
        total = 0.0
        for pixels, (lab_target, chroma_target) in zip(strips(pred), self.strips, strict=True):
            lab = rgb_to_lab(pixels)
            total += float(ciede2000(lab, lab_target, chroma_target).sum(dtype=np.float64))
        return total / (pred.shape[0] * pred.shape[1])

    def scores(self, pred: np.ndarray) -> dict[str, float]:
        """``psnr`` (uncapped), ``ssim``, ``mae``, ``delta_e2000`` of one float32 ``(H, W, 3)``."""
        pred = self._check(pred)
        return {
            "psnr": self.psnr(pred),
            "ssim": self.ssim(pred),
            "mae": self.mae(pred),
            "delta_e2000": self.delta_e2000(pred),
        }


def score_image(job: ImageJob) -> ImageScores:
    """Every output of ``job`` against its target: the metrics of ``scores.score_pair``
    (PSNR capped at ``PSNR_CAP``; GT-mean PSNR for native pairs) and the patch statistics of
    histogram similarity, at the crop positions drawn from ``job.seed``."""
    ref = Reference(job.target)
    metrics = {}
    for method, pred in job.outputs.items():
        check_pair(pred, job.target)
        scores = ref.scores(pred)
        scores["psnr"] = min(scores["psnr"], PSNR_CAP)
        if job.native:
            rescaled = gt_mean_rescale(pred, job.target)
            scores["psnr_gt_mean"] = min(ref.psnr(rescaled), PSNR_CAP)
        metrics[method] = scores
    return ImageScores(metrics, *job.patch_statistics())


def _score_in_worker(job: ImageJob) -> ImageScores:
    """``score_image`` in a pool worker: one OpenCV thread, as the pool has one worker per
    core."""
    cv2.setNumThreads(1)
    return score_image(job)


def _score_here(job: ImageJob) -> ImageScores:
    """``score_image`` in this process on one OpenCV thread (its other threads would only
    spin waiting for each other on these small filters)."""
    with opencv_threads(1):
        return score_image(job)


def cores_left(workers: int) -> int:
    """The cores a pool of ``workers`` scoring processes leaves this process (at least one)."""
    return max(1, (os.cpu_count() or 1) - workers)


def score_stream(jobs: Iterable[ImageJob], workers: int = 1) -> Iterator[ImageScores]:
    """Scores of ``jobs`` in order, on the CPU in ``workers`` processes (one thread each;
    ``workers <= 1``: in this process).

    While a pool runs, this process (which makes the jobs: the model's forward pass) keeps
    ``cores_left(workers)`` OpenCV threads, so that they do not compete with the workers for
    the same cores (a caller running torch limits its threads alike).
    """
    if workers <= 1:
        yield from map(_score_here, jobs)
        return
    with opencv_threads(cores_left(workers)):
        yield from map_ordered(_score_in_worker, jobs, workers, ahead=2)


@contextmanager
def opencv_threads(count: int) -> Iterator[None]:
    """OpenCV's threads in this process set to ``count`` for the block, restored after it."""
    saved = cv2.getNumThreads()
    cv2.setNumThreads(count)
    try:
        yield
    finally:
        cv2.setNumThreads(saved)
