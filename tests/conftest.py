"""Shared fixtures: small photos from scikit-image and tiny DNG files, made in tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests import _dng


def _skimage_photo(name: str) -> np.ndarray:
    import skimage.data

    if name.startswith("motorcycle"):
        left, right, _ = skimage.data.stereo_motorcycle()
        return left if name.endswith("left") else right
    return getattr(skimage.data, name)()


DEMO_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "motorcycle_right")


@pytest.fixture(scope="session")
def demo_photos() -> dict[str, np.ndarray]:
    """The six demo photos as float32 H x W x 3 RGB in [0, 1]."""
    return {n: _skimage_photo(n).astype(np.float32) / np.float32(255) for n in DEMO_NAMES}


@pytest.fixture()
def make_dng(tmp_path: Path):
    """Factory: write a small synthetic DNG from a known linear scene; returns its path."""

    def factory(
        name: str = "scene.dng", height: int = 96, width: int = 128, scale: float = 0.5
    ) -> Path:
        return _dng.write_dng(tmp_path / name, height, width, scale)

    return factory
