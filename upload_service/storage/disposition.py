"""``Content-Disposition`` headers (RFC 6266) that no file name can break."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

_DISPOSITIONS = frozenset({"attachment", "inline"})
# Categories that never belong in a file name: controls (CR/LF, NUL), format characters (RTL
# overrides that disguise extensions), lone surrogates, line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# RFC 8187 attr-char minus the ones quote() always keeps (alphanumerics and "_.-~").
_ATTR_CHAR_EXTRA = "!#$&+^`|"
_FALLBACK_NAME = "download"


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """``attachment; filename="<ascii>"; filename*=UTF-8''<percent-encoded>`` for ``filename``."""
    if disposition not in _DISPOSITIONS:
        raise ValueError(f"unknown disposition {disposition!r}")
    name = _clean_name(filename)
    encoded = quote(name.encode("utf-8"), safe=_ATTR_CHAR_EXTRA)
    return f"{disposition}; filename=\"{_ascii_fallback(name)}\"; filename*=UTF-8''{encoded}"


def _clean_name(filename: str) -> str:
    """The name with path separators and invisible or control characters replaced by ``_``."""
    name = "".join(
        "_" if char in "/\\" or unicodedata.category(char) in _UNSAFE_CATEGORIES else char
        for char in unicodedata.normalize("NFC", filename)
    ).strip()
    return name if name.strip("._ ") else _FALLBACK_NAME


def _ascii_fallback(name: str) -> str:
    """Printable ASCII for old clients: accents dropped, anything else (and ``"``, ``%``) ``_``."""
    decomposed = unicodedata.normalize("NFKD", name)
    letters = (char for char in decomposed if not unicodedata.combining(char))
    fallback = "".join(
        char if " " <= char <= "~" and char not in '"\\%' else "_" for char in letters
    )
    return fallback if fallback.strip("._ ") else _FALLBACK_NAME
