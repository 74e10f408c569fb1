"""A photo read for correction in sRGB, and its result written back as the original was:
the original's colour space, bit depth, EXIF, XMP and ICC profile."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from exposure_core.imageio.codes import Codes
from exposure_core.imageio.colour import (
    ColourSpace,
    colour_space,
    describe,
    from_srgb,
    output_profile,
    to_srgb,
)
from exposure_core.imageio.formats import ImageError
from exposure_core.imageio.metadata import Metadata, for_result, profile_of, read_metadata
from exposure_core.imageio.read import read_codes
from exposure_core.imageio.write import write_image


@dataclass(frozen=True)
class Original:
    """What a result keeps of its photo: the metadata, the colour space and the bit depth."""

    metadata: Metadata
    space: ColourSpace
    bits: int


def read_in_srgb(path: str | Path, max_pixels: int) -> tuple[Codes, Original]:
    """The photo's codes in sRGB (its own codes when it is sRGB or has no profile; 16-bit
    converted codes otherwise) and what its result keeps. Raises ``ImageError`` naming the
    file for unusable pixels and for an ICC profile that cannot be parsed or converted."""
    codes = read_codes(path, max_pixels)
    metadata = read_metadata(path)
    space = colour_space(metadata.icc, path)
    if space.lut and codes.bits != 8:
        raise ImageError(
            path,
            f"its ICC profile {space.name!r} is made of lookup tables, converted to sRGB for "
            f"8-bit photos only (this one is {codes.bits}-bit); convert it to sRGB first",
        )
    return to_srgb(codes, space), Original(metadata, space, codes.bits)


def write_result(
    path: str | Path,
    result: Codes,
    original: Original,
    *,
    suffix: str,
    bits: int,
    software: str,
    quality: int = 95,
    png_level: int = -1,
    in_srgb: bool = True,
) -> list[str]:
    """Write a result as its photo was: ``result`` (sRGB codes; ``in_srgb`` False: codes in
    the photo's own space, written with its own profile) converted back to the photo's colour
    space at ``bits`` (a grey or lookup-table profile's result stays sRGB, with sRGB's
    profile), with the photo's metadata (``metadata.for_result``: orientation 1,
    ``software``, the profile).
    Returns warnings naming the photo's metadata left out (a broken EXIF block, a segment
    too large for a JPEG)."""
    if in_srgb:
        result = from_srgb(result, original.space, bits)
        icc = output_profile(original.space)
    else:
        icc = original.metadata.icc
    metadata = for_result(original.metadata, software, result.width, result.height, icc)
    dropped = write_image(
        path, result, quality=quality, png_level=png_level, suffix=suffix, metadata=metadata
    )
    return list(original.metadata.problems) + [f"{path}: {why}: left out" for why in dropped]


def colour_space_name(path: str | Path) -> str | None:
    """What a manifest records of a photo's colour space: ``"sRGB"``, its ICC profile's
    description, ``"unknown"`` for a profile that cannot be parsed; None without a profile."""
    return describe(profile_of(path))
