"""``GET /metrics``: Prometheus text, request and upload counters, totals from the database."""

from __future__ import annotations

import io
from typing import Any

from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from tests.api.helpers import b64, put_file
from tests.fixtures.users import Account
from upload_service.app import create_app

REQUESTS = "upload_service_http_requests_total"


def scrape(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")  # no credentials
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def test_uploads_requests_and_totals(client: FlaskClient, alice: Account, bob: Account) -> None:
    before = scrape(client)
    assert before[("upload_service_users", ())] == 2
    assert before[("upload_service_files", (("state", "complete"),))] == 0

    assert put_file(client, alice, "a.txt", b"12345").status_code == 201
    body = [{"filename": "b.txt", "content": b64(b"abc")}]
    assert client.put("/api/upload", json=body, headers=bob.headers).status_code == 201
    client.put("/api/upload_temporary", json=body, headers=bob.headers)
    multipart = {"file": [(io.BytesIO(b"xy"), "c.txt")]}
    assert client.post("/api/files", data=multipart, headers=alice.headers).status_code == 201
    assert put_file(client, alice, "a.txt", b"again").status_code == 409  # stores nothing
    assert client.get("/api/files", headers={"Authorization": "Bearer nope"}).status_code == 401

    after = scrape(client)
    assert after[("upload_service_uploaded_bytes_total", (("kind", "raw"),))] == 5
    assert after[("upload_service_uploaded_bytes_total", (("kind", "base64_json"),))] == 6
    assert after[("upload_service_uploaded_bytes_total", (("kind", "multipart"),))] == 2
    assert after[("upload_service_uploaded_files_total", (("kind", "base64_json"),))] == 2
    assert after[("upload_service_files", (("state", "complete"),))] == 3
    assert after[("upload_service_files", (("state", "temporary"),))] == 1
    assert after[("upload_service_files_bytes", (("state", "complete"),))] == 10
    assert after[("upload_service_database_up", ())] == 1

    requests = REQUESTS
    assert after[(requests, (("method", "GET"), ("status", "2xx")))] >= 1  # the first scrape
    assert after[(requests, (("method", "PUT"), ("status", "2xx")))] == 3
    assert after[(requests, (("method", "PUT"), ("status", "4xx")))] == 1
    assert after[(requests, (("method", "GET"), ("status", "4xx")))] == 1
    assert after[("upload_service_http_request_duration_seconds_count", (("method", "PUT"),))] == 4


def test_each_app_counts_for_itself(client: FlaskClient, app_overrides: dict[str, Any]) -> None:
    # The registry belongs to the app, not to the process: tests and apps don't mix counts.
    for _ in range(3):
        client.get("/healthz")
    other = create_app(app_overrides)
    try:
        samples = scrape(other.test_client())
    finally:
        other.extensions["upload_service"].db.dispose()
    assert (REQUESTS, (("method", "GET"), ("status", "2xx"))) not in samples
    assert scrape(client)[(REQUESTS, (("method", "GET"), ("status", "2xx")))] == 3
