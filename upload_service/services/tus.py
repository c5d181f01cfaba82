"""Resumable uploads (tus 1.0): sessions in ``upload_sessions``, bytes in the store's staging.

The database row is the truth about an upload: its ``offset`` only ever counts bytes the store
reported durable. One PATCH at a time holds the lease ``tus:<id>`` (shared by every process
and host); a second concurrent PATCH gets 409. The PATCH that reaches the length assembles the
blob and hands it to the ingest pipeline's commit, which also marks the session finished in
the same transaction.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, BinaryIO, cast

from sqlalchemy import update
from sqlalchemy.orm import Session
from werkzeug.exceptions import ClientDisconnected

from upload_service.errors import (
    BadRequest,
    Conflict,
    InsufficientStorage,
    NotFound,
    ServiceError,
    TooLarge,
)
from upload_service.models import UploadSession, User, utcnow
from upload_service.runtime import Runtime
from upload_service.schemas.files import OnConflict
from upload_service.services.ingest import (
    IncomingFile,
    IngestOptions,
    IngestResult,
    StagedBlob,
    check_declared,
    commit_staged,
    new_blob_key,
    read_into,
)
from upload_service.services.paths import join_path, normalize_folder, normalize_path
from upload_service.services.placement import live_file_at, path_conflict
from upload_service.storage.base import CHUNK_SIZE
from upload_service.sweeper import STAGING_PREFIX, acquire_lease, new_lease_holder, release_lease

KIND = "tus"
CHECKSUM_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}
# A PATCH's lease lasts this long past its last renewal, so a crashed process blocks its upload
# no longer; a PATCH still receiving renews it every LEASE_RENEWAL (however long it streams).
PATCH_LEASE_TTL = timedelta(minutes=15)
LEASE_RENEWAL = PATCH_LEASE_TTL / 3
_ON_CONFLICT = ("error", "replace", "rename")


class ChecksumMismatch(ServiceError):
    status, code, message = 460, "checksum_mismatch", "The chunk does not match Upload-Checksum."


class Gone(ServiceError):
    status, code, message = 410, "upload_expired", "This upload has expired."


@dataclass
class PatchOutcome:
    session: UploadSession
    file_id: str | None = None


def parse_metadata(header: str | None) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs (the value may be absent)."""
    result: dict[str, str] = {}
    for pair in (header or "").split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, encoded = pair.partition(" ")
        try:
            value = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest(
                f"Upload-Metadata value of {key!r} is not base64 UTF-8.", code="invalid_metadata"
            ) from None
        result[key] = value
    return result


def create_upload(
    runtime: Runtime, owner: User, length: int | None, metadata_header: str | None
) -> UploadSession:
    """A new upload session; refuses at once a length over the limit or the quota (413) and,
    unless ``on_conflict`` says otherwise, a path that is taken (409)."""
    metadata = parse_metadata(metadata_header)
    if not metadata.get("filename"):
        raise BadRequest("Upload-Metadata must carry a filename.", code="missing_filename")
    folder = normalize_folder(metadata.get("folder"))
    path = join_path(folder, normalize_path(metadata["filename"], what="file name"))
    on_conflict = metadata.get("on_conflict") or "error"
    if on_conflict not in _ON_CONFLICT:
        raise BadRequest(
            "on_conflict must be error, replace or rename.", code="invalid_on_conflict"
        )
    content_type = metadata.get("filetype") or None
    item = IncomingFile(path=path, stream=None, declared_size=length)  # type: ignore[arg-type]
    try:
        check_declared(runtime, owner, item, IngestOptions(on_conflict=on_conflict))  # type: ignore[arg-type]
    except InsufficientStorage as exc:
        raise TooLarge(exc.message, code=exc.code, details=exc.details) from None
    now = utcnow()
    with runtime.db.session() as session:
        if on_conflict == "error" and live_file_at(session, owner.id, path) is not None:
            raise path_conflict(path)  # said now, not after the last byte (the commit checks too)
        row = UploadSession(
            owner_id=owner.id,
            kind=KIND,
            path=path,
            size=length,
            content_type=content_type,
            offset=0,
            meta=json.dumps({"metadata": metadata_header or "", "on_conflict": on_conflict}),
            state="pending",
            created_at=now,
            expires_at=now + timedelta(seconds=runtime.settings.UPLOAD_SESSION_TTL),
        )
        session.add(row)
        session.flush()
        row.staging_key = f"{STAGING_PREFIX}{row.id}"
        session.flush()
        session.expunge(row)
    return row


def get_upload(runtime: Runtime, owner: User, upload_id: str) -> UploadSession:
    """The owner's tus session: 404 for anyone else's or a terminated one, 410 once expired."""
    with runtime.db.session() as session:
        row = session.get(UploadSession, upload_id)
        if row is None or row.owner_id != owner.id or row.kind != KIND:
            raise NotFound("No such upload.")
        session.expunge(row)
    if row.state == "expired" or (row.state == "pending" and row.expires_at < utcnow()):
        raise Gone()
    if row.state == "failed":
        raise Gone("This upload failed and cannot continue.", code="upload_failed")
    return row


def patch_upload(
    runtime: Runtime,
    owner: User,
    upload_id: str,
    offset: int,
    stream: BinaryIO,
    *,
    content_length: int | None,
    checksum_header: str | None,
    length: int | None = None,
) -> PatchOutcome:
    """Append one chunk at ``offset``; the chunk that completes the upload commits the file."""
    checker = _checksum(checksum_header)
    row = get_upload(runtime, owner, upload_id)
    _check_offset(row, offset)
    holder = new_lease_holder()
    lease = f"tus:{row.id}"
    if not acquire_lease(runtime.db, lease, holder, utcnow(), PATCH_LEASE_TTL):
        raise Conflict("Another request is writing to this upload.", code="upload_locked")
    try:
        row = get_upload(runtime, owner, upload_id)  # what the previous holder left
        _check_offset(row, offset)
        if row.size is None and length is not None:
            row = _declare_length(runtime, owner, row, length)
        limit = (row.size if row.size is not None else runtime.settings.MAX_FILE_SIZE) - offset
        if content_length is not None and content_length > limit:
            raise TooLarge(
                f"The chunk would go past Upload-Length ({limit} bytes remain).",
                code="past_upload_length",
            )
        renew = partial(_renew_lease, runtime, lease, holder)
        reader = _ChunkReader(stream, limit, checker, renew)
        assert row.staging_key is not None
        new_offset = runtime.store.stage_append(
            row.staging_key,
            offset,
            cast(BinaryIO, reader),
            reader.verify,
        )
        _record_offset(runtime, row, offset, new_offset)
        row.offset = new_offset
        if reader.interrupted:  # every byte received is staged and recorded; the client left
            raise BadRequest("The chunk was cut off.", code="upload_interrupted")
        if row.size is not None and new_offset == row.size:
            return PatchOutcome(row, _finish(runtime, owner, row))
        return PatchOutcome(row)
    finally:
        release_lease(runtime.db, lease, holder)


def _renew_lease(runtime: Runtime, lease: str, holder: str) -> None:
    """Keep holding ``lease`` while the PATCH still streams (409 if it was lost meanwhile)."""
    if not acquire_lease(runtime.db, lease, holder, utcnow(), PATCH_LEASE_TTL):
        raise Conflict("Another request took over this upload.", code="upload_locked")


def terminate_upload(runtime: Runtime, owner: User, upload_id: str) -> None:
    """Remove the session and its staged bytes (a running PATCH makes this a 409)."""
    with runtime.db.session() as session:
        row = session.get(UploadSession, upload_id)
        if row is None or row.owner_id != owner.id or row.kind != KIND:
            raise NotFound("No such upload.")
        staging_key = row.staging_key
    holder = new_lease_holder()
    lease = f"tus:{upload_id}"
    if not acquire_lease(runtime.db, lease, holder, utcnow(), PATCH_LEASE_TTL):
        raise Conflict("Another request is writing to this upload.", code="upload_locked")
    try:
        if staging_key:
            runtime.store.stage_discard(staging_key)
        with runtime.db.session() as session:
            row = session.get(UploadSession, upload_id)
            if row is not None:
                session.delete(row)
    finally:
        release_lease(runtime.db, lease, holder)


def _check_offset(row: UploadSession, offset: int) -> None:
    if row.state != "pending" or offset != row.offset:
        raise Conflict(
            f"Upload-Offset must be {row.offset}.",
            code="offset_mismatch",
            details=[{"offset": row.offset}],
        )


def _declare_length(
    runtime: Runtime, owner: User, row: UploadSession, length: int
) -> UploadSession:
    if length < row.offset:
        raise BadRequest("Upload-Length is smaller than the bytes received.", code="invalid_length")
    item = IncomingFile(path=row.path, stream=None, declared_size=length)  # type: ignore[arg-type]
    options = IngestOptions(on_conflict=_meta(row)["on_conflict"])
    try:
        check_declared(runtime, owner, item, options)
    except InsufficientStorage as exc:
        raise TooLarge(exc.message, code=exc.code, details=exc.details) from None
    with runtime.db.session() as session:
        session.execute(
            update(UploadSession)
            .where(UploadSession.id == row.id, UploadSession.size.is_(None))
            .values(size=length)
        )
    row.size = length
    return row


def _record_offset(runtime: Runtime, row: UploadSession, old: int, new: int) -> None:
    with runtime.db.session() as session:
        session.execute(
            update(UploadSession)
            .where(UploadSession.id == row.id, UploadSession.offset == old)
            .values(offset=new)
        )


def _finish(runtime: Runtime, owner: User, row: UploadSession) -> str:
    """Assemble the staged bytes into a blob and commit it through the ingest pipeline."""
    assert row.staging_key is not None
    key = new_blob_key()
    result = runtime.store.stage_finish(row.staging_key, key)
    blob = StagedBlob(key=key, size=result.size, sha256=result.sha256)
    item = IncomingFile(
        path=row.path,
        stream=None,  # type: ignore[arg-type]
        content_type=row.content_type,
        declared_size=row.size,
    )
    meta = _meta(row)

    def mark_finished(session: Session, results: list[IngestResult]) -> None:
        session.execute(
            update(UploadSession)
            .where(UploadSession.id == row.id)
            .values(state="finished", file_id=results[0].file.id)
        )

    options = IngestOptions(on_conflict=meta["on_conflict"], on_commit=mark_finished)
    try:
        committed = commit_staged(runtime, owner, item, blob, options)
    except BaseException:
        with runtime.db.session() as session:  # the staged bytes are gone with the blob
            session.execute(
                update(UploadSession).where(UploadSession.id == row.id).values(state="failed")
            )
        raise
    row.state = "finished"
    row.file_id = committed.file.id
    return committed.file.id


def _meta(row: UploadSession) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads(row.meta or "{}")
    on_conflict: OnConflict = meta.get("on_conflict") or "error"
    meta["on_conflict"] = on_conflict
    return meta


def _checksum(header: str | None) -> tuple[Any, bytes] | None:
    """``Upload-Checksum: <algorithm> <base64 digest>`` → (hash object, expected digest)."""
    if not header:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    factory = CHECKSUM_ALGORITHMS.get(algorithm.lower())
    if factory is None:
        raise BadRequest(
            f"Upload-Checksum algorithm must be one of {', '.join(CHECKSUM_ALGORITHMS)}.",
            code="unsupported_checksum",
        )
    try:
        expected = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise BadRequest("Upload-Checksum digest is not base64.", code="invalid_checksum") from None
    return factory(), expected


class _ChunkReader:
    """The PATCH body: bounded reads, a byte limit, optional checksum, cut-offs as EOF."""

    def __init__(
        self,
        raw: BinaryIO,
        limit: int,
        checker: tuple[Any, bytes] | None,
        renew_lease: Callable[[], None],
    ) -> None:
        self.raw = raw
        self.limit = limit
        self.checker = checker
        self.renew_lease = renew_lease
        self.renew_at = time.monotonic() + LEASE_RENEWAL.total_seconds()
        self.count = 0
        self.interrupted = False

    def read(self, size: int = CHUNK_SIZE) -> bytes:
        if self.interrupted:
            return b""
        try:
            data = self.raw.read(CHUNK_SIZE if size < 0 else min(size, CHUNK_SIZE))
        except (OSError, ClientDisconnected):  # timeouts, resets, a body shorter than declared
            self.interrupted = True
            return b""
        self._received(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        """Like :meth:`read`, into the caller's buffer (a big chunk is not copied once more)."""
        if self.interrupted:
            return 0
        try:
            received = read_into(self.raw, memoryview(buffer).cast("B"))
        except (OSError, ClientDisconnected):
            self.interrupted = True
            return 0
        self._received(memoryview(buffer)[:received])
        return received

    def _received(self, data: bytes | memoryview) -> None:
        self.count += len(data)
        if self.count > self.limit:
            raise TooLarge(
                f"The chunk goes past Upload-Length ({self.limit} bytes remained).",
                code="past_upload_length",
            )
        if self.checker is not None:
            self.checker[0].update(data)
        if time.monotonic() >= self.renew_at:
            self.renew_lease()
            self.renew_at = time.monotonic() + LEASE_RENEWAL.total_seconds()

    def verify(self) -> None:
        if self.checker is None:
            return
        if self.interrupted:  # a cut chunk cannot match its checksum: keep nothing of it
            raise BadRequest("The chunk was cut off.", code="upload_interrupted")
        digest, expected = self.checker
        if not hmac.compare_digest(digest.digest(), expected):
            raise ChecksumMismatch()


def stored_metadata(row: UploadSession) -> str:
    """The ``Upload-Metadata`` header the upload was created with."""
    return str(_meta(row).get("metadata") or "")
