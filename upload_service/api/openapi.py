"""The OpenAPI 3.1 document (``/api/openapi.json``) and the API docs page (``/api/docs``).

The document is derived from the app itself (docs/api.md): every rule of ``app.url_map`` whose
view lives in :mod:`upload_service.api` gives its path, methods and path variables; the view's
:func:`~upload_service.api.described.documented` gives its summary (the docstring), its body and
query models (the very models that validate the request), its answers and errors; the
blueprint gives the tag (its module's docstring describes it), :mod:`upload_service.ratelimit`
whether 429 can happen. The pydantic models' JSON schemas become ``components.schemas``. An API
view without a description stops the document from being built, so nothing is left out.

``/api/docs`` shows the document with Redoc, vendored in ``static/vendor/redoc/``.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from werkzeug.routing import Rule

from upload_service.api.described import (
    JSON,
    PATH_PARAMS,
    Content,
    Described,
    Param,
    Reply,
    described,
    documented,
    text_reply,
)
from upload_service.ratelimit import is_exempt_path
from upload_service.schemas.system import ErrorOut

bp = Blueprint("openapi", __name__, url_prefix="/api")

REF_TEMPLATE = "#/components/schemas/{model}"
API_PACKAGE = "upload_service.api."
# Redoc styles itself with <style> elements; the page shows nothing a user uploaded.
DOCS_CSP = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "style-src 'self' 'unsafe-inline'",
        "script-src 'self'",
        "worker-src 'self' blob:",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)


class UndocumentedView(RuntimeError):
    """An API route whose view has no :func:`documented` description."""


@dataclass(frozen=True)
class Operation:
    """One method of one route, with what its view says about itself."""

    method: str
    path: str  # OpenAPI form: /api/files/{file_id}
    tag: str
    doc: Described
    summary: str
    replies: dict[int, Reply]
    path_params: tuple[Param, ...]
    rate_limited: bool

    @property
    def operation_id(self) -> str:
        words = re.sub(r"[^a-z0-9]+", "_", self.path.removeprefix("/api").lower()).strip("_")
        return f"{self.method.lower()}_{words or 'root'}"

    @property
    def params(self) -> tuple[Param, ...]:
        return self.path_params + tuple(p for p in self.doc.params if p.where != "path")

    @property
    def all_errors(self) -> tuple[int, ...]:
        added = () if self.doc.public else (401, 403, 503)
        limited = (429,) if self.rate_limited else ()
        return tuple(sorted({*self.doc.errors, *added, *limited}))


def openapi_path(rule: str) -> str:
    """``/api/fs/<path:path>`` becomes ``/api/fs/{path}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def api_operations(app: Flask) -> list[Operation]:
    """Every operation of every API route of ``app``, in the order the routes were added."""
    return [op for rule in app.url_map.iter_rules() for op in _operations_of(app, rule)]


def _operations_of(app: Flask, rule: Rule) -> Iterator[Operation]:
    view = app.view_functions[rule.endpoint]
    methods = set(rule.methods or ()) - {"OPTIONS"}  # CORS preflights are not operations
    if not view.__module__.startswith(API_PACKAGE) or not methods:
        return
    doc = described(view)
    if doc is None:
        raise UndocumentedView(f"{rule.endpoint} ({rule.rule}) has no @documented description")
    path = openapi_path(rule.rule)
    params = tuple(_path_param(doc, name, rule) for name in re.findall(r"\{([^}]+)\}", path))
    tag = rule.endpoint.rpartition(".")[0]
    for method in sorted(methods):
        summary, replies = doc.summary, doc.replies
        if method == "HEAD" and "GET" in methods:  # Flask answers HEAD for every GET
            if doc.head is None:
                continue
            summary, replies = doc.head.summary, doc.head.replies
        yield Operation(
            method, path, tag, doc, summary, dict(replies), params, not is_exempt_path(path)
        )


def _path_param(doc: Described, name: str, rule: Rule) -> Param:
    for param in doc.params:
        if param.where == "path" and param.name == name:
            return param
    if name in PATH_PARAMS:
        return PATH_PARAMS[name]
    raise UndocumentedView(f"{rule.endpoint} ({rule.rule}): describe the path variable {name!r}")


def _tags(app: Flask, operations: Iterable[Operation]) -> list[dict[str, str]]:
    """One tag per blueprint, described by the first paragraph of its module's docstring."""
    used = {operation.tag for operation in operations}
    tags = []
    for name, blueprint in app.blueprints.items():
        if name in used:
            doc = sys.modules[blueprint.import_name].__doc__ or ""
            tags.append({"name": name, "description": " ".join(doc.split("\n\n")[0].split())})
    return tags


ERROR_DESCRIPTIONS = {
    400: "The request is not valid (see `details`).",
    401: "Missing, invalid, revoked or expired credentials.",
    403: "Authenticated, but not allowed.",
    404: "Not found (or owned by someone else).",
    409: "Conflicts with the current state (e.g. the path exists).",
    410: "The upload session has expired or failed.",
    412: "The `If-Match` precondition did not hold.",
    413: "The upload is larger than the configured limit.",
    415: "Unsupported media type: send `application/json`.",
    416: "The requested range is not satisfiable.",
    422: "The content does not match its declared checksum.",
    429: "Rate limited; retry after `Retry-After` seconds.",
    460: "The chunk does not match its `Upload-Checksum` (nothing of it was kept).",
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


# --- Building the document ------------------------------------------------------------------------


def build_openapi(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``'s API routes."""
    operations = api_operations(app)
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
            "pages' own calls use the session cookie plus the CSRF token. The examples read "
            "the server from `$UPLOAD_SERVICE_URL` and the token from `$UPLOAD_SERVICE_TOKEN`.",
        },
        "tags": _tags(app, operations),
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

    def __init__(self, operations: Iterable[Operation]) -> None:
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
    body = operation.doc.body
    if body is not None and not isinstance(body.schema, dict) and operation.method != "HEAD":
        yield body.schema, "validation"
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
    if operation.doc.description:
        out["description"] = operation.doc.description
    parameters = [_parameter(param) for param in operation.params]
    if operation.doc.query is not None:
        parameters += _query_parameters(operation.doc.query, components)
    if parameters:
        out["parameters"] = parameters
    if operation.doc.body is not None and operation.method != "HEAD":
        out["requestBody"] = _request_body(operation.doc, components)
    out["responses"] = _responses(operation, components)
    if operation.doc.public:
        out["security"] = []
    out["x-codeSamples"] = [
        {"lang": "Shell", "label": "curl", "source": curl_example(operation, out)}
    ]
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


def _request_body(doc: Described, components: _Components) -> dict[str, Any]:
    assert doc.body is not None
    media: dict[str, Any] = {"schema": components.schema_of(doc.body, "validation")}
    if doc.body.media_type == "multipart/form-data":
        media["encoding"] = {"file": {"contentType": "application/octet-stream"}}
    if doc.body.example is not None:
        media["example"] = doc.body.example
    return {"required": doc.body_required, "content": {doc.body.media_type: media}}


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


# --- Views ----------------------------------------------------------------------------------------


def openapi_document() -> dict[str, Any]:
    """The document, built once per app."""
    document: dict[str, Any] | None = current_app.extensions.get("openapi_document")
    if document is None:
        document = build_openapi(current_app)
        current_app.extensions["openapi_document"] = document
    return document


@bp.get("/openapi.json")
@documented({200: Reply("OpenAPI 3.1.", (Content({"type": "object"}),))}, public=True)
def openapi_json() -> Response:
    """This OpenAPI document"""
    return jsonify(openapi_document())


@bp.get("/docs")
@documented({200: text_reply("An HTML page.", "text/html")}, public=True)
def api_docs() -> Response:
    """Human-readable API documentation (Redoc over this document)"""
    response = Response(render_template("api_docs.html", document=openapi_document()))
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


# --- Code samples ---------------------------------------------------------------------------------


def curl_example(operation: Operation, spec: dict[str, Any]) -> str:
    """A ``curl`` command for the operation: bearer token, path examples, an example body."""
    path = operation.path
    for param in operation.path_params:
        path = path.replace(f"{{{param.name}}}", str(param.example or param.name))
    words = [
        "curl",
        "-I" if operation.method == "HEAD" else "",
        "" if operation.method in ("GET", "HEAD") else f"-X {operation.method}",
    ]
    lines = [" ".join(word for word in words if word)]
    if not operation.doc.public:
        lines.append('-H "Authorization: Bearer $UPLOAD_SERVICE_TOKEN"')
    lines += _curl_body(spec.get("requestBody", {}).get("content", {}))
    lines.append(f'"$UPLOAD_SERVICE_URL{path}"')
    return " \\\n  ".join(lines)


def _curl_body(content: dict[str, Any]) -> list[str]:
    for media_type, entry in content.items():
        if media_type == "multipart/form-data":
            return ['-F "file=@./report.pdf"', '-F "folder=docs"']
        if media_type in ("application/octet-stream", "*/*", "application/offset+octet-stream"):
            return ["-T ./report.pdf"]
        if media_type == JSON:
            example = json.dumps(entry.get("example", {}), ensure_ascii=False)
            return ['-H "Content-Type: application/json"', f"--data '{example}'"]
    return []
