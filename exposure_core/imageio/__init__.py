"""The only package that touches image codecs.

Reading gives float32 ``H x W x 3`` RGB in [0, 1] (gamma-encoded, EXIF orientation applied)
from JPEG/PNG/TIFF/WebP (8- or 16-bit; gray, RGBA, CMYK and palette are converted) and from
camera RAW files through rawpy. Integer images (uint8/uint16) exist only inside this package;
other modules see them as opaque ``Codes`` and map them with float tone curves
(``apply_curve``), which is how 8-bit synthesis runs as a lookup table.
Writing is atomic (temporary name, then rename). OpenCV's BGR order never leaves this package.

Modules: ``formats`` (what can be read and written, the error type), ``codes`` (integer images
and their float views), ``read``, ``toprows`` (a PNG's top rows alone), ``write``, ``raw``,
``metadata`` (EXIF, XMP and ICC profile read from a file and put into encoded bytes),
``colour`` (a photo's colour space from its ICC profile; exact conversions to and from sRGB),
``original`` (a photo read in sRGB for correction, its result written back as it was).
Callers use the names below: ``from exposure_core import imageio; imageio.read_image(path)``.
"""

from exposure_core.imageio.codes import (
    Codes,
    apply_curve,
    assemble,
    codes_to_float,
    curve_table,
    downscale,
    float_to_codes,
    rows_to_float,
    shrink,
)
from exposure_core.imageio.colour import (
    NO_PROFILE,
    ColourSpace,
    colour_space,
    from_srgb,
    output_profile,
    to_srgb,
)
from exposure_core.imageio.colour import describe as describe_colour_space
from exposure_core.imageio.formats import (
    ALPHA_MODES,
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    RAW_SUFFIXES,
    READABLE_SUFFIXES,
    SUPPORTED_MODES,
    WRITABLE,
    WRITE_SUFFIXES,
    ImageError,
    ImageInfo,
    file_problem,
    format_of_suffix,
    has_alpha,
    is_image,
    is_raw,
    write_suffix,
)
from exposure_core.imageio.metadata import Metadata, for_result, read_metadata
from exposure_core.imageio.original import (
    Original,
    colour_space_name,
    read_in_srgb,
    write_result,
)
from exposure_core.imageio.raw import render_raw
from exposure_core.imageio.read import decode_codes, decode_image, probe, read_codes, read_image
from exposure_core.imageio.toprows import PNG_SIGNATURE, decode_top_rows, top_rows_size
from exposure_core.imageio.write import encode, encode_png_fast_decode, write_image

__all__ = [
    "ALPHA_MODES",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "NO_PROFILE",
    "PNG_SIGNATURE",
    "RAW_SUFFIXES",
    "READABLE_SUFFIXES",
    "SUPPORTED_MODES",
    "WRITABLE",
    "WRITE_SUFFIXES",
    "Codes",
    "ColourSpace",
    "ImageError",
    "ImageInfo",
    "Metadata",
    "Original",
    "apply_curve",
    "assemble",
    "codes_to_float",
    "colour_space",
    "colour_space_name",
    "curve_table",
    "decode_codes",
    "decode_image",
    "decode_top_rows",
    "describe_colour_space",
    "downscale",
    "encode",
    "encode_png_fast_decode",
    "file_problem",
    "float_to_codes",
    "for_result",
    "format_of_suffix",
    "from_srgb",
    "has_alpha",
    "is_image",
    "is_raw",
    "output_profile",
    "probe",
    "read_codes",
    "read_image",
    "read_in_srgb",
    "read_metadata",
    "render_raw",
    "rows_to_float",
    "shrink",
    "to_srgb",
    "top_rows_size",
    "write_image",
    "write_result",
    "write_suffix",
]
