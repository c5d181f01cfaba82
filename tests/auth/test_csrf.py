"""CSRF: cookie-authenticated writes need the token; bearer requests do not."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.auth.helpers import (
    form_token_in,
    htmx_csrf_token,
    htmx_token_in,
    page_csrf_token,
    page_text,
    sign_in_with_cookie,
)
from tests.fixtures.users import Account


def test_cookie_write_to_the_api_without_token_is_refused(
    client: FlaskClient, alice: Account
) -> None:
    sign_in_with_cookie(client, alice.id)

    response = client.post("/api/tokens", json={"name": "laptop"})

    assert response.status_code == 400
    body = response.json
    assert body is not None
    assert set(body) == {"success", "error", "code", "details"}
    assert body["success"] is False
    assert body["code"] == "csrf_failed"
    assert "CSRF" in body["error"]
    assert body["details"] == []
    assert client.get("/api/tokens").json["items"][0]["name"] == "tests"  # nothing created


def test_cookie_write_with_the_page_token_in_the_header_works(
    client: FlaskClient, alice: Account
) -> None:
    sign_in_with_cookie(client, alice.id)
    token = htmx_csrf_token(client)

    response = client.post("/api/tokens", json={"name": "laptop"}, headers={"X-CSRFToken": token})

    assert response.status_code == 201
    assert response.json["name"] == "laptop"


def test_a_token_from_another_session_is_refused(client: FlaskClient, alice: Account) -> None:
    other = FlaskClient(client.application)
    foreign = page_csrf_token(other, "/login")
    sign_in_with_cookie(client, alice.id)

    response = client.post("/api/tokens", json={"name": "x"}, headers={"X-CSRFToken": foreign})

    assert response.status_code == 400
    assert response.json["code"] == "csrf_failed"


def test_cookie_delete_without_token_is_refused(client: FlaskClient, alice: Account) -> None:
    sign_in_with_cookie(client, alice.id)
    token_id = client.get("/api/tokens").json["items"][0]["id"]

    response = client.delete(f"/api/tokens/{token_id}")

    assert response.status_code == 400
    assert response.json["code"] == "csrf_failed"
    assert client.get("/api/me", headers=alice.headers).status_code == 200  # not revoked


def test_bearer_requests_need_no_csrf_token(client: FlaskClient, alice: Account) -> None:
    response = client.post("/api/tokens", json={"name": "ci"}, headers=alice.headers)
    assert response.status_code == 201


def test_anonymous_api_write_gets_401_not_a_csrf_error(client: FlaskClient) -> None:
    response = client.post("/api/tokens", json={"name": "x"})
    assert response.status_code == 401
    assert response.json["code"] == "unauthenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_csrf_failure_for_htmx_is_a_fragment(client: FlaskClient, alice: Account) -> None:
    sign_in_with_cookie(client, alice.id)
    response = client.post("/logout", headers={"HX-Request": "true"})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert text.startswith('<div class="error" role="alert"')
    assert "<html" not in text


def test_pages_give_htmx_the_token(client: FlaskClient, alice: Account) -> None:
    sign_in_with_cookie(client, alice.id)
    # One page: the signed token carries a timestamp, so two fetches a second apart differ.
    text = page_text(client, "/")
    assert htmx_token_in(text) == form_token_in(text)


def test_over_https_the_referrer_must_be_this_site(client: FlaskClient, alice: Account) -> None:
    sign_in_with_cookie(client, alice.id)
    token = page_csrf_token(client)
    https = {"base_url": "https://localhost", "data": {"csrf_token": token}}

    cross_site = client.post("/logout", headers={"Referer": "https://evil.example/"}, **https)
    assert cross_site.status_code == 400

    same_site = client.post("/logout", headers={"Referer": "https://localhost/"}, **https)
    assert same_site.status_code == 302
