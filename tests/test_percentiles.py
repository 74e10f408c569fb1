"""``exposure_core.percentiles.float_percentiles`` equals ``np.percentile`` bit for bit: on
random float32 arrays, with ties, with every value in one bin, at small sizes; on arrays it
leaves to numpy (negative or mixed values, float64, NaN, infinities, negative zero); on the
luma and the log light of it that the filter reads from photos."""

from __future__ import annotations

import numpy as np
import pytest

from exposure_core.ev_estimate import PERCENTILES
from exposure_core.percentiles import float_percentiles

PS = (0, 0.1, 1, 5, 10, 25, 50, 75, 90, 95, 99, 99.9, 100)


def _same(values: np.ndarray, ps: tuple[float, ...] = PS, of: np.ndarray | None = None) -> None:
    before = values.copy()
    got = float_percentiles(values, ps, of)
    expected = np.percentile((values if of is None else of).copy(), list(ps))
    assert got.dtype == expected.dtype == np.float64
    assert got.tobytes() == expected.tobytes(), (got, expected)
    assert values.tobytes() == before.tobytes()  # left as it was


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(40))
def test_random_arrays(dtype, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.choice([1, 2, 3, 7, 100, 1001, 65536, 50176]))
    kind = seed % 5
    if kind == 0:
        values = rng.random(n)
    elif kind == 1:  # 8-bit levels: many ties
        values = rng.integers(0, 256, n) / 255
    elif kind == 2:  # log light: negative values in a few octaves
        values = np.log2(np.maximum(rng.random(n) ** 3, 2.0**-12))
    elif kind == 3:  # mixed signs, with zeros
        values = rng.normal(0, 10, n) * (rng.random(n) > 0.2)
    else:  # all in one narrow bin
        values = 0.5 + rng.random(n) * 1e-6
    _same(np.ascontiguousarray(values, dtype=dtype))


@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf, -0.0])
def test_values_numpy_must_judge_are_left_to_it(special):
    values = np.random.default_rng(0).random(1000)
    values[17] = special
    for dtype in (np.float32, np.float64):
        with np.errstate(invalid="ignore"):  # numpy's own interpolation of infinities
            got = float_percentiles(values.astype(dtype), PS)
            expected = np.percentile(values.astype(dtype), list(PS))
        np.testing.assert_array_equal(got, expected)


def test_the_filters_arrays_from_photos():
    import skimage.data

    from exposure_core.exposure import LUMA_WEIGHTS, srgb_to_linear

    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        image = getattr(skimage.data, name)()[..., :3].astype(np.float32) / np.float32(255)
        luma = (np.clip(image, 0, 1) @ LUMA_WEIGHTS).ravel()
        _same(luma, (1, 5, 50, 95, 99))
        light = srgb_to_linear(image[:224, :224]) @ LUMA_WEIGHTS
        log_light = np.log2(np.maximum(light, 2.0**-12)).ravel().astype(np.float64)
        _same(light.ravel(), PERCENTILES, log_light)


def test_non_negative_float32_takes_the_counting_path(monkeypatch):
    values = np.random.default_rng(3).random(5000).astype(np.float32)
    expected = np.percentile(values, list(PS))

    def refused(*args, **kwargs):
        raise AssertionError("np.percentile called")

    monkeypatch.setattr(np, "percentile", refused)
    assert float_percentiles(values, PS).tobytes() == expected.tobytes()
