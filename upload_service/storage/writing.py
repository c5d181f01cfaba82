"""Writing a stream to a file while hashing it: the receive, hash and disk steps overlap.

A big upload used to run its steps one after another on one thread: receive a MiB, hash it,
write it, and after the last byte fsync everything that was written (docs/performance.md). Here
the upload thread receives and writes, a second thread hashes (hashlib lets go of the GIL),
and the kernel is asked to start writing back every ``WRITEBACK_EVERY`` bytes as they arrive
(``sync_file_range``), so the final ``fsync`` only has to flush the tail. A body that fits in
one buffer (most small files) is hashed inline: no thread is started for it.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import queue
import sys
import threading
from collections.abc import Callable
from typing import BinaryIO

from upload_service.storage.base import CHUNK_SIZE, PutResult

BUFFERS = 4  # in flight between the upload thread and the hasher
WRITEBACK_EVERY = 8 * 1024 * 1024
_START_WRITE = 2  # SYNC_FILE_RANGE_WRITE: start writing the dirty pages back, do not wait


def _bind_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """The C library's ``sync_file_range(2)``: Python's os module has no binding for it. None
    off Linux, or where the C library lacks it (then the final fsync does all the work)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_sync_file_range = _bind_sync_file_range()


def write_hashing(
    stream: BinaryIO, fd: int, digest: hashlib._Hash | None = None, *, start: int = 0
) -> PutResult:
    """Copy ``stream`` to the file ``fd`` at ``start`` (where ``fd`` is positioned); the bytes
    written and their SHA-256. Does not fsync.

    ``digest`` (a new SHA-256 when not given) is updated with the bytes in place, so a caller
    appending to a file can continue the hash of what the file held before.
    """
    digest = hashlib.sha256() if digest is None else digest
    first = bytearray(CHUNK_SIZE)
    received = _fill(stream, first)
    view = memoryview(first)[:received]
    _write_all(fd, view)
    digest.update(view)
    if received < CHUNK_SIZE:  # the whole body, or the stream ended: nothing to overlap
        return PutResult(size=received, sha256=digest.hexdigest())
    hasher = _Hasher(digest)
    try:
        size = _copy_rest(stream, fd, hasher, start=start, written=received)
    finally:
        hasher.finish()
    return PutResult(size=size, sha256=hasher.hexdigest())


def _copy_rest(stream: BinaryIO, fd: int, hasher: _Hasher, start: int, written: int) -> int:
    """Copy the rest of ``stream``; ``written`` bytes are already at ``start``. The total."""
    started = start  # write-back was requested for the bytes before this offset
    while True:
        buffer = hasher.free_buffer()
        received = _fill(stream, buffer)
        if not received:
            hasher.give_back(buffer)
            return written
        view = memoryview(buffer)[:received]
        _write_all(fd, view)
        hasher.hash(view, buffer)
        written += received
        if start + written - started >= WRITEBACK_EVERY:
            _start_writeback(fd, started, start + written - started)
            started = start + written


class _Hasher:
    """SHA-256 on a thread of its own, fed filled buffers in order, handing them back empty."""

    def __init__(self, digest: hashlib._Hash) -> None:
        self._digest = digest
        self._todo: queue.SimpleQueue[tuple[memoryview, bytearray] | None] = queue.SimpleQueue()
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        for _ in range(BUFFERS):
            self._free.put(bytearray(CHUNK_SIZE))
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sha256", daemon=True)
        self._thread.start()

    def free_buffer(self) -> bytearray:
        return self._free.get()

    def give_back(self, buffer: bytearray) -> None:
        self._free.put(buffer)

    def hash(self, view: memoryview, buffer: bytearray) -> None:
        self._todo.put((view, buffer))

    def finish(self) -> None:
        self._todo.put(None)
        self._thread.join()
        if self._failure is not None:
            raise self._failure

    def hexdigest(self) -> str:
        return self._digest.hexdigest()

    def _run(self) -> None:
        while (item := self._todo.get()) is not None:
            view, buffer = item
            try:
                self._digest.update(view)
            except BaseException as exc:  # reported by finish(), in the upload's thread
                self._failure = exc
            finally:
                view.release()
                self._free.put(buffer)


def _fill(stream: BinaryIO, buffer: bytearray) -> int:
    """Read into ``buffer`` until it is full or the stream ends; the byte count."""
    view = memoryview(buffer)
    readinto = getattr(stream, "readinto", None)
    filled = 0
    while filled < len(view):
        if readinto is not None:
            got = readinto(view[filled:])
        else:
            data = stream.read(len(view) - filled)
            got = len(data)
            view[filled : filled + got] = data
        if not got:
            break
        filled += got
    return filled


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing ``length`` bytes at ``offset`` to disk, without waiting.

    A failure (-1, e.g. a file system that does not support it) is ignored: it only means the
    final fsync does all the work."""
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, length, _START_WRITE)
