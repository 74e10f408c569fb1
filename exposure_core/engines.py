"""Where a data stage's per-photo work runs: this machine's worker processes, or a Ray cluster.

A stage opens its engine with ``connect(name, address)`` before it writes anything, then
hands its per-photo function to ``engine.map_ordered``, the interface of
``exposure_core.parallel.map_ordered``: results come back in input order, whatever ran where,
so the manifests and shards the stage writes from them are byte-identical on either engine.

- ``local`` (the default): ``exposure_core.parallel.map_ordered``, a process pool of
  ``workers`` processes (``workers <= 1``: this process). Ray is never imported.
- ``ray``: ``exposure_core.ray_engine`` (imported only here, on first use): the same function
  runs in Ray tasks on the cluster at ``address``; ``workers`` does not apply (the cluster's
  CPUs do).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from exposure_core import parallel
from exposure_core.errors import EngineError, UserError

_A = TypeVar("_A")
_R = TypeVar("_R")

ENGINES = ("local", "ray")
RAY_EXTRA = 'pip install -e ".[ray]"'


class Engine(Protocol):
    """What a stage needs of an engine: an ordered map of a module-level function."""

    name: str

    def map_ordered(
        self,
        fn: Callable[[_A], _R],
        items: Iterable[_A],
        workers: int,
        ahead: int = 4,
        describe: Callable[[_A], str] = repr,
    ) -> Iterator[_R]:
        """Yield ``fn(item)`` for every item, in input order."""
        ...


@dataclass(frozen=True)
class LocalEngine:
    """Worker processes of this machine (``exposure_core.parallel``)."""

    name: str = "local"

    def map_ordered(
        self,
        fn: Callable[[_A], _R],
        items: Iterable[_A],
        workers: int,
        ahead: int = 4,
        describe: Callable[[_A], str] = repr,
    ) -> Iterator[_R]:
        return parallel.map_ordered(fn, items, workers, ahead=ahead, describe=describe)


LOCAL = LocalEngine()


def connect(name: str = "local", address: str = "") -> Engine:
    """The engine called ``name``, connected and ready (a Ray cluster is reached here, before
    the stage writes anything, so an unreachable address costs no output).

    Raises ``UserError`` naming ``engine.name`` for an unknown engine and ``EngineError`` when
    Ray is not installed (naming the extra) or its cluster does not answer (naming the address).
    """
    if name == "local":
        return LOCAL
    if name != "ray":
        raise UserError(f"engine.name: unknown engine {name!r} (expected one of {ENGINES})")
    try:
        from exposure_core import ray_engine
    except ImportError as exc:  # pragma: no cover - the message names the missing piece
        raise EngineError(
            f"engine.name is 'ray' but Ray is not installed ({exc}); run {RAY_EXTRA}"
        ) from None
    return ray_engine.connect(address)
