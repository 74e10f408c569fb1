"""Shards streamed from fsspec URLs for the training loader: ``ReadAhead``, a WebDataset opener
that keeps the next objects on their way while the loader decodes the current one.

Each object is read with one request (``storage.read_object``), hashed as it arrives and held in
memory (past ``MEMORY_BYTES``, in a local file under ``<cache>/read-ahead/``); its sha256 is
checked before the reader sees a byte of it. Failures are ``storage.StorageError`` lines naming
the URL, never a credential.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from exposure_core.storage import (
    BLOCK,
    StorageError,
    cache_root,
    filesystem,
    has_async_reader,
    read_object_async,
    read_object_sync,
    storage_errors,
)

MEMORY_BYTES = 16 << 20  # an object up to this size is held in memory; a larger one goes to a file


class Fetched:
    """One object's bytes as they arrive (``add``): hashed, held in memory up to ``limit``
    bytes, past that written to the file ``spill``. ``open`` reads them back."""

    def __init__(self, spill: Path, limit: int = MEMORY_BYTES, hashing: bool = True) -> None:
        import hashlib

        self.spill, self.limit = spill, limit
        self.digest = hashlib.sha256() if hashing else None
        self.parts: list[bytes] = []
        self.size = 0
        self.file: Any = None
        self.data: bytes | None = None

    def add(self, chunk: bytes) -> None:
        if self.digest is not None:
            self.digest.update(chunk)
        self.size += len(chunk)
        if self.file is None and self.size > self.limit:
            self.file = open(self.spill, "wb")  # noqa: SIM115 - closed by finish or discard
            self.file.writelines(self.parts)
            self.parts = []
        if self.file is not None:
            self.file.write(chunk)
        else:
            self.parts.append(chunk)

    def finish(self) -> Fetched:
        if self.file is not None:
            self.file.close()
        else:
            self.data = b"".join(self.parts)
        self.parts = []
        return self

    @property
    def on_disk(self) -> bool:
        return self.file is not None

    def open(self) -> Any:
        """A binary stream of the bytes (memory or the spill file)."""
        import io

        return io.BytesIO(self.data) if self.data is not None else open(self.spill, "rb")

    def discard(self) -> None:
        if self.file is not None:
            self.file.close()
        self.parts, self.data = [], None
        self.spill.unlink(missing_ok=True)


class ReadAhead:
    """A WebDataset opener (in place of its ``StreamingOpen``) for fsspec URLs: a stream of
    ``{"url": ...}`` items becomes ``{"url", "stream"}``, each object fetched ``depth`` items
    ahead of the reader: one GET per object, read in ``BLOCK``-byte pieces straight into memory
    (past ``MEMORY_BYTES``, into a local file), hashed as it arrives. On a store with an async
    client (s3fs) the fetches run on its event loop, with its pooled connections; otherwise in
    ``depth`` threads. An object is dropped when the next item is asked for.

    ``expected`` (URL -> sha256) checks each object before the reader sees a byte of it; a
    mismatch (a corrupt or truncated object), like any failed fetch, is one line naming the
    URL, which goes to ``handler`` (WebDataset's: True skips the item, False raises).
    ``keep_bytes``: fetched objects are kept in local files while they total at most this, so
    later passes over a split that fits read them locally; 0 keeps none.
    ``repeat``: the stream is endless (the same URLs each pass, in a new order): once a pass
    has handed out its last URL, the read-ahead runs on into the passes to come (their URLs
    are this pass's, the order unknown), so ``depth`` objects stay on their way across the
    end of a pass and a pass never starts by waiting for the store. An object fetched for a
    later pass waits for its URL to come up: at most ``depth`` of them are held.
    """

    def __init__(
        self,
        depth: int = 2,
        expected: dict[str, str] | None = None,
        handler: Callable[[Exception], bool] | None = None,
        keep_bytes: int = 0,
        repeat: bool = False,
        memory_bytes: int = MEMORY_BYTES,
    ) -> None:
        self.depth = max(1, depth)
        self.expected = expected or {}
        self.handler = handler
        self.keep_bytes = keep_bytes
        self.repeat = repeat
        self.memory_bytes = memory_bytes
        self.kept: dict[str, Path] = {}
        self.kept_total = 0
        self.ahead: dict[str, Any] = {}  # URL -> deque of futures, fetched for passes to come
        self.queued = 0  # futures in ``ahead``
        self.cycle: list[str] = []  # the URLs of a pass, not kept
        self.folder: Path | None = None
        self.pid = 0
        self.pool: Any = None
        self.fetched = 0
        self.waited = 0.0  # seconds the reader waited for an object not yet there

    def _start(self) -> None:
        """Once per process (a DataLoader worker): the folder for spilled and kept objects."""
        import tempfile
        from multiprocessing.util import Finalize

        root = cache_root() / "read-ahead"
        root.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))
        self.pid, self.kept, self.kept_total, self.pool = os.getpid(), {}, 0, None
        self.ahead, self.queued, self.cycle = {}, 0, []
        # removed when this process ends (a DataLoader worker too, where atexit is not run)
        Finalize(self, shutil.rmtree, args=(str(self.folder), True), exitpriority=10)

    def __call__(self, src: Iterable[dict[str, Any] | str]) -> Iterator[dict[str, Any]]:
        from collections import deque

        if self.folder is None or self.pid != os.getpid():
            self._start()
        pending: deque[tuple[str, Any]] = deque()
        seen: list[str] = []
        try:
            for item in src:
                url = str(item["url"] if isinstance(item, dict) else item)
                seen.append(url)
                pending.append((url, self._job(url)))
                if len(pending) > self.depth:
                    yield from self._hand_on(*pending.popleft())
            if self.repeat:
                self._pass_ended(seen)
            while pending:
                self._top_up(len(pending))
                yield from self._hand_on(*pending.popleft())
            self._top_up(0)
        finally:  # a pass ended early: the objects fetched ahead for it go
            for _, job in pending:
                job.add_done_callback(_discard)

    def _job(self, url: str) -> Any:
        """The future of ``url``'s object: kept, fetched ahead, or fetched now."""
        if url in self.kept:
            return _done(self.kept[url])
        queue = self.ahead.get(url)
        if queue:
            self.queued -= 1
            return queue.popleft()
        return self._submit(url)

    def _submit(self, url: str) -> Any:
        assert self.folder is not None
        self.fetched += 1
        spill = self.folder / f"{self.fetched}.tar"
        target = Fetched(spill, self.memory_bytes, url in self.expected)
        fs, path = filesystem(url)
        if has_async_reader(fs):
            import asyncio

            coro = self._fetch_async(fs, path, url, target)
            return asyncio.run_coroutine_threadsafe(coro, fs.loop)
        if self.pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(self.depth)
        return self.pool.submit(self._fetch_sync, fs, path, url, target)

    def _pass_ended(self, seen: list[str]) -> None:
        """The URLs of the passes to come are this one's (those not kept); objects fetched
        ahead for a URL this pass did not have go."""
        self.cycle = [u for u in dict.fromkeys(seen) if u not in self.kept]
        for url in [u for u in self.ahead if u not in set(self.cycle)]:
            for job in self.ahead.pop(url):
                job.add_done_callback(_discard)
        self.queued = sum(len(q) for q in self.ahead.values())

    def _top_up(self, busy: int) -> None:
        """Keep ``depth`` objects on their way ahead of the reader across the end of a pass:
        ``busy`` of this pass, the rest for the next passes (each URL of the cycle once per
        pass, in the order it came last)."""
        from collections import deque

        while self.repeat and self.cycle and busy + self.queued < self.depth:
            url = min(self.cycle, key=lambda u: len(self.ahead.get(u, ())))
            self.ahead.setdefault(url, deque()).append(self._submit(url))
            self.queued += 1

    async def _fetch_async(self, fs: Any, path: str, url: str, target: Fetched) -> Fetched:
        try:
            with storage_errors(url, "read"):
                await read_object_async(fs, path, target.add, BLOCK)
        except BaseException:
            target.discard()
            raise
        return self._check(url, target.finish())

    def _fetch_sync(self, fs: Any, path: str, url: str, target: Fetched) -> Fetched:
        try:
            with storage_errors(url, "read"):
                read_object_sync(fs, path, target.add, BLOCK)
        except BaseException:
            target.discard()
            raise
        return self._check(url, target.finish())

    def _check(self, url: str, got: Fetched) -> Fetched:
        want = self.expected.get(url)
        if want and got.digest is not None and got.digest.hexdigest() != want:
            got.discard()
            raise StorageError(
                f"{url}: sha256 differs from index.json's (a corrupt or truncated shard: "
                f"{got.size} bytes read)"
            )
        return got

    def _hand_on(self, url: str, job: Any) -> Iterator[dict[str, Any]]:
        import time

        start = time.perf_counter()
        try:
            got = job.result()
        except Exception as exc:
            if self.handler is None or not self.handler(exc):
                raise
            return
        finally:
            self.waited += time.perf_counter() - start
        if isinstance(got, Fetched) and self.kept_total + got.size <= self.keep_bytes:
            self.kept[url] = self._keep(got)
            self.kept_total += got.size
        stream = got.open() if isinstance(got, Fetched) else open(got, "rb")  # noqa: SIM115
        try:
            yield {"url": url, "stream": stream}
        finally:
            stream.close()
            if isinstance(got, Fetched) and url not in self.kept:
                got.discard()

    def _keep(self, got: Fetched) -> Path:
        """The object as a local file that later passes read."""
        if not got.on_disk:
            got.spill.write_bytes(got.data or b"")
        return got.spill


def _done(value: Any) -> Any:
    """A finished future holding ``value`` (a kept file, nothing to fetch)."""
    from concurrent.futures import Future

    future: Future[Any] = Future()
    future.set_result(value)
    return future


def _discard(job: Any) -> None:
    """Drop what a finished fetch holds (a pass ended before it was read)."""
    if not job.cancelled() and job.exception() is None and isinstance(job.result(), Fetched):
        job.result().discard()
