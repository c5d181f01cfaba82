"""Blob storage behind one interface, chosen by ``STORAGE_URL``."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from upload_service.settings import Settings
from upload_service.storage.base import (
    BlobNotFound,
    BlobStat,
    BlobStore,
    PutResult,
    SignedUpload,
    StorageUnavailable,
)

__all__ = [
    "BlobNotFound",
    "BlobStat",
    "BlobStore",
    "PutResult",
    "SignedUpload",
    "StorageUnavailable",
    "open_blob_store",
]


def open_blob_store(settings: Settings) -> BlobStore:
    """The backend named by ``STORAGE_URL``: ``file:///abs/path`` or ``s3://bucket/prefix``."""
    url = urlparse(settings.storage_url)
    if url.scheme == "file":
        from upload_service.storage.local import LocalBlobStore

        return LocalBlobStore(unquote(url.netloc + url.path))
    from upload_service.storage.s3 import S3BlobStore

    return S3BlobStore(
        bucket=url.netloc,
        prefix=url.path.strip("/"),
        endpoint_url=settings.S3_ENDPOINT_URL,
        region=settings.S3_REGION,
    )
