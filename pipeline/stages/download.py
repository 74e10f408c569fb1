"""``prep download``: fetch every source listed in ``data.sources`` into ``<output>/<source>/``.

Each source folder gets an ``index.jsonl`` (``manifest.SourceItem`` rows) that the filter
stage reads, so later stages never need to know a dataset's folder layout. Archives are
recorded in ``<output>/sources.lock.json`` (``pipeline.sources.integrity``): URL, size, SHA-256, the
server's ETag/Last-Modified and the time. A later run whose archives are all extracted and
verified does no network I/O; a remote file that changed is refused until its lock entry is
deleted. Items left out (unpaired files...) go to ``<output>/rejects.jsonl``. The index of a
source no longer listed is removed (its files stay), so the filter sees exactly these sources.
"""

from __future__ import annotations

from pathlib import Path

from exposure_core.console import Summary
from exposure_core.errors import UserError
from exposure_core.fsutil import check_output_folder, output_lock
from exposure_core.manifest import INDEX_NAME, REJECTS_NAME, write_jsonl
from pipeline.params import DataStageParams
from pipeline.sources import SOURCES, FetchContext


def run(params: DataStageParams, output: Path, strict: bool = False) -> Summary:
    """Fetch the configured sources under ``output`` and write their indexes."""
    check_output_folder(output)  # before any work, and before the lock file beside it
    with output_lock(output, "download"):
        return _run(params, output, strict)


def _run(params: DataStageParams, output: Path, strict: bool) -> Summary:
    unknown = [name for name in params.data.sources if name not in SOURCES]
    if unknown:
        raise UserError(
            f"data.sources: unknown source {unknown[0]!r}; available: {', '.join(SOURCES)}"
        )
    output.mkdir(parents=True, exist_ok=True)
    ctx = FetchContext(params=params, raw_root=output, strict=strict)
    for name in params.data.sources:
        dest = output / name
        dest.mkdir(parents=True, exist_ok=True)
        items = SOURCES[name](ctx, dest)
        write_jsonl(dest / INDEX_NAME, items)
    for stale in sorted(output.glob(f"*/{INDEX_NAME}")):
        if stale.parent.name not in params.data.sources:  # filter reads every index it finds
            stale.unlink()
            ctx.note(f"{stale.parent.name}: not in data.sources any more; its index was removed")
    ctx.lock.save()  # always present, so that it can be tracked beside the data
    write_jsonl(output / REJECTS_NAME, ctx.rejects)
    return ctx.summary
