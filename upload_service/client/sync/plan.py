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


@dataclass(frozen=True)
class FolderMove:
    """A renamed folder: one request on the server instead of one move per file."""

    source: str
    target: str
    files: tuple[Move, ...]  # the file moves it stands for


@dataclass
class Plan:
    folder_moves: list[FolderMove] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    adopt: list[tuple[str, str]] = field(default_factory=list)  # already there: (path, sha256)
    deletes: list[tuple[str, str]] = field(default_factory=list)  # (path, If-Match sha256)
    forget: list[str] = field(default_factory=list)  # synced paths nothing is to be done for
    mkdirs: list[str] = field(default_factory=list)
    rmdirs: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        steps = (self.folder_moves, self.moves, self.uploads, self.deletes)
        return not (any(steps) or self.mkdirs or self.rmdirs)


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
    _folder_moves(plan, remote, local_folders, remote_folders, synced_folders)
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


def _folder_moves(
    plan: Plan,
    remote: Mapping[str, str],
    local_folders: set[str],
    remote_folders: set[str],
    synced_folders: set[str],
) -> None:
    """Turn the file moves of a renamed folder into one folder move.

    Only when every file the server has under the old folder moves, each to the same relative
    path under one new folder that the server does not have yet: then moving the folder does
    exactly what the file moves would (its empty subfolders come along too).
    """
    vanished = (synced_folders & remote_folders) - local_folders
    for source in sorted(vanished, key=lambda f: (f.count("/"), f)):
        if any(source.startswith(done.source + "/") for done in plan.folder_moves):
            continue
        inside = source + "/"
        moves = [m for m in plan.moves if m.source.startswith(inside)]
        target = _common_target(source, moves)
        on_server = [p for p in remote if p.startswith(inside)]
        if target is None or target in remote_folders or target not in local_folders:
            continue
        if len(on_server) != len(moves) or target.startswith(inside):
            continue
        plan.folder_moves.append(FolderMove(source, target, tuple(moves)))
        plan.moves = [m for m in plan.moves if m not in moves]
        plan.mkdirs = [f for f in plan.mkdirs if not _within(f, target)]
        plan.rmdirs = [f for f in plan.rmdirs if not _within(f, source)]


def _common_target(source: str, moves: list[Move]) -> str | None:
    """The folder every move goes to, keeping the path under ``source``; None if there is none."""
    targets = set()
    for move in moves:
        rest = move.source[len(source) + 1 :]
        if not move.target.endswith("/" + rest):
            return None
        targets.add(move.target[: -len(rest) - 1])
    return targets.pop() if len(targets) == 1 else None


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


def _ancestors(paths: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for path in paths:
        parts = path.split("/")
        for end in range(1, len(parts)):
            found.add("/".join(parts[:end]))
    return found
