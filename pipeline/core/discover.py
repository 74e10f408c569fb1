"""Find the items a stage works on: from source indexes when present, else a photo folder."""

from __future__ import annotations

from pathlib import Path

from pipeline.core import imageio
from pipeline.core.manifest import INDEX_NAME, SourceItem, read_jsonl, slug
from pipeline.errors import UserError


def discover(input_dir: Path) -> list[tuple[SourceItem, Path]]:
    """Items under ``input_dir``: from source indexes when present, else a plain photo folder.

    Returns (item, root) pairs, root being the folder the item's paths are relative to.
    """
    if not input_dir.is_dir():
        raise UserError(f"{input_dir}: no such folder")
    indexes = sorted(input_dir.glob(INDEX_NAME)) + sorted(input_dir.glob(f"*/{INDEX_NAME}"))
    if indexes:
        return [(item, index.parent) for index in indexes for item in read_jsonl(index, SourceItem)]
    photos = sorted(p for p in input_dir.rglob("*") if p.is_file() and imageio.is_image(p))
    return [
        (
            SourceItem(
                "folder",
                "folder-" + slug(p.relative_to(input_dir).with_suffix("").as_posix()),
                p.relative_to(input_dir).as_posix(),
            ),
            input_dir,
        )
        for p in photos
    ]
