"""``prep shard``: pack the pairs manifest into WebDataset tars, one sample per photo.

Output: ``{split}-NNNNNN.tar`` (numbered from 0 within each split), ``index.json`` and
``rejects.jsonl``. Rows sharing a target file form one sample (``exposure_core.shardfmt``): the
target (the clean photo itself when ``prep synthesize`` wrote recipes only), ``<key>.json`` with
the photo's fields and one recipe per pair, and the bytes of inputs that cannot be rendered from
the target (native pairs, RAW renders) as ``<key>.in<k>.<ext>``. A photo is stored once,
whatever the number of its variants. The members and their bytes are
``exposure_core.shardwrite``'s (a PNG target re-encoded losslessly to decode fast); this stage
validates the rows, groups them into samples, orders them and cuts the shards.

Splits are assigned per scene (``exposure_core.splits``). Inside a split, samples are ordered by
``sha256(f"{shard.seed}:{key}")``: a shuffle that mixes scenes across shards, depends only on
the seed and the keys (not on manifest order), and keeps the relative order of the other
samples when one is added or removed; a re-run writes byte-identical tars.
Everything is built in ``<output>.partial/`` and swapped in at the end.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exposure_core import imageio, shardfmt, storage
from exposure_core.console import Summary, track
from exposure_core.engines import LOCAL, Engine, connect
from exposure_core.errors import StrictError
from exposure_core.fsutil import (
    StagedDir,
    atomic_open,
    atomic_write_json,
    fingerprint,
)
from exposure_core.manifest import (
    MANIFEST_NAME,
    REJECTS_NAME,
    SPLITS,
    PairRow,
    Reject,
    read_jsonl,
    read_lines,
    row_from_line,
    slug,
)
from exposure_core.manifest import to_json as row_json
from exposure_core.shardwrite import (
    Members,
    Sample,
    members_bytes,
    plan_shards,
    stored_target,
    write_members,
)
from exposure_core.splits import SplitError, assign_splits, check_fractions
from pipeline.params import DataStageParams, to_dict

INDEX_NAME = shardfmt.INDEX_NAME
KINDS = shardfmt.KINDS


def order_key(seed: int, sample_id: str) -> str:
    """The within-split sort key: a seeded hash of the id (see the module docstring)."""
    return hashlib.sha256(f"{seed}:{sample_id}".encode()).hexdigest()


# --- validation -------------------------------------------------------------------------------


def _variant(row: PairRow) -> shardfmt.Variant:
    curve = row.curve or ("gamma" if row.gamma is not None else "srgb")
    return shardfmt.Variant(row.id, row.kind, row.tau, row.ev, row.gamma, curve, camera=row.camera)


def probe_file(job: tuple[Path, int]) -> imageio.ImageInfo | str:
    """Header facts of one file (``(path, max_pixels)``), or why a shard cannot hold it."""
    path, max_pixels = job
    if imageio.is_raw(path):
        return f"{path.name} is a RAW file; shards hold decodable images only"
    try:
        return imageio.probe(path, max_pixels)
    except imageio.ImageError as exc:
        return f"file unusable: {exc.reason}"


class _Paths:
    """``root / name`` for the names a manifest gives, each joined once (a photo's target is
    named by every one of its rows), so the same ``Path`` object comes back each time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.done: dict[str, Path] = {}

    def __call__(self, name: str) -> Path:
        path = self.done.get(name)
        if path is None:
            path = self.done[name] = self.root / name
        return path


class _Probes:
    """Header probes of files, each done once; an unusable file gives its reason."""

    def __init__(self, max_pixels: int) -> None:
        self.max_pixels = max_pixels
        self.done: dict[Path, imageio.ImageInfo | str] = {}

    def __call__(self, path: Path) -> imageio.ImageInfo | str:
        if path not in self.done:
            self.done[path] = probe_file((path, self.max_pixels))
        return self.done[path]


def _row_problem(row: PairRow, path: _Paths, probe: _Probes) -> str | None:
    """The reason a row cannot become a pair of its photo's sample, or None."""
    if row.kind not in KINDS:
        return f"unknown kind {row.kind!r} (expected one of {sorted(KINDS)})"
    if not row.id or any(c in row.id for c in "./\\ \t\n"):
        return f"id {row.id!r} is not a valid sample key (no dots, slashes or spaces)"
    target = probe(path(row.target))
    if isinstance(target, str):
        return f"target {target}"
    if row.recipe and row.kind != "native":
        return shardfmt.variant_problem(_variant(row))
    if row.kind == "camera" and (reason := shardfmt.variant_problem(_variant(row))):
        return reason  # a stored camera render keeps its recipe's numbers (the oracle reads them)
    if row.input is None:
        return "no input file and no recipe"
    info = probe(path(row.input))
    if isinstance(info, str):
        return f"input {info}"
    if (info.width, info.height) != (target.width, target.height):
        return (
            f"input {info.width}x{info.height} and target {target.width}x{target.height} "
            "differ in size"
        )
    return None


def _photo_key(ids: list[str], source: str, target: str) -> str:
    """The sample key: the ids' shared ``<photo>--`` prefix, else source and target stem (of
    the photo's first row)."""
    prefixes = {i.split("--", 1)[0] for i in ids if "--" in i}
    if len(prefixes) == 1 and all("--" in i for i in ids):
        return prefixes.pop()
    return slug(f"{source}-{Path(target).stem}")


Checked = tuple[PairRow, str | None, tuple[int, int] | None]  # row, problem, target size


def check_row(row: PairRow, path: _Paths, probe: _Probes) -> Checked:
    """A row, the reason it cannot become a pair of its photo's sample (None: it can), and the
    size of its target (when it can)."""
    problem = _row_problem(row, path, probe)
    if problem is not None:
        return row, problem, None
    info = probe(path(row.target))
    assert not isinstance(info, str)
    return row, None, (info.width, info.height)


@dataclass(frozen=True)
class RowRun:
    """Consecutive rows of the manifest that ``check_row`` passed and that share a target, a
    scene, a source and an official split: a photo's rows as ``prep synthesize`` writes them.
    What grouping needs of them, one object per photo rather than one row object per pair."""

    target: str  # the manifest's name of the target file
    scene: str
    source: str
    split: str | None  # the official split, or None
    size: tuple[int, int]
    ids: tuple[str, ...]
    inputs: tuple[str | None, ...]  # each row's input file (None: rendered from the target)
    variants: tuple[shardfmt.Variant, ...]  # a stored input's ``input`` is set when grouped
    stored: tuple[bool, ...]  # each row's input is a file the sample stores


Checks = list[RowRun | Checked]  # in manifest order; a Checked here has a problem


def runs_of(checked: Iterable[Checked]) -> Checks:
    """Checked rows, in order, with each stretch of usable rows of one target, scene, source
    and official split gathered into one ``RowRun``; a row with a problem stays as it is."""
    out: Checks = []
    rows: list[PairRow] = []
    size: tuple[int, int] | None = None

    def flush() -> None:
        if rows:
            first = rows[0]
            assert size is not None
            out.append(
                RowRun(
                    first.target,
                    first.scene,
                    first.source,
                    first.split,
                    size,
                    tuple(r.id for r in rows),
                    tuple(r.input for r in rows),
                    tuple(_variant(r) for r in rows),
                    tuple(not (r.recipe and r.kind != "native") for r in rows),
                )
            )
            rows.clear()

    for row, problem, row_size in checked:
        if problem is not None or row_size is None:
            flush()
            out.append((row, problem, row_size))
            continue
        if rows and _run_fields(row) != _run_fields(rows[0]):
            flush()
        if not rows:
            size = row_size
        rows.append(row)
    flush()
    return out


def _run_fields(row: PairRow) -> tuple[str, str, str, str | None]:
    return row.target, row.scene, row.source, row.split


ROWS_PER_JOB = 512  # manifest lines handed out together to be parsed and checked


def check_lines(job: tuple[str, int, list[str], Path, int]) -> Checks:
    """``check_row`` on each row of a stretch of the manifest ``(manifest, number of the first
    line, lines, folder of the paths, max_pixels)``, parsed here, then ``runs_of`` (a
    module-level function: engines run it where the files are; a file named on several lines
    is read once)."""
    where, first, lines, root, max_pixels = job
    path, probe = _Paths(root), _Probes(max_pixels)
    rows = (row_from_line(PairRow, line, f"{where}:{first + n}") for n, line in enumerate(lines))
    return runs_of(check_row(row, path, probe) for row in rows if row is not None)


def read_checked(manifest: Path, max_pixels: int, engine: Engine = LOCAL) -> tuple[Checks, str]:
    """Every row of the pairs manifest, checked and gathered (``check_lines``: parsed, each
    file's header read and the runs of a photo's rows gathered on ``engine``, stretch by
    stretch; this process only cuts the text), and the manifest's hex SHA-256."""
    lines, digest = read_lines(manifest)
    stretches = range(0, len(lines), ROWS_PER_JOB)
    jobs = [
        (str(manifest), n + 1, lines[n : n + ROWS_PER_JOB], manifest.parent, max_pixels)
        for n in stretches
    ]
    done = engine.map_ordered(check_lines, jobs, 1, describe=lambda job: f"{job[0]}:{job[1]}")
    total = sum(1 for line in lines if line.strip())
    stretches = track(done, "shard: check pairs", total=total, weight=_rows_in)
    return [item for stretch in stretches for item in stretch], digest


def _rows_in(checks: Checks) -> int:
    return sum(len(c.ids) if isinstance(c, RowRun) else 1 for c in checks)


def scene_splits_of(checks: Checks) -> list[tuple[str, str | None]]:
    """``(scene, official split)`` of every row (one per run: its rows share them)."""
    return [
        (c.scene, c.split) if isinstance(c, RowRun) else (c[0].scene, c[0].split) for c in checks
    ]


def validate(
    rows: list[PairRow],
    root: Path,
    scene_split: dict[str, str],
    max_pixels: int,
) -> tuple[list[Sample], list[Reject]]:
    """Group rows by target into photo samples; rejects: bad files, recipes, ids, sizes."""
    path, probe = _Paths(root), _Probes(max_pixels)
    return group_samples(runs_of(check_row(row, path, probe) for row in rows), root, scene_split)


def _reject(row_id: str, files: list[str | None], reason: str, path: _Paths) -> Reject:
    named = [str(path(f)) for f in files if f]
    return Reject(named[0], reason, "shard", {"id": row_id, "files": named})


def group_samples(
    checks: Checks, root: Path, scene_split: dict[str, str]
) -> tuple[list[Sample], list[Reject]]:
    """Group checked rows by target into photo samples (in manifest order); rejects: rows with
    a problem, a duplicate id, a target shared by two scenes.

    Row by row, in manifest order: a row whose id an earlier kept row has is a duplicate;
    else a row with a problem is rejected for it; else a row whose target an earlier kept row
    of another scene has is rejected. A run with none of these is kept whole at once."""
    rejects: list[Reject] = []
    path = _Paths(root)
    seen: set[str] = set()
    groups: dict[Path, list[RowRun]] = {}
    for item in checks:
        if not isinstance(item, RowRun):
            row, problem, _ = item
            reason = f"duplicate id {row.id!r}" if row.id in seen else str(problem)
            rejects.append(_reject(row.id, [row.input, row.target], reason, path))
            continue
        target = path(item.target)
        group = groups.get(target)
        if (
            (group is None or group[0].scene == item.scene)
            and seen.isdisjoint(item.ids)
            and len(set(item.ids)) == len(item.ids)
        ):
            seen.update(item.ids)
            groups.setdefault(target, []).append(item)
            continue
        for k, row_id in enumerate(item.ids):  # row by row
            if row_id in seen:
                reason: str | None = f"duplicate id {row_id!r}"
            elif groups.get(target, [item])[0].scene != item.scene:
                reason = f"target {item.target} is shared by two scenes"
            else:
                reason = None
            if reason is not None:
                rejects.append(_reject(row_id, [item.inputs[k], item.target], reason, path))
                continue
            seen.add(row_id)
            groups.setdefault(target, []).append(_one_row(item, k))
    samples: list[Sample] = []
    keys: Counter[str] = Counter()
    for target, runs in groups.items():
        first = runs[0]
        key = _photo_key([i for run in runs for i in run.ids], first.source, first.target)
        keys[key] += 1
        if keys[key] > 1:
            key = f"{key}-{keys[key]}"
        width, height = first.size
        sample = Sample(
            key, first.scene, first.source, scene_split[first.scene],
            "hash" if first.split is None else "official", target, width, height,
        )  # fmt: skip
        for run in runs:
            for variant, name, stored in zip(run.variants, run.inputs, run.stored, strict=True):
                if stored:
                    assert name is not None
                    variant = dataclasses.replace(variant, input=sample.add_input(path(name)))
                sample.variants.append(variant)
        samples.append(sample)
    return samples, rejects


def _one_row(run: RowRun, k: int) -> RowRun:
    """The ``k``-th row of a run, as a run of one."""
    return dataclasses.replace(
        run,
        ids=run.ids[k : k + 1],
        inputs=run.inputs[k : k + 1],
        variants=run.variants[k : k + 1],
        stored=run.stored[k : k + 1],
    )


def check_not_empty(samples: list[Sample], fractions: dict[str, float], n_scenes: int) -> None:
    """Fail when a split with a positive fraction received no sample."""
    counts = Counter(s.split for s in samples)
    for split in SPLITS:
        if fractions[split] > 0 and counts[split] == 0:
            shown = ", ".join(f"{k} {counts[k]}" for k in SPLITS)
            raise SplitError(
                f"split {split!r} is empty (shard.split.{split} = {fractions[split]}) with "
                f"{n_scenes} scene(s) in all (samples: {shown}); add data with more scenes or "
                f"set shard.split.{split} to 0 and rebalance the other fractions"
            )


# --- the stage --------------------------------------------------------------------------------


def _index(
    samples: list[Sample], shards: list[dict[str, Any]], digest: str, p: DataStageParams
) -> dict:
    by_split: dict[str, list[Sample]] = {s: [x for x in samples if x.split == s] for s in SPLITS}
    return {
        "format": shardfmt.FORMAT_VERSION,
        "manifest_sha256": digest,
        "fractions": to_dict(p.shard.split),
        "seed": p.shard.seed,
        "max_samples": p.shard.max_samples,
        "max_bytes": p.shard.max_bytes,
        "samples": len(samples),
        "pairs": sum(x.pairs for x in samples),
        "shards": shards,
        "counts": {s: len(v) for s, v in by_split.items()},
        "pair_counts": {s: sum(x.pairs for x in v) for s, v in by_split.items()},
        "kinds": {
            s: dict(Counter(var.kind for x in v for var in x.variants)) for s, v in by_split.items()
        },
        "sources": {s: dict(Counter(x.source for x in v)) for s, v in by_split.items()},
        "scenes": {s: sorted({x.scene for x in v}) for s, v in by_split.items()},
    }


def run(
    params: DataStageParams, manifest: str | Path, output: str | Path, strict: bool = False
) -> Summary:
    """Shard the pairs manifest (the file or its folder) into ``output``. Either may be a URL
    (``exposure_core.storage``: worked on through its local mirror; ``index.json`` goes up
    after the tars it lists)."""
    engine = connect(params.engine.name, params.engine.address)
    with (
        storage.local_input(manifest, referenced_files) as local_input,
        storage.local_output(output, "shard", [INDEX_NAME]) as local_output,
    ):
        return _run(params, local_input, local_output, strict, engine)


def referenced_files(local: Path) -> list[str]:
    """The files a pairs manifest (``local`` or the one in it) names, relative to its folder."""
    manifest = local / MANIFEST_NAME if local.is_dir() else local
    if not manifest.is_file():
        return []
    rows = read_jsonl(manifest, PairRow)
    return [name for r in rows for name in (r.input, r.target) if name]


def _run(
    params: DataStageParams, manifest: Path, output: Path, strict: bool, engine: Engine
) -> Summary:
    p = params.shard
    fractions = check_fractions(to_dict(p.split))
    manifest = manifest / MANIFEST_NAME if manifest.is_dir() else manifest
    summary = Summary("shard", unit="samples", rate_key="samples")
    checks, digest = read_checked(manifest, params.io.max_pixels, engine)
    scene_split = assign_splits(scene_splits_of(checks), fractions)
    samples, rejects = group_samples(checks, manifest.parent, scene_split)
    del checks  # the samples hold what is needed of them
    if strict and rejects:
        raise StrictError(f"{rejects[0].path}: {rejects[0].reason}")
    check_not_empty(samples, fractions, len(scene_split))
    samples.sort(key=lambda s: (SPLITS.index(s.split), order_key(p.seed, s.key)))

    key = fingerprint({"shard": to_dict(p), "manifest": digest, "output": str(output.resolve())})
    files = [path for sample in samples for path in (sample.target, *sample.inputs)]
    staged = StagedDir(output, key, "shard", [manifest.parent], files)
    try:
        shards, index = _write(staged, samples, rejects, digest, params, engine)
    except OSError as exc:
        raise staged.write_error(exc) from exc
    staged.commit()

    for split in SPLITS:
        mine = [s for s in shards if s["split"] == split]
        megabytes = sum(s["bytes"] for s in mine) / 1e6
        summary.notes.append(
            f"  {split}: {index['counts'][split]} photos, {index['pair_counts'][split]} pairs, "
            f"{len(index['scenes'][split])} scenes, "
            f"{len(mine)} shard(s), {megabytes:.1f} MB"
        )
    summary.add("samples", len(samples))
    summary.add("pairs", sum(x.pairs for x in samples))
    summary.add("shards", len(shards))
    summary.add("rejected", len(rejects))
    return summary


TARGETS_DIR = ".targets"  # re-encoded targets, in the staging folder until the tars are written


def _store_target(job: tuple[Sample, Path]) -> tuple[int, Members]:
    """``stored_target`` of one sample ``(sample, folder)``; the sample's tar members then
    (``Sample.members``, files as text) and the bytes they add to a tar, worked out here
    rather than by the process planning the tars (a module-level function: engines run it)."""
    sample, folder = job
    target = stored_target(sample.target, folder, sample.key)
    members = dataclasses.replace(sample, target=target).members()
    shipped: Members = [(n, c if isinstance(c, bytes) else str(c)) for n, c in members]
    return members_bytes(members), shipped


def _write_shard(job: tuple[Path, str, int, list[Members]]) -> dict[str, Any]:
    """Write one tar of the samples' members ``(path, split, pairs, members)`` (each tar
    depends on its own samples only); its entry of index.json."""
    path, split, pairs, members = job
    size, digest = write_members(path, members)
    return {
        "name": path.name,
        "split": split,
        "samples": len(members),
        "pairs": pairs,
        "bytes": size,
        "sha256": digest,
    }


def _sample_target(job: tuple[Sample, Path]) -> str:
    return str(job[0].target)


def _first_path(job: tuple[Any, ...]) -> str:
    """How an engine names a job of this stage in an error: the file it is about."""
    return str(job[0])


def _write(
    staged: StagedDir,
    samples: list[Sample],
    rejects: list[Reject],
    digest: str,
    params: DataStageParams,
    engine: Engine,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Write the tars, rejects and index.json into the staging folder."""
    p = params.shard
    folder = staged.path / TARGETS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(s, folder) for s in samples]
    # one worker locally (this process); the cluster's CPUs on the ray engine
    stored = engine.map_ordered(_store_target, jobs, 1, describe=_sample_target)
    members: dict[str, tuple[int, Members]] = {
        sample.key: done
        for sample, done in zip(
            samples, track(stored, "shard: encode targets", total=len(samples)), strict=True
        )
    }
    plan = []
    for split in SPLITS:
        mine = [s for s in samples if s.split == split]
        chunks = plan_shards(mine, p.max_samples, p.max_bytes, [members[s.key][0] for s in mine])
        plan += [(f"{split}-{n:06d}.tar", split, chunk) for n, chunk in enumerate(chunks)]
    jobs = [
        (staged.path / name, split, sum(x.pairs for x in chunk), [members[x.key][1] for x in chunk])
        for name, split, chunk in plan
    ]
    written = engine.map_ordered(_write_shard, jobs, 1, describe=_first_path)
    shards = list(track(written, "shard: write tars", total=len(plan)))
    shutil.rmtree(folder)
    with atomic_open(staged.path / REJECTS_NAME, "w") as handle:
        handle.writelines(row_json(r) + "\n" for r in rejects)
    index = _index(samples, shards, digest, params)
    atomic_write_json(staged.path / INDEX_NAME, index)
    return shards, index
