"""What one image of ``prep evaluate`` is scored on and what the scorers return.

Images: float32 (H, W, 3) RGB in [0, 1], gamma-encoded, at the evaluation resolution.
PSNR of identical images is infinite; it is capped at ``PSNR_CAP`` so averages stay finite
(EV 0 variants are their own target, so identity scores the cap there).

An ``ImageJob`` holds one image (its target and every method's output); a scorer turns it into
``ImageScores``: ``score_image_reference`` here (the definitions of ``reference``, with
scikit-image), ``fast.score_image`` (numpy and OpenCV, in worker processes) or
``exposure_models.metrics_torch.score_image`` (torch, on a GPU), held equal by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from exposure_core.metrics.histogram import hu_crop_positions, hu_statistics
from exposure_core.metrics.reference import evaluate_pair, psnr

PSNR_CAP = 100.0  # dB


def gt_mean_rescale(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``pred`` scaled so its mean grey level matches the target's, clipped to [0, 1].

    The "GT-mean" protocol of some LOL papers: grey = OpenCV ``RGB2GRAY`` (BT.601 luma)
    of each image, one gain ``mean(grey_target) / mean(grey_pred)`` on all channels.
    A black ``pred`` has no gain and is returned unchanged.
    """
    mean_pred = float(cv2.cvtColor(pred, cv2.COLOR_RGB2GRAY).mean(dtype=np.float64))
    mean_target = float(cv2.cvtColor(target, cv2.COLOR_RGB2GRAY).mean(dtype=np.float64))
    if mean_pred <= 1e-8:
        return pred.copy()
    return np.clip(pred * np.float32(mean_target / mean_pred), 0.0, 1.0).astype(np.float32)


def score_pair(pred: np.ndarray, target: np.ndarray, native: bool) -> dict[str, float]:
    """PSNR (capped), SSIM, MAE, CIEDE2000, plus the GT-mean PSNR for native pairs."""
    scores = evaluate_pair(pred, target)
    scores["psnr"] = min(scores["psnr"], PSNR_CAP)
    if native:
        scores["psnr_gt_mean"] = min(psnr(gt_mean_rescale(pred, target), target), PSNR_CAP)
    return scores


@dataclass
class ImageJob:
    """One image to score: every applicable method's output against the target.

    ``outputs``: method -> float32 (H, W, 3), the target's shape; ``native``: a native pair
    (adds the GT-mean PSNR); ``seed``: the crop positions of histogram similarity.
    """

    target: np.ndarray
    outputs: dict[str, np.ndarray]
    native: bool
    seed: int

    def patch_statistics(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Hu et al.'s patch statistics of each output and of the target, at the same crops."""
        height, width = self.target.shape[:2]
        positions = hu_crop_positions(height, width, np.random.default_rng(self.seed))
        outputs = {m: hu_statistics(pred, positions) for m, pred in self.outputs.items()}
        return outputs, hu_statistics(self.target, positions)


@dataclass
class ImageScores:
    """What a scorer returns for an ``ImageJob``: ``metrics[method]`` as ``score_pair``
    gives it, and the patch statistics of each output (``patches``) and of the target."""

    metrics: dict[str, dict[str, float]]
    patches: dict[str, np.ndarray]
    target_patches: np.ndarray


def score_image_reference(job: ImageJob) -> ImageScores:
    """Score ``job`` with the reference metrics (scikit-image, float64, one method at a time)."""
    metrics = {m: score_pair(pred, job.target, job.native) for m, pred in job.outputs.items()}
    return ImageScores(metrics, *job.patch_statistics())
