"""The same upload and download paths with the S3 backend (moto in server mode)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from tests.api.helpers import b64, put_file, sha256
from tests.fixtures.users import Account


@pytest.fixture
def on_s3(app_overrides: dict[str, Any], s3_storage_overrides: dict[str, str]) -> None:
    """List this before ``app`` so the app stores blobs in the bucket."""
    app_overrides.update(s3_storage_overrides)


def _objects(s3_client: Any, bucket: str) -> list[str]:
    listing = s3_client.list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listing.get("Contents", [])]


def test_upload_download_and_range_on_s3(
    on_s3: None, client: FlaskClient, alice: Account, s3_client: Any, s3_bucket: str
) -> None:
    data = bytes(range(256)) * 1000
    created = put_file(client, alice, "s3/data.bin", data)
    assert created.status_code == 201, created.json
    assert created.json["sha256"] == sha256(data)
    assert len(_objects(s3_client, s3_bucket)) == 1
    full = client.get(f"/api/files/{created.json['id']}/content", headers=alice.headers)
    assert full.data == data
    part = client.get("/api/fs/s3/data.bin", headers={**alice.headers, "Range": "bytes=10-19"})
    assert part.status_code == 206 and part.data == data[10:20]


def test_failed_batch_leaves_no_object_on_s3(
    on_s3: None, client: FlaskClient, alice: Account, s3_client: Any, s3_bucket: str
) -> None:
    body = json.dumps(
        [{"filename": "ok.txt", "content": b64(b"ok")}, {"filename": "x", "content": "%%%"}]
    )
    assert (
        client.put(
            "/api/upload", content_type="application/json", data=body, headers=alice.headers
        ).status_code
        == 400
    )
    bad_digest = put_file(client, alice, "y.txt", b"y", headers={"X-Content-SHA256": "1" * 64})
    assert bad_digest.status_code == 422
    assert _objects(s3_client, s3_bucket) == []


def test_link_is_a_presigned_s3_url(on_s3: None, client: FlaskClient, alice: Account) -> None:
    file_id = put_file(client, alice, "report.pdf", b"%PDF-1.7").json["id"]
    link = client.post(
        f"/api/files/{file_id}/link", json={"expires_in": 300}, headers=alice.headers
    )
    assert link.status_code == 200
    url = link.json["url"]
    assert "X-Amz-Signature" in url and "/api/links/" not in url
    response = requests.get(url, timeout=30)
    assert response.status_code == 200 and response.content == b"%PDF-1.7"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="report.pdf"')
