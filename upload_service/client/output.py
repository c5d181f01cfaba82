"""What the user sees: aligned tables with human sizes, ``--json``, progress bars.

Results go to stdout; progress bars and messages go to stderr, so ``--json`` output and piped
listings stay clean. Bars are drawn only when stderr is a terminal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from upload_service.schemas.files import FileOut

Advance = Callable[[int], None]
_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: int) -> str:
    """``999 B``, ``1.5 KiB``, ``256.0 MiB``: binary units like the server's settings."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def local_time(value: datetime) -> str:
    """Local time with its zone, e.g. ``2026-12-06 14:40 CET``."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M %Z").rstrip()


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """Columns padded to their widest cell (those in ``right`` aligned right)."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    return "\n".join(line(row) for row in [header, *rows])


def files_table(files: Sequence[FileOut], folders: Sequence[str] = ()) -> str:
    """``ls`` output: subfolders first, then files, each with its full path last."""
    rows = [["-", "-", "folder", "-", f"{path}/"] for path in folders]
    rows += [
        [human_size(f.size), local_time(f.updated_at), f.category, f.id, f.path] for f in files
    ]
    return table(["SIZE", "MODIFIED", "TYPE", "ID", "PATH"], rows, right=[0])


def to_jsonable(value: Any) -> Any:
    """pydantic models (alone, in lists or dicts) as the API writes them."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: to_jsonable(item) for key, item in value.items()}
    return value


def print_json(value: Any) -> None:
    print(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False))


def note(message: str) -> None:
    """A message for the person at the terminal (stderr), never part of the results."""
    print(message, file=sys.stderr, flush=True)


@contextmanager
def progress_bar(label: str, total: int, *, start: int = 0) -> Iterator[Advance]:
    """An ``advance(n)`` callback drawing bytes, speed and ETA on a terminal, else doing nothing."""
    if not sys.stderr.isatty():
        yield _ignore
        return
    # imported here: rich costs a tenth of a second of start-up that only a terminal needs
    from upload_service.client.progress import terminal_progress

    with terminal_progress(label, total, start) as advance:
        yield advance


def _ignore(_count: int) -> None:
    pass
