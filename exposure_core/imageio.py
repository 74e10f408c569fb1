"""The only module that touches image codecs.

Reading gives float32 ``H x W x 3`` RGB in [0, 1] (gamma-encoded, EXIF orientation applied)
from JPEG/PNG/TIFF/WebP (8- or 16-bit; gray, RGBA, CMYK and palette are converted) and from
camera RAW files through rawpy. Integer images (uint8/uint16) exist only inside this module;
other modules see them as opaque ``Codes`` and map them with float tone curves
(``apply_curve``), which is how 8-bit synthesis runs as a lookup table.
Writing is atomic (temporary name, then rename). OpenCV's BGR order never leaves this module.
"""

from __future__ import annotations

import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from exposure_core.errors import UserError
from exposure_core.exposure import SRGB_EXPONENT, SRGB_SLOPE
from exposure_core.fsutil import atomic_write_bytes

try:  # ISA-L's inflate: the same bytes as zlib's, about 2.9x faster on photo PNG data
    from isal import isal_zlib as _inflate
except ImportError:  # pragma: no cover - a platform without isal wheels
    import zlib as _inflate  # type: ignore[no-redef]

cv2.setNumThreads(1)  # parallelism comes from worker processes, not codec threads
# Decoding failures become ImageError naming the file; OpenCV's own log would only add noise.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"})
RAW_SUFFIXES = frozenset(
    {
        ".dng",
        ".nef",
        ".nrw",
        ".cr2",
        ".cr3",
        ".arw",
        ".srf",
        ".sr2",
        ".orf",
        ".rw2",
        ".raf",
        ".pef",
        ".srw",
        ".raw",
        ".3fr",
        ".iiq",
        ".kdc",
        ".mrw",
        ".x3f",
        ".erf",
        ".mef",
        ".mos",
    }
)
WRITE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp"})
# Pillow modes that decode to something meaningful as a photo (after conversion to RGB).
SUPPORTED_MODES = frozenset(
    {
        "1",
        "L",
        "LA",
        "P",
        "PA",
        "RGB",
        "RGBA",
        "RGBX",
        "CMYK",
        "YCbCr",
        "I;16",
        "I;16B",
        "I;16L",
        "I;16N",
        "I",
    }
)
DEFAULT_MAX_PIXELS = 200_000_000


class ImageError(UserError):
    """An image that cannot be used, with the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class ImageInfo:
    """Header facts of an image file, read without decoding the pixels."""

    width: int
    height: int
    format: str
    mode: str


@dataclass(frozen=True)
class Codes:
    """An integer RGB image (uint8 or uint16, ``H x W x 3``), opaque outside this module."""

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


def is_raw(path: str | Path) -> bool:
    """True when the file name has a camera RAW suffix (decoded with rawpy)."""
    return Path(path).suffix.lower() in RAW_SUFFIXES


def is_image(path: str | Path) -> bool:
    """True for the suffixes this module reads (raster images and camera RAW)."""
    suffix = Path(path).suffix.lower()
    return suffix in IMAGE_SUFFIXES or suffix in RAW_SUFFIXES


def probe(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Read an image's size, format and mode from its header (pixels are not decoded).

    Size is as stored (before EXIF orientation). Raises ``ImageError`` for a missing, empty or
    non-image file, an unsupported mode, or more than ``max_pixels`` pixels.
    """
    path = Path(path)
    if is_raw(path):
        return _probe_raw(path, max_pixels)
    _check_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                info = ImageInfo(img.width, img.height, img.format or "?", img.mode)
    except Image.DecompressionBombError as exc:
        raise ImageError(path, f"refused: decompression bomb ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(path, f"not a readable image ({exc})") from exc
    if info.mode not in SUPPORTED_MODES:
        raise ImageError(path, f"unsupported image mode {info.mode!r}")
    if info.width * info.height > max_pixels:
        raise ImageError(
            path, f"refused: {info.width}x{info.height} exceeds max_pixels={max_pixels}"
        )
    return info


ALPHA_MODES = frozenset({"LA", "PA", "RGBA"})


def has_alpha(info: ImageInfo) -> bool:
    """True when the file stores transparency: decoding drops it and keeps the stored colours."""
    return info.mode in ALPHA_MODES


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise ImageError(path, "no such file")
    if path.stat().st_size == 0:
        raise ImageError(path, "empty file (0 bytes)")


def _bgr_to_codes(decoded: np.ndarray | None, path: str | Path) -> Codes:
    if decoded is None:
        raise ImageError(path, "corrupt or truncated image data")
    if decoded.dtype == np.float32:  # float TIFF: clip to the display range
        decoded = np.rint(np.clip(decoded, 0.0, 1.0) * 65535.0).astype(np.uint16)
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


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_UP = 2  # the filter type byte of an Up-filtered row


@dataclass(frozen=True)
class _PngLayout:
    """Where an 8-bit RGB, non-interlaced PNG without EXIF keeps its pixels."""

    height: int
    width: int
    idat: list[tuple[int, int]]  # (start, end) of each IDAT chunk's data, in order


def _png_layout(data: bytes) -> _PngLayout | None:
    """The layout of a PNG whose top rows can be decoded alone with the codes ``decode_codes``
    gives: 8-bit RGB (colour type 2), not interlaced, no eXIf chunk (no orientation to apply).
    None for any other image, or chunks that do not parse (``decode_codes`` then reports it)."""
    if not data.startswith(PNG_SIGNATURE) or len(data) < 33 or data[12:16] != b"IHDR":
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack_from(">IIBBBBB", data, 16)
    if (depth, colour, interlace) != (8, 2, 0) or width == 0 or height == 0:
        return None
    idat, pos = [], 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"eXIf":
            return None
        if kind == b"IDAT":
            idat.append((pos + 8, pos + 8 + length))
        elif kind == b"IEND":
            break
        pos += 12 + length
    return _PngLayout(height, width, idat) if idat else None


def top_rows_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) of an image whose top rows ``decode_top_rows`` can decode alone, read
    from the header only: an 8-bit RGB, non-interlaced PNG without EXIF. None for any other
    image (``decode_top_rows`` then decodes it in full)."""
    layout = _png_layout(data)
    return None if layout is None else (layout.height, layout.width)


def _up_rows(data: bytes, layout: _PngLayout, rows: int) -> np.ndarray | None:
    """The first ``rows`` rows, (rows, W, 3) uint8 RGB, when all of them are Up-filtered (the
    first may be unfiltered) as ``encode_png_fast_decode`` writes them: only those rows are
    inflated (ISA-L), and unfiltering is a running sum down the columns. None for other
    filters."""
    stride = 1 + 3 * layout.width
    stream = _inflate.decompressobj()
    try:
        raw = stream.decompress(b"".join(data[a:b] for a, b in layout.idat), 2 * stride)
        if len(raw) == 2 * stride and raw[stride] != _PNG_UP:
            return None  # another filter: not worth inflating more
        if rows * stride > len(raw):  # (a max_length of 0 would inflate everything)
            raw += stream.decompress(stream.unconsumed_tail, rows * stride - len(raw))
    except _inflate.error as exc:
        raise ValueError(f"corrupt image data ({exc})") from exc
    if len(raw) < rows * stride:
        raise ValueError("truncated image data")
    lines = np.frombuffer(raw, np.uint8)[: rows * stride].reshape(rows, stride)
    filters = lines[:, 0]
    if filters[0] not in (0, _PNG_UP) or np.any(filters[1:] != _PNG_UP):
        return None
    out = np.empty((rows, stride - 1), np.uint8)
    out[0] = lines[0, 1:]  # Up on the first row adds a row of zeros
    for y in range(1, rows):  # row by row: faster than np.cumsum along the columns
        np.add(out[y - 1], lines[y, 1:], out=out[y])  # uint8: modulo 256, as PNG defines
    return out.reshape(rows, layout.width, 3)


def decode_top_rows(data: bytes, rows: int, name: str = "<bytes>") -> Codes:
    """The first ``rows`` rows (all when there are fewer) of an encoded image.

    Returns the codes of ``decode_codes(data, name).array[:rows]`` (uint8/uint16 RGB,
    ``min(rows, H) x W x 3``). For a PNG ``top_rows_size`` accepts whose rows are Up-filtered
    (what ``encode_png_fast_decode`` and so ``prep shard`` write) only those rows are inflated
    and unfiltered, so the cost falls with ``rows / H``; the data after them is not read, so
    damage there goes unnoticed (shards are checked by sha256 before training). Any other
    image is decoded in full and cut.
    """
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    layout = _png_layout(data)
    if layout is not None and rows < layout.height:
        try:
            top = _up_rows(data, layout, rows)
        except ValueError as exc:
            raise ImageError(name, str(exc)) from exc
        if top is not None:
            return Codes(top)
    return Codes(decode_codes(data, name).array[:rows])


def read_codes(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Codes:
    """Read a raster image or a RAW file (rendered at 0 EV) as ``Codes``.

    Raises ``ImageError`` naming the file and the reason for any unusable input.
    """
    path = Path(path)
    if is_raw(path):
        return render_raw(path, [0.0], max_pixels)[0]
    probe(path, max_pixels)
    return decode_codes(path.read_bytes(), str(path))


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


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read any supported image as float32 ``H x W x 3`` RGB in [0, 1], EXIF orientation applied."""
    return codes_to_float(read_codes(path, max_pixels))


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode encoded bytes to float32 ``H x W x 3`` RGB in [0, 1]."""
    return codes_to_float(decode_codes(data, name))


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
) -> None:
    """Encode by the path's suffix and write atomically (temporary name, then rename)."""
    path = Path(path)
    data = encode(image, path.suffix, quality=quality, png_level=png_level, bits=bits)
    atomic_write_bytes(path, data)


# --- camera RAW --------------------------------------------------------------------------------


def _open_raw(path: Path):  # type: ignore[no-untyped-def]
    import rawpy  # imported lazily: only RAW inputs need it

    _check_file(path)
    try:
        return rawpy.imread(os.fspath(path))
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raise ImageError(path, f"not a readable RAW file ({type(exc).__name__}: {exc})") from exc


def _probe_raw(path: Path, max_pixels: int) -> ImageInfo:
    with _open_raw(path) as raw:
        height, width = raw.sizes.height, raw.sizes.width
    if width * height > max_pixels:
        raise ImageError(path, f"refused: {width}x{height} exceeds max_pixels={max_pixels}")
    return ImageInfo(width, height, "RAW", "RAW")


def render_raw(
    path: str | Path, evs: list[float], max_pixels: int = DEFAULT_MAX_PIXELS
) -> list[Codes]:
    """Render a RAW file once per exposure value, from the sensor data.

    Each render uses the camera white balance, no auto-brightening, an sRGB output curve and
    16-bit output; ``ev`` scales the linear sensor data by ``2**ev`` before the curve (LibRaw's
    exposure shift, valid for -2..+3 EV), so highlights clip and shadows lift as a real exposure
    change would, unlike shifting an already-clipped sRGB file.

    Returns:
        One 16-bit ``Codes`` per entry of ``evs``, in order.
    """
    import rawpy

    path = Path(path)
    for ev in evs:
        if not -2.0 <= ev <= 3.0:
            raise ValueError(f"RAW exposure shift must be within -2..+3 EV, got {ev}")
    renders = []
    with _open_raw(path) as raw:
        if raw.sizes.width * raw.sizes.height > max_pixels:
            raise ImageError(path, f"refused: exceeds max_pixels={max_pixels}")
        for ev in evs:
            try:
                rgb = raw.postprocess(
                    use_camera_wb=True,
                    no_auto_bright=True,
                    exp_shift=float(2.0**ev),
                    exp_preserve_highlights=0.0,
                    output_bps=16,
                    gamma=(SRGB_EXPONENT, SRGB_SLOPE),  # the sRGB curve
                    output_color=rawpy.ColorSpace.sRGB,
                    user_flip=None,
                )
            except (rawpy.LibRawError, ValueError) as exc:
                raise ImageError(path, f"RAW decoding failed ({exc})") from exc
            renders.append(Codes(np.ascontiguousarray(rgb, dtype=np.uint16)))
    return renders
