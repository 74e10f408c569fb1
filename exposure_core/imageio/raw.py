"""Camera RAW files through rawpy (imported lazily: only RAW inputs need it)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from exposure_core.exposure import SRGB_EXPONENT, SRGB_SLOPE
from exposure_core.imageio.codes import Codes
from exposure_core.imageio.formats import DEFAULT_MAX_PIXELS, ImageError, ImageInfo, check_file


def _open_raw(path: Path):  # type: ignore[no-untyped-def]
    import rawpy  # imported lazily: only RAW inputs need it

    check_file(path)
    try:
        return rawpy.imread(os.fspath(path))
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raise ImageError(path, f"not a readable RAW file ({type(exc).__name__}: {exc})") from exc


def probe_raw(path: Path, max_pixels: int) -> ImageInfo:
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
