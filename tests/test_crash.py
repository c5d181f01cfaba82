"""A worker killed in the middle of an upload leaves nothing visible, and the sweeper cleans up."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
import requests

from tests.fixtures.server import running_server
from upload_service.db import Database
from upload_service.models import utcnow
from upload_service.runtime import Runtime
from upload_service.settings import load_settings
from upload_service.storage import open_blob_store
from upload_service.sweeper import sweep_once

pytestmark = pytest.mark.slow

CHUNK = 64 * 1024
TOTAL_CHUNKS = 200  # 12.5 MiB at most; the worker is killed long before the end
T = TypeVar("T")


def _wait_for(what: str, probe: Callable[[], T | None], seconds: float = 60.0) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(FileNotFoundError):
            found.update(int(child) for child in children.read_text().split())
    return found


def _healthy(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


class _SlowBody:
    """A request body sent in small chunks, slowly, until told to stop."""

    def __init__(self) -> None:
        self.sent = 0
        self.stop = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(TOTAL_CHUNKS):
            if self.stop.is_set():
                return
            self.sent += CHUNK
            yield os.urandom(CHUNK)
            time.sleep(0.02)


def test_worker_killed_mid_upload_leaves_nothing(tmp_path: Path) -> None:
    with running_server(tmp_path, SWEEP_INTERVAL="0", WORKERS="1") as server:
        base, master = server.url, server.process
        data_dir, database_url = Path(server.env["DATA_DIR"]), server.env["DATABASE_URL"]
        _wait_for("the server to answer", lambda: _healthy(base) or master.poll() is not None)
        assert master.poll() is None, server.log.read_text()
        [worker] = _wait_for("the worker", lambda: _children(master.pid) or None)
        headers = {"Authorization": f"Bearer {server.create_token()}"}

        body = _SlowBody()
        outcome: list[object] = []

        def upload() -> None:
            try:
                url = f"{base}/api/fs/big.bin"
                outcome.append(requests.put(url, data=body, headers=headers, timeout=60))
            except requests.RequestException as exc:
                outcome.append(exc)

        sender = threading.Thread(target=upload, name="slow-upload", daemon=True)
        sender.start()
        store_root = data_dir / "uploads"
        partial = _wait_for(
            "the blob write to start",
            lambda: [p for p in store_root.rglob(".tmp-*") if p.stat().st_size > CHUNK] or None,
        )
        os.kill(worker, signal.SIGKILL)  # mid-write: the temp file stays behind
        body.stop.set()
        sender.join(timeout=30)
        assert outcome and not (isinstance(outcome[0], requests.Response) and outcome[0].ok)

        _wait_for("a new worker", lambda: (_children(master.pid) - {worker}) or None)
        _wait_for("the new worker to answer", lambda: _healthy(base))
        listing = requests.get(f"{base}/api/files", headers=headers, timeout=10)
        assert listing.status_code == 200 and listing.json()["items"] == []
        assert (
            requests.get(f"{base}/api/fs/big.bin", headers=headers, timeout=10).status_code == 404
        )
        assert all(path.exists() for path in partial)  # the crash really left debris

    settings = load_settings({"DATA_DIR": data_dir, "DATABASE_URL": database_url})
    database = Database(database_url)
    try:
        runtime = Runtime(settings=settings, db=database, store=open_blob_store(settings))
        report = sweep_once(runtime, utcnow() + timedelta(hours=2))
    finally:
        database.dispose()
    assert report.stray_temp_files + report.stray_objects >= 1
    assert [path for path in store_root.rglob("*") if path.is_file()] == []
