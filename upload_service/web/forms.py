"""Pieces the upload forms share: the conflict choice and the bound on multipart bodies."""

from __future__ import annotations

from flask import request

from upload_service.errors import BadRequest
from upload_service.runtime import get_runtime
from upload_service.schemas.files import OnConflict
from upload_service.services.ingest import MULTIPART_OVERHEAD

ON_CONFLICT_CHOICES: dict[str, str] = {
    "error": "Ask me",
    "replace": "Replace it",
    "rename": "Keep both",
}


def on_conflict_choice(value: str | None) -> OnConflict:
    if value in (None, "", "error"):
        return "error"
    if value == "replace":
        return "replace"
    if value == "rename":
        return "rename"
    raise BadRequest("Choose what happens when a file exists: ask, replace or keep both.")


def bound_multipart_body() -> None:
    """Refuse (413) a form body larger than a file may be, before anything reads it.

    Call it from a blueprint's ``url_value_preprocessor``: those run before every
    ``before_request`` hook, including the CSRF check, which parses (and spools to disk) a
    multipart form to find its ``csrf_token`` field.
    """
    if request.method == "POST":
        request.max_content_length = get_runtime().settings.MAX_FILE_SIZE + MULTIPART_OVERHEAD
