"""``prep filter``: score every clean photo's exposure and keep the well-exposed ones.

Seed 002 removes over- and under-exposed photos before synthesizing overexposure, so the
ground truth is clean and the simulated amount is controlled. Native pairs (MSEC, LOL) pass
through unscored: their inputs are badly exposed on purpose. Output: ``manifest.jsonl``
(one ``FilterRow`` per item, kept or not, with the reason, the stats and ``ev_estimate``, the
estimated exposure error in stops) and
``rejects.jsonl`` (files that could not be used at all). The statistics and the verdict are
pure functions in ``exposure_core.exposure_stats``.
"""

from __future__ import annotations

import dataclasses
import posixpath
from pathlib import Path

from exposure_core import imageio, storage
from exposure_core.console import Summary, track
from exposure_core.discover import discover, discover_all
from exposure_core.engines import Engine, connect
from exposure_core.errors import StrictError
from exposure_core.exposure_stats import Assessment, analysis_sample, assess, judge
from exposure_core.fsutil import StagedDir, atomic_open, fingerprint, relpath
from exposure_core.manifest import (
    MANIFEST_NAME,
    REJECTS_NAME,
    FilterRow,
    Reject,
    SourceItem,
    to_json,
    write_jsonl,
)
from pipeline.params import DataStageParams, FilterParams, IoParams, to_dict

__all__ = ["analyse", "judge", "run"]


def analyse(path: Path, io: IoParams, p: FilterParams) -> tuple[Assessment, int, int]:
    """Verdict, stats and estimate of one photo on a strided subsample (exact codes kept)."""
    info = imageio.probe(path, io.max_pixels)
    if min(info.width, info.height) < io.min_side:
        raise imageio.ImageError(
            path, f"too small: {info.width}x{info.height} (min side {io.min_side})"
        )
    image = imageio.read_image(path, io.max_pixels)
    return assess(analysis_sample(image, p.analysis_side), p), info.width, info.height


@dataclasses.dataclass(frozen=True)
class _Job:
    item: SourceItem
    root: Path  # the folder the item's paths are relative to
    output: Path
    io: IoParams
    filter: FilterParams


@dataclasses.dataclass(frozen=True)
class _Scored:
    """One item's manifest line (serialised where the photo was scored, so the process
    writing the manifest only appends it) and what the summary counts of it."""

    line: str
    kind: str
    keep: bool


def _score(job: _Job) -> _Scored | Reject:
    """``_row`` of one item, as its manifest line (a module-level function: engines run it)."""
    row = _row(job)
    if isinstance(row, Reject):
        return row
    return _Scored(to_json(row) + "\n", row.kind, row.keep)


def _row(job: _Job) -> FilterRow | Reject:
    item = job.item
    path = job.root / item.path
    shown = relpath(path, job.output)
    try:
        if item.kind == "native":
            return _native_row(job, path, shown)
        verdict, width, height = analyse(path, job.io, job.filter)
    except (imageio.ImageError, OSError) as exc:
        return Reject(str(path), getattr(exc, "reason", str(exc)), "filter")
    return FilterRow(
        source=item.source,
        scene=item.scene,
        path=shown,
        keep=verdict.keep,
        reason=verdict.reason,
        split=item.split,
        width=width,
        height=height,
        stats={k: round(v, 5) for k, v in dataclasses.asdict(verdict.stats).items()},
        ev_estimate=round(verdict.ev_estimate, 2),
        colour_space=imageio.colour_space_name(path),
    )


def _native_row(job: _Job, path: Path, shown: str) -> FilterRow | Reject:
    item = job.item
    if item.target is None:
        return Reject(str(path), "native pair without a ground truth", "filter")
    target = job.root / item.target
    a = imageio.probe(path, job.io.max_pixels)
    b = imageio.probe(target, job.io.max_pixels)
    if (a.width, a.height) != (b.width, b.height):
        return Reject(
            str(path),
            f"input {a.width}x{a.height} and ground truth {target} {b.width}x{b.height} "
            "differ in size",
            "filter",
        )
    return FilterRow(
        source=item.source,
        scene=item.scene,
        path=shown,
        keep=True,
        reason="native pair (not filtered)",
        kind="native",
        target=relpath(target, job.output),
        split=item.split,
        ev=item.ev,
        width=a.width,
        height=a.height,
        colour_space=imageio.colour_space_name(path),
    )


def _describe(job: _Job) -> str:
    return str(job.root / job.item.path)


def files_outside(local: Path) -> list[str]:
    """The files the source indexes in ``local`` name outside it (a ``folder`` source of
    photos elsewhere in the bucket), relative to ``local``: fetched with a URL input."""
    if not local.is_dir():
        return []
    found = []
    for item, root in discover(local):
        folder = root.relative_to(local).as_posix()
        for name in (item.path, item.target):
            rel = posixpath.normpath(posixpath.join(folder, name)) if name else ""
            if rel.startswith("../"):
                found.append(rel)
    return found


def run(
    params: DataStageParams, input_dir: str | Path, output: str | Path, strict: bool = False
) -> Summary:
    """Score everything under ``input_dir``; write ``output/manifest.jsonl`` and rejects.
    Either may be a URL (``exposure_core.storage``: worked on through its local mirror, with
    the photos its indexes name elsewhere in the bucket)."""
    engine = connect(params.engine.name, params.engine.address)
    with (
        storage.local_input(input_dir, files_outside) as local_input,
        storage.local_output(output, "filter", [MANIFEST_NAME]) as local_output,
    ):
        return _run(params, local_input, local_output, strict, engine)


def _run(
    params: DataStageParams, input_dir: Path, output: Path, strict: bool, engine: Engine
) -> Summary:
    summary = Summary("filter", unit="photos", rate_key="scored")
    found, skipped = discover_all(input_dir)
    key = fingerprint({"filter": to_dict(params.filter), "input": str(input_dir.resolve())})
    staged = StagedDir(output, key, "filter", [input_dir])
    output_abs = output.resolve()
    jobs = [_Job(item, root, output_abs, params.io, params.filter) for item, root in found]
    rows: list[str] = []
    rejects = [Reject(str(p), why, "filter") for p, why in skipped]
    if strict and rejects:
        raise StrictError(f"{rejects[0].path}: {rejects[0].reason}")
    if rejects:
        summary.add("unusable", len(rejects))
    results = engine.map_ordered(_score, jobs, params.filter.workers, describe=_describe)
    for result in track(results, "filter", total=len(jobs)):
        if isinstance(result, Reject):
            if strict:
                raise StrictError(f"{result.path}: {result.reason}")
            rejects.append(result)
            summary.add("unusable")
            continue
        rows.append(result.line)
        if result.kind == "native":
            summary.add("native pairs")
        else:
            summary.add("scored")
            summary.add("kept" if result.keep else "dropped")
    try:
        write_jsonl(staged.path / REJECTS_NAME, rejects)
        with atomic_open(staged.path / MANIFEST_NAME, "w") as manifest:
            manifest.writelines(rows)
    except OSError as exc:
        raise staged.write_error(exc) from exc
    staged.commit()
    if not found:
        summary.notes.append(f"[yellow]no photos found under {input_dir}[/yellow]")
    return summary
