"""The sweeper (architecture §5): expire what was abandoned, collect what nothing references.

:func:`sweep_once` runs these steps, each batch in its own short transaction:

1. temporary uploads past ``expires_at``: their unclaimed files and the token row;
2. pending upload sessions past ``expires_at``: the staged object is deleted, then the row is
   marked ``expired`` (kept, so a status request can say so); finished sessions (expired,
   failed, complete) are deleted :data:`FINISHED_SESSION_RETENTION` after their expiry;
3. blobs that no file references and whose ``last_used_at`` is older than
   :data:`GRACE_PERIOD`: the row first, then the stored object;
4. stray stored objects older than the grace period: ``blobs/`` keys without a blob row (a crash
   between blob write and DB commit), ``staging/`` keys that no live session and no blob
   references, thumbnails (``thumbnails/``) of bytes no blob has any more, and the local
   store's temp files (a crash in the middle of a write).

Crash safety: no step ever leaves a row pointing at a missing object. Rows go first and objects
after, so a crash in between leaves only an unreferenced object, which step 4 removes. The one
exception, a session's staged object, is deleted before its (already expired) row is marked;
after a crash the next sweep deletes it again, which is harmless. Every statement re-checks its
condition in SQL, so overlapping or repeated sweeps do no harm.

Listing every stored object is O(n), and costs requests on S3, so step 4 runs at most once per
:data:`STRAY_SCAN_INTERVAL` across all processes and hosts, not per process: a scan is claimed
with a lease row (:data:`STRAY_SCAN_LEASE_NAME`) that is never released and simply expires.
``full_scan=True`` (``upload-service sweep --full``) scans regardless. Strays need a crash to
appear, so an hour's delay costs nothing.

Only one sweeper runs at a time: the :data:`LEASE_NAME` row of the ``leases`` table, taken
atomically on SQLite and PostgreSQL, renewed while the sweep runs and released at its end. It
avoids duplicate work; correctness never depends on it.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Executable, delete, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from upload_service.db import Database
from upload_service.models import Blob, File, Lease, TemporaryUpload, UploadSession, utcnow
from upload_service.runtime import Runtime
from upload_service.services import thumbnails
from upload_service.services.ingest import BLOB_PREFIX

logger = logging.getLogger(__name__)

# Unreferenced blobs and stray objects younger than this are left alone: an upload may be
# between writing its object and committing its row, or about to re-use a blob (dedup).
GRACE_PERIOD = timedelta(hours=1)
STRAY_SCAN_INTERVAL = timedelta(hours=1)
# Finished sessions keep answering status requests ("expired") this long after their expiry.
FINISHED_SESSION_RETENTION = timedelta(days=1)
# Where upload sessions stage their data. The stray scan keeps the session's ``staging_key`` and
# anything under ``<staging_key>/`` while the session is live; expiry deletes ``staging_key``
# itself at once, objects under it with the next scan.
STAGING_PREFIX = "staging/"
_SWEPT_PREFIXES = (BLOB_PREFIX, STAGING_PREFIX, thumbnails.CACHE_PREFIX)
LEASE_NAME = "sweeper"
STRAY_SCAN_LEASE_NAME = "sweeper:stray-scan"
LEASE_TTL = timedelta(minutes=5)
_LEASE_RENEW_EVERY = timedelta(minutes=1)
BATCH_SIZE = 500
THREAD_NAME = "upload-service-sweeper"
EXTENSION_KEY = "upload_service.sweeper"  # app.extensions[...]: the SweeperThread, or None
_BULK = {"synchronize_session": False}  # bulk UPDATE/DELETE: no loaded objects to refresh


@dataclass
class SweepReport:
    """What one sweep removed, or that it skipped because another sweeper holds the lease."""

    skipped: bool = False
    lease_holder: str | None = None
    temporary_uploads: int = 0
    temporary_files: int = 0
    sessions_expired: int = 0
    sessions_deleted: int = 0
    blobs: int = 0
    stray_objects: int = 0
    stray_temp_files: int = 0
    sync_chunks: int = 0
    stray_scan: bool = False  # whether step 4 (listing the storage) ran
    interrupted: bool = False  # stopped early (shutdown or lost lease); the next sweep goes on

    def _counts(self) -> list[tuple[int, str]]:
        return [
            (self.temporary_uploads, f"{self.temporary_uploads} expired temporary upload(s)"),
            (self.temporary_files, f"{self.temporary_files} temporary file(s)"),
            (self.sessions_expired, f"{self.sessions_expired} upload session(s) expired"),
            (self.sessions_deleted, f"{self.sessions_deleted} finished session(s) deleted"),
            (self.blobs, f"{self.blobs} unreferenced blob(s)"),
            (self.stray_objects, f"{self.stray_objects} stray object(s)"),
            (self.stray_temp_files, f"{self.stray_temp_files} stray temp file(s)"),
            (self.sync_chunks, f"{self.sync_chunks} unused sync chunk(s)"),
        ]

    @property
    def removed_anything(self) -> bool:
        return any(count for count, _text in self._counts())

    def summary(self) -> str:
        """The report as one line, for the log and the ``sweep`` command."""
        if self.skipped:
            return f"sweep skipped: another sweeper holds the lease ({self.lease_holder})"
        parts = [text for count, text in self._counts() if count]
        line = "sweep: " + (", ".join(parts) if parts else "nothing to remove")
        if self.stray_scan:
            line += "; storage scanned for strays"
        return line + ("; stopped early" if self.interrupted else "")


def sweep_once(
    runtime: Runtime,
    now: datetime,
    *,
    full_scan: bool = False,
    stop: threading.Event | None = None,
) -> SweepReport:
    """Run one sweep as of ``now`` (timezone-aware); the steps are in the module docstring.

    Skips (``report.skipped``) when another process holds the sweeper lease. ``full_scan``
    lists the storage for strays even if that was done less than an hour ago; ``stop`` lets a
    shutting-down thread end the sweep between batches.
    """
    if now.tzinfo is None:
        raise ValueError("sweep_once needs a timezone-aware datetime")
    sweep = _Sweep(runtime, now, stop)
    if not acquire_lease(runtime.db, LEASE_NAME, sweep.holder, now, LEASE_TTL):
        return SweepReport(skipped=True, lease_holder=lease_holder(runtime.db, LEASE_NAME))
    try:
        sweep.run(full_scan)
    finally:
        release_lease(runtime.db, LEASE_NAME, sweep.holder)
    if sweep.report.removed_anything:
        logger.info(sweep.report.summary())
    return sweep.report


class _Sweep:
    """One sweep: its clock, its lease holder name and what it removed so far."""

    def __init__(self, runtime: Runtime, now: datetime, stop: threading.Event | None) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.store = runtime.store
        self.now = now
        self.cutoff = now - GRACE_PERIOD
        self.holder = new_lease_holder()
        self.report = SweepReport()
        self._stop = stop
        self._started = time.monotonic()
        self._renewed = now

    def run(self, full_scan: bool) -> None:
        self.expire_temporary_uploads()
        self.expire_upload_sessions()
        self.delete_finished_sessions()
        self.collect_blobs()
        if self.keep_going():
            from upload_service.services.sync import sweep_staged_chunks

            self.report.sync_chunks += sweep_staged_chunks(self.runtime, self.now)
        if self.keep_going() and (full_scan or self.claim_stray_scan()):
            self.report.stray_scan = True
            self.remove_stray_objects()
            self.remove_stray_temp_files()

    def keep_going(self) -> bool:
        """False once asked to stop or once the lease is lost; renews the lease as it goes."""
        if self._stop is not None and self._stop.is_set():
            self.report.interrupted = True
            return False
        # The lease clock runs from the given ``now`` (tests sweep in the future).
        lease_now = self.now + timedelta(seconds=time.monotonic() - self._started)
        if lease_now - self._renewed < _LEASE_RENEW_EVERY:
            return True
        if not acquire_lease(self.db, LEASE_NAME, self.holder, lease_now, LEASE_TTL):
            logger.warning("sweeper lease taken over by another process; stopping this sweep")
            self.report.interrupted = True
            return False
        self._renewed = lease_now
        return True

    def expire_temporary_uploads(self) -> None:
        expired = TemporaryUpload.expires_at < self.now
        while self.keep_going():
            with self.db.session() as session:
                batch = select(TemporaryUpload.id).where(expired).limit(BATCH_SIZE)
                ids = list(session.scalars(batch))
                if not ids:
                    return
                # Persisted files no longer carry the token: only unclaimed files go.
                unclaimed = File.temp_upload_id.in_(ids) & (File.state == "temporary")
                files = _count(session, delete(File).where(unclaimed))
                uploads = _count(
                    session, delete(TemporaryUpload).where(TemporaryUpload.id.in_(ids), expired)
                )
            self.report.temporary_files += files
            self.report.temporary_uploads += uploads

    def expire_upload_sessions(self) -> None:
        expired = (UploadSession.state == "pending") & (UploadSession.expires_at < self.now)
        while self.keep_going():
            with self.db.session() as session:
                query = select(UploadSession.id, UploadSession.staging_key).where(expired)
                rows = session.execute(query.limit(BATCH_SIZE)).all()
            if not rows:
                return
            for row in rows:
                if row.staging_key:
                    self.delete_object(row.staging_key)
            ids = [row.id for row in rows]
            with self.db.session() as session:
                marked = update(UploadSession).where(UploadSession.id.in_(ids), expired)
                count = _count(session, marked.values(state="expired"))
            self.report.sessions_expired += count
            if not count:  # all of them finished meanwhile; nothing is left to do here
                return

    def delete_finished_sessions(self) -> None:
        if not self.keep_going():
            return
        long_ago = self.now - FINISHED_SESSION_RETENTION
        finished = (UploadSession.state != "pending") & (UploadSession.expires_at < long_ago)
        with self.db.session() as session:
            self.report.sessions_deleted += _count(session, delete(UploadSession).where(finished))

    def collect_blobs(self) -> None:
        # A blob is referenced by files only; its chunk index (blob_chunks) goes with it.
        collectable = (Blob.last_used_at < self.cutoff) & ~exists().where(File.blob_id == Blob.id)
        while self.keep_going():
            with self.db.session() as session:
                ids = list(session.scalars(select(Blob.id).where(collectable).limit(BATCH_SIZE)))
                if not ids:
                    return
                gone = delete(Blob).where(Blob.id.in_(ids), collectable)
                keys = list(
                    session.scalars(gone.returning(Blob.storage_key), execution_options=_BULK)
                )
            for key in keys:  # after the commit: a crash here leaves only stray objects
                self.delete_object(key)
            self.report.blobs += len(keys)
            if not keys:
                return

    def claim_stray_scan(self) -> bool:
        """True at most once per STRAY_SCAN_INTERVAL, whichever process or host asks."""
        return acquire_lease(
            self.db, STRAY_SCAN_LEASE_NAME, new_lease_holder(), self.now, STRAY_SCAN_INTERVAL
        )

    def remove_stray_objects(self) -> None:
        candidates: list[str] = []
        for stat in self.store.iter_blobs():  # keys under other prefixes are not ours to judge
            if stat.key.startswith(_SWEPT_PREFIXES) and stat.modified_at < self.cutoff:
                candidates.append(stat.key)
            if len(candidates) >= BATCH_SIZE:
                self.remove_unreferenced(candidates)
                candidates = []
                if not self.keep_going():
                    return
        self.remove_unreferenced(candidates)

    def remove_unreferenced(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        with self.db.session() as session:
            referenced = _referenced_keys(session, keys, self.now)
        for key in keys:
            if key not in referenced and self.delete_object(key):
                self.report.stray_objects += 1

    def remove_stray_temp_files(self) -> None:
        finder = getattr(self.store, "iter_stray_temp_files", None)
        if finder is None:  # only the local store writes through temp files
            return
        for path in list(finder(self.cutoff)):
            try:
                path.unlink()
            except FileNotFoundError:  # its write finished or failed meanwhile
                continue
            self.report.stray_temp_files += 1

    def delete_object(self, key: str) -> bool:
        try:
            self.store.delete(key)
        except ValueError:  # not a key this store accepts: nothing of ours to delete
            logger.warning("sweeper: cannot delete %r: not a valid storage key", key)
            return False
        return True


def _referenced_keys(session: Session, keys: Sequence[str], now: datetime) -> set[str]:
    """Those of ``keys`` that a blob row or a live upload session refers to, and thumbnails
    of bytes some blob still has."""
    referenced = set(session.scalars(select(Blob.storage_key).where(Blob.storage_key.in_(keys))))
    referenced |= _thumbnails_in_use(session, keys)
    staged = {key: _key_and_parents(key) for key in keys if key.startswith(STAGING_PREFIX)}
    if not staged:
        return referenced
    names = {name for candidates in staged.values() for name in candidates}
    live = set(
        session.scalars(
            select(UploadSession.staging_key).where(
                UploadSession.staging_key.in_(names),
                UploadSession.state == "pending",
                UploadSession.expires_at >= now,
            )
        )
    )
    return referenced | {key for key, candidates in staged.items() if live & candidates}


def _thumbnails_in_use(session: Session, keys: Sequence[str]) -> set[str]:
    sources = {key: thumbnails.source_sha256(key) for key in keys}
    wanted = {sha256 for sha256 in sources.values() if sha256}
    if not wanted:
        return set()
    present = set(session.scalars(select(Blob.sha256).where(Blob.sha256.in_(wanted)).distinct()))
    return {key for key, sha256 in sources.items() if sha256 in present}


def _key_and_parents(key: str) -> set[str]:
    """``staging/a/b`` → ``{staging/a/b, staging/a}``: a session may stage under a prefix."""
    parts = key.split("/")
    return {"/".join(parts[:end]) for end in range(2, len(parts) + 1)}


def _count(session: Session, statement: Executable) -> int:
    """Run an UPDATE or DELETE and return how many rows it touched."""
    result = session.execute(statement, execution_options=_BULK)
    return cast(CursorResult[Any], result).rowcount


# -- leases: one named, expiring lock shared by every process and host -------------------------


def new_lease_holder() -> str:
    """``host:pid:random``: unique per sweep, and tells an operator where a lease is held."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


def acquire_lease(db: Database, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew lease ``name`` until ``now + ttl``; False while someone else holds it.

    Atomic on both backends: the conditional UPDATE is one statement (on PostgreSQL a
    concurrent one waits and re-checks the condition), and the first INSERT is guarded by the
    primary key.
    """
    until = now + ttl
    free_or_mine = (Lease.name == name) & or_(Lease.expires_at < now, Lease.holder == holder)
    with db.session() as session:
        taken = _count(
            session, update(Lease).where(free_or_mine).values(holder=holder, expires_at=until)
        )
        if taken or session.get(Lease, name) is not None:
            return bool(taken)
    try:
        with db.session() as session:
            session.add(Lease(name=name, holder=holder, expires_at=until))
    except IntegrityError:  # another process created it first
        return False
    return True


def release_lease(db: Database, name: str, holder: str) -> None:
    with db.session() as session:
        _count(session, delete(Lease).where(Lease.name == name, Lease.holder == holder))


def lease_holder(db: Database, name: str) -> str | None:
    with db.session() as session:
        lease = session.get(Lease, name)
        return f"{lease.holder} until {lease.expires_at:%Y-%m-%d %H:%M:%S}Z" if lease else None


# -- the thread inside the server --------------------------------------------------------------


class SweeperThread(threading.Thread):
    """Runs :func:`sweep_once` every ``interval`` seconds until :meth:`stop` is called.

    A daemon thread, so it never holds up process exit; a sweep cut short by exit is finished by
    the next one. Errors are logged and the thread carries on.
    """

    def __init__(self, runtime: Runtime, interval: float) -> None:
        super().__init__(name=THREAD_NAME, daemon=True)
        self.runtime = runtime
        self.interval = interval
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(self.interval):
            self.sweep()

    def sweep(self) -> SweepReport | None:
        try:
            return sweep_once(self.runtime, utcnow(), stop=self._stopping)
        except Exception:
            logger.exception("sweep failed; the next one will retry")
            return None

    def stop(self, timeout: float = 10.0) -> bool:
        """Ask the thread to finish and wait up to ``timeout`` seconds; True once it has."""
        self._stopping.set()
        atexit.unregister(self.stop)
        if self.ident is not None and self is not threading.current_thread():
            self.join(timeout)
        return not self.is_alive()


def start_sweeper(runtime: Runtime) -> SweeperThread | None:
    """Start the sweeper thread of this process, unless ``SWEEP_INTERVAL`` is 0.

    Called by ``create_app``, which gunicorn runs in every worker after the fork (the app is not
    preloaded), so each worker has a live thread; the lease keeps their sweeps from overlapping.
    """
    interval = runtime.settings.SWEEP_INTERVAL
    if interval <= 0:
        return None
    thread = SweeperThread(runtime, interval)
    thread.start()
    atexit.register(thread.stop)
    return thread
