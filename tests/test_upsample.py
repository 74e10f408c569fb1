from __future__ import annotations

import tracemalloc

import cv2
import numpy as np
import pytest
from skimage import data

from exposure_core.exposure import shift_ev
from exposure_core.upsample import (
    _bilinear_rows,
    guided_filter,
    pad_amounts,
    resize_area,
    transfer_correction,
    working_size,
)

# the guided upsampler takes every setting from EnhanceParams; these tests fix their own
GF = {
    "radius": 2,
    "eps": 1e-3,
    "gain_eps": 1e-4,
    "highlight_lo": 0.9,
    "highlight_hi": 0.98,
    "strip_rows": 512,
}


def _photo() -> np.ndarray:
    return data.astronaut().astype(np.float32) / 255  # 512 x 512, HWC, RGB, [0, 1]


def _psnr(pred: np.ndarray, target: np.ndarray, where: np.ndarray) -> float:
    mse = np.mean((pred.astype(np.float64) - target)[where] ** 2)
    return float(10 * np.log10(1.0 / mse))


def _bilinear(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(image, size[::-1], interpolation=cv2.INTER_LINEAR)


# --- working_size / pad_amounts ---------------------------------------------------------


def test_working_size_hand_values():
    assert working_size(3000, 4000, 512, 32) == (384, 512)
    assert working_size(4000, 3000, 512, 32) == (512, 384)
    assert working_size(100, 70, 512, 32) == (100, 70)  # never upscaled
    assert working_size(3000, 4000, 500, 32) == (360, 480)  # cap 480 keeps the padding in
    assert working_size(10000, 10, 512, 8) == (512, 1)


@pytest.mark.parametrize("shape", [(3000, 4000), (4000, 3000), (1080, 1920), (100, 70), (999, 1)])
def test_working_size_padded_fits(shape):
    h, w = working_size(*shape, 500, 32)
    bottom, right = pad_amounts(h, w, 32)
    assert (h + bottom) % 32 == 0 and (w + right) % 32 == 0
    assert max(h + bottom, w + right) <= 500
    assert h <= shape[0] and w <= shape[1]


def test_pad_amounts_hand_values():
    assert pad_amounts(384, 512, 32) == (0, 0)
    assert pad_amounts(100, 70, 32) == (28, 26)
    assert pad_amounts(5, 5, 1) == (0, 0)


@pytest.mark.parametrize(
    "args", [(0, 10, 512, 32), (10, 10, 16, 32), (10, 10, 512, 0), (10, -1, 512, 8)]
)
def test_working_size_rejects(args):
    with pytest.raises(ValueError):
        working_size(*args)


def test_pad_amounts_rejects():
    with pytest.raises(ValueError):
        pad_amounts(10, 10, 0)


# --- resize_area ------------------------------------------------------------------------


def test_resize_area_hand_value_and_shapes():
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    np.testing.assert_allclose(resize_area(image, (2, 2)), [[2.5, 4.5], [10.5, 12.5]])
    assert resize_area(_photo(), (128, 96)).shape == (128, 96, 3)


def test_resize_area_same_size_is_an_exact_copy():
    photo = _photo()
    out = resize_area(photo, photo.shape[:2])
    assert out is not photo and np.array_equal(out, photo)


@pytest.mark.parametrize(
    "image, size",
    [
        (np.zeros((4, 4, 3), np.float32), (8, 4)),
        (np.zeros((4, 4, 3), np.float32), (0, 2)),
        (np.zeros((4, 4, 3), np.float64), (2, 2)),
        (np.zeros((4, 4, 3, 1), np.float32), (2, 2)),
    ],
)
def test_resize_area_rejects(image, size):
    with pytest.raises(ValueError):
        resize_area(image, size)


# --- guided_filter ----------------------------------------------------------------------


def test_guided_filter_reproduces_an_affine_function_of_the_guide():
    rng = np.random.default_rng(0)
    gray = rng.random((40, 50), dtype=np.float32)
    np.testing.assert_allclose(
        guided_filter(gray, 2 * gray + 0.1, 2, 1e-9), 2 * gray + 0.1, atol=1e-4
    )
    colour = rng.random((40, 50, 3), dtype=np.float32)
    matrix = np.array([[1.0, -0.5, 0.2], [0.0, 2.0, 0.0], [0.3, 0.3, 0.3]], np.float32)
    src = colour @ matrix.T + np.float32(0.05)
    np.testing.assert_allclose(guided_filter(colour, src, 1, 1e-9), src, atol=1e-4)


def test_guided_filter_hand_value_flat_guide():
    # a flat guide makes a = 0, so q is the box filter applied twice (a 5 x 5 tent)
    impulse = np.zeros((9, 9), np.float32)
    impulse[4, 4] = 1.0
    q = guided_filter(np.full((9, 9), 0.5, np.float32), impulse, 1, 1e-2)
    assert q[4, 4] == pytest.approx(1 / 9, abs=1e-6)
    assert q[5, 4] == pytest.approx(2 / 27, abs=1e-6)
    assert q[6, 6] == pytest.approx(1 / 81, abs=1e-6)
    assert q[7, 4] == pytest.approx(0.0, abs=1e-6)


def test_guided_filter_keeps_edges_above_eps_and_smooths_below():
    step = np.zeros((20, 20), np.float32)
    step[:, 10:] = 1.0
    assert np.abs(guided_filter(step, step, 2, 1e-4) - step).max() < 0.01
    assert np.abs(guided_filter(step, step, 2, 10.0) - step).max() > 0.3


def test_guided_filter_keeps_src_shape():
    rng = np.random.default_rng(1)
    guide = rng.random((12, 16, 3), dtype=np.float32)
    assert guided_filter(guide, guide[..., 0], 1, 1e-3).shape == (12, 16)
    assert guided_filter(guide, rng.random((12, 16, 5), dtype=np.float32), 1, 1e-3).shape == (
        12,
        16,
        5,
    )


@pytest.mark.parametrize(
    "guide, src, radius, eps",
    [
        (np.zeros((8, 8), np.float32), np.zeros((8, 9), np.float32), 1, 1e-3),
        (np.zeros((8, 8, 2), np.float32), np.zeros((8, 8), np.float32), 1, 1e-3),
        (np.zeros((8, 8), np.float64), np.zeros((8, 8), np.float32), 1, 1e-3),
        (np.zeros((8, 8), np.float32), np.zeros((8, 8), np.float32), 0, 1e-3),
        (np.zeros((8, 8), np.float32), np.zeros((8, 8), np.float32), 1, 0.0),
    ],
)
def test_guided_filter_rejects(guide, src, radius, eps):
    with pytest.raises(ValueError):
        guided_filter(guide, src, radius, eps)


# --- transfer_correction ----------------------------------------------------------------


def test_bilinear_rows_match_a_full_resize():
    rng = np.random.default_rng(2)
    low = rng.random((7, 9), dtype=np.float32)
    full = _bilinear(low, (50, 61))
    rows = np.concatenate(
        [_bilinear_rows(low, (50, 61), t, min(t + 13, 50)) for t in range(0, 50, 13)]
    )
    np.testing.assert_allclose(rows, full, atol=1e-6)


def _global_shift_case(ev: float):
    photo = _photo()
    size = working_size(*photo.shape[:2], 128, 8)
    low = resize_area(photo, size)
    truth = shift_ev(photo, ev)
    unclipped = (photo.max(axis=2) < 0.9) & (truth.max(axis=2) < 0.98)
    return photo, low, shift_ev(low, ev), truth, unclipped


@pytest.mark.parametrize("ev", [1.0, -1.0])
def test_transfer_of_a_global_exposure_shift_matches_full_resolution(ev):
    photo, low, low_out, truth, unclipped = _global_shift_case(ev)
    out = transfer_correction(photo, low, low_out, **GF)
    assert out.dtype == np.float32 and out.shape == photo.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    carried = _psnr(out, truth, unclipped)
    plain = _psnr(_bilinear(low_out, photo.shape[:2]), truth, unclipped)
    assert carried > 35.0
    assert carried > plain + 10.0  # edges come from the full-resolution photo


def test_transfer_of_no_correction_leaves_the_photo_unchanged():
    photo = _photo() * np.float32(0.85)  # below the highlight blend
    low = resize_area(photo, (128, 128))
    np.testing.assert_allclose(transfer_correction(photo, low, low, **GF), photo, atol=1e-5)


def test_transfer_strips_join_exactly():
    photo, low, low_out, _, _ = _global_shift_case(1.0)
    whole = transfer_correction(photo, low, low_out, **(GF | {"strip_rows": 10_000}))
    strips = transfer_correction(photo, low, low_out, **(GF | {"strip_rows": 37}))
    np.testing.assert_allclose(strips, whole, atol=1e-5)


def test_transfer_at_working_resolution_returns_the_output():
    _, low, low_out, _, _ = _global_shift_case(1.0)
    out = transfer_correction(low, low, low_out, **GF)
    assert out is not low_out and np.array_equal(out, low_out)


def test_transfer_takes_clipped_highlights_from_the_network_output():
    photo = _photo() * np.float32(0.8)
    photo[100:300, 100:300] = 1.0  # flat, clipped: a gain cannot restore anything here
    low = resize_area(photo, (128, 128))
    low_out = low.copy()
    xx = np.mgrid[0:128, 0:128][1]
    low_out[25:75, 25:75] = (0.5 + 0.3 * np.sin(xx[25:75, 25:75] / 3.0))[..., None]
    out = transfer_correction(photo, low, low_out, **GF)
    inpainted = _bilinear(low_out, photo.shape[:2])
    np.testing.assert_allclose(out[120:280, 120:280], inpainted[120:280, 120:280], atol=1e-5)
    np.testing.assert_allclose(out[400:, 400:], photo[400:, 400:], atol=1e-3)


@pytest.mark.parametrize(
    "change",
    [
        {"low_output": np.zeros((64, 64, 3), np.float32)},
        {"low_input": np.zeros((600, 64, 3), np.float32)},
        {"full_input": np.zeros((128, 128, 3), np.float64)},
        {"highlight_lo": 0.98, "highlight_hi": 0.9},
        {"strip_rows": 0},
        {"radius": 0},
        {"gain_eps": 0.0},
    ],
)
def test_transfer_rejects(change):
    args = {
        "full_input": np.zeros((128, 128, 3), np.float32),
        "low_input": np.zeros((32, 32, 3), np.float32),
        "low_output": np.zeros((32, 32, 3), np.float32),
        **GF,
        **change,
    }
    with pytest.raises(ValueError):
        transfer_correction(**args)


def test_transfer_memory_is_bounded_by_the_strip():
    rng = np.random.default_rng(3)
    photo = _bilinear(rng.random((60, 80, 3), dtype=np.float32), (3000, 4000))  # 12 MP
    low = resize_area(photo, working_size(3000, 4000, 512, 32))
    low_out = shift_ev(low, 1.0)
    tracemalloc.start()
    try:
        out = transfer_correction(photo, low, low_out, **(GF | {"strip_rows": 256}))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.shape == photo.shape
    # the output itself is 1x; full-size upsampled coefficients alone would be 4x more
    assert peak < 3 * photo.nbytes, f"peak {peak / photo.nbytes:.2f} x one full image"


def test_partly_clipped_pixels_keep_their_texture() -> None:
    """Red clipped everywhere, fine texture in green: the blend must not blur it away."""
    yy, xx = np.mgrid[0:256, 0:256]
    texture = ((yy // 2 + xx // 2) % 2).astype(np.float32)  # 2-px checker: gone at 1/4 size
    full = np.stack([np.ones_like(texture), 0.4 + 0.3 * texture, np.full_like(texture, 0.3)],
                    axis=-1).astype(np.float32)  # fmt: skip
    low_in = resize_area(full, (64, 64))
    low_out = np.clip(low_in * np.float32(0.8), 0, 1).astype(np.float32)
    out = transfer_correction(full, low_in, low_out, **GF)
    green = out[..., 1]
    assert green.std() > 0.5 * full[..., 1].std()  # the checker survives
    assert abs(float(out[..., 0].mean()) - float(low_out[..., 0].mean())) < 0.05
