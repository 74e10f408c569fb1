"""Ordered parallel map over worker processes with a bounded number of tasks in flight."""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

_A = TypeVar("_A")
_R = TypeVar("_R")


def map_ordered(
    fn: Callable[[_A], _R], items: Iterable[_A], workers: int, ahead: int = 4
) -> Iterator[_R]:
    """Yield ``fn(item)`` in input order; ``workers <= 1`` runs in this process.

    At most ``workers * ahead`` items are read from ``items`` before their results are
    consumed, so memory stays flat however many items there are (``Pool.imap`` would read
    the whole input first). ``fn`` must be a module-level function (it is pickled).
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    limit = max(1, workers * ahead)
    with _context(fn.__module__).Pool(workers) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.apply_async(fn, (item,)))
            if len(pending) >= limit:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def _context(module: str) -> multiprocessing.context.BaseContext:
    """A forkserver that has imported ``module`` once (workers then start in milliseconds and
    never inherit the parent's threads); spawn where forkserver does not exist (Windows)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([module])
    return ctx
