"""The metrics of prep evaluate (numpy on the CPU; torch, on the CPU here, for a GPU) against
scikit-image's."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from exposure_core.exposure import overexpose, shift_ev
from exposure_core.metrics import fast as im
from exposure_core.metrics import fast_colour as colour
from exposure_core.metrics import reference as sk
from exposure_core.metrics.scores import ImageJob, score_image_reference
from exposure_models import metrics_torch as imt
from pipeline.evaluation.baselines import clahe, histogram_equalization

TOLERANCE = 1e-4  # what both paths must match scikit-image to (they do to a few 1e-6)


def _crop(image: np.ndarray, height: int = 96, width: int = 128) -> np.ndarray:
    return np.ascontiguousarray(image[:height, :width])


def _noisy(image: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.0, sigma, image.shape)
    return np.clip(image + noise, 0.0, 1.0).astype(np.float32)


def _cases(photos: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    coffee, rocket = _crop(photos["coffee"]), _crop(photos["rocket"], 64, 47)
    rng = np.random.default_rng(3)
    random = rng.random((33, 40, 3), dtype=np.float32)
    grey = np.repeat(rng.random((20, 30, 1), dtype=np.float32), 3, axis=2)  # a = b = 0 pixels
    return [
        (overexpose(coffee, 0.6), coffee),
        (shift_ev(coffee, -1.5), coffee),
        (clahe(rocket), rocket),
        (histogram_equalization(coffee), coffee),
        (_noisy(coffee, 0.05, 1), coffee),
        (rng.random((33, 40, 3), dtype=np.float32), random),
        (np.clip(grey * 1.4, 0, 1).astype(np.float32), grey),
        (grey, _noisy(grey, 0.2, 2)),
    ]


def _numpy_scores(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    return im.Reference(target).scores(pred)


def _torch_scores(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    return imt.Reference(imt.to_tensor(target)).scores(imt.to_tensor(pred))


def _assert_like_scikit_image(got: dict[str, float], pred: np.ndarray, target: np.ndarray) -> None:
    assert got["psnr"] == pytest.approx(sk.psnr(pred, target), abs=TOLERANCE)
    assert got["ssim"] == pytest.approx(sk.ssim(pred, target), abs=TOLERANCE)
    assert got["mae"] == pytest.approx(sk.mae(pred, target), abs=TOLERANCE)
    assert got["delta_e2000"] == pytest.approx(sk.delta_e2000(pred, target), abs=TOLERANCE)


@pytest.mark.parametrize("scores", [_numpy_scores, _torch_scores], ids=["numpy", "torch"])
def test_metrics_match_scikit_image(demo_photos, scores) -> None:
    for pred, target in _cases(demo_photos):
        _assert_like_scikit_image(scores(pred, target), pred, target)


def _hue_wrap_pair() -> tuple[np.ndarray, np.ndarray]:
    """Reds and magentas against oranges: hues on both sides of 0 (CIELAB's h_diff > pi)."""
    rng = np.random.default_rng(5)
    red = np.stack([np.full((16, 24), 0.8), rng.uniform(0.0, 0.2, (16, 24)),
                    rng.uniform(0.1, 0.5, (16, 24))], axis=2)  # fmt: skip
    orange = np.stack([np.full((16, 24), 0.8), rng.uniform(0.2, 0.5, (16, 24)),
                       rng.uniform(0.0, 0.1, (16, 24))], axis=2)  # fmt: skip
    return red.astype(np.float32), orange.astype(np.float32)


def test_edge_cases_match_scikit_image() -> None:
    """Hue wrap, grey against colour, flat images, odd and the smallest sizes (numpy path)."""
    rng = np.random.default_rng(9)
    flat = np.full((13, 11, 3), 0.9, np.float32)
    grey = np.repeat(rng.random((11, 11, 1), dtype=np.float32), 3, axis=2)
    black_white = np.zeros((12, 17, 3), np.float32)
    black_white[:, 8:] = 1.0
    cases = [
        _hue_wrap_pair(),
        (grey, rng.random((11, 11, 3), dtype=np.float32)),
        (flat, np.full_like(flat, 0.91)),
        (black_white, np.clip(black_white + 0.01, 0, 1)),
        (rng.random((11, 37, 3), dtype=np.float32), rng.random((11, 37, 3), dtype=np.float32)),
        (rng.random((29, 11, 3), dtype=np.float32), rng.random((29, 11, 3), dtype=np.float32)),
    ]
    for pred, target in cases:
        _assert_like_scikit_image(_numpy_scores(pred, target), pred, target)


def test_ciede2000_per_pixel_matches_scikit_image() -> None:
    from skimage.color import deltaE_ciede2000, rgb2lab

    red, orange = _hue_wrap_pair()
    rng = np.random.default_rng(2)
    pixels = [red, orange, rng.random((16, 24, 3), dtype=np.float32), np.full_like(red, 0.5)]
    for pred in pixels:
        for target in pixels:
            want = deltaE_ciede2000(
                rgb2lab(pred.astype(np.float64)), rgb2lab(target), channel_axis=-1
            )
            lab_pred = colour.rgb_to_lab(pred.reshape(-1, 3))
            got = colour.ciede2000(lab_pred, colour.rgb_to_lab(target.reshape(-1, 3)))
            np.testing.assert_allclose(got, want.ravel(), atol=2e-3)


def test_hand_values_and_identical_images() -> None:
    black = np.zeros((16, 16, 3), np.float32)
    white = np.ones((16, 16, 3), np.float32)
    ref = im.Reference(white)
    assert ref.delta_e2000(black) == pytest.approx(100.0, abs=1e-3)
    assert ref.psnr(black) == pytest.approx(0.0)
    same = ref.scores(white.copy())
    assert same == {"psnr": math.inf, "ssim": pytest.approx(1.0), "mae": 0.0, "delta_e2000": 0.0}
    ref_t = imt.Reference(imt.to_tensor(white))
    assert ref_t.delta_e2000(imt.to_tensor(black)) == pytest.approx(100.0, abs=1e-3)
    same = ref_t.scores(imt.to_tensor(white.copy()))
    assert same == {"psnr": math.inf, "ssim": pytest.approx(1.0), "mae": 0.0, "delta_e2000": 0.0}


def test_lab_matches_scikit_image() -> None:
    from skimage.color import rgb2lab

    rgb = np.random.default_rng(0).random((7, 9, 3))
    lab = imt.rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1)).permute(1, 2, 0).numpy()
    np.testing.assert_allclose(lab, rgb2lab(rgb), atol=1e-9)
    lab32 = colour.rgb_to_lab(rgb.astype(np.float32).reshape(-1, 3)).T.reshape(rgb.shape)
    np.testing.assert_allclose(lab32, rgb2lab(rgb.astype(np.float32)), atol=1e-3)


def test_opencv_and_torch_gaussian_agree() -> None:
    x = torch.rand(3, 30, 41, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    by_opencv = imt.blur_valid(x, use_opencv=True)
    by_torch = imt.blur_valid(x, use_opencv=False)
    assert by_opencv.shape == (3, 20, 31)
    torch.testing.assert_close(by_opencv, by_torch, atol=1e-12, rtol=0)
    by_numpy = im.valid(im.gaussian_blur(x.permute(1, 2, 0).numpy().astype(np.float32)))
    np.testing.assert_allclose(by_numpy, by_torch.permute(1, 2, 0).numpy(), atol=1e-6)
    constant = torch.full((1, 11, 11), 0.3, dtype=torch.float64)
    assert float(imt.blur_valid(constant)[0, 0, 0]) == pytest.approx(0.3)
    ref = imt.Reference(imt.to_tensor(np.random.default_rng(1).random((25, 25, 3), np.float32)))
    conv = imt.Reference(ref.target, use_opencv=False)
    pred = torch.rand_like(ref.target)
    assert ref.ssim(pred) == pytest.approx(conv.ssim(pred), abs=1e-12)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="sides >= 11"):
        im.Reference(np.zeros((10, 40, 3), np.float32))
    with pytest.raises(ValueError, match="sides >= 11"):
        imt.Reference(imt.to_tensor(np.zeros((10, 40, 3), np.float32)))
    ref = im.Reference(np.zeros((12, 12, 3), np.float32))
    with pytest.raises(ValueError, match="same shape"):
        ref.scores(np.zeros((12, 13, 3), np.float32))
    with pytest.raises(ValueError, match="float32"):
        ref.scores(np.zeros((12, 12, 3), np.float64))
    ref_t = imt.Reference(imt.to_tensor(np.zeros((12, 12, 3), np.float32)))
    with pytest.raises(ValueError, match="same shape"):
        ref_t.scores(imt.to_tensor(np.zeros((12, 13, 3), np.float32)))
    with pytest.raises(ValueError, match="float32"):
        imt.to_tensor(np.zeros((12, 12, 3), np.float64))


def _job(photos: dict[str, np.ndarray], native: bool, seed: int) -> ImageJob:
    target = _crop(photos["chelsea"], 80, 100)
    low = overexpose(target, 0.55)
    outputs = {"identity": low.copy(), "he": histogram_equalization(low), "same": target.copy()}
    return ImageJob(target, outputs, native, seed)


def test_score_image_equals_the_reference_scorer(demo_photos) -> None:
    for native in (False, True):
        job = _job(demo_photos, native, seed=7)
        want = score_image_reference(job)
        got, on_torch = im.score_image(job), imt.score_image(job, "cpu")
        for method, scores in on_torch.metrics.items():
            assert scores == pytest.approx(got.metrics[method], abs=TOLERANCE)
        assert list(got.metrics) == list(job.outputs)
        for method, scores in want.metrics.items():
            assert set(got.metrics[method]) == set(scores)
            for key, value in scores.items():
                assert got.metrics[method][key] == pytest.approx(value, abs=TOLERANCE), key
            np.testing.assert_array_equal(got.patches[method], want.patches[method])
        np.testing.assert_array_equal(got.target_patches, want.target_patches)
        assert got.metrics["same"]["psnr"] == 100.0  # capped
        assert ("psnr_gt_mean" in got.metrics["he"]) == native


def test_score_stream_in_processes_keeps_order(demo_photos) -> None:
    jobs = [_job(demo_photos, False, seed) for seed in range(3)]
    jobs[1].outputs = {"he": jobs[1].outputs["he"]}
    alone = [im.score_image(job) for job in jobs]
    pooled = list(imt.score_stream(iter(jobs), "cpu", workers=2))
    here = list(imt.score_stream(iter(jobs), "cpu", workers=1))
    assert [list(s.metrics) for s in pooled] == [list(s.metrics) for s in alone]
    for a, b in zip(alone, pooled, strict=True):
        assert a.metrics == b.metrics
        np.testing.assert_array_equal(a.target_patches, b.target_patches)
    for a, b in zip(alone, here, strict=True):
        assert a.metrics == b.metrics
        np.testing.assert_array_equal(a.target_patches, b.target_patches)


def test_delta_e_over_several_strips(demo_photos, monkeypatch) -> None:
    target = _crop(demo_photos["astronaut"], 50, 70)
    pred = shift_ev(target, 1.0)
    monkeypatch.setattr(colour, "STRIP_PIXELS", 7 * 70 + 3)  # the last strip 1 row less 3 pixels
    ref = im.Reference(target)
    assert len(ref.strips) == 8
    got = ref.delta_e2000(pred)
    assert got == pytest.approx(sk.delta_e2000(pred, target), abs=TOLERANCE)
    monkeypatch.setitem(imt.STRIP_PIXELS, "cpu", 7 * 70)  # 7 rows a strip, the last one 1 row
    ref_t = imt.Reference(imt.to_tensor(target))
    assert len(ref_t.strips) == 8
    got = ref_t.delta_e2000(imt.to_tensor(pred))
    assert got == pytest.approx(sk.delta_e2000(pred, target), abs=TOLERANCE)


def test_hue_weighting_equals_the_four_cosines() -> None:
    hue = np.linspace(-0.5, 2 * math.pi + 0.5, 10_001)
    want = (
        1.0
        - 0.17 * np.cos(hue - math.radians(30))
        + 0.24 * np.cos(2 * hue)
        + 0.32 * np.cos(3 * hue + math.radians(6))
        - 0.20 * np.cos(4 * hue - math.radians(63))
    )
    got = colour.hue_weighting(hue.astype(np.float32))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=2e-6)


def test_ssim_over_several_bands(demo_photos, monkeypatch) -> None:
    target = _crop(demo_photos["coffee"], 53, 70)
    pred = overexpose(target, 0.7)
    want = sk.ssim(pred, target)
    for band_rows in (1, 7, 43, 64):  # 43 valid rows: bands of 7 leave a last one of 1
        monkeypatch.setattr(im, "SSIM_BAND_ROWS", band_rows)
        assert im.Reference(target).ssim(pred) == pytest.approx(want, abs=TOLERANCE)
