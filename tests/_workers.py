"""Pool tasks for the dead-worker tests (kept free of heavy imports: workers import this file)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def slow_square(job: tuple[int, str]) -> int:
    """Record this worker's pid for item ``n`` in folder ``where``, wait a little, square ``n``."""
    n, where = job
    (Path(where) / f"pid-{n}").write_text(str(os.getpid()))
    time.sleep(0.4)
    return n * n


def die_on_seven(n: int) -> int:
    """Square ``n``; item 7 kills the worker running it, every time (a photo that OOMs)."""
    if n == 7:
        os.kill(os.getpid(), signal.SIGKILL)
    return n * n
