"""The progress bar drawn on a terminal: bytes done and total, speed, time left (rich).

Imported only when stderr is a terminal (see :func:`output.progress_bar`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from upload_service.schemas.units import human_size

UPDATE_EVERY = 0.1  # seconds: the bar redraws ten times a second, more updates cost CPU


class SpeedColumn(ProgressColumn):
    """``123.4 MiB/s``: binary units, like the sizes next to it."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed or _average_speed(task)
        shown = f"{human_size(int(speed))}/s" if speed else "?"
        return Text(shown, style="progress.data.speed")


def _average_speed(task: Task) -> float | None:
    """Bytes per second since the start, for a transfer over before rich sampled a speed."""
    elapsed = task.finished_time or task.elapsed
    done = task.completed - task.fields.get("start_bytes", 0)
    return done / elapsed if task.finished and elapsed and done > 0 else None


@contextmanager
def terminal_progress(label: str, total: int, start: int) -> Iterator[Callable[[int], None]]:
    """A bar on stderr for ``total`` bytes, ``start`` of them already done."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(binary_units=True),
        SpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(label, total=total, completed=start, start_bytes=start)
        pending, shown_at = 0, time.monotonic()

        def advance(count: int) -> None:
            """Count ``count`` more bytes; the bar moves at most every ``UPDATE_EVERY``."""
            nonlocal pending, shown_at
            pending += count
            now = time.monotonic()
            if now - shown_at >= UPDATE_EVERY:
                progress.advance(task, pending)
                pending, shown_at = 0, now

        try:
            yield advance
        finally:
            progress.advance(task, pending)  # the last bytes, before the bar is drawn last
