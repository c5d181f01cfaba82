"""Blobs as objects in an S3-compatible bucket."""

from __future__ import annotations

import hashlib
import io
import logging
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from upload_service.storage.base import (
    CHUNK_SIZE,
    BlobNotFound,
    BlobStat,
    PutResult,
    SignedUpload,
    StagingMismatch,
    StorageUnavailable,
    Verify,
)
from upload_service.storage.disposition import content_disposition

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CopySourceTypeDef

log = logging.getLogger(__name__)

PART_SIZE = 8 * 1024 * 1024
# S3 allows 10,000 parts; growing the part size every 1,000 parts lifts the object limit from
# 78 GiB to about 430 GiB while ordinary uploads keep 8 MiB parts.
_PARTS_PER_SIZE_STEP = 1000
# Parts of one upload on their way to S3 (from a thread) while the next is read from the client.
PARTS_IN_FLIGHT = 1
# promote: one CopyObject up to S3's limit for it (5 GiB), a multipart copy of parts this
# size above it.
SINGLE_COPY_LIMIT = 5 * 1024**3
COPY_PART_SIZE = 512 * 1024 * 1024
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def _make_client(
    session: boto3.session.Session,
    endpoint_url: str | None,
    region: str | None,
    attempts: int,
    *,
    read_timeout: float,
) -> S3Client:
    config = Config(
        signature_version="s3v4",
        # S3-compatible servers (MinIO, Ceph, R2, ...) reject or ignore the CRC trailers that
        # recent botocore sends by default.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"mode": "standard", "total_max_attempts": attempts},
        connect_timeout=5,
        read_timeout=read_timeout,
        tcp_keepalive=True,
        # Most S3-compatible servers only speak path-style addressing.
        s3={"addressing_style": "path" if endpoint_url else "auto"},
    )
    return session.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


class S3BlobStore:
    """Objects under ``prefix/`` in ``bucket``; credentials come from boto3's default chain."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        *,
        part_size: int = PART_SIZE,
        max_attempts: int = 5,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.part_size = part_size
        session = boto3.session.Session()  # private: sessions are not thread-safe, clients are
        self._client = _make_client(session, endpoint_url, region, max_attempts, read_timeout=60)
        # Readiness probes must answer quickly: no retries, short timeouts.
        self._probe_client = _make_client(session, endpoint_url, region, 1, read_timeout=5)

    def _object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _relative_key(self, object_key: str) -> str:
        return object_key[len(self.prefix) + 1 :] if self.prefix else object_key

    def put(self, key: str, stream: BinaryIO) -> PutResult:
        """Store ``stream`` under ``key``: one request below a part, else a multipart upload."""
        reader = _HashingReader(stream)
        first = reader.read_part(self.part_size)
        with _storage_errors():
            if len(first) < self.part_size:
                self._client.put_object(Bucket=self.bucket, Key=self._object_key(key), Body=first)
            else:
                self._put_multipart(self._object_key(key), first, reader)
        return PutResult(size=reader.size, sha256=reader.hexdigest())

    def _put_multipart(self, object_key: str, first: bytes, reader: _HashingReader) -> None:
        """Upload the parts; abort on any failure so nothing appears under the key."""
        upload = self._client.create_multipart_upload(Bucket=self.bucket, Key=object_key)
        upload_id = upload["UploadId"]
        try:
            parts = self._upload_parts(object_key, upload_id, first, reader)
            self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=object_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            self._abort_multipart(object_key, upload_id)
            raise

    def _upload_parts(
        self, object_key: str, upload_id: str, part: bytes, reader: _HashingReader
    ) -> list[Any]:
        """Send parts from another thread while the next one is read from the client, so
        receiving and sending overlap. While a part is read, at most PARTS_IN_FLIGHT earlier
        ones are held, on their way to S3."""
        parts: list[Any] = []
        in_flight: deque[Future[Any]] = deque()
        with ThreadPoolExecutor(PARTS_IN_FLIGHT, thread_name_prefix="s3-part") as sender:
            number = 0
            while part:
                number += 1
                in_flight.append(
                    sender.submit(self._upload_part, object_key, upload_id, number, part)
                )
                if len(in_flight) > PARTS_IN_FLIGHT:
                    parts.append(in_flight.popleft().result())
                part = reader.read_part(self.part_size * (1 + number // _PARTS_PER_SIZE_STEP))
            parts.extend(upload.result() for upload in in_flight)
        return parts

    def _upload_part(self, object_key: str, upload_id: str, number: int, part: bytes) -> Any:
        response = self._client.upload_part(
            Bucket=self.bucket, Key=object_key, UploadId=upload_id, PartNumber=number, Body=part
        )
        return {"ETag": response["ETag"], "PartNumber": number}

    def _abort_multipart(self, object_key: str, upload_id: str) -> None:
        try:
            self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=object_key, UploadId=upload_id
            )
        except Exception:  # the original error matters more; a lifecycle rule cleans up
            log.warning("could not abort multipart upload %s of %s", upload_id, object_key)

    def open(self, key: str, start: int = 0, length: int | None = None) -> BinaryIO:
        """The object's bytes (a streaming body); a range past the end reads as empty."""
        if start < 0 or (length is not None and length < 0):
            raise ValueError("start and length must not be negative")
        if length == 0:
            self.stat(key)  # still report a missing key
            return io.BytesIO()
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": self._object_key(key)}
        if start or length is not None:
            end = "" if length is None else start + length - 1
            request["Range"] = f"bytes={start}-{end}"
        with _storage_errors():
            try:
                body = self._client.get_object(**request)["Body"]
            except ClientError as exc:
                if _error_code(exc) != "InvalidRange":
                    raise
                return io.BytesIO()  # the object exists but ends before ``start``
        return cast(BinaryIO, body)

    def stat(self, key: str) -> BlobStat:
        with _storage_errors():
            head = self._client.head_object(Bucket=self.bucket, Key=self._object_key(key))
        return BlobStat(key=key, size=head["ContentLength"], modified_at=_utc(head["LastModified"]))

    def delete(self, key: str) -> None:
        try:
            with _storage_errors():
                self._client.delete_object(Bucket=self.bucket, Key=self._object_key(key))
        except BlobNotFound:
            pass  # S3 itself answers 204 here; some compatible servers answer 404

    def iter_blobs(self, prefix: str = "") -> Iterator[BlobStat]:
        """Every object whose key (relative to the store prefix) starts with ``prefix``."""
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=self._object_key(prefix))
        with _storage_errors():
            for page in pages:
                for item in page.get("Contents", []):
                    yield BlobStat(
                        key=self._relative_key(item["Key"]),
                        size=item["Size"],
                        modified_at=_utc(item["LastModified"]),
                    )

    def signed_download_url(
        self, key: str, expires_in: int, filename: str, content_type: str
    ) -> str | None:
        """A presigned GET that serves the object as an attachment named ``filename``."""
        params = {
            "Bucket": self.bucket,
            "Key": self._object_key(key),
            "ResponseContentDisposition": content_disposition(filename),
            "ResponseContentType": content_type,
        }
        with _storage_errors():
            return self._client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires_in
            )

    def signed_upload(
        self, key: str, size: int, content_type: str, expires_in: int
    ) -> SignedUpload | None:
        """A presigned POST whose policy pins the key, the exact size and the content type."""
        fields = {"Content-Type": content_type}
        conditions: list[Any] = [
            ["content-length-range", size, size],
            {"Content-Type": content_type},
        ]
        with _storage_errors():
            post = self._client.generate_presigned_post(
                Bucket=self.bucket,
                Key=self._object_key(key),
                Fields=fields,
                Conditions=conditions,
                ExpiresIn=expires_in,
            )
        return SignedUpload(method="POST", url=post["url"], fields=post["fields"], headers={})

    # Staging: each append is one object ``<staging_key>/<offset>`` (written atomically by
    # ``put``, so a crash never leaves a torn segment); finishing streams the segments, in
    # order, into one multipart upload of the blob. Nothing is buffered across requests, so
    # the staged size never counts bytes a crash could lose.

    def _segments(self, staging_key: str) -> list[tuple[int, str, int]]:
        """(offset, key, size) of every staged segment, in offset order."""
        segments = []
        for item in self.iter_blobs(staging_key + "/"):
            name = item.key.rsplit("/", 1)[-1]
            if name.isdigit():
                segments.append((int(name), item.key, item.size))
        return sorted(segments)

    def stage_append(
        self, staging_key: str, offset: int, stream: BinaryIO, verify: Verify | None = None
    ) -> int:
        staged = 0
        for start, key, size in self._segments(staging_key):
            if start >= offset:
                self.delete(key)  # written by a request whose caller never recorded it
            elif start == staged:
                staged += size
        if staged < offset:
            raise StagingMismatch(details=[{"staged": staged, "offset": offset}])
        reader = cast(BinaryIO, _VerifyingReader(stream, verify))
        result = self.put(f"{staging_key}/{offset:020d}", reader)
        return offset + result.size

    def stage_size(self, staging_key: str) -> int:
        staged = 0
        for start, _key, size in self._segments(staging_key):
            if start == staged:
                staged += size
        return staged

    def stage_finish(self, staging_key: str, key: str) -> PutResult:
        segments = self._segments(staging_key)
        result = self.put(key, cast(BinaryIO, _ConcatReader(self, [k for _s, k, _n in segments])))
        for _start, segment, _size in segments:
            self.delete(segment)
        return result

    def stage_discard(self, staging_key: str) -> None:
        for _start, segment, _size in self._segments(staging_key):
            self.delete(segment)

    def promote(self, source_key: str, key: str) -> PutResult:
        """A server-side copy, then the source goes.

        The copy is hashed by reading it back: S3 keeps a whole-object SHA-256 only for
        single-part objects uploaded with one, which a presigned POST or copy does not give.
        """
        source: CopySourceTypeDef = {"Bucket": self.bucket, "Key": self._object_key(source_key)}
        target = self._object_key(key)
        try:
            self._copy(source, target, self.stat(source_key).size)
            self.delete(source_key)
            digest = hashlib.sha256()
            size = 0
            with closing(self.open(key)) as body:
                while chunk := body.read(CHUNK_SIZE):
                    digest.update(chunk)
                    size += len(chunk)
        except BaseException:
            self.delete(key)
            raise
        return PutResult(size=size, sha256=digest.hexdigest())

    def _copy(self, source: CopySourceTypeDef, target: str, size: int) -> None:
        with _storage_errors():
            if size <= SINGLE_COPY_LIMIT:
                self._client.copy_object(CopySource=source, Bucket=self.bucket, Key=target)
                return
            config = TransferConfig(
                multipart_threshold=SINGLE_COPY_LIMIT, multipart_chunksize=COPY_PART_SIZE
            )
            self._client.copy(source, self.bucket, target, Config=config)

    def ping(self) -> None:
        """Raise :class:`StorageUnavailable` unless the bucket answers."""
        try:
            with _storage_errors():
                self._probe_client.head_bucket(Bucket=self.bucket)
        except BlobNotFound:
            raise StorageUnavailable(f"bucket {self.bucket!r} does not exist") from None


class _VerifyingReader:
    """Hands out ``stream`` and calls ``verify`` at its end, before the caller sees EOF."""

    def __init__(self, stream: BinaryIO, verify: Verify | None) -> None:
        self.stream = stream
        self.verify = verify

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        if not data and self.verify is not None:
            verify, self.verify = self.verify, None
            verify()
        return data


class _ConcatReader:
    """The objects ``keys`` of ``store``, one after the other, as one stream."""

    def __init__(self, store: S3BlobStore, keys: list[str]) -> None:
        self.store = store
        self.keys = list(keys)
        self.current: BinaryIO | None = None

    def read(self, size: int = -1) -> bytes:
        while True:
            if self.current is None:
                if not self.keys:
                    return b""
                self.current = self.store.open(self.keys.pop(0))
            data = self.current.read(size)
            if data:
                return data
            self.current.close()
            self.current = None


class _HashingReader:
    """Reads a stream in bounded chunks, counting and hashing everything it returns."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.size = 0
        self._digest = hashlib.sha256()

    def read_part(self, part_size: int) -> bytes:
        """Up to ``part_size`` bytes; fewer only at the end of the stream."""
        buffer = bytearray()
        while len(buffer) < part_size:
            chunk = self.stream.read(min(CHUNK_SIZE, part_size - len(buffer)))
            if not chunk:
                break
            buffer += chunk
        self._digest.update(buffer)
        self.size += len(buffer)
        return bytes(buffer)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


@contextmanager
def _storage_errors() -> Iterator[None]:
    """Turn botocore errors into ``BlobNotFound`` or ``StorageUnavailable``."""
    try:
        yield
    except ClientError as exc:
        code = _error_code(exc)
        if code in _NOT_FOUND_CODES:
            raise BlobNotFound() from exc
        raise StorageUnavailable(f"object storage refused the request ({code})") from exc
    except ParamValidationError:
        raise  # a bug in our call, not an outage
    except BotoCoreError as exc:  # connection refused, timeouts, missing credentials, ...
        raise StorageUnavailable(f"object storage is unreachable ({exc})") from exc


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)
