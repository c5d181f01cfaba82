"""Small PNG thumbnails of raster images for the web UI: made lazily, once, within bounds.

A thumbnail is made the first time a page asks for it and kept in the BlobStore under
``thumbnails/v1/<sha256>-<size>``: keyed by the bytes, so every file with the same content
shares one, a renamed file keeps it, and a replaced file (new bytes) gets a new one. Once no
blob has those bytes any more, the sweeper's stray scan removes it. A source
that cannot be made into a thumbnail is remembered too (an empty object), so a broken or
hostile image is decoded at most once.

What is decoded is bounded before any pixel is read:

- only the raster types of :data:`THUMBNAIL_TYPES`, and Pillow may try only the decoders of
  :data:`_PILLOW_FORMATS` whatever the bytes claim to be (never SVG, PDF or anything a
  browser would run: the answer is always a PNG we encoded);
- at most :data:`MAX_SOURCE_BYTES` of stored bytes;
- at most :data:`MAX_PIXELS` decoded pixels (a JPEG is decoded at a reduced scale first, so a
  large photo costs little; a PNG of 200 megapixels is refused, not decoded);
- at most :data:`MAX_CONCURRENT` decodes at once per process; a request that waits longer than
  :data:`WAIT_SECONDS` for its turn gets no thumbnail (and nothing is remembered), so a page of
  new images cannot tie up every worker thread or all the memory.

Anything else (a PDF, an SVG, a video) has no thumbnail: the page shows its type's icon.
"""

from __future__ import annotations

import io
import logging
import threading
from typing import BinaryIO, Final

from PIL import Image, ImageOps

from upload_service.storage.base import CHUNK_SIZE, BlobNotFound, BlobStore

log = logging.getLogger(__name__)

THUMBNAIL_SIZE: Final = 128  # pixels, the longer side; twice the largest icon it replaces
MAX_SOURCE_BYTES: Final = 32 * 1024 * 1024
MAX_PIXELS: Final = 24_000_000  # decoded pixels: ~96 MB as RGBA, the worst case of one decode
MAX_CONCURRENT: Final = 2
WAIT_SECONDS: Final = 10.0
CACHE_PREFIX: Final = "thumbnails/v1/"

THUMBNAIL_TYPES: Final = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/x-ms-bmp"}
)
_PILLOW_FORMATS: Final = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
_FAILED: Final = b""  # what the cache holds for a source that gave no thumbnail

_decoding = threading.BoundedSemaphore(MAX_CONCURRENT)


class NoThumbnail(Exception):
    """The source is outside the bounds: no thumbnail, and none will ever be made."""


def can_have_thumbnail(content_type: str, size: int) -> bool:
    """Whether a file of this type and size is worth asking for a thumbnail."""
    return content_type in THUMBNAIL_TYPES and 0 < size <= MAX_SOURCE_BYTES


def cache_key(sha256: str, size: int = THUMBNAIL_SIZE) -> str:
    return f"{CACHE_PREFIX}{sha256}-{size}"


def source_sha256(key: str) -> str | None:
    """The SHA-256 a cached thumbnail was made from (``None``: not a thumbnail key).

    The sweeper keeps a thumbnail while some blob still has these bytes.
    """
    if not key.startswith(CACHE_PREFIX):
        return None
    sha256, _, size = key.removeprefix(CACHE_PREFIX).rpartition("-")
    return sha256 if sha256 and size.isdigit() else None


def get_thumbnail(
    store: BlobStore,
    *,
    sha256: str,
    storage_key: str,
    content_type: str,
    size: int,
) -> bytes | None:
    """The PNG thumbnail of these stored bytes, made now if need be; ``None`` when there is none.

    ``size`` is the stored object's size in bytes. Storage being unreachable is raised
    (:class:`~upload_service.storage.base.StorageUnavailable`, a 503), everything else about
    the source only means "no thumbnail".
    """
    if not can_have_thumbnail(content_type, size):
        return None
    key = cache_key(sha256)
    cached = _read_cached(store, key)
    if cached is not None:
        return cached or None
    if not _decoding.acquire(timeout=WAIT_SECONDS):
        log.info("thumbnail of %s: too many being made, none this time", sha256)
        return None
    try:
        cached = _read_cached(store, key)  # made by another request while this one waited
        if cached is not None:
            return cached or None
        try:
            thumbnail = make_thumbnail(_read_source(store, storage_key))
        except BlobNotFound:
            return None  # the file is going away; nothing to remember
        except NoThumbnail as refused:
            log.info("no thumbnail of %s: %s", sha256, refused)
            thumbnail = _FAILED
        store.put(key, io.BytesIO(thumbnail))
        return thumbnail or None
    finally:
        _decoding.release()


def make_thumbnail(source: bytes, box: int = THUMBNAIL_SIZE) -> bytes:
    """A PNG of at most ``box`` x ``box`` pixels of the image in ``source``.

    Raises :class:`NoThumbnail` for anything that is not an image Pillow may decode here, or that
    is over the bounds.
    """
    try:
        image = Image.open(io.BytesIO(source), formats=_PILLOW_FORMATS)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise NoThumbnail(f"not an image we decode ({error})") from None
    with image:
        width, height = image.size
        if width < 1 or height < 1:
            raise NoThumbnail("an image without pixels")
        if image.format == "JPEG":
            image.draft("RGB", (box, box))  # decode at 1/2, 1/4 or 1/8 scale: far less work
        if image.size[0] * image.size[1] > MAX_PIXELS:
            raise NoThumbnail(f"{width}x{height} pixels is more than we decode")
        try:
            image.load()
            picture = _displayable(ImageOps.exif_transpose(image))
            picture.thumbnail((box, box), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            picture.save(out, "PNG", optimize=True)
        except Exception as error:  # Pillow's decoders raise many kinds for damaged data
            raise NoThumbnail(f"cannot decode it ({type(error).__name__}: {error})") from None
    return out.getvalue()


def _displayable(image: Image.Image) -> Image.Image:
    """In a mode that scales smoothly and saves as PNG (palette, CMYK and 16-bit ones do not)."""
    if image.mode in ("RGB", "RGBA", "L", "LA"):
        return image
    transparent = "A" in image.mode or "transparency" in image.info
    return image.convert("RGBA" if transparent else "RGB")


def _read_cached(store: BlobStore, key: str) -> bytes | None:
    """The cached thumbnail (``b""``: known to have none), or ``None`` when not made yet."""
    try:
        stream = store.open(key)
    except BlobNotFound:
        return None
    try:
        return _read_at_most(stream, MAX_SOURCE_BYTES)
    finally:
        stream.close()


def _read_source(store: BlobStore, storage_key: str) -> bytes:
    """The stored image, at most MAX_SOURCE_BYTES (more than that is refused, not read)."""
    stream = store.open(storage_key, 0, MAX_SOURCE_BYTES + 1)
    try:
        data = _read_at_most(stream, MAX_SOURCE_BYTES + 1)
    finally:
        stream.close()
    if len(data) > MAX_SOURCE_BYTES:
        raise NoThumbnail("the stored image is larger than we decode")
    return data


def _read_at_most(stream: BinaryIO, limit: int) -> bytes:
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0 and (chunk := stream.read(min(remaining, CHUNK_SIZE))):
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
