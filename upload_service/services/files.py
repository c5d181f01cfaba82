"""Finding, listing, renaming, moving and deleting a user's files and folders."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from upload_service.errors import BadRequest, Conflict, NotFound, PreconditionFailed
from upload_service.models import File, Folder, User, utcnow
from upload_service.services import placement
from upload_service.services.categories import category_for
from upload_service.services.paths import is_within, split_path

SortKey = Literal["name", "path", "size", "created_at", "updated_at"]
MAX_DESCRIPTION = 2000


@dataclass
class FileQuery:
    q: str | None = None
    category: str | None = None
    folder: str | None = None
    recursive: bool = False
    sort: SortKey = "name"
    order: Literal["asc", "desc"] = "asc"
    limit: int = 100
    cursor: str | None = None


_SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "name": File.name,
    "path": File.path,
    "size": File.size,
    "created_at": File.created_at,
    "updated_at": File.updated_at,
}


def get_file(
    session: Session, owner: User, file_id: str, *, state: str | None = "complete"
) -> File:
    """The owner's file by id; anyone else's id is simply not found (no existence oracle)."""
    file = session.get(File, file_id)
    if file is None or file.owner_id != owner.id or (state and file.state != state):
        raise NotFound("No such file.")
    if file.expires_at is not None and file.expires_at <= utcnow():  # expired, not yet swept
        raise NotFound("No such file.")
    return file


def get_file_by_path(session: Session, owner: User, path: str) -> File:
    file = placement.live_file_at(session, owner.id, path)
    if file is None:
        raise NotFound(f"No file at {path}.")
    return file


def list_files(session: Session, owner: User, query: FileQuery) -> tuple[list[File], str | None]:
    """One page of the owner's complete files and the cursor of the next page."""
    column = _SORT_COLUMNS[query.sort]
    statement = _filtered(owner, query, session.get_bind().dialect.name)
    if query.cursor:
        statement = statement.where(_after_cursor(column, query))
    ordering = (column.desc(), File.id.desc()) if query.order == "desc" else (column, File.id)
    rows = list(session.scalars(statement.order_by(*ordering).limit(query.limit + 1)))
    if len(rows) <= query.limit:
        return rows, None
    rows = rows[: query.limit]
    return rows, _encode_cursor(getattr(rows[-1], query.sort), rows[-1].id)


def _filtered(owner: User, query: FileQuery, dialect: str) -> Select[File]:
    statement = select(File).where(File.owner_id == owner.id, File.state == "complete")
    if query.folder is not None and (query.folder or not query.recursive):
        if query.recursive:
            prefix = _escape_like(query.folder) + "/%"
            statement = statement.where(
                or_(File.folder == query.folder, File.folder.like(prefix, escape="\\"))
            )
        else:
            statement = statement.where(File.folder == query.folder)
    if query.category:
        statement = statement.where(File.category == query.category)
    if query.q:
        statement = statement.where(_contains_ignoring_case(File.path, query.q, dialect))
    return statement


def _contains_ignoring_case(
    column: InstrumentedAttribute[str], text: str, dialect: str
) -> ColumnElement[bool]:
    pattern = f"%{_escape_like(text)}%"
    if dialect == "sqlite":  # LIKE already ignores (ASCII) case; lower() would defeat the index
        return column.like(pattern, escape="\\")
    return column.ilike(pattern, escape="\\")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _encode_cursor(value: object, file_id: str) -> str:
    raw = value.isoformat() if isinstance(value, datetime) else value
    return base64.urlsafe_b64encode(json.dumps([raw, file_id]).encode()).decode().rstrip("=")


def _after_cursor(column: InstrumentedAttribute[Any], query: FileQuery) -> ColumnElement[bool]:
    value, file_id = _decode_cursor(query.cursor or "", query.sort)
    if query.order == "desc":
        return or_(column < value, and_(column == value, File.id < file_id))
    return or_(column > value, and_(column == value, File.id > file_id))


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    try:
        raw, file_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if sort in ("created_at", "updated_at"):
            raw = datetime.fromisoformat(raw)
        elif sort == "size":
            raw = int(raw)
        elif not isinstance(raw, str):
            raise TypeError("name cursors hold text")
        if not isinstance(file_id, str):
            raise TypeError("file ids are text")
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise BadRequest("The cursor is not valid for this query.", code="invalid_cursor") from None
    return raw, file_id


def list_subfolders(session: Session, owner: User, parent: str) -> list[str]:
    """Direct child folders of ``parent`` (``""`` is the root)."""
    query = select(Folder.path).where(Folder.owner_id == owner.id)
    if parent:
        query = query.where(Folder.path.like(_escape_like(parent) + "/%", escape="\\"))
    paths = session.scalars(query.order_by(Folder.path))
    depth = parent.count("/") + 1 if parent else 0
    return [path for path in paths if path.count("/") == depth]


def update_file(
    session: Session,
    owner: User,
    file: File,
    *,
    path: str | None = None,
    description: str | None = None,
    if_match: str | None = None,
) -> File:
    """Rename or move (``path``) and/or describe a file."""
    check_if_match(file, if_match)
    if description is not None:
        if len(description) > MAX_DESCRIPTION:
            raise BadRequest(f"The description is longer than {MAX_DESCRIPTION} characters.")
        file.description = description
    if path is not None and path != file.path:
        _move_file(session, owner, file, path)
    file.updated_at = utcnow()
    session.flush()
    return file


def check_if_match(file: File, if_match: str | None) -> None:
    if if_match is not None and if_match.strip('"').lower() != file.sha256:
        raise PreconditionFailed("The file changed since you last saw it.", code="if_match_failed")


def _move_file(session: Session, owner: User, file: File, path: str) -> None:
    if placement.live_file_at(session, owner.id, path) is not None:
        raise placement.path_conflict(path)
    if placement.folder_exists(session, owner.id, path):
        raise Conflict(f"A folder exists at {path}.", code="folder_exists")
    folder, name = split_path(path)
    placement.ensure_folders(session, owner.id, folder)
    file.path, file.folder, file.name = path, folder, name
    file.category = category_for(file.content_type, name)


def ensure_folder(session: Session, owner: User, path: str) -> bool:
    """``mkdir -p path``; True when it was created, False when it already existed."""
    if placement.folder_exists(session, owner.id, path):
        return False
    if placement.live_file_at(session, owner.id, path) is not None:
        raise Conflict(f"A file exists at {path}.", code="file_exists")
    placement.ensure_folders(session, owner.id, path)
    return True


def delete_file(session: Session, file: File, if_match: str | None = None) -> None:
    """Delete one file; its blob is collected by the sweeper once nothing references it."""
    check_if_match(file, if_match)
    session.delete(file)
    session.flush()


def delete_folder(session: Session, owner: User, path: str, *, recursive: bool) -> int:
    """Delete a folder (with its subtree when ``recursive``); returns files deleted."""
    if not path:
        raise BadRequest("The root folder cannot be deleted.", code="invalid_path")
    if not placement.folder_exists(session, owner.id, path):
        raise NotFound(f"No folder at {path}.")
    in_tree = and_(File.state == "complete", _in_tree(File.path, path))
    count = (
        session.scalar(select(func.count(File.id)).where(File.owner_id == owner.id, in_tree)) or 0
    )
    subfolders = session.scalar(
        select(func.count(Folder.id)).where(
            Folder.owner_id == owner.id, Folder.path.like(_escape_like(path) + "/%", escape="\\")
        )
    )
    if (count or subfolders) and not recursive:
        raise Conflict("The folder is not empty; use recursive=true.", code="folder_not_empty")
    session.execute(delete(File).where(File.owner_id == owner.id, in_tree))
    session.execute(delete(Folder).where(Folder.owner_id == owner.id, _in_tree(Folder.path, path)))
    return int(count)


def _in_tree(column: InstrumentedAttribute[str], path: str) -> ColumnElement[bool]:
    return or_(column == path, column.like(_escape_like(path) + "/%", escape="\\"))


def move_folder(session: Session, owner: User, source: str, target: str) -> int:
    """Move a folder and everything below it; returns the number of files moved."""
    if not source or not target:
        raise BadRequest("The root folder cannot be moved.", code="invalid_path")
    if is_within(target, source):
        raise BadRequest("A folder cannot be moved into itself.", code="invalid_path")
    if placement.folder_exists(session, owner.id, target):
        raise Conflict(f"A folder exists at {target}.", code="folder_exists")
    if placement.live_file_at(session, owner.id, target) is not None:
        raise placement.path_conflict(target)
    placement.ensure_folders(session, owner.id, split_path(target)[0])
    moved = 0
    files = select(File).where(
        File.owner_id == owner.id, File.state == "complete", _in_tree(File.path, source)
    )
    for file in session.scalars(files):
        file.path = target + file.path[len(source) :]
        file.folder = split_path(file.path)[0]
        moved += 1
    session.execute(
        update(Folder)
        .where(Folder.owner_id == owner.id, _in_tree(Folder.path, source))
        .values(path=literal(target, String).concat(func.substr(Folder.path, len(source) + 1)))
    )
    session.flush()
    return moved
