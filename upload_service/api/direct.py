"""Signed direct uploads (``/api/uploads``): a thin adapter over :mod:`services.direct`.

``/api/signed-uploads/<token>`` is the upload URL handed out with local storage: it needs no
credential but its signature, so it is exempt from CSRF checks (a cookie grants it nothing).
"""

from __future__ import annotations

from flask import Blueprint, Response, request, url_for

from upload_service.api.common import file_out, respond
from upload_service.api.described import (
    ANY_BYTES,
    BINARY,
    Content,
    Reply,
    documented,
    json_reply,
    path_param,
)
from upload_service.auth.csrf import csrf_exempt
from upload_service.auth.current import require_user
from upload_service.errors import BadRequest
from upload_service.models import UploadSession
from upload_service.runtime import get_runtime
from upload_service.schemas.direct import (
    DirectUploadIn,
    DirectUploadOut,
    DirectUploadStatus,
    SignedUploadForm,
)
from upload_service.schemas.files import FileOutEnvelope
from upload_service.services import direct
from upload_service.services.ingest import MULTIPART_OVERHEAD

bp = Blueprint("direct", __name__, url_prefix="/api")

UPLOAD_TOKEN = path_param("token", "The signed token at the end of the upload `url`.", "$TOKEN")
SIGNED_ERRORS = (400, 403, 404, 409, 410, 413, 422, 507)


@bp.post("/uploads")
@documented(
    {
        201: json_reply(
            "Where and how to send the bytes, with no other credential.", DirectUploadOut
        )
    },
    errors=(400, 409, 413, 415, 507),
    example={"path": "videos/talk.mp4", "size": 1048576, "content_type": "video/mp4"},
)
def direct_create(body: DirectUploadIn) -> Response:
    """Request a signed upload URL

    With S3 storage the URL is a presigned POST whose policy pins the key, the exact size and
    the content type; with local storage it is a signed URL of this service that takes one
    `PUT` (or multipart `POST`) of exactly `size` bytes. Then call
    `POST /api/uploads/{upload_id}/complete`.
    """
    user = require_user()
    created = direct.create_direct_upload(
        get_runtime(),
        user,
        direct.DirectUploadRequest(**body.model_dump()),
        lambda token: url_for("direct.signed_upload_put", token=token, _external=True),
    )
    out = DirectUploadOut(
        upload_id=created.session.id,
        method=created.target.method,
        url=created.target.url,
        headers=created.target.headers,
        fields=created.target.fields,
        expires_at=created.url_expires_at,
    )
    return respond(out, 201)


@bp.get("/uploads/<upload_id>")
@documented(
    {200: json_reply("`pending`, `complete`, `expired` or `failed`.", DirectUploadStatus)},
    errors=(404,),
)
def direct_status(upload_id: str) -> Response:
    """A direct upload's state"""
    row = direct.get_direct_upload(get_runtime(), require_user(), upload_id)
    return respond(_status(row))


@bp.delete("/uploads/<upload_id>")
@documented(
    {204: Reply("Aborted; whatever was uploaded is deleted and the URL refuses more.")},
    errors=(404, 409),
)
def direct_abort(upload_id: str) -> Response:
    """Abort a direct upload"""
    direct.abort_direct_upload(get_runtime(), require_user(), upload_id)
    return Response(status=204)


@bp.post("/uploads/<upload_id>/complete")
@documented(
    {200: json_reply("The file (the same one when completed again).", FileOutEnvelope)},
    errors=(404, 409, 410, 422, 507),
)
def direct_complete(upload_id: str) -> Response:
    """Verify a direct upload and make it a file

    Checks that the object exists (else 409), has the declared size and, when declared, SHA-256
    (else 422: the object is deleted and the session `failed`).
    """
    file = direct.complete_direct_upload(get_runtime(), require_user(), upload_id)
    return respond(FileOutEnvelope(file=file_out(file)))


@bp.put("/signed-uploads/<token>")
@csrf_exempt
@documented(
    {204: Reply("Received; now complete the upload.")},
    errors=SIGNED_ERRORS,
    body=Content(BINARY, ANY_BYTES),
    params=(UPLOAD_TOKEN,),
    public=True,
)
def signed_upload_put(token: str) -> Response:
    """Upload to a signed URL (local storage)

    The raw body is the file. Needs no credentials; the signature is the permission. Expired or
    tampered signatures answer 403 (`signature_expired`, `signature_invalid`).
    """
    direct.receive_signed_upload(get_runtime(), token, request.stream)  # type: ignore[arg-type]
    return Response(status=204)


@bp.post("/signed-uploads/<token>")
@csrf_exempt
@documented(
    {204: Reply("Received; now complete the upload.")},
    errors=SIGNED_ERRORS,
    body=Content(SignedUploadForm, "multipart/form-data"),
    params=(UPLOAD_TOKEN,),
    public=True,
)
def signed_upload_post(token: str) -> Response:
    """Upload to a signed URL as a multipart form (local storage)

    Like the `PUT`, with the file in a part named `file` (what `curl -F file=@x` sends).
    """
    runtime = get_runtime()
    upload_id = direct.verify_upload_token(runtime.settings.SECRET_KEY or "", token)
    row = direct.signed_session(runtime, upload_id)
    request.max_content_length = (row.size or 0) + MULTIPART_OVERHEAD
    part = request.files.get("file")
    if part is None:
        raise BadRequest("Send the file in a multipart part named 'file'.", code="no_files")
    direct.receive_signed_upload(runtime, token, part.stream)  # type: ignore[arg-type]
    return Response(status=204)


def _status(row: UploadSession) -> DirectUploadStatus:
    return DirectUploadStatus(
        upload_id=row.id,
        state=direct.state_of(row),
        path=row.path,
        size=row.size or 0,
        expires_at=row.expires_at,
    )
