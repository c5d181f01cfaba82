"""One sync pass: scan, plan, and push the plan to the server, recording each step as it lands.

Every step is one request the server applies atomically (a commit, a move, a delete), and the
state is written right after it, so a pass cut at any point (Ctrl-C, SIGTERM, the server going
away) leaves the server with old or new files, never a mix, and the next pass goes on from there.
Chunks already sent stay on the server, so an interrupted upload is not sent again.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path, PurePosixPath
from typing import TypeVar

from pathspec import GitIgnoreSpec

from upload_service.client.api import Api
from upload_service.client.errors import ClientError, ExitCode
from upload_service.client.output import Advance, note, progress_bar
from upload_service.client.remote import join
from upload_service.client.sync.chunks import Cut, cut_file, read_chunk
from upload_service.client.sync.plan import LocalFile, Move, Plan, Upload, make_plan
from upload_service.client.sync.scan import Stat, Tree, load_ignores, scan
from upload_service.client.sync.state import SyncState
from upload_service.schemas.sync import CHUNKER, MAX_CHUNK
from upload_service.schemas.units import human_size

Result = TypeVar("Result")

# Waits between tries when the server is unreachable or overloaded; the last one repeats.
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
ONE_SHOT_RETRIES = 10  # about three minutes; --watch retries until it is stopped
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# A stat cache entry is trusted only for files last modified this long before they were read:
# a write within the same mtime tick as our read would otherwise go unnoticed.
RACY_NS = 2_000_000_000
WORKERS = 4  # files sent at once, each over its own connection
WHOLE_BELOW = MAX_CHUNK  # smaller files are sent whole, in one request


class Stopped(Exception):
    """The user asked to stop (SIGINT/SIGTERM in --watch): end the pass between two steps."""


class Changed(Exception):
    """The file changed while it was being read or sent: it waits for the next pass."""


@dataclass
class Summary:
    uploaded: int = 0
    moved: int = 0
    deleted: int = 0
    folders: int = 0
    conflicts: int = 0
    bytes_sent: int = 0
    waiting: list[str] = field(default_factory=list)  # still being written: the next pass
    failed: list[tuple[str, ClientError]] = field(default_factory=list)

    def add(self, other: Summary) -> None:
        """Fold a later pass into this one (one-shot tries busy files again)."""
        self.uploaded += other.uploaded
        self.moved += other.moved
        self.deleted += other.deleted
        self.folders += other.folders
        self.conflicts += other.conflicts
        self.bytes_sent += other.bytes_sent
        self.waiting = other.waiting
        self.failed += other.failed

    def changed_anything(self) -> bool:
        return bool(self.uploaded or self.moved or self.deleted or self.folders or self.conflicts)

    def line(self) -> str:
        """``sync: 3 uploaded, 1 moved, 2 deleted, 1.2 MiB sent`` (or ``up to date``)."""
        counts = [
            (self.uploaded, "uploaded"),
            (self.moved, "moved"),
            (self.deleted, "deleted"),
            (self.folders, "folder changes"),
            (self.conflicts, "conflicts (both kept)"),
            (len(self.failed), "failed"),
        ]
        parts = [f"{count} {what}" for count, what in counts if count]
        if not parts:
            return f"sync: up to date, {human_size(self.bytes_sent)} sent"
        return f"sync: {', '.join(parts)}, {human_size(self.bytes_sent)} sent"


@dataclass(frozen=True)
class Send:
    """One local file on its way up, through one thread's connection."""

    api: Api
    local_path: Path
    cut: Cut
    mtime: float
    advance: Advance


@dataclass(frozen=True)
class Outcome:
    """What an upload left on the server: ``synced`` at ``path`` (and ours at ``copy``)."""

    path: str
    synced: str
    conflict: str | None = None  # our digest, sent up as the conflict copy ``copy``
    copy: str | None = None
    sent: int = 0


@dataclass
class Syncer:
    api: Api
    root: Path
    remote: str
    state: SyncState
    stop: threading.Event = field(default_factory=threading.Event)
    settle: float = 0.0  # --watch: files modified less than this many seconds ago wait
    retry_forever: bool = False
    reported: set[str] = field(default_factory=set)
    _cache: dict[str, tuple[Stat, Cut]] = field(default_factory=dict, init=False)
    _cuts: dict[str, Cut] = field(default_factory=dict, init=False)
    _local: dict[str, LocalFile] = field(default_factory=dict, init=False)
    _reached: bool = field(default=False, init=False)  # the server answered once
    _abort: threading.Event = field(default_factory=threading.Event, init=False)
    _threads: threading.local = field(default_factory=threading.local, init=False)
    _apis: list[Api] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    # ------------------------------------------------------------------ one pass

    def run_pass(self) -> Summary:
        self._abort.clear()
        summary = Summary()
        tree = scan(self.root)
        if "." in tree.unreadable or not self.root.is_dir():
            # an unmounted disk must not look like a folder whose files were all deleted
            raise ClientError(f"cannot read the local folder {self.root}", ExitCode.NOT_FOUND)
        ignores = load_ignores(self.root)
        local = self._local_files(tree, summary)
        self._report_skipped(tree)
        manifest = self._call(self.api.sync_manifest, self.remote)
        remote = {f.path: f.sha256 for f in manifest.files}
        synced = self.state.synced()
        busy = set(summary.waiting) | set(tree.unreadable)
        busy_folders = tuple(path + "/" for path in tree.unreadable)
        for path in list(synced):
            untouchable = path in busy or path.startswith(busy_folders)
            if untouchable or _is_ignored(ignores, path):
                if not untouchable:
                    self.state.forget_synced(path)
                del synced[path]
        for path in list(remote):
            if path in busy or path.startswith(busy_folders):
                del remote[path]
        plan = make_plan(
            local,
            tree.folders,
            remote,
            set(manifest.folders),
            synced,
            self.state.folders(),
            {p: s for p, (s, _) in self._cache.items()},
        )
        self._apply(plan, tree, summary)
        return summary

    def _report_skipped(self, tree: Tree) -> None:
        for path in tree.symlinks:
            if path not in self.reported:
                self.reported.add(path)
                note(f"upload-client: {path}: a symbolic link, not followed")
        for path in tree.unreadable:
            if path not in self.reported:
                self.reported.add(path)
                note(f"upload-client: {path}: cannot be read, left out")

    # ------------------------------------------------------------------ local digests

    def _local_files(self, tree: Tree, summary: Summary) -> dict[str, LocalFile]:
        """Digest and chunks of every file: from the stat cache, or read once now."""
        self._cache = self.state.cached_cuts()
        self._cuts = {}
        local: dict[str, LocalFile] = {}
        now_ns = time.time_ns()
        with self.state.transaction():
            for path, stat in tree.files.items():
                try:
                    cut = self._cut(tree, path, stat, now_ns)
                except OSError:
                    tree.unreadable.append(path)
                    continue
                if cut is None:
                    summary.waiting.append(path)
                    continue
                self._cuts[path] = cut
                local[path] = LocalFile(stat, cut.sha256)
            self.state.forget_cuts([p for p in self._cache if p not in tree.files])
        self._local = local
        return local

    def _cut(self, tree: Tree, path: str, stat: Stat, now_ns: int) -> Cut | None:
        cached = self._cache.get(path)
        if cached is not None and cached[0] == stat:
            return cached[1]
        if self.settle and now_ns - stat.mtime_ns < self.settle * 1e9:
            return None  # still being written, perhaps
        local_path = tree.local_path(self.root, path)
        try:
            cut = cut_file(local_path)
            after = Stat.of(os.stat(local_path, follow_symlinks=False))
        except FileNotFoundError:
            return None  # deleted meanwhile: the next pass sees it gone
        if after != stat or cut.size != stat.size:
            return None  # written to while we read it
        if time.time_ns() - stat.mtime_ns > RACY_NS:
            self.state.remember_cut(path, stat, cut)
        return cut

    # ------------------------------------------------------------------ applying the plan

    def _apply(self, plan: Plan, tree: Tree, summary: Summary) -> None:
        for path, sha in plan.adopt:
            self.state.set_synced(path, sha)
        for path in plan.forget:
            self.state.forget_synced(path)
        for move in plan.moves:
            self._step(summary, move.target, partial(self._move, move, plan, summary))
        self._send_all(plan, tree, summary)
        for path, sha in plan.deletes:
            self._step(summary, path, partial(self._delete, path, sha, summary))
        for folder in plan.mkdirs:
            self._step(summary, folder + "/", partial(self._mkdir, folder, summary))
        for folder in plan.rmdirs:
            self._step(summary, folder + "/", partial(self._rmdir, folder, summary))
        if not self.stop.is_set():
            self.state.set_folders(self._mirrored_folders(tree, summary))

    def _step(self, summary: Summary, path: str, action: Callable[[], None]) -> None:
        """Run one step; a refusal is recorded against ``path`` and the pass goes on."""
        self._check_going()
        self._outcome(summary, path, action)

    def _outcome(self, summary: Summary, path: str, action: Callable[[], Result]) -> Result | None:
        """``action()``; None when it was refused (noted in ``summary``) or must wait."""
        try:
            return action()
        except Changed:
            summary.waiting.append(path)
        except ClientError as error:
            if error.exit_code == ExitCode.UNREACHABLE:
                raise
            summary.failed.append((path, error))
            note(f"upload-client: could not sync {path}: {error.message}")
        return None

    def _mirrored_folders(self, tree: Tree, summary: Summary) -> set[str]:
        failed = {path.rstrip("/") for path, _ in summary.failed}
        return {f for f in tree.folders if f not in failed}

    def _remote(self, path: str) -> str:
        return join(self.remote, path)

    # ------------------------------------------------------------------ the steps

    def _move(self, move: Move, plan: Plan, summary: Summary) -> None:
        try:
            self._call(
                self.api.move,
                self._remote(move.source),
                self._remote(move.target),
                if_match=move.sha256,
            )
        except ClientError as error:
            if error.status not in (404, 409, 412):
                raise
            # the server's file changed or went away meanwhile: send the file instead
            self.state.forget_synced(move.source)
            plan.uploads = [u for u in plan.uploads if u.path != move.target]
            plan.uploads.append(Upload(move.target, None))
            return
        self.state.forget_synced(move.source)
        self.state.set_synced(move.target, move.sha256)
        summary.moved += 1

    def _send_all(self, plan: Plan, tree: Tree, summary: Summary) -> None:
        """The uploads, ``WORKERS`` at a time; each outcome is recorded here, in this thread."""
        total = sum(self._cuts[u.path].size for u in plan.uploads)
        with progress_bar("sync", total) as advance, ThreadPoolExecutor(WORKERS) as pool:
            futures = {pool.submit(self._upload, tree, u, advance): u.path for u in plan.uploads}
            try:
                for future in as_completed(futures):
                    path = futures[future]
                    outcome = self._outcome(summary, path, future.result)
                    if outcome is not None:
                        self._record(outcome, summary)
            except BaseException:
                self._abort.set()  # the other workers stop between two requests
                pool.shutdown(cancel_futures=True)
                raise

    def _record(self, outcome: Outcome, summary: Summary) -> None:
        self.state.set_synced(outcome.path, outcome.synced, conflict=outcome.conflict)
        summary.bytes_sent += outcome.sent
        if outcome.copy is None:
            summary.uploaded += 1
            return
        summary.conflicts += 1
        note(
            f"upload-client: {outcome.path} changed on the server too; yours is now {outcome.copy}"
        )

    def _upload(self, tree: Tree, upload: Upload, advance: Advance) -> Outcome:
        """One file up (in a worker thread): what the server has at its path afterwards."""
        cut = self._cuts[upload.path]
        local_path = tree.local_path(self.root, upload.path)
        mtime = self._local[upload.path].stat.mtime_ns / 1e9
        send = Send(self._thread_api(), local_path, cut, mtime, advance)
        try:
            sent = self._push(send, self._remote(upload.path), upload.base)
        except ClientError as error:
            if error.status not in (409, 412):
                raise
            return self._keep_both(send, upload.path)
        return Outcome(upload.path, cut.sha256, sent=sent)

    def _keep_both(self, send: Send, path: str) -> Outcome:
        """The server's file changed since our base: ours goes up beside it, nothing is lost."""
        server = self._call(send.api.current_sha256, self._remote(path))
        if server is None:  # it was deleted meanwhile: ours takes the path after all
            sent = self._push(send, self._remote(path), None)
            return Outcome(path, send.cut.sha256, sent=sent)
        copy = conflict_name(path)
        sent = self._push(send, self._remote(copy), None)
        return Outcome(path, server, conflict=send.cut.sha256, copy=copy, sent=sent)

    def _push(self, send: Send, remote_path: str, base: str | None) -> int:
        """The file to ``remote_path`` unless the server has changed from ``base``; bytes sent.

        A file smaller than the largest chunk (``WHOLE_BELOW``) goes up in one ``PUT /api/fs``
        with ``If-Match``: one request instead of three, one write on the server instead of two,
        and a delta could save at most a chunk or two of it. Bigger files: prepare → the chunks
        the server lacks → commit.
        """
        cut = send.cut
        if cut.size < WHOLE_BELOW:
            data = read_chunk(send.local_path, 0, cut.size, cut.sha256)
            if data is None:
                raise Changed
            self._call(send.api.sync_put_small, remote_path, data, cut.sha256, base)
            send.advance(cut.size)
            return cut.size
        body = {
            "path": remote_path,
            "size": cut.size,
            "sha256": cut.sha256,
            "mtime": send.mtime,
            "chunker": CHUNKER,
            "chunks": [list(chunk) for chunk in cut.chunks],
            "base_sha256": base,
        }
        prepared = self._call(send.api.sync_prepare, body)
        if prepared.unchanged:
            send.advance(cut.size)
            return 0
        assert prepared.upload_id is not None
        missing = prepared.missing or []
        offsets = cut.offsets()
        send.advance(cut.size - sum(offsets[sha][1] for sha in missing))
        sent = 0
        for sha in missing:
            self._check_going()
            offset, length = offsets[sha]
            data = read_chunk(send.local_path, offset, length, sha)
            if data is None:
                raise Changed
            self._call(send.api.sync_put_chunk, sha, data)
            sent += length
            send.advance(length)
        self._call(send.api.sync_commit, prepared.upload_id)
        return sent

    def _thread_api(self) -> Api:
        api: Api | None = getattr(self._threads, "api", None)
        if api is None:
            api = self._threads.api = self.api.clone()
            with self._lock:
                self._apis.append(api)
        return api

    def close(self) -> None:
        for api in self._apis:
            api.close()

    def _check_going(self) -> None:
        if self.stop.is_set() or self._abort.is_set():
            raise Stopped

    def _delete(self, path: str, sha256: str, summary: Summary) -> None:
        try:
            self._call(self.api.delete_path, self._remote(path), if_match=sha256)
            summary.deleted += 1
        except ClientError as error:
            if error.status not in (404, 412):
                raise
            # gone already, or changed by someone else since: theirs stays
        self.state.forget_synced(path)

    def _mkdir(self, folder: str, summary: Summary) -> None:
        self._call(self.api.mkdir, self._remote(folder))
        summary.folders += 1

    def _rmdir(self, folder: str, summary: Summary) -> None:
        try:
            self._call(self.api.delete_path, self._remote(folder))
            summary.folders += 1
        except ClientError as error:
            if error.status not in (404, 409):
                raise
            # not empty on the server (files we never had): it stays

    # ------------------------------------------------------------------ retries

    def _call(self, function: Callable[..., Result], *args: object, **kwargs: object) -> Result:
        """``function(...)``, tried again with growing waits while the server is unavailable.

        A one-shot sync that cannot reach the server at all fails at once (exit 7); once it has
        reached it, it waits out a restart. ``--watch`` waits for as long as it takes.
        """
        for attempt in _attempts(self.retry_forever, self._reached):
            try:
                result = function(*args, **kwargs)
                self._reached = True
                return result
            except ClientError as error:
                if not _retryable(error) or attempt is None:
                    raise
                note(f"upload-client: {error.message}; trying again in {attempt:.0f} s")
                if self.stop.wait(attempt) or self._abort.is_set():
                    raise Stopped from None
        raise AssertionError("unreachable")


def _attempts(forever: bool, reached: bool) -> Iterator[float | None]:
    """The wait after each failed try; None for the last try."""
    tries = 0
    while forever or (reached and tries < ONE_SHOT_RETRIES):
        yield RETRY_DELAYS[min(tries, len(RETRY_DELAYS) - 1)]
        tries += 1
    yield None


def _retryable(error: ClientError) -> bool:
    return error.exit_code == ExitCode.UNREACHABLE or error.status in _RETRY_STATUSES


def _is_ignored(ignores: GitIgnoreSpec, path: str) -> bool:
    return bool(ignores.match_file(path))


def conflict_name(path: str, when: datetime | None = None) -> str:
    """``dir/name.conflict-YYYYmmdd-HHMMSS-host.ext``: the local version beside the server's."""
    stamp = (when or datetime.now()).strftime("%Y%m%d-%H%M%S")
    host = socket.gethostname().split(".")[0] or "host"
    pure = PurePosixPath(path)
    suffix = pure.suffix if pure.stem else ""
    stem = pure.name[: len(pure.name) - len(suffix)] if suffix else pure.name
    name = f"{stem}.conflict-{stamp}-{host}{suffix}"
    return str(pure.with_name(name))
