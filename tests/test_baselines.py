from __future__ import annotations

from functools import cache

import cv2
import numpy as np
import pytest
from skimage import data

from exposure_core.exposure import gamma_decode, luminance, overexpose, shift_ev
from pipeline.evaluation.baselines import (
    BLIND_BASELINES,
    auto_exposure,
    clahe,
    histogram_equalization,
    identity,
    inverse_ev_oracle,
    inverse_overexpose_oracle,
    oracle,
)


@cache
def astronaut() -> np.ndarray:
    # HWC, RGB, [0,1], float32; a quarter-size copy keeps the tests fast
    return (data.astronaut()[::4, ::4] / 255.0).astype(np.float32)


def low_contrast() -> np.ndarray:
    return (0.4 + 0.2 * astronaut()).astype(np.float32)


def spread(channel: np.ndarray) -> float:
    p05, p95 = np.percentile(channel, [5, 95])
    return float(p95 - p05)


def test_blind_baselines_registry():
    assert set(BLIND_BASELINES) == {"identity", "he", "clahe", "auto_exposure", "stops"}
    assert BLIND_BASELINES["he"] is histogram_equalization


@pytest.mark.parametrize("name", sorted(BLIND_BASELINES))
def test_blind_baselines_keep_shape_dtype_and_range(name):
    image = astronaut()[:70, :90]
    out = BLIND_BASELINES[name](image)
    assert out.shape == image.shape
    assert out.dtype == np.float32
    assert out.min() >= 0.0
    assert out.max() <= 1.0
    assert out is not image


@pytest.mark.parametrize("name", sorted(BLIND_BASELINES))
def test_blind_baselines_reject_bad_inputs(name):
    image = astronaut()[:16, :16]
    with pytest.raises(ValueError, match="float64"):
        BLIND_BASELINES[name](image.astype(np.float64))
    with pytest.raises(ValueError, match=r"\(16, 16\)"):
        BLIND_BASELINES[name](image[..., 0])


def test_identity_returns_an_equal_copy():
    image = astronaut()
    out = identity(image)
    np.testing.assert_array_equal(out, image)
    assert not np.shares_memory(out, image)


def test_histogram_equalization_hand_value():
    # Two grey levels: equalisation sends the lower to 0 and the upper to 255 levels.
    image = np.full((4, 4, 3), 0.4, np.float32)
    image[2:] = 0.6
    out = histogram_equalization(image)
    np.testing.assert_allclose(out[:2], 0.0, atol=1e-6)
    np.testing.assert_allclose(out[2:], 1.0, atol=1e-6)


def test_histogram_equalization_spreads_luma_and_keeps_chroma():
    image = low_contrast()
    out = histogram_equalization(image)
    y_in = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)
    y_out = cv2.cvtColor(out, cv2.COLOR_RGB2YCrCb)
    assert spread(y_out[..., 0]) > 3 * spread(y_in[..., 0])
    unclipped = ((out > 0.0) & (out < 1.0)).all(axis=2)
    assert unclipped.mean() > 0.5
    np.testing.assert_allclose(y_out[unclipped, 1:], y_in[unclipped, 1:], atol=1e-4)


def test_clahe_raises_local_contrast_and_keeps_grey_grey():
    image = low_contrast()
    out = clahe(image)
    lab_in = cv2.cvtColor(image, cv2.COLOR_RGB2Lab)
    lab_out = cv2.cvtColor(out, cv2.COLOR_RGB2Lab)
    assert lab_out[..., 0].std() > 1.5 * lab_in[..., 0].std()
    # OpenCV's float Lab conversion is approximate: a and b agree to a fraction of a unit.
    np.testing.assert_allclose(lab_out[..., 1:], lab_in[..., 1:], atol=0.5)
    grey = np.repeat(image.mean(axis=2, keepdims=True), 3, axis=2)
    grey_out = clahe(grey)
    np.testing.assert_allclose(grey_out, grey_out[..., :1].repeat(3, axis=2), atol=1e-3)


def test_clahe_rejects_bad_parameters():
    with pytest.raises(ValueError, match="clip_limit"):
        clahe(astronaut(), clip_limit=0.0)
    with pytest.raises(ValueError, match="tiles"):
        clahe(astronaut(), tiles=0)


def test_auto_exposure_reaches_mid_grey_on_a_dark_image():
    # Linear light 0.001..0.05: the gain to 0.18 clips nothing.
    ramp_lin = np.linspace(0.001, 0.05, 64 * 48, dtype=np.float32).reshape(48, 64, 1)
    tint = np.array([1.0, 0.8, 0.6], np.float32)
    dark = (ramp_lin * tint) ** np.float32(1 / 2.2)
    out = auto_exposure(dark.astype(np.float32))
    assert float(luminance(gamma_decode(out)).mean()) == pytest.approx(0.18, rel=1e-4)


def test_auto_exposure_hand_value_clipping_and_black():
    grey = np.full((8, 8, 3), 0.045 ** (1 / 2.2), np.float32)
    np.testing.assert_allclose(auto_exposure(grey), 0.18 ** (1 / 2.2), rtol=1e-5)
    # A dark photo with clipped highlights after the gain: the mean falls short of 0.18.
    dark = shift_ev(astronaut(), -4.0)
    dark[:8, :8] = 1.0
    reached = float(luminance(gamma_decode(auto_exposure(dark))).mean())
    assert 0.05 < reached < 0.18
    black = np.zeros((8, 8, 3), np.float32)
    np.testing.assert_array_equal(auto_exposure(black), black)
    with pytest.raises(ValueError, match="target_mean_lin"):
        auto_exposure(grey, target_mean_lin=0.0)


@pytest.mark.parametrize("ev", [-1.5, -0.5])
def test_inverse_ev_oracle_undoes_a_darkening_shift(ev):
    image = astronaut()
    np.testing.assert_allclose(inverse_ev_oracle(shift_ev(image, ev), ev), image, atol=1e-5)


def test_inverse_ev_oracle_is_exact_only_where_nothing_clipped():
    image = astronaut()
    restored = inverse_ev_oracle(shift_ev(image, 1.0), 1.0)
    kept = (gamma_decode(image) * 2.0 < 1.0).all(axis=2)
    assert 0.1 < kept.mean() < 1.0
    np.testing.assert_allclose(restored[kept], image[kept], atol=1e-5)
    assert np.abs(restored[~kept] - image[~kept]).max() > 0.05


def test_inverse_overexpose_oracle_is_exact_below_tau():
    image = astronaut()
    restored = inverse_overexpose_oracle(overexpose(image, 0.5), 0.5)
    kept = (gamma_decode(image) < 0.5).all(axis=2)
    np.testing.assert_allclose(restored[kept], image[kept], atol=1e-5)
    assert np.abs(restored[~kept] - image[~kept]).max() > 0.05


def test_oracle_dispatch():
    image = astronaut()
    shifted = shift_ev(image, -1.0)
    np.testing.assert_array_equal(
        oracle(shifted, "ev", None, -1.0, 2.2), inverse_ev_oracle(shifted, -1.0, 2.2)
    )
    over = overexpose(image, 0.7)
    np.testing.assert_array_equal(
        oracle(over, "overexpose", 0.7, None, 2.2), inverse_overexpose_oracle(over, 0.7, 2.2)
    )
    assert oracle(image, "native", None, None, None) is None
    assert oracle(image, "native", 0.5, 1.0, 2.2) is None
    assert oracle(over, "overexpose", None, None, 2.2) is None
    assert oracle(shifted, "ev", None, None, 2.2) is None
    assert oracle(shifted, "ev", None, -1.0, None) is None
    with pytest.raises(ValueError, match="'blur'"):
        oracle(image, "blur", None, None, 2.2)
    with pytest.raises(ValueError, match="float64"):
        oracle(image.astype(np.float64), "ev", None, -1.0, 2.2)


def test_the_stops_baseline_undoes_a_camera_exposure_error_and_is_opt_in(demo_photos) -> None:
    from exposure_core import camera, imageio
    from exposure_core.metrics.reference import psnr
    from pipeline.params import load_params
    from pipeline.params.evaluate import BLIND, DEFAULT_BASELINES

    photo = demo_photos["chelsea"]
    for ev in (-1.5, 1.5):
        render = imageio.codes_to_float(
            camera.render_codes(imageio.float_to_codes(photo), camera.fitted_recipe(ev))
        )
        fixed = BLIND_BASELINES["stops"](render)
        assert fixed.dtype == np.float32 and fixed.shape == photo.shape
        assert psnr(fixed, photo) > psnr(render, photo) + 3.0
    assert "stops" in BLIND and "stops" not in DEFAULT_BASELINES
    assert load_params(None, {"evaluate.baselines": ["stops"]}).evaluate.baselines == ["stops"]
