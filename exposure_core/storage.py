"""Paths and fsspec URLs: the one place a stage's input or output may live in object storage.

A plain path is used as it is; this module then imports nothing (fsspec is never loaded for a
local run). A URL (``s3://bucket/prefix``, ``gs://``, ``memory://``, any protocol fsspec has an
implementation of) is worked on through a **local mirror**: ``mirror_path(url)`` is
``<cache>/mirror/<protocol>/<bucket>/<key>`` (``<cache>`` = ``$PREP_CACHE`` or
``~/.cache/exposure-prep``), so two URLs in one bucket keep their relative layout locally and
the relative paths a manifest holds (``../raw/demo/x.png``) mean the same in the bucket and in
the mirror. A stage reads a URL input after ``pull`` has brought the mirror up to date (only
objects whose size or modification time differ are fetched) and writes a URL output into its
mirror, with the usual staged folder, then ``publish`` uploads it.

Writes are atomic per object: on S3 (and the other object stores) each object is one PUT (a
multipart upload for large files, which becomes visible only when completed), so a reader
sees the old object or the new one, never a part; on a protocol without that guarantee a
file goes to ``.<name>.<pid>.tmp`` first and is renamed. A published folder's marker goes up
first (a prefix left half written by a lost connection stays one a rerun may replace), its
commit files (``index.json``, ``manifest.jsonl``) last, after every object they name, and stale
objects of a previous run are removed after them.

On S3 an output prefix is locked against runs on other machines by a lock object beside it,
created with a conditional PUT (``remote_lock``).

``write_back`` replaces the objects whose mirrored files a run rewrote in place (``prep
enhance --in-place``), one write each. ``read_object`` reads an object with one request;
``exposure_core.readahead`` streams shards with it for the training loader.

Credentials and endpoint come from where the storage's own library looks: for S3, the
environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``,
``AWS_ENDPOINT_URL``), ``~/.aws/config`` and ``~/.aws/credentials``, or fsspec's own
configuration (``FSSPEC_S3_ENDPOINT_URL``, ``~/.config/fsspec/s3.json``). Nothing here stores
them, and every message built from a storage failure names the URL or bucket and passes
through ``scrub``, which blanks the values of the credential variables.
"""

from __future__ import annotations

import errno
import json
import os
import posixpath
import re
import shutil
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from exposure_core.errors import UserError
from exposure_core.fsutil import (
    MARKER,
    OutputBusyError,
    OutputError,
    is_temp_name,
    move_into_place,
    output_lock,
)

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# the package that implements each common protocol (fsspec's own names it too, less plainly)
PACKAGES = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
    "hf": "huggingface_hub",
    "sftp": "paramiko",
}
ATOMIC_PUT = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})  # one object per PUT
ATOMIC_CREATE = frozenset({"s3", "s3a"})  # a PUT that fails if the object exists (If-None-Match)
SECRET_VARS = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_SAS_TOKEN",
)
PathLike = str | Path


class StorageError(UserError):
    """An object store refused or failed an operation (unreachable endpoint, missing bucket,
    refused credentials, denied write): a failure of the moment or of access, exit code 1."""

    exit_code = 1


def is_url(path: PathLike) -> bool:
    """True for ``<protocol>://...`` text (a ``Path`` never is one: it folds ``//``)."""
    return isinstance(path, str) and _URL.match(path) is not None


def as_local(path: PathLike) -> Path:
    """``path`` as a ``Path``; a URL is refused (for options that take local paths only)."""
    if is_url(path):
        raise UserError(f"{path}: this option takes a local path, not a URL")
    return Path(path)


def protocol(url: str) -> str:
    match = _URL.match(url)
    return match.group(1).lower() if match else "file"


def bucket(url: str) -> str:
    """The bucket (the first part after ``://``)."""
    return url.split("://", 1)[1].split("/", 1)[0]


def join(url: str, relative: str) -> str:
    """``url`` / ``relative`` with ``..`` resolved; refuses a result outside the bucket."""
    proto, rest = url.split("://", 1)
    joined = posixpath.normpath(posixpath.join(rest, relative))
    if joined.startswith("..") or joined.split("/", 1)[0] != bucket(url):
        raise UserError(f"{relative!r} relative to {url} leaves the bucket {bucket(url)!r}")
    return f"{proto}://{joined}"


def scrub(text: str) -> str:
    """``text`` with the values of the credential variables blanked, and anything written as
    ``secret=...``, ``token=...``, ``signature=...`` or ``credential=...`` cut off."""
    for name in SECRET_VARS:
        value = os.environ.get(name, "")
        if len(value) >= 4:
            text = text.replace(value, "***")
    text = re.sub(
        r"(?i)(secret|token|signature|credential|password)(\w*)([=:]\s*)\S+", r"\1\2\3***", text
    )
    return re.sub(r"://[^/@\s]+:[^/@\s]+@", "://***@", text)  # user:password@host


def cache_root() -> Path:
    """``$PREP_CACHE`` or ``~/.cache/exposure-prep``: where URL mirrors and read-ahead live."""
    return Path(os.environ.get("PREP_CACHE") or Path.home() / ".cache" / "exposure-prep")


def mirror_path(url: str) -> Path:
    """The local mirror of ``url``: ``<cache>/mirror/<protocol>/<bucket>/<key>``."""
    rest = posixpath.normpath(url.split("://", 1)[1])
    if rest.startswith(".."):
        raise UserError(f"{url}: not a usable URL")
    return cache_root() / "mirror" / protocol(url) / rest


# --- the filesystem and its errors --------------------------------------------------------------


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of ``url`` and the path inside it. A protocol with no
    implementation installed is a ``UserError`` naming the package to install."""
    proto = protocol(url)
    package = PACKAGES.get(proto)
    hint = f"pip install {package}" + (' (or pip install -e ".[s3]")' if package == "s3fs" else "")
    try:
        import fsspec
    except ImportError:
        raise UserError(f"{url}: URLs need the fsspec package: pip install fsspec") from None
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError:
        raise UserError(
            f"{url}: {proto}:// URLs need the {package or proto} package: "
            f"{hint if package else 'install the fsspec implementation of ' + proto}"
        ) from None
    except ValueError as exc:
        raise UserError(f"{url}: {scrub(str(exc))}") from None
    return fs, path


def describe_failure(url: str, exc: BaseException, action: str) -> str:
    """One line naming ``url`` (and its bucket) and why ``action`` failed, with no secret."""
    text = scrub(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__
    name = type(exc).__name__
    lowered = text.lower()
    where = f"{url} (bucket {bucket(url)!r})" if "://" in url else url
    if "bucket does not exist" in lowered or name == "NoSuchBucket":
        return f"{url}: the bucket {bucket(url)!r} does not exist (cannot {action})"
    if "access key id" in lowered or "signature" in lowered or "invalidaccesskey" in lowered:
        return f"{where}: the storage refused the credentials (cannot {action})"
    if name == "NoCredentialsError" or "unable to locate credentials" in lowered:
        return (
            f"{where}: no credentials found (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            f"AWS_PROFILE or ~/.aws/credentials); cannot {action}"
        )
    if isinstance(exc, PermissionError) or "access denied" in lowered or "forbidden" in lowered:
        return f"{where}: access denied (the credentials may not {action} it)"
    if "connect" in name.lower() or "connect" in lowered or isinstance(exc, TimeoutError):
        endpoint = re.search(r"https?://[^/\s\"']+", text)  # the host, not the request
        shown = endpoint.group(0) if endpoint else text
        return f"{where}: cannot reach the storage endpoint ({shown}); cannot {action}"
    if isinstance(exc, FileNotFoundError):
        return f"{url}: no such object or folder (cannot {action})"
    return f"{where}: cannot {action} ({name}: {text})"


@contextmanager
def storage_errors(url: str, action: str) -> Iterator[None]:
    """Turn any failure of the storage library inside the block into one ``StorageError``."""
    try:
        yield
    except UserError:
        raise
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except Exception as exc:
        raise StorageError(describe_failure(url, exc, action)) from None


# --- reading -------------------------------------------------------------------------------------


def _mtime(info: dict[str, Any]) -> float | None:
    stamp = info.get("LastModified") or info.get("mtime") or info.get("updated")
    if stamp is None:
        return None
    if hasattr(stamp, "timestamp"):
        return float(stamp.timestamp())
    try:
        return float(stamp)
    except (TypeError, ValueError):
        return None


def _fresh(local: Path, info: dict[str, Any]) -> bool:
    """The local copy has the object's size and modification time (as ``_fetch`` sets it)."""
    try:
        stat = local.stat()
    except OSError:
        return False
    stamp = _mtime(info)
    return stat.st_size == info.get("size") and (stamp is None or int(stat.st_mtime) == int(stamp))


def _fetch(fs: Any, pairs: list[tuple[str, Path, dict[str, Any]]]) -> int:
    """Download (remote path, local path, info) triples in one batch; stamp the local files with
    the objects' times. A download cut short leaves a file of the wrong size or time, which
    the next pull fetches again."""
    todo = [(r, local, info) for r, local, info in pairs if not _fresh(local, info)]
    if not todo:
        return 0
    for _, local, _ in todo:
        local.parent.mkdir(parents=True, exist_ok=True)
    fs.get([r for r, _, _ in todo], [str(local) for _, local, _ in todo])
    for _, local, info in todo:
        stamp = _mtime(info)
        if stamp is not None:
            os.utime(local, (stamp, stamp))
    return len(todo)


def _listing(fs: Any, path: str) -> dict[str, dict[str, Any]]:
    """Every object under the folder ``path`` (recursive), by path relative to it."""
    found = fs.find(path, detail=True, withdirs=False)
    prefix = path.rstrip("/") + "/"
    return {name[len(prefix) :]: info for name, info in found.items() if name.startswith(prefix)}


def pull(
    url: str, references: Callable[[Path], Iterable[str]] | None = None, missing_ok: bool = False
) -> Path:
    """Bring the mirror of ``url`` (an object or a folder) up to date and return its path.

    A folder's mirror loses the files no longer in the bucket (a photo deleted upstream is
    not found by a stage). ``references``, given the local copy, names more files relative to
    its folder (the photos a manifest points at, ``../raw/...``): those are fetched too.
    """
    fs, path = filesystem(url)
    local = mirror_path(url)
    with storage_errors(url, "read"):
        if fs.isfile(path):
            _fetch(fs, [(path, local, fs.info(path))])
            if references is not None:
                fetch_relative(url.rsplit("/", 1)[0], references(local))
            return local
        listing = _listing(fs, path)
        if not listing:
            if not fs.exists(bucket(url)):
                raise FileNotFoundError("The specified bucket does not exist")
            if missing_ok:  # nothing there yet: an empty mirror
                shutil.rmtree(local, ignore_errors=True)
                return local
            raise UserError(f"{url}: no such object or folder")
        pairs = [(f"{path.rstrip('/')}/{rel}", local / rel, info) for rel, info in listing.items()]
        _fetch(fs, pairs)
        if local.is_dir():
            for folder, _, files in os.walk(local):
                for name in files:
                    rel = (Path(folder) / name).relative_to(local).as_posix()
                    if rel not in listing:
                        (Path(folder) / name).unlink()
        if references is not None:
            fetch_relative(url, references(local))
    return local


def fetch_relative(url: str, relatives: Iterable[str]) -> int:
    """Fetch the files named relative to the folder ``url`` into the same places relative to
    its mirror; one listing per folder, only stale files downloaded. Returns the count."""
    fs, _ = filesystem(url)
    by_folder: dict[str, list[str]] = {}
    for rel in sorted(set(relatives)):
        target = join(url, rel)
        by_folder.setdefault(target.rsplit("/", 1)[0], []).append(target)
    pairs = []
    with storage_errors(url, "read the files its manifest names"):
        for folder, targets in by_folder.items():
            infos = {
                info["name"]: info
                for info in fs.ls(folder.split("://", 1)[1], detail=True)
                if info.get("type") != "directory"
            }
            for target in targets:
                info = infos.get(target.split("://", 1)[1])
                if info is None:
                    continue  # the stage reports the missing file as it does for a local one
                pairs.append((info["name"], mirror_path(target), info))
        return _fetch(fs, pairs)


@contextmanager
def local_input(
    path: PathLike, references: Callable[[Path], Iterable[str]] | None = None
) -> Iterator[Path]:
    """``path`` itself, or for a URL its mirror after ``pull``."""
    yield pull(path, references) if is_url(path) else Path(path)  # type: ignore[arg-type]


def download_file(url: str, local: Path) -> bool:
    """Fetch the object ``url`` to ``local`` (atomically); False when there is no such object
    (its bucket exists)."""
    fs, path = filesystem(url)
    with storage_errors(url, "read"):
        if not fs.exists(path):
            if not fs.exists(bucket(url)):
                raise FileNotFoundError("The specified bucket does not exist")
            return False
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.{os.getpid()}.tmp")
        try:
            fs.get_file(path, str(tmp))
            move_into_place(tmp, local)
        finally:
            tmp.unlink(missing_ok=True)
    return True


def read_bytes(url: str, what: str = "object") -> bytes:
    """The bytes of the object ``url`` (a small file: a params file), read with one GET; a
    missing object is a ``UserError`` naming ``url`` as no such ``what``."""
    fs, path = filesystem(url)
    parts: list[bytes] = []
    with storage_errors(url, "read"):
        try:
            read_object(fs, path, parts.append)
        except FileNotFoundError:
            if not fs.exists(bucket(url)):
                raise FileNotFoundError("The specified bucket does not exist") from None
            if fs.isdir(path):
                raise UserError(f"{url}: a folder, not a {what}") from None
            raise UserError(f"{url}: no such {what}") from None
    return b"".join(parts)


def fetch_file(path: PathLike) -> Path:
    """``path`` itself, or for a URL its mirror, fetched (a missing object is a ``UserError``)."""
    if not is_url(path):
        return Path(path)
    url = str(path)
    local = mirror_path(url)
    if not download_file(url, local):
        raise UserError(f"{url}: no such object")
    return local


# --- writing -------------------------------------------------------------------------------------


def _put(fs: Any, local: Path, remote: str, proto: str, **options: Any) -> None:
    """One atomic object write (see the module docstring); ``options`` go to the store's
    write (S3: the object's metadata)."""
    if proto in ATOMIC_PUT:
        fs.put_file(str(local), remote, **options)
        return
    parent, name = posixpath.split(remote)
    tmp = posixpath.join(parent, f".{name}.{os.getpid()}.tmp")
    fs.makedirs(parent, exist_ok=True)
    fs.put_file(str(local), tmp, **options)
    fs.mv(tmp, remote)


def upload_file(local: Path, url: str) -> None:
    """Write the file ``local`` to the object ``url`` atomically."""
    fs, path = filesystem(url)
    with storage_errors(url, "write"):
        _put(fs, local, path, protocol(url))


def check_remote_output(url: str, flag: str = "--output") -> None:
    """Refuse an output URL holding objects no stage wrote (no ``MARKER`` object), before any
    work; an unreachable store or a missing bucket fails here too."""
    fs, path = filesystem(url)
    with storage_errors(url, "write"):
        if not fs.exists(bucket(url)):
            raise FileNotFoundError("The specified bucket does not exist")
        listing = _listing(fs, path)
    if listing and MARKER not in listing:
        raise OutputError(
            f"{flag} {url}: holds objects this command did not write (no {MARKER} object); "
            "they were left untouched. Choose a new or empty prefix, or delete them first"
        )


def publish(local: Path, url: str, commit: Iterable[str] = (), remove_stale: bool = True) -> int:
    """Upload the finished folder ``local`` to ``url``; returns the objects written.

    Every file goes up as one atomic object: the folder's ``MARKER`` first (so that a prefix
    left half written by a dropped connection is one a rerun may replace), the files named in
    ``commit`` (relative paths: the index or manifest a reader starts from) last, then objects
    under ``url`` that the new folder lacks are removed (with ``remove_stale``). The mirror's
    files are stamped with the objects' times, so a later ``pull`` of ``url`` fetches nothing.
    """
    fs, path = filesystem(url)
    base = path.rstrip("/")
    files = sorted(
        p.relative_to(local).as_posix()
        for p in local.rglob("*")
        if p.is_file() and not is_temp_name(p.name)
    )
    last = [f for f in commit if f in files]
    marker = [MARKER] if MARKER in files else []
    first = [f for f in files if f not in last and f not in marker]
    with storage_errors(url, "write"):
        for rel in marker:  # before anything else: a run cut short leaves a prefix a rerun
            _put(fs, local / rel, f"{base}/{rel}", protocol(url))  # may replace
        if protocol(url) in ATOMIC_PUT and first:  # one batch, sent concurrently
            fs.put([str(local / f) for f in first], [f"{base}/{f}" for f in first])
        else:
            for rel in first:
                _put(fs, local / rel, f"{base}/{rel}", protocol(url))
        for rel in last:
            _put(fs, local / rel, f"{base}/{rel}", protocol(url))
        listing = _listing(fs, base)
        stale = [f"{base}/{rel}" for rel in listing if rel not in files and remove_stale]
        if stale:
            fs.rm(stale)
    for rel in files:
        stamp = _mtime(listing.get(rel, {}))
        if stamp is not None:
            os.utime(local / rel, (stamp, stamp))
    return len(files)


@contextmanager
def local_output(path: PathLike, stage: str, commit: Iterable[str] = ()) -> Iterator[Path]:
    """Hold the output lock of ``path`` (``fsutil.output_lock``) and yield it; for a URL, yield
    its mirror folder, locked, and publish it to the URL when the block ends without an error
    (nothing is uploaded otherwise). The local lock keeps two runs on one machine apart; on
    S3, ``remote_lock`` keeps runs on two machines apart too."""
    if not is_url(path):
        with output_lock(path, stage):
            yield Path(path)
        return
    url = str(path)
    check_remote_output(url)
    local = mirror_path(url)
    with output_lock(local, stage), remote_lock(url, stage):
        yield local
        if local.is_dir():
            publish(local, url, commit)


def lock_key(path: str) -> str | None:
    """The key of the lock object of the output prefix ``path`` (``bucket/a/b``):
    ``bucket/a/.b.lock``, beside the prefix as a local lock file is beside its folder (so the
    prefix's own listing never holds it); None for a whole bucket."""
    parent, name = posixpath.split(path.rstrip("/"))
    return posixpath.join(parent, f".{name}.lock") if parent and name else None


@contextmanager
def remote_lock(url: str, stage: str) -> Iterator[None]:
    """Hold the lock object of the output ``url`` while a stage writes it, on a store that can
    create an object only if it does not exist (S3's conditional PUT, ``If-None-Match: *``).

    The object records the stage, the host, the pid and the start (nothing else). A run that
    finds it stops with ``OutputBusyError`` naming the holder and the object, before any
    work; the lock is removed when the block ends, with or without an error. One left behind
    (a run killed outright, the connection lost before the removal) is taken over by the next
    run on the same host once its process is gone; from another host the message says to
    delete it once that run is gone. Elsewhere (other protocols, a whole bucket, an
    S3-compatible store that answers "not implemented" to a conditional PUT) no lock is
    taken: give each machine its own prefix. A plain path takes none either (its stage holds
    ``fsutil.output_lock``).
    """
    if not is_url(url) or protocol(url) not in ATOMIC_CREATE:
        yield
        return
    fs, path = filesystem(url)
    key = lock_key(path)
    if key is None:
        yield
        return
    lock = f"{protocol(url)}://{key}"
    record = {
        "stage": stage,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    body = (json.dumps(record) + "\n").encode()
    with storage_errors(url, "lock"):
        created = _create(fs, key, body)
    if created == _UNSUPPORTED:  # a store without conditional PUTs: no lock there
        yield
        return
    with storage_errors(url, "lock"):
        if created == _HELD:
            holder = _lock_record(fs, key)
            if holder is None or not _left_on_this_host(holder):
                raise OutputBusyError(
                    f"another prep {_describe(holder)} is writing {url} (lock object {lock}): "
                    "nothing was touched; run again when it has finished, or delete the lock "
                    "object if that run is gone"
                ) from None
            fs.rm_file(key)  # left by a run of this host that has ended: taken over
            if _create(fs, key, body) == _HELD:
                raise OutputBusyError(
                    f"another prep {_describe(_lock_record(fs, key))} is writing {url} (lock "
                    f"object {lock}): nothing was touched; run again when it has finished"
                )
    failed = True
    try:
        yield
        failed = False
    finally:
        try:
            with storage_errors(lock, "remove the lock object"):
                fs.rm_file(key)
        except StorageError:
            if not failed:  # the stage's own error, when there is one, is the one to show
                raise


_CREATED, _HELD, _UNSUPPORTED = "created", "held", "unsupported"  # what ``_create`` found


def _create(fs: Any, key: str, body: bytes) -> str:
    """Create the object ``key`` only if it does not exist: ``_CREATED``; ``_HELD`` when it
    exists; ``_UNSUPPORTED`` when the store does not implement conditional PUTs."""
    try:
        fs.pipe_file(key, body, mode="create")
    except FileExistsError:
        return _HELD
    except OSError as exc:
        if exc.errno == errno.ENOSYS:  # "NotImplemented" (501)
            return _UNSUPPORTED
        raise
    return _CREATED


def _lock_record(fs: Any, key: str) -> dict[str, Any] | None:
    """The lock object's record, or None where it is gone or not one of ours."""
    try:
        record = json.loads(fs.cat_file(key))
        return record if {"stage", "host", "pid", "started"} <= record.keys() else None
    except Exception:  # removed meanwhile, or not ours
        return None


def _describe(record: dict[str, Any] | None) -> str:
    """``stage on host (pid N) since T``, or ``run`` for a lock object of unknown content."""
    if record is None:
        return "run"
    return f"{record['stage']} on {record['host']} (pid {record['pid']}) since {record['started']}"


def _left_on_this_host(record: dict[str, Any]) -> bool:
    """A lock object of this host whose run has ended: its process is gone, or it is this
    process, which holds the output's local lock now (so no block of its own holds it)."""
    if record["host"] != socket.gethostname():
        return False
    pid = int(record["pid"])
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # a live process of another user
        return False
    return False


# --- replacing objects in place -------------------------------------------------------------------

# the S3 object settings a replacement keeps (put_object's names; head_object returns them)
KEPT_S3 = ("ContentType", "CacheControl", "ContentDisposition", "ContentLanguage", "Metadata")


def snapshot(local: Path) -> dict[Path, os.stat_result]:
    """Every file at or under ``local`` (a URL's mirror, as ``pull`` left it) with its stat:
    what ``write_back`` compares to find the files a run rewrote."""
    if local.is_file():
        return {local: local.stat()}
    return {p: p.stat() for p in local.rglob("*") if p.is_file() and not is_temp_name(p.name)}


def _rewritten(before: os.stat_result, local: Path) -> bool:
    try:
        now = local.stat()
    except OSError:
        return False  # gone: nothing to write back (an object is never deleted here)
    return (now.st_ino, now.st_size, now.st_mtime_ns) != (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )


def _head(fs: Any, path: str, proto: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The object's info (``size``, time) and the write options that keep its settings (S3:
    content type, cache and disposition headers, user metadata; other stores: none)."""
    if proto in ("s3", "s3a") and hasattr(fs, "call_s3"):
        name, key, _ = fs.split_path(path)
        head = fs.call_s3("head_object", Bucket=name, Key=key)
        info = {"size": head.get("ContentLength"), "LastModified": head.get("LastModified")}
        return info, {k: head[k] for k in KEPT_S3 if head.get(k)}
    return fs.info(path), {}


def write_back(mirrors: dict[str, dict[Path, os.stat_result]]) -> int:
    """Replace the objects whose mirrored files a run rewrote in place; returns how many.

    ``mirrors``: URL (an object or a folder) -> the ``snapshot`` of its mirror taken before
    the run. A file whose stat changed goes up as one atomic object at its place under the
    URL, keeping the object's settings (``_head``); files left alone are not written. Every
    object to replace is checked first: one that changed in the store since it was read
    (another size or time than its mirror had) stops the run with one line naming it,
    before anything is written. A write that fails leaves that object and the ones after it
    as they were (each write is whole or nothing); the corrected files stay in the mirror.
    """
    todo = []
    for url, before in mirrors.items():
        root = mirror_path(url)
        for local, stat in sorted(before.items()):
            if _rewritten(stat, local):
                rel = local.relative_to(root).as_posix() if local != root else ""
                todo.append((join(url, rel) if rel else url, local, stat, root))
    options = []
    for target, _, stat, root in todo:
        fs, path = filesystem(target)
        with storage_errors(target, "read"):
            info, keep = _head(fs, path, protocol(target))
        stamp = _mtime(info)
        if info.get("size") != stat.st_size or (
            stamp is not None and int(stamp) != int(stat.st_mtime)
        ):
            raise StorageError(
                f"{target}: changed in the store since it was read; no object was replaced "
                f"(the corrected files stay in {root})"
            )
        options.append(keep)
    for done, ((target, local, _, _), keep) in enumerate(zip(todo, options, strict=True)):
        fs, path = filesystem(target)
        try:
            with storage_errors(target, "write"):
                _put(fs, local, path, protocol(target), **keep)
                stamp = _mtime(fs.info(path))
        except StorageError as exc:
            raise StorageError(
                f"{exc}; {done} of {len(todo)} object(s) replaced before it, the others left "
                "as they were"
            ) from None
        if stamp is not None:  # the mirror holds the object again: a later pull fetches nothing
            os.utime(local, (stamp, stamp))
    return len(todo)


def remove_local_mirror(url: str) -> None:
    """Delete the mirror of ``url`` (a read-ahead copy no longer needed)."""
    shutil.rmtree(mirror_path(url), ignore_errors=True)


# --- one object in one request -------------------------------------------------------------------

BLOCK = 1 << 20  # bytes asked of a response body at a time


def has_async_reader(fs: Any) -> bool:
    """The filesystem reads an object with one request on its own event loop (``open_async``:
    s3fs, gcsfs, http), so fetches need no threads of their own."""
    try:
        from fsspec.asyn import AsyncFileSystem
    except ImportError:
        return False
    return (
        isinstance(fs, AsyncFileSystem)
        and getattr(fs, "loop", None) is not None
        and type(fs).open_async is not AsyncFileSystem.open_async
    )


async def read_object_async(fs: Any, path: str, sink: Callable[[bytes], None], block: int) -> None:
    """Every byte of the object ``path`` to ``sink``, from one GET (no HEAD before it); a body
    cut short raises (the store's client checks the length it announced)."""
    handle = await fs.open_async(path, "rb")
    try:
        while chunk := await handle.read(block):
            sink(chunk)
    except BaseException:
        body = getattr(handle, "r", None)  # s3fs: the response; its connection is dropped
        if body is not None:
            body.close()
        raise
    finally:  # read to its end, the response gave its connection back to the pool
        await handle.close()


def read_object_sync(fs: Any, path: str, sink: Callable[[bytes], None], block: int) -> None:
    with fs.open(path, "rb", block_size=block) as handle:
        while chunk := handle.read(block):
            sink(chunk)


def read_object(fs: Any, path: str, sink: Callable[[bytes], None], block: int = BLOCK) -> None:
    """Every byte of the object ``path`` to ``sink`` in blocks: one GET where the store has an
    async client (``read_object_async``), else through ``fs.open``."""
    if has_async_reader(fs):
        from fsspec.asyn import sync

        sync(fs.loop, read_object_async, fs, path, sink, block)
    else:
        read_object_sync(fs, path, sink, block)
