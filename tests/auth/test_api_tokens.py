"""``/api/me``, ``/api/tokens`` and ``/api/admin/users``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from tests.fixtures.users import Account, make_account
from upload_service.models import ApiToken, utcnow
from upload_service.runtime import Runtime

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
TOKEN_FIELDS = {
    "id",
    "name",
    "prefix",
    "created_at",
    "last_used_at",
    "expires_at",
    "revoked_at",
    "active",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_me_describes_the_user(client: FlaskClient, alice: Account) -> None:
    response = client.get("/api/me", headers=alice.headers)
    assert response.status_code == 200
    assert response.json == {
        "id": alice.id,
        "login": "alice",
        "name": "Alice",
        "email": None,
        "avatar_url": None,
        "is_admin": False,
        "usage_bytes": 0,
        "quota_bytes": 0,
    }


@pytest.mark.settings(USER_QUOTA="1MiB")
def test_me_reports_the_default_quota(client: FlaskClient, alice: Account) -> None:
    assert client.get("/api/me", headers=alice.headers).json["quota_bytes"] == 1024 * 1024


def test_me_requires_authentication(client: FlaskClient) -> None:
    response = client.get("/api/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json == {
        "success": False,
        "error": "Authentication is required.",
        "code": "unauthenticated",
        "details": [],
    }


def test_create_list_and_revoke_a_token(client: FlaskClient, alice: Account) -> None:
    created = client.post(
        "/api/tokens", json={"name": "laptop", "expires_in": 3600}, headers=alice.headers
    )

    assert created.status_code == 201
    assert created.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = created.json
    assert set(body) == TOKEN_FIELDS | {"token"}
    assert body["name"] == "laptop" and body["active"] is True
    assert body["token"].startswith("us_") and body["token"].startswith(body["prefix"])
    assert ISO_Z.match(body["created_at"]) and ISO_Z.match(body["expires_at"])
    assert body["revoked_at"] is None and body["last_used_at"] is None

    # the new token works, and the plaintext never appears again
    assert client.get("/api/me", headers=bearer(body["token"])).json["login"] == "alice"
    listed = client.get("/api/tokens", headers=alice.headers)
    assert listed.status_code == 200
    items = listed.json["items"]
    assert [item["name"] for item in items] == ["tests", "laptop"]
    assert all(set(item) == TOKEN_FIELDS for item in items)
    assert body["token"] not in listed.get_data(as_text=True)
    laptop = items[1]
    assert laptop["last_used_at"] is not None and ISO_Z.match(laptop["last_used_at"])

    revoked = client.delete(f"/api/tokens/{body['id']}", headers=alice.headers)
    assert revoked.status_code == 204
    assert revoked.data == b""

    refused = client.get("/api/me", headers=bearer(body["token"]))
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert refused.json["success"] is False
    assert refused.json["code"] == "invalid_token"
    after = client.get("/api/tokens", headers=alice.headers).json["items"][1]
    assert after["active"] is False and ISO_Z.match(after["revoked_at"])
    # revoking twice is fine
    assert client.delete(f"/api/tokens/{body['id']}", headers=alice.headers).status_code == 204


def test_expired_token_is_refused(app: Flask, client: FlaskClient, alice: Account) -> None:
    created = client.post(
        "/api/tokens", json={"name": "short", "expires_in": 60}, headers=alice.headers
    ).json
    runtime: Runtime = app.extensions["upload_service"]
    with runtime.db.session() as db:  # an hour later
        db.execute(
            update(ApiToken)
            .where(ApiToken.id == created["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )

    response = client.get("/api/me", headers=bearer(created["token"]))

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json["code"] == "invalid_token"
    listed = client.get("/api/tokens", headers=alice.headers).json["items"]
    assert [item["active"] for item in listed] == [True, False]


def test_unknown_tokens_are_refused(client: FlaskClient) -> None:
    for header in ("Bearer us_nope", "Bearer ", "Basic YWxpY2U6cHc=", "Bearer " + "x" * 600):
        response = client.get("/api/me", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json["success"] is False


def test_another_users_token_is_not_found(
    client: FlaskClient, alice: Account, bob: Account
) -> None:
    bobs = client.get("/api/tokens", headers=bob.headers).json["items"][0]["id"]

    response = client.delete(f"/api/tokens/{bobs}", headers=alice.headers)

    assert response.status_code == 404
    assert response.json["code"] == "not_found"
    assert client.get("/api/me", headers=bob.headers).status_code == 200
    assert client.delete("/api/tokens/no-such-id", headers=alice.headers).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 101},
        {"name": 5},
        {"name": "ok", "expires_in": 0},
        {"name": "ok", "expires_in": -5},
        {"name": "ok", "expires_in": 11 * 365 * 86400},
        {"name": "ok", "expires_in": "3600"},
        {"name": "ok", "expires_in": True},
        {"name": "ok", "expires": 60},
        ["name"],
    ],
)
def test_invalid_token_requests_are_400(body: Any, client: FlaskClient, alice: Account) -> None:
    response = client.post("/api/tokens", json=body, headers=alice.headers)
    assert response.status_code == 400, response.json
    assert response.json["success"] is False
    assert response.json["details"]


def test_malformed_json_is_400(client: FlaskClient, alice: Account) -> None:
    response = client.post(
        "/api/tokens",
        data=b'{"name": ',
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json["code"] == "invalid_json"


def test_token_names_are_trimmed_and_may_be_100_chars(client: FlaskClient, alice: Account) -> None:
    created = client.post("/api/tokens", json={"name": "  ci  "}, headers=alice.headers)
    assert created.json["name"] == "ci" and created.json["expires_at"] is None
    longest = client.post("/api/tokens", json={"name": "n" * 100}, headers=alice.headers)
    assert longest.status_code == 201


def test_admins_list_users_with_usage(app: Flask, client: FlaskClient, alice: Account) -> None:
    admin = make_account(app, "root", is_admin=True)

    response = client.get("/api/admin/users", headers=bearer(admin.token))

    assert response.status_code == 200
    users = {item["login"]: item for item in response.json["items"]}
    assert set(users) == {"alice", "root"}
    assert users["alice"]["files"] == 0 and users["alice"]["bytes"] == 0
    assert users["root"]["is_admin"] is True
    assert ISO_Z.match(users["alice"]["created_at"])


def test_non_admins_cannot_list_users(client: FlaskClient, alice: Account) -> None:
    response = client.get("/api/admin/users", headers=alice.headers)
    assert response.status_code == 403
    assert response.json["code"] == "forbidden"


@pytest.mark.settings(GITHUB_CLIENT_ID="id", GITHUB_CLIENT_SECRET="secret")
@pytest.mark.settings(GITHUB_ALLOWED_USERS="bob")
def test_api_token_of_a_user_off_the_allowlist_is_refused(
    client: FlaskClient, alice: Account, bob: Account
) -> None:
    refused = client.get("/api/me", headers=alice.headers)
    assert refused.status_code == 403
    assert refused.json["code"] == "not_allowed"
    assert "'alice' is not allowed" in refused.json["error"]
    assert client.get("/api/me", headers=bob.headers).status_code == 200


@pytest.mark.settings(GITHUB_ALLOWED_USERS="bob")
def test_allowlists_do_not_apply_in_local_mode(client: FlaskClient, alice: Account) -> None:
    assert client.get("/api/me", headers=alice.headers).status_code == 200
