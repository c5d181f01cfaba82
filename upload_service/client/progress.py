"""The progress bar drawn on a terminal: bytes done and total, speed, time left (rich).

Imported only when stderr is a terminal (see :func:`output.progress_bar`).
"""

from __future__ import annotations

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


class SpeedColumn(ProgressColumn):
    """``123.4 MiB/s``: binary units, like the sizes next to it."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        shown = f"{human_size(int(speed))}/s" if speed else "?"
        return Text(shown, style="progress.data.speed")


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
        task = progress.add_task(label, total=total, completed=start)
        yield lambda count: progress.advance(task, count)
