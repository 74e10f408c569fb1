"""``prep synthesize``: turn clean photos into training pairs, and index native pairs.

For each kept clean photo: ``tau_samples`` overexposed variants (seed 002: clip linear light at
tau, rescale; tau uniform in the range or fixed) and one variant per EV (Afifi-style
``light * 2**ev``; rendered from the sensor data for RAW files) and, when asked for, camera-like
variants (``exposure_core.camera``: the exposure changed in scene light before a drawn camera
tone curve; from RAW files, LibRaw's exposure shift and the same curve). The clean photo is the
target,
stored losslessly. 8- and 16-bit images are mapped with lookup tables built from the pure float
functions of ``exposure_core.exposure``. Native pairs (MSEC, LOL) join the same manifest as
``kind="native"`` rows pointing at the downloaded files.

Every random choice derives from (seed, photo key), and results are written in input order,
so any worker count gives byte-identical output. Work happens in ``<output>.partial/``: a
killed run resumes there and ``<output>`` is replaced only when everything is written.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from exposure_core import camera, imageio, storage
from exposure_core.console import Summary, track
from exposure_core.discover import discover, skipped_entries
from exposure_core.engines import Engine, connect
from exposure_core.errors import StrictError, UserError
from exposure_core.fsutil import (
    StagedDir,
    atomic_open,
    fingerprint,
    real_paths,
    relpath,
)
from exposure_core.manifest import (
    MANIFEST_NAME,
    REJECTS_NAME,
    FilterRow,
    PairRow,
    Reject,
    check_distinct_ids,
    path_id,
    read_jsonl,
    slug,
    to_json,
)
from exposure_core.schema import ConfigError
from pipeline.params import DataStageParams, IoParams, SynthesizeParams, parse_tau, to_dict
from pipeline.variants import (
    Spec,
    camera_fields,
    draw_cameras,
    draw_taus,
    load_clean,
    render_variant,
    variant_specs,
)


@dataclass(frozen=True)
class _Entry:
    """One input item with absolute paths."""

    source: str
    scene: str
    split: str | None
    path: Path
    kind: str  # "clean" | "native"
    target: Path | None = None
    ev: float | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class _Job:
    entry: _Entry
    key: str  # photo key: the folder name under <output> and the prefix of every id
    staging: Path
    synth: SynthesizeParams
    io: IoParams
    output: Path  # the final output folder (manifest paths are relative to it)


def read_entries(input_path: Path) -> tuple[list[_Entry], str]:
    """Entries from a filter manifest (kept rows), a folder holding one, or a photo folder.

    Returns the entries and a digest of the input description for the resume fingerprint.
    """
    if input_path.is_file() and imageio.is_image(input_path):
        raise UserError(
            f"--input {input_path}: is a photo; give the folder that holds it (or a filter "
            "manifest)"
        )
    manifest = input_path / MANIFEST_NAME if input_path.is_dir() else input_path
    if manifest.is_file():
        root = manifest.parent
        digest = hashlib.sha256()  # taken as the rows are read
        rows = [r for r in read_jsonl(manifest, FilterRow, digest) if r.keep]
        names = [name for r in rows for name in (r.path, r.target) if name]
        real = iter(real_paths(os.path.join(root, name) for name in names))
        entries = [
            _Entry(
                r.source,
                r.scene,
                r.split,
                Path(next(real)),
                r.kind,
                Path(next(real)) if r.target else None,
                r.ev,
                r.width,
                r.height,
            )
            for r in rows
        ]
        return entries, digest.hexdigest()
    if not input_path.is_dir():
        raise UserError(f"{input_path}: neither a filter manifest nor a folder")
    entries = [
        _Entry(
            item.source,
            item.scene,
            item.split,
            (root / item.path).resolve(),
            item.kind,
            (root / item.target).resolve() if item.target else None,
            item.ev,
        )
        for item, root in discover(input_path)
    ]
    listing = [(str(e.path), e.path.stat().st_mtime_ns if e.path.exists() else 0) for e in entries]
    return entries, fingerprint(listing)


def photo_keys(entries: list[_Entry]) -> list[str]:
    """Folder names for clean photos: the scene, plus the file stem when a scene has several,
    plus the extension when those collide too (``good.jpg`` and ``good.png`` are two photos),
    as a ``path_id``; any two photos with one key are refused, naming both."""
    per_scene = Counter(e.scene for e in entries)
    per_stem = Counter((e.scene, e.path.stem) for e in entries)

    def text(e: _Entry) -> str:
        if per_scene[e.scene] == 1:
            return e.scene
        if per_stem[(e.scene, e.path.stem)] == 1:
            return f"{e.scene}-{e.path.stem}"
        return f"{e.scene}-{e.path.stem}-{e.path.suffix.lstrip('.').lower()}"

    keys = [path_id(text(e)) for e in entries]
    check_distinct_ids(
        (k, str(i), str(e.path)) for i, (k, e) in enumerate(zip(keys, entries, strict=True))
    )
    return keys


@dataclass(frozen=True)
class _Done:
    """One photo's outcome: its manifest lines (``pairs`` rows, serialised where the photo was
    worked on, so the process writing the manifest only appends them), or why it was left
    out; and whether it had alpha."""

    lines: str
    pairs: int
    reject: Reject | None = None
    alpha: bool = False


def synthesize_photo(job: _Job) -> _Done:
    """Write one photo's target and variants (skipping files a killed run completed).

    With ``synthesize.write_images`` false only what cannot be re-derived is written (a RAW
    photo's renders); other rows are recipes whose target is the clean photo itself.
    An unusable photo is returned as a reject; a failed write raises ``OSError`` (the output
    is at fault, not the photo, and the stage must stop).
    """
    entry, s = job.entry, job.synth
    folder = job.staging / job.key
    target_name = f"target.{s.format}"
    taus = draw_taus(s.seed, job.key, parse_tau(s.tau), s.tau_samples)
    variants = variant_specs(s, taus, draw_cameras(s, job.key))
    raw = imageio.is_raw(entry.path)
    files: list[Spec] = [(target_name, "target", None, None, None)]
    files += [v for v in variants if v[0] != target_name]
    if not s.write_images:
        files = [f for f in files if raw and f[1] != "overexpose"]
    todo = [f for f in files if not (folder / f[0]).exists()]
    raw_cameras: dict[str, imageio.Codes] = {}
    try:
        info = imageio.probe(entry.path, job.io.max_pixels)
        if min(info.width, info.height) < job.io.min_side:
            raise imageio.ImageError(
                entry.path, f"too small: {info.width}x{info.height} (min side {job.io.min_side})"
            )
        if todo or not files:
            clean, raw_renders = load_clean(
                entry.path, [float(e) for e in s.evs], job.io.max_pixels
            )
            width, height = clean.width, clean.height
            raw_cameras = {  # from the sensor data: LibRaw's exposure shift
                f[0]: camera.render_raw_camera(entry.path, f[4])
                for f in todo
                if raw and f[4] is not None
            }
        else:
            done = imageio.probe(folder / target_name)
            width, height = done.width, done.height
    except ConfigError as exc:  # a RAW exposure shift outside LibRaw's range
        return _Done("", 0, Reject(str(entry.path), str(exc), "synthesize"))
    except (imageio.ImageError, OSError) as exc:
        reason = getattr(exc, "reason", str(exc))
        return _Done("", 0, Reject(str(entry.path), reason, "synthesize"))
    for name, kind, tau, ev, cam in todo:
        if kind == "target":
            out = clean
        elif name in raw_cameras:
            out = raw_cameras[name]
        else:
            out = render_variant(s, kind, tau, ev, cam, clean, raw_renders)
        imageio.write_image(folder / name, out, png_level=job.io.png_level)
    in_photo = not s.write_images and not raw  # recipes only: the target is the clean photo
    target = relpath(entry.path, job.output) if in_photo else f"{job.key}/{target_name}"
    space = imageio.colour_space_name(entry.path)
    rows = []
    for name, kind, tau, ev, cam in variants:
        recipe = not (raw and kind in ("ev", "camera"))
        own = kind == "camera"  # the camera kind has its own curve: no gamma, no curve
        written = s.write_images or not recipe or name == target_name
        rows.append(
            PairRow(
                id=f"{job.key}--{Path(name).stem}",
                scene=entry.scene,
                source=entry.source,
                split=entry.split,
                input=(target if name == target_name else f"{job.key}/{name}") if written else None,
                target=target,
                kind=kind,
                tau=tau,
                ev=ev,
                gamma=s.gamma if s.curve == "gamma" and not own else None,
                width=width,
                height=height,
                curve=None if own else s.curve,
                recipe=recipe,
                camera=camera_fields(cam) if cam is not None else None,
                colour_space=space,
            )
        )
    lines = "".join(to_json(row) + "\n" for row in rows)
    return _Done(lines, len(rows), alpha=imageio.has_alpha(info))


def _describe(job: _Job) -> str:
    return str(job.entry.path)


def native_row(entry: _Entry, output: Path) -> PairRow:
    """A native pair's manifest row, pointing at the downloaded files."""
    assert entry.target is not None
    return PairRow(
        id=slug(f"{entry.source}-{entry.path.stem}"),
        scene=entry.scene,
        source=entry.source,
        split=entry.split,
        input=relpath(entry.path, output),
        target=relpath(entry.target, output),
        kind="native",
        tau=None,
        ev=entry.ev,
        gamma=None,
        width=entry.width or 0,
        height=entry.height or 0,
        colour_space=imageio.colour_space_name(entry.path),
    )


def _jobs(
    clean: list[_Entry], keys: list[str], params: DataStageParams, staging: Path, output: Path
) -> Iterator[_Job]:
    parse_tau(params.synthesize.tau)  # a bad range stops the stage here, not in every task
    for entry, key in zip(clean, keys, strict=True):
        yield _Job(entry, key, staging, params.synthesize, params.io, output)


def run(
    params: DataStageParams, input_path: str | Path, output: str | Path, strict: bool = False
) -> Summary:
    """Synthesize pairs from ``input_path`` into ``output`` (manifest.jsonl + rejects.jsonl).
    Either may be a URL (``exposure_core.storage``: worked on through its local mirror)."""
    engine = connect(params.engine.name, params.engine.address)
    with (
        storage.local_input(input_path, referenced_photos) as local_input,
        storage.local_output(output, "synthesize", [MANIFEST_NAME]) as local_output,
    ):
        return _run(params, local_input, local_output, strict, engine)


def referenced_photos(local: Path) -> list[str]:
    """The files a filter manifest (``local`` or the one in it) names, relative to its folder:
    what a URL input needs besides the manifest; none for a photo folder."""
    manifest = local / MANIFEST_NAME if local.is_dir() else local
    if not manifest.is_file() or imageio.is_image(manifest):
        return []
    rows = read_jsonl(manifest, FilterRow)
    return [name for r in rows if r.keep for name in (r.path, r.target) if name]


def _run(
    params: DataStageParams, input_path: Path, output: Path, strict: bool, engine: Engine
) -> Summary:
    summary = Summary("synthesize", unit="photos", rate_key="photos")
    entries, input_digest = read_entries(input_path)
    clean = [e for e in entries if e.kind == "clean"]
    native = [e for e in entries if e.kind == "native"]
    keys = photo_keys(clean)
    key = fingerprint(
        {
            "synthesize": to_dict(params.synthesize),
            "io": to_dict(params.io),
            "input": input_digest,
            "output": str(output.resolve()),
        }
    )
    inputs = [input_path if input_path.is_dir() else input_path.parent]
    sources = [e.path for e in entries] + [e.target for e in native if e.target is not None]
    staged = StagedDir(output, key, "synthesize", inputs, sources)
    try:
        _write(params, staged, clean, keys, native, _skipped(input_path), strict, summary, engine)
    except OSError as exc:
        raise staged.write_error(exc) from exc
    staged.commit()
    return summary


def _skipped(input_path: Path) -> list[tuple[Path, str]]:
    """Entries of a photo folder given as ``--input`` passed over (link loops, dangling links,
    FIFOs), with reasons; none for a manifest."""
    if not input_path.is_dir() or (input_path / MANIFEST_NAME).is_file():
        return []
    return skipped_entries(input_path)


def _write(
    params: DataStageParams,
    staged: StagedDir,
    clean: list[_Entry],
    keys: list[str],
    native: list[_Entry],
    skipped: list[tuple[Path, str]],
    strict: bool,
    summary: Summary,
    engine: Engine,
) -> None:
    """Write every pair, the manifest and the rejects into the staging folder."""
    output_abs = staged.output.resolve()
    seen_ids: set[str] = set()
    alpha: list[str] = []
    with (
        atomic_open(staged.path / MANIFEST_NAME, "w") as manifest,
        atomic_open(staged.path / REJECTS_NAME, "w") as rejects,
    ):

        def reject(item: Reject) -> None:
            if strict:
                raise StrictError(f"{item.path}: {item.reason}")
            rejects.write(to_json(item) + "\n")
            summary.add("rejected")

        for path, why in skipped:
            reject(Reject(str(path), why, "synthesize"))
        results = engine.map_ordered(
            synthesize_photo,
            _jobs(clean, keys, params, staged.path, output_abs),
            params.synthesize.workers,
            describe=_describe,
        )
        for entry, done in zip(clean, track(results, "synthesize", total=len(clean)), strict=True):
            if done.reject is not None:
                reject(done.reject)
                continue
            if done.alpha:
                alpha.append(str(entry.path))
            summary.add("photos")
            manifest.write(done.lines)
            summary.add("pairs", done.pairs)
        for entry in native:
            row = native_row(entry, output_abs)
            if row.id in seen_ids:
                reject(Reject(str(entry.path), f"duplicate id {row.id}", "synthesize"))
                continue
            seen_ids.add(row.id)
            manifest.write(to_json(row) + "\n")
            summary.add("native pairs")
    if alpha:
        summary.notes.append(
            f"[yellow]{len(alpha)} photo(s) with an alpha channel: transparency dropped, the "
            f"stored colours kept (first: {alpha[0]})[/yellow]"
        )
