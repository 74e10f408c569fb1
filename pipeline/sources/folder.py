"""A folder of clean photos (``data.folder.path``), indexed in place without copying; a URL
(``s3://bucket/photos``) is indexed in its local mirror (``exposure_core.storage``)."""

from __future__ import annotations

from pathlib import Path

from exposure_core import storage
from exposure_core.discover import find_photos, folder_items
from exposure_core.errors import UserError
from exposure_core.fsutil import relpath
from exposure_core.manifest import SourceItem
from pipeline.sources.base import FetchContext


def fetch(ctx: FetchContext, dest: Path) -> list[SourceItem]:
    """List the photos (JPEG/PNG/TIFF/WebP/RAW) under ``data.folder.path``.

    Items point at the original files by a path relative to ``dest`` (``../../photos/x.jpg``);
    nothing is copied. The scene is the photo's path relative to the folder without its
    suffix, so a RAW file and the JPEG rendered from it (``IMG_1.CR2``, ``IMG_1.JPG``) are one
    scene. Hidden files are skipped. No official split: later stages assign one by scene.
    """
    spec = ctx.params.data.folder
    if not spec.path:
        raise UserError("data.folder.path is empty: set it to a folder of photos")
    url = storage.is_url(spec.path)
    root = storage.pull(spec.path) if url else Path(spec.path).expanduser()
    if not root.is_dir():
        raise UserError(f"data.folder.path: {root}: no such folder")
    found = find_photos(root, spec.recursive)
    photos = found.photos
    if not photos:
        where = "under" if spec.recursive else "directly in"
        raise UserError(f"data.folder.path: no photos (JPEG/PNG/TIFF/WebP/RAW) {where} {root}")
    for path, why in found.skipped:
        ctx.reject(path, why)
    items = folder_items(root, photos, "folder", lambda photo: relpath(photo, dest))
    ctx.summary.add("photos", len(items))
    return items
