"""The fast exposure statistics equal the straightforward ones bit for bit.

``prep filter`` records ``ev_estimate`` and the ``ExposureStats`` of every photo, so the
histogram percentiles, the ordered block sums and the region areas of
``exposure_core.ev_estimate`` and ``exposure_core.exposure_stats`` must give exactly the
values of the plain numpy code kept here as the reference (``np.percentile`` of the codes,
``np.sort`` of the channels, ``mean(axis=(1, 3), dtype=float64)``, ``np.histogram``,
``connectedComponentsWithStats``), on every image.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from exposure_core import ev_estimate as ev
from exposure_core import exposure_stats as es
from exposure_core.exposure import LUMA_WEIGHTS, channel_extremes, srgb_to_linear

F32 = np.float32


# --- the reference: the plain numpy statistics -------------------------------------------


def _ref_block_mean(image: np.ndarray, side: int = ev.WORK_SIDE) -> np.ndarray:
    k = min(image.shape[:2]) // side
    if k < 2:
        return image
    h, w = image.shape[0] // k * k, image.shape[1] // k * k
    blocks = image[:h, :w].reshape(h // k, k, w // k, k, 3)
    return blocks.mean(axis=(1, 3), dtype=np.float64).astype(np.float32)


def _ref_codes(image: np.ndarray) -> np.ndarray:
    return np.floor(np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.int32)


def _ref_features(image: np.ndarray) -> np.ndarray:
    full = _ref_codes(image)
    small = _ref_block_mean(image)
    light = srgb_to_linear(small) @ LUMA_WEIGHTS
    log_light = np.log2(np.maximum(light, 2.0**ev.LOG2_FLOOR)).ravel().astype(np.float64)
    hist = np.histogram(np.clip(log_light, -11.999, -1e-6), ev.HIST_EDGES)[0] / log_light.size
    top, bottom = channel_extremes(full)
    n = float(top.size)
    at_top = np.count_nonzero(top >= 255) / n
    below_top = np.count_nonzero((top >= 245) & (top < 255)) / n / 10.0
    white = np.count_nonzero(bottom >= 254) / n
    near_white = np.count_nonzero((bottom >= 235) & (bottom < 254)) / n / 19.0
    ordered = np.sort(_ref_codes(small).reshape(-1, 3), axis=1)
    channels = {"max": ordered[:, 2], "mid": ordered[:, 1], "min": ordered[:, 0]}
    logits = [
        v
        for name, ps in ev.CHANNEL_PERCENTILES.items()
        for v in ev._logit_levels(np.percentile(channels[name], ps))
    ]
    values = [
        *logits,
        *np.percentile(log_light, ev.PERCENTILES),
        float(log_light.mean()),
        float(np.log2(max(float(light.mean()), 2.0**ev.LOG2_FLOOR))),
        *hist,
        *(np.percentile(top, ev.HIGH_PERCENTILES) / 255.0),
        *(np.percentile(bottom, (0.1, 1.0, 10.0)) / 255.0),
        at_top,
        np.count_nonzero(top >= 250) / n,
        white,
        np.count_nonzero(top >= 230) / n,
        np.count_nonzero(top <= 2) / n,
        np.count_nonzero(top <= 16) / n,
        np.log10((at_top + 1e-4) / (below_top + 1e-4)),
        np.log10((white + 1e-4) / (near_white + 1e-4)),
    ]
    return np.asarray(values, np.float64)


def _ref_region_fraction(mask: np.ndarray, min_region: float) -> float:
    if not mask.any():
        return 0.0
    count, _, regions, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    areas = regions[1:count, cv2.CC_STAT_AREA]
    return float(areas[areas >= min_region * mask.size].sum() / mask.size)


def _ref_stats(
    image: np.ndarray,
    min_region: float = 0.0005,
    light_level: float = 0.45,
    shadow_level: float = 0.10,
    rolloff_codes: int = 1,
) -> es.ExposureStats:
    top, low = channel_extremes(es.code_indices(image))
    size = top.size
    white = low >= es.WHITE_CODE
    low_hist = np.bincount(low.ravel(), minlength=256) / size
    light = low >= light_level * 255
    at_top = top >= es.TOP_CODE
    near_top = (top >= es.TOP_CODE - rolloff_codes) & ~at_top
    clipped_light = float(np.count_nonzero(at_top & light)) / size
    near_light = float(np.count_nonzero(near_top & light)) / size
    luma = np.clip(image, 0.0, 1.0) @ LUMA_WEIGHTS
    p01, p05, p50, p95, p99 = np.percentile(luma, [1, 5, 50, 95, 99])
    return es.ExposureStats(
        highlight=float(np.percentile(top, 99.9)) / 255,
        blown=_ref_region_fraction(white, min_region),
        blown_spike=es._ratio(float(low_hist[255]), float(low_hist[es.NEAR_CODE : 255].sum())),
        clipped_light=clipped_light,
        clipped_spike=es._ratio(clipped_light, near_light),
        clipped_any=float(np.count_nonzero(at_top)) / size,
        shadows=float(np.count_nonzero(luma < shadow_level)) / size,
        crushed=float(np.count_nonzero(top <= es.CRUSHED_CODE)) / size,
        mean=float(luma.mean()),
        median=float(p50),
        p01=float(p01),
        p05=float(p05),
        p95=float(p95),
        p99=float(p99),
    )


# --- the images -------------------------------------------------------------------------


def _codes8(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 256, shape).astype(F32) / F32(255)


def _mixed_magnitudes(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values over 60 binades: a float64 block sum depends on the order of its additions."""
    return (rng.random(shape) * 2.0 ** rng.integers(-60, 1, shape)).astype(F32)


def _highlights(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A photo-like ramp with a clipped white patch, a roll-off and saturated colours."""
    h, w = shape
    ramp = np.linspace(0.0, 1.0, w, dtype=F32)[None, :, None] * np.ones((h, 1, 3), F32)
    image = np.clip(ramp + rng.normal(0.0, 0.03, (h, w, 3)).astype(F32), 0.0, 1.0)
    image[h // 4 : h // 2, w // 4 : w // 2] = 1.0  # blown white
    image[h // 2 :, : w // 8, 0] = 1.0  # a saturated red channel
    return (np.round(image * 255.0) / F32(255)).astype(F32)


def _extremes(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """No NaN, but every kind of float32 value: huge, subnormal, signed zeros, out of [0, 1]."""
    pool = np.array(
        [0.0, -0.0, 1.0, -1.0, 1e-40, -1e-40, 1e-30, 3e38, -3e38, 1e30, 0.5, 2.0, 1e-7],
        dtype=F32,
    )
    return pool[rng.integers(0, pool.size, (*shape, 3))]


def _cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20261208)
    wide = _codes8(rng, (470, 800, 3))
    codes = _codes8(rng, (90, 70, 3))
    almost = _codes8(rng, (120, 180, 3))  # 8-bit values but a few, one float32 step away
    almost[::37, ::41, 1] = np.nextafter(almost[::37, ::41, 1], F32(2))
    cases = {
        "black": np.zeros((64, 96, 3), F32),
        "white": np.ones((64, 96, 3), F32),
        "black_block_mean": np.zeros((480, 640, 3), F32),
        "white_block_mean": np.ones((450, 500, 3), F32),
        "negative_zero_block_mean": np.full((460, 470, 3), -0.0, F32),
        "negative_zero": np.full((40, 60, 3), -0.0, F32),
        "negative_zero_codes": np.where(rng.random((90, 70, 3)) < 0.5, F32(-0.0), codes),
        "grey": np.full((200, 300, 3), 0.5, F32),
        "codes8_one_ulp_off": almost,
        "1x1": rng.random((1, 1, 3), dtype=F32),
        "1x1_black": np.zeros((1, 1, 3), F32),
        "1x1_white": np.ones((1, 1, 3), F32),
        "2x3": _codes8(rng, (2, 3, 3)),
        "3x2": rng.random((3, 2, 3), dtype=F32),
        "odd_127x253": _codes8(rng, (127, 253, 3)),
        "uniform_floats": rng.random((301, 457, 3), dtype=F32),
        "codes16_k2": rng.integers(0, 65536, (449, 673, 3)).astype(F32) / F32(65535),
        "codes8_k3": _codes8(rng, (673, 1001, 3)),
        "tall_k2": _codes8(rng, (1500, 450, 3)),
        "highlights": _highlights(rng, (240, 360)),
        "highlights_k4": _highlights(rng, (900, 1350)),
        "out_of_range_k2": rng.normal(0.5, 2.0, (457, 700, 3)).astype(F32),
        "extremes": _extremes(rng, (50, 70)),
        "extremes_k2": _extremes(rng, (460, 700)),
        "infinity_k2": np.where(rng.random((450, 460, 3)) < 0.01, np.inf, 0.3).astype(F32),
        "mixed_magnitudes_k3": _mixed_magnitudes(rng, (700, 1000, 3)),
        "mixed_magnitudes_k5": _mixed_magnitudes(rng, (1130, 1200, 3)),
        # layouts other than C order (the block mean then takes numpy's own reduction)
        "transposed_k2": _mixed_magnitudes(rng, (700, 460, 3)).transpose(1, 0, 2),
        "flipped_k2": _mixed_magnitudes(rng, (460, 700, 3))[::-1],
        "column_slice_k2": wide[:, :600],
        "fortran_k2": np.asfortranarray(_mixed_magnitudes(rng, (450, 600, 3))),
    }
    cases["strided"] = cases["codes8_k3"][::2, ::3]
    return cases


CASES = _cases()


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Same shape, dtype and bytes (``-0.0`` differs from ``0.0``)."""
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _stats_bits(stats: es.ExposureStats) -> bytes:
    return np.array(dataclasses.astuple(stats), np.float64).tobytes()


# --- the checks -----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_features_equal_the_reference(name: str) -> None:
    image = CASES[name]
    assert not np.isnan(_ref_features(image)).any()
    assert _same(ev.features(image), _ref_features(image))


@pytest.mark.parametrize("name", sorted(CASES))
def test_block_mean_equals_numpy_mean(name: str) -> None:
    image = CASES[name]
    assert _same(ev._block_mean(image), _ref_block_mean(image))


@pytest.mark.parametrize("k", [2, 3, 4, 6, 11])
def test_block_sums_in_numpy_order(k: int) -> None:
    """Order-sensitive float64 sums over several bands of block rows (a short last one), in
    C order and in other layouts."""
    rng = np.random.default_rng(k)
    image = _mixed_magnitudes(rng, (301 * k + k - 1, 61 * k + 1, 3))
    blocks = image[: 301 * k, : 61 * k].reshape(301, k, 61, k, 3)
    numpy_mean = blocks.mean(axis=(1, 3), dtype=np.float64)
    found = ev._mean_of_blocks(image, k)
    assert found.shape == (301, 61, 3)
    assert 301 % max(1, ev._BAND_BYTES // (k * k * 61 * 24)) != 0  # a short last band
    assert _same(found, numpy_mean)
    by_axis = blocks.sum(axis=3, dtype=np.float64).sum(axis=1) / (k * k)
    assert not _same(by_axis, found)  # another order of the additions gives other sums
    flipped = image[::-1]
    flipped_blocks = flipped[: 301 * k, : 61 * k].reshape(301, k, 61, k, 3)
    numpy_flipped = flipped_blocks.mean(axis=(1, 3), dtype=np.float64)
    assert _same(ev._mean_of_blocks(flipped, k), numpy_flipped)


@pytest.mark.parametrize("name", sorted(CASES))
def test_exposure_stats_equal_the_reference(name: str) -> None:
    image = CASES[name]
    for levels in ({}, {"min_region": 0.0, "light_level": 0.0, "rolloff_codes": 24}):
        found = es.exposure_stats(image, **levels)
        assert _stats_bits(found) == _stats_bits(_ref_stats(image, **levels))


def test_demo_photos_equal_the_reference(demo_photos: dict[str, np.ndarray]) -> None:
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        photo = demo_photos[name]
        larger = np.repeat(np.repeat(photo, 2, axis=0), 2, axis=1)  # block mean, k = 2 or 3
        for image in (photo, larger, es.analysis_sample(larger, 512), photo[::-1, ::2]):
            assert _same(ev.features(image), _ref_features(image)), name
            assert _stats_bits(es.exposure_stats(image)) == _stats_bits(_ref_stats(image)), name


def test_count_percentiles_equal_numpy() -> None:
    rng = np.random.default_rng(7)
    ps = (0, 0.1, 1, 5, 10, 25, 49.99, 50, 50.01, 75, 90, 95, 99, 99.9, 100)
    for n in (1, 2, 3, 10, 101, 1000, 65537):
        for high in (1, 2, 17, 256):
            values = rng.integers(0, high, n)
            counts = np.bincount(values, minlength=256)
            for q in (ps, (99.9,), tuple(rng.uniform(0, 100, 9))):
                assert _same(ev.count_percentiles(counts, q), np.percentile(values, q))


def test_region_fraction_equals_the_stats_areas() -> None:
    rng = np.random.default_rng(3)
    for density in (0.0, 0.02, 0.3, 0.6, 1.0):
        mask = rng.random((180, 240)) < density
        mask[20:60, 30:90] = density > 0  # one large region beside the speckle
        for min_region in (0.0, 1e-4, 0.0005, 0.01, 0.5):
            got = es.region_fraction(mask, min_region)
            assert got == _ref_region_fraction(mask, min_region)


def test_code_counts_are_exact_at_any_size() -> None:
    for n in (1, 3, (1 << 24) - 1, (1 << 24) + 1):  # float32 counts are exact below 2 ** 24
        codes = np.zeros(n, np.uint8)
        codes[-1] = 255
        counts = ev.code_counts(codes)
        assert counts.dtype == np.int64 and counts.shape == (256,)
        assert counts[0] == n - 1 and counts[255] == 1 and counts.sum() == n
    image = _codes8(np.random.default_rng(5), (33, 17, 3))
    codes = ev._codes(image)
    expected = np.bincount(codes[:, ::2].ravel(), minlength=256)
    assert np.array_equal(ev.code_counts(codes[:, ::2]), expected)


def test_eight_bit_images_read_the_curve_from_its_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """``code / 255`` images take the table (no power function), with the curve's values."""
    ev._code_tables()  # made with the curve itself
    rng = np.random.default_rng(11)
    images = [_codes8(rng, shape) for shape in ((1, 1, 3), (2, 3, 3), (33, 65, 3), (256, 384, 3))]
    expected = [srgb_to_linear(image) for image in images]

    def no_curve(image: np.ndarray) -> np.ndarray:
        raise AssertionError("srgb_to_linear was called")

    monkeypatch.setattr(ev, "srgb_to_linear", no_curve)
    for image, want in zip(images, expected, strict=True):
        assert _same(ev._linear_light(image, ev._codes(image)), want)
    with pytest.raises(AssertionError, match="was called"):  # any other value: the curve
        ev._linear_light(CASES["codes8_one_ulp_off"], ev._codes(CASES["codes8_one_ulp_off"]))
