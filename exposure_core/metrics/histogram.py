"""The histogram similarity of Hu et al. (2018), used by seed 002 (section 3.4.1).

It compares *sets* of images through the distributions of three per-patch statistics
(luminance, contrast, saturation); ``HistogramSimilarity`` accumulates the sets pair by pair.
Images are float32 ``(H, W, 3)`` RGB in [0, 1], gamma-encoded.
"""

from __future__ import annotations

import cv2
import numpy as np

from exposure_core.exposure import check_rgb
from exposure_core.metrics.reference import check_pair

HU_LUMA_WEIGHTS = np.array([0.27, 0.67, 0.06], dtype=np.float32)
HU_CROPS = 4  # square crops along the short side, per image
HU_RESIZE = 80  # each square crop is resized (area) to this side
HU_PATCH = 64  # side of the random patches cut from each resized crop
HU_PATCHES_PER_CROP = 4
HU_BINS = 32
HU_STATS = ("luminance", "contrast", "saturation")

# (y, x, side, [(dy, dx), ...]): one square crop and its patch offsets.
CropPosition = tuple[int, int, int, list[tuple[int, int]]]


def hu_crop_positions(height: int, width: int, rng: np.random.Generator) -> list[CropPosition]:
    """Draw the crop positions of Hu et al.'s protocol for an image of the given size.

    Returns ``HU_CROPS`` tuples ``(y, x, side, patch_offsets)``: a square crop of side
    ``min(height, width)`` at ``(y, x)``, and the ``(dy, dx)`` of its 64 x 64 patches
    inside the 80 x 80 resized crop.
    """
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height} x {width}")
    side = min(height, width)
    spare = HU_RESIZE - HU_PATCH
    positions = []
    for _ in range(HU_CROPS):
        # The square slides along the long side only; the short side is covered whole.
        y = int(rng.integers(0, height - side + 1))
        x = int(rng.integers(0, width - side + 1))
        offsets = [
            (int(rng.integers(0, spare + 1)), int(rng.integers(0, spare + 1)))
            for _ in range(HU_PATCHES_PER_CROP)
        ]
        positions.append((y, x, side, offsets))
    return positions


def _cut_patches(image: np.ndarray, positions: list[CropPosition]) -> np.ndarray:
    patches = []
    for y, x, side, offsets in positions:
        square = np.ascontiguousarray(image[y : y + side, x : x + side])
        small = cv2.resize(square, (HU_RESIZE, HU_RESIZE), interpolation=cv2.INTER_AREA)
        patches += [small[dy : dy + HU_PATCH, dx : dx + HU_PATCH] for dy, dx in offsets]
    return np.stack(patches).astype(np.float32, copy=False)


def hu_patches(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The 16 patches Hu et al. (2018) take from one image.

    4 random square crops of side ``min(H, W)``, each resized to 80 x 80 with
    ``cv2.INTER_AREA``, then 4 random 64 x 64 crops of each.

    Args:
        image: float32 ``(H, W, 3)`` RGB in [0, 1].
        rng: source of the crop positions (the result is deterministic given its state).
    Returns:
        float32 ``(16, 64, 64, 3)`` RGB patches.
    """
    check_rgb(image)
    return _cut_patches(image, hu_crop_positions(image.shape[0], image.shape[1], rng))


def hu_statistics(image: np.ndarray, positions: list[CropPosition]) -> np.ndarray:
    """``patch_statistics`` of the patches of ``image`` at ``positions`` (``hu_crop_positions``).

    Returns float64 ``(16, 3)``; the same positions on an output and its target sample the
    same scene content.
    """
    check_rgb(image)
    return patch_statistics(_cut_patches(image, positions))


def patch_statistics(patches: np.ndarray) -> np.ndarray:
    """Per-patch statistics of Hu et al.: luminance mean, contrast, saturation mean.

    ``L = 0.27 R + 0.67 G + 0.06 B``; columns are ``mean(L)``, ``2 * std(L)`` and the
    mean of S from HLS (OpenCV on float RGB gives S in [0, 1]). Values are clipped to
    [0, 1] first, as saving the image would.

    Args:
        patches: float32 ``(N, h, w, 3)`` RGB patches.
    Returns:
        float64 ``(N, 3)``.
    """
    if not isinstance(patches, np.ndarray) or patches.dtype != np.float32:
        raise ValueError(f"patches must be a float32 numpy array, got {type(patches).__name__}")
    if patches.ndim != 4 or patches.shape[3] != 3 or patches.size == 0:
        raise ValueError(f"patches must have shape (N, h, w, 3), got {patches.shape}")
    n, h, w, _ = patches.shape
    clipped = np.clip(patches, 0.0, 1.0)
    luma = (clipped @ HU_LUMA_WEIGHTS).reshape(n, -1).astype(np.float64)
    # HLS is per pixel, so all patches convert at once as one tall image.
    hls = cv2.cvtColor(np.ascontiguousarray(clipped.reshape(n * h, w, 3)), cv2.COLOR_RGB2HLS)
    saturation = hls[..., 2].reshape(n, -1).astype(np.float64)
    return np.stack([luma.mean(axis=1), 2.0 * luma.std(axis=1), saturation.mean(axis=1)], axis=1)


def histogram_similarity(
    stats_out: np.ndarray, stats_target: np.ndarray, bins: int = HU_BINS
) -> dict[str, float]:
    """Similarity (percent) of two sets of patch statistics, one histogram per statistic.

    Each column is binned into ``bins`` equal bins on [0, 1] (values clipped into range)
    and normalised by the set's patch count; similarity is ``100 * sum(min(h_out, h_target))``.

    Args:
        stats_out, stats_target: ``(N, 3)`` and ``(M, 3)`` arrays from ``patch_statistics``.
    Returns:
        ``{"luminance", "contrast", "saturation", "mean"}`` in percent.
    """
    for name, stats in (("stats_out", stats_out), ("stats_target", stats_target)):
        if stats.ndim != 2 or stats.shape[1] != 3 or stats.shape[0] == 0:
            raise ValueError(f"{name} must have shape (N, 3) with N > 0, got {stats.shape}")
    result = {}
    for column, name in enumerate(HU_STATS):
        hists = [
            np.histogram(np.clip(s[:, column], 0.0, 1.0), bins=bins, range=(0.0, 1.0))[0]
            / s.shape[0]
            for s in (stats_out, stats_target)
        ]
        result[name] = float(np.minimum(*hists).sum() * 100.0)
    result["mean"] = float(np.mean([result[name] for name in HU_STATS]))
    return result


class HistogramSimilarity:
    """Accumulates Hu et al.'s histogram similarity over (pred, target) pairs.

    For each pair the SAME crop positions are used for pred and target, so both sets
    sample the same scene content and the score reflects the correction only, not
    crop luck. Deterministic given the ``rng`` passed to ``add``.
    """

    def __init__(self) -> None:
        self._out: list[np.ndarray] = []
        self._target: list[np.ndarray] = []

    def add(self, pred: np.ndarray, target: np.ndarray, rng: np.random.Generator) -> None:
        """Add one pair: float32 ``(H, W, 3)`` RGB in [0, 1], the same shape."""
        check_pair(pred, target)
        positions = hu_crop_positions(pred.shape[0], pred.shape[1], rng)
        self.add_statistics(hu_statistics(pred, positions), hu_statistics(target, positions))

    def add_statistics(self, stats_out: np.ndarray, stats_target: np.ndarray) -> None:
        """Add one pair's ``patch_statistics`` (the same crop positions on both sides)."""
        if stats_out.shape != stats_target.shape:
            raise ValueError(
                f"patch statistics differ in shape: {stats_out.shape} and {stats_target.shape}"
            )
        self._out.append(stats_out)
        self._target.append(stats_target)

    def result(self) -> dict[str, float]:
        """``{"luminance", "contrast", "saturation", "mean"}`` in percent over all pairs added."""
        if not self._out:
            raise ValueError("HistogramSimilarity.result() needs at least one pair added")
        return histogram_similarity(np.concatenate(self._out), np.concatenate(self._target))
