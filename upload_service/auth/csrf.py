"""CSRF protection for every write a browser could make on a user's behalf.

A request carrying ``Authorization`` is authenticated by that header alone (never by the
cookie, see :mod:`upload_service.auth.current`), so it needs no CSRF token: browsers never
attach a bearer token on their own. Every other write must send the token in the
``X-CSRFToken`` header (htmx, the page's own ``fetch`` calls) or the ``csrf_token`` form field:
all writes to pages and forms, and writes to ``/api/`` whenever the session cookie signs a user
in. (An anonymous API write cannot act as anyone; it gets the 401 that tells a script its token
is missing.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, request, session
from flask_wtf.csrf import CSRFError, CSRFProtect

from upload_service.auth.current import SESSION_USER_KEY
from upload_service.errors import BadRequest

STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})

View = TypeVar("View", bound=Callable[..., object])


def csrf_exempt(view: View) -> View:
    """Exempt a view that authenticates by other means than the cookie (e.g. a signed URL).

    Put it below the route decorator: ``@bp.put(...)`` then ``@csrf_exempt``.
    """
    view.csrf_exempt = True  # type: ignore[attr-defined]
    return view


class HeaderFirstCSRFProtect(CSRFProtect):
    """Looks at the header before the form, and at the form only for form bodies.

    flask-wtf reads ``request.form`` first, which would parse (and spool) a whole multipart
    upload, or consume a raw body, before the view gets to stream it.
    """

    def _get_csrf_token(self) -> str | None:
        for header in current_app.config["WTF_CSRF_HEADERS"]:
            if token := request.headers.get(header):
                return token
        if request.mimetype in _FORM_TYPES:
            token = request.form.get(current_app.config["WTF_CSRF_FIELD_NAME"])
            return str(token) if token else None
        return None


def init_csrf(app: Flask) -> HeaderFirstCSRFProtect:
    app.config.update(
        WTF_CSRF_CHECK_DEFAULT=False,  # needs_csrf_check() decides which requests are checked
        WTF_CSRF_TIME_LIMIT=None,  # valid as long as the session: pages stay open for hours
    )
    csrf = HeaderFirstCSRFProtect(app)

    @app.before_request
    def check_csrf() -> None:
        if not needs_csrf_check(app):
            return
        try:
            csrf.protect()
        except CSRFError as exc:
            raise BadRequest(
                f"CSRF check failed: {exc.description} Reload the page and try again.",
                code="csrf_failed",
            ) from None

    return csrf


def needs_csrf_check(app: Flask) -> bool:
    if request.method not in STATE_CHANGING_METHODS or "Authorization" in request.headers:
        return False
    view = app.view_functions.get(request.endpoint or "")
    if view is None or getattr(view, "csrf_exempt", False):
        return False  # unknown URLs answer 404/405 as usual
    return not request.path.startswith("/api/") or SESSION_USER_KEY in session
