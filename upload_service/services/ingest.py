"""The one ingest pipeline. Every way a file arrives ends in :func:`ingest_files`.

Stream in bounded chunks → enforce size and quota while streaming → hash while streaming →
write the blob atomically → commit metadata in one DB transaction. A failure at any step leaves
no visible file; a blob written before a failed commit is deleted at once, or (after a crash)
by the sweeper, which removes stored objects that no row references.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from upload_service.db import upsert_returning
from upload_service.errors import BadRequest, InsufficientStorage, TooLarge, VerificationFailed
from upload_service.models import Blob, File, TemporaryUpload, User, utcnow
from upload_service.runtime import Runtime
from upload_service.schemas.files import OnConflict
from upload_service.services import placement
from upload_service.services.categories import category_for, guess_content_type
from upload_service.services.paths import join_path, normalize_path, split_path
from upload_service.services.users import quota_bytes, usage_bytes, user_write_session
from upload_service.storage.base import CHUNK_SIZE, BlobStore

BLOB_PREFIX = "blobs/"
# A multipart body may be this much larger than MAX_FILE_SIZE (part headers, other fields);
# every file inside it is still held to MAX_FILE_SIZE by the pipeline.
MULTIPART_OVERHEAD = 1024 * 1024
_COMMIT_ATTEMPTS = 5


@dataclass
class IncomingFile:
    """One file as it arrives: a normalized path and a readable stream."""

    path: str
    stream: BinaryIO
    content_type: str | None = None
    declared_size: int | None = None
    declared_sha256: str | None = None
    mtime: float | None = None


class UploadedPart(Protocol):
    """A file part of a multipart form (werkzeug's ``FileStorage`` is one)."""

    @property
    def filename(self) -> str | None: ...

    @property
    def stream(self) -> Any: ...

    @property
    def mimetype(self) -> str: ...


def incoming_parts(folder: str, parts: Sequence[UploadedPart]) -> list[IncomingFile]:
    """Form file parts as pipeline input, each named by its (normalized) file name."""
    return [
        IncomingFile(
            path=join_path(folder, normalize_path(part.filename or "", what="file name")),
            stream=part.stream,
            content_type=part.mimetype,
        )
        for part in parts
    ]


@dataclass
class StagedBlob:
    key: str
    size: int
    sha256: str


@dataclass
class IngestOptions:
    on_conflict: OnConflict = "error"
    if_match: str | None = None  # the current file's sha256 must be this (412 otherwise)
    temporary: TemporaryUpload | None = None
    description: str | None = None
    # Runs inside the commit's transaction, after the files are placed (e.g. a tus session
    # records that it finished in the same transaction that makes its file visible).
    on_commit: Callable[[Session, list[IngestResult]], None] | None = None


@dataclass
class IngestResult:
    file: File
    created: bool  # False when an existing file was replaced


@dataclass
class _Limits:
    max_size: int
    quota_left: int | None  # None = unlimited
    spent: int = field(default=0)


class LimitedStream:
    """Counts bytes as they are read and stops as soon as a limit is crossed."""

    def __init__(self, raw: BinaryIO, limits: _Limits) -> None:
        self.raw = raw
        self.limits = limits
        self.count = 0

    def read(self, size: int = CHUNK_SIZE) -> bytes:
        try:
            data = self.raw.read(CHUNK_SIZE if size < 0 else min(size, CHUNK_SIZE))
        except (TimeoutError, ConnectionError) as exc:  # the client went silent or away
            raise self._interrupted() from exc
        self._count(len(data))
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        """Like :meth:`read`, but into the caller's buffer: big uploads are not copied again."""
        try:
            received = read_into(self.raw, memoryview(buffer).cast("B"))
        except (TimeoutError, ConnectionError) as exc:
            raise self._interrupted() from exc
        self._count(received)
        return received

    def _count(self, received: int) -> None:
        self.count += received
        _check_limits(self.count, self.limits.spent, self.limits)

    @staticmethod
    def _interrupted() -> BadRequest:
        return BadRequest(
            "The upload was interrupted before the whole body arrived.",
            code="upload_interrupted",
        )


def read_into(raw: BinaryIO, view: memoryview) -> int:
    """Receive from a request body into ``view``: straight in when the body can (``readinto``),
    else read and copied (e.g. gunicorn's reader of a chunked body)."""
    readinto = getattr(raw, "readinto", None)
    if readinto is not None:
        received: int = readinto(view) or 0
        return received
    data = raw.read(len(view))
    view[: len(data)] = data
    return len(data)


def _check_limits(size: int, spent: int, limits: _Limits) -> None:
    if size > limits.max_size:
        raise TooLarge(
            f"The file is larger than the limit of {limits.max_size} bytes.",
            details=[{"max_size": limits.max_size}],
        )
    if limits.quota_left is not None and spent + size > limits.quota_left:
        raise InsufficientStorage(
            "This upload would exceed your storage quota.",
            details=[{"available": max(limits.quota_left - spent, 0)}],
        )


def new_blob_key() -> str:
    return BLOB_PREFIX + secrets.token_urlsafe(24)


def ingest_files(
    runtime: Runtime, owner: User, items: Sequence[IncomingFile], options: IngestOptions
) -> list[IngestResult]:
    """Store ``items`` for ``owner``: all of them or, on any error, none."""
    limits = _limits_for(runtime, owner, items, options)
    for item in items:  # reject early on declared sizes, before reading a byte
        if item.declared_size is not None:
            _check_limits(item.declared_size, 0, limits)
    staged: list[StagedBlob] = []
    try:
        for item in items:
            staged.append(stage_stream(runtime.store, item, limits))
        return _commit_with_retries(runtime, owner, items, staged, options)
    except BaseException:
        for blob in staged:
            runtime.store.delete(blob.key)
        raise


def check_declared(
    runtime: Runtime, owner: User, item: IncomingFile, options: IngestOptions
) -> None:
    """Refuse a declared size over ``MAX_FILE_SIZE`` or the owner's quota, before any byte."""
    if item.declared_size is not None:
        _check_limits(item.declared_size, 0, _limits_for(runtime, owner, [item], options))


def commit_staged(
    runtime: Runtime,
    owner: User,
    item: IncomingFile,
    blob: StagedBlob,
    options: IngestOptions,
) -> IngestResult:
    """The pipeline's commit for a blob assembled elsewhere (resumable uploads).

    Same checks as a streamed upload: declared size and SHA-256, quota, dedup, conflicts.
    On any error the blob is deleted.
    """
    try:
        _verify(item, blob)
        [result] = _commit_with_retries(runtime, owner, [item], [blob], options)
    except BaseException:
        runtime.store.delete(blob.key)
        raise
    return result


def _limits_for(
    runtime: Runtime, owner: User, items: Sequence[IncomingFile], options: IngestOptions
) -> _Limits:
    quota = quota_bytes(owner, runtime.settings.USER_QUOTA)
    if not quota:
        return _Limits(max_size=runtime.settings.MAX_FILE_SIZE, quota_left=None)
    with runtime.db.session() as session:
        # a replacing upload frees the bytes of the file it replaces
        used = usage_bytes(session, owner) - placement.replaced_size(session, owner, items, options)
    return _Limits(max_size=runtime.settings.MAX_FILE_SIZE, quota_left=max(quota - used, 0))


def receive_declared(
    runtime: Runtime, owner: User, item: IncomingFile, key: str, options: IngestOptions
) -> StagedBlob:
    """Stream one item to ``key`` (not a blob yet) under the pipeline's limits.

    The signed upload URL of local storage: not a byte past the declared size, the file size
    limit or the quota is written, and the declared size and SHA-256 are verified.
    """
    limits = _limits_for(runtime, owner, [item], options)
    if item.declared_size is not None:
        _check_limits(item.declared_size, 0, limits)
        limits.max_size = min(limits.max_size, item.declared_size)
    return stage_stream(runtime.store, item, limits, key=key)


def stage_stream(
    store: BlobStore, item: IncomingFile, limits: _Limits, key: str | None = None
) -> StagedBlob:
    """Write one stream to ``key`` (a new blob key by default), enforcing limits and verifying
    what was declared."""
    key = key or new_blob_key()
    reader = LimitedStream(item.stream, limits)
    result = store.put(key, reader)  # type: ignore[arg-type]
    blob = StagedBlob(key=key, size=result.size, sha256=result.sha256)
    limits.spent += result.size
    try:
        _verify(item, blob)
    except BaseException:
        store.delete(key)
        raise
    return blob


def _verify(item: IncomingFile, blob: StagedBlob) -> None:
    if item.declared_size is not None and item.declared_size != blob.size:
        raise BadRequest(
            f"Expected {item.declared_size} bytes but received {blob.size}.", code="size_mismatch"
        )
    declared = (item.declared_sha256 or "").lower()
    if declared and not hmac.compare_digest(declared, blob.sha256):
        raise VerificationFailed(
            "The SHA-256 of the received content does not match the declared one.",
            code="checksum_mismatch",
            details=[{"declared": declared, "actual": blob.sha256}],
        )


def _commit_with_retries(
    runtime: Runtime,
    owner: User,
    items: Sequence[IncomingFile],
    staged: list[StagedBlob],
    options: IngestOptions,
) -> list[IngestResult]:
    """Commit; a lost race on a unique index (same path, same blob) is retried."""
    for attempt in range(_COMMIT_ATTEMPTS):
        try:
            with user_write_session(runtime.db, owner) as session:
                results, reused = _commit(runtime, session, owner, items, staged, options)
        except IntegrityError:
            # Lost a race (same path, same content, or a blob swept meanwhile): run again; the
            # rerun sees the winner's row and answers as usual (409, replace or rename).
            if attempt == _COMMIT_ATTEMPTS - 1:
                raise placement.path_conflict() from None
            continue
        for key in reused:  # content the owner already had: our copy is redundant
            runtime.store.delete(key)
        return results
    raise AssertionError("unreachable")


def _commit(
    runtime: Runtime,
    session: Session,
    owner: User,
    items: Sequence[IncomingFile],
    staged: list[StagedBlob],
    options: IngestOptions,
) -> tuple[list[IngestResult], list[str]]:
    _recheck_quota(runtime, session, owner, items, staged, options)
    results: list[IngestResult] = []
    reused: list[str] = []
    now = utcnow()
    for item, blob in zip(items, staged, strict=True):
        row = attach_blob(session, owner, blob, now)
        if row.storage_key != blob.key:
            reused.append(blob.key)
        results.append(_place_file(session, owner, item, row, options, now))
    session.flush()
    if options.on_commit is not None:
        options.on_commit(session, results)
    return results, reused


def _recheck_quota(
    runtime: Runtime,
    session: Session,
    owner: User,
    items: Sequence[IncomingFile],
    staged: list[StagedBlob],
    options: IngestOptions,
) -> None:
    """Concurrent uploads may each have passed the streaming check; the sum must too."""
    quota = quota_bytes(owner, runtime.settings.USER_QUOTA)
    if not quota:
        return
    incoming = sum(blob.size for blob in staged)
    replaced = placement.replaced_size(session, owner, items, options)
    if usage_bytes(session, owner) - replaced + incoming > quota:
        raise InsufficientStorage("This upload would exceed your storage quota.")


def attach_blob(session: Session, owner: User, blob: StagedBlob, now: datetime) -> Blob:
    """The owner's blob row for this content: the existing one (dedup) or a new one.

    The row is locked and its ``last_used_at`` refreshed, so the sweeper (which only deletes
    blobs unused for its grace period) cannot collect it under this upload.
    """
    row = {
        "owner_id": owner.id,
        "sha256": blob.sha256,
        "size": blob.size,
        "storage_key": blob.key,
        "created_at": now,
        "last_used_at": now,
    }
    # one statement whether or not the owner already has this content (or commits it now)
    return upsert_returning(session, Blob, row, ("owner_id", "sha256"), ("last_used_at",))


def _place_file(
    session: Session,
    owner: User,
    item: IncomingFile,
    blob: Blob,
    options: IngestOptions,
    now: datetime,
) -> IngestResult:
    content_type = guess_content_type(item.path, item.content_type)
    if options.temporary is not None:
        file = _new_file(owner, item.path, blob, content_type, now, item.mtime)
        file.state = "temporary"
        file.temp_upload_id = options.temporary.id
        file.expires_at = options.temporary.expires_at
        session.add(file)
        return IngestResult(file=file, created=True)
    path, existing = placement.settle_path(session, owner, item.path, options)
    if existing is not None:
        _fill_content(existing, blob, content_type, now, item.mtime)
        if options.description is not None:
            existing.description = options.description
        return IngestResult(file=existing, created=False)
    file = _new_file(owner, path, blob, content_type, now, item.mtime)
    file.description = options.description or ""
    session.add(file)
    session.flush()
    return IngestResult(file=file, created=True)


def _new_file(
    owner: User, path: str, blob: Blob, content_type: str, now: datetime, mtime: float | None
) -> File:
    folder, name = split_path(path)
    file = File(owner_id=owner.id, path=path, folder=folder, name=name, created_at=now)
    file.description = ""
    _fill_content(file, blob, content_type, now, mtime)
    return file


def _fill_content(
    file: File, blob: Blob, content_type: str, now: datetime, mtime: float | None
) -> None:
    file.blob_id = blob.id
    file.size = blob.size
    file.sha256 = blob.sha256
    file.content_type = content_type
    file.category = category_for(content_type, file.path)
    file.updated_at = now
    file.mtime = mtime
