"""Temporary uploads: stored now, invisible in listings, persisted later by a form submit."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from upload_service.errors import NotFound
from upload_service.models import File, TemporaryUpload, User, utcnow
from upload_service.runtime import Runtime
from upload_service.schemas.files import OnConflict
from upload_service.services import placement
from upload_service.services.ingest import IncomingFile, IngestOptions, ingest_files
from upload_service.services.paths import join_path
from upload_service.services.users import user_write_session


def upload_temporary(
    runtime: Runtime, owner: User, items: list[IncomingFile]
) -> tuple[TemporaryUpload, list[File]]:
    """Store ``items`` as temporary files under a new opaque token."""
    now = utcnow()
    temporary = TemporaryUpload(
        id=secrets.token_urlsafe(32),
        owner_id=owner.id,
        created_at=now,
        expires_at=now + timedelta(seconds=runtime.settings.TEMP_UPLOAD_TTL),
    )
    with runtime.db.session() as session:
        session.add(temporary)
    try:
        results = ingest_files(runtime, owner, items, IngestOptions(temporary=temporary))
    except BaseException:
        with runtime.db.session() as session:
            session.execute(delete(TemporaryUpload).where(TemporaryUpload.id == temporary.id))
        raise
    return temporary, [result.file for result in results]


def get_temporary(session: Session, owner: User, token: str) -> tuple[TemporaryUpload, list[File]]:
    """The owner's live temporary upload; unknown, foreign or expired tokens are not found."""
    temporary = session.get(TemporaryUpload, token)
    if temporary is None or temporary.owner_id != owner.id or temporary.expires_at <= utcnow():
        raise NotFound("No such temporary upload (it may have expired).")
    files = session.scalars(
        select(File).where(File.temp_upload_id == token).order_by(File.created_at, File.path)
    )
    return temporary, list(files)


def discard_temporary(session: Session, owner: User, token: str) -> None:
    temporary, files = get_temporary(session, owner, token)
    for file in files:
        session.delete(file)
    session.delete(temporary)


def persist_temporary_upload(
    runtime: Runtime,
    owner: User,
    token: str,
    *,
    folder: str | None = None,
    description: str | None = None,
    on_conflict: OnConflict = "error",
) -> list[File]:
    """Turn a temporary upload into complete files (all of them, or none on conflict)."""
    options = IngestOptions(on_conflict=on_conflict)
    for _attempt in range(3):
        try:
            with user_write_session(runtime.db, owner) as session:
                return _persist(session, owner, token, folder, description, options)
        except IntegrityError:  # lost a race for a path
            if on_conflict == "error":
                raise placement.path_conflict() from None
    raise placement.path_conflict()


def _persist(
    session: Session,
    owner: User,
    token: str,
    folder: str | None,
    description: str | None,
    options: IngestOptions,
) -> list[File]:
    temporary, files = get_temporary(session, owner, token)
    now = utcnow()
    for file in files:
        target = join_path(folder, file.name) if folder is not None else file.path
        path, existing = placement.settle_path(session, owner, target, options)
        if existing is not None:
            session.delete(existing)
            session.flush()
        file.path, file.folder = path, path.rpartition("/")[0]
        file.name = path.rpartition("/")[2]
        file.state, file.temp_upload_id, file.expires_at = "complete", None, None
        file.updated_at = now
        if description is not None:
            file.description = description
        session.flush()
    session.delete(temporary)
    return files
