"""Small helpers of the service tests: users, incoming files, and what a user would look at
afterwards (rows, stored objects, bytes)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from upload_service.models import Base, Blob, File, Folder, User, utcnow
from upload_service.runtime import Runtime
from upload_service.services.ingest import IncomingFile, IngestOptions, ingest_files


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ago(seconds: float) -> datetime:
    return utcnow() - timedelta(seconds=seconds)


def make_user(runtime: Runtime, login: str, **fields: Any) -> User:
    with runtime.db.session() as session:
        user = User(login=login, name=login.title(), **fields)
        session.add(user)
    return user


def set_quota(runtime: Runtime, user: User, quota: int | None) -> None:
    """The user's own quota, in the database and on the (detached) object the test holds."""
    update_row(runtime, User, user.id, quota_bytes=quota)
    user.quota_bytes = quota


def update_row(runtime: Runtime, model: type[Base], key: object, **values: Any) -> None:
    """Change a row behind the services' back, e.g. move its expiry into the past."""
    [primary] = model.__table__.primary_key.columns  # type: ignore[attr-defined]
    with runtime.db.session() as session:
        session.execute(update(model).where(primary == key).values(**values))


def incoming(path: str, data: bytes = b"", **fields: Any) -> IncomingFile:
    return IncomingFile(path=path, stream=io.BytesIO(data), **fields)


def ingest(runtime: Runtime, owner: User, files: dict[str, bytes], **options: Any) -> list[File]:
    """Upload ``files`` (path → bytes) through the one pipeline; the files it placed."""
    items = [incoming(path, data) for path, data in files.items()]
    return [result.file for result in ingest_files(runtime, owner, items, IngestOptions(**options))]


def files_of(runtime: Runtime, owner: User) -> list[File]:
    """Every file row of ``owner``, in any state, by path."""
    with runtime.db.session() as session:
        query = select(File).where(File.owner_id == owner.id).order_by(File.path, File.state)
        return list(session.scalars(query))


def complete_paths(runtime: Runtime, owner: User) -> list[str]:
    return [file.path for file in files_of(runtime, owner) if file.state == "complete"]


def folders_of(runtime: Runtime, owner: User) -> list[str]:
    with runtime.db.session() as session:
        query = select(Folder.path).where(Folder.owner_id == owner.id).order_by(Folder.path)
        return list(session.scalars(query))


def blob_count(runtime: Runtime, owner: User | None = None) -> int:
    with runtime.db.session() as session:
        query = select(func.count(Blob.id))
        if owner is not None:
            query = query.where(Blob.owner_id == owner.id)
        return session.scalar(query) or 0


def stored_keys(runtime: Runtime, prefix: str = "") -> list[str]:
    """The keys of every object in the store (local temp files excluded)."""
    return sorted(stat.key for stat in runtime.store.iter_blobs(prefix))


def content(runtime: Runtime, file: File) -> bytes:
    """The bytes a download of ``file`` returns."""
    with runtime.db.session() as session:
        key = session.get_one(Blob, file.blob_id).storage_key
    with runtime.store.open(key) as stream:
        data: bytes = stream.read()
    return data


class CutStream(io.RawIOBase):
    """A client body that delivers ``data`` and then fails with ``error`` (a dropped client)."""

    def __init__(self, data: bytes, error: BaseException) -> None:
        self.data = data
        self.error = error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self.data:
            raise self.error
        size = min(len(buffer), len(self.data))
        buffer[:size] = self.data[:size]
        self.data = self.data[size:]
        return size


class Meanwhile(io.RawIOBase):
    """A client body that runs ``action`` (say, another upload) once all of ``data`` is read:
    something that happens while this upload is still in flight."""

    def __init__(self, data: bytes, action: Callable[[], object]) -> None:
        self.data = data
        self.action: Callable[[], object] | None = action

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self.data and self.action is not None:
            action, self.action = self.action, None
            action()
        size = min(len(buffer), len(self.data))
        buffer[:size] = self.data[:size]
        self.data = self.data[size:]
        return size
