"""Folder sync: chunk-level delta upload and the manifest (thin adapter over services.sync)."""

from __future__ import annotations

from flask import Blueprint, Response, request

from upload_service.api.common import file_out, respond
from upload_service.api.described import (
    ANY_BYTES,
    BINARY,
    Content,
    documented,
    json_reply,
    path_param,
)
from upload_service.auth.current import require_user
from upload_service.runtime import get_runtime
from upload_service.schemas.files import FileOutEnvelope
from upload_service.schemas.sync import (
    ManifestFile,
    SyncChunkOut,
    SyncCommitIn,
    SyncManifestOut,
    SyncManifestQuery,
    SyncPrepareIn,
    SyncPrepareOut,
)
from upload_service.services import sync

bp = Blueprint("sync", __name__, url_prefix="/api/sync")


@bp.post("/prepare")
@documented(
    {200: json_reply("The upload id and the missing chunk ids, or `unchanged`.", SyncPrepareOut)},
    errors=(400, 409, 413, 415),
)
def sync_prepare(body: SyncPrepareIn) -> Response:
    """Start a chunked sync upload: which chunks are missing

    `chunker` must be `fastcdc2020-256k-1m-4m-sha256`; 409 when the server's file no longer has
    `base_sha256`.
    """
    user = require_user()
    prepared = sync.prepare(
        get_runtime(),
        user,
        sync.PrepareRequest(
            path=body.path,
            size=body.size,
            sha256=body.sha256,
            mtime=body.mtime,
            chunker=body.chunker,
            chunks=list(body.chunks),
            base_sha256=body.base_sha256,
        ),
    )
    if prepared.unchanged_file is not None:
        return respond(SyncPrepareOut(unchanged=True, file=file_out(prepared.unchanged_file)))
    return respond(SyncPrepareOut(upload_id=prepared.upload_id, missing=prepared.missing))


@bp.put("/chunks/<sha256>")
@documented(
    {
        200: json_reply("You already had this chunk.", SyncChunkOut),
        201: json_reply("Stored.", SyncChunkOut),
    },
    errors=(400, 413, 422, 507),
    body=Content(BINARY, ANY_BYTES),
    params=(path_param("sha256", "The chunk's SHA-256 (hex).", "$CHUNK_SHA256"),),
)
def sync_put_chunk(sha256: str) -> Response:
    """Upload one chunk (raw bytes, at most 4 MiB)"""
    user = require_user()
    stored = sync.put_chunk(
        get_runtime(),
        user,
        sha256,
        request.stream,  # type: ignore[arg-type]
        request.content_length,
    )
    return respond(SyncChunkOut(sha256=sha256.lower(), stored=stored), 201 if stored else 200)


@bp.post("/commit")
@documented(
    {200: json_reply("Replaced.", FileOutEnvelope), 201: json_reply("Created.", FileOutEnvelope)},
    errors=(400, 404, 409, 413, 415, 422, 507),
)
def sync_commit(body: SyncCommitIn) -> Response:
    """Assemble and swap in the file of a prepared sync upload"""
    user = require_user()
    result = sync.commit(get_runtime(), user, body.upload_id)
    return respond(FileOutEnvelope(file=file_out(result.file)), 201 if result.created else 200)


@bp.get("/manifest")
@documented({200: json_reply("The manifest.", SyncManifestOut)}, errors=(400, 404))
def sync_manifest(query: SyncManifestQuery) -> Response:
    """Every file and folder under a folder (paths relative to it)"""
    user = require_user()
    found = sync.manifest(get_runtime(), user, query.folder)
    return respond(
        SyncManifestOut(
            folder=found.folder,
            files=[ManifestFile(**item) for item in found.files],
            folders=found.folders,
        )
    )
