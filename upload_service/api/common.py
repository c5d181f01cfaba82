"""Small pieces every API adapter uses: parsing requests, rendering files."""

from __future__ import annotations

import json
from typing import Any, TypeVar, get_args

from flask import Response, jsonify, request, url_for
from pydantic import BaseModel

from upload_service.errors import BadRequest, UnsupportedMediaType
from upload_service.models import File
from upload_service.schemas.files import FileOut, OnConflict

Model = TypeVar("Model", bound=BaseModel)
MAX_JSON_BODY = 1024 * 1024
_ON_CONFLICT: tuple[OnConflict, ...] = get_args(OnConflict)


def json_body(model: type[Model], *, optional: bool = False) -> Model:
    """Validate the JSON body with ``model`` (400 on malformed JSON or invalid fields).

    Control bodies are small: anything over ``MAX_JSON_BODY`` is refused with 413 unread.
    """
    request.max_content_length = MAX_JSON_BODY
    raw = request.get_data(cache=True)
    if not raw.strip() and optional:
        return model()
    if not request.is_json:
        raise UnsupportedMediaType("Send a JSON body with Content-Type: application/json.")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The request body is not valid JSON.", code="invalid_json") from None
    return model.model_validate(data)


def query_args(model: type[Model]) -> Model:
    """Validate the query string with ``model``."""
    return model.model_validate(request.args.to_dict())


def on_conflict_arg(default: OnConflict = "error") -> OnConflict:
    value = request.args.get("on_conflict") or request.form.get("on_conflict") or default
    if value not in _ON_CONFLICT:
        raise BadRequest(
            "on_conflict must be error, replace or rename.", code="invalid_on_conflict"
        )
    return value


def bool_arg(name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes", "on")


def file_out(file: File) -> FileOut:
    url = url_for("files.file_content", file_id=file.id, _external=True)
    return FileOut.model_validate({**_columns(file), "download_url": url})


def _columns(file: File) -> dict[str, Any]:
    names = FileOut.model_fields.keys() - {"download_url"}
    return {name: getattr(file, name) for name in names}


def respond(model: BaseModel, status: int = 200) -> Response:
    response = jsonify(model.model_dump(mode="json", by_alias=True))
    response.status_code = status
    return response


def if_match_header() -> str | None:
    """The bare hex digest of an ``If-Match: "<sha256>"`` header."""
    header = request.headers.get("If-Match")
    return header.strip().strip('"').lower() if header else None
