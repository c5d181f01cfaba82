"""The one storage interface. Backends know nothing about users or the database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol, runtime_checkable

from upload_service.errors import ServiceError

CHUNK_SIZE = 1024 * 1024


class BlobNotFound(ServiceError):
    """Raised by every backend when a key does not exist."""

    status, code, message = 404, "not_found", "The stored content was not found."


class StorageUnavailable(ServiceError):
    """The backend could not be reached or refused the operation."""

    status, code, message = 503, "storage_unavailable", "File storage is unavailable."


@dataclass(frozen=True)
class PutResult:
    size: int
    sha256: str


@dataclass(frozen=True)
class BlobStat:
    key: str
    size: int
    modified_at: datetime


@dataclass(frozen=True)
class SignedUpload:
    """How a client uploads one object straight to the backend, with no other credential."""

    method: str
    url: str
    fields: dict[str, str]
    headers: dict[str, str]


@runtime_checkable
class BlobStore(Protocol):
    """Opaque-key object storage.

    ``put`` reads ``stream`` in bounded chunks, counts and hashes (SHA-256) what it writes and
    makes the object visible atomically: a failure (including an exception raised by the stream
    itself, e.g. a size limit) leaves no object under ``key``.
    """

    def put(self, key: str, stream: BinaryIO) -> PutResult: ...

    def open(self, key: str, start: int = 0, length: int | None = None) -> BinaryIO:
        """A readable stream of ``length`` bytes from ``start`` (to the end when ``None``)."""
        ...

    def stat(self, key: str) -> BlobStat: ...

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""
        ...

    def iter_blobs(self, prefix: str = "") -> Iterator[BlobStat]: ...

    def signed_download_url(
        self, key: str, expires_in: int, filename: str, content_type: str
    ) -> str | None:
        """A URL that fetches the object without credentials, or ``None`` if unsupported."""
        ...

    def signed_upload(
        self, key: str, size: int, content_type: str, expires_in: int
    ) -> SignedUpload | None:
        """A direct upload of exactly ``size`` bytes to ``key``, or ``None`` if unsupported."""
        ...

    def promote(self, source_key: str, key: str) -> PutResult:
        """Make the object a client uploaded straight to ``source_key`` the blob ``key``.

        Moves it (``source_key`` is gone afterwards) and hashes what ``key`` now holds, so a
        client writing ``source_key`` again can never change the blob. A missing source raises
        :class:`BlobNotFound`; on any failure nothing is left under ``key``.
        """
        ...

    def ping(self) -> None:
        """Raise :class:`StorageUnavailable` when the backend is unreachable."""
        ...

    # Staging: data that grows over several requests (resumable uploads) before it becomes a blob.

    def stage_append(
        self, staging_key: str, offset: int, stream: BinaryIO, verify: Verify | None = None
    ) -> int:
        """Append ``stream`` to the data staged under ``staging_key``, starting at ``offset``.

        Anything staged past ``offset`` (written by a request whose caller never recorded it)
        is dropped first; ``offset`` beyond the staged size raises :class:`StagingMismatch`.
        Once the stream is exhausted ``verify`` is called; if it (or the stream) raises,
        nothing of this call stays staged. Every byte counted in the returned size (the new
        staged size) is durable when this returns.
        """
        ...

    def stage_size(self, staging_key: str) -> int:
        """The durably staged size (0 when nothing is staged)."""
        ...

    def stage_finish(self, staging_key: str, key: str) -> PutResult:
        """Turn the staged data into the blob ``key`` (atomically, hashed); drop the staging."""
        ...

    def stage_discard(self, staging_key: str) -> None:
        """Remove everything staged under ``staging_key``; a missing one is not an error."""
        ...


class Verify(Protocol):
    def __call__(self) -> None: ...


class StagingMismatch(ServiceError):
    """The staged data is shorter than the offset a write was asked to start at."""

    status, code, message = 409, "offset_mismatch", "The staged data does not match the offset."


class StagingBusy(ServiceError):
    """Another request is still writing the staged data."""

    status, code, message = 409, "upload_locked", "Another request is writing to this upload."
