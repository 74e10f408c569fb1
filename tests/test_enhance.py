"""prep enhance: formats in and out, orientation, batching, bad input, no overwrites."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from exposure_core import exposure, imageio
from exposure_models.checkpoint import CheckpointError
from exposure_models.inference.enhancer import Enhancer
from pipeline.cli import app
from pipeline.params import EnhanceParams, Params
from pipeline.stages import enhance as stage
from tests._models import constant_gain_model

runner = CliRunner()


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A tiny gain-output generator that brightens by about one stop everywhere."""
    return constant_gain_model(tmp_path_factory.mktemp("model") / "generator.pt", 1.0)


def dark(demo_photos, name: str = "coffee") -> np.ndarray:
    return exposure.shift_ev(demo_photos[name], -1.0)


def test_formats_in_and_out(tmp_path: Path, demo_photos, model: Path, make_dng) -> None:
    photos = tmp_path / "in"
    imageio.write_image(photos / "a.jpg", dark(demo_photos))
    imageio.write_image(photos / "b.png", dark(demo_photos, "chelsea"))
    imageio.write_image(photos / "c.tif", dark(demo_photos, "rocket"), bits=16)
    raw = make_dng("raw/d.dng", scale=0.2)
    out = tmp_path / "out"
    summary = stage.run(Params(), [photos, raw], model, out)
    assert summary.counts == {"written": 4}
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "b.png", "c.tif", "d.tif"]
    assert (
        imageio.read_codes(out / "c.tif").bits == 16
        and imageio.read_codes(out / "d.tif").bits == 16
    )
    assert imageio.read_codes(out / "a.jpg").bits == 8
    before, after = imageio.read_image(photos / "b.png"), imageio.read_image(out / "b.png")
    assert after.shape == before.shape
    # the model brightens by one stop: the full-resolution result follows, detail intact
    expected = exposure.shift_ev(before, 1.0)
    assert np.abs(after - expected).mean() < 0.02


def test_format_param_and_orientation(tmp_path: Path, demo_photos, model: Path) -> None:
    path = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated by 90 degrees
    Image.fromarray((dark(demo_photos) * 255).astype(np.uint8)).save(path, exif=exif)
    params = Params(enhance=EnhanceParams(format="png"))
    stage.run(params, [path], model, tmp_path / "out")
    result = imageio.read_image(tmp_path / "out" / "rot.png")
    assert result.shape == (600, 400, 3)  # upright pixels: displays as the input did


def test_working_resolution_differs_from_training(tmp_path: Path, demo_photos, model: Path) -> None:
    imageio.write_image(tmp_path / "x.png", dark(demo_photos))
    for long_side in (64, 200, 1000):
        params = Params(enhance=EnhanceParams(long_side=long_side, batch_size=2))
        stage.run(params, [tmp_path / "x.png"], model, tmp_path / f"o{long_side}")
        assert imageio.read_image(tmp_path / f"o{long_side}" / "x.png").shape == (400, 600, 3)


def test_unreadable_photo_named_and_exit_code(tmp_path: Path, demo_photos, model: Path) -> None:
    imageio.write_image(tmp_path / "in" / "good.png", dark(demo_photos))
    (tmp_path / "in" / "bad.jpg").write_bytes(b"not a photo")
    result = runner.invoke(app, ["enhance", str(tmp_path / "in"), "--model", str(model),
                                 "--output", str(tmp_path / "out")])  # fmt: skip
    assert result.exit_code == 1
    assert "bad.jpg" in result.output and "not a readable image" in result.output
    assert (tmp_path / "out" / "good.png").is_file()


def test_appledouble_and_hidden_files_are_not_photos(
    tmp_path: Path, demo_photos, model: Path
) -> None:
    """``prep enhance dir/`` skips what ``prep download`` skips: macOS ``._x.jpg`` resource
    forks (not images at all), hidden files and ``__MACOSX/``; the run stays clean."""
    photos = tmp_path / "in"
    imageio.write_image(photos / "x.jpg", dark(demo_photos))
    (photos / "._x.jpg").write_bytes(b"\x00\x05\x16\x07AppleDouble resource fork")
    imageio.write_image(photos / ".hidden.png", dark(demo_photos))
    imageio.write_image(photos / "__MACOSX" / "y.jpg", dark(demo_photos))
    result = runner.invoke(app, ["enhance", str(photos), "--model", str(model),
                                 "--output", str(tmp_path / "out")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "._x.jpg" not in result.output
    assert sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file()) == ["x.jpg"]


def test_not_our_model(tmp_path: Path, demo_photos) -> None:
    imageio.write_image(tmp_path / "x.png", dark(demo_photos))
    fake = tmp_path / "model.pt"
    torch.save({"state_dict": {}}, fake)
    result = runner.invoke(app, ["enhance", str(tmp_path / "x.png"), "--model", str(fake),
                                 "--output", str(tmp_path / "o")])  # fmt: skip
    assert result.exit_code == 2 and "not a generator checkpoint" in result.output


def test_never_overwrites_inputs_unless_in_place(tmp_path: Path, demo_photos, model: Path) -> None:
    photo = tmp_path / "x.png"
    imageio.write_image(photo, dark(demo_photos))
    original = photo.read_bytes()
    with pytest.raises(ValueError, match="would overwrite input"):
        stage.run(Params(), [photo], model, tmp_path)
    with pytest.raises(ValueError, match="--output DIR, or --in-place"):
        stage.run(Params(), [photo], model, None)
    assert photo.read_bytes() == original
    stage.run(Params(), [photo], model, None, in_place=True)
    assert photo.read_bytes() != original


def test_same_size_photos_share_a_batch(
    tmp_path: Path, demo_photos, model: Path, monkeypatch
) -> None:
    for i in range(3):
        imageio.write_image(tmp_path / "in" / f"{i}.png", dark(demo_photos))
    sizes = []
    real = Enhancer.forward

    def spy(self, lows):
        sizes.append(len(lows))
        return real(self, lows)

    monkeypatch.setattr(Enhancer, "forward", spy)
    stage.run(Params(enhance=EnhanceParams(batch_size=4)), [tmp_path / "in"], model,
              tmp_path / "out")  # fmt: skip
    assert sizes == [3]


def test_without_model_uses_the_default_stops_re_exposure(
    tmp_path: Path, demo_photos, model: Path, monkeypatch
) -> None:
    from exposure_core import stops_correction
    from exposure_models import pretrained

    assert pretrained.resolve_model(None) == Path(pretrained.DEFAULT_MODEL) == Path("stops")
    photo = dark(demo_photos)
    imageio.write_image(tmp_path / "x.png", photo)
    result = runner.invoke(app, ["enhance", str(tmp_path / "x.png"), "--output",
                                 str(tmp_path / "o")])  # fmt: skip
    assert result.exit_code == 0, result.output
    want, stops = stops_correction.correct_codes(imageio.read_codes(tmp_path / "x.png"))
    assert stops < -0.5
    assert np.array_equal(imageio.read_codes(tmp_path / "o" / "x.png").array, want.array)
    # a generator given as the shipped one: a missing file is one line naming --model
    missing = tmp_path / "missing" / "real.pt"
    with pytest.raises(CheckpointError, match="no shipped model .* pass --model"):
        pretrained.resolve_model(None, missing)
    assert pretrained.resolve_model(None, model) == model


def test_shipped_model_is_package_data_and_loads() -> None:
    from exposure_models import pretrained

    assert pretrained.SHIPPED_MODEL.parent == Path(pretrained.__file__).parent
    enhancer = Enhancer.load(pretrained.SHIPPED_MODEL, EnhanceParams(device="cpu"))
    photo = np.full((96, 128, 3), 0.4, np.float32)
    out = enhancer.correct(photo)
    assert out.shape == photo.shape and np.isfinite(out).all()


def test_shipped_models_by_name(tmp_path: Path, monkeypatch) -> None:
    from exposure_models import pretrained

    for name in ("real", "synthetic"):
        path = pretrained.resolve_model(Path(name))
        assert path == Path(pretrained.__file__).parent / f"{name}.pt" and path.is_file()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "real").write_bytes(b"x")  # a file of that name wins over the shipped model
    assert pretrained.resolve_model(Path("real")) == Path("real")
    assert pretrained.resolve_model(Path("mine.pt")) == Path("mine.pt")
