"""tus 1.0 at /api/tus/: protocol refusals and a real tuspy upload over HTTP."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from tusclient import client as tus_client

from tests.fixtures.users import Account, make_account

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"
MiB = 1024 * 1024


def _meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def _create(client: FlaskClient, who: Account, length: int, name: str = "big.bin") -> str:
    response = client.post(
        "/api/tus/",
        headers={
            **who.headers,
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": _meta(filename=name),
        },
    )
    assert response.status_code == 201, response.json
    location = response.headers["Location"]
    assert location.startswith("http://")
    return location.split("/api/tus/")[1]


def _patch(
    client: FlaskClient, who: Account, upload: str, offset: int, body: bytes, **headers: str
):
    return client.patch(
        f"/api/tus/{upload}",
        data=body,
        headers={
            **who.headers,
            **TUS,
            "Content-Type": OCTETS,
            "Upload-Offset": str(offset),
            **headers,
        },
    )


def test_options_needs_no_auth(client: FlaskClient) -> None:
    response = client.options("/api/tus/")
    assert response.status_code == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    assert "creation-with-upload" in response.headers["Tus-Extension"]
    assert response.headers["Tus-Checksum-Algorithm"] == "sha1,sha256,md5"


def test_refusals(app: Flask, client: FlaskClient, alice: Account) -> None:
    no_version = client.post("/api/tus/", headers={**alice.headers, "Upload-Length": "3"})
    assert no_version.status_code == 412 and no_version.headers["Tus-Version"] == "1.0.0"
    anonymous = client.post("/api/tus/", headers={**TUS, "Upload-Length": "3"})
    assert anonymous.status_code == 401
    nameless = client.post("/api/tus/", headers={**alice.headers, **TUS, "Upload-Length": "3"})
    assert nameless.status_code == 400
    upload = _create(client, alice, 10)
    wrong_type = _patch(client, alice, upload, 0, b"abc", **{"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    assert _patch(client, alice, upload, 0, b"abcde").status_code == 204
    assert _patch(client, alice, upload, 3, b"xx").status_code == 409
    bad_sum = base64.b64encode(hashlib.sha1(b"other", usedforsecurity=False).digest()).decode()
    mismatch = _patch(client, alice, upload, 5, b"fgh", **{"Upload-Checksum": f"sha1 {bad_sum}"})
    assert mismatch.status_code == 460
    head = client.head(f"/api/tus/{upload}", headers={**alice.headers, **TUS})
    assert head.headers["Upload-Offset"] == "5" and head.headers["Cache-Control"] == "no-store"
    assert _patch(client, alice, upload, 5, b"0123456789").status_code == 413
    bob = make_account(app, "bob", github_id=1002)
    assert client.head(f"/api/tus/{upload}", headers={**bob.headers, **TUS}).status_code == 404
    assert _patch(client, bob, upload, 5, b"fgh").status_code == 404
    good_sum = base64.b64encode(hashlib.sha256(b"fghij").digest()).decode()
    done = _patch(client, alice, upload, 5, b"fghij", **{"Upload-Checksum": f"sha256 {good_sum}"})
    assert done.status_code == 204 and done.headers["Upload-Offset"] == "10"
    file_id = done.headers["Upload-File-Id"]
    content = client.get(f"/api/files/{file_id}/content", headers=alice.headers)
    assert content.data == b"abcdefghij"


def test_too_large_at_creation(app_overrides: dict, client: FlaskClient, alice: Account) -> None:
    too_big = str(app_overrides.get("MAX_FILE_SIZE", 5 * 1024**3) + 1)
    response = client.post(
        "/api/tus/",
        headers={
            **alice.headers,
            **TUS,
            "Upload-Length": too_big,
            "Upload-Metadata": _meta(filename="x"),
        },
    )
    assert response.status_code == 413


def test_a_taken_path_is_refused_at_creation_unless_on_conflict_says_otherwise(
    client: FlaskClient, alice: Account
) -> None:
    assert client.put("/api/fs/taken.bin", data=b"old", headers=alice.headers).status_code == 201
    headers = {**alice.headers, **TUS, "Upload-Length": "3"}

    refused = client.post(
        "/api/tus/", headers={**headers, "Upload-Metadata": _meta(filename="taken.bin")}
    )
    assert refused.status_code == 409 and refused.json["code"] == "path_exists"
    assert "Location" not in refused.headers

    upload = client.post(
        "/api/tus/",
        headers={**headers, "Upload-Metadata": _meta(filename="taken.bin", on_conflict="replace")},
    )
    assert upload.status_code == 201
    upload_id = upload.headers["Location"].split("/api/tus/")[1]
    assert _patch(client, alice, upload_id, 0, b"new").status_code == 204
    assert client.get("/api/fs/taken.bin", headers=alice.headers).data == b"new"


def test_termination(client: FlaskClient, alice: Account) -> None:
    upload = _create(client, alice, 10)
    _patch(client, alice, upload, 0, b"abc")
    assert client.delete(f"/api/tus/{upload}", headers={**alice.headers, **TUS}).status_code == 204
    assert client.head(f"/api/tus/{upload}", headers={**alice.headers, **TUS}).status_code == 404


def test_tuspy_uploads_20_mib_in_1_mib_chunks(
    live_url: str, client: FlaskClient, alice: Account, tmp_path
) -> None:
    data = os.urandom(20 * MiB)
    source = tmp_path / "twenty.bin"
    source.write_bytes(data)
    tus = tus_client.TusClient(f"{live_url}/api/tus/", headers=alice.headers)
    uploader = tus.uploader(
        str(source), chunk_size=MiB, metadata={"filename": "twenty.bin", "folder": "big"}
    )
    uploader.upload()
    listing = client.get("/api/fs/big/twenty.bin", headers=alice.headers)
    assert listing.status_code == 200
    assert hashlib.sha256(listing.data).hexdigest() == hashlib.sha256(data).hexdigest()


def test_sweeper_removes_expired_upload_and_its_staged_bytes(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    from datetime import timedelta

    from upload_service.models import utcnow
    from upload_service.sweeper import sweep_once

    upload = _create(client, alice, 10)
    assert _patch(client, alice, upload, 0, b"abc").status_code == 204
    staged = Path(app.extensions["upload_service"].store.root) / "staging" / upload
    assert staged.read_bytes() == b"abc"
    report = sweep_once(app.extensions["upload_service"], utcnow() + timedelta(days=2))
    assert report.sessions_expired == 1
    assert not staged.exists()
    gone = client.head(f"/api/tus/{upload}", headers={**alice.headers, **TUS})
    assert gone.status_code in (404, 410)  # 410 while the expired row is kept, then 404


def test_patch_while_another_patch_holds_the_upload_is_409(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    from upload_service.models import utcnow
    from upload_service.services.tus import PATCH_LEASE_TTL
    from upload_service.sweeper import acquire_lease, release_lease

    upload = _create(client, alice, 6)
    runtime = app.extensions["upload_service"]
    assert acquire_lease(runtime.db, f"tus:{upload}", "other-request", utcnow(), PATCH_LEASE_TTL)
    locked = _patch(client, alice, upload, 0, b"abc")
    assert locked.status_code == 409 and locked.json["code"] == "upload_locked"
    head = client.head(f"/api/tus/{upload}", headers={**alice.headers, **TUS})
    assert head.headers["Upload-Offset"] == "0"
    release_lease(runtime.db, f"tus:{upload}", "other-request")
    assert _patch(client, alice, upload, 0, b"abc").status_code == 204


@pytest.fixture
def on_s3(app_overrides: dict[str, Any], s3_storage_overrides: dict[str, str]) -> None:
    """List this before ``app`` so the app stores blobs (and tus segments) in the bucket."""
    app_overrides.update(s3_storage_overrides)


def test_tuspy_uploads_to_s3_with_chunks_smaller_than_a_part(
    on_s3: None,
    live_url: str,
    client: FlaskClient,
    alice: Account,
    tmp_path: Path,
    s3_client: Any,
    s3_bucket: str,
) -> None:
    data = os.urandom(12 * MiB + 5)  # 1 MiB PATCHes: below S3's 5 MiB minimum part size
    source = tmp_path / "s3.bin"
    source.write_bytes(data)
    tus = tus_client.TusClient(f"{live_url}/api/tus/", headers=alice.headers)
    uploader = tus.uploader(str(source), chunk_size=MiB, metadata={"filename": "s3.bin"})
    uploader.upload()

    stored = client.get("/api/fs/s3.bin", headers=alice.headers)
    assert stored.status_code == 200
    assert hashlib.sha256(stored.data).hexdigest() == hashlib.sha256(data).hexdigest()
    keys = [item["Key"] for item in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert len(keys) == 1 and "staging" not in keys[0]  # the segments are gone, one blob is left
