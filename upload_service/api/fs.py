"""Path addressing for the CLI, sync and ``curl -T``."""

from __future__ import annotations

from flask import Blueprint, Response, request
from sqlalchemy.orm import Session

from upload_service.api.common import bool_arg, file_out, if_match_header, on_conflict_arg, respond
from upload_service.api.described import (
    ANY_BYTES,
    BINARY,
    DOWNLOAD_HEADERS,
    DOWNLOAD_REPLIES,
    IF_MATCH,
    ON_CONFLICT,
    Content,
    Head,
    Reply,
    documented,
    header,
    json_reply,
    query_flag,
)
from upload_service.auth.current import require_user
from upload_service.errors import NotFound
from upload_service.models import User
from upload_service.runtime import get_runtime
from upload_service.schemas.files import FileList, FileOut, FolderMoveOut, MoveIn, MoveOut
from upload_service.services import placement
from upload_service.services.files import (
    FileQuery,
    delete_file,
    delete_folder,
    get_file_by_path,
    list_files,
    move_folder,
    update_file,
)
from upload_service.services.ingest import IncomingFile, IngestOptions, ingest_files
from upload_service.services.paths import normalize_path
from upload_service.services.users import user_write_session
from upload_service.serving import send_stored_file

bp = Blueprint("fs", __name__, url_prefix="/api")


@bp.put("/fs/<path:path>")
@documented(
    {200: json_reply("Replaced an existing file.", FileOut), 201: json_reply("Created.", FileOut)},
    errors=(400, 409, 412, 413, 422, 507),
    body=Content(BINARY, "application/octet-stream"),
    params=(
        ON_CONFLICT,
        IF_MATCH,
        header("X-Content-SHA256", "The hex SHA-256 of the body, verified (else 422)."),
    ),
)
def fs_put(path: str) -> Response:
    """Upload a file by path (raw body)

    Streams the body to storage; `curl -T FILE URL` works. Answers the one file it stored
    (FileOut), as a PUT of a resource does; the batch routes (PUT /api/upload, POST /api/files)
    answer {success, files: [...]} because one request can carry many.
    """
    user = require_user()
    item = IncomingFile(
        path=normalize_path(path),
        stream=request.stream,  # type: ignore[arg-type]
        content_type=request.mimetype or None,
        declared_size=request.content_length,
        declared_sha256=request.headers.get("X-Content-SHA256") or None,
    )
    options = IngestOptions(on_conflict=on_conflict_arg(), if_match=if_match_header())
    [result] = ingest_files(get_runtime(), user, [item], options)
    return respond(file_out(result.file), 201 if result.created else 200)


@bp.get("/fs/<path:path>")
@documented(
    {
        200: Reply(
            "A file's bytes, or (for a folder) its direct children as JSON.",
            (Content(FileList), Content(BINARY, ANY_BYTES)),
            ("ETag", "Content-Disposition"),
        ),
        206: DOWNLOAD_REPLIES[206],
        304: DOWNLOAD_REPLIES[304],
    },
    errors=(400, 404, 416),
    params=DOWNLOAD_HEADERS,
    head=Head(
        "A file's headers (size, ETag) by path",
        {
            200: Reply("The file (or folder) exists.", (), ("ETag",)),
            206: Reply("The requested range exists.", (), ("ETag", "Content-Range")),
            304: DOWNLOAD_REPLIES[304],
        },
    ),
)
def fs_get(path: str) -> Response:
    """Download a file, or list a folder, by path"""
    user = require_user()
    path = normalize_path(path)
    runtime = get_runtime()
    with runtime.db.session() as session:
        file = placement.live_file_at(session, user.id, path)
        if file is not None:
            key = file.blob.storage_key
        elif placement.folder_exists(session, user.id, path):
            return _folder_listing(session, user, path)
        else:
            raise NotFound(f"Nothing at {path}.")
    return send_stored_file(runtime.store, file, key, head=request.method == "HEAD")


def _folder_listing(session: Session, user: User, path: str) -> Response:
    files, cursor = list_files(session, user, FileQuery(folder=path, limit=1000))
    return respond(FileList(items=[file_out(f) for f in files], next_cursor=cursor))


@bp.delete("/fs/<path:path>")
@documented(
    {204: Reply("Deleted.")},
    errors=(400, 404, 409, 412),
    params=(
        IF_MATCH,
        query_flag("recursive", "Delete a non-empty folder with its contents (else 409)."),
    ),
)
def fs_delete(path: str) -> Response:
    """Delete a file or a folder by path"""
    user = require_user()
    path = normalize_path(path)
    with user_write_session(get_runtime().db, user) as session:
        file = placement.live_file_at(session, user.id, path)
        if file is not None:
            delete_file(session, file, if_match_header())
        elif placement.folder_exists(session, user.id, path):
            delete_folder(session, user, path, recursive=bool_arg("recursive"))
        else:
            raise NotFound(f"Nothing at {path}.")
    return Response(status=204)


@bp.post("/fs/move")
@documented(
    {200: json_reply("Moved: the file, or the folder and how many files moved.", MoveOut)},
    errors=(400, 404, 409, 412, 415),
    example={"from": "inbox/a.txt", "to": "archive/a.txt"},
)
def fs_move(body: MoveIn) -> Response:
    """Move or rename a file or a folder"""
    user = require_user()
    source, target = normalize_path(body.source), normalize_path(body.to)
    if_match = body.if_match.strip('"').lower() if body.if_match else None
    with user_write_session(get_runtime().db, user) as session:
        file = placement.live_file_at(session, user.id, source)
        if file is not None:
            update_file(session, user, file, path=target, if_match=if_match)
            return respond(file_out(file))
        if not placement.folder_exists(session, user.id, source):
            get_file_by_path(session, user, source)  # raises a clear 404
        moved = move_folder(session, user, source, target)
    return respond(FolderMoveOut(folder=target, moved=moved))
