"""The OpenAPI 3.1 document (``/api/openapi.json``) and the API docs page (``/api/docs``).

The document is built from :data:`OPERATIONS`, one declarative table of every operation, and
from the same pydantic models that validate the requests and shape the responses (their JSON
schemas become ``components.schemas``). A test checks that every route of the app appears here,
and every operation here is served, so the table cannot drift from the views silently.
Bodies no model validates (multipart forms, raw bytes) are described in the table itself.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from markupsafe import Markup, escape
from pydantic import BaseModel, Field, TypeAdapter
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from upload_service.schemas.auth import (
    AdminUserList,
    MeOut,
    TokenCreate,
    TokenCreated,
    TokenList,
)
from upload_service.schemas.direct import DirectUploadIn, DirectUploadOut, DirectUploadStatus
from upload_service.schemas.files import (
    Base64Batch,
    FileList,
    FileListQuery,
    FileOut,
    FileOutEnvelope,
    FilePatch,
    FilesOut,
    FolderOut,
    LinkIn,
    LinkOut,
    MoveIn,
    MoveOut,
    OnConflict,
    PersistIn,
    TemporaryUploadOut,
)
from upload_service.schemas.sync import (
    SyncChunkOut,
    SyncCommitIn,
    SyncManifestOut,
    SyncManifestQuery,
    SyncPrepareIn,
    SyncPrepareOut,
)
from upload_service.schemas.system import ErrorOut, HealthOut, ReadyOut

bp = Blueprint("openapi", __name__, url_prefix="/api")

REF_TEMPLATE = "#/components/schemas/{model}"
JSON = "application/json"
BINARY: dict[str, Any] = {"type": "string", "format": "binary"}
ANY_BYTES = "*/*"  # a stored file is served with its own content type

Schema = type[BaseModel] | dict[str, Any]


# --- The vocabulary of the table ------------------------------------------------------------------


@dataclass(frozen=True)
class Content:
    """A body: a pydantic model (or one field of it), or a literal schema for raw bytes."""

    schema: Schema
    media_type: str = JSON
    field: str | None = None  # the body is this field of the model, e.g. a bare JSON array
    example: Any = None


@dataclass(frozen=True)
class Reply:
    description: str
    content: tuple[Content, ...] = ()
    headers: tuple[str, ...] = ()  # names in RESPONSE_HEADERS


@dataclass(frozen=True)
class Param:
    name: str
    where: Literal["path", "query", "header"]
    schema: dict[str, Any]
    description: str = ""
    required: bool = False
    example: Any = None


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # OpenAPI form: /api/files/{file_id}
    summary: str
    tag: str
    replies: dict[int, Reply]
    errors: tuple[int, ...] = ()  # answered with ErrorOut; auth and rate-limit errors are added
    body: Content | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None  # every field becomes a query parameter
    params: tuple[Param, ...] = ()
    description: str = ""
    public: bool = False  # no bearer token needed
    rate_limited: bool = True
    all_errors: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        added = () if self.public else (401, 403, 503)
        limited = (429,) if self.rate_limited else ()
        object.__setattr__(self, "all_errors", tuple(sorted({*self.errors, *added, *limited})))

    @property
    def operation_id(self) -> str:
        words = re.sub(r"[^a-z0-9]+", "_", self.path.removeprefix("/api").lower()).strip("_")
        return f"{self.method.lower()}_{words or 'root'}"


ERROR_DESCRIPTIONS = {
    400: "The request is not valid (see `details`).",
    401: "Missing, invalid, revoked or expired credentials.",
    403: "Authenticated, but not allowed.",
    404: "Not found (or owned by someone else).",
    409: "Conflicts with the current state (e.g. the path exists).",
    412: "The `If-Match` precondition did not hold.",
    413: "The upload is larger than the configured limit.",
    415: "Unsupported media type: send `application/json`.",
    416: "The requested range is not satisfiable.",
    422: "The content does not match its declared checksum.",
    410: "The upload session has expired or failed.",
    460: "The chunk does not match its `Upload-Checksum` (nothing of it was kept).",
    429: "Rate limited; retry after `Retry-After` seconds.",
    503: "A dependency (e.g. GitHub, checking a GitHub token) is unavailable.",
    507: "The storage quota is exhausted.",
}
RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {"description": 'The quoted SHA-256 of the content: `"<hex>"`.'},
    "Content-Range": {"description": "The bytes sent, e.g. `bytes 0-99/1234`."},
    "Content-Disposition": {"description": "Always `attachment`, with an RFC 6266 filename."},
    "Retry-After": {"description": "Seconds until the budget is refilled."},
    "WWW-Authenticate": {"description": 'Always `Bearer realm="upload-service"`.'},
}
ERROR_HEADERS = {401: ("WWW-Authenticate",), 416: ("Content-Range",), 429: ("Retry-After",)}


def _enum_of(annotation: Any) -> dict[str, Any]:
    schema: dict[str, Any] = TypeAdapter(annotation).json_schema()
    return schema


def _path_param(name: str, description: str, example: str | None = None) -> Param:
    schema = {"type": "string", "minLength": 1}
    return Param(name, "path", schema, description, required=True, example=example)


def _header(name: str, description: str) -> Param:
    return Param(name, "header", {"type": "string"}, description)


def json_reply(description: str, model: type[BaseModel], *headers: str) -> Reply:
    return Reply(description, (Content(model),), headers)


def bytes_reply(description: str, *headers: str) -> Reply:
    return Reply(description, (Content(BINARY, ANY_BYTES),), headers)


FILE_ID = _path_param("file_id", "The file's public id.", "$FILE_ID")
TEMP_TOKEN = _path_param("token", "The token of a temporary upload.", "$TEMP_TOKEN")
FS_PATH = _path_param(
    "path", "A path such as `docs/report.pdf` (`/`-separated, no leading `/`).", "docs/report.pdf"
)
TUS_ID = _path_param("upload_id", "The id at the end of the upload's `Location`.", "abc123")
UPLOAD_ID = _path_param("upload_id", "The `upload_id` from `POST /api/uploads`.", "$UPLOAD_ID")
UPLOAD_TOKEN = _path_param("token", "The signed token at the end of the upload `url`.", "$TOKEN")
FOLDER_PATH = _path_param("path", "A folder path such as `docs/2024`.", "docs/2024")
ON_CONFLICT = Param(
    "on_conflict",
    "query",
    _enum_of(OnConflict),
    "What to do when the path exists: `error` (409), `replace` or `rename`.",
)
IF_MATCH = _header("If-Match", 'Proceed only if the current content is `"<sha256>"` (else 412).')
DOWNLOAD_HEADERS = (
    _header("Range", "A single byte range, e.g. `bytes=0-99` (206, or 416)."),
    _header("If-Range", "Honour `Range` only if the ETag still matches."),
    _header("If-None-Match", "The ETag the client has (304 when unchanged)."),
)
DOWNLOAD_REPLIES = {
    200: bytes_reply("The file's bytes.", "ETag", "Content-Disposition"),
    206: bytes_reply("The requested range.", "ETag", "Content-Range", "Content-Disposition"),
    304: Reply("Unchanged since the ETag the client sent.", (), ("ETag",)),
}
BASE64_EXAMPLE = [{"filename": "hello.txt", "content": "aGVsbG8gd29ybGQK", "folder": "notes"}]
BASE64_BODY = Content(Base64Batch, field="items", example=BASE64_EXAMPLE)


class MultipartUpload(BaseModel):
    """The form of ``POST /api/files``; the view reads it from ``request.files``/``form``."""

    file: list[bytes] = Field(min_length=1, description="One or more files (parts named `file`).")
    folder: str | None = Field(default=None, max_length=1024)
    description: str | None = Field(default=None, max_length=2000)
    on_conflict: OnConflict = "error"


class SignedUploadForm(BaseModel):
    """The form of ``POST /api/signed-uploads/{token}``."""

    file: bytes = Field(description="The file, exactly the declared size.")


# --- The table ------------------------------------------------------------------------------------

OPERATIONS: tuple[Operation, ...] = (
    # The original Upload Service endpoints
    Operation(
        "PUT",
        "/api/upload",
        "Upload files as base64 JSON",
        "uploads",
        {201: json_reply("All files stored (or none).", FilesOut)},
        errors=(400, 409, 413, 415, 507),
        body=BASE64_BODY,
        params=(ON_CONFLICT,),
        description="The body must be sent with `Content-Type: application/json` (else 415) "
        "and is bounded by `MAX_JSON_UPLOAD_SIZE`.",
    ),
    Operation(
        "PUT",
        "/api/upload_temporary",
        "Upload temporary files as base64 JSON",
        "uploads",
        {201: json_reply("Stored as temporary files under a new token.", TemporaryUploadOut)},
        errors=(400, 413, 415, 507),
        body=BASE64_BODY,
        description="Temporary files are invisible in listings and expire unless persisted.",
    ),
    Operation(
        "GET",
        "/api/upload_temporary/{token}",
        "Status and files of a temporary upload",
        "uploads",
        {200: json_reply("The temporary upload.", TemporaryUploadOut)},
        errors=(404,),
        params=(TEMP_TOKEN,),
    ),
    Operation(
        "DELETE",
        "/api/upload_temporary/{token}",
        "Discard a temporary upload",
        "uploads",
        {204: Reply("Discarded.")},
        errors=(404,),
        params=(TEMP_TOKEN,),
    ),
    Operation(
        "POST",
        "/api/upload_temporary/{token}/persist",
        "Persist a temporary upload",
        "uploads",
        {200: json_reply("The files, now complete.", FilesOut)},
        errors=(400, 404, 409, 415),
        body=Content(PersistIn, example={"folder": "invoices", "description": "March"}),
        body_required=False,
        params=(TEMP_TOKEN, ON_CONFLICT),
        description="The body is optional; its `on_conflict` wins over the query parameter.",
    ),
    # Files by id
    Operation(
        "GET",
        "/api/files",
        "List files",
        "files",
        {200: json_reply("A page of files and the cursor of the next page.", FileList)},
        errors=(400,),
        query=FileListQuery,
        description="Without `folder`: all complete files; with it: its direct children "
        "(`recursive=true` for the subtree). `q` matches the path case-insensitively.",
    ),
    Operation(
        "POST",
        "/api/files",
        "Upload files (multipart)",
        "files",
        {201: json_reply("All files stored (or none).", FilesOut)},
        errors=(400, 409, 413, 507),
        body=Content(MultipartUpload, "multipart/form-data"),
        params=(ON_CONFLICT,),
    ),
    Operation(
        "GET",
        "/api/files/{file_id}",
        "A file's metadata",
        "files",
        {200: json_reply("The file.", FileOut)},
        errors=(404,),
        params=(FILE_ID,),
    ),
    Operation(
        "PATCH",
        "/api/files/{file_id}",
        "Rename, move or describe a file",
        "files",
        {200: json_reply("The updated file.", FileOut)},
        errors=(400, 404, 409, 412, 415),
        body=Content(FilePatch, example={"path": "docs/renamed.txt", "description": "v2"}),
        params=(FILE_ID, IF_MATCH),
    ),
    Operation(
        "DELETE",
        "/api/files/{file_id}",
        "Delete a file",
        "files",
        {204: Reply("Deleted.")},
        errors=(404, 412),
        params=(FILE_ID, IF_MATCH),
    ),
    Operation(
        "GET",
        "/api/files/{file_id}/content",
        "Download a file",
        "files",
        DOWNLOAD_REPLIES,
        errors=(404, 416),
        params=(FILE_ID, *DOWNLOAD_HEADERS),
        description="Served as an attachment with `X-Content-Type-Options: nosniff` and "
        "`Content-Security-Policy: sandbox`.",
    ),
    Operation(
        "POST",
        "/api/files/{file_id}/link",
        "Create a signed download link",
        "files",
        {200: json_reply("A URL that works without credentials until it expires.", LinkOut)},
        errors=(400, 404, 415),
        body=Content(LinkIn, example={"expires_in": 3600}),
        body_required=False,
        params=(FILE_ID,),
    ),
    Operation(
        "GET",
        "/api/links/{token}",
        "Download through a signed link",
        "files",
        DOWNLOAD_REPLIES,
        errors=(403, 404, 416),
        params=(
            _path_param("token", "The signed token from the link's URL.", "$LINK_TOKEN"),
            *DOWNLOAD_HEADERS,
        ),
        description="Needs no credentials; tampered, expired or foreign links answer 403.",
        public=True,
    ),
    # Signed direct uploads
    Operation(
        "POST",
        "/api/uploads",
        "Request a signed upload URL",
        "direct",
        {
            201: json_reply(
                "Where and how to send the bytes, with no other credential.", DirectUploadOut
            )
        },
        errors=(400, 409, 413, 415, 507),
        body=Content(
            DirectUploadIn,
            example={"path": "videos/talk.mp4", "size": 1048576, "content_type": "video/mp4"},
        ),
        description="With S3 storage the URL is a presigned POST whose policy pins the key, the "
        "exact size and the content type; with local storage it is a signed URL of this "
        "service that takes one `PUT` (or multipart `POST`) of exactly `size` bytes. Then call "
        "`POST /api/uploads/{upload_id}/complete`.",
    ),
    Operation(
        "GET",
        "/api/uploads/{upload_id}",
        "A direct upload's state",
        "direct",
        {200: json_reply("`pending`, `complete`, `expired` or `failed`.", DirectUploadStatus)},
        errors=(404,),
        params=(UPLOAD_ID,),
    ),
    Operation(
        "DELETE",
        "/api/uploads/{upload_id}",
        "Abort a direct upload",
        "direct",
        {204: Reply("Aborted; whatever was uploaded is deleted and the URL refuses more.")},
        errors=(404, 409),
        params=(UPLOAD_ID,),
    ),
    Operation(
        "POST",
        "/api/uploads/{upload_id}/complete",
        "Verify a direct upload and make it a file",
        "direct",
        {200: json_reply("The file (the same one when completed again).", FileOutEnvelope)},
        errors=(404, 409, 410, 422, 507),
        params=(UPLOAD_ID,),
        description="Checks that the object exists (else 409), has the declared size and, when "
        "declared, SHA-256 (else 422: the object is deleted and the session `failed`).",
    ),
    Operation(
        "PUT",
        "/api/signed-uploads/{token}",
        "Upload to a signed URL (local storage)",
        "direct",
        {204: Reply("Received; now complete the upload.")},
        errors=(400, 403, 404, 409, 410, 413, 422, 507),
        body=Content(BINARY, ANY_BYTES),
        params=(UPLOAD_TOKEN,),
        description="Needs no credentials; the signature is the permission. Expired or "
        "tampered signatures answer 403 (`signature_expired`, `signature_invalid`).",
        public=True,
    ),
    Operation(
        "POST",
        "/api/signed-uploads/{token}",
        "Upload to a signed URL as a multipart form (local storage)",
        "direct",
        {204: Reply("Received; now complete the upload.")},
        errors=(400, 403, 404, 409, 410, 413, 422, 507),
        body=Content(SignedUploadForm, "multipart/form-data"),
        params=(UPLOAD_TOKEN,),
        description="Like the `PUT`, with the file in a part named `file`.",
        public=True,
    ),
    # Path addressing
    Operation(
        "PUT",
        "/api/fs/{path}",
        "Upload a file by path (raw body)",
        "fs",
        {
            200: json_reply("Replaced an existing file.", FileOut),
            201: json_reply("Created.", FileOut),
        },
        errors=(400, 409, 412, 413, 422, 507),
        body=Content(BINARY, "application/octet-stream"),
        params=(
            FS_PATH,
            ON_CONFLICT,
            IF_MATCH,
            _header("X-Content-SHA256", "The hex SHA-256 of the body, verified (else 422)."),
        ),
        description=(
            "Streams the body to storage; `curl -T FILE URL` works. Answers the one file it "
            "stored (FileOut), as a PUT of a resource does; the batch routes (PUT /api/upload, "
            "POST /api/files) answer {success, files: [...]} because one request can carry many."
        ),
    ),
    Operation(
        "GET",
        "/api/fs/{path}",
        "Download a file, or list a folder, by path",
        "fs",
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
        params=(FS_PATH, *DOWNLOAD_HEADERS),
    ),
    Operation(
        "HEAD",
        "/api/fs/{path}",
        "A file's headers (size, ETag) by path",
        "fs",
        {
            200: Reply("The file (or folder) exists.", (), ("ETag",)),
            206: Reply("The requested range exists.", (), ("ETag", "Content-Range")),
            304: DOWNLOAD_REPLIES[304],
        },
        errors=(400, 404, 416),
        params=(FS_PATH, *DOWNLOAD_HEADERS),
    ),
    Operation(
        "DELETE",
        "/api/fs/{path}",
        "Delete a file or a folder by path",
        "fs",
        {204: Reply("Deleted.")},
        errors=(400, 404, 409, 412),
        params=(
            FS_PATH,
            IF_MATCH,
            Param(
                "recursive",
                "query",
                {"type": "boolean", "default": False},
                "Delete a non-empty folder with its contents (else 409).",
            ),
        ),
    ),
    Operation(
        "POST",
        "/api/fs/move",
        "Move or rename a file or a folder",
        "fs",
        {200: json_reply("Moved: the file, or the folder and how many files moved.", MoveOut)},
        errors=(400, 404, 409, 412, 415),
        body=Content(MoveIn, example={"from": "inbox/a.txt", "to": "archive/a.txt"}),
    ),
    Operation(
        "PUT",
        "/api/folders/{path}",
        "Create a folder (mkdir -p)",
        "fs",
        {
            200: json_reply("It already existed.", FolderOut),
            201: json_reply("Created.", FolderOut),
        },
        errors=(400, 409),
        params=(FOLDER_PATH,),
    ),
    Operation(
        "GET",
        "/api/folders",
        "The root folder's subfolders",
        "fs",
        {200: json_reply("The root folder.", FolderOut)},
    ),
    Operation(
        "GET",
        "/api/folders/{path}",
        "A folder and its direct subfolders",
        "fs",
        {200: json_reply("The folder.", FolderOut)},
        errors=(400, 404),
        params=(FOLDER_PATH,),
    ),
    # Account
    Operation(
        "GET",
        "/api/me",
        "The signed-in user, usage and quota",
        "account",
        {200: json_reply("The user.", MeOut)},
    ),
    Operation(
        "GET",
        "/api/tokens",
        "List your API tokens",
        "account",
        {200: json_reply("Your tokens (never their plaintext).", TokenList)},
    ),
    Operation(
        "POST",
        "/api/tokens",
        "Create an API token",
        "account",
        {201: json_reply("The token; its plaintext appears in this response only.", TokenCreated)},
        errors=(400, 415),
        body=Content(TokenCreate, example={"name": "backup script", "expires_in": 2592000}),
    ),
    Operation(
        "DELETE",
        "/api/tokens/{token_id}",
        "Revoke an API token",
        "account",
        {204: Reply("Revoked.")},
        errors=(404,),
        params=(_path_param("token_id", "The token's id.", "$TOKEN_ID"),),
    ),
    Operation(
        "GET",
        "/api/admin/users",
        "All users and their usage (admins only)",
        "account",
        {200: json_reply("Every user.", AdminUserList)},
    ),
    # tus 1.0 resumable uploads
    Operation(
        "POST",
        "/api/tus/",
        "Create a resumable upload (tus creation, creation-with-upload)",
        "tus",
        {201: Reply("Created: `Location`, `Upload-Offset`, `Upload-Expires`.")},
        errors=(400, 412, 413),
        params=(
            _header("Tus-Resumable", "Must be `1.0.0` (else 412)."),
            _header("Upload-Length", "The file's size (or send `Upload-Defer-Length: 1`)."),
            _header(
                "Upload-Metadata", "`filename` (required), `folder`, `filetype`, `on_conflict`."
            ),
        ),
        description="tus 1.0.0; works with tuspy, tus-js-client and Uppy.",
    ),
    Operation(
        "HEAD",
        "/api/tus/{upload_id}",
        "A resumable upload's offset",
        "tus",
        {200: Reply("`Upload-Offset`, `Upload-Length`, `Upload-Metadata`.")},
        errors=(404, 410, 412),
        params=(TUS_ID,),
    ),
    Operation(
        "PATCH",
        "/api/tus/{upload_id}",
        "Append a chunk to a resumable upload",
        "tus",
        {204: Reply("Stored: the new `Upload-Offset` (and `Upload-File-Id` when complete).")},
        errors=(400, 404, 409, 410, 412, 413, 415, 460, 507),
        body=Content(BINARY, "application/offset+octet-stream"),
        params=(
            TUS_ID,
            _header("Upload-Offset", "Where this chunk starts (else 409)."),
            _header("Upload-Checksum", "`sha1|sha256|md5 <base64 digest>` (else 460)."),
        ),
    ),
    Operation(
        "DELETE",
        "/api/tus/{upload_id}",
        "Terminate a resumable upload",
        "tus",
        {204: Reply("Terminated; its staged bytes are removed.")},
        errors=(404, 409, 412),
        params=(TUS_ID,),
    ),
    # This document, and operations
    Operation(
        "GET",
        "/api/openapi.json",
        "This OpenAPI document",
        "meta",
        {200: Reply("OpenAPI 3.1.", (Content({"type": "object"}),))},
        public=True,
    ),
    Operation(
        "GET",
        "/api/docs",
        "Human-readable API documentation",
        "meta",
        {200: Reply("An HTML page.", (Content({"type": "string"}, "text/html"),))},
        public=True,
    ),
    Operation(
        "GET",
        "/healthz",
        "Liveness: the process answers",
        "operations",
        {200: json_reply("Alive.", HealthOut)},
        public=True,
        rate_limited=False,
    ),
    Operation(
        "GET",
        "/readyz",
        "Readiness: database and storage are reachable",
        "operations",
        {200: json_reply("Ready.", ReadyOut), 503: json_reply("Not ready.", ReadyOut)},
        public=True,
        rate_limited=False,
    ),
    Operation(
        "GET",
        "/metrics",
        "Prometheus metrics of this process",
        "operations",
        {200: Reply("Prometheus text format.", (Content({"type": "string"}, "text/plain"),))},
        public=True,
        rate_limited=False,
    ),
    Operation(
        "POST",
        "/api/sync/prepare",
        "Start a chunked sync upload: which chunks are missing",
        "sync",
        {
            200: json_reply(
                "The upload id and the missing chunk ids, or `unchanged`.", SyncPrepareOut
            )
        },
        errors=(400, 409, 413, 415),
        body=Content(SyncPrepareIn),
        description="`chunker` must be `fastcdc2020-256k-1m-4m-sha256`; 409 when the server's "
        "file no longer has `base_sha256`.",
    ),
    Operation(
        "PUT",
        "/api/sync/chunks/{sha256}",
        "Upload one chunk (raw bytes, at most 4 MiB)",
        "sync",
        {
            200: json_reply("You already had this chunk.", SyncChunkOut),
            201: json_reply("Stored.", SyncChunkOut),
        },
        errors=(400, 413, 422, 507),
        body=Content(BINARY, ANY_BYTES),
        params=(_path_param("sha256", "The chunk's SHA-256 (hex).", "$CHUNK_SHA256"),),
    ),
    Operation(
        "POST",
        "/api/sync/commit",
        "Assemble and swap in the file of a prepared sync upload",
        "sync",
        {
            200: json_reply("Replaced.", FileOutEnvelope),
            201: json_reply("Created.", FileOutEnvelope),
        },
        errors=(400, 404, 409, 413, 415, 422, 507),
        body=Content(SyncCommitIn),
    ),
    Operation(
        "GET",
        "/api/sync/manifest",
        "Every file and folder under a folder (paths relative to it)",
        "sync",
        {200: json_reply("The manifest.", SyncManifestOut)},
        errors=(400, 404),
        query=SyncManifestQuery,
    ),
)

TAGS = (
    ("uploads", "The original Upload Service endpoints: base64 JSON and temporary uploads."),
    ("files", "Files by id: list, upload, metadata, download, signed links."),
    ("direct", "Signed direct uploads: clients upload straight to storage, then complete."),
    ("fs", "Files and folders by path, for the CLI, sync and `curl -T`."),
    ("sync", "Folder sync: chunk-level delta upload (FastCDC) and the manifest."),
    ("account", "The signed-in user and API tokens."),
    ("meta", "This documentation."),
    ("operations", "Probes and metrics (no credentials, no rate limit)."),
)


# --- Building the document ------------------------------------------------------------------------


def build_openapi(operations: Iterable[Operation] = OPERATIONS) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations``."""
    operations = tuple(operations)
    components = _Components(operations)
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(
            operation, components
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Upload Service API",
            "version": _version(),
            "description": "Errors under `/api/` share one shape (`ErrorOut`). Scripts send "
            "`Authorization: Bearer <token>` with an API token or a GitHub token; the web "
            "pages' own calls use the session cookie plus the CSRF token.",
        },
        "tags": [{"name": name, "description": text} for name, text in TAGS],
        "paths": paths,
        "components": {
            "schemas": components.schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token (`us_...`) or, with GitHub sign-in enabled, "
                    "a GitHub token.",
                }
            },
        },
        "security": [{"bearerAuth": []}],
    }


class _Components:
    """JSON schemas of every model the operations use, with their ``$defs`` as components."""

    def __init__(self, operations: tuple[Operation, ...]) -> None:
        pairs: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
        for operation in operations:
            for model, mode in _models_of(operation):
                pairs[(model, mode)] = None
        refs, top = models_json_schema(list(pairs), ref_template=REF_TEMPLATE)
        self.refs = refs
        self.schemas: dict[str, Any] = dict(sorted(top.get("$defs", {}).items()))

    def schema_of(self, content: Content, mode: JsonSchemaMode) -> dict[str, Any]:
        if isinstance(content.schema, dict):
            return copy.deepcopy(content.schema)
        ref = self.refs[(content.schema, mode)]
        if content.field is None:
            return dict(ref)
        name = ref["$ref"].rsplit("/", 1)[-1]
        return copy.deepcopy(self.schemas[name]["properties"][content.field])

    def add_defs(self, schema: dict[str, Any]) -> dict[str, Any]:
        self.schemas.update(schema.pop("$defs", {}))
        return schema


def _models_of(operation: Operation) -> Iterable[tuple[type[BaseModel], JsonSchemaMode]]:
    if operation.body is not None and not isinstance(operation.body.schema, dict):
        yield operation.body.schema, "validation"
    for reply in operation.replies.values():
        for content in reply.content:
            if not isinstance(content.schema, dict):
                yield content.schema, "serialization"
    if operation.all_errors:
        yield ErrorOut, "serialization"


def _operation(operation: Operation, components: _Components) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
    }
    if operation.description:
        out["description"] = operation.description
    parameters = [_parameter(param) for param in operation.params]
    if operation.query is not None:
        parameters += _query_parameters(operation.query, components)
    if parameters:
        out["parameters"] = parameters
    if operation.body is not None:
        out["requestBody"] = _request_body(operation, components)
    out["responses"] = _responses(operation, components)
    if operation.public:
        out["security"] = []
    return out


def _parameter(param: Param) -> dict[str, Any]:
    out: dict[str, Any] = {"name": param.name, "in": param.where, "required": param.required}
    if param.description:
        out["description"] = param.description
    out["schema"] = copy.deepcopy(param.schema)
    if param.example is not None:
        out["example"] = param.example
    return out


def _query_parameters(model: type[BaseModel], components: _Components) -> list[dict[str, Any]]:
    schema = components.add_defs(
        model.model_json_schema(ref_template=REF_TEMPLATE, mode="validation")
    )
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema["properties"].items():
        description = prop.pop("description", None)
        param = Param(name, "query", _without_null(prop), description or "", name in required)
        out.append(_parameter(param))
    return out


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent rather than null: drop ``null`` from ``X | None``."""
    variants = schema.get("anyOf")
    if not variants:
        return schema
    rest = [variant for variant in variants if variant != {"type": "null"}]
    if len(rest) != 1:
        return schema
    simplified = {key: value for key, value in schema.items() if key != "anyOf"}
    simplified.update(rest[0])
    if simplified.get("default", ...) is None:
        del simplified["default"]
    return simplified


def _request_body(operation: Operation, components: _Components) -> dict[str, Any]:
    assert operation.body is not None
    media: dict[str, Any] = {"schema": components.schema_of(operation.body, "validation")}
    if operation.body.media_type == "multipart/form-data":
        media["encoding"] = {"file": {"contentType": "application/octet-stream"}}
    if operation.body.example is not None:
        media["example"] = operation.body.example
    return {"required": operation.body_required, "content": {operation.body.media_type: media}}


def _responses(operation: Operation, components: _Components) -> dict[str, Any]:
    replies = dict(operation.replies)
    for status in operation.all_errors:
        headers = ERROR_HEADERS.get(status, ())
        replies[status] = Reply(ERROR_DESCRIPTIONS[status], (Content(ErrorOut),), headers)
    return {str(status): _reply(replies[status], components) for status in sorted(replies)}


def _reply(reply: Reply, components: _Components) -> dict[str, Any]:
    out: dict[str, Any] = {"description": reply.description}
    if reply.headers:
        out["headers"] = {
            name: {**RESPONSE_HEADERS[name], "schema": {"type": "string"}} for name in reply.headers
        }
    if reply.content:
        out["content"] = {
            content.media_type: {"schema": components.schema_of(content, "serialization")}
            for content in reply.content
        }
    return out


def _version() -> str:
    try:
        return version("upload-service")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0.0.0"


# --- Matching the table with the app's routes -----------------------------------------------------


def route_shape(path: str) -> str:
    """``/api/files/<file_id>`` and ``/api/files/{file_id}`` both become ``/api/files/{}``."""
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def served_operations(app: Flask) -> set[tuple[str, str]]:
    """``(method, route_shape)`` of every route of ``app`` (HEAD only where it is its own)."""
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        methods = set(rule.methods or ()) - {"OPTIONS"}
        if "GET" in methods:
            methods.discard("HEAD")  # Flask answers HEAD for every GET
        served |= {(method, route_shape(rule.rule)) for method in methods}
    return served


# --- Views ----------------------------------------------------------------------------------------


def openapi_document() -> dict[str, Any]:
    """The document, built once per app."""
    document: dict[str, Any] | None = current_app.extensions.get("openapi_document")
    if document is None:
        document = build_openapi()
        current_app.extensions["openapi_document"] = document
    return document


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(openapi_document())


@bp.get("/docs")
def api_docs() -> str:
    document = openapi_document()
    return render_template(
        "api_docs.html",
        document=document,
        operations=docs_operations(document, request.host_url),
        schemas={
            name: pretty(schema) for name, schema in document["components"]["schemas"].items()
        },
        code_spans=code_spans,
    )


# --- The docs page --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaView:
    """A schema on the docs page: the component it names (if any) and pretty JSON."""

    name: str | None
    text: str


@dataclass(frozen=True)
class DocsOperation:
    """One operation of the document, ready for the template."""

    method: str
    path: str
    spec: dict[str, Any]
    curl: str
    components: dict[str, Any]

    @property
    def anchor(self) -> str:
        return str(self.spec["operationId"])

    @property
    def public(self) -> bool:
        return self.spec.get("security") == []

    def body(self) -> list[tuple[str, SchemaView]]:
        content = self.spec.get("requestBody", {}).get("content", {})
        return [(media, self._view(entry["schema"])) for media, entry in content.items()]

    def responses(self) -> list[tuple[str, str, list[tuple[str, SchemaView]]]]:
        """``(status, description, [(media type, schema)])``; error bodies are named only."""
        return [
            (
                status,
                reply["description"],
                [
                    (media, self._view(entry["schema"], inline=int(status) < 400))
                    for media, entry in reply.get("content", {}).items()
                ],
            )
            for status, reply in self.spec["responses"].items()
        ]

    def _view(self, schema: dict[str, Any], *, inline: bool = True) -> SchemaView:
        ref = schema.get("$ref", "")
        name = ref.rsplit("/", 1)[-1] if ref.startswith("#/components/schemas/") else None
        if name is None:
            return SchemaView(None, pretty(schema))
        return SchemaView(name, pretty(self.components[name]) if inline else "")


def docs_operations(document: dict[str, Any], base_url: str) -> list[DocsOperation]:
    """Every operation of ``document``, grouped by tag in the order of ``tags``."""
    order = {tag["name"]: index for index, tag in enumerate(document.get("tags", []))}
    operations = [
        DocsOperation(
            method.upper(),
            path,
            spec,
            curl_example(method.upper(), path, spec, base_url),
            document["components"]["schemas"],
        )
        for path, methods in document["paths"].items()
        for method, spec in methods.items()
    ]
    return sorted(operations, key=lambda op: order.get(op.spec["tags"][0], len(order)))


def curl_example(method: str, path: str, spec: dict[str, Any], base_url: str) -> str:
    """A ``curl`` command for the operation: bearer token, path examples, an example body."""
    for param in spec.get("parameters", []):
        if param["in"] == "path":
            path = path.replace(f"{{{param['name']}}}", str(param.get("example", param["name"])))
    words = [
        "curl",
        "-I" if method == "HEAD" else "",
        "" if method in ("GET", "HEAD") else f"-X {method}",
    ]
    lines = [" ".join(word for word in words if word)]
    if spec.get("security") != []:
        lines.append('-H "Authorization: Bearer $UPLOAD_SERVICE_TOKEN"')
    lines += _curl_body(spec.get("requestBody", {}).get("content", {}))
    lines.append(f'"{base_url.rstrip("/")}{path}"')
    return " \\\n  ".join(lines)


def _curl_body(content: dict[str, Any]) -> list[str]:
    for media_type, entry in content.items():
        if media_type == "multipart/form-data":
            return ['-F "file=@./report.pdf"', '-F "folder=docs"']
        if media_type == "application/octet-stream":
            return ["-T ./report.pdf"]
        if media_type == JSON:
            example = json.dumps(entry.get("example", {}), ensure_ascii=False)
            return ['-H "Content-Type: application/json"', f"--data '{example}'"]
    return []


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def code_spans(text: str) -> Markup:
    """Escape ``text`` and show its `backticked` parts as code, as the descriptions are written."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))  # noqa: S704
