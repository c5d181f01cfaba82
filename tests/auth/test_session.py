"""Pages behind sign-in, sign-out, and the session cookie."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from tests.auth.helpers import page_csrf_token, session_keys, sign_in_with_cookie
from tests.fixtures.users import Account


def test_home_requires_sign_in(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query) == {"next": ["/"]}


def test_htmx_request_is_sent_to_sign_in_without_a_swap(client: FlaskClient) -> None:
    response = client.get("/", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=/"


def test_home_shows_the_account(client: FlaskClient, alice: Account) -> None:
    sign_in_with_cookie(client, alice.id)
    text = client.get("/").get_data(as_text=True)
    assert "Signed in as Alice" in text
    assert '<span class="login">alice</span>' in text
    assert "0 B of" in text and "unlimited" in text
    assert 'action="/logout"' in text


def test_logout_requires_post(client: FlaskClient, alice: Account) -> None:
    sign_in_with_cookie(client, alice.id)
    response = client.get("/logout")
    assert response.status_code == 405
    assert client.get("/").status_code == 200  # still signed in


def test_logout_requires_the_csrf_token(client: FlaskClient, alice: Account) -> None:
    sign_in_with_cookie(client, alice.id)
    response = client.post("/logout")
    assert response.status_code == 400
    assert 'class="error" role="alert"' in response.get_data(as_text=True)
    assert session_keys(client).get("user_id") == alice.id


def test_logout_clears_the_session(client: FlaskClient, alice: Account) -> None:
    sign_in_with_cookie(client, alice.id)
    token = page_csrf_token(client)

    response = client.post("/logout", data={"csrf_token": token})

    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "user_id" not in session_keys(client)
    assert "You are signed out." in client.get("/login").get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_session_of_a_deleted_user_is_anonymous(client: FlaskClient) -> None:
    sign_in_with_cookie(client, 987654)
    assert client.get("/").status_code == 302
    assert client.get("/api/me").status_code == 401


def test_session_cookie_is_httponly_lax_and_not_secure_over_http(client: FlaskClient) -> None:
    client.get("/login")  # the sign-in page puts a CSRF token in the session
    cookie = client.get_cookie("upload_service_session")
    assert cookie is not None
    assert cookie.http_only
    assert cookie.same_site == "Lax"
    assert not cookie.secure


def test_session_cookie_is_secure_over_https(client: FlaskClient) -> None:
    response = client.get("/login", base_url="https://localhost")
    header = response.headers["Set-Cookie"]
    assert header.startswith("upload_service_session=")
    assert "; Secure" in header and "; HttpOnly" in header and "SameSite=Lax" in header


def test_forwarded_proto_is_ignored_without_trusted_proxies(client: FlaskClient) -> None:
    response = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "; Secure" not in response.headers["Set-Cookie"]


@pytest.mark.settings(TRUSTED_PROXIES=1)
def test_secure_cookie_behind_a_trusted_tls_proxy(client: FlaskClient) -> None:
    response = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "; Secure" in response.headers["Set-Cookie"]
