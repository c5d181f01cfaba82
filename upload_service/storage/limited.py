"""A reader that stops after a fixed number of bytes (for byte ranges)."""

from __future__ import annotations

from typing import BinaryIO


class LimitedReader:
    """Reads at most ``remaining`` bytes from ``raw``; closing it closes ``raw``."""

    def __init__(self, raw: BinaryIO, remaining: int) -> None:
        self.raw = raw
        self.remaining = remaining

    def read(self, size: int | None = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        data = self.raw.read(size)
        self.remaining -= len(data)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> LimitedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
