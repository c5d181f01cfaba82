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


def cut_file(path: Path, chunked: bool = True) -> Cut:
    """Read ``path`` once: the whole-file digest and (if ``chunked``) the chunk list together.

    The file is read through an ordinary handle (not mmap), so a file truncated meanwhile gives a
    wrong digest, which the server refuses, rather than a crash.
    """
    if not chunked:
        with path.open("rb", buffering=0) as file:
            whole = hashlib.file_digest(file, "sha256")
            return Cut(whole.hexdigest(), file.tell(), ())
    whole = hashlib.sha256()
    chunks: list[Chunk] = []
    size = 0
    with path.open("rb", buffering=0) as file:
        for chunk in _CUTTER.cut_stream(file):
            whole.update(chunk.data)
            chunks.append((hashlib.sha256(chunk.data).hexdigest(), chunk.length))
            size += chunk.length
    return Cut(whole.hexdigest(), size, tuple(chunks))


def read_range(path: Path, offset: int, length: int) -> bytes | None:
    """``length`` bytes at ``offset``, or None when the file is shorter now (it changed).

    Whether they are still the bytes that were hashed is checked by the server, which verifies
    every chunk against its id and every file against its SHA-256 (422 otherwise).
    """
    with path.open("rb") as file:
        file.seek(offset)
        data = file.read(length)
    return data if len(data) == length else None
