"""Photos keep their metadata and colour space through prep enhance; manifests record it.

The ICC profiles are made here (tests/_icc.py: Adobe RGB (1998) and Display P3 primaries as
matrix/TRC profiles, a grey gamma profile); littleCMS (Pillow's ImageCms) is the independent
reference for every colour conversion.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms
from typer.testing import CliRunner

from exposure_core import exposure, imageio
from exposure_core.imageio import colour
from exposure_core.imageio.codes import Codes
from pipeline.cli import app
from pipeline.params import Params
from pipeline.stages import enhance as stage
from pipeline.stages import filter as filter_stage
from pipeline.stages import synthesize as synth_stage
from tests import _icc
from tests._models import constant_gain_model

MAKE, MODEL, ORIENTATION, SOFTWARE, EXIF_IFD, DATE_TAKEN = 271, 272, 274, 305, 0x8769, 0x9003
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
    b'22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
    b'tiff:Orientation="6" tiff:Make="Testcam"/></rdf:RDF></x:xmpmeta>'
)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A tiny gain-output generator that brightens by about one stop everywhere."""
    return constant_gain_model(tmp_path_factory.mktemp("model") / "generator.pt", 1.0)


def dark8(demo_photos, name: str = "coffee") -> np.ndarray:
    """A dark 8-bit crop, ``160 x 240 x 3`` uint8 sRGB."""
    photo = exposure.shift_ev(demo_photos[name][:160, :240], -1.0)
    return imageio.float_to_codes(np.ascontiguousarray(photo), 8).array


def camera_exif(orientation: int = 6) -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE], exif[MODEL], exif[ORIENTATION] = "Testcam", "T-1000", orientation
    exif.get_ifd(EXIF_IFD)[DATE_TAKEN] = "2024:05:06 07:08:09"
    return exif


def pillow_save(path: Path, pixels: np.ndarray, fmt: str, **info) -> Path:  # type: ignore[no-untyped-def]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, fmt, **info)
    return path


def littlecms(pixels: np.ndarray, src: bytes, dst: bytes) -> np.ndarray:
    """8-bit RGB converted by littleCMS (relative colorimetric), the reference."""
    src_p, dst_p = (ImageCms.ImageCmsProfile(io.BytesIO(b)) for b in (src, dst))
    out = ImageCms.profileToProfile(
        Image.fromarray(pixels), src_p, dst_p, renderingIntent=1, outputMode="RGB"
    )
    return np.asarray(out)


def with_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    """A JPEG with one more marker segment right after SOI."""
    return jpeg[:2] + struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload + jpeg[2:]


def run(inputs: list[Path], model: Path, out: Path, fmt: str = "same"):  # type: ignore[no-untyped-def]
    params = Params()
    params = replace(params, enhance=replace(params.enhance, format=fmt))
    return stage.run(params, inputs, model, out)


def test_jpeg_keeps_exif_xmp_and_icc(tmp_path: Path, demo_photos, model: Path) -> None:
    """Camera, date and orientation 6 in, the rotation applied: the same tags out with the
    orientation 1 and the tool as software; the ICC profile byte for byte; the XMP."""
    icc = _icc.srgb_like()
    photo = pillow_save(
        tmp_path / "in" / "a.jpg", dark8(demo_photos), "JPEG", quality=95,
        exif=camera_exif(6).tobytes(), icc_profile=icc, xmp=XMP,
    )  # fmt: skip
    summary = run([photo], model, tmp_path / "out")
    assert summary.counts == {"written": 1} and not summary.notes
    with Image.open(tmp_path / "out" / "a.jpg") as out:
        exif, info, size = out.getexif(), dict(out.info), out.size
    assert size == (160, 240)  # stored 240 x 160 with orientation 6: turned upright
    assert (exif[MAKE], exif[MODEL], exif[ORIENTATION]) == ("Testcam", "T-1000", 1)
    assert exif.get_ifd(EXIF_IFD)[DATE_TAKEN] == "2024:05:06 07:08:09"
    assert exif[SOFTWARE].startswith("exposure-prep ") and exif[SOFTWARE].endswith("prep enhance")
    assert info["icc_profile"] == icc
    assert info["xmp"] == XMP.replace(b'Orientation="6"', b'Orientation="1"')
    assert imageio.probe(tmp_path / "out" / "a.jpg").width == 160  # no second rotation


@pytest.mark.parametrize("fmt", ["png", "jpg", "tif"])
def test_srgb_profile_takes_the_fast_path(tmp_path: Path, demo_photos, model: Path, fmt) -> None:
    """An sRGB profile (vendors' bytes differ from littleCMS's) and no profile at all give
    the same pixels, and the pixels a result had before metadata was kept."""
    pixels = dark8(demo_photos)
    tagged = pillow_save(tmp_path / "a" / "x.png", pixels, "PNG", icc_profile=_icc.srgb_like())
    plain = pillow_save(tmp_path / "b" / "x.png", pixels, "PNG")
    run([tagged], model, tmp_path / "out_a", fmt)
    run([plain], model, tmp_path / "out_b", fmt)
    name = f"x.{fmt}"
    a, b = (imageio.read_codes(tmp_path / d / name).array for d in ("out_a", "out_b"))
    np.testing.assert_array_equal(a, b)
    encoded_before = imageio.encode(imageio.read_codes(tmp_path / "out_b" / name), f".{fmt}")
    if fmt != "jpg":  # lossless: the pixels are what OpenCV alone would have written
        np.testing.assert_array_equal(b, imageio.decode_codes(encoded_before).array)
    assert colour.colour_space(_icc.srgb_like(), "x").is_srgb


@pytest.mark.parametrize("make", [_icc.display_p3, _icc.adobe_rgb], ids=["p3", "adobe"])
def test_wide_gamut_photo_corrected_in_srgb_and_converted_back(
    tmp_path: Path, demo_photos, model: Path, make
) -> None:
    """The same scene as an sRGB photo and as a wide-gamut one (converted by littleCMS):
    both corrected alike, and the wide one's result is in its own profile, not reinterpreted."""
    icc, srgb = make(), colour.srgb_profile()
    pixels = dark8(demo_photos)
    wide = littlecms(pixels, srgb, icc)
    pillow_save(tmp_path / "in" / "wide.png", wide, "PNG", icc_profile=icc)
    pillow_save(tmp_path / "in" / "ref.png", pixels, "PNG")
    seen, original = imageio.read_in_srgb(tmp_path / "in" / "wide.png", 10**8)
    assert (seen.bits, original.bits, original.space.name) == (16, 8, colour.describe(icc))
    assert np.abs(seen.array / 257.0 - pixels).max() < 1.5  # the network sees the sRGB scene
    run([tmp_path / "in"], model, tmp_path / "out")
    with Image.open(tmp_path / "out" / "wide.png") as img:
        assert img.info["icc_profile"] == icc
    out_wide = imageio.read_codes(tmp_path / "out" / "wide.png").array
    out_ref = imageio.read_codes(tmp_path / "out" / "ref.png").array.astype(int)
    seen_in_srgb = littlecms(out_wide, icc, srgb).astype(int)
    assert np.abs(seen_in_srgb - out_ref).mean() < 0.6
    assert np.abs(seen_in_srgb - out_ref).max() <= 4
    assert np.abs(out_wide.astype(int) - out_ref).mean() > 2  # in the wide space's codes


def test_lookup_table_profile_corrected_in_srgb(tmp_path: Path, demo_photos, model) -> None:
    """An 8-bit photo with a lookup-table input profile: littleCMS converts it to sRGB, the
    result is sRGB and says so (sRGB's profile); a 16-bit one is refused in one line."""
    icc, pixels = _icc.lut_input_profile(), dark8(demo_photos)
    pillow_save(tmp_path / "in" / "lut.png", pixels, "PNG", icc_profile=icc)
    pillow_save(tmp_path / "in" / "ref.png", littlecms(pixels, icc, colour.srgb_profile()), "PNG")
    deep = tmp_path / "in" / "deep.png"
    imageio.write_image(
        deep, Codes(pixels.astype(np.uint16) * 257), metadata=imageio.Metadata(icc=icc)
    )
    summary = run([tmp_path / "in"], model, tmp_path / "out")
    assert summary.counts == {"written": 2, "failed": 1}
    (line,) = [n for n in summary.notes if "deep.png" in n]
    assert "lookup tables" in line and "16-bit" in line
    with Image.open(tmp_path / "out" / "lut.png") as img:
        assert img.info["icc_profile"] == colour.srgb_profile()
    out, ref = (
        imageio.read_codes(tmp_path / "out" / n).array.astype(int) for n in ("lut.png", "ref.png")
    )
    assert np.abs(out - ref).max() <= 1


@pytest.mark.parametrize("make", [_icc.display_p3, _icc.adobe_rgb], ids=["p3", "adobe"])
def test_conversions_equal_littlecms_and_round_trip(make) -> None:
    """Our float conversion against littleCMS at 8 bits, and the round trip sRGB and back:
    exact at 8 bits, within 2 codes of 65535 at 16 bits (codes >= 1024; darker codes of a
    pure-gamma profile lose up to ~0.15 % of the range to sRGB's 16-bit toe)."""
    icc = make()
    space = colour.colour_space(icc, "x")
    rng = np.random.default_rng(0)
    a8 = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    ours = colour.to_srgb(Codes(a8), space).array / 257.0
    reference = littlecms(a8, icc, colour.srgb_profile())
    assert np.abs(ours - reference).max() < 1.0
    in_gamut = ((ours > 0) & (ours < 255)).all(axis=-1)
    back = colour.from_srgb(colour.to_srgb(Codes(a8), space), space, 8).array
    np.testing.assert_array_equal(back[in_gamut], a8[in_gamut])
    a16 = rng.integers(1024, 65536, (128, 128, 3), dtype=np.uint16)
    srgb16 = colour.to_srgb(Codes(a16), space)
    in_gamut = ((srgb16.array > 0) & (srgb16.array < 65535)).all(axis=-1)
    back16 = colour.from_srgb(srgb16, space, 16).array.astype(int)
    assert in_gamut.mean() > 0.3
    assert np.abs(back16 - a16)[in_gamut].max() <= 2


def test_grey_profile_converted_exactly() -> None:
    """A grey gamma profile: the exact curve (littleCMS's 8-bit transform rounds shadows
    up to one code and a bit apart), and the result carries sRGB's profile."""
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    space = colour.colour_space(_icc.grey_gamma(), "g.jpg")
    ours = colour.to_srgb(Codes(np.repeat(grey[..., None], 3, axis=2)), space).array / 257.0
    linear = (grey / 255.0) ** (round(2.2 * 256) / 256)
    exact = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    assert np.abs(ours[..., 0] - exact * 255).max() < 0.05
    src = ImageCms.ImageCmsProfile(io.BytesIO(_icc.grey_gamma()))
    reference = ImageCms.profileToProfile(
        Image.fromarray(grey), src, ImageCms.createProfile("sRGB"), outputMode="RGB"
    )
    assert np.abs(ours - np.asarray(reference)).max() < 1.5
    assert colour.output_profile(space) == colour.srgb_profile()  # an RGB file: sRGB's


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_stays_16_bit_with_metadata(tmp_path: Path, demo_photos, model, suffix) -> None:
    icc = _icc.adobe_rgb()
    codes = imageio.float_to_codes(np.ascontiguousarray(demo_photos["rocket"][:120, :160]), 16)
    exif = {MAKE: "Testcam", EXIF_IFD: {DATE_TAKEN: "2024:05:06 07:08:09"}}
    photo = tmp_path / "in" / f"deep{suffix}"
    imageio.write_image(photo, codes, metadata=imageio.Metadata(exif=exif, icc=icc, xmp=XMP))
    summary = run([photo], model, tmp_path / "out")
    assert summary.counts == {"written": 1}
    out = tmp_path / "out" / photo.name
    assert imageio.read_codes(out).bits == 16
    with Image.open(out) as img:
        assert img.info["icc_profile"] == icc
        tags = img.getexif()
        assert tags[MAKE] == "Testcam" and tags[SOFTWARE].endswith("prep enhance")
        assert tags.get_ifd(EXIF_IFD)[DATE_TAKEN] == "2024:05:06 07:08:09"
    assert imageio.read_metadata(out).xmp == XMP.replace(b'"6"', b'"1"')


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif", ".webp"])
def test_metadata_goes_beside_the_pixels(tmp_path: Path, demo_photos, suffix) -> None:
    """Every writable format: the pixels decode as without metadata; Pillow reads it all."""
    codes = imageio.float_to_codes(np.ascontiguousarray(demo_photos["chelsea"][:64, :96]), 8)
    meta = imageio.Metadata(exif={MAKE: "Testcam"}, xmp=XMP, icc=_icc.display_p3())
    imageio.write_image(tmp_path / f"m{suffix}", codes, metadata=meta)
    plain = imageio.decode_codes(imageio.encode(codes, suffix)).array
    np.testing.assert_array_equal(imageio.read_codes(tmp_path / f"m{suffix}").array, plain)
    read = imageio.read_metadata(tmp_path / f"m{suffix}")
    assert (read.exif[MAKE], read.xmp, read.icc) == ("Testcam", XMP, meta.icc)


def test_broken_exif_dropped_with_a_warning(tmp_path: Path, demo_photos, model: Path) -> None:
    jpeg = imageio.encode(Codes(dark8(demo_photos)), ".jpg")
    photo = tmp_path / "in" / "broken.jpg"
    photo.parent.mkdir()
    photo.write_bytes(with_segment(jpeg, 0xE1, b"Exif\0\0II*\0\xff\xff\0\0 not an IFD"))
    summary = run([photo], model, tmp_path / "out")
    assert summary.counts == {"written": 1}
    (warning,) = [n for n in summary.notes if "EXIF" in n]
    assert str(photo) in warning and "broken EXIF block dropped" in warning
    with Image.open(tmp_path / "out" / "broken.jpg") as out:
        assert dict(out.getexif()) == {SOFTWARE: stage.software()}


@pytest.mark.parametrize(
    ("profile", "reason"),
    [
        (b"not an ICC profile at all" * 8, "ICC profile cannot be parsed"),
        (ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes(), "cannot be converted"),
    ],
    ids=["unparsable", "lab"],
)
def test_unusable_profile_refused_in_one_line(
    tmp_path: Path, demo_photos, model: Path, profile: bytes, reason: str
) -> None:
    jpeg = imageio.encode(Codes(dark8(demo_photos)), ".jpg")
    photo = tmp_path / "in" / "odd.jpg"
    photo.parent.mkdir()
    photo.write_bytes(with_segment(jpeg, 0xE2, b"ICC_PROFILE\0\1\1" + profile))
    imageio.write_image(tmp_path / "in" / "fine.png", Codes(dark8(demo_photos)))
    result = CliRunner().invoke(app, ["enhance", str(tmp_path / "in"), "--model", str(model),
                                      "--output", str(tmp_path / "out")])  # fmt: skip
    assert result.exit_code == 1
    (line,) = [ln for ln in result.output.splitlines() if "odd.jpg" in ln]
    assert reason in line
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fine.png"]


def test_filter_and_synthesize_record_the_colour_space(tmp_path: Path, demo_photos) -> None:
    photos = tmp_path / "photos"
    good = imageio.float_to_codes(np.ascontiguousarray(demo_photos["coffee"]), 8).array
    pillow_save(photos / "p3.png", good, "PNG", icc_profile=_icc.display_p3())
    pillow_save(photos / "srgb.png", good, "PNG", icc_profile=_icc.srgb_like())
    pillow_save(photos / "plain.png", good, "PNG")
    pillow_save(photos / "odd.png", good, "PNG", icc_profile=b"garbage" * 20)
    filter_stage.run(Params(), photos, tmp_path / "filtered")
    text = (tmp_path / "filtered" / "manifest.jsonl").read_text()
    rows = {Path(r["path"]).stem: r for r in map(json.loads, text.splitlines())}
    expected = {"p3": "Display P3 primaries, test", "srgb": "sRGB", "odd": "unknown"}
    assert {k: r.get("colour_space") for k, r in rows.items()} == expected | {"plain": None}
    assert "colour_space" not in rows["plain"]  # no profile: the line as it always was
    base = Params().synthesize
    synth = replace(Params(), synthesize=replace(base, tau="0.7", tau_samples=1, evs=[]))
    synth_stage.run(synth, tmp_path / "filtered", tmp_path / "pairs")
    pairs = (tmp_path / "pairs" / "manifest.jsonl").read_text().splitlines()
    scenes = {json.loads(ln)["scene"]: json.loads(ln).get("colour_space") for ln in pairs}
    spaces = {scene.removeprefix("folder-"): space for scene, space in scenes.items()}
    assert spaces == expected | {"plain": None}
