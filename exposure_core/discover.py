"""Find the items a stage works on: from source indexes when present, else a photo folder."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from exposure_core import imageio
from exposure_core.errors import UserError
from exposure_core.manifest import INDEX_NAME, SourceItem, read_jsonl, slug

LOOP_REASON = "symbolic link loop (not followed)"


def is_symlink_loop(path: Path) -> bool:
    """True for a link that cannot be resolved (``ELOOP``) or that points at a folder above it."""
    if not path.is_symlink():
        return False
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # Python < 3.13 raises RuntimeError on loops
        return isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP
    parent = path.parent.resolve()
    return target.is_dir() and (target == parent or target in parent.parents)


def walk_photos(root: Path) -> tuple[list[Path], list[Path]]:
    """Photos under ``root`` (sorted; linked folders are not followed) and the symbolic link
    loops found on the way (sorted), which a stage records as rejects instead of skipping."""
    photos: list[Path] = []
    loops: list[Path] = []
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            if is_symlink_loop(path):
                loops.append(path)
            elif name in files and imageio.is_image(path) and path.is_file():
                photos.append(path)
    return sorted(photos), sorted(loops)


def symlink_loops(input_dir: Path) -> list[Path]:
    """The link loops of a plain photo folder (none when the folder holds source indexes)."""
    if not input_dir.is_dir() or _indexes(input_dir):
        return []
    return walk_photos(input_dir)[1]


def _indexes(input_dir: Path) -> list[Path]:
    return sorted(input_dir.glob(INDEX_NAME)) + sorted(input_dir.glob(f"*/{INDEX_NAME}"))


def discover(input_dir: Path) -> list[tuple[SourceItem, Path]]:
    """Items under ``input_dir``: from source indexes when present, else a plain photo folder.

    Returns (item, root) pairs, root being the folder the item's paths are relative to.
    """
    if not input_dir.is_dir():
        raise UserError(f"{input_dir}: no such folder")
    indexes = _indexes(input_dir)
    if indexes:
        return [(item, index.parent) for index in indexes for item in read_jsonl(index, SourceItem)]
    photos, _ = walk_photos(input_dir)
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
