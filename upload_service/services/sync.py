"""Folder sync: chunk-level delta upload (prepare → missing chunks → commit) and the manifest.

Chunks are FastCDC 2020 (256 KiB / 1 MiB / 4 MiB), named by their SHA-256. The client cuts the
file; the server only checks that the declared chunk list adds up, stores chunks the owner does
not have yet (``sync_chunks``, counted against the quota) and, at commit, streams the file from
those staged chunks and from ranges of the owner's existing blobs (``blob_chunks``) through the
one ingest pipeline, which verifies the whole-file SHA-256 and swaps the file in atomically.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from upload_service.db import insert_ignoring_conflicts
from upload_service.errors import (
    BadRequest,
    Conflict,
    InsufficientStorage,
    NotFound,
    PreconditionFailed,
    TooLarge,
    VerificationFailed,
)
from upload_service.models import Blob, BlobChunk, File, Folder, SyncChunk, User, utcnow
from upload_service.runtime import Runtime
from upload_service.schemas.sync import CHUNKER, MAX_CHUNK
from upload_service.services import placement
from upload_service.services.ingest import (
    IncomingFile,
    IngestOptions,
    IngestResult,
    LimitedStream,
    _Limits,
    ingest_files,
)
from upload_service.services.paths import normalize_folder, normalize_path
from upload_service.services.users import quota_bytes, usage_bytes, user_write_session
from upload_service.storage.base import CHUNK_SIZE, BlobStore

CHUNK_PREFIX = "sync-chunks/"
_SALT = "sync-upload"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class PrepareRequest:
    path: str
    size: int
    sha256: str
    mtime: float | None
    chunker: str
    chunks: list[tuple[str, int]]
    base_sha256: str | None


@dataclass
class Prepared:
    upload_id: str | None = None
    missing: list[str] | None = None
    unchanged_file: File | None = None


@dataclass
class Manifest:
    folder: str
    files: list[dict[str, Any]]
    folders: list[str]


def check_sha256(value: str, what: str = "chunk id") -> str:
    value = value.lower()
    if not _SHA256.match(value):
        raise BadRequest(f"The {what} must be 64 hex digits (SHA-256).", code="invalid_sha256")
    return value


def _serializer(runtime: Runtime) -> URLSafeTimedSerializer:
    assert runtime.settings.SECRET_KEY
    return URLSafeTimedSerializer(runtime.settings.SECRET_KEY, salt=_SALT)


# --- chunks -------------------------------------------------------------------------------


def put_chunk(
    runtime: Runtime, owner: User, raw_sha256: str, stream: BinaryIO, length: int | None
) -> bool:
    """Store one chunk for ``owner``; ``False`` when the owner already had it (idempotent)."""
    sha256 = check_sha256(raw_sha256)
    if length is not None and length > MAX_CHUNK:
        raise _chunk_too_large()
    if _known_chunks(runtime, owner, [sha256]):
        _drain(stream, length)
        return False
    quota = quota_bytes(owner, runtime.settings.USER_QUOTA)
    quota_left: int | None = None
    if quota:
        with runtime.db.session() as session:
            quota_left = max(quota - usage_bytes(session, owner), 0)
    limits = _Limits(max_size=MAX_CHUNK, quota_left=quota_left)
    key = CHUNK_PREFIX + secrets.token_urlsafe(24)
    try:
        result = runtime.store.put(key, LimitedStream(stream, limits))  # type: ignore[arg-type]
    except TooLarge:
        raise _chunk_too_large() from None
    try:
        if not hmac.compare_digest(result.sha256, sha256):
            raise VerificationFailed(
                "The chunk's bytes do not hash to its id.",
                code="checksum_mismatch",
                details=[{"declared": sha256, "actual": result.sha256}],
            )
        with user_write_session(runtime.db, owner) as session:
            if quota and usage_bytes(session, owner) + result.size > quota:
                raise InsufficientStorage("This chunk would exceed your storage quota.")
            row = {
                "owner_id": owner.id,
                "sha256": sha256,
                "size": result.size,
                "storage_key": key,
                "created_at": utcnow(),
            }
            insert_ignoring_conflicts(session, SyncChunk, [row], ["owner_id", "sha256"])
            stored = session.scalar(
                select(SyncChunk.storage_key).where(
                    SyncChunk.owner_id == owner.id, SyncChunk.sha256 == sha256
                )
            )
    except BaseException:
        runtime.store.delete(key)
        raise
    if stored != key:  # a concurrent PUT of the same chunk won
        runtime.store.delete(key)
        return False
    return True


def _chunk_too_large() -> TooLarge:
    return TooLarge(f"A chunk is at most {MAX_CHUNK} bytes.", details=[{"max_size": MAX_CHUNK}])


def _drain(stream: BinaryIO, length: int | None) -> None:
    left = MAX_CHUNK + 1 if length is None else length
    while left > 0:
        data = stream.read(min(CHUNK_SIZE, left))
        if not data:
            return
        left -= len(data)


def _known_chunks(runtime: Runtime, owner: User, wanted: Iterable[str]) -> set[str]:
    """Those of ``wanted`` the owner has: staged, or in one of the owner's blobs."""
    wanted = list(set(wanted))
    found: set[str] = set()
    with runtime.db.session() as session:
        for start in range(0, len(wanted), 500):
            batch = wanted[start : start + 500]
            found.update(
                session.scalars(
                    select(SyncChunk.sha256).where(
                        SyncChunk.owner_id == owner.id, SyncChunk.sha256.in_(batch)
                    )
                )
            )
            found.update(
                session.scalars(
                    select(BlobChunk.sha256)
                    .join(Blob, Blob.id == BlobChunk.blob_id)
                    .where(Blob.owner_id == owner.id, BlobChunk.sha256.in_(batch))
                    .distinct()
                )
            )
    return found


# --- prepare / commit ---------------------------------------------------------------------


def prepare(runtime: Runtime, owner: User, request: PrepareRequest) -> Prepared:
    path, chunks = _validate(runtime, request)
    sha256 = check_sha256(request.sha256, "sha256")
    base = check_sha256(request.base_sha256, "base_sha256") if request.base_sha256 else None
    with runtime.db.session() as session:
        current = placement.live_file_at(session, owner.id, path)
        if current is not None and current.sha256 == sha256:
            session.expunge(current)
            return Prepared(unchanged_file=current)
        _check_base(current, base)
    known = _known_chunks(runtime, owner, [sha for sha, _ in chunks])
    missing = list(dict.fromkeys(sha for sha, _ in chunks if sha not in known))
    payload = {
        "u": owner.id,
        "p": path,
        "s": request.size,
        "h": sha256,
        "m": request.mtime,
        "b": base,
        "c": [[sha, length] for sha, length in chunks],
    }
    return Prepared(upload_id=_serializer(runtime).dumps(payload), missing=missing)


def _validate(runtime: Runtime, request: PrepareRequest) -> tuple[str, list[tuple[str, int]]]:
    if request.chunker != CHUNKER:
        raise BadRequest(
            f"Unknown chunker {request.chunker!r}; this server speaks {CHUNKER!r}.",
            code="unknown_chunker",
        )
    path = normalize_path(request.path)
    if request.size < 0:
        raise BadRequest("size must not be negative.", code="invalid_size")
    if request.size > runtime.settings.MAX_FILE_SIZE:
        raise TooLarge(
            f"The file is larger than the limit of {runtime.settings.MAX_FILE_SIZE} bytes.",
            details=[{"max_size": runtime.settings.MAX_FILE_SIZE}],
        )
    chunks: list[tuple[str, int]] = []
    for sha, length in request.chunks:
        if length <= 0 or length > MAX_CHUNK:
            raise BadRequest(
                f"Every chunk is 1 to {MAX_CHUNK} bytes long.", code="invalid_chunk_length"
            )
        chunks.append((check_sha256(sha), length))
    if sum(length for _, length in chunks) != request.size:
        raise BadRequest("The chunk lengths do not add up to size.", code="chunks_size_mismatch")
    return path, chunks


def _check_base(current: File | None, base: str | None) -> None:
    have = current.sha256 if current is not None else None
    if have != base:
        raise Conflict(
            "The file on the server changed since the base you synced.",
            code="base_mismatch",
            details=[{"server_sha256": have, "base_sha256": base}],
        )


def commit(runtime: Runtime, owner: User, upload_id: str) -> IngestResult:
    try:
        payload = _serializer(runtime).loads(upload_id, max_age=runtime.settings.UPLOAD_SESSION_TTL)
    except BadSignature:
        raise NotFound("No such sync upload (or it expired).", code="upload_not_found") from None
    if not isinstance(payload, dict) or payload.get("u") != owner.id:
        raise NotFound("No such sync upload (or it expired).", code="upload_not_found")
    chunks = [(str(sha), int(length)) for sha, length in payload["c"]]
    sources = _sources(runtime, owner, chunks)
    item = IncomingFile(
        path=payload["p"],
        stream=AssembledStream(runtime.store, sources),  # type: ignore[arg-type]
        declared_size=payload["s"],
        declared_sha256=payload["h"],
        mtime=payload["m"],
    )
    base = payload["b"]
    options = IngestOptions(on_conflict="error", if_match=base)
    try:
        [result] = ingest_files(runtime, owner, [item], options)
    except PreconditionFailed:
        raise Conflict(
            "The file on the server changed since the base you synced.", code="base_mismatch"
        ) from None
    except Conflict as exc:
        if base is None:
            raise Conflict(
                "A file appeared on the server at this path since the base you synced.",
                code="base_mismatch",
            ) from exc
        raise
    _index_blob(runtime, result.file.blob_id, chunks)
    _release_staged(runtime, owner, [sha for sha, _ in chunks])
    return result


@dataclass(frozen=True)
class _Source:
    key: str
    start: int
    length: int


def _sources(runtime: Runtime, owner: User, chunks: Sequence[tuple[str, int]]) -> list[_Source]:
    wanted = list({sha for sha, _ in chunks})
    staged: dict[str, str] = {}
    indexed: dict[tuple[str, int], _Source] = {}
    with runtime.db.session() as session:
        for start in range(0, len(wanted), 500):
            batch = wanted[start : start + 500]
            for sha, key in session.execute(
                select(SyncChunk.sha256, SyncChunk.storage_key).where(
                    SyncChunk.owner_id == owner.id, SyncChunk.sha256.in_(batch)
                )
            ):
                staged[sha] = key
            for sha, offset, length, key in session.execute(
                select(BlobChunk.sha256, BlobChunk.offset, BlobChunk.length, Blob.storage_key)
                .join(Blob, Blob.id == BlobChunk.blob_id)
                .where(Blob.owner_id == owner.id, BlobChunk.sha256.in_(batch))
            ):
                indexed.setdefault((sha, length), _Source(key, offset, length))
    sources: list[_Source] = []
    missing: list[str] = []
    for sha, length in chunks:
        if sha in staged:
            sources.append(_Source(staged[sha], 0, length))
        elif (sha, length) in indexed:
            sources.append(indexed[(sha, length)])
        else:
            missing.append(sha)
    if missing:
        raise BadRequest(
            "Some chunks were neither uploaded nor found in your files; upload them first.",
            code="chunks_missing",
            details=[{"missing": list(dict.fromkeys(missing))}],
        )
    return _merge(sources)


def _merge(sources: list[_Source]) -> list[_Source]:
    """Adjacent ranges of the same object become one read."""
    merged: list[_Source] = []
    for source in sources:
        last = merged[-1] if merged else None
        if last and last.key == source.key and last.start + last.length == source.start:
            merged[-1] = _Source(last.key, last.start, last.length + source.length)
        else:
            merged.append(source)
    return merged


class AssembledStream:
    """Reads the concatenation of object ranges, one open range at a time."""

    def __init__(self, store: BlobStore, sources: Sequence[_Source]) -> None:
        self.store = store
        self.sources = list(sources)
        self.index = 0
        self.current: BinaryIO | None = None
        self.left = 0

    def read(self, size: int = CHUNK_SIZE) -> bytes:
        size = CHUNK_SIZE if size < 0 else size
        while self.index < len(self.sources) or self.current is not None:
            if self.current is None:
                source = self.sources[self.index]
                self.index += 1
                self.current = self.store.open(source.key, source.start, source.length)
                self.left = source.length
            data = self.current.read(min(size, self.left)) if self.left else b""
            if data:
                self.left -= len(data)
                return data
            self.current.close()
            self.current = None
        return b""

    def readinto(self, buffer: bytearray | memoryview) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)


def _index_blob(runtime: Runtime, blob_id: int, chunks: Sequence[tuple[str, int]]) -> None:
    """Record the chunk list of a committed blob, once (so later syncs can reuse its ranges)."""
    with runtime.db.session() as session:
        indexed = select(BlobChunk.seq).where(BlobChunk.blob_id == blob_id).limit(1)
        if session.scalar(indexed) is not None:
            return
        offset = 0
        rows = []
        for seq, (sha, length) in enumerate(chunks):
            rows.append(
                {"blob_id": blob_id, "seq": seq, "offset": offset, "length": length, "sha256": sha}
            )
            offset += length
        if rows:
            insert_ignoring_conflicts(session, BlobChunk, rows, ["blob_id", "seq"])


def _release_staged(runtime: Runtime, owner: User, shas: Sequence[str]) -> None:
    """Staged chunks now inside a blob are indexed there: drop the staged copies."""
    wanted = list(set(shas))
    keys: list[str] = []
    with user_write_session(runtime.db, owner) as session:
        for start in range(0, len(wanted), 500):
            batch = wanted[start : start + 500]
            gone = delete(SyncChunk).where(
                SyncChunk.owner_id == owner.id, SyncChunk.sha256.in_(batch)
            )
            keys.extend(
                session.scalars(
                    gone.returning(SyncChunk.storage_key),
                    execution_options={"synchronize_session": False},
                )
            )
    for key in keys:
        runtime.store.delete(key)


def sweep_staged_chunks(runtime: Runtime, now: datetime, batch_size: int = 500) -> int:
    """Delete staged chunks older than ``UPLOAD_SESSION_TTL``; the number removed."""
    cutoff = now - timedelta(seconds=runtime.settings.UPLOAD_SESSION_TTL)
    removed = 0
    while True:
        with runtime.db.session() as session:
            old = SyncChunk.created_at < cutoff
            rows = session.execute(
                select(SyncChunk.owner_id, SyncChunk.sha256).where(old).limit(batch_size)
            ).all()
            if not rows:
                return removed
            keys: list[str] = []
            for owner_id, sha in rows:
                keys.extend(
                    session.scalars(
                        delete(SyncChunk)
                        .where(SyncChunk.owner_id == owner_id, SyncChunk.sha256 == sha, old)
                        .returning(SyncChunk.storage_key),
                        execution_options={"synchronize_session": False},
                    )
                )
        for key in keys:  # after the commit: a crash here leaves only a stray object
            runtime.store.delete(key)
        removed += len(keys)


# --- manifest -----------------------------------------------------------------------------


def manifest(runtime: Runtime, owner: User, raw_folder: str | None) -> Manifest:
    folder = normalize_folder(raw_folder)
    prefix = folder + "/" if folder else ""
    with runtime.db.session() as session:
        files = _manifest_files(session, owner, folder)
        folders = _manifest_folders(session, owner, folder)
    if folder and not files and not folders:
        with runtime.db.session() as session:
            if not placement.folder_exists(session, owner.id, folder):
                raise NotFound(f"No folder {folder}.", code="folder_not_found")
    cut = len(prefix)
    return Manifest(
        folder=folder,
        files=[
            {"path": path[cut:], "size": size, "sha256": sha, "mtime": mtime}
            for path, size, sha, mtime in files
        ],
        folders=sorted(path[cut:] for path in folders if path != folder),
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _manifest_files(session: Session, owner: User, folder: str) -> list[Any]:
    query = select(File.path, File.size, File.sha256, File.mtime).where(
        File.owner_id == owner.id, File.state == "complete"
    )
    if folder:
        query = query.where(
            or_(File.folder == folder, File.folder.like(_escape_like(folder) + "/%", escape="\\"))
        )
    return list(session.execute(query.order_by(File.path)).all())


def _manifest_folders(session: Session, owner: User, folder: str) -> list[str]:
    query = select(Folder.path).where(Folder.owner_id == owner.id)
    if folder:
        query = query.where(Folder.path.like(_escape_like(folder) + "/%", escape="\\"))
    return list(session.scalars(query))
