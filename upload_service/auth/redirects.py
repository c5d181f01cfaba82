"""Where to send the browser after signing in, without ever leaving our site."""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_NEXT = "/"


def safe_next_url(value: str | None) -> str:
    """``value`` if it is a path on this site, else ``/``.

    Refuses anything a browser could read as another host: ``//evil.com``, ``https://evil.com``,
    ``/\\evil.com`` (browsers treat ``\\`` like ``/``), and control characters, which browsers
    strip before parsing.
    """
    if not value or not value.startswith("/") or "\\" in value:
        return DEFAULT_NEXT
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in value):
        return DEFAULT_NEXT
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return DEFAULT_NEXT
    return value
