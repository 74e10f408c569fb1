"""Ordered parallel map over worker processes with a bounded number of tasks in flight.

A worker that dies (killed by the out-of-memory killer, a crash in a codec) never hangs the
map: the pool notices the lost process, the items that were in flight are run again one at a
time in a fresh pool, and an item that kills its worker a second time stops the map with a
``WorkerDiedError`` naming it.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from exposure_core.console import console
from exposure_core.errors import UserError

_A = TypeVar("_A")
_R = TypeVar("_R")


class WorkerDiedError(UserError):
    """A worker process died twice on the same item (exit code 1, like other OS failures)."""

    exit_code = 1


def map_ordered(
    fn: Callable[[_A], _R],
    items: Iterable[_A],
    workers: int,
    ahead: int = 4,
    describe: Callable[[_A], str] = repr,
) -> Iterator[_R]:
    """Yield ``fn(item)`` in input order; ``workers <= 1`` runs in this process.

    At most ``workers * ahead`` items are read from ``items`` before their results are
    consumed, so memory stays flat however many items there are (``Pool.imap`` would read
    the whole input first). ``fn`` must be a module-level function (it is pickled).
    ``describe(item)`` names an item in the error raised when it kills its worker twice.
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    limit = max(1, workers * ahead)
    context = _context(fn.__module__)
    pool = ProcessPoolExecutor(workers, mp_context=context)
    pending: deque[tuple[_A, Future[_R]]] = deque()
    try:
        for item in items:
            pending.append((item, _submit(pool, fn, item)))
            while len(pending) >= limit:
                result, pool = _next(fn, pending, pool, workers, context, describe)
                yield result
        while pending:
            result, pool = _next(fn, pending, pool, workers, context, describe)
            yield result
    finally:
        for _, future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _submit(pool: ProcessPoolExecutor, fn: Callable[[_A], _R], item: _A) -> Future[_R]:
    """``pool.submit``, or a future holding the error when the pool already broke."""
    try:
        return pool.submit(fn, item)
    except BrokenProcessPool as exc:
        failed: Future[_R] = Future()
        failed.set_exception(exc)
        return failed


def _next(
    fn: Callable[[_A], _R],
    pending: deque[tuple[_A, Future[_R]]],
    pool: ProcessPoolExecutor,
    workers: int,
    context: multiprocessing.context.BaseContext,
    describe: Callable[[_A], str],
) -> tuple[_R, ProcessPoolExecutor]:
    """Pop the oldest pending result; after a worker died, rerun what was lost and go on."""
    try:
        result = pending[0][1].result()
    except BrokenProcessPool:
        pool = _recover(fn, pending, pool, workers, context, describe)
        result = pending[0][1].result()
    pending.popleft()
    return result, pool


def _recover(
    fn: Callable[[_A], _R],
    pending: deque[tuple[_A, Future[_R]]],
    pool: ProcessPoolExecutor,
    workers: int,
    context: multiprocessing.context.BaseContext,
    describe: Callable[[_A], str],
) -> ProcessPoolExecutor:
    """Replace the broken pool's lost results in ``pending``; return a fresh pool."""
    pool.shutdown(wait=True, cancel_futures=True)
    jobs = list(pending)
    pending.clear()
    # Rerun what the dead pool lost, one at a time in a fresh pool: an item that kills its
    # worker again is the one at fault. Results that were already in are kept.
    lost = [item for item, future in jobs if not _succeeded(future)]
    console.print(
        f"[yellow]a worker process died; running its {len(lost)} unfinished item(s) again, "
        f"one at a time (first: {describe(lost[0]) if lost else '-'})[/yellow]",
        highlight=False,
    )
    retry = ProcessPoolExecutor(1, mp_context=context)
    try:
        for item, future in jobs:
            if _succeeded(future):
                pending.append((item, future))
                continue
            try:
                result = retry.submit(fn, item).result()
            except BrokenProcessPool:
                raise WorkerDiedError(
                    f"{describe(item)}: a worker process died twice while working on it "
                    "(killed by the system, often for lack of memory); try fewer workers"
                ) from None
            done: Future[_R] = Future()
            done.set_result(result)
            pending.append((item, done))
    finally:
        retry.shutdown(wait=True, cancel_futures=True)
    return ProcessPoolExecutor(workers, mp_context=context)


def _succeeded(future: Future[Any]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None


def _context(module: str) -> multiprocessing.context.BaseContext:
    """A forkserver that has imported ``module`` once (workers then start in milliseconds and
    never inherit the parent's threads); spawn where forkserver does not exist (Windows)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([module])
    return ctx
