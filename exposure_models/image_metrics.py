"""The full-reference metrics of ``prep evaluate`` on the CPU, in numpy float32 and OpenCV.

The same definitions as ``pipeline/evaluation/metrics.py`` (scikit-image's PSNR, SSIM,
``rgb2lab`` and ``deltaE_ciede2000``); tests hold them to 1e-4 of it. PSNR and MAE sum in
float64 (OpenCV's ``norm``; they agree to about 1e-12), SSIM and CIEDE2000 compute in float32
(the images' own precision; their means move by a few 1e-6) and sum in float64. Organised for
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
* CIEDE2000 runs over strips of pixels (``(3, N)`` CIELAB planes) small enough to stay in the
  CPU's cache, with in-place numpy maths and masks applied by arithmetic; its hue weighting
  ``T`` comes from one sine and cosine of the mean hue (two polynomials in the cosine, by the
  multiple-angle identities) instead of four cosines.

Images come in as float32 ``(H, W, 3)`` RGB in [0, 1], gamma-encoded (numpy arrays).
``score_image`` scores one ``ImageJob`` of ``pipeline.evaluation.scoring`` (every method's
output against one target) and ``score_stream`` scores a stream of them, in worker processes
on the CPU, or in this process on a CUDA GPU with ``exposure_models.image_metrics_torch``.
Histogram similarity keeps its OpenCV patch cutting and binning
(``pipeline.evaluation.metrics``), so its values stay bit-identical. This module does not
import torch (worker processes start faster without it).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import cv2
import numpy as np

from exposure_core.exposure import check_rgb
from exposure_core.parallel import map_ordered
from pipeline.evaluation import metrics as reference
from pipeline.evaluation.scoring import PSNR_CAP, ImageJob, ImageScores, gt_mean_rescale

SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # scipy's gaussian_filter: int(truncate 3.5 * sigma 1.5 + 0.5)
SSIM_K1, SSIM_K2 = 0.01, 0.03  # Wang et al.; data range 1
# skimage's sRGB -> XYZ matrix and the D65 2-degree white (xyz_tristimulus_values).
XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
D65_WHITE = (0.95047, 1.0, 1.08883)
XYZ_WHITE_FROM_RGB = (np.asarray(XYZ_FROM_RGB) / np.asarray(D65_WHITE)[:, None]).astype(np.float32)
# CIEDE2000 works on strips of about this many pixels (a few dozen float32 buffers of this
# size stay in a CPU core's L2 cache).
STRIP_PIXELS = 1 << 14
# SSIM works on bands of this many valid rows (plus the window's 2 x 5), for the same reason.
SSIM_BAND_ROWS = 64
# The 1-D weights of the SSIM window: float64, 11 taps, sum 1, as scipy computes them.
_TAPS = np.exp(-0.5 / SSIM_SIGMA**2 * np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1.0) ** 2)
SSIM_TAPS = (_TAPS / _TAPS.sum()).astype(np.float32).reshape(-1, 1)
# CIEDE2000's hue weighting T(h) = 1 - 0.17 cos(h - 30°) + 0.24 cos 2h + 0.32 cos(3h + 6°)
# - 0.20 cos(4h - 63°) = 1 + sum_k (A_k cos kh + B_k sin kh), k = 1..4; with c = cos h,
# s = sin h (Chebyshev: cos 2h = 2c^2 - 1, cos 3h = 4c^3 - 3c, cos 4h = 8c^4 - 8c^2 + 1,
# sin 2h = 2sc, sin 3h = s (4c^2 - 1), sin 4h = s (8c^3 - 4c)) it is T_COSINE(c) + s T_SINE(c),
# two polynomials in c (coefficients from the constant term up).
_T_TERMS = ((1, -0.17, -30.0), (2, 0.24, 0.0), (3, 0.32, 6.0), (4, -0.20, -63.0))
_A = {k: w * math.cos(math.radians(p)) for k, w, p in _T_TERMS}
_B = {k: -w * math.sin(math.radians(p)) for k, w, p in _T_TERMS}
T_COSINE = (
    1.0 - _A[2] + _A[4],
    _A[1] - 3.0 * _A[3],
    2.0 * _A[2] - 8.0 * _A[4],
    4.0 * _A[3],
    8.0 * _A[4],
)
T_SINE = (_B[1] - _B[3], 2.0 * _B[2] - 4.0 * _B[4], 4.0 * _B[3], 8.0 * _B[4])


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


def blend(out: np.ndarray, other: np.ndarray, mask: np.ndarray) -> None:
    """``out[mask] = other[mask]`` in place, by arithmetic (``out += mask * (other - out)``):
    many times faster than a masked store where the mask changes from pixel to pixel.

    Exact where ``mask`` is False; within a rounding of ``other`` where it is True.
    """
    other = np.subtract(other, out, out=other)
    other *= mask
    out += other


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB ``(N, 3)`` float32 in [0, 1] -> CIELAB ``(3, N)`` float32 (D65, 2 degrees).

    skimage's ``rgb2lab`` (sRGB transfer curve, its matrix and white point) in float32.
    """
    linear = np.power((rgb + np.float32(0.055)) * np.float32(1 / 1.055), np.float32(2.4))
    blend(linear, rgb * np.float32(1 / 12.92), rgb <= np.float32(0.04045))
    xyz = np.matmul(XYZ_WHITE_FROM_RGB, linear.T)  # (3, N), each row over its white
    f = np.cbrt(xyz)
    low = xyz <= np.float32(0.008856)
    linear = np.multiply(xyz, np.float32(7.787), out=xyz)
    linear += np.float32(16 / 116)
    blend(f, linear, low)
    lab = np.empty_like(f)
    np.multiply(f[1], np.float32(116), out=lab[0])
    lab[0] -= np.float32(16)
    np.multiply(np.subtract(f[0], f[1], out=lab[1]), np.float32(500), out=lab[1])
    np.multiply(np.subtract(f[1], f[2], out=lab[2]), np.float32(200), out=lab[2])
    return lab


def _half_chroma_weight(c: np.ndarray) -> np.ndarray:
    """``sqrt(c^7 / (c^7 + 25^7))`` of a chroma array (a new float32 array)."""
    c7 = c * c
    c7 *= c7
    c7 *= c
    c7 *= c * c
    out = c7 + np.float32(25.0**7)
    return np.sqrt(np.divide(c7, out, out=out), out=out)


def chroma(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sqrt(a^2 + b^2)`` (a new float32 array): numpy's ``hypot`` guards against overflow
    that CIELAB's range never reaches, and is several times slower."""
    out = a * a
    out += b * b
    return np.sqrt(out, out=out)


def _polar(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chroma ``|(a, b)|`` and hue ``atan2(b, a)`` in [0, 2 pi) (new float32 arrays)."""
    hue = np.arctan2(b, a)
    hue += (hue < 0) * np.float32(2 * math.pi)
    return chroma(a, b), hue


def hue_weighting(hbar: np.ndarray) -> np.ndarray:
    """CIEDE2000's ``T`` of mean hues ``hbar`` (radians): ``T_COSINE(c) + s T_SINE(c)`` with
    ``c, s = cos hbar, sin hbar`` (Horner's rule; one cosine and one sine, not four)."""
    c = np.cos(hbar)
    cosine = horner(T_COSINE, c)
    cosine += horner(T_SINE, c) * np.sin(hbar)
    return cosine


def horner(coefficients: tuple[float, ...], x: np.ndarray) -> np.ndarray:
    """The polynomial ``sum_i coefficients[i] x^i`` at every ``x`` (a new float32 array)."""
    out = x * np.float32(coefficients[-1])
    for coefficient in coefficients[-2:0:-1]:
        out += np.float32(coefficient)
        out *= x
    out += np.float32(coefficients[0])
    return out


def ciede2000(lab1: np.ndarray, lab2: np.ndarray, chroma2: np.ndarray | None = None) -> np.ndarray:
    """Per-pixel CIEDE2000 of two CIELAB ``(3, N)`` float32 arrays (kL = kC = kH = 1).

    Term for term skimage's ``deltaE_ciede2000`` (Sharma et al. 2005) in float32;
    ``chroma2`` is ``chroma(a2, b2)`` when the caller has it already. Returns ``(N,)`` float32.
    """
    l1, a1, b1 = lab1
    l2, a2, b2 = lab2
    cbar = chroma(a1, b1)
    cbar += chroma(a2, b2) if chroma2 is None else chroma2
    cbar *= np.float32(0.5)
    scale = _half_chroma_weight(cbar)
    np.subtract(np.float32(1.5), scale * np.float32(0.5), out=scale)  # 1 + G
    c1, h1 = _polar(a1 * scale, b1)
    c2, h2 = _polar(a2 * scale, b2)

    lbar = l1 + l2
    lbar *= np.float32(0.5)
    lbar -= np.float32(50.0)
    lbar *= lbar
    sl = np.sqrt(lbar + np.float32(20.0))
    np.divide(lbar, sl, out=sl)
    sl *= np.float32(0.015)
    sl += np.float32(1.0)
    l_term = l2 - l1
    l_term /= sl

    cbar = c1 + c2
    cbar *= np.float32(0.5)
    c_term = c2 - c1
    c_term /= np.float32(0.045) * cbar + np.float32(1.0)

    h_diff = h2 - h1
    hbar = np.add(h1, h2, out=h1)  # h_sum
    cc = np.multiply(c1, c2, out=c1)
    grey = cc == 0.0
    above, below = h_diff > np.float32(math.pi), h_diff < np.float32(-math.pi)
    # dH: h_diff brought into [-pi, pi]; 0 where a colour is grey.
    dh = h_diff
    dh -= above * np.float32(2 * math.pi)
    dh += below * np.float32(2 * math.pi)
    dh *= ~grey
    dh *= np.float32(0.5)
    h_term = np.sin(dh, out=dh)
    h_term *= np.sqrt(cc, out=cc)
    h_term *= np.float32(2.0)
    # mean hue: half the sum, turned by pi when the hues lie across 0; the sum when grey.
    wrap = np.logical_or(above, below, out=above)
    wrap &= ~grey
    low_sum = hbar < np.float32(2 * math.pi)
    hbar += (wrap & low_sum) * np.float32(2 * math.pi)
    hbar -= (wrap & ~low_sum) * np.float32(2 * math.pi)
    hbar *= grey * np.float32(0.5) + np.float32(0.5)

    sh = hue_weighting(hbar)
    sh *= cbar
    sh *= np.float32(0.015)
    sh += np.float32(1.0)
    h_term /= sh

    rc = _half_chroma_weight(cbar)
    # exp(-z^2) below exp(-80) (< 2e-35, a rotation of nothing) is taken as exp(-80): float32
    # would go subnormal there, which is slow.
    z = hbar
    z *= np.float32(180 / math.pi / 25)
    z -= np.float32(275 / 25)
    z *= z
    np.negative(z, out=z)
    np.maximum(z, np.float32(-80.0), out=z)
    rotation = np.exp(z, out=z)
    rotation *= np.float32(2 * math.radians(30))  # 2 dtheta
    np.sin(rotation, out=rotation)
    rotation *= rc
    rotation *= np.float32(2.0)
    rotation *= c_term
    rotation *= h_term  # -R_term

    total = np.multiply(l_term, l_term, out=l_term)
    total += np.multiply(c_term, c_term, out=c_term)
    total += np.multiply(h_term, h_term, out=sh)
    total -= rotation
    np.maximum(total, np.float32(0.0), out=total)
    return np.sqrt(total, out=total)


def strips(image: np.ndarray) -> Iterator[np.ndarray]:
    """An image's pixels as ``(N, 3)`` views of ``STRIP_PIXELS`` (the last one fewer)."""
    pixels = image.reshape(-1, 3)
    for start in range(0, len(pixels), STRIP_PIXELS):
        yield pixels[start : start + STRIP_PIXELS]


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
        for pixels, (lab_target, chroma) in zip(strips(pred), self.strips, strict=True):
            total += float(ciede2000(rgb_to_lab(pixels), lab_target, chroma).sum(dtype=np.float64))
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


def score_image(job: ImageJob, device: Any = "cpu") -> ImageScores:
    """Every output of ``job`` against its target: the metrics of ``scoring.score_pair``
    (PSNR capped at ``PSNR_CAP``; GT-mean PSNR for native pairs) and the patch statistics of
    histogram similarity, at the crop positions drawn from ``job.seed``.

    ``device``: ``"cpu"`` (numpy and OpenCV, here) or a torch device (a string or
    ``torch.device``; ``exposure_models.image_metrics_torch`` then scores on it).
    """
    if str(device) != "cpu":
        from exposure_models import image_metrics_torch

        return image_metrics_torch.score_image(job, device)
    ref = Reference(job.target)
    metrics = {}
    for method, pred in job.outputs.items():
        reference.check_pair(pred, job.target)
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
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return score_image(job)
    finally:
        cv2.setNumThreads(threads)


def score_stream(
    jobs: Iterable[ImageJob], device: Any = "cpu", workers: int = 1
) -> Iterator[ImageScores]:
    """Scores of ``jobs`` in order: on a CUDA ``device`` (a string or ``torch.device``) in this
    process, otherwise on the CPU in ``workers`` processes (one thread each; ``workers <= 1``:
    in this process).

    While a pool runs, this process (which makes the jobs: the model's forward pass) keeps
    the cores the workers leave, at least one thread (torch and OpenCV), so that its threads do
    not compete with the workers for the same cores.
    """
    if str(device).startswith("cuda"):
        from exposure_models import image_metrics_torch

        yield from (image_metrics_torch.score_image(job, device) for job in jobs)
        return
    if workers <= 1:
        yield from map(_score_here, jobs)
        return
    left = max(1, (os.cpu_count() or 1) - workers)
    with _threads(left):
        yield from map_ordered(_score_in_worker, jobs, workers, ahead=2)


@contextmanager
def _threads(count: int) -> Iterator[None]:
    """OpenCV's threads in this process (and torch's, where torch is loaded) set to ``count``
    for the block, restored after it."""
    torch = sys.modules.get("torch")
    saved = cv2.getNumThreads(), torch.get_num_threads() if torch is not None else 0
    cv2.setNumThreads(count)
    if torch is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        cv2.setNumThreads(saved[0])
        if torch is not None:
            torch.set_num_threads(saved[1])
