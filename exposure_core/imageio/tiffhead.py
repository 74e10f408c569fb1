"""The first image of a TIFF file as its header describes it, for the TIFFs Pillow does not
open (32-bit float or 32-bit integer RGB, which OpenCV decodes)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

_WIDTH, _HEIGHT, _BITS, _SAMPLES, _SAMPLE_FORMAT = 256, 257, 258, 277, 339
_TYPES = {3: ("H", 2), 4: ("I", 4)}  # SHORT and LONG: the types these tags use
FLOAT = 3  # SampleFormat: 1 unsigned integer, 2 signed integer, 3 IEEE float


@dataclass(frozen=True)
class TiffHeader:
    width: int
    height: int
    bits: int  # per sample
    samples: int  # per pixel
    sample_format: int


def tiff_header(path: Path) -> TiffHeader | None:
    """The first IFD's size and sample layout; None when the file is not a classic TIFF or the
    directory does not parse (the caller reports the file as unreadable)."""
    try:
        with path.open("rb") as f:
            head = f.read(8)
            if head[:4] not in (b"II*\0", b"MM\0*"):
                return None
            order = "<" if head[:2] == b"II" else ">"
            f.seek(struct.unpack(order + "I", head[4:8])[0])
            (count,) = struct.unpack(order + "H", f.read(2))
            table = f.read(12 * count)
            tags: dict[int, int] = {}
            for i in range(len(table) // 12):
                tag, kind, n = struct.unpack_from(order + "HHI", table, 12 * i)
                if kind not in _TYPES or n < 1:
                    continue
                code, size = _TYPES[kind]
                # The first value: in place when all fit in 4 bytes, else at the offset given
                # (the bits of each sample: all equal in a photo).
                if n * size <= 4:
                    tags[tag] = struct.unpack_from(order + code, table, 12 * i + 8)[0]
                else:
                    f.seek(struct.unpack_from(order + "I", table, 12 * i + 8)[0])
                    tags[tag] = struct.unpack(order + code, f.read(size))[0]
    except (OSError, struct.error):
        return None
    if _WIDTH not in tags or _HEIGHT not in tags:
        return None
    return TiffHeader(
        tags[_WIDTH],
        tags[_HEIGHT],
        tags.get(_BITS, 1),
        tags.get(_SAMPLES, 1),
        tags.get(_SAMPLE_FORMAT, 1),
    )
