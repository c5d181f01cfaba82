"""What the web UI previews, and how: never by rendering an uploaded document on our origin.

Images (SVG included, which is harmless inside ``<img>``: no scripts run there), audio and
video are shown by the browser's media elements straight from the attachment-only content
route. Text is read here, a bounded prefix through the BlobStore, and escaped by the template.
Only the types in :data:`INLINE_TYPES` are ever served with an inline disposition (see
:mod:`upload_service.web.file_pages`), because the browser cannot show them otherwise.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import BinaryIO, Literal

from upload_service.storage.base import BlobStore

PREVIEW_TEXT_BYTES = 64 * 1024
# Served inline (for an <iframe>) and nothing else: never text/html, image/svg+xml, XML or
# anything else a browser would run scripts in on our origin.
INLINE_TYPES = frozenset({"application/pdf"})

PreviewKind = Literal["image", "video", "audio", "pdf", "text"]

_TEXT_APPLICATION_TYPES = frozenset(
    {
        "application/json",
        "application/ld+json",
        "application/x-ndjson",
        "application/xml",
        "application/yaml",
        "application/x-yaml",
        "application/toml",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "application/sql",
        "application/x-sh",
        "application/x-python",
        "application/x-httpd-php",
        "application/x-tex",
        "application/rtf",
    }
)


@dataclass(frozen=True)
class TextPreview:
    text: str
    truncated: bool  # the file goes on after what was read


def preview_kind(content_type: str, category: str) -> PreviewKind | None:
    """How a file of this type can be previewed safely, or ``None``."""
    main = content_type.split("/", 1)[0]
    if main == "image":
        return "image"
    if main in ("video", "audio"):
        return "video" if main == "video" else "audio"
    if content_type in INLINE_TYPES:
        return "pdf"
    if main == "text" or content_type in _TEXT_APPLICATION_TYPES:
        return "text"
    if content_type.endswith(("+json", "+xml")) or category == "code":
        return "text"
    return None


def read_text_preview(
    store: BlobStore, storage_key: str, size: int, limit: int = PREVIEW_TEXT_BYTES
) -> TextPreview | None:
    """The first ``limit`` bytes as text; ``None`` when they look binary (a NUL byte).

    Invalid UTF-8 shows as U+FFFD; a character cut in half by the limit is dropped.
    """
    wanted = min(size, limit)
    stream = store.open(storage_key, 0, wanted)
    try:
        data = _read_exactly(stream, wanted)
    finally:
        stream.close()
    if b"\x00" in data:
        return None
    complete = size <= limit
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data, final=complete)
    return TextPreview(text=text, truncated=not complete)


def _read_exactly(stream: BinaryIO, wanted: int) -> bytes:
    chunks: list[bytes] = []
    remaining = wanted
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
