"""Writing while hashing on a second thread (storage/writing.py): the bytes and digest are exact."""

from __future__ import annotations

import hashlib
import io
import os
import sys
import threading
from pathlib import Path

import pytest

from upload_service.storage import writing
from upload_service.storage.base import CHUNK_SIZE
from upload_service.storage.writing import WRITEBACK_EVERY, write_hashing


class Trickle(io.RawIOBase):
    """A body that arrives in uneven pieces, as a socket gives it, with or without readinto."""

    def __init__(self, data: bytes, piece: int, fail_after: int | None = None) -> None:
        self.data = memoryview(data)
        self.piece = piece
        self.fail_after = fail_after
        self.sent = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.fail_after is not None and self.sent >= self.fail_after:
            raise ConnectionResetError("the client went away")
        n = min(len(buffer), self.piece, len(self.data) - self.sent)
        buffer[:n] = self.data[self.sent : self.sent + n]
        self.sent += n
        return n


class ReadOnly:
    """A stream with ``read`` only (like a chunked request body)."""

    def __init__(self, data: bytes) -> None:
        self.inner = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self.inner.read(min(size, 100_003))


def write(tmp_path: Path, stream: object) -> tuple[bytes, str, int]:
    target = tmp_path / "blob"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        result = write_hashing(stream, fd)  # type: ignore[arg-type]
    finally:
        os.close(fd)
    return target.read_bytes(), result.sha256, result.size


@pytest.mark.parametrize(
    "size",
    [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, WRITEBACK_EVERY + 3 * CHUNK_SIZE + 7],
)
def test_every_byte_is_written_and_hashed_in_order(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    written, sha256, counted = write(tmp_path, Trickle(data, piece=65_537))
    assert written == data
    assert counted == size
    assert sha256 == hashlib.sha256(data).hexdigest()


def test_a_stream_without_readinto(tmp_path: Path) -> None:
    data = os.urandom(3 * CHUNK_SIZE + 11)
    written, sha256, _ = write(tmp_path, ReadOnly(data))
    assert written == data and sha256 == hashlib.sha256(data).hexdigest()


def test_a_body_cut_midway_raises_and_leaves_no_hashing_thread(tmp_path: Path) -> None:
    before = threading.active_count()
    data = os.urandom(6 * CHUNK_SIZE)
    with pytest.raises(ConnectionResetError):
        write(tmp_path, Trickle(data, piece=CHUNK_SIZE, fail_after=3 * CHUNK_SIZE))
    assert threading.active_count() == before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
def test_write_back_starts_every_few_mib_while_the_body_arrives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without it the final fsync flushes the whole file after the last byte (os has no binding
    # for sync_file_range: it is the C library's, bound when the module loads).
    real = writing._sync_file_range
    assert real is not None
    requested: list[tuple[int, int, int]] = []

    def recording(fd: int, offset: int, length: int, flags: int) -> int:
        answer = real(fd, offset, length, flags)
        requested.append((offset, length, answer))
        return answer

    monkeypatch.setattr(writing, "_sync_file_range", recording)
    data = os.urandom(3 * WRITEBACK_EVERY + CHUNK_SIZE)
    written, sha256, _ = write(tmp_path, Trickle(data, piece=CHUNK_SIZE))
    assert written == data and sha256 == hashlib.sha256(data).hexdigest()
    steps = [(offset, length) for offset, length, _ in requested]
    assert steps == [(n * WRITEBACK_EVERY, WRITEBACK_EVERY) for n in range(3)]
    assert all(answer == 0 for *_, answer in requested)  # the kernel took each request
