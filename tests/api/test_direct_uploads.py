"""Signed direct uploads (``/api/uploads``) on local storage and on S3 (moto in server mode).

With S3 the client posts the form straight to the bucket with ``requests`` (no credential);
with local storage it PUTs to our signed URL with no ``Authorization`` header.
"""

from __future__ import annotations

import base64
import io
import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from tests.api.helpers import put_file, sha256
from tests.fixtures.app import runtime
from tests.fixtures.users import Account
from upload_service.models import UploadSession, utcnow
from upload_service.services.direct import sign_upload_token
from upload_service.sweeper import sweep_once


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, app_overrides: dict[str, Any]) -> str:
    """List this before ``app``: the app stores blobs locally or in a moto bucket."""
    if request.param == "s3":
        app_overrides.update(request.getfixturevalue("s3_storage_overrides"))
    return str(request.param)


def request_upload(client: FlaskClient, account: Account, **body: Any) -> Any:
    return client.post("/api/uploads", json=body, headers=account.headers)


def send(client: FlaskClient, signed: dict[str, Any], data: bytes) -> int:
    """Upload ``data`` the way the answer says, with no credential; the HTTP status."""
    if signed["method"] == "POST":  # S3 presigned POST: the form fields, then the file
        files = {"file": ("upload.bin", data)}
        return requests.post(
            signed["url"], data=signed["fields"], files=files, timeout=30
        ).status_code
    path = urlsplit(signed["url"]).path
    return client.put(path, data=data, headers=signed["headers"]).status_code


def staged(app: Flask) -> list[str]:
    return [stat.key for stat in runtime(app).store.iter_blobs("staging/")]


def state(client: FlaskClient, account: Account, upload_id: str) -> str:
    response = client.get(f"/api/uploads/{upload_id}", headers=account.headers)
    assert response.status_code == 200, response.json
    return str(response.json["state"])


def complete(client: FlaskClient, account: Account, upload_id: str) -> Any:
    return client.post(f"/api/uploads/{upload_id}/complete", headers=account.headers)


def test_signed_upload_then_complete_makes_the_file(
    backend: str, app: Flask, client: FlaskClient, alice: Account
) -> None:
    data = b"direct bytes " * 1000
    created = request_upload(
        client, alice, path="in/direct.bin", size=len(data), sha256=sha256(data)
    )
    assert created.status_code == 201, created.json
    signed = created.json
    assert signed["method"] == ("POST" if backend == "s3" else "PUT")
    assert state(client, alice, signed["upload_id"]) == "pending"

    assert send(client, signed, data) in (200, 201, 204)
    done = complete(client, alice, signed["upload_id"])
    assert done.status_code == 200, done.json
    file = done.json["file"]
    assert (file["path"], file["size"], file["sha256"]) == (
        "in/direct.bin",
        len(data),
        sha256(data),
    )
    assert state(client, alice, signed["upload_id"]) == "complete"
    listed = client.get("/api/files?folder=in", headers=alice.headers).json["items"]
    assert [item["id"] for item in listed] == [file["id"]]
    content = client.get(f"/api/files/{file['id']}/content", headers=alice.headers)
    assert content.data == data
    assert staged(app) == []  # the upload key is not the blob's key

    again = complete(client, alice, signed["upload_id"])
    assert again.status_code == 200 and again.json["file"]["id"] == file["id"]
    assert len(client.get("/api/files", headers=alice.headers).json["items"]) == 1


def test_signed_download_link_of_a_direct_upload_works_without_credentials(
    backend: str, app: Flask, client: FlaskClient, alice: Account
) -> None:
    data = b"%PDF-1.7 direct"
    signed = request_upload(client, alice, path="report.pdf", size=len(data)).json
    send(client, signed, data)
    file_id = complete(client, alice, signed["upload_id"]).json["file"]["id"]
    link = client.post(f"/api/files/{file_id}/link", json={"expires_in": 60}, headers=alice.headers)
    url = link.json["url"]
    if backend == "s3":
        assert requests.get(url, timeout=30).content == data
    else:
        assert client.get(urlsplit(url).path).data == data


def test_complete_before_anything_was_uploaded_is_409(
    backend: str, client: FlaskClient, alice: Account
) -> None:
    signed = request_upload(client, alice, path="early.bin", size=10).json
    early = complete(client, alice, signed["upload_id"])
    assert early.status_code == 409 and early.json["code"] == "not_uploaded"
    assert state(client, alice, signed["upload_id"]) == "pending"


def test_s3_upload_of_the_wrong_size_fails_at_completion(
    on_s3: None, app: Flask, client: FlaskClient, alice: Account
) -> None:
    # moto does not enforce the POST policy (real S3 refuses there): completion still catches it
    signed = request_upload(client, alice, path="short.bin", size=100).json
    assert send(client, signed, b"x" * 99) in (200, 204)
    failed = complete(client, alice, signed["upload_id"])
    assert failed.status_code == 422 and failed.json["code"] == "size_mismatch"
    assert staged(app) == []
    assert state(client, alice, signed["upload_id"]) == "failed"
    assert client.get("/api/fs/short.bin", headers=alice.headers).status_code == 404


@pytest.fixture
def on_s3(app_overrides: dict[str, Any], s3_storage_overrides: dict[str, str]) -> None:
    app_overrides.update(s3_storage_overrides)


def test_s3_post_policy_pins_the_size_the_key_and_the_type(
    on_s3: None, client: FlaskClient, alice: Account
) -> None:
    # moto accepts any POST, so what real S3 would enforce is read from the signed policy
    signed = request_upload(
        client, alice, path="reports/evil name.pdf", size=1234, content_type="application/pdf"
    ).json
    fields = signed["fields"]
    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    assert ["content-length-range", 1234, 1234] in conditions
    assert {"key": fields["key"]} in conditions
    assert {"Content-Type": "application/pdf"} in conditions
    assert fields["Content-Type"] == "application/pdf"
    assert "evil" not in fields["key"] and "reports" not in fields["key"]  # never from the name
    assert fields["key"].endswith(signed["upload_id"])
    expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert expires <= datetime.fromisoformat(signed["expires_at"].replace("Z", "+00:00"))


def test_s3_content_not_matching_the_declared_sha256_fails_and_is_deleted(
    on_s3: None, app: Flask, client: FlaskClient, alice: Account
) -> None:
    signed = request_upload(client, alice, path="x.bin", size=5, sha256=sha256(b"right")).json
    send(client, signed, b"wrong")
    failed = complete(client, alice, signed["upload_id"])
    assert failed.status_code == 422 and failed.json["code"] == "checksum_mismatch"
    assert list(runtime(app).store.iter_blobs()) == []
    assert state(client, alice, signed["upload_id"]) == "failed"
    again = complete(client, alice, signed["upload_id"])
    assert again.status_code == 409


def test_local_url_refuses_the_wrong_size_or_digest_and_keeps_nothing(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    signed = request_upload(client, alice, path="x.bin", size=5, sha256=sha256(b"right")).json
    path = urlsplit(signed["url"]).path
    too_long = client.put(path, data=b"right and more")
    assert too_long.status_code == 413
    too_short = client.put(path, data=b"ri")
    assert too_short.status_code == 400 and too_short.json["code"] == "size_mismatch"
    wrong = client.put(path, data=b"wrong")
    assert wrong.status_code == 422 and wrong.json["code"] == "checksum_mismatch"
    assert list(runtime(app).store.iter_blobs()) == []
    assert state(client, alice, signed["upload_id"]) == "pending"  # a refused try is not the upload
    assert client.put(path, data=b"right").status_code == 204
    assert complete(client, alice, signed["upload_id"]).status_code == 200


def test_local_url_accepts_a_multipart_post(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    signed = request_upload(client, alice, path="form.txt", size=4).json
    path = urlsplit(signed["url"]).path
    posted = client.post(path, data={"file": (io.BytesIO(b"form"), "form.txt")})
    assert posted.status_code == 204
    done = complete(client, alice, signed["upload_id"])
    assert done.json["file"]["sha256"] == sha256(b"form")


def test_local_url_takes_one_upload_and_refuses_after_completion(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    signed = request_upload(client, alice, path="once.txt", size=4).json
    path = urlsplit(signed["url"]).path
    assert client.put(path, data=b"once").status_code == 204
    second = client.put(path, data=b"twice")
    assert second.status_code == 409 and second.json["code"] == "already_uploaded"
    file_id = complete(client, alice, signed["upload_id"]).json["file"]["id"]
    after = client.put(path, data=b"later")
    assert after.status_code == 409 and after.json["code"] == "upload_closed"
    content = client.get(f"/api/files/{file_id}/content", headers=alice.headers)
    assert content.data == b"once"


def test_s3_upload_after_completion_never_changes_the_file(
    on_s3: None, app: Flask, client: FlaskClient, alice: Account
) -> None:
    signed = request_upload(client, alice, path="kept.txt", size=4).json
    send(client, signed, b"kept")
    file_id = complete(client, alice, signed["upload_id"]).json["file"]["id"]
    send(client, signed, b"evil")  # S3 cannot revoke a presigned POST before its expiry
    assert complete(client, alice, signed["upload_id"]).json["file"]["id"] == file_id
    content = client.get(f"/api/files/{file_id}/content", headers=alice.headers)
    assert content.data == b"kept"


def test_tampered_and_expired_signatures_are_403(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    signed = request_upload(client, alice, path="sig.txt", size=3).json
    path = urlsplit(signed["url"]).path
    tampered = client.put(path[:-2] + ("AA" if not path.endswith("AA") else "BB"), data=b"abc")
    assert tampered.status_code == 403 and tampered.json["code"] == "signature_invalid"
    past = utcnow() - timedelta(seconds=5)
    expired_token = sign_upload_token("test-secret-key", signed["upload_id"], past)
    expired = client.put(f"/api/signed-uploads/{expired_token}", data=b"abc")
    assert expired.status_code == 403 and expired.json["code"] == "signature_expired"
    foreign = sign_upload_token("another-key", signed["upload_id"], utcnow() + timedelta(hours=1))
    assert client.put(f"/api/signed-uploads/{foreign}", data=b"abc").status_code == 403
    assert staged(app) == []


def test_another_users_upload_id_is_404(
    backend: str, client: FlaskClient, alice: Account, bob: Account
) -> None:
    upload_id = request_upload(client, alice, path="mine.txt", size=3).json["upload_id"]
    for method, suffix in (("get", ""), ("delete", ""), ("post", "/complete")):
        answer = getattr(client, method)(f"/api/uploads/{upload_id}{suffix}", headers=bob.headers)
        assert answer.status_code == 404, (method, answer.json)
    assert state(client, alice, upload_id) == "pending"


def test_abort_deletes_the_upload_and_closes_the_url(
    backend: str, app: Flask, client: FlaskClient, alice: Account
) -> None:
    signed = request_upload(client, alice, path="aborted.txt", size=3).json
    send(client, signed, b"abc")
    assert staged(app) != []
    assert (
        client.delete(f"/api/uploads/{signed['upload_id']}", headers=alice.headers).status_code
        == 204
    )
    assert staged(app) == []
    assert state(client, alice, signed["upload_id"]) == "failed"
    assert complete(client, alice, signed["upload_id"]).status_code == 409
    if backend == "local":
        closed = client.put(urlsplit(signed["url"]).path, data=b"abc")
        assert closed.status_code == 409 and closed.json["code"] == "upload_closed"


def test_requests_are_checked_against_limits_up_front(
    small_limits: dict[str, Any], client: FlaskClient, alice: Account
) -> None:
    too_big = request_upload(client, alice, path="big.bin", size=64 * 1024 + 1)
    assert too_big.status_code == 413
    over_quota = request_upload(client, alice, path="q.bin", size=50 * 1024, expires_in=60)
    assert over_quota.status_code == 201
    put_file(client, alice, "fill.bin", b"f" * 60 * 1024)
    refused = request_upload(client, alice, path="q2.bin", size=50 * 1024)
    assert refused.status_code == 507
    too_long = request_upload(client, alice, path="late.bin", size=1, expires_in=604801)
    assert too_long.status_code == 400 and too_long.json["code"] == "invalid_expiry"
    for bad in ({"path": "../x", "size": 1}, {"path": "x", "size": -1}, {"path": "x"}):
        assert request_upload(client, alice, **bad).status_code == 400, bad
    text = client.post("/api/uploads", data="path=x", headers=alice.headers)
    assert text.status_code == 415


def test_quota_is_checked_again_at_completion(
    small_limits: dict[str, Any], backend: str, app: Flask, client: FlaskClient, alice: Account
) -> None:
    first = request_upload(client, alice, path="a.bin", size=60 * 1024).json
    second = request_upload(client, alice, path="b.bin", size=60 * 1024).json
    send(client, first, b"a" * 60 * 1024)
    assert complete(client, alice, first["upload_id"]).status_code == 200
    if backend == "local":  # our URL enforces the quota while receiving
        refused = client.put(urlsplit(second["url"]).path, data=b"b" * 60 * 1024)
        assert refused.status_code == 507
        return
    send(client, second, b"b" * 60 * 1024)
    late = complete(client, alice, second["upload_id"])
    assert late.status_code == 507
    assert state(client, alice, second["upload_id"]) == "failed"
    assert client.get("/api/fs/b.bin", headers=alice.headers).status_code == 404
    assert staged(app) == []


def test_on_conflict_applies_when_requesting_and_at_completion(
    client: FlaskClient, alice: Account
) -> None:
    put_file(client, alice, "same.txt", b"old")
    taken = request_upload(client, alice, path="same.txt", size=3)
    assert taken.status_code == 409
    signed = request_upload(client, alice, path="same.txt", size=3, on_conflict="replace").json
    send(client, signed, b"new")
    replaced = complete(client, alice, signed["upload_id"]).json["file"]
    assert client.get("/api/fs/same.txt", headers=alice.headers).data == b"new"
    renamed = request_upload(client, alice, path="same.txt", size=3, on_conflict="rename").json
    send(client, renamed, b"two")
    other = complete(client, alice, renamed["upload_id"]).json["file"]
    assert other["path"] != replaced["path"] and other["path"].startswith("same")


def test_same_content_twice_is_stored_once(
    backend: str, app: Flask, client: FlaskClient, alice: Account
) -> None:
    for name in ("one.txt", "two.txt"):
        signed = request_upload(client, alice, path=name, size=4).json
        send(client, signed, b"dupe")
        assert complete(client, alice, signed["upload_id"]).status_code == 200
    assert len(list(runtime(app).store.iter_blobs("blobs/"))) == 1


def test_sweeper_expires_abandoned_sessions_and_deletes_their_objects(
    backend: str, app: Flask, client: FlaskClient, alice: Account
) -> None:
    signed = request_upload(client, alice, path="abandoned.txt", size=3).json
    send(client, signed, b"abc")
    later = utcnow() + timedelta(seconds=runtime(app).settings.UPLOAD_SESSION_TTL + 1)
    assert sweep_once(runtime(app), later).sessions_expired == 1
    assert staged(app) == []
    assert sweep_once(runtime(app), later).sessions_expired == 0  # idempotent
    with runtime(app).db.session() as session:
        row = session.get(UploadSession, signed["upload_id"])
        assert row is not None and row.state == "expired"


def test_expired_session_refuses_completion(
    backend: str, app: Flask, client: FlaskClient, alice: Account
) -> None:
    signed = request_upload(client, alice, path="late.txt", size=3).json
    send(client, signed, b"abc")
    later = utcnow() + timedelta(seconds=runtime(app).settings.UPLOAD_SESSION_TTL + 1)
    sweep_once(runtime(app), later)
    answer = complete(client, alice, signed["upload_id"])
    assert answer.status_code == 410 and answer.json["code"] == "upload_expired"


@pytest.fixture
def three_per_minute(app_overrides: dict[str, Any]) -> None:
    app_overrides.update(RATELIMIT_DEFAULT="3 per minute")


def test_requesting_upload_urls_is_rate_limited(
    three_per_minute: None, client: FlaskClient, alice: Account
) -> None:
    answers = [request_upload(client, alice, path=f"r{i}.txt", size=1) for i in range(4)]
    assert [answer.status_code for answer in answers] == [201, 201, 201, 429]
    assert answers[-1].json["code"] == "rate_limited" and "Retry-After" in answers[-1].headers
