"""``sync --watch``: a pass at start, then a pass after each burst of changes, until stopped.

watchdog's events only say *when* to look: each pass rescans the folder through the stat cache
(cheap for unchanged files), so a lost event, an overflowed queue or a change made while a pass
ran cannot be missed. Events are debounced (a pass starts once the folder was quiet for
``QUIET`` seconds, or after ``LONGEST_WAIT`` of steady changes); files modified within the last
``SETTLE`` seconds wait for a later pass; a full pass also runs every ``RESCAN_EVERY`` seconds.
SIGINT and SIGTERM end the loop between two steps, with status 0.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from upload_service.client.output import note
from upload_service.client.sync.engine import Stopped, Summary, Syncer

QUIET = 0.5
LONGEST_WAIT = 5.0
SETTLE = 1.0
RESCAN_EVERY = 3600.0
# our own reads open and close files: those events must not wake us
_NOT_CHANGES = frozenset({"opened", "closed_no_write"})


class _Wake(FileSystemEventHandler):
    def __init__(self, wake: threading.Event) -> None:
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _NOT_CHANGES:
            self.wake.set()


def watch(syncer: Syncer, report: Callable[[Summary], None]) -> None:
    """Pass after pass until SIGINT or SIGTERM; ``report`` gets each pass that did something."""
    syncer.settle = SETTLE
    syncer.retry_forever = True
    wake = threading.Event()
    with _stop_on_signals(syncer.stop, wake), _observing(syncer, wake):
        note(f"upload-client: watching {syncer.root} (Ctrl-C to stop)")
        while not syncer.stop.is_set():
            wake.clear()
            try:
                summary = syncer.run_pass()
            except Stopped:
                return
            if summary.changed_anything() or summary.failed:
                report(summary)
            _wait_for_changes(wake, syncer.stop, SETTLE if summary.waiting else RESCAN_EVERY)


def _wait_for_changes(wake: threading.Event, stop: threading.Event, timeout: float) -> None:
    """Until something changed and then stayed quiet a moment (or ``timeout``, or a stop)."""
    if not wake.wait(timeout) or stop.is_set():
        return
    started = time.monotonic()
    while time.monotonic() - started < LONGEST_WAIT and not stop.is_set():
        wake.clear()
        if not wake.wait(QUIET):
            return


@contextmanager
def _observing(syncer: Syncer, wake: threading.Event) -> Iterator[None]:
    observer = Observer()
    observer.schedule(_Wake(wake), str(syncer.root), recursive=True)
    observer.daemon = True
    observer.start()
    try:
        yield
    finally:
        observer.stop()
        observer.join(timeout=5)


@contextmanager
def _stop_on_signals(stop: threading.Event, wake: threading.Event) -> Iterator[None]:
    def handle(_number: int, _frame: FrameType | None) -> None:
        stop.set()
        wake.set()

    previous = {number: signal.signal(number, handle) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
