"""The sweeper (architecture §5): expiry, garbage collection, strays, the lease, the thread."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from tests.api.helpers import b64, put_file, stored_objects
from tests.fixtures.users import Account, make_account
from upload_service.app import create_app
from upload_service.cli.db import sweep
from upload_service.db import Database
from upload_service.models import (
    Blob,
    BlobChunk,
    Lease,
    TemporaryUpload,
    UploadSession,
    User,
    utcnow,
)
from upload_service.runtime import Runtime
from upload_service.services.thumbnails import cache_key as thumbnail_key
from upload_service.settings import load_settings
from upload_service.storage.local import LocalBlobStore
from upload_service.sweeper import (
    EXTENSION_KEY,
    GRACE_PERIOD,
    LEASE_NAME,
    THREAD_NAME,
    SweeperThread,
    acquire_lease,
    sweep_once,
)

TEMP_TTL = 60


@pytest.fixture
def short_temp_ttl(app_overrides: dict[str, Any]) -> None:
    """Temporary uploads live a minute, much less than their blobs' grace period (list first)."""
    app_overrides["TEMP_UPLOAD_TTL"] = TEMP_TTL


def _runtime(app: Flask) -> Runtime:
    runtime: Runtime = app.extensions["upload_service"]
    return runtime


def _store_root(app: Flask) -> Path:
    store = _runtime(app).store
    assert isinstance(store, LocalBlobStore)
    return store.root


def _upload_temporary(client: FlaskClient, who: Account, name: str, data: bytes) -> dict[str, Any]:
    body = json.dumps([{"filename": name, "content": b64(data)}])
    response = client.put(
        "/api/upload_temporary", content_type="application/json", data=body, headers=who.headers
    )
    assert response.status_code == 201, response.json
    result: dict[str, Any] = response.json
    return result


def _expire_now(app: Flask, token: str) -> None:
    """Make a temporary upload already expired by the real clock."""
    with _runtime(app).db.session() as session:
        past = utcnow() - timedelta(seconds=1)
        session.execute(
            update(TemporaryUpload).where(TemporaryUpload.id == token).values(expires_at=past)
        )


def _blob_keys(app: Flask) -> list[str]:
    with _runtime(app).db.session() as session:
        return sorted(session.scalars(select(Blob.storage_key)))


def _object_keys(app: Flask) -> list[str]:
    root = _store_root(app)
    return sorted(path.relative_to(root).as_posix() for path in stored_objects(app))


def _wait_until(condition: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


# -- temporary uploads ------------------------------------------------------------------------


def test_expired_temporary_upload_is_swept_and_persisted_one_survives(
    short_temp_ttl: None, app: Flask, client: FlaskClient, alice: Account
) -> None:
    start = utcnow()
    abandoned = _upload_temporary(client, alice, "abandoned.txt", b"nobody wants me")
    claimed = _upload_temporary(client, alice, "claimed.txt", b"keep me")
    persisted = client.post(
        f"/api/upload_temporary/{claimed['token']}/persist", headers=alice.headers
    )
    assert persisted.status_code == 200
    token, file_id = abandoned["token"], abandoned["files"][0]["id"]
    assert client.get(f"/api/files/{file_id}", headers=alice.headers).status_code == 200
    runtime = _runtime(app)

    assert not sweep_once(runtime, start).removed_anything  # nothing has expired yet
    report = sweep_once(runtime, start + timedelta(seconds=TEMP_TTL + 5))
    assert (report.temporary_uploads, report.temporary_files) == (1, 1)
    assert report.blobs == 0  # its blob is unreferenced now, but still within the grace period
    assert client.get(f"/api/upload_temporary/{token}", headers=alice.headers).status_code == 404
    assert client.get(f"/api/files/{file_id}", headers=alice.headers).status_code == 404
    assert len(_object_keys(app)) == 2

    report = sweep_once(runtime, start + GRACE_PERIOD + timedelta(seconds=TEMP_TTL + 5))
    assert report.blobs == 1
    assert _object_keys(app) == _blob_keys(app) and len(_blob_keys(app)) == 1
    listed = client.get("/api/files", headers=alice.headers).json["items"]
    assert [item["path"] for item in listed] == ["claimed.txt"]
    assert client.get("/api/fs/claimed.txt", headers=alice.headers).data == b"keep me"


def test_persisting_after_expiry_is_impossible_once_swept(
    short_temp_ttl: None, app: Flask, client: FlaskClient, alice: Account
) -> None:
    abandoned = _upload_temporary(client, alice, "late.txt", b"too late")
    sweep_once(_runtime(app), utcnow() + timedelta(seconds=TEMP_TTL + 5))
    late = client.post(f"/api/upload_temporary/{abandoned['token']}/persist", headers=alice.headers)
    assert late.status_code == 404
    assert client.get("/api/files", headers=alice.headers).json["items"] == []


# -- blobs ------------------------------------------------------------------------------------


def test_deleted_files_blob_is_collected_after_grace_and_never_while_referenced(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    start = utcnow()
    first = put_file(client, alice, "a.txt", b"same bytes").json
    twin = put_file(client, alice, "b.txt", b"same bytes").json
    [key] = _blob_keys(app)  # per-owner dedup: one blob for both
    with _runtime(app).db.session() as session:  # a chunk index is not a reference
        blob = session.scalars(select(Blob)).one()
        session.add(BlobChunk(blob_id=blob.id, seq=0, offset=0, length=10, sha256="0" * 64))
    assert client.delete(f"/api/files/{first['id']}", headers=alice.headers).status_code == 204
    runtime = _runtime(app)

    assert sweep_once(runtime, start + 2 * GRACE_PERIOD).blobs == 0  # the twin still uses it
    assert client.get("/api/fs/b.txt", headers=alice.headers).data == b"same bytes"

    assert client.delete(f"/api/files/{twin['id']}", headers=alice.headers).status_code == 204
    assert sweep_once(runtime, start + GRACE_PERIOD / 2).blobs == 0  # within the grace period
    assert _object_keys(app) == [key]

    assert sweep_once(runtime, start + GRACE_PERIOD + timedelta(minutes=1)).blobs == 1
    assert _blob_keys(app) == [] and _object_keys(app) == []
    with runtime.db.session() as session:
        assert session.scalars(select(BlobChunk)).all() == []


def test_reused_blob_gets_a_new_grace_period(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    start = utcnow()
    old = put_file(client, alice, "old.txt", b"content").json
    client.delete(f"/api/files/{old['id']}", headers=alice.headers)
    with _runtime(app).db.session() as session:  # pretend the upload was three hours ago
        earlier = start - 3 * GRACE_PERIOD
        session.execute(update(Blob).values(created_at=earlier, last_used_at=earlier))
    put_file(client, alice, "new.txt", b"content")  # dedup: re-uses the old blob
    client.delete("/api/fs/new.txt", headers=alice.headers)
    assert sweep_once(_runtime(app), start + GRACE_PERIOD / 2).blobs == 0
    assert len(_object_keys(app)) == 1


# -- stray objects ----------------------------------------------------------------------------


def test_stray_blob_object_without_a_row_is_removed_after_grace(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    start = utcnow()
    put_file(client, alice, "kept.txt", b"referenced")
    store = _runtime(app).store
    store.put("blobs/crashed-before-commit", io.BytesIO(b"orphan"))  # as after a crash
    store.put("elsewhere/not-ours", io.BytesIO(b"unknown prefix"))
    runtime = _runtime(app)

    report = sweep_once(runtime, start)
    assert report.stray_scan and report.stray_objects == 0
    assert "blobs/crashed-before-commit" in _object_keys(app)

    report = sweep_once(runtime, start + 2 * GRACE_PERIOD)
    assert report.stray_scan and report.stray_objects == 1
    assert _object_keys(app) == sorted([*_blob_keys(app), "elsewhere/not-ours"])
    assert client.get("/api/fs/kept.txt", headers=alice.headers).data == b"referenced"


def test_thumbnails_go_once_no_blob_has_their_bytes(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    start = utcnow()
    kept = put_file(client, alice, "kept.png", b"kept image bytes").json
    gone = put_file(client, alice, "gone.png", b"deleted image bytes").json
    store = _runtime(app).store
    for sha256 in (kept["sha256"], gone["sha256"]):  # as the web UI caches them
        store.put(thumbnail_key(sha256), io.BytesIO(b"\x89PNG thumbnail"))
    assert client.delete(f"/api/files/{gone['id']}", headers=alice.headers).status_code == 204
    runtime = _runtime(app)

    sweep_once(runtime, start + 2 * GRACE_PERIOD, full_scan=True)  # the blob row goes first
    sweep_once(runtime, start + 2 * GRACE_PERIOD, full_scan=True)  # then its thumbnail
    keys = _object_keys(app)
    assert thumbnail_key(kept["sha256"]) in keys
    assert thumbnail_key(gone["sha256"]) not in keys


def test_stale_local_temp_file_is_removed(app: Flask) -> None:
    start = utcnow()
    leftover = _store_root(app) / "blobs" / ".tmp-interrupted-write"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"half a file")
    runtime = _runtime(app)

    assert sweep_once(runtime, start).stray_temp_files == 0  # may be a write in progress
    assert leftover.exists()
    assert sweep_once(runtime, start + 2 * GRACE_PERIOD).stray_temp_files == 1
    assert not leftover.exists()


def test_stray_scan_runs_at_most_once_an_hour_unless_forced(app: Flask) -> None:
    start = utcnow()
    runtime = _runtime(app)
    assert sweep_once(runtime, start).stray_scan
    assert not sweep_once(runtime, start + GRACE_PERIOD / 2).stray_scan
    assert sweep_once(runtime, start + GRACE_PERIOD / 2, full_scan=True).stray_scan
    assert sweep_once(runtime, start + 2 * GRACE_PERIOD).stray_scan


# -- upload sessions --------------------------------------------------------------------------


def _session(owner_id: int, expires_at: datetime, **fields: Any) -> UploadSession:
    return UploadSession(
        owner_id=owner_id, kind="tus", path="big.iso", size=100, expires_at=expires_at, **fields
    )


def test_expired_pending_session_is_marked_expired_and_its_staged_data_deleted(
    app: Flask, alice: Account
) -> None:
    start = utcnow()
    runtime = _runtime(app)
    staged = [
        "staging/abandoned",  # of the expired session
        "staging/live-exact",  # a live session's staging key
        "staging/live-dir/part-2",  # under a live session's staging key
        "staging/no-session",  # nobody's
        "staging/live",  # looks similar, but nobody's
    ]
    for key in staged:
        runtime.store.put(key, io.BytesIO(b"partial"))
    with runtime.db.session() as session:
        abandoned = _session(alice.id, start - timedelta(seconds=1), staging_key=staged[0])
        live = [
            _session(alice.id, start + timedelta(days=2), staging_key="staging/live-exact"),
            _session(alice.id, start + timedelta(days=2), staging_key="staging/live-dir"),
        ]
        done = _session(alice.id, start - timedelta(days=3), state="complete", file_id="x")
        session.add_all([abandoned, *live, done])

    report = sweep_once(runtime, start)
    assert (report.sessions_expired, report.sessions_deleted) == (1, 1)
    with runtime.db.session() as session:
        states = {row.id: row.state for row in session.scalars(select(UploadSession))}
    assert states == {abandoned.id: "expired", live[0].id: "pending", live[1].id: "pending"}
    assert "staging/abandoned" not in _object_keys(app)

    # Staged objects that no live session references go with the next storage scan.
    report = sweep_once(runtime, start + 2 * GRACE_PERIOD)
    assert report.stray_objects == 2
    assert _object_keys(app) == ["staging/live-dir/part-2", "staging/live-exact"]

    # The expired row answers status requests for another day, then goes.
    assert sweep_once(runtime, start + timedelta(hours=23)).sessions_deleted == 0
    assert sweep_once(runtime, start + timedelta(days=1, minutes=1)).sessions_deleted == 1
    with runtime.db.session() as session:
        assert sorted(session.scalars(select(UploadSession.id))) == sorted(s.id for s in live)


# -- idempotence ------------------------------------------------------------------------------


def test_sweep_is_idempotent(
    short_temp_ttl: None, app: Flask, client: FlaskClient, alice: Account
) -> None:
    start = utcnow()
    _upload_temporary(client, alice, "temp.txt", b"temporary")
    gone = put_file(client, alice, "gone.txt", b"deleted").json
    client.delete(f"/api/files/{gone['id']}", headers=alice.headers)
    put_file(client, alice, "kept.txt", b"kept")
    _runtime(app).store.put("blobs/stray", io.BytesIO(b"stray"))
    runtime = _runtime(app)
    later = start + 2 * GRACE_PERIOD

    first = sweep_once(runtime, later)
    assert (first.temporary_uploads, first.blobs, first.stray_objects) == (1, 2, 1)
    objects = _object_keys(app)
    second = sweep_once(runtime, later)
    forced = sweep_once(runtime, later, full_scan=True)
    assert not second.removed_anything and not forced.removed_anything
    assert forced.summary() == "sweep: nothing to remove; storage scanned for strays"
    assert _object_keys(app) == objects == _blob_keys(app)
    assert client.get("/api/fs/kept.txt", headers=alice.headers).data == b"kept"


# -- the lease --------------------------------------------------------------------------------


def test_sweep_skips_while_another_holder_has_the_lease(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    start = utcnow()
    token = _upload_temporary(client, alice, "a.txt", b"x")["token"]
    _expire_now(app, token)
    runtime = _runtime(app)
    with runtime.db.session() as session:
        expires = start + timedelta(minutes=5)
        session.add(Lease(name=LEASE_NAME, holder="other-host:42:abcd", expires_at=expires))

    skipped = sweep_once(runtime, start)
    assert skipped.skipped and not skipped.removed_anything
    assert skipped.summary().startswith("sweep skipped: another sweeper holds the lease")
    assert "other-host:42:abcd" in skipped.summary()
    with runtime.db.session() as session:
        assert session.get(TemporaryUpload, token) is not None

    proceeded = sweep_once(runtime, start + timedelta(minutes=6))  # the other lease expired
    assert not proceeded.skipped and proceeded.temporary_uploads == 1
    with runtime.db.session() as session:
        assert session.get(Lease, LEASE_NAME) is None  # released at the end


def test_lease_is_taken_by_exactly_one_of_many_concurrent_callers(app: Flask) -> None:
    db = _runtime(app).db
    now = utcnow()
    barrier = threading.Barrier(8)
    results: dict[str, bool] = {}

    def contend(holder: str) -> None:
        barrier.wait()
        results[holder] = acquire_lease(db, "contended", holder, now, timedelta(minutes=5))

    for round_ in range(2):  # first the INSERT race, then the UPDATE race after expiry
        threads = [threading.Thread(target=contend, args=(f"h{round_}-{i}",)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        winners = [holder for holder, won in results.items() if won]
        assert len(winners) == 1, results
        with db.session() as session:
            lease = session.get(Lease, "contended")
            assert lease is not None and lease.holder == winners[0]
        results.clear()
        now += timedelta(minutes=10)
    renewal_time = now - timedelta(minutes=9)  # the last winner's lease has not expired yet
    assert acquire_lease(db, "contended", winners[0], renewal_time, timedelta(minutes=5))
    assert not acquire_lease(db, "contended", "latecomer", renewal_time, timedelta(minutes=5))


# -- the thread -------------------------------------------------------------------------------


@pytest.fixture
def sweeping_app(app_overrides: dict[str, Any]) -> Iterator[Flask]:
    app_overrides["SWEEP_INTERVAL"] = 1
    app = create_app(app_overrides)
    yield app
    thread = app.extensions[EXTENSION_KEY]
    if thread is not None:
        thread.stop()
    _runtime(app).db.dispose()


def test_server_thread_sweeps_and_stops_cleanly(sweeping_app: Flask) -> None:
    thread = sweeping_app.extensions[EXTENSION_KEY]
    assert isinstance(thread, SweeperThread)
    assert thread.name == THREAD_NAME and thread.daemon and thread.is_alive()
    assert THREAD_NAME in [t.name for t in threading.enumerate()]
    alice = make_account(sweeping_app, "alice")
    client = sweeping_app.test_client()
    token = _upload_temporary(client, alice, "soon-gone.txt", b"bye")["token"]
    _expire_now(sweeping_app, token)

    def swept() -> bool:
        with _runtime(sweeping_app).db.session() as session:
            return session.get(TemporaryUpload, token) is None

    assert _wait_until(swept), "the sweeper thread did not remove the expired upload"
    assert thread.stop(timeout=10)
    assert not thread.is_alive()
    assert THREAD_NAME not in [t.name for t in threading.enumerate()]


def test_no_thread_when_sweep_interval_is_zero(app: Flask) -> None:
    assert app.extensions[EXTENSION_KEY] is None
    assert THREAD_NAME not in [t.name for t in threading.enumerate()]


def test_thread_survives_a_failing_sweep(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings({"DATA_DIR": tmp_path / "data", "SWEEP_INTERVAL": 0})
    db = Database(f"sqlite:///{tmp_path / 'not-yet-migrated.db'}")
    runtime = Runtime(settings=settings, db=db, store=LocalBlobStore(tmp_path / "store"))
    thread = SweeperThread(runtime, interval=0.2)
    caplog.set_level(logging.ERROR, logger="upload_service.sweeper")
    thread.start()
    try:
        assert _wait_until(lambda: any("sweep failed" in r.message for r in caplog.records))
        assert thread.is_alive()
        db.upgrade()  # the database comes back: the next sweep works
        with db.session() as session:
            user = User(login="carol")
            session.add(user)
            session.flush()
            past = utcnow() - timedelta(seconds=1)
            session.add(TemporaryUpload(id="expired-token", owner_id=user.id, expires_at=past))

        def swept() -> bool:
            with db.session() as session:
                return session.get(TemporaryUpload, "expired-token") is None

        assert _wait_until(swept)
    finally:
        assert thread.stop(timeout=10)
        db.dispose()


# -- the command ------------------------------------------------------------------------------


def test_sweep_command_prints_one_line_and_exits_0(
    app: Flask, client: FlaskClient, alice: Account, database_url: str, app_overrides: Any
) -> None:
    token = _upload_temporary(client, alice, "a.txt", b"abandoned")["token"]
    _expire_now(app, token)
    env = {"DATA_DIR": str(app_overrides["DATA_DIR"]), "DATABASE_URL": database_url}
    runner = CliRunner()

    result = runner.invoke(sweep, env=env)
    assert result.exit_code == 0, result.output
    assert result.output.count("\n") == 1
    assert result.output.startswith("sweep: 1 expired temporary upload(s), 1 temporary file(s)")
    with _runtime(app).db.session() as session:
        assert session.get(TemporaryUpload, token) is None

    again = runner.invoke(sweep, ["--full"], env=env)
    assert again.exit_code == 0, again.output
    assert again.output == "sweep: nothing to remove; storage scanned for strays\n"
