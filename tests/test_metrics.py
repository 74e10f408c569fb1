from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
from skimage import data

from exposure_core.exposure import overexpose
from exposure_core.metrics.histogram import (
    HistogramSimilarity,
    histogram_similarity,
    hu_crop_positions,
    hu_patches,
    patch_statistics,
)
from exposure_core.metrics.reference import delta_e2000, evaluate_pair, mae, psnr, ssim

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


@cache
def photo(name: str) -> np.ndarray:
    # HWC, RGB, [0,1], float32
    return (getattr(data, name)() / 255.0).astype(np.float32)


def noisy(image: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.0, sigma, image.shape)
    return np.clip(image + noise, 0.0, 1.0).astype(np.float32)


def test_psnr_hand_value_and_identical():
    target = np.zeros((8, 8, 3), np.float32)
    pred = np.full((8, 8, 3), 0.1, np.float32)  # MSE 0.01 -> 20 dB
    assert psnr(pred, target) == pytest.approx(20.0, abs=1e-5)
    assert psnr(target, target) == math.inf


def test_mae_hand_value():
    target = np.zeros((4, 4, 3), np.float32)
    pred = target.copy()
    pred[:2] = 0.5  # half the pixels off by 0.5
    assert mae(pred, target) == pytest.approx(0.25)
    assert mae(target, pred) == pytest.approx(0.25)


def test_ssim_identical_and_constant_images():
    image = photo("astronaut")[:64, :64]
    assert ssim(image, image) == pytest.approx(1.0)
    assert ssim(noisy(image, 0.1), image) < 0.9
    # Constant images: only the luminance term is left, (2ab + C1) / (a^2 + b^2 + C1).
    a, b, c1 = 0.5, 0.25, 0.01**2
    pred = np.full((16, 16, 3), a, np.float32)
    target = np.full((16, 16, 3), b, np.float32)
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    assert ssim(pred, target) == pytest.approx(expected, rel=1e-6)


def test_ssim_rejects_images_smaller_than_the_window():
    tiny = np.zeros((8, 20, 3), np.float32)
    with pytest.raises(ValueError, match=r"\(8, 20, 3\)"):
        ssim(tiny, tiny)


def test_delta_e2000_hand_values():
    black = np.zeros((4, 4, 3), np.float32)
    white = np.ones((4, 4, 3), np.float32)
    assert delta_e2000(white, white) == 0.0
    assert delta_e2000(black, white) == pytest.approx(100.0, abs=1e-3)
    assert delta_e2000(white, black) == pytest.approx(100.0, abs=1e-3)


def test_evaluate_pair_matches_the_single_metrics():
    target = photo("coffee")[:48, :64]
    pred = noisy(target, 0.05)
    result = evaluate_pair(pred, target)
    assert set(result) == {"psnr", "ssim", "mae", "delta_e2000"}
    assert result["psnr"] == psnr(pred, target)
    assert result["ssim"] == ssim(pred, target)
    assert result["mae"] == mae(pred, target)
    assert result["delta_e2000"] == delta_e2000(pred, target)
    assert 20.0 < result["psnr"] < 35.0


@pytest.mark.parametrize("metric", [psnr, ssim, mae, delta_e2000, evaluate_pair])
def test_metrics_reject_bad_inputs(metric):
    good = np.zeros((16, 16, 3), np.float32)
    with pytest.raises(ValueError, match="float64"):
        metric(good.astype(np.float64), good)
    with pytest.raises(ValueError, match=r"\(16, 16\)"):
        metric(good, good[..., 0])
    with pytest.raises(ValueError, match=r"\(16, 16, 3\) and \(16, 12, 3\)"):
        metric(good, good[:, :12])
    with pytest.raises(ValueError, match="list"):
        metric(good.tolist(), good)


def test_hu_crop_positions_follow_the_protocol():
    positions = hu_crop_positions(80, 120, np.random.default_rng(0))
    assert len(positions) == 4
    for y, x, side, offsets in positions:
        assert (y, side) == (0, 80)  # the square covers the whole short side
        assert 0 <= x <= 40
        assert len(offsets) == 4
        assert all(0 <= d <= 16 for offset in offsets for d in offset)
    portrait = hu_crop_positions(200, 90, np.random.default_rng(0))
    assert all(x == 0 and side == 90 and 0 <= y <= 110 for y, x, side, _ in portrait)


def test_hu_patches_cut_the_drawn_positions():
    # Short side 80: the area resize is the identity, so patches are plain windows.
    image = np.random.default_rng(1).random((80, 120, 3), dtype=np.float32)
    patches = hu_patches(image, np.random.default_rng(7))
    assert patches.shape == (16, 64, 64, 3)
    assert patches.dtype == np.float32
    expected = [
        image[y + dy : y + dy + 64, x + dx : x + dx + 64]
        for y, x, _, offsets in hu_crop_positions(80, 120, np.random.default_rng(7))
        for dy, dx in offsets
    ]
    np.testing.assert_array_equal(patches, np.stack(expected))


def test_hu_patches_are_deterministic_and_work_on_small_images():
    image = photo("chelsea")
    first = hu_patches(image, np.random.default_rng(3))
    np.testing.assert_array_equal(first, hu_patches(image, np.random.default_rng(3)))
    assert not np.array_equal(first, hu_patches(image, np.random.default_rng(4)))
    small = hu_patches(np.full((50, 70, 3), 0.25, np.float32), np.random.default_rng(0))
    assert small.shape == (16, 64, 64, 3)
    np.testing.assert_allclose(small, 0.25, atol=1e-6)
    with pytest.raises(ValueError, match="float64"):
        hu_patches(image.astype(np.float64), np.random.default_rng(0))


def test_patch_statistics_hand_values():
    patches = np.zeros((2, 4, 4, 3), np.float32)
    patches[0] = [1.0, 0.5, 0.5]  # L = 0.27 + 0.335 + 0.03; HLS S = 0.5 / (2 - 1.5) = 1
    patches[1, :2] = 1.0  # half white, half black: L std 0.5, grey so S = 0
    stats = patch_statistics(patches)
    np.testing.assert_allclose(stats[0], [0.635, 0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(stats[1], [0.5, 1.0, 0.0], atol=1e-6)
    with pytest.raises(ValueError, match=r"\(4, 4, 3\)"):
        patch_statistics(patches[0])


def test_histogram_similarity_hand_case():
    out = np.array([[0.1, 0.3, 0.0], [0.9, 0.3, 1.5]])
    target = np.array([[0.1, 0.3, 1.0], [0.5, 0.3, 1.0]])
    result = histogram_similarity(out, target)
    assert result["luminance"] == pytest.approx(50.0)  # one of two patches shares a bin
    assert result["contrast"] == pytest.approx(100.0)
    assert result["saturation"] == pytest.approx(50.0)  # 1.5 is clipped into the top bin
    assert result["mean"] == pytest.approx(200.0 / 3.0)
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        histogram_similarity(out[:, :2], target)


def test_histogram_similarity_accumulator_identical_sets_score_100():
    scores = HistogramSimilarity()
    rng = np.random.default_rng(0)
    for name in PHOTOS[:2]:
        # Only equal crop positions for pred and target make this exactly 100.
        scores.add(photo(name), photo(name), rng)
    assert scores.result() == {
        "luminance": 100.0,
        "contrast": 100.0,
        "saturation": 100.0,
        "mean": 100.0,
    }
    with pytest.raises(ValueError, match="at least one pair"):
        HistogramSimilarity().result()


def _similarity_after_overexposure(tau: float, seed: int) -> dict[str, float]:
    scores = HistogramSimilarity()
    rng = np.random.default_rng(seed)
    for name in PHOTOS:
        scores.add(overexpose(photo(name), tau), photo(name), rng)
    return scores.result()


def test_histogram_similarity_drops_as_overexposure_grows():
    # Seed 002, Table 1: similarity to the originals rises with tau, 100 % at tau = 1.
    # Sixteen patches of one photo are too alike to separate tau 0.2 from 0.5, so the
    # set is the four colour photos shipped with scikit-image.
    results = [_similarity_after_overexposure(tau, seed=0) for tau in (0.2, 0.5, 0.8, 1.0)]
    for key in ("luminance", "contrast", "saturation", "mean"):
        values = [r[key] for r in results]
        assert values[0] < values[1] < values[2] < values[3] == 100.0, (key, values)
    rerun = _similarity_after_overexposure(0.5, seed=0)
    assert rerun == results[1]
