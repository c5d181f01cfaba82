"""The single error handler: JSON under ``/api/``, a fragment for htmx, a page otherwise."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from upload_service.errors import BadRequest, ServiceError

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    411: "length_required",
    412: "precondition_failed",
    413: "too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    429: "rate_limited",
    500: "internal_error",
}


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ServiceError, render_service_error)
    app.register_error_handler(ValidationError, _handle_validation_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)


# API routes that people open in a browser (a shared link): a browser gets a page, scripts JSON.
_BROWSER_ROUTES = ("/api/links/",)


def wants_json() -> bool:
    if not request.path.startswith("/api/"):
        return False
    return not (request.path.startswith(_BROWSER_ROUTES) and _prefers_html())


def _prefers_html() -> bool:
    """A browser's ``Accept`` (text/html first); ``*/*`` (curl, requests) keeps JSON."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def render_service_error(error: ServiceError) -> Response:
    """Render ``error`` in the form the client asked for."""
    if wants_json():
        response = jsonify(
            success=False, error=error.message, code=error.code, details=error.details
        )
    else:
        template = "_error.html" if request.headers.get("HX-Request") else _page_for_errors()
        response = Response(render_template(template, error=error), mimetype="text/html")
    response.status_code = error.status
    if error.status == 401 and wants_json():
        response.headers["WWW-Authenticate"] = 'Bearer realm="upload-service"'
    response.headers.update(error.headers)
    return response


def _page_for_errors() -> str:
    return "link_error.html" if request.path.startswith(_BROWSER_ROUTES) else "error.html"


def _handle_validation_error(error: ValidationError) -> Response:
    details = [
        {"loc": [str(part) for part in item["loc"]], "msg": item["msg"], "type": item["type"]}
        for item in error.errors(include_url=False, include_input=False)
    ]
    return render_service_error(BadRequest("The request body is not valid.", details=details))


def _handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    headers = None
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers = {"Allow": ", ".join(error.valid_methods)}
    wrapped = ServiceError(
        error.description or error.name,
        code=_HTTP_CODES.get(status, "http_error"),
        headers=headers,
    )
    wrapped.status = status
    return render_service_error(wrapped)


def _handle_unexpected(error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    wrapped = ServiceError("Something went wrong on our side.", code="internal_error")
    wrapped.status = 500
    return render_service_error(wrapped)
