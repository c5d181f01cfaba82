"""Security headers on every response."""

from __future__ import annotations

from flask import Flask, Response
from flask.testing import FlaskClient

from tests.fixtures.users import Account

EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def assert_security_headers(response: Response) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, name
    csp = response.headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ):
        assert directive in csp


def test_on_a_page(client: FlaskClient) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    assert_security_headers(response)
    assert "img-src 'self' data: https:" in response.headers["Content-Security-Policy"]


def test_on_an_api_response(client: FlaskClient, alice: Account) -> None:
    assert_security_headers(client.get("/api/me", headers=alice.headers))


def test_on_errors_and_redirects(client: FlaskClient) -> None:
    assert_security_headers(client.get("/api/me"))  # 401 JSON
    assert_security_headers(client.get("/no-such-page"))  # 404 page
    assert_security_headers(client.get("/"))  # redirect to sign-in
    assert_security_headers(client.post("/logout"))  # CSRF failure


def test_a_views_own_policy_is_kept(app: Flask) -> None:
    @app.get("/test-sandboxed")
    def sandboxed() -> Response:
        return Response("x", headers={"Content-Security-Policy": "sandbox"})

    response = app.test_client().get("/test-sandboxed")
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert response.headers["X-Frame-Options"] == "DENY"
