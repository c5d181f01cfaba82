"""services.previews: what can be previewed, and a bounded, safe text prefix."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from upload_service.services.previews import preview_kind, read_text_preview
from upload_service.storage.local import LocalBlobStore


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def preview(store: LocalBlobStore, data: bytes, limit: int = 16) -> tuple[str, bool] | None:
    store.put("blobs/x", io.BytesIO(data))
    result = read_text_preview(store, "blobs/x", len(data), limit)
    return None if result is None else (result.text, result.truncated)


@pytest.mark.parametrize(
    ("content_type", "category", "kind"),
    [
        ("image/png", "image", "image"),
        ("image/svg+xml", "image", "image"),
        ("video/mp4", "video", "video"),
        ("audio/ogg", "audio", "audio"),
        ("application/pdf", "document", "pdf"),
        ("text/plain", "document", "text"),
        ("text/html", "code", "text"),
        ("application/json", "code", "text"),
        ("application/vnd.api+json", "other", "text"),
        ("application/octet-stream", "code", "text"),  # e.g. a .lock file
        ("application/octet-stream", "other", None),
        ("application/zip", "archive", None),
        ("application/vnd.ms-excel", "document", None),
    ],
)
def test_preview_kind(content_type: str, category: str, kind: str | None) -> None:
    assert preview_kind(content_type, category) == kind


def test_a_short_text_is_shown_whole(store: LocalBlobStore) -> None:
    assert preview(store, "grüß dich\n".encode()) == ("grüß dich\n", False)
    assert preview(store, b"") == ("", False)


def test_a_long_text_is_cut_at_the_limit(store: LocalBlobStore) -> None:
    assert preview(store, b"0123456789" * 1000, limit=16) == ("0123456789012345", True)
    assert preview(store, b"x" * 16, limit=16) == ("x" * 16, False)


def test_a_character_cut_by_the_limit_is_dropped_not_garbled(store: LocalBlobStore) -> None:
    text, truncated = preview(store, b"abc" + "é".encode() * 10, limit=4) or ("", False)
    assert (text, truncated) == ("abc", True)


def test_invalid_utf8_shows_as_replacement_characters(store: LocalBlobStore) -> None:
    assert preview(store, b"ok \xff\xfe end") == ("ok \ufffd\ufffd end", False)


def test_binary_content_has_no_text_preview(store: LocalBlobStore) -> None:
    assert preview(store, b"PK\x03\x04\x00\x00 binary") is None
    assert preview(store, b"text first" + b"\x00" * 100, limit=8) == ("text fir", True)
