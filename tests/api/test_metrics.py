"""``GET /metrics``: Prometheus text, request and upload counters, totals from the database."""

from __future__ import annotations

import io
import os
import signal
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from tests.api.helpers import b64, put_file
from tests.fixtures.server import RunningServer, running_server
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


# ----------------------------------------------------------- the real server, several workers


def scrape_server(server: RunningServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """One scrape on a new connection, so any worker may answer it."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def workers_of(server: RunningServer) -> list[int]:
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def metric_files(pid: int) -> set[Path]:
    """The metric files a worker has mapped into memory (multiprocess mode)."""
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return {Path(line.split()[-1]) for line in maps if "upload-service-metrics-" in line}


def has_booted(pid: int) -> bool:
    """The worker has built its app: its "alive" gauge is in a file of its own."""
    return any(path.name == f"gauge_livesum_{pid}.db" for path in metric_files(pid))


def all_booted(server: RunningServer, count: int = 2) -> bool:
    """All ``count`` workers are forked and have built their app (an empty list is not "all")."""
    workers = workers_of(server)
    return len(workers) == count and all(has_booted(pid) for pid in workers)


def wait_until(probe: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.2)


GET_2XX = (REQUESTS, (("method", "GET"), ("status", "2xx")))


def test_a_server_with_two_workers_reports_the_sum_of_both(tmp_path: Path) -> None:
    with running_server(tmp_path, WORKERS="2", THREADS="2", SWEEP_INTERVAL="0") as server:
        wait_until(lambda: all_booted(server))
        directory = next(iter(metric_files(workers_of(server)[0]))).parent
        token = server.create_token()
        upload = urllib.request.Request(
            f"{server.url}/api/fs/metrics.bin",
            data=b"x" * 1000,
            method="PUT",
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/octet-stream",
            },
        )
        with urllib.request.urlopen(upload, timeout=10) as response:
            assert response.status == 201

        first = scrape_server(server)
        for _ in range(20):
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=10) as response:
                assert response.status == 200
        # Each scrape, whichever worker answers, counts every earlier request of both workers.
        expected = first.get(GET_2XX, 0) + 1 + 20
        for _ in range(10):
            samples = scrape_server(server)
            assert samples[GET_2XX] == expected
            assert samples[("upload_service_uploaded_bytes_total", (("kind", "raw"),))] == 1000
            assert samples[("upload_service_worker_processes", ())] == 2
            expected += 1

        # A worker that dies is replaced: the gauge counts the living, the totals keep its share.
        killed = workers_of(server)[0]
        os.kill(killed, signal.SIGKILL)
        wait_until(lambda: killed not in workers_of(server) and all_booted(server))
        after = scrape_server(server)
        assert after[("upload_service_worker_processes", ())] == 2
        assert after[GET_2XX] >= expected
        assert after[("upload_service_uploaded_bytes_total", (("kind", "raw"),))] == 1000
    assert not directory.exists()  # a stopped server leaves no metric files behind
