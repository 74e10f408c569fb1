"""``prep enhance``: correct real photos of any size with a trained generator.

Thin: lists the photos, decides where each result goes, and writes what
``exposure_models.inference.enhancer`` corrects (the same path ``prep evaluate`` scores).
"""

from __future__ import annotations

import errno
from collections.abc import Iterable
from pathlib import Path

from exposure_core import imageio
from exposure_core.console import Summary, track
from exposure_core.discover import LOOP_REASON, find_photos
from exposure_core.errors import UserError
from exposure_models.inference.enhancer import BatchedForward, Enhancer
from exposure_models.inference.upscaler import load_upscaler
from exposure_models.pretrained import resolve_model
from pipeline.params import Params

OUTPUT_SUFFIX = {"jpg": ".jpg", "png": ".png", "tif": ".tif"}


def list_photos(inputs: Iterable[Path]) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """Photos to correct, each with its path below ``--output``, and the link loops skipped.

    A file given directly keeps its name; a photo found in a given folder (``find_photos``:
    recursively, sorted, hidden files such as ``._x.jpg`` skipped) keeps its path below that
    folder, so ``d1/x.png`` and ``d2/x.png`` stay apart. A file reached twice is listed once.
    A given path that is a link loop is an error.
    """
    photos: list[tuple[Path, Path]] = []
    loops: list[Path] = []
    for path in inputs:
        try:
            path.stat()
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UserError(f"{path}: symbolic link loop; give the photo itself") from exc
        if path.is_dir():
            found = find_photos(path)
            photos += [(photo, photo.relative_to(path)) for photo in found.photos]
            loops += found.loops
        else:
            photos.append((path, Path(path.name)))
    seen: set[Path] = set()
    unique = []
    for photo, rel in photos:
        key = photo.resolve() if photo.exists() else photo.absolute()
        if key not in seen:
            seen.add(key)
            unique.append((photo, rel))
    return unique, loops


def output_path(photo: Path, rel: Path, output: Path | None, fmt: str, in_place: bool) -> Path:
    """Where a corrected photo goes: OUTPUT/<rel> (format from params) or over the input."""
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
    return output / rel.with_name(rel.stem + suffix)


def check_collisions(targets: dict[Path, Path]) -> None:
    """Refuse two photos that would be written to one file, naming both and the file."""
    claimed: dict[Path, Path] = {}
    for photo, dest in targets.items():
        key = dest.absolute()
        if key in claimed:
            raise UserError(
                f"{claimed[key]} and {photo} would both be written to {dest}; rename one, "
                "or enhance them in separate runs (or with another --format)"
            )
        claimed[key] = photo


def _has_alpha(photo: Path, max_pixels: int) -> bool:
    try:
        return imageio.has_alpha(imageio.probe(photo, max_pixels))
    except imageio.ImageError:
        return False  # unreadable: named as failed by the enhancer


def _output_bits(photo_bits: int, suffix: str) -> int:
    return 8 if suffix in (".jpg", ".jpeg", ".webp") else photo_bits


def run(
    params: Params,
    inputs: list[Path],
    model: Path | None,
    output: Path | None,
    in_place: bool = False,
    upscale: tuple[int, Path] | None = None,
) -> Summary:
    """Correct every photo in ``inputs``; unreadable ones are named and counted as failed.

    ``model`` None: the shipped generator (``exposure_models.pretrained``). ``upscale``:
    (factor, SR model) to up-sample each corrected photo before writing it."""
    summary = Summary("enhance", unit="photos", rate_key="written")
    listed, loops = list_photos(inputs)
    if not listed:
        raise UserError(f"no photos found in {', '.join(map(str, inputs))}")
    p = params.enhance
    photos = [photo for photo, _ in listed]
    targets = {photo: output_path(photo, rel, output, p.format, in_place) for photo, rel in listed}
    check_collisions(targets)
    summary.notes += [f"[yellow]skipped:[/yellow] {loop}: {LOOP_REASON}" for loop in loops]
    alpha = [photo for photo in photos if _has_alpha(photo, params.io.max_pixels)]
    if alpha:
        summary.notes.append(
            f"[yellow]{len(alpha)} photo(s) with an alpha channel: the results are opaque "
            f"(transparency dropped, stored colours corrected; first: {alpha[0]})[/yellow]"
        )
    if not in_place:
        resolved = {x.resolve() for x in photos}
        clashes = [str(ph) for ph, out in targets.items() if out.resolve() in resolved]
        if clashes:
            raise UserError(f"would overwrite input {clashes[0]}; use --in-place to allow it")
    enhancer = Enhancer.load(resolve_model(model), p, params.filter)
    upscaler = load_upscaler(upscale, p.device) if upscale else None
    stream = BatchedForward(photos, enhancer, params.io.max_pixels)
    for photo, codes, low_in, low_out in track(stream, "enhance", total=len(photos)):
        dest = targets[photo]
        bits = _output_bits(codes.bits, dest.suffix.lower())
        result = imageio.assemble(
            enhancer.strips(codes, low_in, low_out), codes.height, codes.width, bits
        )
        if upscaler is not None:
            result = upscaler.upscale_codes(result)
        imageio.write_image(dest, result, quality=p.quality, png_level=params.io.png_level)
        summary.add("written")
    if enhancer.left_alone:
        summary.notes.append(
            f"{enhancer.left_alone} well-exposed photo(s) written unchanged "
            "(--always-correct applies the model to every photo)"
        )
    if stream.failures:
        summary.add("failed", len(stream.failures))
    summary.notes += [f"[red]failed:[/red] {line}" for line in stream.failures]
    return summary
