"""services.thumbnails: PNG thumbnails of raster images, bounded, made once, never an error."""

from __future__ import annotations

import hashlib
import io
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from upload_service.services import thumbnails
from upload_service.services.thumbnails import (
    MAX_PIXELS,
    MAX_SOURCE_BYTES,
    THUMBNAIL_SIZE,
    cache_key,
    can_have_thumbnail,
    get_thumbnail,
)
from upload_service.storage.local import LocalBlobStore

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@dataclass
class Source:
    sha256: str
    storage_key: str
    size: int


def stored(store: LocalBlobStore, data: bytes, key: str = "blobs/source") -> Source:
    """Store ``data`` as a blob."""
    store.put(key, io.BytesIO(data))
    return Source(hashlib.sha256(data).hexdigest(), key, len(data))


def thumb(store: LocalBlobStore, source: Source, content_type: str) -> bytes | None:
    return get_thumbnail(
        store,
        sha256=source.sha256,
        storage_key=source.storage_key,
        content_type=content_type,
        size=source.size,
    )


def encoded(image: Image.Image, format: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format, **options)
    return out.getvalue()


def decoded(png: bytes | None) -> Image.Image:
    assert png is not None and png.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def gradient(width: int, height: int) -> Image.Image:
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    return image


def test_a_photo_becomes_a_small_png(store: LocalBlobStore) -> None:
    source = stored(store, encoded(gradient(480, 300), "JPEG", quality=90))

    png = thumb(store, source, "image/jpeg")

    thumbnail = decoded(png)
    assert thumbnail.format == "PNG"
    assert thumbnail.size == (THUMBNAIL_SIZE, 80)  # the longer side fits, the ratio is kept
    assert png is not None and len(png) < 64 * 1024


def test_it_is_made_once_and_kept_under_the_sha256(store: LocalBlobStore) -> None:
    source = stored(store, encoded(gradient(300, 300), "PNG"))
    first = thumb(store, source, "image/png")
    assert [stat.key for stat in store.iter_blobs("thumbnails/")] == [cache_key(source.sha256)]

    store.delete("blobs/source")  # the source is not read again: the stored thumbnail answers
    again = thumb(store, source, "image/png")

    assert again == first
    # the same bytes in another blob (another user's copy) share the thumbnail
    other = stored(store, encoded(gradient(300, 300), "PNG"), key="blobs/other-copy")
    assert other.sha256 == source.sha256
    assert thumb(store, other, "image/png") == first
    assert len(list(store.iter_blobs("thumbnails/"))) == 1


def test_a_broken_image_has_no_thumbnail_and_is_decoded_only_once(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    truncated = encoded(gradient(400, 400), "PNG")[:600]
    cases = [b"this is not an image at all", truncated, b"GIF89a" + b"\xff" * 50]
    for number, data in enumerate(cases):
        source = stored(store, data, key=f"blobs/broken-{number}")
        assert thumb(store, source, "image/png") is None

    decodes: list[bytes] = []
    monkeypatch.setattr(thumbnails, "make_thumbnail", lambda data: decodes.append(data) or b"")
    for number, data in enumerate(cases):
        source = stored(store, data, key=f"blobs/broken-{number}")
        assert thumb(store, source, "image/png") is None
    assert decodes == []  # remembered as "no thumbnail"


def test_svg_pdf_and_html_never_get_one(store: LocalBlobStore) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    cases = [
        ("image/svg+xml", svg),
        ("application/pdf", b"%PDF-1.4\n%%EOF\n"),
        ("text/html", b"<h1>hi</h1>"),
        ("image/tiff", encoded(gradient(20, 20), "TIFF")),  # not a decoder we allow
    ]
    for content_type, data in cases:
        source = stored(store, data)
        assert thumb(store, source, content_type) is None
    assert list(store.iter_blobs("thumbnails/")) == []


def test_a_png_declared_as_jpeg_is_decoded_as_what_it_is(store: LocalBlobStore) -> None:
    source = stored(store, encoded(gradient(64, 32), "PNG"))
    assert decoded(thumb(store, source, "image/jpeg")).size == (64, 32)


def test_an_html_page_declared_as_png_gets_no_thumbnail(store: LocalBlobStore) -> None:
    source = stored(store, b"<html><script>alert(1)</script></html>")
    assert thumb(store, source, "image/png") is None


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels but carries almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        checksum = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", checksum)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def test_too_many_pixels_are_refused_before_decoding(store: LocalBlobStore) -> None:
    for width, height in [(6000, 5000), (40_000, 40_000), (1, 2**31 - 1)]:
        assert width * height > MAX_PIXELS
        source = stored(store, png_header_only(width, height))
        started = time.monotonic()
        assert thumb(store, source, "image/png") is None
        assert time.monotonic() - started < 2  # refused from the header, nothing decoded


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(store: LocalBlobStore) -> None:
    # 25 megapixels is over MAX_PIXELS, but a JPEG can be decoded at 1/8 of that
    photo = encoded(gradient(5000, 5000), "JPEG", quality=60)
    source = stored(store, photo)
    assert decoded(thumb(store, source, "image/jpeg")).size == (128, 128)


def test_larger_sources_than_the_bound_are_not_read(store: LocalBlobStore) -> None:
    assert can_have_thumbnail("image/png", MAX_SOURCE_BYTES)
    assert not can_have_thumbnail("image/png", MAX_SOURCE_BYTES + 1)
    assert not can_have_thumbnail("image/png", 0)
    source = stored(store, encoded(gradient(10, 10), "PNG"))
    source.size = MAX_SOURCE_BYTES + 1
    assert thumb(store, source, "image/png") is None
    assert list(store.iter_blobs("thumbnails/")) == []


def test_exif_orientation_palette_and_transparency(store: LocalBlobStore) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    upright = stored(store, encoded(gradient(200, 100), "JPEG", exif=exif), key="blobs/a")
    assert decoded(thumb(store, upright, "image/jpeg")).size == (64, 128)

    palette = Image.new("P", (40, 40), 0)
    palette.putpalette([255, 0, 0, 0, 0, 255])
    palette.paste(1, (0, 0, 20, 40))
    gif = stored(store, encoded(palette, "GIF", transparency=0), key="blobs/b")
    thumbnail = decoded(thumb(store, gif, "image/gif"))
    assert thumbnail.mode == "RGBA"
    assert thumbnail.getpixel((5, 5)) == (0, 0, 255, 255)
    assert thumbnail.getpixel((35, 5))[3] == 0  # transparent stays transparent


def test_a_missing_source_has_none_and_nothing_is_remembered(store: LocalBlobStore) -> None:
    source = stored(store, encoded(gradient(10, 10), "PNG"))
    store.delete("blobs/source")
    assert thumb(store, source, "image/png") is None
    assert list(store.iter_blobs("thumbnails/")) == []


def test_when_too_many_are_being_made_the_request_goes_without(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(thumbnails, "WAIT_SECONDS", 0.05)
    source = stored(store, encoded(gradient(50, 50), "PNG"))
    held = [thumbnails._decoding.acquire(timeout=1) for _ in range(thumbnails.MAX_CONCURRENT)]
    try:
        assert all(held)
        assert thumb(store, source, "image/png") is None
    finally:
        for _ in held:
            thumbnails._decoding.release()
    assert list(store.iter_blobs("thumbnails/")) == []  # not remembered: next time it is made
    assert decoded(thumb(store, source, "image/png")).size == (50, 50)
