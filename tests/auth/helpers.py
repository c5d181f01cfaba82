"""Small helpers for the auth tests."""

from __future__ import annotations

import html
import re

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from upload_service.models import User
from upload_service.runtime import Runtime

_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
_HTMX_HEADERS = re.compile(r"<body hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'>")


def page_csrf_token(client: FlaskClient, path: str = "/") -> str:
    """The CSRF token a page hands to its forms, as a browser would read it."""
    return form_token_in(page_text(client, path))


def htmx_csrf_token(client: FlaskClient, path: str = "/") -> str:
    """The CSRF token every page gives htmx (``hx-headers`` on ``<body>``)."""
    return htmx_token_in(page_text(client, path))


def page_text(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return page.get_data(as_text=True)


def form_token_in(text: str) -> str:
    match = _CSRF_FIELD.search(text)
    assert match, "the page has no CSRF field"
    return match.group(1)


def htmx_token_in(text: str) -> str:
    match = _HTMX_HEADERS.search(text)
    assert match, "the page does not hand htmx a CSRF token"
    return match.group(1)


def flashed_text(client: FlaskClient, response: TestResponse) -> str:
    """Follow a redirect to the sign-in page and return its text (with the flashed message)."""
    assert response.status_code == 302, response.status_code
    page = client.get(response.headers["Location"])
    return html.unescape(page.get_data(as_text=True))


def session_keys(client: FlaskClient) -> dict[str, object]:
    with client.session_transaction() as session:
        return dict(session)


def sign_in_with_cookie(client: FlaskClient, user_id: int) -> None:
    """A session cookie for ``user_id``, as our sign-in leaves it."""
    with client.session_transaction() as session:
        session["user_id"] = user_id


def find_user(app: Flask, login: str) -> User | None:
    from upload_service.services.users import get_user_by_login

    runtime: Runtime = app.extensions["upload_service"]
    with runtime.db.session() as db:
        return get_user_by_login(db, login)
