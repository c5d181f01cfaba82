"""What an htmx request asks for, and the headers every page or fragment response needs."""

from __future__ import annotations

from flask import make_response, request
from werkzeug.wrappers import Response


def is_htmx() -> bool:
    """A request made by htmx (not a history restore, which wants the whole page)."""
    return request.headers.get("HX-Request") == "true" and not request.headers.get(
        "HX-History-Restore-Request"
    )


def htmx_target() -> str | None:
    """The id of the element an htmx request will swap, if it is one."""
    return request.headers.get("HX-Target") if is_htmx() else None


def page_response(body: str, status: int = 200) -> Response:
    """A page or fragment; the same URL can answer with either, so caches must tell them apart."""
    response = make_response(body, status)
    response.vary.update(("HX-Request", "HX-Target"))
    response.headers.setdefault("Cache-Control", "private, no-cache")
    return response
