"""Atomic file writes and staged output folders.

A stage never leaves a half-written output: files are written under a temporary name in the
same folder and renamed into place, and whole output folders are built in a sibling staging
folder that replaces the old output only when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open ``path`` for writing under a temporary name; rename into place on success.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        with open(tmp, mode, encoding=None if "b" in mode else "utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + rename)."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w") as handle:
        handle.write(text)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(obj: Any) -> str:
    """A stable short hash of a JSON-serialisable object (key order does not matter)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class StagedDir:
    """Build an output folder next to its final place and swap it in when complete.

    ``<output>.partial/`` holds the work in progress with a ``.fingerprint`` file. A re-run
    with the same fingerprint (same inputs and params) keeps the files already completed there
    (each written atomically), so a killed run resumes; a different fingerprint starts over.
    ``commit()`` replaces ``<output>`` by the staged folder; until then ``<output>`` is untouched.
    """

    FINGERPRINT = ".fingerprint"

    def __init__(self, output: str | Path, key: str) -> None:
        self.output = Path(output)
        self.path = self.output.with_name(self.output.name + ".partial")
        self.key = key
        stamp = self.path / self.FINGERPRINT
        if self.path.exists() and (
            not stamp.exists() or stamp.read_text(encoding="utf-8").strip() != key
        ):
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(stamp, key + "\n")

    def commit(self) -> Path:
        """Swap the staged folder into place and return the final output path."""
        (self.path / self.FINGERPRINT).unlink(missing_ok=True)
        self.output.parent.mkdir(parents=True, exist_ok=True)
        old = None
        if self.output.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{self.output.name}.old-", dir=self.output.parent))
            os.replace(self.output, old / self.output.name)
        os.replace(self.path, self.output)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.output


def relpath(path: str | Path, start: str | Path) -> str:
    """``path`` relative to the folder ``start``, with forward slashes (manifest convention)."""
    return Path(os.path.relpath(Path(path).resolve(), Path(start).resolve())).as_posix()
