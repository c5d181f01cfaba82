"""What one pass must do, worked out from three views of the folder (a pure function).

* ``local``: what the folder holds now (digest and stat of each file, its folders);
* ``remote``: what the server holds now (its manifest);
* ``synced``: what the server held after our last pass (the base of each change).

Local is the source: files that are new or changed go up, files deleted locally are deleted on
the server, but only while the server still has the version we synced (``If-Match``); a file that
vanished and reappeared elsewhere with the same inode or the same digest is moved on the server,
never sent again. Files only the server has are left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from upload_service.client.sync.scan import Stat
from upload_service.client.sync.state import Synced


@dataclass(frozen=True)
class LocalFile:
    stat: Stat
    sha256: str


@dataclass(frozen=True)
class Upload:
    path: str
    base: str | None  # the server's digest we expect to replace (None: a new path)
    new: bool = False  # the server had nothing at this path (it may go up in a batch)


@dataclass(frozen=True)
class Move:
    source: str
    target: str
    sha256: str  # what the server must still have at ``source``


@dataclass
class Plan:
    moves: list[Move] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    adopt: list[tuple[str, str]] = field(default_factory=list)  # already there: (path, sha256)
    deletes: list[tuple[str, str]] = field(default_factory=list)  # (path, If-Match sha256)
    forget: list[str] = field(default_factory=list)  # synced paths nothing is to be done for
    mkdirs: list[str] = field(default_factory=list)
    rmdirs: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.moves or self.uploads or self.deletes or self.mkdirs or self.rmdirs)


def make_plan(
    local: Mapping[str, LocalFile],
    local_folders: set[str],
    remote: Mapping[str, str],
    remote_folders: set[str],
    synced: Mapping[str, Synced],
    synced_folders: set[str],
    last_seen: Mapping[str, Stat],
) -> Plan:
    """The actions, in the order they are to run: moves, uploads, deletes, folders."""
    plan = Plan()
    gone = {
        path: entry.sha256
        for path, entry in synced.items()
        if path not in local and remote.get(path) == entry.sha256
    }
    plan.forget = [p for p in synced if p not in local and p not in gone]
    moved_to = _moves(plan, local, remote, gone, last_seen)
    for path, file in sorted(local.items()):
        _compare(plan, path, file, remote, synced, moved_to.get(path))
    plan.deletes = sorted(gone.items())
    _folders(plan, local, local_folders, remote_folders, synced_folders)
    return plan


def _moves(
    plan: Plan,
    local: Mapping[str, LocalFile],
    remote: Mapping[str, str],
    gone: dict[str, str],
    last_seen: Mapping[str, Stat],
) -> dict[str, str]:
    """Pair vanished paths with new ones: same inode first, then same digest."""
    new = {path: file for path, file in local.items() if path not in remote}
    by_inode = {(s.dev, s.ino): path for path, s in last_seen.items() if path in gone}
    by_digest: dict[str, list[str]] = {}
    for path in sorted(gone):
        by_digest.setdefault(gone[path], []).append(path)
    moved_to: dict[str, str] = {}  # target → the digest the server has there after the move
    for target, file in sorted(new.items()):
        source = by_inode.get((file.stat.dev, file.stat.ino))
        if source is None or source not in gone:
            candidates = [p for p in by_digest.get(file.sha256, []) if p in gone]
            source = candidates[0] if candidates else None
        if source is None:
            continue
        sha = gone.pop(source)
        plan.moves.append(Move(source, target, sha))
        moved_to[target] = sha
    return moved_to


def _compare(
    plan: Plan,
    path: str,
    file: LocalFile,
    remote: Mapping[str, str],
    synced: Mapping[str, Synced],
    moved: str | None,
) -> None:
    server = moved if moved is not None else remote.get(path)
    known = synced.get(path)
    if server == file.sha256:
        if moved is None and (known is None or known.sha256 != server):
            plan.adopt.append((path, file.sha256))
        return
    if server is None:
        plan.uploads.append(Upload(path, None, new=True))
    elif moved is not None:
        plan.uploads.append(Upload(path, moved))  # moved, then changed: a delta on the moved file
    elif known is not None and known.conflict == file.sha256 and known.sha256 == server:
        return  # this version already went up as a conflict copy
    else:
        # the server changed since our base (or we never synced it): the server answers 409
        # and the local version goes up as a conflict copy
        plan.uploads.append(Upload(path, known.sha256 if known else None))


def _folders(
    plan: Plan,
    local: Mapping[str, LocalFile],
    local_folders: set[str],
    remote_folders: set[str],
    synced_folders: set[str],
) -> None:
    """mkdir the empty folders the server lacks (uploads make the others); rmdir deleted ones."""
    parents = _ancestors([*local, *local_folders])
    plan.mkdirs = sorted(f for f in local_folders - remote_folders if f not in parents)
    removed = (synced_folders & remote_folders) - local_folders
    plan.rmdirs = sorted(removed, key=lambda f: (-f.count("/"), f))


def _ancestors(paths: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for path in paths:
        parts = path.split("/")
        for end in range(1, len(parts)):
            found.add("/".join(parts[:end]))
    return found
