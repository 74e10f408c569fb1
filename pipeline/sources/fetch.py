"""HTTP(S) downloads that resume and retry; file:// URLs and plain paths are used in place.

A transfer streams into ``<dest>.part`` beside a ``<dest>.part.json`` holding what the server
said about the file when the transfer began (size, ETag, Last-Modified). An interrupted transfer
resumes with an HTTP ``Range`` request from the bytes already on disk, unless the server now
describes a different file, in which case it starts over. Transient failures (connection reset,
timeout, truncated body, HTTP 5xx/408/429) are retried with exponential backoff; the retry count
resets whenever an attempt brought new bytes, so a flaky link still finishes a large file.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from exposure_core.console import console
from exposure_core.fsutil import atomic_write_json, move_into_place
from pipeline.params import DownloadParams

_T = TypeVar("_T")
USER_AGENT = "exposure-prep/0.1 (+urllib)"


class DownloadError(OSError):
    """A transfer that failed for good (permanent HTTP error, or retries exhausted)."""


@dataclass(frozen=True)
class RemoteInfo:
    """What a server says about a file; ``None`` where it did not say."""

    size: int | None = None
    etag: str | None = None
    last_modified: str | None = None


def is_remote(url: str) -> bool:
    """True for http:// and https:// addresses."""
    return urllib.parse.urlsplit(url).scheme.lower() in ("http", "https")


def local_path(url: str) -> Path | None:
    """The file a ``file://`` URL or a plain path names; ``None`` for http(s)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() in ("http", "https"):
        return None
    if parts.scheme.lower() == "file":
        return Path(urllib.request.url2pathname(parts.path))
    if parts.scheme and len(parts.scheme) > 1:  # one letter is a Windows drive, not a scheme
        raise ValueError(f"{url}: unsupported URL scheme {parts.scheme!r} (http, https, file)")
    return Path(url).expanduser()


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500 or exc.code in (408, 429)
    if isinstance(exc, urllib.error.URLError):
        permanent = (socket.gaierror, ssl.SSLCertVerificationError)  # a bad name or certificate
        return isinstance(exc.reason, OSError) and not isinstance(exc.reason, permanent)
    return isinstance(exc, (ConnectionError, TimeoutError, http.client.HTTPException))


def _retrying(
    url: str, attempt: Callable[[], _T], params: DownloadParams, done: Callable[[], int]
) -> _T:
    """Call ``attempt`` until it returns, retrying transient errors with exponential backoff.

    ``done()`` counts the bytes secured so far: a failed attempt that added some resets the
    failure count and the delay, so only consecutive fruitless attempts count as retries.
    """
    failures, secured = 0, done()
    while True:
        try:
            return attempt()
        except DownloadError:
            raise
        except (OSError, http.client.HTTPException) as exc:
            if isinstance(exc, urllib.error.HTTPError) and not _transient(exc):
                raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
            if not _transient(exc):
                raise DownloadError(f"{url}: {exc}") from exc
            now = done()
            failures = 1 if now > secured else failures + 1
            secured = now
            if failures > params.retries:
                raise DownloadError(
                    f"{url}: giving up after {params.retries} retries ({exc!r})"
                ) from exc
            time.sleep(params.backoff_s * 2 ** (failures - 1))


def _info(headers: http.client.HTTPMessage, status: int) -> RemoteInfo:
    size = None
    content_range = headers.get("Content-Range", "")
    if status == 206 and "/" in content_range and not content_range.endswith("/*"):
        size = int(content_range.rsplit("/", 1)[1])
    elif status == 200 and headers.get("Content-Length"):
        size = int(headers["Content-Length"])
    return RemoteInfo(size, headers.get("ETag"), headers.get("Last-Modified"))


def _open(
    url: str, params: DownloadParams, method: str = "GET", offset: int = 0, first_byte: bool = False
) -> http.client.HTTPResponse:
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset or first_byte:
        headers["Range"] = "bytes=0-0" if first_byte else f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers, method=method)
    return urllib.request.urlopen(request, timeout=params.timeout_s)


def head(url: str, params: DownloadParams) -> RemoteInfo:
    """Size, ETag and Last-Modified of a remote file (HEAD; GET of one byte if HEAD is refused)."""

    def attempt() -> RemoteInfo:
        try:
            with _open(url, params, "HEAD") as response:
                return _info(response.headers, response.status)
        except urllib.error.HTTPError as exc:
            if exc.code not in (403, 405, 501):
                raise
        with _open(url, params, first_byte=True) as response:
            return _info(response.headers, response.status)

    return _retrying(url, attempt, params, lambda: 0)


@contextmanager
def byte_progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A byte progress bar on the console (silent when it is not a terminal); yields set(n)."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(
        *columns, console=console, transient=True, disable=not console.is_terminal
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.update(task, completed=n)


def _resumable(part: Path, meta: Path, info: RemoteInfo) -> bool:
    """True when ``part`` holds the start of the file the server describes now."""
    if not part.exists() or not meta.exists():
        return False
    try:
        seen = RemoteInfo(**json.loads(meta.read_text(encoding="utf-8")))
    except (ValueError, TypeError):
        return False
    return seen == info and (info.size is None or part.stat().st_size <= info.size)


def download(
    url: str, dest: Path, params: DownloadParams, info: RemoteInfo | None = None
) -> RemoteInfo:
    """Stream ``url`` to ``dest`` (resuming ``dest.part``); return what the server said.

    ``info`` is the result of an earlier :func:`head` (asked for here when not given).
    Raises ``DownloadError`` on a permanent failure or when retries run out; ``dest`` then does
    not exist and the bytes received so far stay in ``dest.part`` for the next run.
    """
    if not is_remote(url):
        raise ValueError(f"{url}: not an http(s) URL")
    info = info if info is not None else head(url, params)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    meta = dest.with_name(dest.name + ".part.json")
    if not _resumable(part, meta, info):
        part.unlink(missing_ok=True)
        atomic_write_json(meta, asdict(info))

    with byte_progress(dest.name, info.size) as show:

        def attempt() -> RemoteInfo:
            offset = part.stat().st_size if part.exists() else 0
            if info.size is not None and offset == info.size:
                return info
            return _transfer(url, part, offset, params, show)

        seen = _retrying(url, attempt, params, lambda: part.stat().st_size if part.exists() else 0)
    if info.size is not None and part.stat().st_size != info.size:
        raise DownloadError(
            f"{url}: received {part.stat().st_size} bytes, the server announced {info.size}"
        )
    move_into_place(part, dest)
    meta.unlink(missing_ok=True)
    return RemoteInfo(
        info.size or seen.size, info.etag or seen.etag, info.last_modified or seen.last_modified
    )


def _transfer(
    url: str, part: Path, offset: int, params: DownloadParams, show: Callable[[int], None]
) -> RemoteInfo:
    """One GET from ``offset``, appended to ``part``; a short body raises IncompleteRead."""
    try:
        response = _open(url, params, offset=offset)
    except urllib.error.HTTPError as exc:
        if exc.code != 416:
            raise
        if exc.headers.get("Content-Range", "") == f"bytes */{offset}":
            return RemoteInfo(offset)  # the part was already the whole file
        part.unlink(missing_ok=True)  # the part is longer than the file: it changed
        raise DownloadError(f"{url}: the server refused to resume; run again to restart") from exc
    with response:
        start = 0
        if response.status == 206:
            start = int(response.headers.get("Content-Range", "bytes 0-").split()[1].split("-")[0])
        if start != offset and response.status != 200:
            raise DownloadError(f"{url}: asked for bytes from {offset}, got from {start}")
        offset = start  # a 200 answer (range ignored) restarts the file
        length = response.headers.get("Content-Length")
        received = 0
        with open(part, "ab" if offset else "wb") as handle:
            while chunk := response.read(params.chunk_bytes):
                handle.write(chunk)
                received += len(chunk)
                show(offset + received)
        if length and received < int(length):
            raise http.client.IncompleteRead(b"", int(length) - received)
        return _info(response.headers, response.status)
