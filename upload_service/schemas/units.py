"""Units shown to people, shared by the web pages and upload-client (both may import schemas/)."""

from __future__ import annotations

_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: int | None) -> str:
    """``999 B``, ``1.5 KiB``, ``256.0 MiB``: binary units like the server's settings."""
    size = size or 0
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")
