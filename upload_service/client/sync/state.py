"""What the sync client remembers between passes, in the user's state directory (never in DIR).

One SQLite file per (server, remote folder, local folder):

* ``local``: the stat cache. A file whose device, inode, size and mtime are those recorded is not
  read again; its digest and chunk list come from here.
* ``synced``: for each path, the SHA-256 the server had there after our last action: the base of
  the next change (the server refuses it with 409 when someone else changed the file since), and
  what a local delete or move may remove on the server (``If-Match``). ``conflict`` is the local
  digest last sent up as a conflict copy, so the same conflict is not copied twice.
* ``folders``: the folders the last pass mirrored, so a local rmdir can be mirrored too.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_state_dir

from upload_service.client.errors import ClientError, ExitCode
from upload_service.client.sync.chunks import Cut
from upload_service.client.sync.scan import Stat

_SCHEMA = """
CREATE TABLE IF NOT EXISTS local (
    path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER, size INTEGER, mtime_ns INTEGER,
    sha256 TEXT, chunks TEXT
);
CREATE TABLE IF NOT EXISTS synced (path TEXT PRIMARY KEY, sha256 TEXT, conflict TEXT);
CREATE TABLE IF NOT EXISTS folders (path TEXT PRIMARY KEY);
"""


@dataclass(frozen=True)
class Synced:
    sha256: str
    conflict: str | None = None


def state_file(server: str, remote: str, root: Path) -> Path:
    key = "\0".join((server.rstrip("/"), remote, str(root.resolve())))
    name = hashlib.sha256(key.encode()).hexdigest()[:24] + ".sqlite"
    return Path(user_state_dir("upload-service")) / "sync" / name


class SyncState:
    """The state of one folder pair; held locked while open (one sync per pair at a time)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = open(path.with_suffix(".lock"), "a")  # noqa: SIM115 (held until close)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise ClientError(
                "another upload-client sync of this folder is running", ExitCode.CONFLICT
            ) from None
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        os.chmod(path, 0o600)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Many writes in one commit (the scan records thousands of stat cache rows)."""
        self.db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()
        self._lock.close()

    # ------------------------------------------------------------------ the stat cache

    def cached_cuts(self) -> dict[str, tuple[Stat, Cut]]:
        rows = self.db.execute("SELECT path, dev, ino, size, mtime_ns, sha256, chunks FROM local")
        return {
            path: (
                Stat(dev, ino, size, mtime_ns),
                Cut(sha, size, tuple((c, n) for c, n in json.loads(chunks))),
            )
            for path, dev, ino, size, mtime_ns, sha, chunks in rows
        }

    def remember_cut(self, path: str, stat: Stat, cut: Cut) -> None:
        row = (path, stat.dev, stat.ino, stat.size, stat.mtime_ns, cut.sha256)
        self.db.execute(
            "INSERT OR REPLACE INTO local VALUES (?, ?, ?, ?, ?, ?, ?)",
            (*row, json.dumps(cut.chunks)),
        )

    def forget_cuts(self, paths: list[str]) -> None:
        self.db.executemany("DELETE FROM local WHERE path = ?", [(p,) for p in paths])

    # ------------------------------------------------------------------ what the server has

    def synced(self) -> dict[str, Synced]:
        rows = self.db.execute("SELECT path, sha256, conflict FROM synced")
        return {path: Synced(sha, conflict) for path, sha, conflict in rows}

    def set_synced(self, path: str, sha256: str, conflict: str | None = None) -> None:
        self.db.execute("INSERT OR REPLACE INTO synced VALUES (?, ?, ?)", (path, sha256, conflict))

    def forget_synced(self, path: str) -> None:
        self.db.execute("DELETE FROM synced WHERE path = ?", (path,))

    def folders(self) -> set[str]:
        return {path for (path,) in self.db.execute("SELECT path FROM folders")}

    def set_folders(self, paths: set[str]) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM folders")
            self.db.executemany("INSERT INTO folders VALUES (?)", [(p,) for p in sorted(paths)])
