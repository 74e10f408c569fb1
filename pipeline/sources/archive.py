"""Safe extraction of tar (plain, gzip, bzip2, xz) and zip archives.

Nothing lands outside the target folder: members with an absolute path, a ``..`` component,
a link of any kind (symbolic or hard), a device file or a FIFO are refused with an
``ArchiveError`` naming the member and the reason; so is an archive that unpacks to more than
``max_bytes`` (zip bombs). Files are written by this module, never by ``tarfile.extract``, so
the checks do not depend on the Python patch version. Extraction goes into a temporary sibling
folder renamed into place when complete: a refused or broken archive leaves no extracted file.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO

from exposure_core.errors import UserError

STAMP_NAME = ".complete"  # written last, so a folder holding it was extracted completely
DEFAULT_MAX_BYTES = 1 << 40
_DRIVE = re.compile(r"^[A-Za-z]:")


class ArchiveError(UserError):
    """An archive refused (unsafe member, too large) or unreadable, naming the member."""

    def __init__(self, archive: str | Path, member: str | None, reason: str) -> None:
        where = f"{archive}: member {member!r}" if member is not None else str(archive)
        super().__init__(f"{where}: {reason}")
        self.archive, self.member, self.reason = str(archive), member, reason


def safe_member_path(name: str) -> PurePosixPath | None:
    """The relative path a member may be written to; ``None`` for the archive's root itself.

    Backslashes count as separators (archives made on Windows). Raises ``ValueError`` with
    the reason for an absolute path or a ``..`` component.
    """
    text = name.replace("\\", "/")
    if text.startswith("/") or _DRIVE.match(text):
        raise ValueError("absolute path")
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ValueError("'..' path component (would leave the target folder)")
    return PurePosixPath(*parts) if parts else None


class _Writer:
    """Writes members under ``root``, counting bytes against the limit."""

    def __init__(self, archive: Path, root: Path, max_bytes: int) -> None:
        self.archive, self.root, self.max_bytes = archive, root, max_bytes
        self.written = 0
        self.files = 0

    def path(self, name: str) -> Path | None:
        try:
            rel = safe_member_path(name)
        except ValueError as exc:
            raise ArchiveError(self.archive, name, f"refused: {exc}") from exc
        if rel is None:
            return None
        dest = self.root.joinpath(*rel.parts)
        if os.path.commonpath([self.root, dest]) != str(self.root):  # belt and braces
            raise ArchiveError(self.archive, name, "refused: resolves outside the target folder")
        return dest

    def file(self, name: str, source: IO[bytes], size: int, chunk: int = 1 << 20) -> None:
        dest = self.path(name)
        if dest is None:
            raise ArchiveError(self.archive, name, "refused: a file at the archive root path")
        dest.parent.mkdir(parents=True, exist_ok=True)
        done = 0
        with open(dest, "wb") as handle:
            while block := source.read(chunk):
                self.written += len(block)
                if self.written > self.max_bytes:
                    raise ArchiveError(
                        self.archive, name, f"refused: unpacks to more than {self.max_bytes} bytes"
                    )
                handle.write(block)
                done += len(block)
        if done != size:
            raise ArchiveError(self.archive, name, f"truncated: {done} of {size} bytes")
        self.files += 1

    def folder(self, name: str) -> None:
        dest = self.path(name)
        if dest is not None:
            dest.mkdir(parents=True, exist_ok=True)


def _tar_kind(member: tarfile.TarInfo) -> str | None:
    """Why a tar member that is not a plain file or folder is refused (None when it is one)."""
    if member.issym():
        return f"refused: symbolic link (to {member.linkname!r})"
    if member.islnk():
        return f"refused: hard link (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return "refused: device file"
    if member.isfifo():
        return "refused: FIFO"
    if not (member.isfile() or member.isdir()):
        return f"refused: unsupported member type {member.type!r}"
    return None


_COMPRESSED = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open), (b"\xfd7zXZ\x00", lzma.open))


def _open_stream(path: Path) -> IO[bytes]:
    """The archive's decompressed bytes (gzip, bzip2, xz or none, told by the magic bytes)."""
    with open(path, "rb") as handle:
        magic = handle.read(6)
    for prefix, opener in _COMPRESSED:
        if magic.startswith(prefix):
            return opener(path, "rb")  # type: ignore[operator, no-any-return]
    return open(path, "rb")


def _extract_tar(writer: _Writer) -> None:
    # One pass, front to back. Decompressing here rather than in tarfile lets the stream be
    # read to its end, where gzip/bzip2/xz check their own integrity: tarfile alone accepts
    # an archive truncated after its last member.
    with _open_stream(writer.archive) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        while (member := tar.next()) is not None:
            tar.members.clear()  # keeps memory flat on archives with millions of members
            reason = _tar_kind(member)
            if reason is not None:
                writer.path(member.name)  # an unsafe path is the more useful reason
                raise ArchiveError(writer.archive, member.name, reason)
            if member.isdir():
                writer.folder(member.name)
                continue
            source = tar.extractfile(member)
            assert source is not None  # a regular file always has contents
            writer.file(member.name, source, member.size)
        while stream.read(1 << 20):
            pass


def _extract_zip(writer: _Writer) -> None:
    with zipfile.ZipFile(writer.archive) as archive:
        infos = archive.infolist()
        total = sum(info.file_size for info in infos)
        if total > writer.max_bytes:
            raise ArchiveError(
                writer.archive, None, f"refused: unpacks to {total} bytes > {writer.max_bytes}"
            )
        for info in infos:
            writer.path(info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ArchiveError(writer.archive, info.filename, "refused: symbolic link")
            if info.is_dir():
                writer.folder(info.filename)
                continue
            if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
                raise ArchiveError(writer.archive, info.filename, "refused: special file")
            if info.flag_bits & 0x1:
                raise ArchiveError(writer.archive, info.filename, "refused: encrypted")
            with archive.open(info) as source:
                writer.file(info.filename, source, info.file_size)


def extract(
    archive: Path, target: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, stamp: str | None = None
) -> int:
    """Extract ``archive`` (zip or tar, any compression) into the new folder ``target``.

    ``stamp`` is written to ``target/.complete`` just before the folder is renamed into place.
    Returns the number of files written. Raises ``FileExistsError`` when ``target`` exists and
    ``ArchiveError`` for an unsafe, oversized or unreadable archive (no files are left then).
    """
    archive, target = Path(archive), Path(target)
    if target.exists():
        raise FileExistsError(f"{target}: already exists; remove it to extract {archive} again")
    if zipfile.is_zipfile(archive):
        kind = _extract_zip
    elif tarfile.is_tarfile(archive):
        kind = _extract_tar
    else:
        raise ArchiveError(archive, None, "not a zip or tar archive")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.extracting-", dir=target.parent))
    try:
        writer = _Writer(archive, tmp.resolve(), max_bytes)
        try:
            kind(writer)
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError) as exc:
            raise ArchiveError(archive, None, f"broken archive ({exc})") from exc
        except OSError as exc:  # bad gzip magic, or the disk
            raise ArchiveError(archive, None, f"cannot extract ({exc})") from exc
        if stamp is not None:
            (tmp / STAMP_NAME).write_text(stamp, encoding="utf-8")
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return writer.files


def read_stamp(folder: Path) -> str | None:
    """The stamp of a completely extracted folder, or ``None`` when it has none."""
    stamp = folder / STAMP_NAME
    return stamp.read_text(encoding="utf-8") if stamp.is_file() else None
