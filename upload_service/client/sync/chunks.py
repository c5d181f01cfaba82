"""Cutting a file into the protocol's content-defined chunks (FastCDC 2020, SHA-256 ids)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pyfastcdc import FastCDC

from upload_service.schemas.sync import AVG_CHUNK, MAX_CHUNK, MIN_CHUNK

Chunk = tuple[str, int]  # (sha256, length), as the prepare request lists them


@dataclass(frozen=True)
class Cut:
    """A file's whole SHA-256, its size and its chunks in order."""

    sha256: str
    size: int
    chunks: tuple[Chunk, ...]

    def offsets(self) -> dict[str, tuple[int, int]]:
        """Where each distinct chunk starts in the file, and its length."""
        found: dict[str, tuple[int, int]] = {}
        offset = 0
        for sha, length in self.chunks:
            found.setdefault(sha, (offset, length))
            offset += length
        return found


_CUTTER = FastCDC(AVG_CHUNK, min_size=MIN_CHUNK, max_size=MAX_CHUNK)


def cut_file(path: Path) -> Cut:
    """Read ``path`` once: the whole-file digest and the chunk list together.

    The file is read through an ordinary handle (not mmap), so a file truncated meanwhile gives a
    wrong digest, which the server refuses, rather than a crash.
    """
    whole = hashlib.sha256()
    chunks: list[Chunk] = []
    size = 0
    with path.open("rb", buffering=0) as file:
        for chunk in _CUTTER.cut_stream(file):
            whole.update(chunk.data)
            chunks.append((hashlib.sha256(chunk.data).hexdigest(), chunk.length))
            size += chunk.length
    return Cut(whole.hexdigest(), size, tuple(chunks))


def read_chunk(path: Path, offset: int, length: int, sha256: str) -> bytes | None:
    """The bytes of one chunk, or None when the file no longer has them there (it changed)."""
    with path.open("rb") as file:
        file.seek(offset)
        data = file.read(length)
    if len(data) != length or hashlib.sha256(data).hexdigest() != sha256:
        return None
    return data
