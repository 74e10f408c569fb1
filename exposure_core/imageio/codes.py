"""Integer images (``Codes``) and their float views; tone curves as lookup tables.

Integer images (uint8/uint16) exist only inside this package; other modules see them as opaque
``Codes`` and map them with float tone curves (``apply_curve``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

cv2.setNumThreads(1)  # parallelism comes from worker processes, not codec threads
# Decoding failures become ImageError naming the file; OpenCV's own log would only add noise.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


@dataclass(frozen=True)
class Codes:
    """An integer RGB image (uint8 or uint16, ``H x W x 3``), opaque outside this package."""

    array: np.ndarray

    @property
    def bits(self) -> int:
        return 16 if self.array.dtype == np.uint16 else 8

    @property
    def height(self) -> int:
        return int(self.array.shape[0])

    @property
    def width(self) -> int:
        return int(self.array.shape[1])


def codes_to_float(codes: Codes) -> np.ndarray:
    """Integer codes -> float32 ``H x W x 3`` RGB in [0, 1]."""
    top = np.float32((1 << codes.bits) - 1)
    return codes.array.astype(np.float32) / top


def float_to_codes(image: np.ndarray, bits: int = 8) -> Codes:
    """float32 ``H x W x 3`` RGB in [0, 1] -> integer codes (rounded to nearest)."""
    if image.dtype != np.float32 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be float32 (H, W, 3), got {image.dtype} {image.shape}")
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    top = (1 << bits) - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    scaled = np.clip(image, 0.0, 1.0) * np.float32(top) + np.float32(0.5)
    return Codes(scaled.astype(dtype))


def downscale(codes: Codes, size: tuple[int, int]) -> np.ndarray:
    """Area-downscale integer codes to ``size`` = (height, width); float32 RGB in [0, 1].

    Works on the integer image, so a large photo never needs a full-size float copy.
    """
    height, width = size
    if height > codes.height or width > codes.width:
        raise ValueError(f"cannot downscale {codes.height}x{codes.width} to {height}x{width}")
    if (height, width) == (codes.height, codes.width):
        return codes_to_float(codes)
    small = cv2.resize(codes.array, (width, height), interpolation=cv2.INTER_AREA)
    return codes_to_float(Codes(small))


def shrink(codes: Codes, short_side: int) -> Codes:
    """Area-downscale so the short side is ``short_side`` (never upscales; 0 keeps the size)."""
    if short_side <= 0 or min(codes.height, codes.width) <= short_side:
        return codes
    scale = short_side / min(codes.height, codes.width)
    size = (max(1, round(codes.width * scale)), max(1, round(codes.height * scale)))
    return Codes(cv2.resize(codes.array, size, interpolation=cv2.INTER_AREA))


def rows_to_float(codes: Codes, top: int, bottom: int) -> np.ndarray:
    """Rows ``top:bottom`` of an integer image as float32 RGB in [0, 1]."""
    return codes_to_float(Codes(codes.array[top:bottom]))


def assemble(strips, height: int, width: int, bits: int) -> Codes:  # type: ignore[no-untyped-def]
    """Quantise float strips ``(top, bottom, float32 rows)`` into one ``bits``-bit image."""
    dtype = np.uint8 if bits == 8 else np.uint16
    out = np.empty((height, width, 3), dtype)
    for top, bottom, rows in strips:
        out[top:bottom] = float_to_codes(rows, bits).array
    return Codes(out)


def curve_table(curve: np.ndarray, bits: int) -> np.ndarray:
    """Quantise a float tone curve (one value in [0, 1] per code level) to an integer table."""
    levels = 1 << bits
    if curve.shape != (levels,):
        raise ValueError(f"a {bits}-bit curve needs {levels} entries, got shape {curve.shape}")
    top = np.float32(levels - 1)
    dtype = np.uint8 if bits == 8 else np.uint16
    return (np.clip(curve, 0.0, 1.0) * top + np.float32(0.5)).astype(dtype)


def apply_curve(codes: Codes, curve: np.ndarray) -> Codes:
    """Map every code through a float tone curve with a lookup table.

    Args:
        codes: an 8- or 16-bit image.
        curve: float32 array of ``2**bits`` values in [0, 1]: the output for each input level,
            e.g. ``exposure.overexpose(exposure.code_levels(8), tau)``.
    """
    table = curve_table(curve, codes.bits)
    if codes.bits == 8:
        return Codes(cv2.LUT(codes.array, table))
    return Codes(table[codes.array])
