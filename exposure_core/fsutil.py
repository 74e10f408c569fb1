"""Atomic file writes and staged output folders.

A stage never leaves a half-written output: files are written under a temporary name in the
same folder and renamed into place, and whole output folders are built in a sibling staging
folder that replaces the old output only when complete. One run writes an output at a time
(``output_lock``): a second one is refused before it touches anything.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from exposure_core.errors import UserError

TEMP_SUFFIX = ".tmp"  # every temporary file is ``.<name>.<pid>.tmp`` (see ``.dvcignore``)
MARKER = ".prep-output"  # in every folder a stage writes: the stage may replace it
LOCK_SUFFIX = ".lock"  # ``.<output>.lock`` beside an output while a stage writes it


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")


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
        move_into_place(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def move_into_place(src: str | Path, dest: str | Path) -> None:
    """Rename the complete file ``src`` onto ``dest`` (same folder) in one step: a reader sees
    the old ``dest`` or the new one, never a part of it. ``atomic_open`` ends with it; a file
    that outlives one process before it is complete (a resumable download) is renamed with it
    once whole."""
    os.replace(src, dest)


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


class OutputError(UserError):
    """The output cannot be placed or written (overlaps an input, a foreign folder, a full disk).

    The message names the path and says what was left untouched.
    """


class OutputWriteError(OutputError):
    """Writing the output failed (disk full, permissions): an OS error, hence exit code 1."""

    exit_code = 1


class OutputBusyError(OutputError):
    """Another run is writing the same output. Not a mistake in the command (the same command
    succeeds once that run ends), hence exit code 1, as for other failures of the moment."""

    exit_code = 1


def lock_path(output: str | Path) -> Path:
    """``<parent>/.<name>.lock``: the lock file of ``output`` (its parent resolved, so two
    spellings of one folder share one lock)."""
    out = Path(output)
    if out.name in ("", ".", ".."):
        out = out.resolve()
    return out.parent.resolve() / f".{out.name or 'root'}{LOCK_SUFFIX}"


def _holder(fd: int) -> tuple[str, str]:
    """``pid N`` and stage of the run holding the lock file ``fd``, as it wrote them."""
    text = ""
    for _ in range(20):  # the holder writes its pid just after taking the lock
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 200).decode("utf-8", "replace").strip()
        if text:
            break
        time.sleep(0.02)
    pid, _, stage = text.partition(" ")
    return f"pid {pid}" if pid.isdigit() else "pid unknown", stage


@contextmanager
def output_lock(output: str | Path, stage: str) -> Iterator[Path]:
    """Hold the lock of ``output`` while a stage writes it; refuse if another run holds it.

    The lock is ``fcntl.flock`` on ``lock_path(output)``, which the kernel drops when the
    process ends, so a killed run (even ``kill -9``) never leaves a stale lock; the file itself
    is removed on release. A second run raises ``OutputBusyError`` naming the output and the
    holder's pid before it reads or writes anything of the output or its staging folder.
    """
    path = lock_path(output)
    made: list[Path] = [p for p in reversed(path.parents) if not p.exists()]
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # a parent made by a run that just ended was removed
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                os.close(fd)
                raise
            pid, other = _holder(fd)
            os.close(fd)
            raise OutputBusyError(
                f"another prep {other or stage} is writing {output} ({pid}): nothing was "
                "touched; run again when it has finished"
            ) from None
        try:  # the file may have been removed by the run releasing it meanwhile: lock anew
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {stage}\n".encode())
        yield path
    finally:
        path.unlink(missing_ok=True)  # still locked: a run that opened it sees a removed file
        os.close(fd)
        for folder in reversed(made):  # folders made only for the lock of a refused output
            try:
                folder.rmdir()
            except OSError:
                break


def unshare(root: Path) -> int:
    """Give each file under ``root`` its own bytes before it is appended to or rewritten in
    place: a hard link or a symlink (how DVC's cache puts a cached output into the workspace,
    ``.dvc/config`` ``cache.type``) is replaced by a private, writable copy, so writing the
    file never changes the cache behind it (what ``dvc unprotect`` does). Returns the count."""
    replaced = 0
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            if is_temp_name(name) or not (path.is_symlink() or path.stat().st_nlink > 1):
                continue
            with open(path, "rb") as src, atomic_open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)
            replaced += 1
    return replaced


def is_temp_name(name: str) -> bool:
    """True for the names ``atomic_open`` writes before renaming (``.<name>.<pid>.tmp``)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def remove_temp_files(root: Path) -> int:
    """Delete temporary files a killed writer left anywhere under ``root``; returns the count."""
    removed = 0
    for folder, _, files in os.walk(root):
        for name in files:
            if is_temp_name(name):
                (Path(folder) / name).unlink(missing_ok=True)
                removed += 1
    return removed


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output(
    output: Path, inputs: Iterable[Path] = (), files: Iterable[Path] = (), flag: str = "--output"
) -> None:
    """Refuse an output folder that would destroy its inputs when replaced.

    ``inputs`` are folders read by the stage: the output may not be one of them, contain one or
    lie inside one. ``files`` are individual inputs (photos a manifest points at): none may lie
    inside the output. Raises ``OutputError`` naming both paths.
    """
    out = Path(output).resolve()
    for given in inputs:
        folder = Path(given).resolve()
        if out == folder:
            raise OutputError(f"{flag} {output} is the input folder {given}: choose another folder")
        if _inside(folder, out):
            raise OutputError(
                f"{flag} {output} contains the input {given}: replacing it would delete the "
                "input; choose a folder outside it"
            )
        if _inside(out, folder):
            raise OutputError(
                f"{flag} {output} lies inside the input folder {given}: choose a folder outside it"
            )
    files = list(files)
    top = os.path.normcase(str(out))
    below = top.rstrip(os.sep) + os.sep
    for given, real in zip(files, real_paths(files), strict=True):
        real = os.path.normcase(real)
        if real == top or real.startswith(below):
            raise OutputError(
                f"{flag} {output} contains the input file {given}: replacing it would delete "
                "the file; choose another folder"
            )


def real_paths(paths: Iterable[str | Path]) -> Iterator[str]:
    """``Path.resolve()`` of each path, as text; the folder of a file that is no link is
    resolved once for all the files in it (a manifest names thousands in one folder), so a
    file costs one ``lstat`` rather than one per component of its path."""
    folders: dict[str, str] = {}
    for given in paths:
        text = os.fspath(given)
        head, name = os.path.split(text)
        if name in ("", ".", "..") or os.path.islink(text):
            yield str(Path(text).resolve())
            continue
        real = folders.get(head)
        if real is None:
            real = folders[head] = str(Path(head or ".").resolve())
        yield os.path.join(real, name)


def check_output_folder(output: Path) -> None:
    """Refuse an output path that exists and is not a folder (a file, a FIFO)."""
    if (output.exists() or output.is_symlink()) and not output.is_dir():
        raise OutputError(f"{output}: not a folder")


def check_replaceable(folder: Path, what: str = "--output") -> None:
    """Refuse to replace a non-empty folder that no stage wrote (it lacks the ``MARKER`` file)."""
    folder = Path(folder)
    if folder.is_symlink():
        raise OutputError(
            f"{what} {folder}: is a symbolic link, which replacing would turn into a plain "
            f"folder here; give the folder it points to ({folder.resolve()}) instead"
        )
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{what} {folder}: not a folder; choose another path")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / MARKER).is_file():
        raise OutputError(
            f"{what} {folder}: a non-empty folder this command did not write (no {MARKER} "
            "file); it was left untouched. Choose a new or empty folder, or delete it first"
        )


def child_path(root: Path, name: str, key: str) -> Path:
    """``root / name`` for a single folder or file ``name`` taken from params (``key``).

    Refuses an empty name, separators, ``.``/``..`` and anything that resolves outside ``root``,
    so no params value can make a stage write or delete outside its folder.
    """
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
        or Path(name).is_absolute()
    ):
        raise OutputError(
            f"{key}: {name!r} must be a plain name (no '/', '..' or absolute path): it "
            f"becomes a folder under {root}"
        )
    path = Path(root) / name
    if not _inside(path.resolve(), Path(root).resolve()):
        raise OutputError(f"{key}: {name!r} resolves outside {root}")
    return path


class StagedDir:
    """Build an output folder next to its final place and swap it in when complete.

    ``<output>.partial/`` holds the work in progress with a ``.fingerprint`` file. A re-run
    with the same fingerprint (same inputs and params) keeps the files already completed there
    (each written atomically; temporary files of a killed run are deleted), so a killed run
    resumes; a different fingerprint starts over. ``commit()`` replaces ``<output>`` by the
    staged folder; until then ``<output>`` is untouched.

    Before anything is written, ``output`` is checked against ``inputs`` and ``files``
    (``check_output``), and an existing non-empty ``output`` (or staging folder) must carry the
    ``MARKER`` file that every staged output gets (``check_replaceable``).
    """

    FINGERPRINT = ".fingerprint"

    def __init__(
        self,
        output: str | Path,
        key: str,
        stage: str = "",
        inputs: Iterable[Path] = (),
        files: Iterable[Path] = (),
    ) -> None:
        self.output = Path(output)
        check_output(self.output, inputs, files)
        check_replaceable(self.output)
        if _inside(Path.cwd().resolve(), self.output.resolve()):
            raise OutputError(
                f"--output {output} contains the current folder, which replacing it would "
                "delete; choose another folder"
            )
        self.path = self.output.with_name(self.output.name + ".partial")
        self.key = key
        self.stage = stage
        stamp = self.path / self.FINGERPRINT
        if self.path.is_dir() and any(self.path.iterdir()) and not stamp.is_file():
            raise OutputError(
                f"{self.path}: a non-empty folder without a {self.FINGERPRINT} file is in the "
                f"place of {self.output}'s staging folder; it was left untouched. Move it away"
            )
        if self.path.exists() and (
            not stamp.exists() or stamp.read_text(encoding="utf-8").strip() != key
        ):
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        remove_temp_files(self.path)  # a killed run's half-written files never reach the output
        atomic_write_text(stamp, key + "\n")
        atomic_write_text(self.path / MARKER, (stage or "prep") + "\n")

    def commit(self) -> Path:
        """Swap the staged folder into place and return the final output path."""
        check_replaceable(self.output)
        remove_temp_files(self.path)
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

    def write_error(self, exc: OSError) -> OutputWriteError:
        """A fatal error for a failed write: what failed, and that nothing was replaced."""
        where = f"{exc.filename}: " if exc.filename else ""
        return OutputWriteError(
            f"{where}cannot write ({exc.strerror or exc}); {self.output} was left as it was and "
            f"the finished files stay in {self.path}: fix the cause and run again to resume"
        )


def relpath(path: str | Path, start: str | Path) -> str:
    """``path`` relative to the folder ``start``, with forward slashes (manifest convention)."""
    return Path(os.path.relpath(Path(path).resolve(), Path(start).resolve())).as_posix()
