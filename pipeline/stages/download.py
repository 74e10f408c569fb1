"""``prep download``: fetch every source listed in ``data.sources`` into ``<output>/<source>/``.

Each source folder gets an ``index.jsonl`` (``manifest.SourceItem`` rows) that the filter
stage reads, so later stages never need to know a dataset's folder layout. Archives are
recorded in ``<output>/sources.lock.json`` (``pipeline.sources.integrity``): URL, size, SHA-256, the
server's ETag/Last-Modified and the time. A later run whose archives are all extracted and
verified does no network I/O; a remote file that changed is refused until its lock entry is
deleted. Items left out (unpaired files...) go to ``<output>/rejects.jsonl``. The index of a
source no longer listed is removed (its files stay), so the filter sees exactly these sources.

``output`` may be a URL (``exposure_core.storage``): the raw folder already in the bucket is
brought into its local mirror first (so a rerun is offline there too), the sources are
fetched into the mirror, and the folder is uploaded, indexes, rejects and lock last. Every
path an index holds must then mean the same in the bucket: a local ``data.folder.path`` or
``data.msec.path`` (indexed in place, outside the output) is refused with a URL output; a
``data.folder.path`` URL in the output's bucket is fine.
"""

from __future__ import annotations

from pathlib import Path

from exposure_core import storage
from exposure_core.console import Summary
from exposure_core.engines import Engine, connect
from exposure_core.errors import UserError
from exposure_core.fsutil import MARKER, atomic_write_text, check_output_folder, output_lock
from exposure_core.manifest import INDEX_NAME, REJECTS_NAME, write_jsonl
from pipeline.params import DataStageParams
from pipeline.sources import SOURCES, FetchContext
from pipeline.sources.integrity import LOCK_NAME


def run(params: DataStageParams, output: str | Path, strict: bool = False) -> Summary:
    """Fetch the configured sources under ``output`` (a path or URL); write their indexes.
    The per-file work (decoding, checking and writing each photo) runs on ``engine.name``."""
    engine = connect(params.engine.name, params.engine.address)  # before anything is written
    if storage.is_url(output):
        return _run_to_url(params, str(output), strict, engine)
    output = Path(output)
    check_output_folder(output)  # before any work, and before the lock file beside it
    with output_lock(output, "download"):
        return _run(params, output, strict, engine)


def check_url_output(params: DataStageParams, url: str) -> None:
    """Refuse, before any work, sources whose index would name files outside the bucket
    of the output ``url`` (read in place from a local folder)."""
    sources = params.data.sources
    where = f"{storage.protocol(url)}://{storage.bucket(url)}"
    folder = params.data.folder.path
    if "folder" in sources and folder:
        same = storage.is_url(folder) and (
            f"{storage.protocol(folder)}://{storage.bucket(folder)}" == where
        )
        if not same:
            raise UserError(
                f"--output {url}: data.folder.path {folder} is indexed in place, outside the "
                f"bucket, so the index would name photos a reader of {where} cannot find; "
                f"use a local --output, or put the photos in {where}/ and name that URL"
            )
    if "msec" in sources and params.data.msec.path:
        raise UserError(
            f"--output {url}: data.msec.path {params.data.msec.path} is a local copy read in "
            "place, outside the bucket, so the index would name files a reader of the bucket "
            "cannot find; use a local --output (or let msec fetch its archives)"
        )


def _run_to_url(params: DataStageParams, url: str, strict: bool, engine: Engine) -> Summary:
    check_url_output(params, url)
    commit = [f"{name}/{INDEX_NAME}" for name in params.data.sources]
    commit += [REJECTS_NAME, LOCK_NAME]
    with storage.local_output(url, "download", commit) as local:
        storage.pull(url, missing_ok=True)  # the raw folder so far: the rerun is offline
        local.mkdir(parents=True, exist_ok=True)
        atomic_write_text(local / MARKER, "download\n")  # lets a later run replace the prefix
        summary = _run(params, local, strict, engine)
    summary.notes.append(f"  copied to {url}")
    return summary


def _run(params: DataStageParams, output: Path, strict: bool, engine: Engine) -> Summary:
    unknown = [name for name in params.data.sources if name not in SOURCES]
    if unknown:
        raise UserError(
            f"data.sources: unknown source {unknown[0]!r}; available: {', '.join(SOURCES)}"
        )
    output.mkdir(parents=True, exist_ok=True)
    ctx = FetchContext(params=params, raw_root=output, strict=strict, engine=engine)
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
