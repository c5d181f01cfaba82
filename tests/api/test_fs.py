"""Path addressing: raw PUT, GET/HEAD, DELETE, move, folders."""

from __future__ import annotations

import requests
from flask import Flask
from flask.testing import FlaskClient

from tests.api.helpers import put_file, sha256, stored_objects
from tests.fixtures.users import Account


def test_raw_put_creates_then_replaces(client: FlaskClient, alice: Account) -> None:
    created = put_file(client, alice, "docs/a.txt", b"v1", query_string={"on_conflict": "replace"})
    assert created.status_code == 201
    assert created.json["path"] == "docs/a.txt" and created.json["sha256"] == sha256(b"v1")
    replaced = put_file(client, alice, "docs/a.txt", b"v2", query_string={"on_conflict": "replace"})
    assert replaced.status_code == 200
    assert replaced.json["id"] == created.json["id"]
    assert client.get("/api/fs/docs/a.txt", headers=alice.headers).data == b"v2"


def test_raw_put_conflict_default_is_409(client: FlaskClient, alice: Account) -> None:
    assert put_file(client, alice, "a.txt", b"1").status_code == 201
    second = put_file(client, alice, "a.txt", b"2")
    assert second.status_code == 409
    assert client.get("/api/fs/a.txt", headers=alice.headers).data == b"1"


def test_declared_sha256_is_verified(app: Flask, client: FlaskClient, alice: Account) -> None:
    bad = put_file(client, alice, "a.txt", b"data", headers={"X-Content-SHA256": "0" * 64})
    assert bad.status_code == 422
    assert bad.json["code"] == "checksum_mismatch"
    assert client.get("/api/fs/a.txt", headers=alice.headers).status_code == 404
    assert stored_objects(app) == []
    good = put_file(client, alice, "a.txt", b"data", headers={"X-Content-SHA256": sha256(b"data")})
    assert good.status_code == 201


def test_if_match_guards_replacement(client: FlaskClient, alice: Account) -> None:
    put_file(client, alice, "a.txt", b"v1")
    stale = put_file(client, alice, "a.txt", b"v2", headers={"If-Match": f'"{sha256(b"old")}"'})
    assert stale.status_code == 412
    fresh = put_file(client, alice, "a.txt", b"v2", headers={"If-Match": f'"{sha256(b"v1")}"'})
    assert fresh.status_code == 200
    missing = put_file(client, alice, "nope.txt", b"x", headers={"If-Match": f'"{sha256(b"x")}"'})
    assert missing.status_code == 412


def test_get_and_head(client: FlaskClient, alice: Account) -> None:
    png = b"\x89PNG...."
    put_file(client, alice, "pics/cat.png", png)
    head = client.head("/api/fs/pics/cat.png", headers=alice.headers)
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == "8"
    assert head.headers["ETag"] == f'"{sha256(png)}"'
    folder = client.get("/api/fs/pics", headers=alice.headers)
    assert [item["name"] for item in folder.json["items"]] == ["cat.png"]
    assert client.get("/api/fs/nothing-here", headers=alice.headers).status_code == 404


def test_hostile_paths_are_400(client: FlaskClient, alice: Account) -> None:
    for path in ["a/%2e%2e/%2e%2e/etc/passwd", "a/./b", "x%00y", "tab%09name", "back%5Cslash"]:
        response = put_file(client, alice, path, b"x")
        assert response.status_code in (400, 404), path
        assert response.json["success"] is False


def test_delete_file_and_folders(client: FlaskClient, alice: Account) -> None:
    put_file(client, alice, "tree/a.txt", b"a")
    put_file(client, alice, "tree/sub/b.txt", b"b")
    refused = client.delete("/api/fs/tree", headers=alice.headers)
    assert refused.status_code == 409
    stale = client.delete("/api/fs/tree/a.txt", headers={**alice.headers, "If-Match": '"00"'})
    assert stale.status_code == 412
    assert client.delete("/api/fs/tree/a.txt", headers=alice.headers).status_code == 204
    gone = client.delete("/api/fs/tree?recursive=true", headers=alice.headers)
    assert gone.status_code == 204
    assert client.get("/api/files", headers=alice.headers).json["items"] == []
    assert client.get("/api/fs/tree", headers=alice.headers).status_code == 404
    missing = client.delete("/api/fs/never/was.txt", headers=alice.headers)
    assert missing.status_code == 404 and missing.json["error"] == "Nothing at never/was.txt."


def test_mkdir_and_empty_folders(client: FlaskClient, alice: Account) -> None:
    created = client.put("/api/folders/a/b/c", headers=alice.headers)
    assert created.status_code == 201
    again = client.put("/api/folders/a/b/c", headers=alice.headers)
    assert again.status_code == 200
    assert client.get("/api/folders/a", headers=alice.headers).json["folders"] == ["a/b"]
    put_file(client, alice, "file", b"x")
    assert client.put("/api/folders/file/sub", headers=alice.headers).status_code == 409
    assert client.delete("/api/fs/a/b/c", headers=alice.headers).status_code == 204


def test_move_file_and_folder(client: FlaskClient, alice: Account) -> None:
    digest = sha256(b"a")
    put_file(client, alice, "src/a.txt", b"a")
    put_file(client, alice, "src/deep/b.txt", b"b")
    moved = client.post(
        "/api/fs/move",
        json={"from": "src/a.txt", "to": "dst/renamed.txt", "if_match": digest},
        headers=alice.headers,
    )
    assert moved.status_code == 200, moved.json
    assert moved.json["path"] == "dst/renamed.txt" and moved.json["sha256"] == digest
    stale = client.post(
        "/api/fs/move",
        json={"from": "dst/renamed.txt", "to": "x.txt", "if_match": "0" * 64},
        headers=alice.headers,
    )
    assert stale.status_code == 412
    folder = client.post(
        "/api/fs/move", json={"from": "src", "to": "old/src"}, headers=alice.headers
    )
    assert folder.status_code == 200
    assert folder.json == {"success": True, "folder": "old/src", "moved": 1}
    paths = sorted(
        item["path"] for item in client.get("/api/files", headers=alice.headers).json["items"]
    )
    assert paths == ["dst/renamed.txt", "old/src/deep/b.txt"]
    assert client.get("/api/folders/old/src", headers=alice.headers).json["folders"] == [
        "old/src/deep"
    ]
    into_itself = client.post(
        "/api/fs/move", json={"from": "old", "to": "old/inner"}, headers=alice.headers
    )
    assert into_itself.status_code == 400
    missing = client.post("/api/fs/move", json={"from": "zzz", "to": "y"}, headers=alice.headers)
    assert missing.status_code == 404


def test_other_users_paths_are_separate(client: FlaskClient, alice: Account, bob: Account) -> None:
    put_file(client, alice, "secret.txt", b"alice's")
    assert client.get("/api/fs/secret.txt", headers=bob.headers).status_code == 404
    assert put_file(client, bob, "secret.txt", b"bob's").status_code == 201
    assert client.get("/api/fs/secret.txt", headers=alice.headers).data == b"alice's"


def test_chunked_upload_over_http(live_url: str, alice: Account) -> None:
    def body() -> object:
        for _ in range(8):
            yield b"x" * 100_000

    response = requests.put(
        f"{live_url}/api/fs/chunked.bin", data=body(), headers=alice.headers, timeout=30
    )
    assert response.status_code == 201, response.text
    assert response.json()["size"] == 800_000


def test_oversized_chunked_body_is_413_and_leaves_nothing(
    small_limits: dict, app: Flask, live_url: str, alice: Account
) -> None:
    def body() -> object:
        for _ in range(100):
            yield b"x" * 10_000  # 1 MB against a 64 KiB limit, with no Content-Length

    response = requests.put(
        f"{live_url}/api/fs/huge.bin", data=body(), headers=alice.headers, timeout=30
    )
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert stored_objects(app) == []
    listed = requests.get(f"{live_url}/api/files", headers=alice.headers, timeout=30).json()
    assert listed["items"] == []


def test_declared_oversize_is_rejected_before_reading(
    small_limits: dict, app: Flask, client: FlaskClient, alice: Account
) -> None:
    response = put_file(client, alice, "big.bin", b"x" * (65 * 1024))
    assert response.status_code == 413
    assert stored_objects(app) == []


def test_quota_is_enforced(small_limits: dict, client: FlaskClient, alice: Account) -> None:
    for index in range(3):
        assert put_file(client, alice, f"f{index}.bin", bytes([index]) * 30_000).status_code == 201
    over = put_file(client, alice, "f3.bin", b"z" * 30_000)
    assert over.status_code == 507
    assert over.json["code"] == "quota_exceeded"
    # replacing a file frees its old size
    ok = put_file(client, alice, "f0.bin", b"r" * 30_000, query_string={"on_conflict": "replace"})
    assert ok.status_code == 200


def test_concurrent_uploads_to_one_path(live_url: str, alice: Account) -> None:
    """One wins cleanly, the others get 409; the stored bytes are exactly one upload's."""
    from concurrent.futures import ThreadPoolExecutor

    bodies = [bytes([index]) * 300_000 for index in range(6)]

    def upload(body: bytes) -> int:
        url = f"{live_url}/api/fs/race.bin"
        return requests.put(url, data=body, headers=alice.headers, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(upload, bodies))
    assert sorted(statuses) == [201, 409, 409, 409, 409, 409]
    stored = requests.get(f"{live_url}/api/fs/race.bin", headers=alice.headers, timeout=30)
    assert stored.content in bodies
