"""Where a file lands: conflicts, renames, replacements, implicit folders, blob lookup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from upload_service.db import insert_ignoring_conflicts
from upload_service.errors import Conflict, PreconditionFailed
from upload_service.models import Blob, File, Folder, User
from upload_service.services.paths import ancestors, join_path, split_path

if TYPE_CHECKING:
    from upload_service.services.ingest import IncomingFile, IngestOptions

_MAX_RENAMES = 1000

# Built once: every upload runs these, and building a statement costs more than running it.
_LIVE_FILE_AT = select(File).where(
    File.owner_id == bindparam("owner_id"), File.path == bindparam("path"), File.state == "complete"
)
_LIVE_FILE_AT_LOCKED = _LIVE_FILE_AT.with_for_update()
_FOLDER_AT = select(Folder.id).where(
    Folder.owner_id == bindparam("owner_id"), Folder.path == bindparam("path")
)
_FOLDERS_AMONG = select(Folder.path).where(
    Folder.owner_id == bindparam("owner_id"), Folder.path.in_(bindparam("paths", expanding=True))
)


def path_conflict(path: str | None = None) -> Conflict:
    where = f" at {path}" if path else ""
    return Conflict(f"A file already exists{where}.", code="path_exists")


def find_blob(session: Session, owner: User, sha256: str, *, lock: bool = False) -> Blob | None:
    query = select(Blob).where(Blob.owner_id == owner.id, Blob.sha256 == sha256)
    return session.scalar(query.with_for_update() if lock else query)


def live_file_at(session: Session, owner_id: int, path: str, *, lock: bool = False) -> File | None:
    """The owner's complete file at ``path``."""
    query = _LIVE_FILE_AT_LOCKED if lock else _LIVE_FILE_AT
    return session.scalar(query, {"owner_id": owner_id, "path": path})


def folder_exists(session: Session, owner_id: int, path: str) -> bool:
    if not path:
        return True
    return session.scalar(_FOLDER_AT, {"owner_id": owner_id, "path": path}) is not None


def settle_path(
    session: Session, owner: User, path: str, options: IngestOptions
) -> tuple[str, File | None]:
    """The final path and the file to replace (if any), per ``on_conflict`` and ``if_match``."""
    if folder_exists(session, owner.id, path):
        raise Conflict(f"A folder exists at {path}.", code="folder_exists")
    existing = live_file_at(session, owner.id, path, lock=True)
    if options.if_match is not None:
        if existing is None or existing.sha256 != options.if_match:
            raise PreconditionFailed(
                "The file changed (or is gone) since you last saw it.", code="if_match_failed"
            )
        return path, existing
    if existing is None:
        ensure_folders(session, owner.id, split_path(path)[0])
        return path, None
    if options.on_conflict == "replace":
        return path, existing
    if options.on_conflict == "rename":
        return free_path(session, owner.id, path), None
    raise path_conflict(path)


def free_path(session: Session, owner_id: int, path: str) -> str:
    """``a/b.txt`` → the first free of ``a/b (1).txt``, ``a/b (2).txt``, …"""
    folder, name = split_path(path)
    stem, dot, suffix = name.rpartition(".")
    if not stem:  # no extension, or a dotfile such as ".env"
        stem, dot, suffix = name, "", ""
    for number in range(1, _MAX_RENAMES):
        candidate = join_path(folder, f"{stem} ({number}){dot}{suffix}")
        if live_file_at(session, owner_id, candidate) is None and not folder_exists(
            session, owner_id, candidate
        ):
            return candidate
    raise path_conflict(path)


def ensure_folders(session: Session, owner_id: int, folder: str) -> None:
    """``mkdir -p``: every ancestor of ``folder`` exists afterwards (a file in the way → 409)."""
    wanted = ancestors(folder)
    if not wanted:
        return
    existing = set(session.scalars(_FOLDERS_AMONG, {"owner_id": owner_id, "paths": wanted}))
    missing = [path for path in wanted if path not in existing]
    for path in missing:  # reads first: in the common case (the folder exists) nothing is written
        if live_file_at(session, owner_id, path) is not None:
            raise Conflict(
                f"A file exists at {path}, so it cannot be a folder.", code="file_exists"
            )
    if missing:
        rows = [{"owner_id": owner_id, "path": path} for path in missing]
        insert_ignoring_conflicts(session, Folder, rows, ["owner_id", "path"])


def replaced_size(
    session: Session, owner: User, items: Sequence[IncomingFile], options: IngestOptions
) -> int:
    """Bytes that a replacing upload frees again (for the quota check)."""
    if options.temporary is not None:
        return 0
    if options.on_conflict != "replace" and options.if_match is None:
        return 0
    total = 0
    for item in items:
        existing = live_file_at(session, owner.id, item.path)
        total += existing.size if existing is not None else 0
    return total
