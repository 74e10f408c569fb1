"""Progress bars and the one-line summary every stage ends with."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

console = Console(stderr=True, soft_wrap=True)  # log lines stay whole in files and CI
_T = TypeVar("_T")


class RateColumn(ProgressColumn):
    """Items per second of a task, once rich has measured a speed (blank before)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.1f}/s", style="progress.data.speed")


def track(
    items: Iterable[_T],
    description: str,
    total: int | None = None,
    weight: Callable[[_T], int] | None = None,
) -> Iterator[_T]:
    """Iterate with a progress bar on stderr (plain, silent output when not a terminal); each
    item counts ``weight(item)`` towards ``total`` (1 without ``weight``)."""
    if not sys.stderr.isatty():
        yield from items
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task, 1 if weight is None else weight(item))


@dataclass
class Summary:
    """Counts a stage reports at the end: ``stage: 12 written, 1 rejected in 3.2 s (3.8/s)``."""

    stage: str
    counts: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    unit: str = "items"
    rate_key: str | None = None
    notes: list[str] = field(default_factory=list)

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def line(self) -> str:
        seconds = self.seconds
        parts = ", ".join(f"{v} {k}" for k, v in self.counts.items()) or "nothing to do"
        text = f"{self.stage}: {parts} in {seconds:.1f} s"
        if self.rate_key and seconds > 0:
            text += f" ({self.counts.get(self.rate_key, 0) / seconds:.1f} {self.unit}/s)"
        return text

    def print(self) -> None:
        for note in self.notes:
            console.print(note, highlight=False)
        console.print(self.line(), highlight=False)
