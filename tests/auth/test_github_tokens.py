"""GitHub tokens as bearer credentials, validated with the (fake) GitHub API and cached."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.auth.helpers import find_user, sign_in_with_cookie
from tests.fixtures.github import FakeAccount, FakeGitHub
from tests.fixtures.users import Account

HUBOT = FakeAccount(id=7, login="hubot", name="Hubot", email="hubot@example.com", orgs=["acme"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_valid_github_token_authenticates(
    github: FakeGitHub, app: Flask, client: FlaskClient
) -> None:
    token = github.issue_token(HUBOT)

    response = client.get("/api/me", headers=bearer(token))

    assert response.status_code == 200
    assert response.json["login"] == "hubot"
    assert response.json["email"] == "hubot@example.com"
    user = find_user(app, "hubot")
    assert user is not None and user.github_id == 7
    # a script can write with it, without any CSRF token
    created = client.post("/api/tokens", json={"name": "from-gh"}, headers=bearer(token))
    assert created.status_code == 201


def test_auth_method_is_recorded(github: FakeGitHub, app: Flask, alice: Account) -> None:
    from flask import g

    from upload_service.auth.current import current_user

    token = github.issue_token(HUBOT)
    for headers, method in ((bearer(token), "github_token"), (alice.headers, "api_token")):
        with app.test_request_context("/api/me", headers=headers):
            assert current_user() is not None
            assert g.auth_method == method


def test_unknown_github_token_is_401(github: FakeGitHub, client: FlaskClient) -> None:
    response = client.get("/api/me", headers=bearer("gho_unknown"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json["code"] == "invalid_token"


def test_answers_are_cached_by_token(github: FakeGitHub, client: FlaskClient) -> None:
    token = github.issue_token(HUBOT)
    for _ in range(3):
        assert client.get("/api/me", headers=bearer(token)).status_code == 200
    assert github.hits["/api/v3/user"] == 1

    for _ in range(3):
        assert client.get("/api/me", headers=bearer("gho_bad")).status_code == 401
    assert github.hits["/api/v3/user"] == 2  # a rejected token is remembered too


@pytest.mark.settings(GITHUB_TOKEN_CACHE_SECONDS=0)
def test_cache_can_be_turned_off(github: FakeGitHub, client: FlaskClient) -> None:
    token = github.issue_token(HUBOT)
    for _ in range(2):
        assert client.get("/api/me", headers=bearer(token)).status_code == 200
    assert github.hits["/api/v3/user"] == 2


@pytest.mark.parametrize("outage", ["down", "502"])
def test_github_outage_is_503_not_401(outage: str, github: FakeGitHub, client: FlaskClient) -> None:
    token = github.issue_token(HUBOT)
    if outage == "down":
        github.go_down()
    else:
        github.failure_status = 502

    response = client.get("/api/me", headers=bearer(token))

    assert response.status_code == 503
    assert response.json["success"] is False
    assert response.json["code"] == "dependency_unavailable"
    assert "GitHub" in response.json["error"]


def test_outage_is_not_cached(github: FakeGitHub, client: FlaskClient) -> None:
    token = github.issue_token(HUBOT)
    github.failure_status = 502
    assert client.get("/api/me", headers=bearer(token)).status_code == 503
    github.failure_status = None
    assert client.get("/api/me", headers=bearer(token)).status_code == 200


def test_an_invalid_bearer_wins_over_a_session_cookie(
    github: FakeGitHub, client: FlaskClient, alice: Account
) -> None:
    sign_in_with_cookie(client, alice.id)
    assert client.get("/api/me").json["login"] == "alice"

    response = client.get("/api/me", headers=bearer("gho_revoked"))

    assert response.status_code == 401


@pytest.mark.settings(GITHUB_ALLOWED_ORGS="acme")
def test_org_allowlist_applies_to_github_tokens(github: FakeGitHub, client: FlaskClient) -> None:
    member = github.issue_token(HUBOT)
    outsider = github.issue_token(FakeAccount(id=8, login="mallory", orgs=["evil"]))

    assert client.get("/api/me", headers=bearer(member)).status_code == 200
    refused = client.get("/api/me", headers=bearer(outsider))
    assert refused.status_code == 403
    assert refused.json["code"] == "not_allowed"
    assert github.hits["/api/v3/user/orgs"] == 2


@pytest.mark.settings(GITHUB_ALLOWED_USERS="HUBOT")
def test_user_allowlist_applies_to_github_tokens(github: FakeGitHub, client: FlaskClient) -> None:
    assert client.get("/api/me", headers=bearer(github.issue_token(HUBOT))).status_code == 200
    other = github.issue_token(FakeAccount(id=9, login="eve"))
    assert client.get("/api/me", headers=bearer(other)).status_code == 403


def test_github_tokens_are_not_accepted_in_local_mode(client: FlaskClient) -> None:
    """Without a GitHub app, accepting GitHub tokens would let any GitHub account in."""
    response = client.get("/api/me", headers=bearer("gho_anything"))
    assert response.status_code == 401


def test_github_outage_on_a_page_is_a_503_page(github: FakeGitHub, client: FlaskClient) -> None:
    token = github.issue_token(HUBOT)
    github.go_down()

    response = client.get("/", headers=bearer(token))

    assert response.status_code == 503
    text = response.get_data(as_text=True)
    assert '<div class="error" role="alert"' in text and "GitHub is unreachable" in text
