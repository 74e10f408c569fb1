"""Image I/O: formats, bit depths, modes, orientation, bad files, RAW and lookup tables."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from exposure_core import exposure, imageio
from exposure_core.imageio import toprows


def _rgb8(demo_photos) -> np.ndarray:
    return (demo_photos["coffee"][:96, :128] * 255 + 0.5).astype(np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".webp", ".jpg"])
def test_write_read_round_trip(tmp_path: Path, demo_photos, suffix: str) -> None:
    img = demo_photos["coffee"][:96, :128]
    path = tmp_path / f"x{suffix}"
    imageio.write_image(path, img, quality=100)
    back = imageio.read_image(path)
    assert back.shape == img.shape and back.dtype == np.float32
    tol = 0.05 if suffix in (".jpg", ".webp") else 1 / 255
    assert np.abs(back - img).mean() < tol


def test_sixteen_bit_png_keeps_precision(tmp_path: Path, demo_photos) -> None:
    img = demo_photos["coffee"][:64, :80]
    imageio.write_image(tmp_path / "x.png", img, bits=16)
    back = imageio.read_image(tmp_path / "x.png")
    assert np.abs(back - img).max() < 1 / 65535 + 1e-6
    assert imageio.read_codes(tmp_path / "x.png").bits == 16


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P", "I;16"])
def test_modes_convert_to_rgb(tmp_path: Path, demo_photos, mode: str) -> None:
    pil = Image.fromarray(_rgb8(demo_photos))
    if mode == "I;16":
        pil = Image.fromarray(np.asarray(pil.convert("L")).astype(np.uint16) * 257)
    else:
        pil = pil.convert(mode)
    path = tmp_path / ("x.jpg" if mode == "CMYK" else "x.png")
    pil.save(path)
    img = imageio.read_image(path)
    assert img.shape == (96, 128, 3) and img.dtype == np.float32
    assert img.min() >= 0.0 and img.max() <= 1.0


def test_exif_orientation_applied(tmp_path: Path, demo_photos) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = tmp_path / "rot.jpg"
    Image.fromarray(_rgb8(demo_photos)).save(path, exif=exif)
    assert imageio.read_image(path).shape == (128, 96, 3)
    info = imageio.probe(path)  # the header size is as displayed, as decoding gives it
    assert (info.height, info.width) == (128, 96)


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty file"), (b"this is not an image at all", "not a readable image")],
)
def test_bad_files_named(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(imageio.ImageError, match=reason) as info:
        imageio.read_image(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_file_refused(tmp_path: Path, demo_photos, suffix: str) -> None:
    data = imageio.encode(demo_photos["coffee"], suffix)
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(imageio.ImageError, match="truncated|corrupt|not a readable"):
        imageio.read_image(path)


def test_decompression_bomb_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    _ok, buf = cv2.imencode(".png", np.zeros((300, 400, 3), np.uint8))
    path.write_bytes(buf.tobytes())
    with pytest.raises(imageio.ImageError, match="max_pixels"):
        imageio.read_image(path, max_pixels=100_000)


def test_unsupported_mode_refused(tmp_path: Path) -> None:
    path = tmp_path / "float.tif"
    Image.fromarray(np.zeros((70, 70), np.float32), mode="F").save(path)
    with pytest.raises(imageio.ImageError, match="unsupported image mode 'F'"):
        imageio.probe(path)


def test_lookup_table_matches_float_path(demo_photos) -> None:
    codes = imageio.float_to_codes(demo_photos["chelsea"], 8)
    img = imageio.codes_to_float(codes)
    curve = exposure.overexpose(exposure.code_levels(8), 0.6)
    via_lut = imageio.codes_to_float(imageio.apply_curve(codes, curve))
    via_float = imageio.codes_to_float(imageio.float_to_codes(exposure.overexpose(img, 0.6), 8))
    np.testing.assert_array_equal(via_lut, via_float)


def test_lookup_table_sixteen_bit(demo_photos) -> None:
    codes = imageio.float_to_codes(demo_photos["chelsea"], 16)
    curve = exposure.shift_ev(exposure.code_levels(16), 1.0)
    out = imageio.apply_curve(codes, curve)
    assert out.bits == 16
    expected = exposure.shift_ev(imageio.codes_to_float(codes), 1.0)
    assert np.abs(imageio.codes_to_float(out) - expected).max() < 2 / 65535
    with pytest.raises(ValueError, match="65536"):
        imageio.apply_curve(codes, exposure.code_levels(8))


def test_encode_refuses_unknown_suffix(demo_photos) -> None:
    with pytest.raises(ValueError, match="cannot write"):
        imageio.encode(demo_photos["coffee"], ".gif")


def test_atomic_write_leaves_no_temporary(tmp_path: Path, demo_photos) -> None:
    imageio.write_image(tmp_path / "a.png", demo_photos["coffee"])
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_decode_bytes(demo_photos) -> None:
    data = imageio.encode(demo_photos["rocket"], ".png")
    assert imageio.decode_image(data).shape == demo_photos["rocket"].shape
    with pytest.raises(imageio.ImageError, match="empty"):
        imageio.decode_codes(b"", "sample.png")


def test_raw_renders_from_sensor_data(make_dng) -> None:
    path = make_dng(scale=0.4)
    assert imageio.is_raw(path)
    info = imageio.probe(path)
    assert (info.width, info.height) == (128, 96)
    renders = imageio.render_raw(path, [-1.5, -1.0, 0.0, 1.0, 1.5])
    means = [imageio.codes_to_float(r).mean() for r in renders]
    assert all(r.bits == 16 and r.array.shape == (96, 128, 3) for r in renders)
    assert means == sorted(means) and means[0] < means[-1] - 0.2  # monotone brightness in EV
    # no auto-brightening: a darker exposure of the same sensor data renders darker
    dim = imageio.codes_to_float(imageio.render_raw(make_dng("dim.dng", scale=0.1), [0.0])[0])
    assert dim.mean() < means[2] - 0.1
    # +1 EV of the dim file approximates 0 EV of a file exposed twice as long
    double = imageio.codes_to_float(imageio.render_raw(make_dng("dbl.dng", scale=0.2), [0.0])[0])
    shifted = imageio.codes_to_float(imageio.render_raw(make_dng("dim.dng", scale=0.1), [1.0])[0])
    assert np.abs(shifted - double).mean() < 0.03


def test_raw_errors(tmp_path: Path) -> None:
    fake = tmp_path / "fake.nef"
    fake.write_bytes(b"definitely not a raw file" * 10)
    with pytest.raises(imageio.ImageError, match="RAW"):
        imageio.read_image(fake)
    with pytest.raises(ValueError, match="-2..\\+3 EV"):
        imageio.render_raw(fake, [4.0])


def test_pil_decompression_bomb_error_is_image_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    buf = io.BytesIO()
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(buf, "PNG")
    (tmp_path / "b.png").write_bytes(buf.getvalue())
    assert imageio.probe(tmp_path / "b.png").width == 100  # io.max_pixels decides, not Pillow
    with pytest.raises(imageio.ImageError, match="bomb|max_pixels"):
        imageio.probe(tmp_path / "b.png", max_pixels=1000)
    assert Image.MAX_IMAGE_PIXELS == 1000  # restored after the probe


def _top_rows_cases(demo_photos) -> dict[str, bytes]:
    """Encoded images: the fast case (8-bit RGB PNG) and the ones decoded in full and cut."""
    rgb = _rgb8(demo_photos)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated on display: decode_codes applies it
    cases = {}
    for name, pil, fmt, extra in [
        ("rgb8", Image.fromarray(rgb), "PNG", {}),
        ("rgba", Image.fromarray(rgb).convert("RGBA"), "PNG", {}),
        ("gray", Image.fromarray(rgb).convert("L"), "PNG", {}),
        ("exif", Image.fromarray(rgb), "PNG", {"exif": exif}),
        ("jpeg", Image.fromarray(rgb), "JPEG", {}),
    ]:
        buffer = io.BytesIO()
        pil.save(buffer, fmt, **extra)
        cases[name] = buffer.getvalue()
    cases["rgb16"] = imageio.encode(demo_photos["coffee"][:96, :128], ".png", bits=16)
    cases["filtered"] = imageio.encode(imageio.Codes(rgb), ".png", png_level=9)
    cases["fast"] = imageio.encode_png_fast_decode(imageio.Codes(rgb))  # rows inflated alone
    return cases


@pytest.mark.parametrize("rows", [1, 37, 96, 500])
def test_decode_top_rows_equals_the_cut_full_decode(demo_photos, rows: int) -> None:
    for name, data in _top_rows_cases(demo_photos).items():
        full = imageio.decode_codes(data, name).array
        top = imageio.decode_top_rows(data, rows, name).array
        assert top.dtype == full.dtype and np.array_equal(top, full[:rows]), name
    sizes = {k: imageio.top_rows_size(v) for k, v in _top_rows_cases(demo_photos).items()}
    for name in ("rgb8", "filtered", "fast"):
        assert sizes.pop(name) == (96, 128)
    assert set(sizes.values()) == {None}  # decoded in full: not 8-bit RGB, or EXIF


def test_fast_png_rows_are_inflated_alone_and_others_decoded_in_full(demo_photos) -> None:
    rgb = _rgb8(demo_photos)
    fast = imageio.encode_png_fast_decode(imageio.Codes(rgb))
    layout = toprows._png_layout(fast)
    assert layout is not None
    assert np.array_equal(toprows._up_rows(fast, layout, 7), rgb[:7])
    other = imageio.encode(imageio.Codes(rgb), ".png")  # OpenCV's default: the Sub filter
    other_layout = toprows._png_layout(other)
    assert other_layout is not None and toprows._up_rows(other, other_layout, 7) is None


@pytest.mark.parametrize("fast", [False, True])
def test_decode_top_rows_errors(demo_photos, fast: bool) -> None:
    codes = imageio.Codes(_rgb8(demo_photos))
    data = imageio.encode_png_fast_decode(codes) if fast else imageio.encode(codes, ".png")
    with pytest.raises(ValueError, match="rows"):
        imageio.decode_top_rows(data, 0)
    with pytest.raises(imageio.ImageError, match="cut.png"):
        imageio.decode_top_rows(data[: len(data) // 3], 90, "cut.png")
