"""A photo's metadata (EXIF, XMP, ICC profile): read from its file, put into encoded bytes.

The pixels are encoded by OpenCV exactly as without metadata (``write.encode``); the metadata
goes in beside them, so a result's pixels (and a JPEG's entropy-coded data) are byte for byte
what they were: JPEG APP1 (EXIF, XMP) and APP2 (ICC, in chunks) segments after the JFIF APP0;
PNG ``iCCP``, ``eXIf`` and ``iTXt`` (XMP) chunks after IHDR; TIFF tags in a new first IFD
(OpenCV's entries unchanged, the EXIF tags and an EXIF sub-IFD added); WebP VP8X with ICCP,
EXIF and XMP chunks. EXIF passes through Pillow: IFD0, the EXIF, GPS and interoperability
sub-IFDs are kept, a TIFF's image-structure tags and the thumbnail (IFD1, the uncorrected
photo) are not. Camera RAW files give no metadata here.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image, TiffImagePlugin, TiffTags

from exposure_core.imageio.formats import is_raw

EXIF_IFD, GPS_IFD, INTEROP_IFD = 0x8769, 0x8825, 0xA005
ORIENTATION, SOFTWARE = 0x0112, 0x0131
PIXEL_X, PIXEL_Y = 0xA002, 0xA003  # the EXIF sub-IFD's image size
XMP_TAG, ICC_TAG = 700, 34675
# IFD0 tags that describe a TIFF's pixels, not the photo: never carried to another file.
IMAGE_STRUCTURE_TAGS = frozenset(
    {254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 277, 278, 279, 280, 281, 284, 290, 291,
     292, 293, 317, 320, 322, 323, 324, 325, 330, 338, 339, 340, 341, 347, 513, 514, 529, 530,
     531, 532, XMP_TAG, ICC_TAG, 34377, 37724}
)  # fmt: skip
_EXIF_HEADER = b"Exif\0\0"
_XMP_JPEG = b"http://ns.adobe.com/xap/1.0/\0"
_XMP_PNG = b"XML:com.adobe.xmp"
_ICC_JPEG = b"ICC_PROFILE\0"
_JPEG_SEGMENT_MAX = 65533  # payload bytes of one JPEG marker segment
_ICC_CHUNK = _JPEG_SEGMENT_MAX - len(_ICC_JPEG) - 2
_XMP_ORIENTATION = (
    re.compile(rb'(tiff:Orientation\s*=\s*["\'])\d(["\'])'),
    re.compile(rb"(<tiff:Orientation>)\s*\d\s*(</tiff:Orientation>)"),
)


@dataclass(frozen=True)
class Metadata:
    """What a photo's file says about it besides its pixels.

    ``exif``: the EXIF tags (IFD0, sub-IFDs as nested dicts under their pointer tags), None
    without EXIF. ``xmp``: the XMP packet. ``icc``: the embedded ICC profile's bytes."""

    exif: dict[int, Any] | None = None
    xmp: bytes | None = None
    icc: bytes | None = None
    problems: tuple[str, ...] = field(default=(), compare=False)  # what was dropped, and why


NONE = Metadata()


@contextmanager
def _header_only() -> Iterator[None]:
    """Pillow's pixel limit lifted and its warnings silenced (``probe`` judged the size)."""
    limit = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def read_metadata(path: str | Path) -> Metadata:
    """The EXIF, XMP and ICC profile of a photo file (JPEG, PNG, TIFF, WebP; none for others).

    A broken EXIF block is left out and named in ``problems`` (the photo is still usable).
    A file Pillow cannot open gives none (its pixels are the decoder's to judge)."""
    path = Path(path)
    if is_raw(path):
        return NONE
    with _header_only():
        try:
            img = Image.open(path)
        except (OSError, SyntaxError, ValueError):
            return NONE  # a file only OpenCV reads (a 32-bit TIFF): nothing Pillow can find
    with _header_only(), img:
        fmt = img.format
        icc = img.info.get("icc_profile") or None
        if fmt == "PNG":
            exif_blob, xmp = _png_exif_xmp(path)
            load = _exif_loader(exif_blob)
        elif fmt == "TIFF":
            xmp = _as_bytes(img.tag_v2.get(XMP_TAG))
            load = img.getexif
        else:
            xmp = _as_bytes(img.info.get("xmp"))
            load = _exif_loader(img.info.get("exif"))
        exif, problem = _read_exif(load)
    problems = (f"{path}: broken EXIF block dropped ({problem})",) if problem else ()
    return Metadata(exif, xmp, icc, problems)


def profile_of(path: str | Path) -> bytes | None:
    """The ICC profile embedded in a photo file (header only); None without one, for camera
    RAW and for files Pillow cannot open."""
    path = Path(path)
    if is_raw(path):
        return None
    with _header_only():
        try:
            with Image.open(path) as img:
                return img.info.get("icc_profile") or None
        except (OSError, SyntaxError, ValueError):
            return None


def _as_bytes(value: Any) -> bytes | None:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, tuple):  # Pillow gives a TIFF's BYTE-typed XMP as a tuple of ints
        return bytes(value)
    return value or None


def _exif_loader(blob: bytes | None):  # type: ignore[no-untyped-def]
    def load() -> Image.Exif | None:
        if not blob:
            return None
        exif = Image.Exif()
        exif.load(blob)
        return exif

    return load


def _read_exif(load) -> tuple[dict[int, Any] | None, str | None]:  # type: ignore[no-untyped-def]
    """The EXIF tags with their sub-IFDs resolved, or (None, why) when the block is broken:
    Pillow warns of corrupt data, cannot parse it, or cannot write it again."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            exif = load()
            if exif is None:
                return None, None
            tags: dict[int, Any] = {}
            for tag, value in exif.items():
                if tag in IMAGE_STRUCTURE_TAGS:
                    continue
                if tag in (EXIF_IFD, GPS_IFD):
                    value = dict(exif.get_ifd(tag))
                    if tag == EXIF_IFD and INTEROP_IFD in value:
                        value[INTEROP_IFD] = dict(exif.get_ifd(INTEROP_IFD))
                tags[tag] = value
            exif_blob(tags)  # a block that cannot be written again is as good as broken
    except Exception as exc:  # Pillow raises many types for corrupt data; all mean "broken"
        return None, str(exc) or type(exc).__name__
    return tags, None


def _png_exif_xmp(path: Path) -> tuple[bytes | None, bytes | None]:
    """A PNG's eXIf and XMP (``iTXt`` keyword ``XML:com.adobe.xmp``), before or after the
    pixels; IDAT is skipped over, never read."""
    exif = xmp = None
    with path.open("rb") as handle:
        handle.seek(8)
        while True:
            head = handle.read(8)
            if len(head) < 8:
                break
            length, kind = struct.unpack(">I4s", head)
            if kind in (b"eXIf", b"iTXt"):
                data = handle.read(length)
                handle.seek(4, 1)
                if kind == b"eXIf":
                    exif = data
                elif data.startswith(_XMP_PNG + b"\0"):
                    xmp = _itxt_text(data[len(_XMP_PNG) + 1 :])
            else:
                handle.seek(length + 4, 1)
            if kind == b"IEND":
                break
    return exif, xmp


def _itxt_text(rest: bytes) -> bytes | None:
    """The text of an iTXt chunk after its keyword: flag, method, language, translated
    keyword, text (zlib-compressed when the flag is 1)."""
    compressed = rest[:1] == b"\1"
    parts = rest[2:].split(b"\0", 2)
    if len(parts) < 3:
        return None
    try:
        return zlib.decompress(parts[2]) if compressed else parts[2]
    except zlib.error:
        return None


def exif_blob(tags: dict[int, Any]) -> bytes:
    """The EXIF tags as a little-endian TIFF structure (header, IFD0, sub-IFDs)."""
    head = b"II*\0" + struct.pack("<I", 8)
    ifd = TiffImagePlugin.ImageFileDirectory_v2(ifh=head)
    for tag, value in tags.items():
        ifd[tag] = value
    return head + ifd.tobytes(8)


def for_result(
    meta: Metadata, software: str, width: int, height: int, icc: bytes | None
) -> Metadata:
    """The metadata a corrected photo carries: its EXIF with the orientation 1 (the pixels
    are turned already), ``software`` naming the tool and the size of the result; its XMP with
    the orientation 1; the profile ``icc`` (the result's colour space)."""
    tags = dict(meta.exif or {})
    if ORIENTATION in tags:
        tags[ORIENTATION] = 1
    tags[SOFTWARE] = software
    sub = tags.get(EXIF_IFD)
    if isinstance(sub, dict) and (PIXEL_X in sub or PIXEL_Y in sub):
        tags[EXIF_IFD] = {**sub, PIXEL_X: width, PIXEL_Y: height}
    xmp = meta.xmp
    if xmp is not None:
        for pattern in _XMP_ORIENTATION:
            xmp = pattern.sub(rb"\g<1>1\g<2>", xmp)
    return replace(meta, exif=tags, xmp=xmp, icc=icc, problems=())


def embed(data: bytes, suffix: str, meta: Metadata) -> tuple[bytes, list[str]]:
    """``data`` (an image OpenCV encoded for ``suffix``) with ``meta`` put in, pixels untouched;
    and what could not be put in (a JPEG segment over 64 KB: EXIF or XMP too large)."""
    suffix = suffix.lower()
    exif = exif_blob(meta.exif) if meta.exif else None
    if suffix in (".jpg", ".jpeg"):
        return _embed_jpeg(data, exif, meta.xmp, meta.icc)
    if suffix == ".png":
        return _embed_png(data, exif, meta.xmp, meta.icc), []
    if suffix in (".tif", ".tiff"):
        return _embed_tiff(data, meta), []
    if suffix == ".webp":
        return _embed_webp(data, exif, meta.xmp, meta.icc)
    raise ValueError(f"cannot put metadata into {suffix!r}")


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def _embed_jpeg(
    data: bytes, exif: bytes | None, xmp: bytes | None, icc: bytes | None
) -> tuple[bytes, list[str]]:
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG stream")
    start = 2
    if data[2:4] == b"\xff\xe0":  # OpenCV's JFIF APP0 stays first
        start = 4 + struct.unpack(">H", data[4:6])[0]
    segments, dropped = [], []
    if exif is not None:
        if len(exif) + len(_EXIF_HEADER) <= _JPEG_SEGMENT_MAX:
            segments.append(_segment(0xE1, _EXIF_HEADER + exif))
        else:
            dropped.append(f"EXIF ({len(exif)} bytes) does not fit a JPEG segment")
    if xmp is not None:
        if len(xmp) + len(_XMP_JPEG) <= _JPEG_SEGMENT_MAX:
            segments.append(_segment(0xE1, _XMP_JPEG + xmp))
        else:
            dropped.append(f"XMP ({len(xmp)} bytes) does not fit a JPEG segment")
    if icc:
        chunks = [icc[i : i + _ICC_CHUNK] for i in range(0, len(icc), _ICC_CHUNK)]
        for number, chunk in enumerate(chunks, start=1):
            segments.append(_segment(0xE2, _ICC_JPEG + bytes([number, len(chunks)]) + chunk))
    return data[:start] + b"".join(segments) + data[start:], dropped


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _embed_png(data: bytes, exif: bytes | None, xmp: bytes | None, icc: bytes | None) -> bytes:
    if data[12:16] != b"IHDR":
        raise ValueError("not a PNG stream")
    after_ihdr = 8 + 12 + struct.unpack(">I", data[8:12])[0]
    chunks = []
    if icc:
        chunks.append(_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc)))
    if exif is not None:
        chunks.append(_chunk(b"eXIf", exif))
    if xmp is not None:
        chunks.append(_chunk(b"iTXt", _XMP_PNG + b"\0\0\0\0\0" + xmp))
    return data[:after_ihdr] + b"".join(chunks) + data[after_ihdr:]


def _embed_tiff(data: bytes, meta: Metadata) -> bytes:
    """OpenCV's TIFF with a new first IFD: its own entries (pointing at its strips, which stay
    where they are) plus the EXIF tags, XMP and ICC profile written after the file's end."""
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None:
        raise ValueError("not a TIFF stream")
    (first,) = struct.unpack_from(order + "I", data, 4)
    (count,) = struct.unpack_from(order + "H", data, first)
    entries = [data[first + 2 + 12 * i : first + 14 + 12 * i] for i in range(count)]
    own = {struct.unpack_from(order + "H", e)[0] for e in entries}
    ifd = TiffImagePlugin.ImageFileDirectory_v2(ifh=data[:4] + b"\0" * 4)
    for tag, value in (meta.exif or {}).items():
        if tag not in own:
            ifd[tag] = value
    if meta.xmp is not None:
        ifd[XMP_TAG] = meta.xmp
        ifd.tagtype[XMP_TAG] = TiffTags.BYTE
    if meta.icc:
        ifd[ICC_TAG] = meta.icc
        ifd.tagtype[ICC_TAG] = TiffTags.UNDEFINED
    out = bytearray(data)
    out += b"\0" * (len(out) % 2)
    extra = ifd.tobytes(len(out))  # its entries point into its own data, placed here
    (added,) = struct.unpack_from(order + "H", extra, 0)
    entries += [extra[2 + 12 * i : 14 + 12 * i] for i in range(added)]
    entries.sort(key=lambda e: struct.unpack_from(order + "H", e)[0])
    out += extra
    out += b"\0" * (len(out) % 2)
    new_first = len(out)
    out += struct.pack(order + "H", len(entries)) + b"".join(entries) + b"\0\0\0\0"
    out[4:8] = struct.pack(order + "I", new_first)
    return bytes(out)


def _riff_chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) % 2)


def _embed_webp(
    data: bytes, exif: bytes | None, xmp: bytes | None, icc: bytes | None
) -> tuple[bytes, list[str]]:
    """A simple-format WebP (one VP8 or VP8L chunk, as OpenCV writes) made extended: VP8X,
    ICCP, the image chunk, EXIF, XMP."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP stream")
    kind = data[12:16]
    if kind not in (b"VP8 ", b"VP8L"):
        return data, [f"WebP with a {kind!r} chunk: metadata not added"]
    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
    flags = (0x20 if icc else 0) | (0x08 if exif is not None else 0) | (0x04 if xmp else 0)
    vp8x = struct.pack("<I", flags) + (width - 1).to_bytes(3, "little")
    vp8x += (height - 1).to_bytes(3, "little")
    body = _riff_chunk(b"VP8X", vp8x)
    if icc:
        body += _riff_chunk(b"ICCP", icc)
    body += data[12:]
    if exif is not None:
        body += _riff_chunk(b"EXIF", exif)
    if xmp is not None:
        body += _riff_chunk(b"XMP ", xmp)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body, []
