"""What every source adapter receives and returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exposure_core.console import Summary
from exposure_core.engines import LOCAL, Engine
from exposure_core.errors import StrictError
from exposure_core.manifest import Reject, SourceItem
from pipeline.params import DataStageParams
from pipeline.sources.integrity import LOCK_NAME, SourceLock


@dataclass
class FetchContext:
    """Shared state of one ``prep download`` run.

    ``lock`` is ``<raw_root>/sources.lock.json``: what every archive was when first fetched.
    ``engine`` runs the per-file work (decoding, checking and writing each photo) with
    ``map_ordered``: this process on the local engine, Ray tasks on a cluster.
    """

    params: DataStageParams
    raw_root: Path  # data/raw: each source writes under raw_root/<name>/
    strict: bool = False
    engine: Engine = LOCAL
    summary: Summary = field(default_factory=lambda: Summary("download"))
    rejects: list[Reject] = field(default_factory=list)
    lock: SourceLock = field(init=False)

    def __post_init__(self) -> None:
        self.lock = SourceLock(self.raw_root / LOCK_NAME)

    def reject(self, path: str | Path, reason: str, **extra: Any) -> None:
        """Record an item left out; with ``--strict`` fail instead."""
        if self.strict:
            raise StrictError(f"{path}: {reason}")
        self.rejects.append(Reject(str(path), reason, "download", dict(extra)))
        self.summary.add("rejected")

    def note(self, text: str) -> None:
        """A line printed above the summary (counts that differ from the expected ones...)."""
        self.summary.notes.append(text)


# A source adapter fetches (or finds) its files under ``dest`` and lists them.
# Paths in the returned items are relative to ``dest`` (where index.jsonl is written).
SourceFetcher = Callable[[FetchContext, Path], list[SourceItem]]
