"""What every source adapter receives and returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.manifest import Reject, SourceItem
from pipeline.params import Params
from pipeline.report import Summary


@dataclass
class FetchContext:
    """Shared state of one ``prep download`` run."""

    params: Params
    raw_root: Path  # data/raw: each source writes under raw_root/<name>/
    strict: bool = False
    summary: Summary = field(default_factory=lambda: Summary("download"))
    rejects: list[Reject] = field(default_factory=list)

    def reject(self, path: str | Path, reason: str) -> None:
        """Record an item left out; with ``--strict`` fail instead."""
        if self.strict:
            raise ValueError(f"{path}: {reason}")
        self.rejects.append(Reject(str(path), reason, "download"))
        self.summary.add("rejected")


# A source adapter fetches (or finds) its files under ``dest`` and lists them.
# Paths in the returned items are relative to ``dest`` (where index.jsonl is written).
SourceFetcher = Callable[[FetchContext, Path], list[SourceItem]]
