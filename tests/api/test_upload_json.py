"""The original Upload Service API: PUT /api/upload and /api/upload_temporary."""

from __future__ import annotations

import json
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from tests.api.helpers import b64, sha256, stored_objects
from tests.fixtures.users import Account
from upload_service.models import TemporaryUpload, utcnow


def _body(*items: tuple[str, bytes]) -> str:
    return json.dumps([{"filename": name, "content": b64(data)} for name, data in items])


def test_original_curl_upload_stores_files(client: FlaskClient, alice: Account) -> None:
    response = client.put(
        "/api/upload",
        content_type="application/json",
        data=_body(("README.md", b"# hello\n"), ("b.txt", b"bee")),
        headers={**alice.headers, "Content-type": "application/json"},
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert body["success"] is True
    readme = body["files"][0]
    assert readme["path"] == "README.md" and readme["name"] == "README.md"
    assert readme["folder"] == "" and readme["size"] == 8
    assert readme["sha256"] == sha256(b"# hello\n")
    assert readme["category"] == "document" and readme["state"] == "complete"
    assert readme["created_at"].endswith("Z")
    download = client.get(readme["download_url"], headers=alice.headers)
    assert download.data == b"# hello\n"


def test_folder_per_item_and_listing(client: FlaskClient, alice: Account) -> None:
    body = json.dumps([{"filename": "a.py", "content": b64(b"x=1"), "folder": "src/app"}])
    response = client.put(
        "/api/upload", content_type="application/json", data=body, headers=alice.headers
    )
    assert response.status_code == 201
    assert response.json["files"][0]["path"] == "src/app/a.py"
    listed = client.get("/api/files?folder=src/app", headers=alice.headers).json
    assert [item["path"] for item in listed["items"]] == ["src/app/a.py"]


def test_batch_is_all_or_nothing(app: Flask, client: FlaskClient, alice: Account) -> None:
    body = json.dumps(
        [
            {"filename": "good.txt", "content": b64(b"fine")},
            {"filename": "bad.txt", "content": "!!!not base64!!!"},
        ]
    )
    response = client.put(
        "/api/upload", content_type="application/json", data=body, headers=alice.headers
    )
    assert response.status_code == 400
    assert response.json["code"] == "invalid_base64"
    assert client.get("/api/files", headers=alice.headers).json["items"] == []
    assert stored_objects(app) == []


def test_conflict_in_batch_leaves_nothing(app: Flask, client: FlaskClient, alice: Account) -> None:
    client.put(
        "/api/upload",
        content_type="application/json",
        data=_body(("taken.txt", b"v1")),
        headers=alice.headers,
    )
    response = client.put(
        "/api/upload",
        content_type="application/json",
        data=_body(("new.txt", b"new"), ("taken.txt", b"v2")),
        headers=alice.headers,
    )
    assert response.status_code == 409
    assert response.json["success"] is False and response.json["code"] == "path_exists"
    paths = [item["path"] for item in client.get("/api/files", headers=alice.headers).json["items"]]
    assert paths == ["taken.txt"]
    assert len(stored_objects(app)) == 1


def test_on_conflict_replace_and_rename(client: FlaskClient, alice: Account) -> None:
    client.put(
        "/api/upload",
        content_type="application/json",
        data=_body(("a.txt", b"one")),
        headers=alice.headers,
    )
    replaced = client.put(
        "/api/upload?on_conflict=replace",
        content_type="application/json",
        data=_body(("a.txt", b"two")),
        headers=alice.headers,
    )
    assert replaced.status_code == 201
    renamed = client.put(
        "/api/upload?on_conflict=rename",
        content_type="application/json",
        data=_body(("a.txt", b"three")),
        headers=alice.headers,
    )
    assert renamed.json["files"][0]["path"] == "a (1).txt"
    contents = {
        item["path"]: client.get(item["download_url"], headers=alice.headers).data
        for item in client.get("/api/files", headers=alice.headers).json["items"]
    }
    assert contents == {"a.txt": b"two", "a (1).txt": b"three"}


def test_bad_bodies_are_clear_400s(client: FlaskClient, alice: Account) -> None:
    cases = [
        "not json",
        json.dumps({"filename": "a", "content": ""}),
        json.dumps([]),
        json.dumps([{"filename": "../../etc/passwd", "content": b64(b"x")}]),
        json.dumps([{"filename": "a.txt"}]),
        json.dumps([{"filename": "a.txt", "content": b64(b"x"), "extra": 1}]),
    ]
    for body in cases:
        response = client.put(
            "/api/upload", content_type="application/json", data=body, headers=alice.headers
        )
        assert response.status_code == 400, body
        assert response.json["success"] is False
        assert response.json["error"] and response.json["code"]


def test_json_body_limit(small_limits: dict, client: FlaskClient, alice: Account) -> None:
    big = _body(("big.bin", b"x" * 4096))
    response = client.put(
        "/api/upload", content_type="application/json", data=big, headers=alice.headers
    )
    assert response.status_code == 413
    assert response.json["code"] == "too_large"


def test_requires_authentication(client: FlaskClient) -> None:
    response = client.put(
        "/api/upload", content_type="application/json", data=_body(("a.txt", b"x"))
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    bad = client.put(
        "/api/upload",
        content_type="application/json",
        data=_body(("a.txt", b"x")),
        headers={"Authorization": "Bearer us_nope"},
    )
    assert bad.status_code == 401


def test_temporary_upload_lifecycle(client: FlaskClient, alice: Account) -> None:
    response = client.put(
        "/api/upload_temporary",
        content_type="application/json",
        data=_body(("scan.pdf", b"%PDF-1.4")),
        headers=alice.headers,
    )
    assert response.status_code == 201
    body = response.json
    token, file = body["token"], body["files"][0]
    assert body["expires_at"].endswith("Z") and file["state"] == "temporary"
    assert file["expires_at"] == body["expires_at"]
    # invisible in listings, reachable by id for its owner
    assert client.get("/api/files", headers=alice.headers).json["items"] == []
    assert client.get(f"/api/files/{file['id']}", headers=alice.headers).status_code == 200
    status = client.get(f"/api/upload_temporary/{token}", headers=alice.headers)
    assert status.json["files"][0]["id"] == file["id"]
    persisted = client.post(
        f"/api/upload_temporary/{token}/persist",
        json={"folder": "invoices", "description": "March"},
        headers=alice.headers,
    )
    assert persisted.status_code == 200, persisted.json
    out = persisted.json["files"][0]
    assert out["path"] == "invoices/scan.pdf" and out["state"] == "complete"
    assert out["description"] == "March" and out["id"] == file["id"]
    listed = client.get("/api/files", headers=alice.headers).json["items"]
    assert [item["path"] for item in listed] == ["invoices/scan.pdf"]
    again = client.post(f"/api/upload_temporary/{token}/persist", headers=alice.headers)
    assert again.status_code == 404


def test_temporary_reserves_no_path_and_conflicts_on_persist(
    client: FlaskClient, alice: Account
) -> None:
    client.put(
        "/api/upload",
        content_type="application/json",
        data=_body(("a.txt", b"kept")),
        headers=alice.headers,
    )
    temp = client.put(
        "/api/upload_temporary",
        content_type="application/json",
        data=_body(("a.txt", b"new")),
        headers=alice.headers,
    )
    assert temp.status_code == 201
    token = temp.json["token"]
    conflict = client.post(f"/api/upload_temporary/{token}/persist", headers=alice.headers)
    assert conflict.status_code == 409
    renamed = client.post(
        f"/api/upload_temporary/{token}/persist?on_conflict=rename", headers=alice.headers
    )
    assert renamed.status_code == 200
    assert renamed.json["files"][0]["path"] == "a (1).txt"


def test_temporary_token_is_owner_only(client: FlaskClient, alice: Account, bob: Account) -> None:
    token = client.put(
        "/api/upload_temporary",
        content_type="application/json",
        data=_body(("a.txt", b"x")),
        headers=alice.headers,
    ).json["token"]
    for method, url in [
        ("get", f"/api/upload_temporary/{token}"),
        ("delete", f"/api/upload_temporary/{token}"),
        ("post", f"/api/upload_temporary/{token}/persist"),
    ]:
        assert getattr(client, method)(url, headers=bob.headers).status_code == 404
    assert client.get(f"/api/upload_temporary/{token}", headers=alice.headers).status_code == 200


def test_discard_and_expiry(app: Flask, client: FlaskClient, alice: Account) -> None:
    first = client.put(
        "/api/upload_temporary",
        content_type="application/json",
        data=_body(("a.txt", b"x")),
        headers=alice.headers,
    )
    token = first.json["token"]
    assert client.delete(f"/api/upload_temporary/{token}", headers=alice.headers).status_code == 204
    assert client.get(f"/api/upload_temporary/{token}", headers=alice.headers).status_code == 404
    second = client.put(
        "/api/upload_temporary",
        content_type="application/json",
        data=_body(("b.txt", b"y")),
        headers=alice.headers,
    )
    token = second.json["token"]
    with app.extensions["upload_service"].db.session() as session:
        session.get(TemporaryUpload, token).expires_at = utcnow() - timedelta(seconds=1)
    expired = client.post(f"/api/upload_temporary/{token}/persist", headers=alice.headers)
    assert expired.status_code == 404


def test_a_body_not_sent_as_json_is_refused_with_415_and_stores_nothing(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    body = _body(("a.txt", b"sent as text"))
    for route in ("/api/upload", "/api/upload_temporary"):
        for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
            headers = dict(alice.headers)
            if content_type:
                headers["Content-Type"] = content_type
            response = client.put(route, data=body, headers=headers)
            assert response.status_code == 415, (route, content_type, response.json)
            assert response.json["code"] == "unsupported_media_type"
            assert "application/json" in response.json["error"]
    assert client.get("/api/files", headers=alice.headers).json["items"] == []
    with app.app_context():
        assert stored_objects(app) == []
