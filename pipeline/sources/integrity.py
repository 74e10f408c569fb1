"""Checksums and ``sources.lock.json``: what each downloaded archive was when first seen.

The lock records, per archive (key ``<source>/<name>``): the URL, the size, the SHA-256 (and
the MD5 when one was checked), the server's ETag and Last-Modified, where the archive was
stored, and when it was fetched. It pins the data: a later download must produce the same
SHA-256, and a server that now describes the file differently (size, ETag, Last-Modified) is
refused before anything is transferred. To accept a changed file, delete its entry from the
lock (or the whole lock) and run again. The lock is rewritten atomically after every change.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from exposure_core.errors import UserError
from exposure_core.fsutil import atomic_write_json
from pipeline.sources.fetch import RemoteInfo, byte_progress

LOCK_NAME = "sources.lock.json"
LOCK_VERSION = 1


class ChecksumError(UserError):
    """A file whose digest differs from the expected one."""


class RemoteChangedError(UserError):
    """A remote file (or its address) that no longer matches what the lock recorded."""


def file_digests(path: Path, algorithms: tuple[str, ...], chunk: int = 1 << 20) -> dict[str, str]:
    """Hex digests of a file for each named algorithm (one pass, with a progress bar)."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    done = 0
    with (
        open(path, "rb") as handle,
        byte_progress(f"verify {path.name}", path.stat().st_size) as show,
    ):
        while block := handle.read(chunk):
            for hasher in hashers.values():
                hasher.update(block)
            done += len(block)
            show(done)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def check_digest(path: str | Path, algorithm: str, expected: str, actual: str, where: str) -> None:
    """Raise ``ChecksumError`` naming the file, both digests and the expected one's origin."""
    expected = expected.strip().lower()
    if expected != actual.lower():
        raise ChecksumError(
            f"{path}: {algorithm} mismatch: expected {expected} ({where}), got {actual}"
        )


def utc_now() -> str:
    """The current time as ISO 8601 UTC, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class LockEntry:
    """One archive as first downloaded (or found locally) and verified."""

    url: str
    size: int
    sha256: str
    fetched_at: str
    path: str  # the archive file, relative to the lock's folder (or the local path given)
    md5: str | None = None
    etag: str | None = None
    last_modified: str | None = None

    def changes(self, info: RemoteInfo) -> list[str]:
        """How ``info`` (from a HEAD request now) differs from what was recorded."""
        found = []
        for name, then, now in (
            ("size", self.size, info.size),
            ("ETag", self.etag, info.etag),
            ("Last-Modified", self.last_modified, info.last_modified),
        ):
            if then is not None and now is not None and then != now:
                found.append(f"{name} {then} -> {now}")
        return found


class SourceLock:
    """``sources.lock.json`` read at start and rewritten atomically on every ``put``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, LockEntry] = {}
        if path.exists():
            self.entries = self._read(path)

    @staticmethod
    def _read(path: Path) -> dict[str, LockEntry]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            names = {f.name for f in fields(LockEntry)}
            return {
                key: LockEntry(**{k: v for k, v in raw.items() if k in names})
                for key, raw in data["archives"].items()
            }
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(
                f"{path}: not a valid sources lock ({exc}); delete it to record the archives again"
            ) from exc

    def get(self, key: str) -> LockEntry | None:
        return self.entries.get(key)

    def put(self, key: str, entry: LockEntry) -> None:
        self.entries[key] = entry
        self.save()

    def save(self) -> None:
        archives = {key: asdict(entry) for key, entry in sorted(self.entries.items())}
        atomic_write_json(self.path, {"version": LOCK_VERSION, "archives": archives})
