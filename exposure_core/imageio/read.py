"""Reading: header probes, decoding bytes and files to ``Codes`` or float RGB."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from exposure_core.imageio.codes import Codes, codes_to_float
from exposure_core.imageio.formats import (
    DEFAULT_MAX_PIXELS,
    SUPPORTED_MODES,
    ImageError,
    ImageInfo,
    check_file,
    is_raw,
)
from exposure_core.imageio.raw import probe_raw, render_raw
from exposure_core.imageio.tiffhead import FLOAT, tiff_header


def probe(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Read an image's size, format and mode from its header (pixels are not decoded).

    Size is as displayed: as ``read_codes`` decodes it, EXIF orientation applied (a photo
    stored 200 x 150 with orientation 6 is 150 wide, 200 high). Raises ``ImageError`` for a
    missing, empty or non-image file, an unsupported mode, or more than ``max_pixels`` pixels.
    """
    path = Path(path)
    if is_raw(path):
        return probe_raw(path, max_pixels)
    check_file(path)
    try:
        info = _pillow_header(path)
    except (OSError, SyntaxError, ValueError) as exc:
        info = _tiff32_header(path)
        if info is None:
            raise ImageError(path, f"not a readable image ({exc})") from exc
    if info.mode == "F":
        raise ImageError(path, "unsupported image mode 'F': 32-bit float gray TIFF (save as RGB)")
    if info.mode not in SUPPORTED_MODES:
        raise ImageError(path, f"unsupported image mode {info.mode!r}")
    if info.width * info.height > max_pixels:
        raise ImageError(
            path, f"refused: {info.width}x{info.height} exceeds max_pixels={max_pixels}"
        )
    return info


def _pillow_header(path: Path) -> ImageInfo:
    """The header as Pillow reads it. Pillow's own pixel limit (``Image.MAX_IMAGE_PIXELS``,
    which refuses above 179 MP) is lifted for this call only: ``max_pixels`` decides."""
    limit = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                width, height = img.width, img.height
                if _orientation(img.info.get("exif")) >= _TRANSPOSED:
                    width, height = height, width
                return ImageInfo(width, height, img.format or "?", img.mode)
    finally:
        Image.MAX_IMAGE_PIXELS = limit


_TRANSPOSED = 5  # EXIF orientations 5..8 turn the photo a quarter: width and height swap


def _orientation(exif: bytes | None) -> int:
    """The EXIF orientation (1..8) of the block Pillow found while reading the header (JPEG
    APP1, PNG eXIf before the pixels, WebP EXIF); 1 without one. The decoder applies it."""
    if not exif:
        return 1
    try:
        value = Image.Exif()
        value.load(exif)
        orientation = int(value.get(0x0112, 1))
    except Exception:
        return 1
    return orientation if 1 <= orientation <= 8 else 1


def _tiff32_header(path: Path) -> ImageInfo | None:
    """A 32-bit float or unsigned integer RGB(A) TIFF, which Pillow cannot open and OpenCV
    decodes; its mode is ``RGB;32F`` or ``RGB;32``. None for any other file."""
    head = tiff_header(path)
    if head is None or head.bits != 32 or head.samples not in (3, 4):
        return None
    if head.sample_format not in (1, FLOAT):
        return None
    mode = "RGB;32F" if head.sample_format == FLOAT else "RGB;32"
    return ImageInfo(head.width, head.height, "TIFF", mode)


def _bgr_to_codes(decoded: np.ndarray | None, path: str | Path) -> Codes:
    if decoded is None:
        raise ImageError(path, "corrupt or truncated image data")
    if decoded.dtype == np.float32:  # float TIFF: clip to the display range, 16-bit codes
        decoded = np.rint(np.clip(decoded, 0.0, 1.0) * 65535.0).astype(np.uint16)
    elif decoded.dtype == np.uint32:  # 32-bit integer TIFF: its top 16 bits
        decoded = (decoded >> 16).astype(np.uint16)
    if decoded.dtype not in (np.uint8, np.uint16):
        raise ImageError(path, f"unsupported sample type {decoded.dtype}")
    if decoded.ndim == 2:
        return Codes(cv2.cvtColor(decoded, cv2.COLOR_GRAY2RGB))
    return Codes(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB))  # ~10x faster than a strided copy


_DECODE_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH  # applies EXIF orientation


def decode_codes(data: bytes, name: str = "<bytes>") -> Codes:
    """Decode encoded image bytes (PNG/JPEG/TIFF/WebP) to ``Codes``; EXIF orientation applied."""
    if not data:
        raise ImageError(name, "empty image data (0 bytes)")
    return _bgr_to_codes(cv2.imdecode(np.frombuffer(data, np.uint8), _DECODE_FLAGS), name)


def read_codes(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Codes:
    """Read a raster image or a RAW file (rendered at 0 EV) as ``Codes``.

    Raises ``ImageError`` naming the file and the reason for any unusable input.
    """
    path = Path(path)
    if is_raw(path):
        return render_raw(path, [0.0], max_pixels)[0]
    probe(path, max_pixels)
    return decode_codes(path.read_bytes(), str(path))


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read any supported image as float32 ``H x W x 3`` RGB in [0, 1], EXIF orientation applied."""
    return codes_to_float(read_codes(path, max_pixels))


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode encoded bytes to float32 ``H x W x 3`` RGB in [0, 1]."""
    return codes_to_float(decode_codes(data, name))
