"""What this package reads and writes: file suffixes, pixel modes, limits, the error type."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from exposure_core.errors import UserError

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


def is_raw(path: str | Path) -> bool:
    """True when the file name has a camera RAW suffix (decoded with rawpy)."""
    return Path(path).suffix.lower() in RAW_SUFFIXES


def is_image(path: str | Path) -> bool:
    """True for the suffixes this package reads (raster images and camera RAW)."""
    suffix = Path(path).suffix.lower()
    return suffix in IMAGE_SUFFIXES or suffix in RAW_SUFFIXES


ALPHA_MODES = frozenset({"LA", "PA", "RGBA"})


def has_alpha(info: ImageInfo) -> bool:
    """True when the file stores transparency: decoding drops it and keeps the stored colours."""
    return info.mode in ALPHA_MODES


def check_file(path: Path) -> None:
    """Raise ``ImageError`` unless ``path`` is a non-empty regular file."""
    if not path.is_file():
        raise ImageError(path, "no such file")
    if path.stat().st_size == 0:
        raise ImageError(path, "empty file (0 bytes)")
