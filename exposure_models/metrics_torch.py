"""The full-reference metrics of ``prep evaluate`` in torch, for a CUDA GPU (or the CPU).

``prep evaluate`` scores with ``exposure_core.metrics.fast`` (numpy and OpenCV) on the CPU and
with this module on a GPU; ``on_gpu`` chooses (``score_stream`` scores a stream of jobs the
same way, in worker processes on the CPU). The definitions of
``exposure_core.metrics.reference`` (scikit-image's PSNR, SSIM, ``rgb2lab`` and
``deltaE_ciede2000``), PSNR, SSIM and MAE in float64 like them (the values agree to about
1e-12), CIEDE2000 to about 1e-6; tests hold them to 1e-4. They are organised for speed:

* ``Reference`` holds one target and the terms that depend on it alone (its CIELAB
  image, its local means and variances), so scoring several methods against the same target
  computes them once;
* the 11-tap Gaussian of SSIM is separable: on a GPU it runs as two 1-D convolutions, on the
  CPU through OpenCV's ``sepFilter2D`` (float64, the same weights as scipy's
  ``gaussian_filter``);
* CIEDE2000 runs in float32 (twice as fast; the mean moves by about 1e-6), summed in
  float64, over strips of rows, so memory stays bounded at full resolution.

Images come in as float32 ``(H, W, 3)`` RGB in [0, 1], gamma-encoded (numpy arrays), and
are scored as float64 ``(3, H, W)`` tensors (``to_tensor``) on the device. ``score_image``
scores one ``ImageJob`` of ``exposure_core.metrics.scores`` (every method's output against one
target). Histogram similarity keeps its OpenCV patch cutting and binning
(``exposure_core.metrics.histogram``), so its values stay bit-identical.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from exposure_core.exposure import check_rgb
from exposure_core.metrics import fast
from exposure_core.metrics.reference import (
    D65_WHITE,
    SSIM_K1,
    SSIM_K2,
    SSIM_RADIUS,
    XYZ_FROM_RGB,
    check_pair,
    ssim_window,
)
from exposure_core.metrics.scores import PSNR_CAP, ImageJob, ImageScores, gt_mean_rescale

# CIEDE2000 works on strips of about this many pixels: cache-sized on the CPU, large on a GPU.
STRIP_PIXELS = {"cpu": 1 << 15, "cuda": 1 << 22}
_DTYPE = torch.float64
LAB_DTYPE = torch.float32  # CIEDE2000's colour maths (see Reference.delta_e2000)


def to_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """float32 ``(H, W, 3)`` numpy image -> float64 ``(3, H, W)`` tensor on ``device``."""
    check_rgb(image)
    return torch.from_numpy(image).to(device).permute(2, 0, 1).to(_DTYPE).contiguous()


def blur_valid(x: torch.Tensor, use_opencv: bool | None = None) -> torch.Tensor:
    """The SSIM Gaussian over each ``(H, W)`` plane of ``x`` (``(C, H, W)``), valid part only.

    Returns ``(C, H - 10, W - 10)``: the pixels whose window lies inside the image, which is
    exactly what skimage keeps when it crops the SSIM map (so its border mode never matters).
    ``use_opencv`` (default: on the CPU) picks OpenCV's separable filter over torch's.
    """
    taps = ssim_window()
    r = SSIM_RADIUS
    if use_opencv if use_opencv is not None else x.device.type == "cpu":
        planes = x.detach().cpu().numpy()
        kernel = taps.reshape(-1, 1)
        out = [cv2.sepFilter2D(p, cv2.CV_64F, kernel, kernel)[r:-r, r:-r] for p in planes]
        return torch.from_numpy(np.stack(out)).to(x.device)
    c = x.shape[0]
    w = torch.from_numpy(taps).to(x.device, x.dtype)
    rows = F.conv2d(x[None], w.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(rows, w.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)[0]


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB ``(3, ...)`` in [0, 1] -> CIELAB ``(3, ...)`` (D65, 2 degrees), as skimage's rgb2lab."""
    lin = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    matrix = torch.tensor(XYZ_FROM_RGB, dtype=rgb.dtype, device=rgb.device)
    white = torch.tensor(D65_WHITE, dtype=rgb.dtype, device=rgb.device)
    xyz = torch.tensordot(matrix, lin, dims=([1], [0]))
    xyz = xyz / white.view(3, *([1] * (rgb.ndim - 1)))
    f = torch.where(xyz > 0.008856, torch.pow(xyz, 1.0 / 3.0), 7.787 * xyz + 16.0 / 116.0)
    return torch.stack([116.0 * f[1] - 16.0, 500.0 * (f[0] - f[1]), 200.0 * (f[1] - f[2])])


def _polar_2pi(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    angle = torch.atan2(y, x)
    return torch.hypot(x, y), torch.where(angle < 0.0, angle + 2 * math.pi, angle)


def ciede2000(lab1: torch.Tensor, lab2: torch.Tensor) -> torch.Tensor:
    """Per-pixel CIEDE2000 of two CIELAB ``(3, ...)`` tensors (kL = kC = kH = 1).

    Term for term skimage's ``deltaE_ciede2000`` (Sharma et al. 2005), with ``lab1`` the
    reference colour.
    """
    l1, a1, b1 = lab1
    l2, a2, b2 = lab2
    c7 = _pow7(0.5 * (torch.hypot(a1, b1) + torch.hypot(a2, b2)))
    scale = 1.0 + 0.5 * (1.0 - torch.sqrt(c7 / (c7 + 25.0**7)))
    c1, h1 = _polar_2pi(a1 * scale, b1)
    c2, h2 = _polar_2pi(a2 * scale, b2)
    lbar_50 = 0.5 * (l1 + l2) - 50.0
    lbar_50 = lbar_50 * lbar_50
    l_term = (l2 - l1) / (1.0 + 0.015 * lbar_50 / torch.sqrt(20.0 + lbar_50))
    cbar = 0.5 * (c1 + c2)
    c_term = (c2 - c1) / (1.0 + 0.045 * cbar)
    h_diff, h_sum, cc = h2 - h1, h1 + h2, c1 * c2
    grey = cc == 0.0
    dh = torch.where(h_diff > math.pi, h_diff - 2 * math.pi, h_diff)
    dh = torch.where(h_diff < -math.pi, dh + 2 * math.pi, dh)
    dh = torch.where(grey, 0.0, dh)
    dh_term = 2.0 * torch.sqrt(cc) * torch.sin(dh / 2.0)
    wrap = ~grey & (h_diff.abs() > math.pi)
    hbar = torch.where(wrap & (h_sum < 2 * math.pi), h_sum + 2 * math.pi, h_sum)
    hbar = torch.where(wrap & (h_sum >= 2 * math.pi), hbar - 2 * math.pi, hbar)
    hbar = torch.where(grey, hbar * 2.0, hbar) * 0.5
    t = (
        1.0
        - 0.17 * torch.cos(hbar - math.radians(30))
        + 0.24 * torch.cos(2.0 * hbar)
        + 0.32 * torch.cos(3.0 * hbar + math.radians(6))
        - 0.20 * torch.cos(4.0 * hbar - math.radians(63))
    )
    h_term = dh_term / (1.0 + 0.015 * cbar * t)
    c7 = _pow7(cbar)
    rc = 2.0 * torch.sqrt(c7 / (c7 + 25.0**7))
    # exp(-x^2) below exp(-80) (< 2e-35, a rotation of nothing) is taken as exp(-80): float32
    # would go subnormal there, which is slow on the CPU.
    z = (torch.rad2deg(hbar) - 275.0) / 25.0
    dtheta = math.radians(30) * torch.exp(torch.clamp(-(z * z), min=-80.0))
    r_term = -torch.sin(2.0 * dtheta) * rc * c_term * h_term
    return torch.sqrt(
        torch.clamp(l_term * l_term + c_term * c_term + h_term * h_term + r_term, min=0.0)
    )


def _pow7(x: torch.Tensor) -> torch.Tensor:
    x2 = x * x
    return x2 * x2 * x2 * x


class Reference:
    """One target image and its own SSIM and CIELAB terms, to score several predictions.

    Args:
        target: float64 ``(3, H, W)`` RGB in [0, 1] (``to_tensor``), both sides >= 11.
    """

    def __init__(self, target: torch.Tensor, use_opencv: bool | None = None) -> None:
        if target.ndim != 3 or target.shape[0] != 3 or target.dtype != _DTYPE:
            raise ValueError(
                f"target must be a float64 (3, H, W) tensor, got {tuple(target.shape)}"
            )
        if min(target.shape[1:]) < 2 * SSIM_RADIUS + 1:
            raise ValueError(
                f"ssim needs both sides >= {2 * SSIM_RADIUS + 1}, got {tuple(target.shape)}"
            )
        self.target = target
        self.use_opencv = use_opencv
        self.mu = blur_valid(target, use_opencv)
        self.var = blur_valid(target * target, use_opencv) - self.mu * self.mu
        rows = max(1, STRIP_PIXELS.get(target.device.type, 1 << 22) // target.shape[2])
        self.strips = [
            (y, rgb_to_lab(target[:, y : y + rows].to(LAB_DTYPE)))
            for y in range(0, target.shape[1], rows)
        ]

    def psnr(self, pred: torch.Tensor) -> float:
        """PSNR in dB (data range 1); ``inf`` for identical images."""
        mse = float(torch.mean((pred - self.target) ** 2))
        return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)

    def mae(self, pred: torch.Tensor) -> float:
        return float(torch.mean(torch.abs(pred - self.target)))

    def ssim(self, pred: torch.Tensor) -> float:
        """Mean SSIM over the valid pixels and the three channels (skimage's conventions)."""
        c1, c2 = SSIM_K1**2, SSIM_K2**2
        mu_x = blur_valid(pred, self.use_opencv)
        den = blur_valid(pred * pred, self.use_opencv)  # E[x^2]
        num = blur_valid(pred * self.target, self.use_opencv)  # E[xy]
        mu_x2 = mu_x * mu_x
        den.sub_(mu_x2).add_(self.var).add_(c2)  # var_x + var_y + c2
        den.mul_(mu_x2.add_(self.mu * self.mu).add_(c1))  # ... * (mu_x^2 + mu_y^2 + c1)
        num.addcmul_(mu_x, self.mu, value=-1.0).mul_(2.0).add_(c2)  # 2 cov + c2
        num.mul_(mu_x.mul_(self.mu).mul_(2.0).add_(c1))  # ... * (2 mu_x mu_y + c1)
        return float(torch.mean(num.div_(den)))

    def delta_e2000(self, pred: torch.Tensor) -> float:
        """Mean CIEDE2000 of ``pred`` against the target over all pixels.

        The colour maths runs in float32 (the images' own precision; the mean moves by about
        1e-6 from skimage's float64) and the sum in float64.
        """
        total = 0.0
        for y, lab_target in self.strips:
            rows = lab_target.shape[1]
            lab_pred = rgb_to_lab(pred[:, y : y + rows].to(LAB_DTYPE))
            total += float(ciede2000(lab_pred, lab_target).sum(dtype=_DTYPE))
        return total / (pred.shape[1] * pred.shape[2])

    def scores(self, pred: torch.Tensor) -> dict[str, float]:
        """``psnr`` (uncapped), ``ssim``, ``mae``, ``delta_e2000`` of one float64 ``(3, H, W)``."""
        if pred.shape != self.target.shape:
            raise ValueError(
                f"pred and target must have the same shape, got {tuple(pred.shape)} and "
                f"{tuple(self.target.shape)}"
            )
        return {
            "psnr": self.psnr(pred),
            "ssim": self.ssim(pred),
            "mae": self.mae(pred),
            "delta_e2000": self.delta_e2000(pred),
        }


def score_image(job: ImageJob, device: torch.device | str = "cpu") -> ImageScores:
    """Every output of ``job`` against its target: the metrics of ``scoring.score_pair``
    (PSNR capped at ``PSNR_CAP``; GT-mean PSNR for native pairs) and the patch statistics of
    histogram similarity, at the crop positions drawn from ``job.seed``."""
    with torch.inference_mode():
        ref = Reference(to_tensor(job.target, device))
        metrics = {}
        for method, pred in job.outputs.items():
            check_pair(pred, job.target)
            scores = ref.scores(to_tensor(pred, device))
            scores["psnr"] = min(scores["psnr"], PSNR_CAP)
            if job.native:
                rescaled = gt_mean_rescale(pred, job.target)
                scores["psnr_gt_mean"] = min(ref.psnr(to_tensor(rescaled, device)), PSNR_CAP)
            metrics[method] = scores
    return ImageScores(metrics, *job.patch_statistics())


def on_gpu(device: torch.device | str) -> bool:
    """Whether ``prep evaluate`` scores on ``device`` with this module (a CUDA device) rather
    than with ``exposure_core.metrics.fast`` on the CPU."""
    return str(device).startswith("cuda")


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """This process's torch threads set to ``count`` for the block, restored after it."""
    saved = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def score_stream(
    jobs: Iterable[ImageJob], device: torch.device | str = "cpu", workers: int = 1
) -> Iterator[ImageScores]:
    """Scores of ``jobs`` in order: on a CUDA ``device`` in this process with this module,
    otherwise on the CPU with ``exposure_core.metrics.fast`` in ``workers`` processes (one
    thread each; ``workers <= 1``: in this process).

    While a pool runs, this process (which makes the jobs: the model's forward pass) keeps the
    cores the workers leave for torch (and OpenCV), so that its threads do not compete with
    the workers for the same cores.
    """
    if on_gpu(device):
        yield from (score_image(job, device) for job in jobs)
        return
    if workers <= 1:
        yield from fast.score_stream(jobs, workers)
        return
    with torch_threads(fast.cores_left(workers)):
        yield from fast.score_stream(jobs, workers)
