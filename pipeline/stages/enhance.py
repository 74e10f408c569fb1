"""``prep enhance``: correct real photos of any size with a trained generator.

Thin: lists the photos, decides where each result goes, and writes what
``exposure_models.inference.enhancer`` corrects (the same path ``prep evaluate`` scores).
Each result keeps its photo's EXIF (orientation 1, this tool named as its software), XMP and
ICC profile; a photo in another colour space than sRGB is corrected in sRGB and its result
converted back (``exposure_core.imageio.original``).
"""

from __future__ import annotations

import errno
import importlib.metadata
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from exposure_core import imageio, storage
from exposure_core.console import Summary, track
from exposure_core.discover import find_photos
from exposure_core.errors import UserError
from exposure_core.fsutil import atomic_open, check_output_folder
from exposure_models.inference.enhancer import BatchedForward, Enhancer, unchanged_strips
from exposure_models.inference.upscaler import load_upscaler
from exposure_models.pretrained import resolve_model
from pipeline.params import Params

OUTPUT_SUFFIX = {"jpg": ".jpg", "png": ".png", "tif": ".tif"}
ALWAYS = "--always-correct applies the model to every photo"


@dataclass(frozen=True)
class Target:
    """Where one photo's result goes: ``dest``, encoded for ``suffix`` (dest's own, or the
    format's for a misnamed file rewritten in place); ``same_format``: the output's format is
    the input's, so a photo the gate leaves alone is its original file, byte for byte."""

    dest: Path
    suffix: str
    same_format: bool


def list_photos(
    inputs: Iterable[Path],
) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """Photos to correct, each with its path below ``--output``, and the entries skipped.

    A file given directly keeps its name; a photo found in a given folder (``find_photos``:
    recursively, sorted, hidden files such as ``._x.jpg`` skipped) keeps its path below that
    folder, so ``d1/x.png`` and ``d2/x.png`` stay apart. A file reached twice is listed once.
    A given path that is a link loop is an error; link loops, dangling links and FIFOs found
    in a folder are returned with their reasons (``PhotoWalk.skipped``).
    """
    photos: list[tuple[Path, Path]] = []
    skipped: list[tuple[Path, str]] = []
    for path in inputs:
        try:
            path.stat()
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UserError(f"{path}: symbolic link loop; give the photo itself") from exc
        if path.is_dir():
            found = find_photos(path)
            photos += [(photo, photo.relative_to(path)) for photo in found.photos]
            skipped += found.skipped
        else:
            photos.append((path, Path(path.name)))
    seen: set[Path] = set()
    unique = []
    for photo, rel in photos:
        key = photo.resolve() if photo.exists() else photo.absolute()
        if key not in seen:
            seen.add(key)
            unique.append((photo, rel))
    return unique, skipped


def plan_output(
    photo: Path,
    rel: Path,
    source: str | None,
    output: Path | None,
    fmt: str,
    in_place: bool,
) -> Target | str:
    """Where a photo's result goes, or why it cannot be written (checked before any work).

    ``source`` is the format the photo decodes as (``RAW`` for camera RAW; None when it cannot
    be read: the reader names it as failed later). With ``--format same`` the output keeps the
    decoded format (``imageio.write_suffix``: a JPEG named ``IMG.heic`` becomes ``IMG.jpg``);
    a format that cannot be written (GIF) gives the reason instead; RAW gives a 16-bit TIFF.
    """
    if in_place:
        if source is None:
            return Target(photo, photo.suffix.lower(), False)
        suffix = imageio.write_suffix(photo, source)
        if suffix is None:
            return (
                f"{source} cannot be written in place; give --output DIR and --format jpg, "
                "png or tif to write it as one"
            )
        return Target(photo, suffix, True)
    if output is None:
        raise UserError("give --output DIR, or --in-place to overwrite the inputs")
    if fmt != "same":
        suffix = OUTPUT_SUFFIX[fmt]
    elif source == "RAW":
        suffix = ".tif"  # RAW in: 16-bit TIFF out
    elif source is None:
        suffix = photo.suffix.lower()
    else:
        found = imageio.write_suffix(photo, source)
        if found is None:
            return f"{source} cannot be written; give --format jpg, png or tif to write it as one"
        suffix = found
    same = source is not None and imageio.format_of_suffix(suffix) == source
    return Target(output / rel.with_name(rel.stem + suffix), suffix, same)


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


def _probe(photo: Path, max_pixels: int) -> imageio.ImageInfo | None:
    if imageio.is_raw(photo):
        return imageio.ImageInfo(0, 0, "RAW", "RAW")  # opened once, when it is read
    try:
        return imageio.probe(photo, max_pixels)
    except imageio.ImageError:
        return None  # unreadable: named as failed by the enhancer


def _output_bits(photo_bits: int, suffix: str) -> int:
    return 8 if suffix in (".jpg", ".jpeg", ".webp") else photo_bits


@cache
def software() -> str:
    """The EXIF Software tag of every result: this tool, its version and the command."""
    try:
        version = importlib.metadata.version("exposure-prep")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "exposure-prep prep enhance"
    return f"exposure-prep {version} prep enhance"


def _copy(photo: Path, dest: Path) -> None:
    """The original file's bytes at ``dest`` (EXIF, ICC and all), written atomically."""
    with photo.open("rb") as src, atomic_open(dest, "wb") as out:
        shutil.copyfileobj(src, out)


def _plan(
    params: Params, listed: list[tuple[Path, Path]], output: Path | None, in_place: bool
) -> tuple[dict[Path, Target], list[str], dict[Path, imageio.ImageInfo | None]]:
    """Each photo's target, the notes for photos that cannot be written (skipped, named with
    the reason) or are written under another suffix, and the headers read (None: unreadable,
    left for the reader to name)."""
    infos = {photo: _probe(photo, params.io.max_pixels) for photo, _ in listed}
    targets: dict[Path, Target] = {}
    notes: list[str] = []
    for photo, rel in listed:
        info = infos[photo]
        target = plan_output(
            photo, rel, info and info.format, output, params.enhance.format, in_place
        )
        if isinstance(target, str):
            notes.append(f"[yellow]skipped:[/yellow] {photo}: {target}")
            continue
        targets[photo] = target
        renamed = target.dest != photo and target.suffix != photo.suffix.lower()
        if info and info.format != "RAW" and renamed and params.enhance.format == "same":
            notes.append(f"{photo} holds a {info.format}: written as {target.dest.name}")
    return targets, notes, infos


def run(
    params: Params,
    inputs: list[str | Path],
    model: str | Path | None,
    output: str | Path | None,
    in_place: bool = False,
    upscale: tuple[int, str | Path] | None = None,
) -> Summary:
    """``correct`` on paths; photos, model, SR model and output may also be URLs
    (``exposure_core.storage``): the photos and the models are fetched into their mirror, the
    results written in a local folder and copied to the output URL (one object each).

    ``in_place`` with photos at URLs: the photos are corrected in their mirror as local files
    are, then each object whose photo was rewritten is replaced by one write
    (``storage.write_back``: the object's content type and metadata kept, an object changed
    in the store meanwhile refused); photos left untouched are not written."""
    remote = [str(x) for x in inputs if storage.is_url(x)]
    if remote and output is None and not in_place:
        raise UserError(
            f"{remote[0]}: photos from a URL need --output (a folder or a URL) or --in-place"
        )
    mirrors = {url: storage.pull(url) for url in remote}
    photos = [mirrors[str(x)] if storage.is_url(x) else Path(x) for x in inputs]
    local_model = storage.fetch_file(model) if model is not None else None
    sr = (upscale[0], storage.fetch_file(upscale[1])) if upscale is not None else None
    if in_place:
        before = {url: storage.snapshot(local) for url, local in mirrors.items()}
        summary = correct(params, photos, local_model, None, True, sr)
        replaced = storage.write_back(before)
        if replaced:
            summary.notes.append(f"  {replaced} object(s) replaced in {', '.join(before)}")
        return summary
    if not storage.is_url(output):
        local = Path(output) if output is not None else None
        return correct(params, photos, local_model, local, in_place, sr)
    storage.cache_root().mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="enhance-", dir=storage.cache_root()))
    try:
        summary = correct(params, photos, local_model, staging, in_place, sr)
        storage.publish(staging, str(output), remove_stale=False)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    summary.notes.append(f"  written to {output}")
    return summary


def correct(
    params: Params,
    inputs: list[Path],
    model: Path | None,
    output: Path | None,
    in_place: bool = False,
    upscale: tuple[int, Path] | None = None,
) -> Summary:
    """Correct every photo in ``inputs``; unreadable ones are named and counted as failed.

    Before any work each photo's output is planned; one whose format cannot be written (an
    animated GIF with ``--format same``) is skipped with a note naming ``--format``, the rest
    are written. A photo the well-exposed gate leaves alone is a byte copy of its original
    when the output format is the input's (``--in-place``: not touched at all), else encoded
    ("converted, not corrected"). ``model`` None: the default, ``stops``
    (``exposure_models.pretrained``). ``upscale``: (factor, SR model) to up-sample each
    corrected photo before writing it."""
    summary = Summary("enhance", unit="photos", rate_key="written")
    listed, skipped = list_photos(inputs)
    if not listed and not skipped:
        raise UserError(f"no photos found in {', '.join(map(str, inputs))}")
    if output is not None and not in_place:
        check_output_folder(output)
    p = params.enhance
    targets, notes, infos = _plan(params, listed, output, in_place)
    check_collisions({photo: t.dest for photo, t in targets.items()})
    summary.notes += [f"[yellow]skipped:[/yellow] {path}: {why}" for path, why in skipped]
    summary.notes += notes
    if len(targets) < len(listed) or skipped:
        summary.add("skipped", len(listed) - len(targets) + len(skipped))
    photos = [photo for photo, _ in listed if photo in targets]
    alpha = [photo for photo in photos if (info := infos[photo]) and imageio.has_alpha(info)]
    if alpha:
        summary.notes.append(
            f"[yellow]{len(alpha)} photo(s) with an alpha channel: the results are opaque "
            f"(transparency dropped, stored colours corrected; first: {alpha[0]})[/yellow]"
        )
    if not in_place:
        resolved = {x.resolve() for x in photos}
        clashes = [str(ph) for ph, t in targets.items() if t.dest.resolve() in resolved]
        if clashes:
            raise UserError(f"would overwrite input {clashes[0]}; use --in-place to allow it")
    if not photos:
        return summary
    enhancer = Enhancer.load(resolve_model(model), p, params.filter)
    upscaler = load_upscaler(upscale, p.device) if upscale else None
    originals: dict[Path, imageio.Original] = {}

    def read(photo: Path, max_pixels: int) -> imageio.Codes:
        codes, originals[photo] = imageio.read_in_srgb(photo, max_pixels)
        return codes

    def write(photo: Path, result: imageio.Codes, in_srgb: bool = True) -> None:
        target, original = targets[photo], originals.pop(photo)
        warnings = imageio.write_result(
            target.dest, result, original, suffix=target.suffix, software=software(),
            bits=_output_bits(original.bits, target.suffix), quality=p.quality,
            png_level=params.io.png_level, in_srgb=in_srgb,
        )  # fmt: skip
        summary.notes += [f"[yellow]warning:[/yellow] {line}" for line in warnings]
        summary.add("written")

    stream = BatchedForward(photos, enhancer, params.io.max_pixels, read=read)
    alone = {"copied": 0, "untouched": 0, "converted": 0}
    converted_to: set[str] = set()
    for photo, codes, low_in, low_out in track(stream, "enhance", total=len(photos)):
        target, space = targets[photo], originals[photo].space
        # sRGB: the result at the output's depth, as always; another colour space: at 16
        # bits, converted to the photo's own space and depth when written
        bits = _output_bits(originals[photo].bits, target.suffix) if space.is_srgb else 16
        if upscaler is not None:
            strips = enhancer.strips(codes, low_in, low_out)
        elif enhancer.leaves_alone(codes, low_in, low_out):
            if target.same_format and target.dest == photo:
                alone["untouched"] += 1
                summary.add("unchanged")
                continue
            if target.same_format:
                _copy(photo, target.dest)
                alone["copied"] += 1
                summary.add("written")
                continue
            alone["converted"] += 1
            converted_to.add(target.suffix)
            if not (space.is_srgb or space.is_grey):  # its own codes and profile as they are
                write(photo, imageio.read_codes(photo, params.io.max_pixels), in_srgb=False)
                continue
            strips = unchanged_strips(codes, p.strip_rows)
        else:
            strips = enhancer.corrected_strips(codes, low_in, low_out)
        result = imageio.assemble(strips, codes.height, codes.width, bits)
        if upscaler is not None:
            result = upscaler.upscale_codes(result)
        write(photo, result)
    summary.notes += _gate_notes(enhancer.left_alone, alone, upscaler is not None, converted_to)
    if stream.failures:
        summary.add("failed", len(stream.failures))
    summary.notes += [f"[red]failed:[/red] {line}" for line in stream.failures]
    return summary


def _gate_notes(
    left_alone: int, alone: dict[str, int], upscaled: bool, converted_to: set[str]
) -> list[str]:
    """What happened to the photos the well-exposed gate left alone."""
    if upscaled and left_alone:
        return [f"{left_alone} well-exposed photo(s) up-sampled, not corrected ({ALWAYS})"]
    notes = []
    if alone["copied"]:
        notes.append(
            f"{alone['copied']} well-exposed photo(s) written unchanged (copies of the "
            f"original files; {ALWAYS})"
        )
    if alone["untouched"]:
        notes.append(f"{alone['untouched']} well-exposed photo(s) left untouched ({ALWAYS})")
    if alone["converted"]:
        to = ", ".join(sorted(converted_to))
        notes.append(
            f"{alone['converted']} well-exposed photo(s) converted to {to}, not corrected "
            f"({ALWAYS})"
        )
    return notes
