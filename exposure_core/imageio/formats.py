"""What this package reads and writes: file suffixes, pixel modes, limits, the error type."""

from __future__ import annotations

import stat
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
# What is read: any file Pillow identifies in a SUPPORTED_MODES mode that OpenCV decodes (GIF
# and BMP too, when named directly), and camera RAW through rawpy; a folder is searched for the
# READABLE_SUFFIXES. What is written is keyed by the format a file decodes as (Pillow's name),
# not by its name (a JPEG named IMG.heic is a JPEG): each writable format with its suffixes,
# the first given to a file whose own suffix does not name the format. GIF, BMP and RAW are
# read but never written.
READABLE_SUFFIXES = IMAGE_SUFFIXES | RAW_SUFFIXES
WRITABLE: dict[str, tuple[str, ...]] = {
    "JPEG": (".jpg", ".jpeg"),
    "MPO": (".jpg", ".jpeg"),  # a JPEG with extra frames (a phone's depth map): one is read
    "PNG": (".png",),
    "TIFF": (".tif", ".tiff"),
    "WEBP": (".webp",),
}
WRITE_SUFFIXES = frozenset(s for suffixes in WRITABLE.values() for s in suffixes)
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
        "RGB;32F",  # 32-bit float TIFF (read clipped to [0, 1] as 16-bit codes)
        "RGB;32",  # 32-bit unsigned integer TIFF (read as its top 16 bits)
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
    """Header facts of an image file, read without decoding the pixels; the size is as
    displayed (EXIF orientation applied, as decoding gives it)."""

    width: int
    height: int
    format: str
    mode: str


def is_raw(path: str | Path) -> bool:
    """True when the file name has a camera RAW suffix (decoded with rawpy)."""
    return Path(path).suffix.lower() in RAW_SUFFIXES


def is_image(path: str | Path) -> bool:
    """True for the suffixes this package reads (raster images and camera RAW)."""
    return Path(path).suffix.lower() in READABLE_SUFFIXES


def format_of_suffix(suffix: str) -> str | None:
    """The writable format a suffix names (``.jpeg`` -> ``JPEG``), None for any other."""
    return next((f for f, names in WRITABLE.items() if suffix.lower() in names), None)


def write_suffix(path: str | Path, fmt: str) -> str | None:
    """The suffix a file that decodes as ``fmt`` is written with in the same format: its own
    when it names the format (``x.JPEG`` keeps ``.jpeg``), else the format's first
    (``IMG.heic`` holding a JPEG: ``.jpg``). None when ``fmt`` cannot be written (GIF, RAW)."""
    names = WRITABLE.get(fmt)
    if names is None:
        return None
    suffix = Path(path).suffix.lower()
    return suffix if suffix in names else names[0]


ALPHA_MODES = frozenset({"LA", "PA", "RGBA"})


def has_alpha(info: ImageInfo) -> bool:
    """True when the file stores transparency: decoding drops it and keeps the stored colours."""
    return info.mode in ALPHA_MODES


DANGLING_REASON = "dangling symbolic link (its target is missing)"
_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device"}


def file_problem(path: Path) -> str | None:
    """Why ``path`` is not a file a photo can be read from, None when it is: missing, a
    dangling symbolic link, or not a regular file (a FIFO is never opened: reading it would
    block until another program writes to it)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return DANGLING_REASON if path.is_symlink() else "no such file"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder, not a photo"
    kind = _KINDS.get(stat.S_IFMT(mode), stat.filemode(mode))
    return f"not a regular file ({kind})"


def check_file(path: Path) -> None:
    """Raise ``ImageError`` unless ``path`` is a non-empty regular file (``file_problem``)."""
    problem = file_problem(path)
    if problem is not None:
        raise ImageError(path, problem)
    if path.stat().st_size == 0:
        raise ImageError(path, "empty file (0 bytes)")
