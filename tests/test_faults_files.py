"""Faults from the files people really have: formats read but not written, photos left alone,
huge headers, 32-bit TIFFs, an output that is a file, dangling links and FIFOs, rotated photos.

One test per promise (docs/reliability.md), each failing on the code before the promise held.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from exposure_core import imageio
from exposure_core.manifest import MANIFEST_NAME, REJECTS_NAME
from pipeline.params import EnhanceParams, Params
from pipeline.stages import enhance
from tests._datasets import photo
from tests._models import constant_gain_model
from tests.test_faults import _cli, _deadline, _params_file, _photos, _tiny_model

# --- rows 1, 2: what can be written is decided by the decoded format, before any work ----------


def _animated_gif(path: Path) -> Path:
    frames = [Image.new("RGB", (80, 64), (40 * i, 90, 120)) for i in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def test_unwritable_format_is_skipped_with_a_note_and_the_rest_written(tmp_path: Path) -> None:
    model = _tiny_model(tmp_path)
    gif = _animated_gif(tmp_path / "a.gif")
    jpg = tmp_path / "b.jpg"
    jpg.write_bytes(photo(1, ".jpg"))
    heic = tmp_path / "IMG.heic"  # a JPEG under a name we cannot write
    heic.write_bytes(photo(2, ".jpg"))
    out = tmp_path / "out"
    summary = enhance.run(Params(), [gif, jpg, heic], model, out)
    assert sorted(p.name for p in out.iterdir()) == ["IMG.jpg", "b.jpg"]
    assert imageio.probe(out / "IMG.jpg").format == "JPEG"
    assert summary.counts["written"] == 2 and summary.counts["skipped"] == 1
    skipped = [n for n in summary.notes if "a.gif" in n]
    assert len(skipped) == 1 and "GIF cannot be written" in skipped[0] and "--format" in skipped[0]
    assert any("IMG.heic holds a JPEG: written as IMG.jpg" in n for n in summary.notes)

    result = _cli("enhance", gif, "--model", model, "--output", tmp_path / "png", "--format", "png")
    assert result.exit_code == 0, result.output
    assert imageio.probe(tmp_path / "png" / "a.png").format == "PNG"

    before = gif.read_bytes()
    summary = enhance.run(Params(), [gif, heic], model, None, in_place=True)
    assert gif.read_bytes() == before and summary.counts["skipped"] == 1
    assert imageio.probe(heic).format == "JPEG"  # rewritten in place as what it is


# --- rows 3, 4: "unchanged" is the original file, byte for byte ------------------------------


def _jpeg_with_exif_and_icc(path: Path, rgb: np.ndarray) -> Path:
    exif = Image.Exif()
    exif[0x010F] = "Camera Maker"  # Make
    exif[0x0132] = "2024:05:01 12:00:00"  # DateTime
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(rgb).save(path, quality=90, exif=exif.tobytes(), icc_profile=icc)
    return path


@pytest.fixture(scope="module")
def darker(tmp_path_factory) -> Path:
    return constant_gain_model(tmp_path_factory.mktemp("m") / "darker.pt", -0.5)


def test_unchanged_photo_is_a_byte_copy_and_in_place_untouched(
    tmp_path: Path, demo_photos, darker: Path
) -> None:
    rgb = np.rint(demo_photos["coffee"] * 255).astype(np.uint8)
    original = _jpeg_with_exif_and_icc(tmp_path / "good.jpg", rgb)
    data = original.read_bytes()
    # the darker model darkens by about 0.23 (log2 mean luma): a gate that trusts no darkening
    gentle = dataclasses.replace(Params(), enhance=EnhanceParams(max_darken=4.0))
    summary = enhance.run(gentle, [original], darker, tmp_path / "out")
    assert (tmp_path / "out" / "good.jpg").read_bytes() == data  # EXIF, ICC, every byte
    assert any("1 well-exposed photo(s) written unchanged" in n for n in summary.notes)

    as_png = dataclasses.replace(Params(), enhance=EnhanceParams(format="png", max_darken=4.0))
    summary = enhance.run(as_png, [original], darker, tmp_path / "p")
    assert imageio.probe(tmp_path / "p" / "good.png").format == "PNG"
    assert any("converted to .png, not corrected" in n for n in summary.notes)

    os.utime(original, ns=(1_000_000_000, 1_000_000_000))
    summary = enhance.run(gentle, [original], darker, None, in_place=True)
    assert original.read_bytes() == data and original.stat().st_mtime_ns == 1_000_000_000
    assert summary.counts == {"unchanged": 1}
    assert any("left untouched" in n for n in summary.notes)


# --- row 8: io.max_pixels decides, not Pillow's own limit ------------------------------------


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header says ``width x height`` with a few rows of data (probe reads only
    the header)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    rows = zlib.compress(b"\0" * (1 + 3 * width) * 2)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        imageio.PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )
    return path


def test_max_pixels_decides_not_pillow(tmp_path: Path) -> None:
    big = _png_header_only(tmp_path / "big.png", 14000, 13000)  # 182 MP: above Pillow's 179 MP
    limit = Image.MAX_IMAGE_PIXELS
    info = imageio.probe(big, 200_000_000)
    assert (info.width, info.height) == (14000, 13000)
    assert imageio.probe(big, 500_000_000).width == 14000
    with pytest.raises(imageio.ImageError, match="exceeds max_pixels=100000000"):
        imageio.probe(big, 100_000_000)
    assert limit == Image.MAX_IMAGE_PIXELS  # lifted for the probe only


# --- row 12: 32-bit TIFFs are read ------------------------------------------------------------


def test_32_bit_float_and_integer_tiffs_are_read(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = (rng.random((6, 8, 3)) * 1.2 - 0.1).astype(np.float32)  # some values out of [0, 1]
    path = tmp_path / "f.tif"
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))
    assert imageio.probe(path).mode == "RGB;32F"
    image = imageio.read_image(path)
    np.testing.assert_allclose(image, np.clip(rgb, 0, 1), atol=1 / 65535)
    codes = imageio.read_codes(path)
    assert codes.bits == 16

    wide = (rng.random((6, 8, 3)) * 2**32).astype(np.uint32)
    path = tmp_path / "u.tif"
    assert cv2.imwrite(str(path), np.ascontiguousarray(wide[..., ::-1]))
    assert np.array_equal(imageio.read_codes(path).array, (wide >> 16).astype(np.uint16))

    gray = tmp_path / "g.tif"
    Image.fromarray(rgb[..., 0], mode="F").save(gray)
    with pytest.raises(imageio.ImageError, match="mode 'F': 32-bit float gray TIFF"):
        imageio.read_image(gray)


# --- row 13: an --output that is a file -------------------------------------------------------


def test_output_that_is_a_file_is_refused_by_every_stage(tmp_path: Path) -> None:
    params = _params_file(tmp_path)
    v = _photos(tmp_path / "v")
    assert _cli("filter", "--input", v, "--output", tmp_path / "flt", params=params).exit_code == 0
    syn = tmp_path / "syn"
    assert _cli("synthesize", "--input", v, "--output", syn, params=params).exit_code == 0
    taken = tmp_path / "f.txt"
    taken.write_text("mine")
    for args in (
        ("filter", "--input", v, "--output", taken),
        ("synthesize", "--input", v, "--output", taken),
        ("shard", "--input", syn, "--output", taken),
        ("download", "--output", taken),
        ("enhance", v / "a.png", "--model", _tiny_model(tmp_path), "--output", taken),
    ):
        result = _cli(*args, params=params)
        assert result.exit_code == 2, (args[0], result.output)
        assert "f.txt: not a folder" in result.output and "Errno" not in result.output
        assert taken.read_text() == "mine"


# --- row 14: dangling links and FIFOs are named, never opened ---------------------------------


def _folder_with_odd_entries(folder: Path) -> Path:
    _photos(folder)
    (folder / "gone.jpg").symlink_to(folder / "deleted.jpg")
    os.mkfifo(folder / "pipe.png")
    return folder


def test_dangling_links_and_fifos_are_rejected_with_the_reason(tmp_path: Path) -> None:
    params = _params_file(tmp_path)
    v = _folder_with_odd_entries(tmp_path / "v")
    expected = {
        str(v / "gone.jpg"): imageio.formats.DANGLING_REASON,
        str(v / "pipe.png"): "not a regular file (a FIFO)",
    }
    with _deadline(60):
        for stage in ("filter", "synthesize"):
            out = tmp_path / stage
            result = _cli(stage, "--input", v, "--output", out, params=params)
            assert result.exit_code == 0, result.output
            rows = [json.loads(line) for line in (out / REJECTS_NAME).read_text().splitlines()]
            assert {r["path"]: r["reason"] for r in rows} == expected
        summary = enhance.run(Params(), [v], _tiny_model(tmp_path), tmp_path / "e")
        for path, reason in expected.items():
            assert any(path in n and reason in n for n in summary.notes), summary.notes
        assert summary.counts["written"] == 3
        summary = enhance.run(Params(), [v / "pipe.png"], _tiny_model(tmp_path), tmp_path / "f")
    assert summary.counts == {"failed": 1}
    assert any("not a regular file (a FIFO)" in n for n in summary.notes), summary.notes
    assert not any("no such file" in n for n in summary.notes)


# --- row 15: the displayed size in every manifest ---------------------------------------------


def test_filter_records_the_displayed_size_of_rotated_photos(tmp_path: Path) -> None:
    params = _params_file(tmp_path)
    v = tmp_path / "v"
    v.mkdir()
    stored = np.asarray(Image.open(io.BytesIO(photo(3, ".png", width=150, height=200))))
    for orientation in (5, 6, 7, 8):
        exif = Image.Exif()
        exif[0x0112] = orientation
        Image.fromarray(stored).save(v / f"o{orientation}.jpg", quality=95, exif=exif.tobytes())
    flt, syn = tmp_path / "flt", tmp_path / "syn"
    assert _cli("filter", "--input", v, "--output", flt, params=params).exit_code == 0
    assert _cli("synthesize", "--input", flt, "--output", syn, params=params).exit_code == 0
    kept = [json.loads(line) for line in (flt / MANIFEST_NAME).read_text().splitlines()]
    made = [json.loads(line) for line in (syn / MANIFEST_NAME).read_text().splitlines()]
    assert len(kept) == 4 and made
    assert {(r["width"], r["height"]) for r in kept} == {(200, 150)}
    assert {(r["width"], r["height"]) for r in made} == {(200, 150)}
