"""Sync API (chunk-level delta upload, manifest) on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.fixtures.app import runtime as runtime_of
from tests.fixtures.users import Account
from upload_service.models import utcnow
from upload_service.services.sync import CHUNKER
from upload_service.sweeper import sweep_once


def h(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cut(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or []


def prepare(
    client: FlaskClient, who: Account, path: str, pieces: list[bytes], base: str | None = None
):  # type: ignore[no-untyped-def]
    data = b"".join(pieces)
    body = {
        "path": path,
        "size": len(data),
        "sha256": h(data),
        "mtime": 1700000000.5,
        "chunker": CHUNKER,
        "chunks": [[h(p), len(p)] for p in pieces],
        "base_sha256": base,
    }
    return client.post("/api/sync/prepare", json=body, headers=who.headers)


def put_chunk(client: FlaskClient, who: Account, piece: bytes, name: str | None = None):  # type: ignore[no-untyped-def]
    return client.put(f"/api/sync/chunks/{name or h(piece)}", data=piece, headers=who.headers)


def sync_file(
    client: FlaskClient, who: Account, path: str, pieces: list[bytes], base: str | None = None
) -> tuple[int, list[str]]:
    prepared = prepare(client, who, path, pieces, base)
    assert prepared.status_code == 200, prepared.json
    missing = prepared.json["missing"]
    by_id = {h(p): p for p in pieces}
    for sha in missing:
        assert put_chunk(client, who, by_id[sha]).status_code in (200, 201)
    committed = client.post(
        "/api/sync/commit", json={"upload_id": prepared.json["upload_id"]}, headers=who.headers
    )
    assert committed.status_code in (200, 201), committed.json
    return committed.status_code, missing


def test_create_then_delta_update(client: FlaskClient, alice: Account) -> None:
    pieces = [os.urandom(1000) for _ in range(5)]
    status, missing = sync_file(client, alice, "docs/big.bin", pieces)
    assert status == 201 and len(missing) == 5
    got = client.get("/api/fs/docs/big.bin", headers=alice.headers)
    assert got.data == b"".join(pieces)
    # change one chunk: only it is missing; the rest comes from the stored blob
    changed = [*pieces[:2], b"new bytes in the middle", *pieces[3:]]
    status, missing = sync_file(client, alice, "docs/big.bin", changed, base=h(b"".join(pieces)))
    assert status == 200 and missing == [h(b"new bytes in the middle")]
    assert client.get("/api/fs/docs/big.bin", headers=alice.headers).data == b"".join(changed)


def test_unchanged_file_is_reported(client: FlaskClient, alice: Account) -> None:
    pieces = [b"hello ", b"world"]
    sync_file(client, alice, "a.txt", pieces)
    again = prepare(client, alice, "a.txt", pieces, base=h(b"hello world"))
    assert again.status_code == 200
    assert again.json["unchanged"] is True and again.json["file"]["path"] == "a.txt"


def test_unknown_chunker_is_400(client: FlaskClient, alice: Account) -> None:
    body = {"path": "a", "size": 1, "sha256": h(b"a"), "chunker": "rabin", "chunks": [[h(b"a"), 1]]}
    reply = client.post("/api/sync/prepare", json=body, headers=alice.headers)
    assert reply.status_code == 400 and reply.json["code"] == "unknown_chunker"


def test_chunk_lengths_must_add_up(client: FlaskClient, alice: Account) -> None:
    body = {"path": "a", "size": 5, "sha256": h(b"a"), "chunker": CHUNKER, "chunks": [[h(b"a"), 1]]}
    reply = client.post("/api/sync/prepare", json=body, headers=alice.headers)
    assert reply.status_code == 400 and reply.json["code"] == "chunks_size_mismatch"


def test_chunk_hash_mismatch_is_422_and_nothing_stored(client: FlaskClient, alice: Account) -> None:
    reply = put_chunk(client, alice, b"some bytes", name=h(b"other bytes"))
    assert reply.status_code == 422
    prepared = prepare(client, alice, "x", [b"other bytes"])
    assert prepared.json["missing"] == [h(b"other bytes")]
    assert client.get("/api/me", headers=alice.headers).json["usage_bytes"] == 0


def test_chunk_put_is_idempotent_and_bounded(client: FlaskClient, alice: Account) -> None:
    assert put_chunk(client, alice, b"abc").status_code == 201
    again = put_chunk(client, alice, b"abc")
    assert again.status_code == 200 and again.json["stored"] is False
    big = b"x" * (4 * 1024 * 1024 + 1)
    assert put_chunk(client, alice, big).status_code == 413
    assert (
        client.put("/api/sync/chunks/nothex", data=b"a", headers=alice.headers).status_code == 400
    )


def test_staged_chunks_count_toward_quota(client: FlaskClient, alice: Account) -> None:
    put_chunk(client, alice, b"12345")
    assert client.get("/api/me", headers=alice.headers).json["usage_bytes"] == 5


def test_chunks_are_per_user(client: FlaskClient, alice: Account, bob: Account) -> None:
    secret = [b"alice's secret chunk"]
    sync_file(client, alice, "s.txt", secret)
    put_chunk(client, alice, b"staged by alice")
    probe = prepare(client, bob, "s.txt", [*secret, b"staged by alice"])
    assert sorted(probe.json["missing"]) == sorted([h(secret[0]), h(b"staged by alice")])
    # bob cannot commit alice's chunks without uploading them
    commit = client.post(
        "/api/sync/commit", json={"upload_id": probe.json["upload_id"]}, headers=bob.headers
    )
    assert commit.status_code == 400 and commit.json["code"] == "chunks_missing"
    # nor use alice's upload id
    mine = prepare(client, alice, "t.txt", secret)
    stolen = client.post(
        "/api/sync/commit", json={"upload_id": mine.json["upload_id"]}, headers=bob.headers
    )
    assert stolen.status_code == 404
    assert client.get("/api/sync/manifest", headers=bob.headers).json["files"] == []


def test_base_mismatch_is_409(client: FlaskClient, alice: Account) -> None:
    sync_file(client, alice, "a.txt", [b"v1"])
    # someone else replaced the file meanwhile
    client.put(
        "/api/fs/a.txt", data=b"v2", headers=alice.headers, query_string={"on_conflict": "replace"}
    )
    stale = prepare(client, alice, "a.txt", [b"v3"], base=h(b"v1"))
    assert stale.status_code == 409 and stale.json["code"] == "base_mismatch"
    # a prepare that was valid becomes a 409 at commit when the file changes in between
    ok = prepare(client, alice, "a.txt", [b"v3"], base=h(b"v2"))
    put_chunk(client, alice, b"v3")
    client.put(
        "/api/fs/a.txt", data=b"v4", headers=alice.headers, query_string={"on_conflict": "replace"}
    )
    late = client.post(
        "/api/sync/commit", json={"upload_id": ok.json["upload_id"]}, headers=alice.headers
    )
    assert late.status_code == 409
    assert client.get("/api/fs/a.txt", headers=alice.headers).data == b"v4"
    # creating where a file appeared meanwhile is a conflict too
    assert prepare(client, alice, "a.txt", [b"v5"]).status_code == 409


def test_manifest_lists_subtree(client: FlaskClient, alice: Account) -> None:
    sync_file(client, alice, "top/a.txt", [b"a"])
    sync_file(client, alice, "top/sub/b.txt", [b"b"])
    sync_file(client, alice, "other.txt", [b"o"])
    assert client.put("/api/folders/top/empty", headers=alice.headers).status_code == 201
    reply = client.get("/api/sync/manifest", query_string={"folder": "top"}, headers=alice.headers)
    assert reply.status_code == 200
    body = reply.json
    assert body["folder"] == "top"
    assert sorted(f["path"] for f in body["files"]) == ["a.txt", "sub/b.txt"]
    assert {f["path"]: f["mtime"] for f in body["files"]}["a.txt"] == 1700000000.5
    assert sorted(body["folders"]) == ["empty", "sub"]
    missing = client.get(
        "/api/sync/manifest", query_string={"folder": "nope"}, headers=alice.headers
    )
    assert missing.status_code == 404


def test_sweeper_removes_stale_staged_chunks(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    runtime = runtime_of(app)
    put_chunk(client, alice, b"forgotten")
    later = utcnow() + timedelta(seconds=runtime.settings.UPLOAD_SESSION_TTL + 60)
    report = sweep_once(runtime, later)
    assert report.sync_chunks == 1
    assert client.get("/api/me", headers=alice.headers).json["usage_bytes"] == 0
    assert prepare(client, alice, "f", [b"forgotten"]).json["missing"] == [h(b"forgotten")]


@pytest.fixture
def on_s3(app_overrides: dict[str, Any], s3_storage_overrides: dict[str, str]) -> None:
    app_overrides.update(s3_storage_overrides)


def test_delta_assembly_on_s3(on_s3: None, client: FlaskClient, alice: Account) -> None:
    # chunks larger than the store's read size, so ranges span several reads
    pieces = [os.urandom(1024 * 1024 + 17), os.urandom(300_000), os.urandom(2 * 1024 * 1024)]
    sync_file(client, alice, "s3/big.bin", pieces)
    changed = [pieces[0], b"inserted" + pieces[1], pieces[2]]
    _, missing = sync_file(client, alice, "s3/big.bin", changed, base=h(b"".join(pieces)))
    assert missing == [h(changed[1])]
    got = client.get("/api/fs/s3/big.bin", headers=alice.headers)
    assert got.status_code == 200 and got.data == b"".join(changed)
    stale = prepare(client, alice, "s3/big.bin", pieces, base=h(b"".join(pieces)))
    assert stale.status_code == 409


def test_empty_file_syncs(client: FlaskClient, alice: Account) -> None:
    status, missing = sync_file(client, alice, "empty.txt", [])
    assert status == 201 and missing == []
    got = client.get("/api/fs/empty.txt", headers=alice.headers)
    assert got.status_code == 200 and got.data == b""


@pytest.fixture
def tiny_quota(app_overrides: dict[str, Any]) -> None:
    app_overrides["USER_QUOTA"] = 10


def test_staged_chunk_over_quota_is_507(
    tiny_quota: None, client: FlaskClient, alice: Account
) -> None:
    assert put_chunk(client, alice, b"x" * 8).status_code == 201
    refused = put_chunk(client, alice, b"y" * 8)
    assert refused.status_code == 507
    assert client.get("/api/me", headers=alice.headers).json["usage_bytes"] == 8
