"""Signed direct uploads (contract §7.3): a client uploads straight to storage, then completes.

``create_direct_upload`` records an ``upload_sessions`` row (kind ``direct``) and returns where
to send the bytes: the store's own signed upload (an S3 presigned POST pinning key, size and
type) or, for local storage, a URL of this service signed with ``SECRET_KEY``. The bytes land
under the session's ``staging_key``, never under a blob key. ``complete_direct_upload`` then
checks the object (exists, declared size, declared SHA-256), moves it to a fresh blob key with
:meth:`BlobStore.promote` (so a second upload to the same URL can never change the file) and
commits it through the ingest pipeline, which re-applies quota, dedup and ``on_conflict``.

One request at a time works on a session: the lease ``direct:<id>`` (as tus uses), so two
completes cannot make two files, and an abort cannot race an upload.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import update
from sqlalchemy.orm import Session

from upload_service.errors import Conflict, Forbidden, NotFound, ServiceError, VerificationFailed
from upload_service.models import File, UploadSession, User, utcnow
from upload_service.runtime import Runtime
from upload_service.schemas.files import OnConflict
from upload_service.services import placement
from upload_service.services.categories import guess_content_type
from upload_service.services.ingest import (
    IncomingFile,
    IngestOptions,
    IngestResult,
    StagedBlob,
    check_declared,
    commit_staged,
    new_blob_key,
    receive_declared,
)
from upload_service.services.links import link_expiry
from upload_service.services.paths import normalize_path
from upload_service.storage.base import BlobNotFound, SignedUpload
from upload_service.sweeper import STAGING_PREFIX, acquire_lease, new_lease_holder, release_lease

KIND = "direct"
DEFAULT_EXPIRES_IN = 3600
# A complete (read back and hash) of a 5 GiB object can take minutes; a crash frees it after this.
LEASE_TTL = timedelta(minutes=30)
_SALT = "upload-service.direct-upload"


class UploadExpired(ServiceError):
    status, code, message = 410, "upload_expired", "This upload has expired."


@dataclass(frozen=True)
class DirectUploadRequest:
    path: str
    size: int
    sha256: str | None = None
    content_type: str | None = None
    expires_in: int = DEFAULT_EXPIRES_IN
    on_conflict: OnConflict = "error"


@dataclass(frozen=True)
class DirectUpload:
    """A new session and where its client sends the bytes (until ``url_expires_at``)."""

    session: UploadSession
    target: SignedUpload
    url_expires_at: datetime


def state_of(row: UploadSession, now: datetime | None = None) -> str:
    """``pending``, ``complete``, ``expired`` or ``failed`` (an overdue pending one is expired)."""
    if row.state == "pending" and row.expires_at <= (now or utcnow()):
        return "expired"
    return row.state


def create_direct_upload(
    runtime: Runtime,
    owner: User,
    request: DirectUploadRequest,
    local_url: Callable[[str], str],
) -> DirectUpload:
    """Record the session and sign its upload; ``local_url`` makes our signed URL absolute."""
    path = normalize_path(request.path)
    url_expires_at = link_expiry(request.expires_in, runtime.settings.SIGNED_URL_MAX_AGE)
    item = IncomingFile(path=path, stream=None, declared_size=request.size)  # type: ignore[arg-type]
    check_declared(runtime, owner, item, IngestOptions(on_conflict=request.on_conflict))
    _refuse_taken_path(runtime, owner, path, request.on_conflict)
    content_type = guess_content_type(path, request.content_type)
    row = _new_session(runtime, owner, request, path, content_type, url_expires_at)
    assert row.staging_key is not None
    target = runtime.store.signed_upload(
        row.staging_key, request.size, content_type, request.expires_in
    )
    if target is None:  # local storage: this service receives the bytes itself
        token = sign_upload_token(runtime.settings.SECRET_KEY or "", row.id, url_expires_at)
        headers = {"Content-Type": content_type}
        target = SignedUpload(method="PUT", url=local_url(token), fields={}, headers=headers)
    return DirectUpload(session=row, target=target, url_expires_at=url_expires_at)


def _refuse_taken_path(runtime: Runtime, owner: User, path: str, on_conflict: OnConflict) -> None:
    """With ``on_conflict=error`` a taken path is refused now, not after the whole upload."""
    if on_conflict != "error":
        return
    with runtime.db.session() as session:
        if placement.live_file_at(session, owner.id, path) is not None:
            raise placement.path_conflict(path)


def _new_session(
    runtime: Runtime,
    owner: User,
    request: DirectUploadRequest,
    path: str,
    content_type: str,
    url_expires_at: datetime,
) -> UploadSession:
    now = utcnow()
    # The session outlives its URL by UPLOAD_SESSION_TTL at least: time to complete.
    expires_at = max(url_expires_at, now + timedelta(seconds=runtime.settings.UPLOAD_SESSION_TTL))
    meta = {"on_conflict": request.on_conflict, "url_expires_at": url_expires_at.isoformat()}
    with runtime.db.session() as session:
        row = UploadSession(
            owner_id=owner.id,
            kind=KIND,
            path=path,
            size=request.size,
            sha256=request.sha256.lower() if request.sha256 else None,
            content_type=content_type,
            offset=0,
            meta=json.dumps(meta),
            state="pending",
            created_at=now,
            expires_at=expires_at,
        )
        session.add(row)
        session.flush()
        row.staging_key = f"{STAGING_PREFIX}{row.id}"
        session.flush()
        session.expunge(row)
    return row


def get_direct_upload(runtime: Runtime, owner: User, upload_id: str) -> UploadSession:
    """The owner's direct upload session; anyone else's id is 404."""
    with runtime.db.session() as session:
        row = session.get(UploadSession, upload_id)
        if row is None or row.owner_id != owner.id or row.kind != KIND:
            raise NotFound("No such upload.")
        session.expunge(row)
    return row


# -- the signed URL of local storage -------------------------------------------------------------


def sign_upload_token(secret_key: str, upload_id: str, expires_at: datetime) -> str:
    serializer = URLSafeSerializer(secret_key, salt=_SALT)
    return serializer.dumps({"u": upload_id, "e": int(expires_at.timestamp())})


def verify_upload_token(secret_key: str, token: str) -> str:
    """The upload id a signed URL is for; 403 ``signature_invalid`` or ``signature_expired``."""
    try:
        data = URLSafeSerializer(secret_key, salt=_SALT).loads(token)
        upload_id, expires = str(data["u"]), int(data["e"])
    except (BadSignature, KeyError, TypeError, ValueError):
        raise Forbidden("This upload URL is not valid.", code="signature_invalid") from None
    if expires <= int(utcnow().timestamp()):
        raise Forbidden("This upload URL has expired.", code="signature_expired")
    return upload_id


def receive_signed_upload(runtime: Runtime, token: str, stream: BinaryIO) -> None:
    """The one upload a local signed URL accepts, streamed through the pipeline's limits."""
    upload_id = verify_upload_token(runtime.settings.SECRET_KEY or "", token)
    with _locked(runtime, upload_id):
        row, owner = _session_and_owner(runtime, upload_id)
        _require_pending(row)
        assert row.staging_key is not None
        if _uploaded(runtime, row):
            raise Conflict(
                "This URL already received its upload; complete it.", code="already_uploaded"
            )
        item = IncomingFile(
            path=row.path, stream=stream, declared_size=row.size, declared_sha256=row.sha256
        )
        receive_declared(runtime, owner, item, row.staging_key, _options(row))


def signed_session(runtime: Runtime, upload_id: str) -> UploadSession:
    """The session a verified upload token names, while it still takes its upload."""
    row, _owner = _session_and_owner(runtime, upload_id)
    _require_pending(row)
    return row


def _session_and_owner(runtime: Runtime, upload_id: str) -> tuple[UploadSession, User]:
    with runtime.db.session() as session:
        row = session.get(UploadSession, upload_id)
        owner = session.get(User, row.owner_id) if row is not None else None
        if row is None or owner is None or row.kind != KIND:
            raise NotFound("This upload no longer exists.")
        session.expunge_all()
    return row, owner


def _require_pending(row: UploadSession) -> None:
    state = state_of(row)
    if state == "expired":
        raise UploadExpired()
    if state != "pending":
        raise Conflict(f"This upload is {state}; it accepts no more data.", code="upload_closed")


def _uploaded(runtime: Runtime, row: UploadSession) -> bool:
    assert row.staging_key is not None
    try:
        runtime.store.stat(row.staging_key)
    except BlobNotFound:
        return False
    return True


# -- completing and aborting ---------------------------------------------------------------------


def complete_direct_upload(runtime: Runtime, owner: User, upload_id: str) -> File:
    """Verify the uploaded object and make it the file; completing again returns that file."""
    if (done := _completed_file(runtime, owner, upload_id)) is not None:
        return done
    with _locked(runtime, upload_id):
        if (done := _completed_file(runtime, owner, upload_id)) is not None:
            return done  # a concurrent complete finished while we waited for the lease
        row = get_direct_upload(runtime, owner, upload_id)
        _require_pending(row)
        blob = _verified_blob(runtime, row)
        return _commit(runtime, owner, row, blob)


def _completed_file(runtime: Runtime, owner: User, upload_id: str) -> File | None:
    row = get_direct_upload(runtime, owner, upload_id)
    if row.state != "complete" or row.file_id is None:
        return None
    with runtime.db.session() as session:
        file = session.get(File, row.file_id)
        if file is None:  # completed, then the file was deleted
            raise NotFound("The file of this upload has been deleted.", code="file_deleted")
        session.expunge(file)
    return file


def _verified_blob(runtime: Runtime, row: UploadSession) -> StagedBlob:
    """The uploaded object, checked and moved to a new blob key; a mismatch fails the session."""
    assert row.staging_key is not None and row.size is not None
    try:
        uploaded = runtime.store.stat(row.staging_key)
    except BlobNotFound:
        raise Conflict("Nothing has been uploaded to this URL yet.", code="not_uploaded") from None
    if uploaded.size != row.size:
        runtime.store.delete(row.staging_key)
        _fail(runtime, row)
        raise VerificationFailed(
            f"Expected {row.size} bytes but {uploaded.size} were uploaded.",
            code="size_mismatch",
            details=[{"declared": row.size, "actual": uploaded.size}],
        )
    key = new_blob_key()
    result = runtime.store.promote(row.staging_key, key)
    if result.size != row.size or (row.sha256 and result.sha256 != row.sha256):
        runtime.store.delete(key)
        _fail(runtime, row)
        raise VerificationFailed(
            "The uploaded content does not match the declared size and SHA-256.",
            code="checksum_mismatch",
            details=[{"declared": row.sha256, "actual": result.sha256}],
        )
    return StagedBlob(key=key, size=result.size, sha256=result.sha256)


def _commit(runtime: Runtime, owner: User, row: UploadSession, blob: StagedBlob) -> File:
    item = IncomingFile(
        path=row.path,
        stream=None,  # type: ignore[arg-type]
        content_type=row.content_type,
        declared_size=row.size,
        declared_sha256=row.sha256,
    )

    def mark_complete(session: Session, results: list[IngestResult]) -> None:
        session.execute(
            update(UploadSession)
            .where(UploadSession.id == row.id)
            .values(state="complete", file_id=results[0].file.id)
        )

    options = _options(row)
    options.on_commit = mark_complete
    try:
        committed = commit_staged(runtime, owner, item, blob, options)
    except BaseException:  # quota or path conflict at completion: the blob is gone with it
        _fail(runtime, row)
        raise
    return committed.file


def abort_direct_upload(runtime: Runtime, owner: User, upload_id: str) -> None:
    """Delete whatever was uploaded; the session ends ``failed`` (a completed one is kept)."""
    row = get_direct_upload(runtime, owner, upload_id)
    if row.state == "complete":
        raise Conflict("This upload is complete; delete the file instead.", code="upload_complete")
    with _locked(runtime, upload_id):
        assert row.staging_key is not None
        runtime.store.delete(row.staging_key)
        _fail(runtime, row)


def _fail(runtime: Runtime, row: UploadSession) -> None:
    with runtime.db.session() as session:
        session.execute(
            update(UploadSession)
            .where(UploadSession.id == row.id, UploadSession.state == "pending")
            .values(state="failed")
        )


def _options(row: UploadSession) -> IngestOptions:
    meta: dict[str, Any] = json.loads(row.meta or "{}")
    on_conflict: OnConflict = meta.get("on_conflict") or "error"
    return IngestOptions(on_conflict=on_conflict)


@contextmanager
def _locked(runtime: Runtime, upload_id: str) -> Iterator[None]:
    holder = new_lease_holder()
    lease = f"direct:{upload_id}"
    if not acquire_lease(runtime.db, lease, holder, utcnow(), LEASE_TTL):
        raise Conflict("Another request is working on this upload.", code="upload_locked")
    try:
        yield
    finally:
        release_lease(runtime.db, lease, holder)
