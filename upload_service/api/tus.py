"""tus 1.0 resumable uploads at ``/api/tus/``: a thin adapter over :mod:`services.tus`."""

from __future__ import annotations

from email.utils import format_datetime

from flask import Blueprint, Response, request, url_for

from upload_service.api.described import Content, Param, Reply, documented, header, path_param
from upload_service.auth.current import require_user
from upload_service.errors import BadRequest, PreconditionFailed, UnsupportedMediaType
from upload_service.models import UploadSession
from upload_service.runtime import get_runtime
from upload_service.services import tus

bp = Blueprint("tus", __name__, url_prefix="/api/tus")

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,expiration,checksum,termination,creation-defer-length"
OFFSET_STREAM = "application/offset+octet-stream"
# What tus-js-client and Uppy read from responses (exposed when CORS is in use).
EXPOSED_HEADERS = (
    "Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires, Upload-Defer-Length, "
    "Location, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, "
    "Tus-Checksum-Algorithm, Upload-File-Id"
)
UPLOAD_ID = path_param("upload_id", "The id at the end of the upload's `Location`.", "abc123")
TUS_RESUMABLE = Param(
    "Tus-Resumable", "header", {"const": TUS_VERSION}, "Must be `1.0.0` (else 412).", True
)


@bp.before_request
def _require_tus_version() -> Response | None:
    if request.method != "OPTIONS" and request.headers.get("Tus-Resumable") != TUS_VERSION:
        raise PreconditionFailed(
            f"Send Tus-Resumable: {TUS_VERSION}.",
            code="tus_version_unsupported",
            headers={"Tus-Version": TUS_VERSION},
        )
    return None


@bp.after_request
def _tus_headers(response: Response) -> Response:
    response.headers["Tus-Resumable"] = TUS_VERSION
    response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.route("/", methods=["OPTIONS"])
@bp.route("/<upload_id>", methods=["OPTIONS"])
def tus_options(upload_id: str | None = None) -> Response:
    response = Response(status=204)
    response.headers["Tus-Version"] = TUS_VERSION
    response.headers["Tus-Extension"] = EXTENSIONS
    response.headers["Tus-Max-Size"] = str(get_runtime().settings.MAX_FILE_SIZE)
    response.headers["Tus-Checksum-Algorithm"] = ",".join(tus.CHECKSUM_ALGORITHMS)
    return response


@bp.post("/")
@documented(
    {201: Reply("Created: `Location`, `Upload-Offset`, `Upload-Expires`.")},
    errors=(400, 412, 413),
    params=(
        TUS_RESUMABLE,
        header("Upload-Length", "The file's size (or send `Upload-Defer-Length: 1`)."),
        header("Upload-Metadata", "`filename` (required), `folder`, `filetype`, `on_conflict`."),
    ),
)
def tus_create() -> Response:
    """Create a resumable upload (tus creation, creation-with-upload)

    tus 1.0.0; works with tuspy, tus-js-client and Uppy.
    """
    user = require_user()
    runtime = get_runtime()
    length = _length_header("Upload-Length")
    if length is None and request.headers.get("Upload-Defer-Length") != "1":
        raise BadRequest("Send Upload-Length or Upload-Defer-Length: 1.", code="missing_length")
    session = tus.create_upload(runtime, user, length, request.headers.get("Upload-Metadata"))
    response = Response(status=201)
    response.headers["Location"] = url_for("tus.tus_head", upload_id=session.id, _external=True)
    _describe(response, session)
    if request.mimetype == OFFSET_STREAM:  # creation-with-upload
        outcome = _patch(session.id, 0)
        _describe(response, outcome.session)
        if outcome.file_id:
            response.headers["Upload-File-Id"] = outcome.file_id
    return response


@bp.route("/<upload_id>", methods=["HEAD"])
@documented(
    {200: Reply("`Upload-Offset`, `Upload-Length`, `Upload-Metadata`.")},
    errors=(404, 410, 412),
    params=(UPLOAD_ID, TUS_RESUMABLE),
)
def tus_head(upload_id: str) -> Response:
    """A resumable upload's offset"""
    user = require_user()
    session = tus.get_upload(get_runtime(), user, upload_id)
    response = Response(status=200)
    _describe(response, session)
    if session.file_id:
        response.headers["Upload-File-Id"] = session.file_id
    return response


@bp.patch("/<upload_id>")
@documented(
    {204: Reply("Stored: the new `Upload-Offset` (and `Upload-File-Id` when complete).")},
    errors=(400, 404, 409, 410, 412, 413, 415, 460, 507),
    body=Content({"type": "string", "format": "binary"}, OFFSET_STREAM),
    params=(
        UPLOAD_ID,
        TUS_RESUMABLE,
        header("Upload-Offset", "Where this chunk starts (else 409)."),
        header("Upload-Checksum", "`sha1|sha256|md5 <base64 digest>` (else 460)."),
    ),
)
def tus_patch(upload_id: str) -> Response:
    """Append a chunk to a resumable upload"""
    require_user()
    if request.mimetype != OFFSET_STREAM:
        raise UnsupportedMediaType(
            f"Send the chunk with Content-Type: {OFFSET_STREAM}.",
            details=[{"expected": OFFSET_STREAM, "received": request.mimetype or None}],
        )
    offset = _length_header("Upload-Offset")
    if offset is None:
        raise BadRequest("Send Upload-Offset.", code="missing_offset")
    outcome = _patch(upload_id, offset)
    response = Response(status=204)
    _describe(response, outcome.session)
    if outcome.file_id:
        response.headers["Upload-File-Id"] = outcome.file_id
    return response


@bp.delete("/<upload_id>")
@documented(
    {204: Reply("Terminated; its staged bytes are removed.")},
    errors=(404, 409, 412),
    params=(UPLOAD_ID, TUS_RESUMABLE),
)
def tus_delete(upload_id: str) -> Response:
    """Terminate a resumable upload"""
    tus.terminate_upload(get_runtime(), require_user(), upload_id)
    return Response(status=204)


def _patch(upload_id: str, offset: int) -> tus.PatchOutcome:
    return tus.patch_upload(
        get_runtime(),
        require_user(),
        upload_id,
        offset,
        request.stream,  # type: ignore[arg-type]
        content_length=request.content_length,
        checksum_header=request.headers.get("Upload-Checksum"),
        length=_length_header("Upload-Length"),
    )


def _describe(response: Response, session: UploadSession) -> None:
    response.headers["Upload-Offset"] = str(session.offset)
    if session.size is None:
        response.headers["Upload-Defer-Length"] = "1"
    else:
        response.headers["Upload-Length"] = str(session.size)
    metadata = tus.stored_metadata(session)
    if metadata:
        response.headers["Upload-Metadata"] = metadata
    if session.state == "pending":
        response.headers["Upload-Expires"] = format_datetime(session.expires_at, usegmt=True)


def _length_header(name: str) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 19:
        raise BadRequest(f"{name} must be a non-negative integer.", code="invalid_header")
    return int(raw)
