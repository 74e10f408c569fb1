"""Colour spaces from embedded ICC profiles, and exact float conversions to and from sRGB.

The network works in sRGB. A photo with no profile or an sRGB one is used as it is (the fast
path: its codes are never touched). A photo with another RGB matrix/TRC profile (Adobe RGB,
Display P3, ProPhoto, a camera's own) is converted to sRGB codes and its result converted back
to the photo's profile: curve to linear light, 3 x 3 matrix through the profile connection
space (XYZ, D50), curve out; littleCMS does the same for these profiles (relative
colorimetric), here in float32 on 8- or 16-bit codes, so a 16-bit photo keeps its precision.
A grey profile's curve is applied the same way; its result stays sRGB (an RGB file cannot
carry a grey profile). Profiles this cannot convert (LUT-based RGB other than sRGB, CMYK, Lab)
and profiles that cannot be parsed raise ``ImageError`` naming the file: never guessed as sRGB.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

from exposure_core.imageio.codes import Codes
from exposure_core.imageio.formats import ImageError

SRGB = "sRGB"
# A profile whose colorants and curves lie this close to sRGB's is sRGB (vendors' sRGB
# profiles differ from littleCMS's in the 4th decimal: rounding of s15Fixed16 and curve tables).
_SRGB_MATRIX_TOLERANCE = 2e-3
_SRGB_CURVE_TOLERANCE = 2e-3
_STRIP_ROWS = 256  # rows converted at once: bounded float memory for any photo size
# ICC parametric curve type -> number of parameters (g, a, b, c, d, e, f in order)
_PARA_COUNTS = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}


@dataclass(frozen=True)
class Curve:
    """One ICC tone curve, encoded value in [0, 1] -> linear light in [0, 1].

    Parametric (ICC type 4 form, every type mapped onto it: ``Y = (aX + b)^g + e`` for
    ``X >= d``, else ``cX + f``) or sampled (``table``, interpolated linearly)."""

    params: tuple[float, float, float, float, float, float, float] | None = None
    table: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Encoded -> linear (float64 or float32 arrays, any shape)."""
        if self.table is not None:
            grid = np.linspace(0.0, 1.0, self.table.size)
            return np.interp(x, grid, self.table).astype(x.dtype, copy=False)
        g, a, b, c, d, e, f = self.params  # type: ignore[misc]
        base = np.maximum(a * x + b, 0.0)
        return np.where(x >= d, base**g + e, c * x + f).astype(x.dtype, copy=False)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """Linear -> encoded, clipped to [0, 1] (float arrays, any shape)."""
        y = np.clip(y, 0.0, 1.0)
        if self.table is not None:
            grid = np.linspace(0.0, 1.0, self.table.size)
            table = np.maximum.accumulate(self.table)  # monotone for the inverse lookup
            return np.interp(y, table, grid).astype(y.dtype, copy=False)
        g, a, b, c, d, e, f = self.params  # type: ignore[misc]
        knee = max(a * d + b, 0.0) ** g + e
        upper = (np.maximum(y - e, 0.0) ** (1.0 / g) - b) / a
        lower = (y - f) / c if c != 0 else np.full_like(y, d)
        return np.clip(np.where(y >= knee, upper, lower), 0.0, 1.0).astype(y.dtype, copy=False)


@dataclass(frozen=True)
class ColourSpace:
    """The colour space a photo's pixels are in.

    ``name``: ``"sRGB"``, or the profile's description. ``icc``: the profile's bytes (None:
    the photo had none). ``matrix`` (RGB linear -> XYZ D50) and ``curves``: None for sRGB
    (nothing to convert); one curve for a grey profile, three for RGB. ``lut``: an RGB
    profile of lookup tables (an ICC v4 input profile such as Apple's "Wide Color Sharing
    Profile"), converted to sRGB by littleCMS at 8 bits, one way only."""

    name: str
    icc: bytes | None
    matrix: np.ndarray | None = None
    curves: tuple[Curve, ...] | None = None
    lut: bool = False

    @property
    def is_srgb(self) -> bool:
        """True when the pixels are used as they are (no profile, or an sRGB one)."""
        return self.curves is None and not self.lut

    @property
    def is_grey(self) -> bool:
        return self.curves is not None and len(self.curves) == 1

    @property
    def converts_back(self) -> bool:
        """True when a result is converted back to this space (matrix/TRC RGB); a grey or
        lookup-table profile's result stays sRGB and carries sRGB's profile."""
        return self.curves is not None and len(self.curves) == 3


NO_PROFILE = ColourSpace(SRGB, None)


@dataclass(frozen=True)
class _Parsed:
    """The parts of an ICC profile this module reads."""

    description: str
    space: str  # the header's data colour space: "RGB", "GRAY", "CMYK", ...
    tags: dict[str, bytes]


def _s15(data: bytes, offset: int) -> float:
    return struct.unpack_from(">i", data, offset)[0] / 65536.0


def _parse(icc: bytes) -> _Parsed:
    """Header, description and tag table; ``ValueError`` when littleCMS cannot open it or the
    tag table is out of bounds."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            description = (ImageCms.getProfileDescription(profile) or "").strip()
    except (OSError, ImageCms.PyCMSError, TypeError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from exc
    if len(icc) < 132:
        raise ValueError(f"{len(icc)} bytes, shorter than an ICC header")
    space = icc[16:20].decode("latin-1").strip()
    (count,) = struct.unpack_from(">I", icc, 128)
    if 132 + 12 * count > len(icc):
        raise ValueError("tag table runs past the end")
    tags = {}
    for i in range(count):
        sig, offset, size = struct.unpack_from(">4sII", icc, 132 + 12 * i)
        if offset + size > len(icc):
            raise ValueError(f"tag {sig!r} runs past the end")
        tags[sig.decode("latin-1")] = icc[offset : offset + size]
    return _Parsed(description or "unnamed ICC profile", space, tags)


def _xyz(tag: bytes) -> np.ndarray:
    if tag[:4] != b"XYZ " or len(tag) < 20:
        raise ValueError("colorant is not an XYZ tag")
    return np.array([_s15(tag, 8), _s15(tag, 12), _s15(tag, 16)])


def _curve(tag: bytes) -> Curve:
    kind = tag[:4]
    if kind == b"curv":
        (count,) = struct.unpack_from(">I", tag, 8)
        if count == 0:
            return Curve(params=(1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0))
        if count == 1:
            gamma = struct.unpack_from(">H", tag, 12)[0] / 256.0
            return Curve(params=(gamma, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0))
        values = np.frombuffer(tag, ">u2", count, 12).astype(np.float64) / 65535.0
        return Curve(table=values)
    if kind == b"para":
        (function,) = struct.unpack_from(">H", tag, 8)
        if function not in _PARA_COUNTS:
            raise ValueError(f"parametric curve type {function} unknown")
        p = [_s15(tag, 12 + 4 * i) for i in range(_PARA_COUNTS[function])]
        g = p[0]
        if function == 0:
            return Curve(params=(g, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0))
        a, b = p[1], p[2]
        if function == 1:
            return Curve(params=(g, a, b, 0.0, -b / a, 0.0, 0.0))
        if function == 2:
            return Curve(params=(g, a, b, 0.0, -b / a, p[3], p[3]))
        if function == 3:
            return Curve(params=(g, a, b, p[3], p[4], 0.0, 0.0))
        return Curve(params=(g, a, b, p[3], p[4], p[5], p[6]))
    raise ValueError(f"curve of type {kind!r} unknown")


def _shaper(parsed: _Parsed) -> tuple[np.ndarray, tuple[Curve, ...]] | None:
    """(matrix, curves) of a matrix/TRC RGB or a grey TRC profile; None for anything else."""
    tags = parsed.tags
    if parsed.space == "GRAY" and "kTRC" in tags:
        return np.eye(3), (_curve(tags["kTRC"]),)
    if parsed.space != "RGB":
        return None
    names = ("rXYZ", "gXYZ", "bXYZ", "rTRC", "gTRC", "bTRC")
    if not all(n in tags for n in names):
        return None
    matrix = np.stack([_xyz(tags[n]) for n in names[:3]], axis=1)
    return matrix, tuple(_curve(tags[n]) for n in names[3:])


@cache
def srgb_profile() -> bytes:
    """littleCMS's built-in sRGB profile (what a converted grey photo's result carries)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@cache
def _srgb() -> tuple[np.ndarray, Curve]:
    shaper = _shaper(_parse(srgb_profile()))
    assert shaper is not None
    return shaper[0], shaper[1][0]


def _close_to_srgb(matrix: np.ndarray, curves: tuple[Curve, ...]) -> bool:
    srgb_matrix, srgb_curve = _srgb()
    if len(curves) != 3 or np.abs(matrix - srgb_matrix).max() > _SRGB_MATRIX_TOLERANCE:
        return False
    x = np.linspace(0.0, 1.0, 257)
    reference = srgb_curve.forward(x)
    return all(np.abs(c.forward(x) - reference).max() <= _SRGB_CURVE_TOLERANCE for c in curves)


def colour_space(icc: bytes | None, path: str | Path) -> ColourSpace:
    """The colour space of a photo with embedded profile ``icc`` (None: no profile, sRGB).

    Raises ``ImageError`` naming ``path`` for a profile that cannot be parsed, or one that
    cannot be converted to sRGB here (LUT-based RGB other than sRGB, CMYK, Lab)."""
    if not icc:
        return NO_PROFILE
    try:
        parsed = _parse(icc)
        shaper = _shaper(parsed)
    except (ValueError, struct.error) as exc:
        raise ImageError(
            path, f"its ICC profile cannot be parsed ({exc}); refused rather than read as sRGB"
        ) from exc
    if shaper is None:
        if parsed.space == "RGB" and SRGB.lower() in parsed.description.lower():
            return ColourSpace(SRGB, icc)  # a LUT-based sRGB profile (an ICC v4 sRGB)
        if parsed.space == "RGB" and _littlecms_to_srgb(icc) is not None:
            return ColourSpace(parsed.description, icc, lut=True)
        raise ImageError(
            path,
            f"its {parsed.space} ICC profile {parsed.description!r} cannot be converted to "
            "sRGB here (only RGB and grey profiles can); convert the photo to sRGB first",
        )
    matrix, curves = shaper
    if _close_to_srgb(matrix, curves):
        return ColourSpace(SRGB, icc)
    return ColourSpace(parsed.description, icc, matrix, curves)


def describe(icc: bytes | None) -> str | None:
    """What a manifest records of a profile: ``"sRGB"``, the profile's description, or
    ``"unknown"`` when it cannot be parsed; None without a profile. Never raises."""
    if not icc:
        return None
    try:
        return colour_space(icc, "").name
    except ImageError:
        try:
            return _parse(icc).description
        except (ValueError, struct.error):
            return "unknown"


@cache
def _littlecms_to_srgb(icc: bytes) -> ImageCms.ImageCmsTransform | None:
    """littleCMS's 8-bit RGB transform from ``icc`` to sRGB (relative colorimetric), None when
    it cannot build one."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ImageCms.buildTransform(
                ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                ImageCms.ImageCmsProfile(io.BytesIO(srgb_profile())),
                "RGB",
                "RGB",
                renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
            )
    except (OSError, ImageCms.PyCMSError, ValueError):
        return None


def _convert(codes: Codes, forward, matrix: np.ndarray, inverse, bits: int) -> Codes:  # type: ignore[no-untyped-def]
    """Per strip: each channel through ``forward`` (per-code table), the matrix, then each
    channel through ``inverse``; quantised to ``bits``."""
    top_in = (1 << codes.bits) - 1
    levels = np.arange(top_in + 1, dtype=np.float64) / top_in
    tables = [f(levels).astype(np.float32) for f in forward]
    top_out = np.float32((1 << bits) - 1)
    out = np.empty(codes.array.shape, np.uint8 if bits == 8 else np.uint16)
    m = matrix.astype(np.float32)
    for top in range(0, codes.height, _STRIP_ROWS):
        rows = codes.array[top : top + _STRIP_ROWS]
        lin = np.stack([tables[c][rows[..., c]] for c in range(3)], axis=-1)
        mixed = lin @ m.T
        for c in range(3):
            encoded = inverse[c](mixed[..., c])
            out[top : top + _STRIP_ROWS, :, c] = encoded * top_out + np.float32(0.5)
    return Codes(out)


def to_srgb(codes: Codes, space: ColourSpace) -> Codes:
    """The photo's codes in sRGB, at 16 bits (an 8-bit photo loses nothing on the way);
    colours outside sRGB's gamut are clipped to it. ``space`` sRGB: ``codes`` as they are.
    A lookup-table profile needs 8-bit codes (``ValueError`` otherwise: littleCMS converts
    8-bit RGB only through Pillow)."""
    if space.is_srgb:
        return codes
    if space.lut:
        if codes.bits != 8:
            raise ValueError("a lookup-table ICC profile converts 8-bit photos only")
        transform = _littlecms_to_srgb(space.icc)  # type: ignore[arg-type]
        out = np.empty(codes.array.shape, np.uint16)
        for top in range(0, codes.height, _STRIP_ROWS):
            rows = Image.fromarray(np.ascontiguousarray(codes.array[top : top + _STRIP_ROWS]))
            converted = np.asarray(ImageCms.applyTransform(rows, transform))
            out[top : top + _STRIP_ROWS] = converted.astype(np.uint16) * 257
        return Codes(out)
    srgb_matrix, srgb_curve = _srgb()
    curves = space.curves * 3 if space.is_grey else space.curves  # type: ignore[operator]
    # grey: the linear Y in each channel is sRGB's neutral of that Y
    matrix = np.eye(3) if space.is_grey else np.linalg.solve(srgb_matrix, space.matrix)
    forward = [c.forward for c in curves]  # type: ignore[union-attr]
    return _convert(codes, forward, matrix, [srgb_curve.inverse] * 3, 16)


def from_srgb(codes: Codes, space: ColourSpace, bits: int) -> Codes:
    """sRGB result codes back in the photo's colour space at ``bits`` (8 or 16); a grey,
    lookup-table or sRGB ``space`` leaves them sRGB (only the bit depth is matched)."""
    if not space.converts_back:
        if codes.bits == bits:
            return codes
        identity = Curve(params=(1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0))
        return _convert(codes, [identity.forward] * 3, np.eye(3), [identity.inverse] * 3, bits)
    srgb_matrix, srgb_curve = _srgb()
    matrix = np.linalg.solve(space.matrix, srgb_matrix)  # type: ignore[arg-type]
    inverse = [c.inverse for c in space.curves]  # type: ignore[union-attr]
    return _convert(codes, [srgb_curve.forward] * 3, matrix, inverse, bits)


def output_profile(space: ColourSpace) -> bytes | None:
    """The profile the result carries: the photo's own, or sRGB's for a grey or lookup-table
    profile (whose result stays sRGB)."""
    return space.icc if space.is_srgb or space.converts_back else srgb_profile()
