"""Writing: encoding ``Codes`` or float RGB, and atomic file writes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from exposure_core.fsutil import atomic_write_bytes
from exposure_core.imageio.codes import Codes, float_to_codes
from exposure_core.imageio.formats import WRITE_SUFFIXES
from exposure_core.imageio.metadata import Metadata, embed


def encode(
    image: np.ndarray | Codes, suffix: str, *, quality: int = 95, png_level: int = -1, bits: int = 8
) -> bytes:
    """Encode an image for a file suffix (.png/.jpg/.jpeg/.tif/.tiff/.webp).

    A float image is quantised to ``bits`` (8 or 16); JPEG and WebP are always 8-bit.
    ``png_level`` -1 keeps OpenCV's default PNG settings (zlib level 1 with the RLE strategy
    and the Sub filter): on 1024 px photos they encode faster than an explicit level 1 (which
    switches zlib to its default strategy and libpng to adaptive filters) and the files come
    out slightly smaller. 0..9 set the zlib level with zlib's default strategy.
    """
    suffix = suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise ValueError(f"cannot write {suffix!r}; choose one of {sorted(WRITE_SUFFIXES)}")
    codes = image if isinstance(image, Codes) else float_to_codes(image, bits)
    array = codes.array
    if suffix in (".jpg", ".jpeg", ".webp") and codes.bits == 16:
        array = (array >> 8).astype(np.uint8)
    if suffix in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif suffix == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, int(quality)]
    elif suffix == ".png":
        if not -1 <= png_level <= 9:
            raise ValueError(f"png_level must be -1 (OpenCV's default) or 0..9, got {png_level}")
        params = [] if png_level < 0 else [cv2.IMWRITE_PNG_COMPRESSION, int(png_level)]
    else:
        params = []
    ok, buf = cv2.imencode(suffix, np.ascontiguousarray(array[..., ::-1]), params)
    if not ok:
        raise ValueError(f"encoding to {suffix} failed for an image of shape {array.shape}")
    return buf.tobytes()


def encode_png_fast_decode(codes: Codes) -> bytes:
    """Lossless PNG of ``codes`` (8- or 16-bit RGB) made to decode fast: the Up filter on every
    row (unfiltering is one add with the row above, where Paeth or adaptive filters cost a
    third more decode time) and zlib level 6 with the filtered strategy (on 1024 px photos as
    small as a typical PNG, +-5 %). Decodes to the same codes; about 0.13 s to encode a 1024 x
    768 photo."""
    params = [
        cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP,
        cv2.IMWRITE_PNG_COMPRESSION, 6,
        cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_FILTERED,
    ]  # fmt: skip
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(codes.array[..., ::-1]), params)
    if not ok:
        raise ValueError(f"PNG encoding failed for an image of shape {codes.array.shape}")
    return buf.tobytes()


def write_image(
    path: str | Path,
    image: np.ndarray | Codes,
    *,
    quality: int = 95,
    png_level: int = -1,
    bits: int = 8,
    suffix: str | None = None,
    metadata: Metadata | None = None,
) -> list[str]:
    """Encode by the path's suffix (or ``suffix``: a JPEG named ``IMG.heic`` rewritten in place
    is encoded as ``.jpg``) and write atomically (temporary name, then rename).

    ``metadata``: EXIF, XMP and ICC profile put into the encoded bytes beside the pixels
    (``metadata.embed``; the pixels are encoded as without it). Returns what of it could not
    be written (empty without ``metadata``)."""
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    data = encode(image, suffix, quality=quality, png_level=png_level, bits=bits)
    dropped: list[str] = []
    if metadata is not None:
        data, dropped = embed(data, suffix, metadata)
    atomic_write_bytes(path, data)
    return dropped
