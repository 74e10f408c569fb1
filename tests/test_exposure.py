"""Exposure maths: smoke, exceptions, round trips and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from exposure_core import exposure as ex


def test_gamma_round_trip_and_hand_value() -> None:
    x = np.linspace(0, 1, 11, dtype=np.float32)
    np.testing.assert_allclose(ex.gamma_encode(ex.gamma_decode(x)), x, atol=1e-6)
    assert ex.gamma_decode(np.float32([0.5]))[0] == pytest.approx(0.5**2.2, rel=1e-6)


def test_srgb_round_trip_and_knee() -> None:
    x = np.linspace(0, 1, 101, dtype=np.float32)
    np.testing.assert_allclose(ex.linear_to_srgb(ex.srgb_to_linear(x)), x, atol=1e-5)
    assert ex.srgb_to_linear(np.float32([0.04045]))[0] == pytest.approx(0.04045 / 12.92)
    assert ex.linear_to_srgb(np.float32([1.0]))[0] == pytest.approx(1.0)


def test_overexpose_follows_seed_002_formula() -> None:
    pixel, tau, gamma = 0.6, 0.5, 2.2
    light = pixel**gamma
    expected = (min(light, tau) / tau) ** (1 / gamma)
    got = ex.overexpose(np.float32([pixel]), tau, gamma)[0]
    assert got == pytest.approx(expected, rel=1e-6)
    # everything above tau in linear light becomes white
    assert ex.overexpose(np.float32([0.8]), 0.5)[0] == pytest.approx(1.0)


def test_overexpose_tau_one_is_identity_and_monotone_in_tau(demo_photos) -> None:
    img = demo_photos["coffee"]
    np.testing.assert_allclose(ex.overexpose(img, 1.0), img, atol=1e-6)
    means = [ex.overexpose(img, t).mean() for t in (1.0, 0.8, 0.6, 0.5)]
    assert means == sorted(means)


def test_inverse_overexpose_restores_unclipped_pixels() -> None:
    x = np.linspace(0, 0.7, 50, dtype=np.float32)  # linear light below 0.5 -> not clipped
    back = ex.inverse_overexpose(ex.overexpose(x, 0.5), 0.5)
    unclipped = x**2.2 < 0.5
    np.testing.assert_allclose(back[unclipped], x[unclipped], atol=1e-5)


def test_shift_ev_hand_value_and_clipping() -> None:
    got = ex.shift_ev(np.float32([0.5]), -1.0)[0]
    assert got == pytest.approx((0.5**2.2 / 2) ** (1 / 2.2), rel=1e-6)
    assert ex.shift_ev(np.float32([0.9]), 2.0)[0] == pytest.approx(1.0)
    np.testing.assert_allclose(
        ex.shift_ev(ex.shift_ev(np.float32([0.3]), 1.0), -1.0), [0.3], atol=1e-6
    )


def test_srgb_curve_option_differs_from_power_law() -> None:
    x = np.float32([0.2])
    assert ex.overexpose(x, 0.5, curve="srgb")[0] != pytest.approx(ex.overexpose(x, 0.5)[0])
    with pytest.raises(ValueError, match="curve"):
        ex.overexpose(x, 0.5, curve="log")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [np.zeros(3, np.float64), [0.5]])
def test_rejects_non_float32(bad) -> None:
    with pytest.raises(ValueError, match="float32|numpy"):
        ex.gamma_decode(bad)


@pytest.mark.parametrize("tau", [0.0, -0.1, 1.5])
def test_rejects_bad_tau(tau: float) -> None:
    with pytest.raises(ValueError, match="tau"):
        ex.overexpose(np.float32([0.5]), tau)


def test_code_levels() -> None:
    levels = ex.code_levels(8)
    assert levels.shape == (256,) and levels[0] == 0 and levels[-1] == 1
    assert ex.code_levels(16).shape == (65536,)
    with pytest.raises(ValueError):
        ex.code_levels(12)
