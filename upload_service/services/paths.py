"""User-facing paths: NFC, ``/``-separated, no ``.``/``..``, no control characters."""

from __future__ import annotations

import unicodedata

from upload_service.errors import BadRequest

MAX_PATH_LENGTH = 1024
MAX_NAME_BYTES = 255
MAX_DEPTH = 64
_FORBIDDEN = {"\\"}


def normalize_path(raw: str, *, what: str = "path") -> str:
    """The canonical form of a file path; raises 400 for anything hostile or empty."""
    path = normalize_folder(raw, what=what)
    if not path:
        raise BadRequest(f"The {what} is empty.", code="invalid_path")
    return path


def normalize_folder(raw: str | None, *, what: str = "folder") -> str:
    """Like :func:`normalize_path`, but the root folder ``""`` is allowed."""
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise BadRequest(f"The {what} must be a string.", code="invalid_path")
    text = unicodedata.normalize("NFC", raw).strip("/")
    if not text:
        return ""
    segments = [segment for segment in text.split("/") if segment != ""]
    for segment in segments:
        _check_segment(segment, what)
    path = "/".join(segments)
    if len(path) > MAX_PATH_LENGTH or len(segments) > MAX_DEPTH:
        raise BadRequest(f"The {what} is too long.", code="invalid_path")
    return path


def _check_segment(segment: str, what: str) -> None:
    if segment in (".", ".."):
        raise BadRequest(f"The {what} may not contain '.' or '..' segments.", code="invalid_path")
    if any(ord(char) < 0x20 or ord(char) == 0x7F or char in _FORBIDDEN for char in segment):
        raise BadRequest(
            f"The {what} contains a control character or a backslash.", code="invalid_path"
        )
    if len(segment.encode()) > MAX_NAME_BYTES:
        raise BadRequest(f"A name in the {what} is longer than 255 bytes.", code="invalid_path")
    if segment != segment.strip():
        raise BadRequest(
            f"A name in the {what} starts or ends with white space.", code="invalid_path"
        )


def split_path(path: str) -> tuple[str, str]:
    """``"a/b/c.txt"`` → ``("a/b", "c.txt")``."""
    folder, _, name = path.rpartition("/")
    return folder, name


def join_path(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def ancestors(folder: str) -> list[str]:
    """``"a/b/c"`` → ``["a", "a/b", "a/b/c"]``."""
    if not folder:
        return []
    parts = folder.split("/")
    return ["/".join(parts[: index + 1]) for index in range(len(parts))]


def is_within(path: str, folder: str) -> bool:
    """True when ``path`` is ``folder`` itself or lies below it."""
    return not folder or path == folder or path.startswith(folder + "/")
