"""``prep export``: plain WebDataset pair shards from ``prep shard``'s, for any training loop.

Each photo sample of the input becomes one sample per pair (``exposure_core.pairexport``: the
input rendered by the training loader's own call, the target, the recipe as JSON), each split
in its own shards, ``{split}-NNNNNN.tar``, plus ``index.json`` (``format``
``plain-pairs-1``, each tar's split, pair count, size and sha256). The input's shards are
checked against their ``index.json`` before anything is written (sha256; a corrupt one fails
the run, naming it).
Photos are taken in the index's shard order and each shard's sample order, pairs in their
sample's order, so the same shards give byte-identical tars whatever the worker count.
Everything is built in ``<output>.partial/`` and swapped in at the end.

Either folder may be a URL (``exposure_core.storage``): the input's index and tars are
fetched into its mirror; the output is built in its own mirror and uploaded, ``index.json``
last, so a reader never finds an index naming a tar not yet there.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from exposure_core import shardfmt, storage
from exposure_core.console import Summary, track
from exposure_core.errors import UserError
from exposure_core.fsutil import (
    StagedDir,
    atomic_write_json,
    fingerprint,
    sha256_file,
)
from exposure_core.manifest import SPLITS
from exposure_core.pairexport import ExportedPhoto, ExportOptions, export_photo
from exposure_core.parallel import map_ordered
from exposure_core.shardwrite import TarSeries

MAX_PAIRS = 1000  # pairs per exported shard (the CLI's default)
MAX_BYTES = 1 << 28  # bytes per exported shard (256 MiB; the CLI's default)

_Item = tuple[dict[str, Any], str, ExportOptions]


def _export(item: _Item) -> ExportedPhoto:
    """One photo's pairs (a worker's unit of work)."""
    return export_photo(*item)


def _items(shards: Path, check: shardfmt.ShardCheck, options: ExportOptions) -> Iterator[_Item]:
    for entry in check.usable:
        path = shards / str(entry["name"])
        try:
            for members in shardfmt.iter_tar(path, entry.get("samples")):
                yield members, f"{path}:{members['__key__']}", options
        except shardfmt.CorruptShardError as exc:
            raise UserError(str(exc)) from exc


def _refuse_shard_folder(output: str | Path) -> None:
    """An output folder (or URL) holding ``prep shard``'s shards is not replaced by plain
    pairs."""
    if storage.is_url(output):
        index_url = storage.join(str(output), shardfmt.INDEX_NAME)
        with tempfile.TemporaryDirectory(prefix="export-index-") as folder:
            copy = Path(folder) / shardfmt.INDEX_NAME
            if storage.download_file(index_url, copy):
                _refuse_shard_index(output, copy, index_url)
        return
    index = Path(output) / shardfmt.INDEX_NAME
    _refuse_shard_index(output, index, index)


def _refuse_shard_index(output: str | Path, index: Path, shown: str | Path) -> None:
    try:
        found = json.loads(index.read_text(encoding="utf-8")).get("format")
    except (OSError, ValueError, AttributeError):
        return
    if found == shardfmt.FORMAT_VERSION:
        raise UserError(
            f"--output {output}: holds the shards of `prep shard` ({shown}), which the export "
            "reads; choose another folder (e.g. data/export)"
        )


def run(
    shards: str | Path,
    output: str | Path,
    options: ExportOptions | None = None,
    workers: int = 1,
    max_pairs: int = MAX_PAIRS,
    max_bytes: int = MAX_BYTES,
    verify: bool = True,
) -> Summary:
    """Export every split of the shard folder ``shards`` into ``output`` (paths or URLs)."""
    options = options or ExportOptions()
    if storage.is_url(output):
        _refuse_shard_folder(output)  # before any work: the prefix's own index, not a mirror
    with storage.local_output(output, "export", [shardfmt.INDEX_NAME]) as local:
        local_shards = shardfmt.local_shards(shards, SPLITS)
        return _run(local_shards, local, options, workers, max_pairs, max_bytes, verify)


def _run(
    shards: Path,
    output: Path,
    options: ExportOptions,
    workers: int,
    max_pairs: int,
    max_bytes: int,
    verify: bool,
) -> Summary:
    index = shardfmt.read_index(shards)  # a plain pair folder is named as such here
    _refuse_shard_folder(output)
    splits = [s for s in SPLITS if any(e.get("split") == s for e in index["shards"])]
    quality = options.quality if options.input_format == "jpg" else None
    settings = {"input_format": options.input_format, "quality": quality}
    settings |= {"max_pairs": max_pairs, "max_bytes": max_bytes}
    digest = sha256_file(shards / shardfmt.INDEX_NAME)
    key = fingerprint({"export": settings, "index": digest, "output": str(output.resolve())})
    staged = StagedDir(output, key, "export", [shards])
    summary = Summary("export", unit="pairs", rate_key="pairs")
    written: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    checks = {s: shardfmt.check_shards(shards, s, verify, max_corrupt=0.0) for s in splits}
    try:
        for split, check in checks.items():
            items = _items(shards, check, options)
            photos = map_ordered(_export, items, workers, describe=lambda item: item[1])
            with TarSeries(staged.path, split, max_pairs, max_bytes) as tars:
                for photo in track(photos, f"export: {split}", total=_total(check)):
                    for pair in photo.pairs:
                        tars.add(pair)
                    counts[split] += len(photo.pairs)
                    summary.add("photos")
                    summary.notes += [f"[yellow]skipped:[/yellow] {bad}" for bad in photo.bad]
                    if photo.bad:
                        summary.add("skipped", len(photo.bad))
            written += [e | {"split": split, "pairs": e["samples"]} for e in tars.written]
        atomic_write_json(
            staged.path / shardfmt.INDEX_NAME,
            {
                "format": shardfmt.PLAIN_FORMAT,
                "source_index_sha256": digest,
                **settings,
                "pairs": sum(counts.values()),
                "pair_counts": {s: counts[s] for s in splits},
                "shards": written,
            },
        )
    except OSError as exc:
        raise staged.write_error(exc) from exc
    staged.commit()
    summary.add("pairs", sum(counts.values()))
    summary.add("shards", len(written))
    for split in splits:
        mine = [e for e in written if e["split"] == split]
        megabytes = sum(e["bytes"] for e in mine) / 1e6
        summary.notes.append(
            f"  {split}: {counts[split]} pairs, {len(mine)} shard(s), {megabytes:.1f} MB"
        )
    return summary


def _total(check: shardfmt.ShardCheck) -> int:
    """Photo samples in a split's usable shards (for the progress bar)."""
    return sum(int(e.get("samples", 0)) for e in check.usable)
