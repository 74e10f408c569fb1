"""The progress bars show done / total and a rate, for every engine alike."""

from __future__ import annotations

from rich.progress import Progress

from exposure_core.console import RateColumn


def test_the_rate_column_shows_items_per_second_once_measured() -> None:
    now = [0.0]
    progress = Progress(RateColumn(), get_time=lambda: now[0])
    task_id = progress.add_task("x", total=100)
    task = progress.tasks[0]
    assert RateColumn().render(task).plain == ""  # no speed measured yet
    now[0] = 1.0
    progress.advance(task_id, 10)
    now[0] = 3.0
    progress.advance(task_id, 40)
    assert RateColumn().render(task).plain == "20.0/s"  # 40 items in the 2 s between samples
