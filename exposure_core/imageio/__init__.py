"""The only package that touches image codecs.

Reading gives float32 ``H x W x 3`` RGB in [0, 1] (gamma-encoded, EXIF orientation applied)
from JPEG/PNG/TIFF/WebP (8- or 16-bit; gray, RGBA, CMYK and palette are converted) and from
camera RAW files through rawpy. Integer images (uint8/uint16) exist only inside this package;
other modules see them as opaque ``Codes`` and map them with float tone curves
(``apply_curve``), which is how 8-bit synthesis runs as a lookup table.
Writing is atomic (temporary name, then rename). OpenCV's BGR order never leaves this package.

Modules: ``formats`` (what can be read and written, the error type), ``codes`` (integer images
and their float views), ``read``, ``toprows`` (a PNG's top rows alone), ``write``, ``raw``.
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
from exposure_core.imageio.raw import render_raw
from exposure_core.imageio.read import decode_codes, decode_image, probe, read_codes, read_image
from exposure_core.imageio.toprows import PNG_SIGNATURE, decode_top_rows, top_rows_size
from exposure_core.imageio.write import encode, encode_png_fast_decode, write_image

__all__ = [
    "ALPHA_MODES",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "PNG_SIGNATURE",
    "RAW_SUFFIXES",
    "READABLE_SUFFIXES",
    "SUPPORTED_MODES",
    "WRITABLE",
    "WRITE_SUFFIXES",
    "Codes",
    "ImageError",
    "ImageInfo",
    "apply_curve",
    "assemble",
    "codes_to_float",
    "curve_table",
    "decode_codes",
    "decode_image",
    "decode_top_rows",
    "downscale",
    "encode",
    "encode_png_fast_decode",
    "file_problem",
    "float_to_codes",
    "format_of_suffix",
    "has_alpha",
    "is_image",
    "is_raw",
    "probe",
    "read_codes",
    "read_image",
    "render_raw",
    "rows_to_float",
    "shrink",
    "top_rows_size",
    "write_image",
    "write_suffix",
]
