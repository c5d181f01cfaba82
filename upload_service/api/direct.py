"""Signed direct uploads (``/api/uploads``): a thin adapter over :mod:`services.direct`.

``/api/signed-uploads/<token>`` is the upload URL handed out with local storage: it needs no
credential but its signature, so it is exempt from CSRF checks (a cookie grants it nothing).
"""

from __future__ import annotations

from flask import Blueprint, Response, request, url_for

from upload_service.api.common import file_out, json_body, respond
from upload_service.auth.csrf import csrf_exempt
from upload_service.auth.current import require_user
from upload_service.errors import BadRequest
from upload_service.models import UploadSession
from upload_service.runtime import get_runtime
from upload_service.schemas.direct import DirectUploadIn, DirectUploadOut, DirectUploadStatus
from upload_service.schemas.files import FileOutEnvelope
from upload_service.services import direct
from upload_service.services.ingest import MULTIPART_OVERHEAD

bp = Blueprint("direct", __name__, url_prefix="/api")


@bp.post("/uploads")
def direct_create() -> Response:
    user = require_user()
    body = json_body(DirectUploadIn)
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
def direct_status(upload_id: str) -> Response:
    row = direct.get_direct_upload(get_runtime(), require_user(), upload_id)
    return respond(_status(row))


@bp.delete("/uploads/<upload_id>")
def direct_abort(upload_id: str) -> Response:
    direct.abort_direct_upload(get_runtime(), require_user(), upload_id)
    return Response(status=204)


@bp.post("/uploads/<upload_id>/complete")
def direct_complete(upload_id: str) -> Response:
    file = direct.complete_direct_upload(get_runtime(), require_user(), upload_id)
    return respond(FileOutEnvelope(file=file_out(file)))


@bp.put("/signed-uploads/<token>")
@csrf_exempt
def signed_upload_put(token: str) -> Response:
    """The raw body is the file."""
    direct.receive_signed_upload(get_runtime(), token, request.stream)  # type: ignore[arg-type]
    return Response(status=204)


@bp.post("/signed-uploads/<token>")
@csrf_exempt
def signed_upload_post(token: str) -> Response:
    """A multipart form whose ``file`` part is the file (what ``curl -F file=@x`` sends)."""
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
