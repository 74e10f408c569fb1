"""Photo images: decoding to 8-bit sRGB, the not-a-photograph check, resizing, crops, PNGs."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps


def load_rgb(data: bytes) -> Image.Image:
    """Decode, apply the EXIF orientation and convert to 8-bit sRGB."""
    image = Image.open(io.BytesIO(data))
    image = ImageOps.exif_transpose(image)
    icc = image.info.get("icc_profile")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            image = ImageCms.profileToProfile(image.convert("RGB"), source, srgb, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # an unreadable profile: keep the pixels as they are
    return image.convert("RGB")


def photo_problem(image: Image.Image, min_side: int) -> str | None:
    """Why an image cannot serve as a photograph here, or None."""
    if min(image.size) < min_side:
        return f"too small: {image.size[0]}x{image.size[1]} (min side {min_side})"
    thumb = np.asarray(image.resize((128, 128), Image.Resampling.BOX), dtype=np.int16)
    if np.abs(thumb - thumb.mean(axis=2, keepdims=True)).max() <= 3:  # black and white
        levels = np.unique(thumb.mean(axis=2).round()).shape[0]
        if levels < 64:
            return f"only {levels} grey levels in a 128x128 thumbnail: not a photograph"
        return None
    colours = np.unique(thumb.reshape(-1, 3), axis=0).shape[0]
    if colours < 1000:
        return f"only {colours} distinct colours in a 128x128 thumbnail: not a photograph"
    return None


def resize_long(image: Image.Image, long_side: int) -> Image.Image:
    """Shrink so the long side is ``long_side`` (never enlarge)."""
    scale = long_side / max(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def scenes_of(
    image: Image.Image, long_side: int, crop_above_mp: float
) -> Iterator[tuple[str, Image.Image, str]]:
    """(suffix, scene image, crop box) for one photo: whole, or a 2x2 grid of crops."""
    if image.size[0] * image.size[1] <= crop_above_mp * 1e6:
        yield "", resize_long(image, long_side), ""
        return
    big = resize_long(image, 2 * long_side)
    width, height = big.size
    xs = (0, width // 2, width)
    ys = (0, height // 2, height)
    for row in range(2):
        for col in range(2):
            box = (xs[col], ys[row], xs[col + 1], ys[row + 1])
            crop = f"{box[0]},{box[1]},{box[2] - box[0]},{box[3] - box[1]}"
            yield f"-c{row}{col}", big.crop(box), crop


def save_png(image: Image.Image, path: Path) -> None:
    """Write a PNG to a temporary name, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png.partial", dir=path.parent)
    os.close(fd)
    try:
        image.save(tmp, format="PNG", compress_level=6)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def pixel_count(path: Path) -> int:
    """Width times height, read from the header only."""
    with Image.open(path) as image:
        return image.size[0] * image.size[1]
