"""Local mode: no GitHub app configured; sign-in only from this machine."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.auth.helpers import find_user, htmx_csrf_token, page_csrf_token, session_keys
from tests.fixtures.github import FakeGitHub

REMOTE = {"REMOTE_ADDR": "10.1.2.3"}


def test_loopback_visitor_can_continue_as_local_user(app: Flask, client: FlaskClient) -> None:
    page = client.get("/login?next=/files")
    text = page.get_data(as_text=True)
    assert "Continue as local user" in text
    assert 'name="next" value="/files"' in text
    token = page_csrf_token(client, "/login")

    response = client.post("/login/local", data={"csrf_token": token, "next": "/files"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/files"
    local = find_user(app, "local")
    assert local is not None and local.is_admin and local.github_id is None
    assert local.last_login_at is not None  # `upload-service user list` shows LAST LOGIN
    assert session_keys(client)["user_id"] == local.id
    assert "Signed in as Local user" in client.get("/").get_data(as_text=True)


def test_ipv6_loopback_is_local(client: FlaskClient) -> None:
    page = client.get("/login", environ_base={"REMOTE_ADDR": "::1"})
    assert "Continue as local user" in page.get_data(as_text=True)


def test_remote_visitor_is_told_why_sign_in_is_unavailable(client: FlaskClient) -> None:
    page = client.get("/login", environ_base=REMOTE)
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Continue as local user" not in text
    assert "Sign-in is unavailable" in text
    assert "GITHUB_CLIENT_ID" in text and "GITHUB_CLIENT_SECRET" in text


def test_remote_post_to_local_sign_in_is_forbidden(app: Flask, client: FlaskClient) -> None:
    token = page_csrf_token(client, "/login")
    response = client.post("/login/local", data={"csrf_token": token}, environ_base=REMOTE)

    assert response.status_code == 403
    assert "only available on this machine" in response.get_data(as_text=True)
    assert "user_id" not in session_keys(client)
    assert find_user(app, "local") is None


def test_proxied_request_is_not_local_without_trusted_proxies(client: FlaskClient) -> None:
    """A reverse proxy on this machine connects from 127.0.0.1 on behalf of someone else."""
    headers = {"X-Forwarded-For": "203.0.113.9"}
    page = client.get("/login", headers=headers)
    assert "Continue as local user" not in page.get_data(as_text=True)
    token = page_csrf_token(client, "/login")
    refused = client.post("/login/local", data={"csrf_token": token}, headers=headers)
    assert refused.status_code == 403


@pytest.mark.settings(TRUSTED_PROXIES=1)
def test_trusted_proxy_forwarding_a_loopback_client_is_local(client: FlaskClient) -> None:
    page = client.get("/login", headers={"X-Forwarded-For": "127.0.0.1"}, environ_base=REMOTE)
    assert "Continue as local user" in page.get_data(as_text=True)
    remote = client.get("/login", headers={"X-Forwarded-For": "198.51.100.7"})
    assert "Sign-in is unavailable" in remote.get_data(as_text=True)


def test_local_sign_in_needs_the_csrf_token(client: FlaskClient) -> None:
    response = client.post("/login/local")
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert "user_id" not in session_keys(client)


def test_local_sign_in_is_off_in_github_mode(github: FakeGitHub, client: FlaskClient) -> None:
    assert "Continue as local user" not in client.get("/login").get_data(as_text=True)
    token = htmx_csrf_token(client, "/login")
    response = client.post("/login/local", headers={"X-CSRFToken": token})
    assert response.status_code == 403
    assert "user_id" not in session_keys(client)
