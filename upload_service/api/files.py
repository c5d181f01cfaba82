"""Files by id: list, multipart upload, metadata, rename/move, delete, download, link creation."""

from __future__ import annotations

from flask import Blueprint, Response, request
from sqlalchemy.orm import Session

from upload_service.api.common import file_out, if_match_header, on_conflict_arg, respond
from upload_service.api.described import (
    DOWNLOAD_HEADERS,
    DOWNLOAD_REPLIES,
    IF_MATCH,
    ON_CONFLICT,
    Content,
    Reply,
    documented,
    json_reply,
)
from upload_service.auth.current import require_user
from upload_service.errors import BadRequest
from upload_service.models import File, User
from upload_service.runtime import get_runtime
from upload_service.schemas.files import (
    FileList,
    FileListQuery,
    FileOut,
    FilePatch,
    FilesOut,
    LinkIn,
    LinkOut,
    MultipartUpload,
)
from upload_service.services.files import (
    FileQuery,
    delete_file,
    get_file,
    list_files,
    update_file,
)
from upload_service.services.ingest import (
    MULTIPART_OVERHEAD,
    IngestOptions,
    incoming_parts,
    ingest_files,
)
from upload_service.services.links import create_download_link
from upload_service.services.paths import normalize_folder, normalize_path
from upload_service.services.users import user_write_session
from upload_service.serving import link_route_url, send_stored_file

bp = Blueprint("files", __name__, url_prefix="/api")


@bp.get("/files")
@documented(
    {200: json_reply("A page of files and the cursor of the next page.", FileList)}, errors=(400,)
)
def files_list(query: FileListQuery) -> Response:
    """List files

    Without `folder`: all complete files; with it: its direct children (`recursive=true` for
    the subtree). `q` matches the path case-insensitively.
    """
    user = require_user()
    file_query = FileQuery(**query.model_dump())
    if query.folder is not None:
        file_query.folder = normalize_folder(query.folder)
    with get_runtime().db.session() as session:
        files, cursor = list_files(session, user, file_query)
        return respond(FileList(items=[file_out(f) for f in files], next_cursor=cursor))


@bp.post("/files")
@documented(
    {201: json_reply("All files stored (or none).", FilesOut)},
    errors=(400, 409, 413, 507),
    body=Content(MultipartUpload, "multipart/form-data"),
    params=(ON_CONFLICT,),
)
def files_upload() -> Response:
    """Upload files (multipart)"""
    user = require_user()
    runtime = get_runtime()
    request.max_content_length = runtime.settings.MAX_FILE_SIZE + MULTIPART_OVERHEAD
    parts = request.files.getlist("file")
    if not parts:
        raise BadRequest("Send one or more files in multipart parts named 'file'.", code="no_files")
    items = incoming_parts(normalize_folder(request.form.get("folder")), parts)
    options = IngestOptions(
        on_conflict=on_conflict_arg(), description=request.form.get("description")
    )
    results = ingest_files(runtime, user, items, options)
    return respond(FilesOut(files=[file_out(result.file) for result in results]), 201)


@bp.get("/files/<file_id>")
@documented({200: json_reply("The file.", FileOut)}, errors=(404,))
def file_get(file_id: str) -> Response:
    """A file's metadata"""
    user = require_user()
    with get_runtime().db.session() as session:
        return respond(file_out(_owned_file(session, user, file_id)))


@bp.patch("/files/<file_id>")
@documented(
    {200: json_reply("The updated file.", FileOut)},
    errors=(400, 404, 409, 412, 415),
    example={"path": "docs/renamed.txt", "description": "v2"},
    params=(IF_MATCH,),
)
def file_patch(file_id: str, body: FilePatch) -> Response:
    """Rename, move or describe a file"""
    user = require_user()
    path = normalize_path(body.path) if body.path is not None else None
    with user_write_session(get_runtime().db, user) as session:
        file = get_file(session, user, file_id)
        update_file(
            session, user, file, path=path, description=body.description, if_match=if_match_header()
        )
        out = file_out(file)
    return respond(out)


@bp.delete("/files/<file_id>")
@documented({204: Reply("Deleted.")}, errors=(404, 412), params=(IF_MATCH,))
def file_delete(file_id: str) -> Response:
    """Delete a file"""
    user = require_user()
    with user_write_session(get_runtime().db, user) as session:
        delete_file(session, get_file(session, user, file_id), if_match_header())
    return Response(status=204)


@bp.get("/files/<file_id>/content")
@documented(DOWNLOAD_REPLIES, errors=(404, 416), params=DOWNLOAD_HEADERS)
def file_content(file_id: str) -> Response:
    """Download a file

    Served as an attachment with `X-Content-Type-Options: nosniff` and
    `Content-Security-Policy: sandbox`.
    """
    user = require_user()
    runtime = get_runtime()
    with runtime.db.session() as session:
        file = _owned_file(session, user, file_id)
        key = file.blob.storage_key
    return send_stored_file(runtime.store, file, key)


@bp.post("/files/<file_id>/link")
@documented(
    {200: json_reply("A URL that works without credentials until it expires.", LinkOut)},
    errors=(400, 404, 415),
    example={"expires_in": 3600},
    optional_body=True,
)
def file_link(file_id: str, body: LinkIn) -> Response:
    """Create a signed download link"""
    user = require_user()
    url, expires_at = create_download_link(
        get_runtime(), user, file_id, body.expires_in, link_route_url
    )
    return respond(LinkOut(url=url, expires_at=expires_at))


def _owned_file(session: Session, user: User, file_id: str) -> File:
    """The user's file, complete or (for its owner) still temporary."""
    return get_file(session, user, file_id, state=None)
