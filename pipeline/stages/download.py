"""``prep download``: fetch every source listed in ``data.sources`` into ``<output>/<source>/``.

Each source folder gets an ``index.jsonl`` (``manifest.SourceItem`` rows) that the filter
stage reads, so later stages never need to know a dataset's folder layout.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.manifest import INDEX_NAME, REJECTS_NAME, write_jsonl
from pipeline.params import Params
from pipeline.report import Summary
from pipeline.sources import SOURCES, FetchContext


def run(params: Params, output: Path, strict: bool = False) -> Summary:
    """Fetch the configured sources under ``output`` and write their indexes."""
    unknown = [name for name in params.data.sources if name not in SOURCES]
    if unknown:
        raise ValueError(
            f"data.sources: unknown source {unknown[0]!r}; available: {', '.join(SOURCES)}"
        )
    ctx = FetchContext(params=params, raw_root=output, strict=strict)
    for name in params.data.sources:
        dest = output / name
        dest.mkdir(parents=True, exist_ok=True)
        items = SOURCES[name](ctx, dest)
        write_jsonl(dest / INDEX_NAME, items)
    write_jsonl(output / REJECTS_NAME, ctx.rejects)
    return ctx.summary
