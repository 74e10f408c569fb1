"""Fetch, verify and extract one source archive, recording it in ``sources.lock.json``.

The archive of ``<source>/<name>`` is downloaded to ``<source>/archives/`` (a ``file://`` URL or
a plain path is used in place), checked against the SHA-256/MD5 given in params and against
the SHA-256 the lock recorded earlier, then extracted into ``<source>/<name>/``. The extracted
folder carries the archive's SHA-256 in its ``.complete`` stamp, so a later run that finds the
stamp equal to the lock's SHA-256 does no network I/O and reads no archive at all.
"""

from __future__ import annotations

import shutil
import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from exposure_core.errors import UserError
from exposure_core.fsutil import child_path, relpath
from pipeline.sources import archive as archives
from pipeline.sources import fetch
from pipeline.sources.base import FetchContext
from pipeline.sources.integrity import (
    LOCK_NAME,
    ChecksumError,
    LockEntry,
    RemoteChangedError,
    check_digest,
    file_digests,
    utc_now,
)

ARCHIVE_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tbz2", ".txz", ".tar", ".zip")


@dataclass(frozen=True)
class Archive:
    """One archive of a source: where it comes from and what it must hash to."""

    name: str  # the folder it is extracted into, under the source's folder
    url: str  # http(s)://, file:// or a local path
    param: str  # the params key that configures it, for messages ("data.msec.training")
    sha256: str = ""
    md5: str = ""
    md5_origin: str = ""  # where ``md5`` comes from when not from params


def stored_name(item: Archive) -> str:
    """The archive's file name under ``archives/``: its name plus the URL's archive suffix."""
    base = PurePosixPath(urllib.parse.urlsplit(item.url).path).name.lower()
    return item.name + next((s for s in ARCHIVE_SUFFIXES if base.endswith(s)), "")


def _lock_covers(ctx: FetchContext, key: str, entry: LockEntry, item: Archive) -> bool:
    """Check params against the lock entry; True when the entry proves every digest asked for."""
    lock = ctx.lock.path
    if entry.url != item.url:
        raise RemoteChangedError(
            f"{item.param}.url is {item.url} but {lock} recorded {key} from {entry.url}. "
            f"To use the new address, delete the entry {key!r} from {lock} and run again "
            "(the archive is then fetched and recorded anew); or restore the old URL."
        )
    where = f"{entry.path}, as recorded in {LOCK_NAME} on {entry.fetched_at}"
    if item.sha256:
        check_digest(where, "sha256", item.sha256, entry.sha256, f"{item.param}.sha256")
    if item.md5 and entry.md5:
        check_digest(where, "md5", item.md5, entry.md5, item.md5_origin or f"{item.param}.md5")
    return not item.md5 or entry.md5 is not None


def _verify(item: Archive, path: Path, entry: LockEntry | None, downloaded: bool) -> dict[str, str]:
    """Digest the archive and compare; a bad download is moved aside to ``<name>.bad``."""
    digests = file_digests(path, ("sha256", "md5") if item.md5 else ("sha256",))
    expected = [("sha256", item.sha256, f"{item.param}.sha256")]
    expected.append(("md5", item.md5, item.md5_origin or f"{item.param}.md5"))
    if entry is not None:
        expected.append(("sha256", entry.sha256, f"{LOCK_NAME}, recorded {entry.fetched_at}"))
    try:
        for algorithm, value, origin in expected:
            if value:
                check_digest(path, algorithm, value, digests[algorithm], origin)
    except ChecksumError as exc:
        if not downloaded:
            raise ChecksumError(f"{exc}; nothing was extracted") from exc
        bad = path.with_name(path.name + ".bad")
        path.replace(bad)
        raise ChecksumError(f"{exc}; the download was moved to {bad}, nothing extracted") from exc
    return digests


def _record(
    ctx: FetchContext,
    key: str,
    item: Archive,
    path: Path,
    digests: dict[str, str],
    seen: fetch.RemoteInfo | LockEntry,
) -> None:
    """Write what was verified to the lock (``seen`` supplies the server's ETag etc.)."""
    shown = relpath(path, ctx.raw_root) if fetch.is_remote(item.url) else str(path)
    entry = LockEntry(
        url=item.url,
        size=path.stat().st_size,
        sha256=digests["sha256"],
        fetched_at=utc_now(),
        path=shown,
        md5=digests.get("md5"),
        etag=seen.etag,
        last_modified=seen.last_modified,
    )
    ctx.lock.put(key, entry)


def _refused(
    exc: archives.ArchiveError, path: Path, downloaded: bool, lock: Path
) -> archives.ArchiveError:
    """The refusal, saying that nothing was pinned and (for a download) where it went."""
    note = f"nothing was extracted or recorded in {lock}"
    if downloaded:
        bad = path.with_name(path.name + ".bad")
        path.replace(bad)
        note += f"; the download was moved to {bad}, so a fixed archive is fetched next time"
    return archives.ArchiveError(exc.archive, exc.member, f"{exc.reason}; {note}")


def obtain(ctx: FetchContext, dest: Path, item: Archive) -> Path:
    """Make ``dest/<item.name>/`` hold the verified archive's files; return that folder."""
    if not item.url:
        raise UserError(f"{item.param}.url is empty: set the archive's http(s) URL or path")
    key = f"{dest.name}/{item.name}"
    target = child_path(dest, item.name, item.param)
    entry = ctx.lock.get(key)
    if (
        entry is not None
        and _lock_covers(ctx, key, entry, item)
        and archives.read_stamp(target) == entry.sha256
    ):
        ctx.summary.add("archives up to date")
        return target
    params = ctx.params.download
    local = fetch.local_path(item.url)
    info, downloaded = fetch.RemoteInfo(), False
    if local is not None:
        if not local.is_file():
            raise UserError(f"{item.param}.url: {local}: no such file")
        path = local
    else:
        path = dest / "archives" / stored_name(item)
        if not path.is_file():
            info = fetch.head(item.url, params)
            changes = entry.changes(info) if entry is not None else []
            if entry is not None and changes:
                raise RemoteChangedError(
                    f"{item.url} changed since {ctx.lock.path} recorded it on "
                    f"{entry.fetched_at} ({'; '.join(changes)}). If the change is expected, "
                    f"delete the entry {key!r} from the lock and run again; otherwise check "
                    "the URL. Nothing was downloaded."
                )
            info, downloaded = fetch.download(item.url, path, params, info), True
            ctx.summary.add("archives downloaded")
    digests = _verify(item, path, entry, downloaded)
    if archives.read_stamp(target) != digests["sha256"]:
        if target.exists():
            shutil.rmtree(target)  # an older or unfinished extraction
        try:
            archives.extract(
                path, target, max_bytes=params.max_extract_bytes, stamp=digests["sha256"]
            )
        except archives.ArchiveError as exc:
            raise _refused(exc, path, local is None, ctx.lock.path) from exc
        ctx.summary.add("archives extracted")
    # Pinned only once extracted: a refused archive must not block a fixed one at the same URL.
    if entry is None or (item.md5 and entry.md5 is None):
        _record(ctx, key, item, path, digests, entry if entry and not downloaded else info)
    if local is None and not params.keep_archives:
        path.unlink()
    return target
