"""The exposure estimator: its sign on darkened and brightened photos, its shipped weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

from exposure_core import camera, exposure, imageio
from exposure_core.ev_estimate import (
    FEATURE_NAMES,
    MODEL_FILE,
    EvModel,
    default_model,
    ev_estimate,
    features,
)
from tests.test_camera import shared


def _variants(image: np.ndarray, ev: float) -> list[np.ndarray]:
    """A camera-like copy and an ``ev``-kind copy, both quantised to 8 bits as files are."""
    codes = imageio.float_to_codes(image)
    cam = imageio.codes_to_float(camera.render_codes(codes, camera.fitted_recipe(ev)))
    ev_kind = imageio.codes_to_float(imageio.float_to_codes(exposure.shift_ev(image, ev)))
    return [cam, ev_kind]


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_darkened_and_brightened_copies(demo_photos: dict[str, np.ndarray], name: str) -> None:
    image = demo_photos[name]
    base = ev_estimate(image)
    for dark in _variants(image, -1.5):
        assert ev_estimate(dark) < min(base - 0.5, -0.5)  # under, and darker than the photo
    for bright in _variants(image, 1.5):
        assert ev_estimate(bright) > base + 0.3


def test_clear_overexposure_reads_positive(demo_photos: dict[str, np.ndarray]) -> None:
    for name in ("coffee", "chelsea"):
        for bright in _variants(demo_photos[name], 1.5):
            assert ev_estimate(bright) > 0.5


def test_features_and_determinism(demo_photos: dict[str, np.ndarray]) -> None:
    image = demo_photos["coffee"]
    feats = features(image)
    assert feats.shape == (len(FEATURE_NAMES),) and np.all(np.isfinite(feats))
    assert ev_estimate(image) == ev_estimate(image.copy())
    larger = np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)  # resolution hardly matters
    assert abs(ev_estimate(larger) - ev_estimate(image)) < 0.25
    with pytest.raises(ValueError, match="float32"):
        ev_estimate(image.astype(np.float64))


def test_shipped_weights() -> None:
    assert MODEL_FILE.stat().st_size < 200_000
    data = json.loads(MODEL_FILE.read_text())
    assert 0.3 <= data["threshold"] <= 1.5
    model = default_model()
    assert model.w1.shape == (len(model.w2), len(FEATURE_NAMES))
    with pytest.raises(ValueError, match="retrain"):
        EvModel.from_dict({**data, "features": data["features"][:-1]})


def test_msec_validation_scenes_are_ordered() -> None:
    root = shared()
    folder = None if root is None else root / "msec" / "validation" / "INPUT_IMAGES"
    if folder is None or not folder.is_dir():
        pytest.skip("../shared/msec not present")
    scenes = sorted({p.stem.rsplit("_", 1)[0] for p in folder.glob("*.JPG")})[:2]
    for scene in scenes:
        est = {
            ev: ev_estimate(imageio.read_image(folder / f"{scene}_{ev}.JPG"))
            for ev in ("N1.5", "0", "P1.5")
        }
        assert est["N1.5"] < est["0"] < est["P1.5"]
