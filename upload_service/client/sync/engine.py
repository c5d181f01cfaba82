"""One sync pass: scan, plan, and push the plan to the server, recording each step as it lands.

Every step is one request the server applies atomically (a commit, a move, a delete), and the
state is written right after it, so a pass cut at any point (Ctrl-C, SIGTERM, the server going
away) leaves the server with old or new files, never a mix, and the next pass goes on from there.
Chunks already sent stay on the server, so an interrupted upload is not sent again.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from pathspec import GitIgnoreSpec

from upload_service.client.api import Api
from upload_service.client.errors import ClientError, ExitCode
from upload_service.client.output import Advance, note, progress_bar
from upload_service.client.remote import join
from upload_service.client.sync.chunks import Cut, cut_file, read_range
from upload_service.client.sync.plan import (
    FolderMove,
    LocalFile,
    Move,
    Plan,
    Upload,
    make_plan,
)
from upload_service.client.sync.scan import Stat, Tree, load_ignores, scan
from upload_service.client.sync.state import SyncState
from upload_service.schemas.sync import CHUNKER, MAX_CHUNK
from upload_service.schemas.units import human_size

Result = TypeVar("Result")

# Waits between tries when the server is unreachable or overloaded; the last one repeats.
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
ONE_SHOT_RETRIES = 10  # about three minutes; --watch retries until it is stopped
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Stat cache entries are written only for files last modified this long before they were read.
RACY_NS = 2_000_000_000
WORKERS = 4  # files sent at once, each over its own connection
WHOLE_BELOW = MAX_CHUNK  # smaller files are sent whole, in one request
# New files up to BATCH_FILE go up together: BATCH_FILES of one folder, or BATCH_BYTES, a request.
BATCH_FILE = 1024 * 1024
BATCH_FILES = 100
BATCH_BYTES = 8 * 1024 * 1024
# Multipart file names pass through browser-compatibility rules (a backslash starts a Windows
# path, quotes and non-ASCII need escapes): only plain names are batched, others go by path.
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._()+,=@~-]*")


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
        # a path refused again in the later pass is one failure, not two
        self.failed = list(dict(self.failed + other.failed).items())

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
class Retry:
    """A batch to send again file by file."""

    uploads: list[Upload]


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
        ignores = load_ignores(self.root)
        tree = scan(self.root, ignores)
        if "." in tree.unreadable or not self.root.is_dir():
            # an unmounted disk must not look like a folder whose files were all deleted
            raise ClientError(f"cannot read the local folder {self.root}", ExitCode.NOT_FOUND)
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
        """Digest of every file: from the stat cache, or read now (``WORKERS`` files at once)."""
        self._cache = self.state.cached_cuts()
        self._cuts = {}
        now_ns = time.time_ns()
        to_read: list[tuple[str, Stat]] = []
        for path, stat in tree.files.items():
            cached = self._cache.get(path)
            if cached is not None and cached[0] == stat and _fits(cached[1]):
                self._cuts[path] = cached[1]
            elif self.settle and now_ns - stat.mtime_ns < self.settle * 1e9:
                summary.waiting.append(path)  # still being written, perhaps
            else:
                to_read.append((path, stat))
        with ThreadPoolExecutor(WORKERS) as pool:  # hashlib releases the GIL
            cuts = list(pool.map(lambda item: self._read(tree, *item), to_read))
        with self.state.transaction():
            for (path, stat), cut in zip(to_read, cuts, strict=True):
                if isinstance(cut, OSError):
                    tree.unreadable.append(path)
                elif cut is None:
                    summary.waiting.append(path)
                else:
                    self._cuts[path] = cut
                    if time.time_ns() - stat.mtime_ns > RACY_NS:
                        self.state.remember_cut(path, stat, cut)
            self.state.forget_cuts([p for p in self._cache if p not in tree.files])
        self._local = {p: LocalFile(tree.files[p], cut.sha256) for p, cut in self._cuts.items()}
        return self._local

    def _read(self, tree: Tree, path: str, stat: Stat) -> Cut | OSError | None:
        """The file's digest (and chunks, if it is big enough to be sent as a delta).

        None when it changed while it was read, or vanished: the next pass sees it as it is then.
        A stat cache entry is only kept for files last modified a while before they were read:
        a write within the same mtime tick as our read would otherwise go unnoticed.
        """
        local_path = tree.local_path(self.root, path)
        try:
            cut = cut_file(local_path, chunked=stat.size >= WHOLE_BELOW)
            after = _stat_now(local_path)
        except FileNotFoundError:
            return None
        except OSError as error:
            return error
        if after != stat or cut.size != stat.size:
            return None
        return cut

    # ------------------------------------------------------------------ applying the plan

    def _apply(self, plan: Plan, tree: Tree, summary: Summary) -> None:
        for path, sha in plan.adopt:
            self.state.set_synced(path, sha)
        for path in plan.forget:
            self.state.forget_synced(path)
        for folder_move in plan.folder_moves:
            target = folder_move.target + "/"
            self._step(summary, target, partial(self._move_folder, folder_move, plan, summary))
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

    def _move_folder(self, move: FolderMove, plan: Plan, summary: Summary) -> None:
        try:
            self._call(self.api.move, self._remote(move.source), self._remote(move.target))
        except ClientError as error:
            if error.status not in (404, 409):
                raise
            plan.moves.extend(move.files)  # something changed meanwhile: file by file
            return
        for file in move.files:
            self.state.forget_synced(file.source)
            self.state.set_synced(file.target, file.sha256)
        summary.moved += len(move.files)

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
        """The uploads, ``WORKERS`` at a time; each outcome is recorded here, in this thread.

        Small new files go up in batches (one multipart request per folder and batch); a
        batch the server refuses as a whole is sent again file by file.
        """
        total = sum(self._cuts[u.path].size for u in plan.uploads)
        batches, singles = self._batches(plan.uploads)
        with progress_bar("sync", total) as advance, ThreadPoolExecutor(WORKERS) as pool:
            pending: dict[Future[Any], list[Upload]] = {}
            for batch in batches:
                pending[pool.submit(self._upload_batch, tree, batch, advance)] = batch
            for upload in singles:
                pending[pool.submit(self._upload, tree, upload, advance)] = [upload]
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        uploads = pending.pop(future)
                        for retry in self._collect(future, uploads, summary):
                            pending[pool.submit(self._upload, tree, retry, advance)] = [retry]
            except BaseException:
                self._abort.set()  # the other workers stop between two requests
                pool.shutdown(cancel_futures=True)
                raise

    def _collect(
        self, future: Future[Any], uploads: list[Upload], summary: Summary
    ) -> list[Upload]:
        """Record what a finished task did; the uploads of a refused batch, to send one by one."""
        path = uploads[0].path if len(uploads) == 1 else f"{len(uploads)} files"
        result = self._outcome(summary, path, future.result)
        if isinstance(result, Retry):
            return result.uploads
        for outcome in [result] if isinstance(result, Outcome) else result or []:
            self._record(outcome, summary)
        return []

    def _batches(self, uploads: list[Upload]) -> tuple[list[list[Upload]], list[Upload]]:
        by_folder: dict[str, list[Upload]] = {}
        singles: list[Upload] = []
        for upload in uploads:
            name = upload.path.rpartition("/")[2]
            if upload.new and self._cuts[upload.path].size <= BATCH_FILE and _PLAIN.fullmatch(name):
                by_folder.setdefault(upload.path.rpartition("/")[0], []).append(upload)
            else:
                singles.append(upload)
        batches: list[list[Upload]] = []
        for group in by_folder.values():
            if len(group) == 1:
                singles += group
                continue
            batch: list[Upload] = []
            size = 0
            for upload in group:
                if batch and (len(batch) == BATCH_FILES or size >= BATCH_BYTES):
                    batches.append(batch)
                    batch, size = [], 0
                batch.append(upload)
                size += self._cuts[upload.path].size
            batches.append(batch)
        return batches, singles

    def _upload_batch(
        self, tree: Tree, uploads: list[Upload], advance: Advance
    ) -> list[Outcome] | Retry:
        """New small files of one folder in one request (in a worker thread)."""
        api = self._thread_api()
        parts: list[tuple[str, bytes]] = []
        for upload in uploads:
            self._check_going()
            local_path = tree.local_path(self.root, upload.path)
            data = read_range(local_path, 0, self._cuts[upload.path].size)
            # multipart parts carry no digest for the server to check: a file written to since
            # it was hashed goes one by one, where the server checks it (and it then waits)
            if data is None or _stat_now(local_path) != self._local[upload.path].stat:
                return Retry(uploads)
            parts.append((upload.path.rpartition("/")[2], data))
        folder = self._remote(uploads[0].path.rpartition("/")[0])
        try:
            files = self._call(api.upload_batch, folder, parts)
        except ClientError as error:
            if error.exit_code == ExitCode.UNREACHABLE:
                raise
            return Retry(uploads)  # a name taken meanwhile, over a limit, ...: one by one
        sent = sum(len(data) for _, data in parts)
        advance(sent)
        expected = [self._remote(u.path) for u in uploads]
        if [f.path for f in files] != expected:
            raise ClientError(f"the server stored a batch under other names: {files[0].path}")
        outcomes = [Outcome(u.path, f.sha256) for u, f in zip(uploads, files, strict=True)]
        return [*outcomes[:-1], Outcome(uploads[-1].path, files[-1].sha256, sent=sent)]

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
            data = read_range(send.local_path, 0, cut.size)
            if data is None:
                raise Changed
            with _changed_on_422():
                self._call(
                    send.api.put_stream,
                    remote_path,
                    data,
                    on_conflict="error",  # with If-Match, the matching file is replaced
                    content_type=None,
                    sha256=cut.sha256,
                    if_match=base,
                )
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
            data = read_range(send.local_path, offset, length)
            if data is None:
                raise Changed
            with _changed_on_422():
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


def _stat_now(path: Path) -> Stat | None:
    try:
        return Stat.of(os.stat(path, follow_symlinks=False))
    except FileNotFoundError:
        return None


def _fits(cut: Cut) -> bool:
    """Does a cached cut have what this version sends (chunks for files sent as deltas)?"""
    return cut.size < WHOLE_BELOW or bool(cut.chunks)


@contextmanager
def _changed_on_422() -> Iterator[None]:
    """The server found the bytes do not hash to what we read before: the file changed."""
    try:
        yield
    except ClientError as error:
        if error.status == 422:
            raise Changed from error
        raise


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
