"""What is in the local folder: files with their stat, folders, and what was left out.

Names are NFC with ``/`` between them. Symbolic links are never followed. ``.uploadignore`` at
the top of the folder holds gitignore-style patterns (pathspec); a few editor and system temp
patterns are always ignored.
"""

from __future__ import annotations

import contextlib
import os
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from pathspec import GitIgnoreSpec

IGNORE_FILE = ".uploadignore"
BUILT_IN_IGNORES = ("*.swp", "*.swx", "~$*", ".#*", "*.tmp", "*~", ".DS_Store", "Thumbs.db")


@dataclass(frozen=True)
class Stat:
    """The parts of a file's stat that say whether it changed (the stat cache's key)."""

    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, result: os.stat_result) -> Stat:
        return cls(result.st_dev, result.st_ino, result.st_size, result.st_mtime_ns)


@dataclass
class Tree:
    """One scan: relative path → stat for files, the set of folders, and what was skipped."""

    files: dict[str, Stat] = field(default_factory=dict)
    folders: set[str] = field(default_factory=set)
    symlinks: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    on_disk: dict[str, str] = field(default_factory=dict)  # NFC path → the name on disk, if not

    def local_path(self, root: Path, relative: str) -> Path:
        return root / self.on_disk.get(relative, relative)


def load_ignores(root: Path) -> GitIgnoreSpec:
    lines = list(BUILT_IN_IGNORES)
    with contextlib.suppress(FileNotFoundError):
        lines += (root / IGNORE_FILE).read_text(encoding="utf-8").splitlines()
    return GitIgnoreSpec.from_lines(lines)


def scan(root: Path, ignores: GitIgnoreSpec) -> Tree:
    """Walk ``root`` (never following links), leaving out what ``ignores`` matches."""
    tree = Tree()
    _walk(root, "", ignores, tree)
    return tree


def _walk(
    directory: Path, prefix: str, ignores: GitIgnoreSpec, tree: Tree, disk_prefix: str = ""
) -> None:
    try:
        entries = list(os.scandir(directory))
    except OSError:
        tree.unreadable.append(prefix.rstrip("/") or ".")
        return
    for entry in entries:
        name = unicodedata.normalize("NFC", entry.name)
        relative = prefix + name
        if name != entry.name or disk_prefix != prefix:
            tree.on_disk[relative] = disk_prefix + entry.name
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            tree.unreadable.append(relative)
            continue
        if stat.S_ISLNK(info.st_mode):
            tree.symlinks.append(relative)
        elif stat.S_ISDIR(info.st_mode):
            if not ignores.match_file(relative + "/"):
                tree.folders.add(relative)
                disk = disk_prefix + entry.name + "/"
                _walk(Path(entry.path), relative + "/", ignores, tree, disk)
        elif stat.S_ISREG(info.st_mode) and not ignores.match_file(relative):
            tree.files[relative] = Stat.of(info)
