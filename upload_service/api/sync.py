"""Folder sync: chunk-level delta upload and the manifest (thin adapter over services.sync)."""

from __future__ import annotations

from flask import Blueprint, Response, request

from upload_service.api.common import file_out, json_body, query_args, respond
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
def sync_prepare() -> Response:
    user = require_user()
    body = json_body(SyncPrepareIn)
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
def sync_put_chunk(sha256: str) -> Response:
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
def sync_commit() -> Response:
    user = require_user()
    body = json_body(SyncCommitIn)
    result = sync.commit(get_runtime(), user, body.upload_id)
    return respond(FileOutEnvelope(file=file_out(result.file)), 201 if result.created else 200)


@bp.get("/manifest")
def sync_manifest() -> Response:
    user = require_user()
    query = query_args(SyncManifestQuery)
    found = sync.manifest(get_runtime(), user, query.folder)
    return respond(
        SyncManifestOut(
            folder=found.folder,
            files=[ManifestFile(**item) for item in found.files],
            folders=found.folders,
        )
    )
