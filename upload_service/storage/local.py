"""Blobs as files under one root directory."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from upload_service.storage.base import (
    CHUNK_SIZE,
    BlobNotFound,
    BlobStat,
    PutResult,
    SignedUpload,
    StagingMismatch,
    StorageUnavailable,
    Verify,
)
from upload_service.storage.limited import LimitedReader
from upload_service.storage.writing import write_hashing

_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
_TEMP_PREFIX = ".tmp-"
# What the OS says when a key names nothing, a directory ("ab" of "ab/cd"), or a path through a
# file ("ab/cd/ef" when "ab/cd" is a blob): for every backend, that key is simply not a blob.
_MISSING = (FileNotFoundError, IsADirectoryError, NotADirectoryError)


class LocalBlobStore:
    """Root-confined file storage; writes go to a temp file, are fsynced and renamed."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if not _KEY_RE.fullmatch(key):  # fullmatch: "$" alone would accept a trailing newline
            raise ValueError(f"invalid blob key {key!r}")
        return self.root / key

    def put(self, key: str, stream: BinaryIO) -> PutResult:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=target.parent)
        try:
            try:
                result = write_hashing(stream, fd)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return result

    def open(self, key: str, start: int = 0, length: int | None = None) -> BinaryIO:
        if start < 0 or (length is not None and length < 0):
            raise ValueError("start and length must not be negative")
        try:
            handle = self._path(key).open("rb")
        except _MISSING:
            raise BlobNotFound() from None
        if start:
            handle.seek(start)
        if length is None:
            return handle
        return LimitedReader(handle, length)  # type: ignore[return-value]

    def stat(self, key: str) -> BlobStat:
        try:
            info = self._path(key).stat()
        except _MISSING:
            raise BlobNotFound() from None
        if not stat.S_ISREG(info.st_mode):  # "ab" is a directory when "ab/cd" exists
            raise BlobNotFound()
        return BlobStat(key=key, size=info.st_size, modified_at=_mtime(info.st_mtime))

    def delete(self, key: str) -> None:
        with contextlib.suppress(*_MISSING):
            self._path(key).unlink()

    def iter_blobs(self, prefix: str = "") -> Iterator[BlobStat]:
        for dirpath, _dirs, names in os.walk(self.root):
            for name in names:
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix()
                if name.startswith(_TEMP_PREFIX) or not key.startswith(prefix):
                    continue
                try:
                    info = path.stat()
                except FileNotFoundError:  # removed while we walked
                    continue
                yield BlobStat(key=key, size=info.st_size, modified_at=_mtime(info.st_mtime))

    def iter_stray_temp_files(self, older_than: datetime) -> Iterator[Path]:
        """Temp files left by a crash in the middle of ``put``."""
        for path in self.root.rglob(f"{_TEMP_PREFIX}*"):
            try:
                if _mtime(path.stat().st_mtime) < older_than:
                    yield path
            except FileNotFoundError:
                continue

    def signed_download_url(
        self, key: str, expires_in: int, filename: str, content_type: str
    ) -> str | None:
        return None  # the service signs its own URLs for local storage

    def signed_upload(
        self, key: str, size: int, content_type: str, expires_in: int
    ) -> SignedUpload | None:
        return None  # the service signs its own upload URLs for local storage

    def stage_append(
        self, staging_key: str, offset: int, stream: BinaryIO, verify: Verify | None = None
    ) -> int:
        path = self._path(staging_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+b") as out:
            staged = os.fstat(out.fileno()).st_size
            if offset > staged:
                raise StagingMismatch(details=[{"staged": staged, "offset": offset}])
            out.truncate(offset)  # bytes an unrecorded (crashed) write left behind
            out.seek(offset)
            try:
                for chunk in _chunks(stream):
                    out.write(chunk)
                if verify is not None:
                    verify()
            except BaseException:
                out.truncate(offset)
                out.flush()
                raise
            finally:
                out.flush()
                os.fsync(out.fileno())
            size = out.tell()
        if offset == 0:
            _fsync_dir(path.parent)
        return size

    def stage_size(self, staging_key: str) -> int:
        try:
            return self._path(staging_key).stat().st_size
        except _MISSING:
            return 0

    def stage_finish(self, staging_key: str, key: str) -> PutResult:
        return self.promote(staging_key, key)  # the staged data is one file

    def promote(self, source_key: str, key: str) -> PutResult:
        source = self._path(source_key)
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, target)  # same file system: the uploaded file becomes the blob
        except _MISSING:
            raise BlobNotFound() from None
        _fsync_dir(target.parent)
        try:
            with target.open("rb") as blob:
                return _copy_hashing(blob, _NullSink())
        except BaseException:
            target.unlink(missing_ok=True)
            raise

    def stage_discard(self, staging_key: str) -> None:
        with contextlib.suppress(*_MISSING):
            self._path(staging_key).unlink()

    def ping(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise StorageUnavailable(f"storage directory {self.root} is not writable")


class _NullSink:
    def write(self, data: bytes | memoryview) -> int:
        return len(data)


def _copy_hashing(stream: BinaryIO, out: BinaryIO | _NullSink) -> PutResult:
    """Copy ``stream`` to ``out`` in bounded chunks, counting and hashing as it goes."""
    digest = hashlib.sha256()
    size = 0
    for chunk in _chunks(stream):
        digest.update(chunk)
        out.write(chunk)
        size += len(chunk)
    return PutResult(size=size, sha256=digest.hexdigest())


def _chunks(stream: BinaryIO) -> Iterator[bytes | memoryview]:
    """The stream's bytes, at most ``CHUNK_SIZE`` at a time.

    A stream with ``readinto`` fills one reused buffer (each chunk is valid until the next one
    is taken): for a big upload that saves allocating and copying every megabyte once more.
    """
    readinto = getattr(stream, "readinto", None)
    if readinto is None:
        while chunk := stream.read(CHUNK_SIZE):
            yield chunk
        return
    buffer = memoryview(bytearray(CHUNK_SIZE))
    while received := readinto(buffer):
        yield buffer[:received]


def _mtime(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
