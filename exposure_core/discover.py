"""Find the items a stage works on: from source indexes when present, else a photo folder
(``find_photos``: the one set of rules for which files in a folder are photos)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from exposure_core import imageio
from exposure_core.errors import UserError
from exposure_core.manifest import INDEX_NAME, SourceItem, check_distinct_ids, path_id, read_jsonl

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


def is_hidden(name: str) -> bool:
    """Hidden files and folders and macOS resource forks (``__MACOSX/``, ``._x.jpg``): never
    photos, never searched."""
    return name.startswith(".") or name == "__MACOSX"


def _walk(root: Path, recursive: bool) -> Iterator[tuple[Path, list[str], list[str]]]:
    """``os.walk`` without hidden entries, folders in sorted order; linked folders are listed
    but not entered; with ``recursive`` False, ``root`` alone."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        yield Path(folder), list(dirs), [f for f in files if not is_hidden(f)]
        if not recursive:
            dirs[:] = []


@dataclass(frozen=True)
class PhotoWalk:
    """What ``find_photos`` found: photos, symbolic link loops, and ``problems``: entries named
    like photos that cannot be read as files (a dangling link, a FIFO), each with the reason.
    A stage records loops and problems as rejects (``skipped``) instead of dropping them
    silently. All sorted."""

    photos: list[Path]
    loops: list[Path]
    problems: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def skipped(self) -> list[tuple[Path, str]]:
        """Every entry passed over, with its reason, sorted by path."""
        return sorted([(loop, LOOP_REASON) for loop in self.loops] + self.problems)


def find_photos(root: Path, recursive: bool = True) -> PhotoWalk:
    """The one way photos are found in a folder.

    Photos are files with an ``imageio.is_image`` suffix (JPEG/PNG/TIFF/WebP/RAW), under
    ``root`` (``recursive``) or directly in it. Hidden files and folders (``.x``, macOS
    ``._x.jpg`` and ``__MACOSX/``) are skipped; linked files count, linked folders are not
    entered; link loops, and photo names that are no readable file (``imageio.file_problem``:
    a dangling link, a FIFO), are returned apart. Paths start with ``root``, sorted.
    """
    photos: list[Path] = []
    loops: list[Path] = []
    problems: list[tuple[Path, str]] = []
    for folder, dirs, files in _walk(root, recursive):
        for name in dirs + files:
            path = folder / name
            if is_symlink_loop(path):
                loops.append(path)
            elif name in files and imageio.is_image(name):
                problem = imageio.file_problem(path)
                if problem is None:
                    photos.append(path)
                else:
                    problems.append((path, problem))
    return PhotoWalk(sorted(photos), sorted(loops), sorted(problems))


def find_dirs(root: Path, name: str) -> list[Path]:
    """Folders under ``root`` (itself included) named ``name``, case-insensitively, sorted;
    hidden folders are not searched."""
    found = [root] if root.name.lower() == name.lower() else []
    for folder, dirs, _ in _walk(root, recursive=True):
        found.extend(folder / d for d in dirs if d.lower() == name.lower())
    return sorted(found)


def skipped_entries(input_dir: Path) -> list[tuple[Path, str]]:
    """The entries of a plain photo folder passed over, with reasons (``PhotoWalk.skipped``:
    link loops, dangling links, FIFOs); none when the folder holds source indexes."""
    return discover_all(input_dir)[1]


def _indexes(input_dir: Path) -> list[Path]:
    return sorted(input_dir.glob(INDEX_NAME)) + sorted(input_dir.glob(f"*/{INDEX_NAME}"))


def discover(input_dir: Path) -> list[tuple[SourceItem, Path]]:
    """Items under ``input_dir``: from source indexes when present, else a plain photo folder.

    Returns (item, root) pairs, root being the folder the item's paths are relative to.
    """
    return discover_all(input_dir)[0]


def discover_all(
    input_dir: Path,
) -> tuple[list[tuple[SourceItem, Path]], list[tuple[Path, str]]]:
    """``discover`` and ``skipped_entries`` of ``input_dir`` from one walk of the folder."""
    if not input_dir.is_dir():
        raise UserError(f"{input_dir}: no such folder")
    indexes = _indexes(input_dir)
    if indexes:
        listed = [(i, index.parent) for index in indexes for i in read_jsonl(index, SourceItem)]
        return listed, []
    walk = find_photos(input_dir)
    shown = lambda p: p.relative_to(input_dir).as_posix()  # noqa: E731
    items = folder_items(input_dir, walk.photos, "folder", shown)
    return [(item, input_dir) for item in items], walk.skipped


def folder_items(
    root: Path, photos: list[Path], source: str, shown: Callable[[Path], str]
) -> list[SourceItem]:
    """The items of photos found under ``root``, their path ``shown(photo)`` and their scene
    ``<source>-<path_id(path below root, no suffix)>`` (a RAW file and its JPEG share one).
    The one way sources and stages name photos of a folder; a clash of ids names both files."""
    texts = [p.relative_to(root).with_suffix("").as_posix() for p in photos]
    scenes = [f"{source}-{path_id(text)}" for text in texts]
    check_distinct_ids(zip(scenes, texts, map(str, photos), strict=True))
    return [SourceItem(source, s, shown(p)) for s, p in zip(scenes, photos, strict=True)]
