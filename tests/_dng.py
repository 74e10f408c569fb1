"""Write tiny DNG files from a known Bayer mosaic with pidng (a dev dependency)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

WHITE_LEVEL = 4095


def linear_scene(height: int, width: int) -> np.ndarray:
    """A smooth linear-light RGB scene in [0, 1]: horizontal red ramp, vertical green ramp."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([xx / (width - 1), yy / (height - 1), np.full_like(xx, 0.5)], axis=-1)


def mosaic_rggb(scene: np.ndarray, scale: float) -> np.ndarray:
    """Sample an RGGB Bayer mosaic (12-bit codes) from a linear scene times ``scale``."""
    h, w, _ = scene.shape
    raw = np.zeros((h, w), np.float32)
    raw[0::2, 0::2] = scene[0::2, 0::2, 0]
    raw[0::2, 1::2] = scene[0::2, 1::2, 1]
    raw[1::2, 0::2] = scene[1::2, 0::2, 1]
    raw[1::2, 1::2] = scene[1::2, 1::2, 2]
    return np.clip(raw * scale * WHITE_LEVEL, 0, WHITE_LEVEL).astype(np.uint16)


def write_dng(path: Path, height: int, width: int, scale: float) -> Path:
    """Write ``path`` (suffix .dng) holding the mosaic of ``linear_scene`` times ``scale``."""
    from pidng.core import RAW2DNG, DNGTags, Tag
    from pidng.defs import (
        CalibrationIlluminant,
        CFAPattern,
        DNGVersion,
        Orientation,
        PhotometricInterpretation,
        PreviewColorSpace,
    )

    mosaic = mosaic_rggb(linear_scene(height, width), scale)
    tags = DNGTags()
    tags.set(Tag.ImageWidth, width)
    tags.set(Tag.ImageLength, height)
    tags.set(Tag.TileWidth, width)
    tags.set(Tag.TileLength, height)
    tags.set(Tag.Orientation, Orientation.Horizontal)
    tags.set(Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array)
    tags.set(Tag.SamplesPerPixel, 1)
    tags.set(Tag.BitsPerSample, 16)
    tags.set(Tag.CFARepeatPatternDim, [2, 2])
    tags.set(Tag.CFAPattern, CFAPattern.RGGB)
    tags.set(Tag.BlackLevel, 0)
    tags.set(Tag.WhiteLevel, WHITE_LEVEL)
    identity = [[1, 1], [0, 1], [0, 1], [0, 1], [1, 1], [0, 1], [0, 1], [0, 1], [1, 1]]
    tags.set(Tag.ColorMatrix1, identity)
    tags.set(Tag.CalibrationIlluminant1, CalibrationIlluminant.D65)
    tags.set(Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]])
    tags.set(Tag.DNGVersion, DNGVersion.V1_4)
    tags.set(Tag.DNGBackwardVersion, DNGVersion.V1_2)
    tags.set(Tag.Make, "Test")
    tags.set(Tag.Model, "Synthetic")
    tags.set(Tag.PreviewColorSpace, PreviewColorSpace.sRGB)
    writer = RAW2DNG()
    writer.options(tags, path="", compress=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.convert(mosaic, filename=str(path.with_suffix("")))
    return path
