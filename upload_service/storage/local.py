"""Blobs as files under one root directory."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import stat
import tempfile
import threading
from collections import OrderedDict
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
    StagingBusy,
    StagingMismatch,
    StorageUnavailable,
    Verify,
)
from upload_service.storage.limited import LimitedReader
from upload_service.storage.writing import write_hashing

_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
_TEMP_PREFIX = ".tmp-"
_WRITER_ATTR = "user.upload_service.writer"  # see _StagedHashes
# What the OS says when a key names nothing, a directory ("ab" of "ab/cd"), or a path through a
# file ("ab/cd/ef" when "ab/cd" is a blob): for every backend, that key is simply not a blob.
_MISSING = (FileNotFoundError, IsADirectoryError, NotADirectoryError)


class LocalBlobStore:
    """Root-confined file storage; writes go to a temp file, are fsynced and renamed."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._hashes = _StagedHashes()

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
        with _locked_staging(path, create=True) as fd:
            staged = os.fstat(fd).st_size
            if offset > staged:
                raise StagingMismatch(details=[{"staged": staged, "offset": offset}])
            digest = self._hashes.resume(staging_key, fd, offset)
            mark = _mark_writer(fd)  # before any byte changes: others' saved hashes are stale now
            os.ftruncate(fd, offset)  # bytes an unrecorded (crashed) write left behind
            os.lseek(fd, offset, os.SEEK_SET)
            try:
                written = write_hashing(stream, fd, digest, start=offset).size
                if verify is not None:
                    verify()
            except BaseException:
                os.ftruncate(fd, offset)
                raise
            finally:
                os.fsync(fd)
            size = offset + written
            self._hashes.save(staging_key, mark, size, digest)
        if offset == 0:
            _fsync_dir(path.parent)
        return size

    def stage_size(self, staging_key: str) -> int:
        try:
            return self._path(staging_key).stat().st_size
        except _MISSING:
            return 0

    def stage_finish(self, staging_key: str, key: str) -> PutResult:
        """The staged file becomes the blob; its hash is the one kept while appending when this
        process wrote every byte of it (else the blob is read once more to hash it)."""
        source = self._path(staging_key)
        try:
            with _locked_staging(source, create=False) as fd:
                known = self._hashes.finished(staging_key, fd)
                with contextlib.suppress(OSError):  # the blob does not keep the writer mark
                    os.removexattr(fd, _WRITER_ATTR)
                if known is None:
                    return self.promote(staging_key, key)
                self._move(source, self._path(key))
                return known
        except _MISSING:
            raise BlobNotFound() from None

    def promote(self, source_key: str, key: str) -> PutResult:
        target = self._path(key)
        self._move(self._path(source_key), target)
        try:
            with target.open("rb") as blob:
                return _copy_hashing(blob, _NullSink())
        except BaseException:
            target.unlink(missing_ok=True)
            raise

    @staticmethod
    def _move(source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, target)  # same file system: the uploaded file becomes the blob
        except _MISSING:
            raise BlobNotFound() from None
        _fsync_dir(target.parent)

    def stage_discard(self, staging_key: str) -> None:
        with contextlib.suppress(*_MISSING):
            self._path(staging_key).unlink()

    def ping(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise StorageUnavailable(f"storage directory {self.root} is not writable")


class _StagedHashes:
    """The SHA-256 of staged files as this process last appended to them.

    A resumable upload arrives in several requests; hashing each as it is written (beside the
    write, storage/writing.py) saves reading the whole file again when it is finished. The
    state cannot be stored on disk, so it lives here, and is only used while the staged file
    still carries the writer mark (an extended attribute) this process gave it: any other
    writer, in this process or another, replaces the mark before it changes a byte. Where
    extended attributes are unsupported nothing is kept and the finished file is hashed anew.
    """

    LIMIT = 256  # uploads in progress remembered; the oldest are forgotten first

    def __init__(self) -> None:
        self._saved: OrderedDict[str, tuple[bytes, int, hashlib._Hash]] = OrderedDict()
        self._lock = threading.Lock()

    def resume(self, staging_key: str, fd: int, offset: int) -> hashlib._Hash | None:
        """The hash to continue for an append at ``offset``: new at 0, else the saved one if
        it covers exactly the first ``offset`` bytes of the file ``fd``; None otherwise."""
        saved = self._take(staging_key)
        if offset == 0:
            return hashlib.sha256()
        if saved is None:
            return None
        mark, size, digest = saved
        return digest if size == offset and _writer_mark(fd) == mark else None

    def save(
        self, staging_key: str, mark: bytes | None, size: int, digest: hashlib._Hash | None
    ) -> None:
        if mark is None or digest is None:
            return
        with self._lock:
            self._saved[staging_key] = (mark, size, digest)
            while len(self._saved) > self.LIMIT:
                self._saved.popitem(last=False)

    def finished(self, staging_key: str, fd: int) -> PutResult | None:
        """The size and hash of the whole file ``fd`` if the saved ones still describe it."""
        saved = self._take(staging_key)
        if saved is None:
            return None
        mark, size, digest = saved
        if size != os.fstat(fd).st_size or _writer_mark(fd) != mark:
            return None
        return PutResult(size=size, sha256=digest.hexdigest())

    def _take(self, staging_key: str) -> tuple[bytes, int, hashlib._Hash] | None:
        with self._lock:
            return self._saved.pop(staging_key, None)


@contextlib.contextmanager
def _locked_staging(path: Path, *, create: bool) -> Iterator[int]:
    """The staged file ``path``, open and locked for this request alone (409 when it is not
    free: a stalled request of an earlier lease holder may still be writing it)."""
    fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StagingBusy() from None
        if os.fstat(fd).st_ino != _inode(path):  # finished or discarded while we opened it
            raise StagingBusy()
        yield fd
    finally:
        os.close(fd)  # and the lock with it


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except _MISSING:
        return None


def _mark_writer(fd: int) -> bytes | None:
    """Give the file ``fd`` a new random writer mark; None where that is unsupported."""
    mark = secrets.token_bytes(16)
    try:
        os.setxattr(fd, _WRITER_ATTR, mark)
    except OSError:
        with contextlib.suppress(OSError):
            os.removexattr(fd, _WRITER_ATTR)
        if _writer_mark(fd) is not None:  # a stale mark would vouch for bytes we change now
            raise StorageUnavailable("cannot update the staged file's writer mark") from None
        return None
    return mark


def _writer_mark(fd: int) -> bytes | None:
    try:
        return os.getxattr(fd, _WRITER_ATTR)
    except OSError:
        return None


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
