"""The camera-like exposure kind: exact, deterministic, monotone, range-checked; RAW rendering."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exposure_core import camera, imageio
from exposure_core.errors import UserError
from exposure_core.schema import ConfigError
from tools.msec_data import shared_root


def shared() -> Path | None:
    """The shared data folder (``tools/msec_data.shared_root``), or None where it is absent."""
    root = shared_root()
    return root if root.is_dir() else None


@pytest.fixture(scope="module")
def astronaut(demo_photos: dict[str, np.ndarray]) -> imageio.Codes:
    return imageio.float_to_codes(demo_photos["astronaut"][::2, ::2].copy())


def test_ev0_returns_the_input_for_every_curve(astronaut: imageio.Codes) -> None:
    for slope, gamma in [(1.8, 2.6), (0.5, 1.0), (1.43, 1.66), (4.0, 4.0)]:
        recipe = camera.CameraRecipe(0.0, slope, gamma)
        table = imageio.curve_table(camera.recipe_curve(recipe), 8)
        assert np.array_equal(table, np.arange(256, dtype=np.uint8))
        assert np.array_equal(camera.render_codes(astronaut, recipe).array, astronaut.array)


def test_same_recipe_same_bytes(astronaut: imageio.Codes) -> None:
    recipe = camera.CameraRecipe(1.3, 1.7, 2.4, 0.95, 1.05, quality=85)
    first = camera.render_codes(astronaut, recipe).array
    again = camera.render_codes(imageio.Codes(astronaut.array.copy()), recipe).array
    assert first.tobytes() == again.tobytes()
    assert not np.array_equal(first, astronaut.array)


def test_curves_are_monotone_and_ordered_by_ev() -> None:
    previous = None
    for ev in (-3.0, -1.5, -0.5, 0.0, 0.5, 1.5, 3.0):
        curve = camera.recipe_curve(camera.CameraRecipe(ev, contrast=1.2))
        assert np.all(np.diff(curve) >= 0)
        assert curve[0] == 0.0 and curve[-1] < 1.0  # black stays black, no hard clip
        if previous is not None:
            assert np.all(curve >= previous) and np.any(curve > previous)
        previous = curve


def test_hand_computed_value() -> None:
    # ev 1, n = 2, g = 2, code 128: D = (128/255)**2 = 0.251965, logit(D) = -1.088159,
    # + 2 * ln 2 -> 0.298135, logistic -> 0.573985, sqrt -> 0.757619, * 255 = 193.19.
    curve = camera.recipe_curve(camera.CameraRecipe(1.0, 2.0, 2.0))
    assert curve[128] * 255 == pytest.approx(193.1928, abs=1e-3)
    assert imageio.curve_table(curve, 8)[128] == 193


def test_lookup_table_equals_float_path(astronaut: imageio.Codes) -> None:
    for recipe in (camera.CameraRecipe(1.5), camera.CameraRecipe(-1.7, 2.0, 3.0, 1.1)):
        by_table = camera.render_codes(astronaut, recipe).array
        floats = camera.render_float(imageio.codes_to_float(astronaut), recipe)
        assert np.array_equal(imageio.float_to_codes(floats).array, by_table)


def test_curve_and_inverse_round_trip() -> None:
    light = np.array([0.0, 0.01, 0.3, 1.0, 5.0, 20.0])
    encoded = camera.camera_curve(light, 1.8, 2.6)
    assert np.all(encoded < 1.0)
    assert camera.inverse_camera_curve(encoded, 1.8, 2.6) == pytest.approx(light, rel=1e-9)
    # code 255 is read as TOP_LEVEL: finite light, kept a little below the top by -1.5 EV
    assert np.isfinite(camera.inverse_camera_curve(np.array(1.0), 1.8, 2.6))
    under = camera.recipe_curve(camera.CameraRecipe(-1.5))
    assert 240 <= under[255] * 255 < 254.5


def test_bad_parameters_name_the_parameter() -> None:
    with pytest.raises(ConfigError, match=r"^slope: must be in \[0.5, 4\]") as info:
        camera.CameraRecipe(slope=9.0)
    assert info.value.key == "slope"
    with pytest.raises(ConfigError) as info:
        camera.camera_curve(np.ones(3), 1.8, 0.2)
    assert info.value.key == "gamma"
    with pytest.raises(ConfigError, match="quality"):
        camera.CameraRecipe(quality=0)
    with pytest.raises(ConfigError, match="tone"):
        camera.CameraRecipe.from_dict({"ev": 1.0, "tone": 2})


def test_draws_are_seeded_and_within_ranges() -> None:
    first = [camera.draw_recipe(np.random.default_rng(7), quality_range=(70, 95)) for _ in "ab"]
    assert first[0] == first[1]
    box = camera.fitted_ranges()["ranges"]
    rng = np.random.default_rng(1)
    for _ in range(50):
        r = camera.draw_recipe(rng, (-2.0, 2.0), min_abs_ev=0.5)
        assert 0.5 <= abs(r.ev) <= 2.0
        assert box["gamma"][0] <= r.gamma <= box["gamma"][1]
        assert box["toe"][0] <= r.slope / r.gamma <= box["toe"][1]
        assert box["saturation"][0] <= r.saturation <= box["saturation"][1]
    assert camera.CameraRecipe.from_dict(r.to_dict()) == r


def test_jpeg_roundtrip(astronaut: imageio.Codes) -> None:
    out = camera.jpeg_roundtrip(astronaut, 90)
    assert out.array.shape == astronaut.array.shape
    assert np.abs(out.array.astype(int) - astronaut.array).mean() < 6  # chroma subsampling
    with pytest.raises(ConfigError, match="quality"):
        camera.jpeg_roundtrip(astronaut, 101)


def test_unreadable_raw_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.dng"
    bad.write_bytes(b"not a raw file at all" * 50)
    with pytest.raises(UserError, match="broken.dng") as info:
        camera.render_raw_camera(bad, camera.CameraRecipe(1.0))
    assert isinstance(info.value, imageio.ImageError)
    with pytest.raises(ConfigError, match="^ev:"):
        camera.render_raw_camera(bad, camera.CameraRecipe(-3.0))


def test_real_raw_file_renders_like_a_camera() -> None:
    root = shared()
    if root is None or not (root / "realdata" / "raw").is_dir():
        pytest.skip("../shared/realdata not present")
    path = root / "realdata" / "raw" / "kodak-dc50-cc-by-nc-sa-4-0.kdc"
    renders = {
        ev: camera.render_raw_camera(path, camera.CameraRecipe(ev)).array for ev in (-1.5, 0.0, 1.5)
    }
    assert renders[0.0].shape == (512, 768, 3) and renders[0.0].dtype == np.uint8
    means = [renders[ev].mean() for ev in (-1.5, 0.0, 1.5)]
    assert means[0] + 20 < means[1] < means[2] - 20
    assert 90 < means[1] < 150  # a plausible exposure at 0 EV
    assert (renders[1.5] == 255).mean() < 0.005  # highlights roll off: no spike at the top
