"""The original Upload Service API: base64 JSON uploads and temporary uploads."""

from __future__ import annotations

import base64
import binascii
import io
import json

from flask import Blueprint, Response, request

from upload_service.api.common import file_out, on_conflict_arg, respond
from upload_service.api.described import (
    ON_CONFLICT,
    Content,
    Reply,
    documented,
    json_reply,
    path_param,
)
from upload_service.auth.current import require_user
from upload_service.errors import BadRequest, UnsupportedMediaType
from upload_service.models import File, TemporaryUpload
from upload_service.runtime import get_runtime
from upload_service.schemas.files import Base64Batch, FilesOut, PersistIn, TemporaryUploadOut
from upload_service.services.ingest import IncomingFile, IngestOptions, ingest_files
from upload_service.services.paths import join_path, normalize_folder, normalize_path
from upload_service.services.temporary import (
    discard_temporary,
    get_temporary,
    persist_temporary_upload,
    upload_temporary,
)
from upload_service.services.users import user_write_session

bp = Blueprint("uploads", __name__, url_prefix="/api")

BASE64_EXAMPLE = [{"filename": "hello.txt", "content": "aGVsbG8gd29ybGQK", "folder": "notes"}]
BASE64_BODY = Content(Base64Batch, field="items", example=BASE64_EXAMPLE)
TEMP_TOKEN = path_param("token", "The token of a temporary upload.", "$TEMP_TOKEN")


def _base64_items() -> list[IncomingFile]:
    """Decode the JSON array body, bounded by ``MAX_JSON_UPLOAD_SIZE``.

    Only a body sent as JSON is read (the original README's curl commands say so): a form or
    text body is refused with 415 before anything is stored.
    """
    if not request.is_json:
        raise UnsupportedMediaType(
            "Send the files as a JSON array with Content-Type: application/json.",
            details=[{"expected": "application/json", "received": request.mimetype or None}],
        )
    request.max_content_length = get_runtime().settings.MAX_JSON_UPLOAD_SIZE
    try:
        data = json.loads(request.get_data(cache=False))
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The request body is not valid JSON.", code="invalid_json") from None
    batch = Base64Batch.model_validate({"items": data})
    return [
        _decode_item(index, item.filename, item.folder, item.content)
        for index, item in enumerate(batch.items)
    ]


def _decode_item(index: int, filename: str, folder: str | None, content: str) -> IncomingFile:
    path = normalize_path(
        join_path(normalize_folder(folder), normalize_path(filename, what="filename"))
    )
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(
            f"Item {index} ({filename}): content is not valid base64.",
            code="invalid_base64",
            details=[{"index": index, "filename": filename}],
        ) from None
    return IncomingFile(path=path, stream=io.BytesIO(data), declared_size=len(data))


@bp.put("/upload")
@documented(
    {201: json_reply("All files stored (or none).", FilesOut)},
    errors=(400, 409, 413, 415, 507),
    body=BASE64_BODY,
    params=(ON_CONFLICT,),
)
def upload_json() -> Response:
    """Upload files as base64 JSON

    The body must be sent with `Content-Type: application/json` (else 415) and is bounded by
    `MAX_JSON_UPLOAD_SIZE`.
    """
    user = require_user()
    runtime = get_runtime()
    results = ingest_files(
        runtime, user, _base64_items(), IngestOptions(on_conflict=on_conflict_arg())
    )
    return respond(FilesOut(files=[file_out(result.file) for result in results]), 201)


@bp.put("/upload_temporary")
@documented(
    {201: json_reply("Stored as temporary files under a new token.", TemporaryUploadOut)},
    errors=(400, 413, 415, 507),
    body=BASE64_BODY,
)
def upload_temporary_json() -> Response:
    """Upload temporary files as base64 JSON

    Temporary files are invisible in listings and expire unless persisted.
    """
    user = require_user()
    temporary, files = upload_temporary(get_runtime(), user, _base64_items())
    return respond(_temporary_out(temporary, files), 201)


@bp.get("/upload_temporary/<token>")
@documented(
    {200: json_reply("The temporary upload.", TemporaryUploadOut)},
    errors=(404,),
    params=(TEMP_TOKEN,),
)
def temporary_status(token: str) -> Response:
    """Status and files of a temporary upload"""
    user = require_user()
    with get_runtime().db.session() as session:
        temporary, files = get_temporary(session, user, token)
        out = _temporary_out(temporary, files)
    return respond(out)


@bp.delete("/upload_temporary/<token>")
@documented({204: Reply("Discarded.")}, errors=(404,), params=(TEMP_TOKEN,))
def temporary_discard(token: str) -> Response:
    """Discard a temporary upload"""
    user = require_user()
    with user_write_session(get_runtime().db, user) as session:
        discard_temporary(session, user, token)
    return Response(status=204)


@bp.post("/upload_temporary/<token>/persist")
@documented(
    {200: json_reply("The files, now complete.", FilesOut)},
    errors=(400, 404, 409, 415),
    example={"folder": "invoices", "description": "March"},
    optional_body=True,
    params=(TEMP_TOKEN, ON_CONFLICT),
)
def temporary_persist(token: str, body: PersistIn) -> Response:
    """Persist a temporary upload

    The body is optional; its `on_conflict` wins over the query parameter.
    """
    user = require_user()
    folder = normalize_folder(body.folder) if body.folder is not None else None
    files = persist_temporary_upload(
        get_runtime(),
        user,
        token,
        folder=folder,
        description=body.description,
        on_conflict=body.on_conflict or on_conflict_arg(),
    )
    return respond(FilesOut(files=[file_out(f) for f in files]))


def _temporary_out(temporary: TemporaryUpload, files: list[File]) -> TemporaryUploadOut:
    files_out = [file_out(file) for file in files]
    return TemporaryUploadOut(token=temporary.id, expires_at=temporary.expires_at, files=files_out)
