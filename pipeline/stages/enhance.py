"""``prep enhance``: correct real photos of any size with a trained generator.

Thin: lists the photos, decides where each result goes, and writes what
``exposure_models.inference.enhancer`` corrects (the same path ``prep evaluate`` scores).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from exposure_models.inference.enhancer import Enhancer, batched_forward
from exposure_models.pretrained import resolve_model
from pipeline.core import imageio
from pipeline.core.console import Summary, track
from pipeline.errors import UserError
from pipeline.params import Params

OUTPUT_SUFFIX = {"jpg": ".jpg", "png": ".png", "tif": ".tif"}


def list_photos(inputs: Iterable[Path]) -> list[Path]:
    """Files given directly, plus every photo inside given folders (recursively, sorted)."""
    photos: list[Path] = []
    for path in inputs:
        if path.is_dir():
            photos += sorted(p for p in path.rglob("*") if p.is_file() and imageio.is_image(p))
        else:
            photos.append(path)
    return photos


def output_path(photo: Path, output: Path | None, fmt: str, in_place: bool) -> Path:
    """Where a corrected photo goes: OUTPUT/<name> (format from params) or over the input."""
    if in_place:
        return photo
    if output is None:
        raise UserError("give --output DIR, or --in-place to overwrite the inputs")
    if fmt != "same":
        suffix = OUTPUT_SUFFIX[fmt]
    elif imageio.is_raw(photo):
        suffix = ".tif"  # RAW in: 16-bit TIFF out
    else:
        suffix = photo.suffix.lower()
    return output / (photo.stem + suffix)


def _output_bits(photo_bits: int, suffix: str) -> int:
    return 8 if suffix in (".jpg", ".jpeg", ".webp") else photo_bits


def run(
    params: Params,
    inputs: list[Path],
    model: Path | None,
    output: Path | None,
    in_place: bool = False,
) -> Summary:
    """Correct every photo in ``inputs``; unreadable ones are named and counted as failed.

    ``model`` None: the shipped generator (``exposure_models.pretrained``)."""
    summary = Summary("enhance", unit="photos", rate_key="written")
    photos = list_photos(inputs)
    if not photos:
        raise UserError(f"no photos found in {', '.join(map(str, inputs))}")
    p = params.enhance
    targets = {photo: output_path(photo, output, p.format, in_place) for photo in photos}
    if not in_place:
        clashes = [
            str(ph) for ph, out in targets.items() if out.resolve() in {x.resolve() for x in photos}
        ]
        if clashes:
            raise UserError(f"would overwrite input {clashes[0]}; use --in-place to allow it")
    enhancer = Enhancer.load(resolve_model(model), p)
    failures: list[str] = []
    stream = batched_forward(photos, enhancer, params.io.max_pixels, failures)
    for photo, codes, low_in, low_out in track(stream, "enhance", total=len(photos)):
        dest = targets[photo]
        bits = _output_bits(codes.bits, dest.suffix.lower())
        result = imageio.assemble(
            enhancer.strips(codes, low_in, low_out), codes.height, codes.width, bits
        )
        imageio.write_image(dest, result, quality=p.quality, png_level=params.io.png_level)
        summary.add("written")
    if failures:
        summary.add("failed", len(failures))
    summary.notes += [f"[red]failed:[/red] {line}" for line in failures]
    return summary
