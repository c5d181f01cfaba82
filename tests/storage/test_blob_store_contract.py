"""One contract for every ``BlobStore`` backend: a local directory and S3 (moto server)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import socket
import threading
import time
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import pytest
import requests
from botocore.exceptions import ClientError
from werkzeug.http import parse_options_header

from upload_service.errors import TooLarge
from upload_service.services.ingest import LimitedStream, _Limits
from upload_service.settings import load_settings
from upload_service.storage import (
    BlobNotFound,
    BlobStore,
    PutResult,
    StorageUnavailable,
    open_blob_store,
)
from upload_service.storage.disposition import content_disposition
from upload_service.storage.local import LocalBlobStore
from upload_service.storage.s3 import PART_SIZE, PARTS_IN_FLIGHT, S3BlobStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024
S3_PREFIX = "uploads"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """Each backend, empty."""
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    return S3BlobStore(
        bucket=request.getfixturevalue("s3_bucket"),
        prefix=S3_PREFIX,
        endpoint_url=request.getfixturevalue("moto_server"),
        region="us-east-1",
    )


@pytest.fixture
def s3_store(s3_bucket: str, moto_server: str) -> S3BlobStore:
    return S3BlobStore(s3_bucket, S3_PREFIX, moto_server, "us-east-1")


class PatternStream:
    """``size`` pseudo-random bytes produced on demand, in reads of at most ``max_read``.

    Short reads mimic sockets; ``fail_at`` raises ``TooLarge`` (as a size-limit wrapper would)
    once that many bytes have been handed out.
    """

    def __init__(self, size: int, *, max_read: int = 256 * 1024, fail_at: int | None = None):
        self.size = size
        self.position = 0
        self.max_read = max_read
        self.fail_at = fail_at
        self._block = hashlib.sha256(str(size).encode()).digest() * 2048  # 64 KiB

    def read(self, n: int = -1) -> bytes:
        if self.fail_at is not None and self.position >= self.fail_at:
            raise TooLarge()
        n = min(n if n >= 0 else self.size, self.max_read, self.size - self.position)
        offset = self.position % len(self._block)
        data = (self._block[offset:] + self._block)[:n]
        self.position += len(data)
        return data

    def expected(self) -> bytes:
        blocks = self._block * (self.size // len(self._block) + 1)
        return blocks[: self.size]


class ReadintoPatternStream(PatternStream):
    """A :class:`PatternStream` that also offers ``readinto`` (as sockets and files do)."""

    def readinto(self, buffer: memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def put_bytes(store: BlobStore, key: str, data: bytes) -> PutResult:
    return store.put(key, io.BytesIO(data))


def read_all(stream: BinaryIO) -> bytes:
    try:
        chunks = []
        while chunk := stream.read(64 * 1024):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        stream.close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_nothing_left(store: BlobStore, s3_client: S3Client | None = None) -> None:
    """No blob, and no temp file (local) or unfinished multipart upload (S3)."""
    assert list(store.iter_blobs()) == []
    if isinstance(store, LocalBlobStore):
        assert [p for p in store.root.rglob("*") if p.is_file()] == []
    if isinstance(store, S3BlobStore):
        assert s3_client is not None
        uploads = s3_client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
        assert uploads == []


def s3_client_for(store: BlobStore, request: pytest.FixtureRequest) -> S3Client | None:
    if isinstance(store, S3BlobStore):
        return cast("S3Client", request.getfixturevalue("s3_client"))
    return None


# --- the contract ------------------------------------------------------------------------------


def test_every_backend_satisfies_the_protocol(store: BlobStore) -> None:
    assert isinstance(store, BlobStore)


def test_put_then_open_round_trips(store: BlobStore) -> None:
    data = os.urandom(100_000)

    result = put_bytes(store, "ab/cdef", data)

    assert result == PutResult(size=len(data), sha256=sha256(data))
    assert read_all(store.open("ab/cdef")) == data


def test_put_replaces_an_existing_blob(store: BlobStore) -> None:
    put_bytes(store, "key", b"old content")
    put_bytes(store, "key", b"new")

    assert read_all(store.open("key")) == b"new"
    assert store.stat("key").size == 3


def test_empty_blob(store: BlobStore) -> None:
    assert put_bytes(store, "empty", b"") == PutResult(size=0, sha256=sha256(b""))
    assert read_all(store.open("empty")) == b""
    assert read_all(store.open("empty", 0, 10)) == b""
    assert store.stat("empty").size == 0


@pytest.mark.parametrize(
    ("start", "length", "expected"),
    [
        (0, None, slice(0, 1000)),
        (100, None, slice(100, 1000)),
        (100, 50, slice(100, 150)),
        (0, 1, slice(0, 1)),
        (999, None, slice(999, 1000)),
        (990, 50, slice(990, 1000)),  # length past the end: up to the end
        (1000, None, slice(0, 0)),  # start at the end: nothing
        (5000, 10, slice(0, 0)),  # start past the end: nothing
        (10, 0, slice(0, 0)),
    ],
)
def test_open_reads_byte_ranges(
    store: BlobStore, start: int, length: int | None, expected: slice
) -> None:
    data = os.urandom(1000)
    put_bytes(store, "ranged", data)

    assert read_all(store.open("ranged", start, length)) == data[expected]


def test_open_rejects_negative_ranges(store: BlobStore) -> None:
    put_bytes(store, "ranged", b"abc")

    with pytest.raises(ValueError):
        store.open("ranged", -1)
    with pytest.raises(ValueError):
        store.open("ranged", 0, -1)


def test_stat_reports_size_and_utc_modification_time(store: BlobStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    put_bytes(store, "stat/me", b"x" * 1234)

    info = store.stat("stat/me")

    assert (info.key, info.size) == ("stat/me", 1234)
    assert info.modified_at.utcoffset() == timedelta(0)
    assert before <= info.modified_at <= datetime.now(UTC) + timedelta(seconds=5)


def test_delete_removes_and_is_idempotent(store: BlobStore) -> None:
    put_bytes(store, "doomed", b"bye")
    put_bytes(store, "kept", b"hi")

    store.delete("doomed")
    store.delete("doomed")
    store.delete("never-existed")

    with pytest.raises(BlobNotFound):
        store.stat("doomed")
    assert read_all(store.open("kept")) == b"hi"


def test_missing_key_is_blob_not_found(store: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        store.open("missing")
    with pytest.raises(BlobNotFound):
        store.open("missing", 10, 5)
    with pytest.raises(BlobNotFound):
        store.open("missing", 0, 0)
    with pytest.raises(BlobNotFound):
        store.stat("missing")


def test_a_key_prefix_is_not_a_blob(store: BlobStore) -> None:
    """``ab`` is not a blob just because ``ab/cd`` is (a directory, for the local store)."""
    put_bytes(store, "ab/cd", b"nested")

    with pytest.raises(BlobNotFound):
        store.open("ab")
    with pytest.raises(BlobNotFound):
        store.stat("ab")
    with pytest.raises(BlobNotFound):
        store.open("ab/cd/ef")
    with pytest.raises(BlobNotFound):
        store.stat("ab/cd/ef")
    store.delete("ab")
    store.delete("ab/cd/ef")
    assert read_all(store.open("ab/cd")) == b"nested"


@pytest.mark.parametrize("fail_at", [0, 1000, 20 * MiB], ids=["first-read", "small", "multipart"])
def test_a_stream_that_fails_leaves_no_blob(
    store: BlobStore, request: pytest.FixtureRequest, fail_at: int
) -> None:
    stream = PatternStream(30 * MiB, fail_at=fail_at)

    with pytest.raises(TooLarge):  # the stream's own error, unchanged
        store.put("partial", cast(BinaryIO, stream))

    with pytest.raises(BlobNotFound):
        store.stat("partial")
    assert_nothing_left(store, s3_client_for(store, request))


def test_a_failed_replace_keeps_the_previous_blob(store: BlobStore) -> None:
    put_bytes(store, "precious", b"version 1")

    with pytest.raises(TooLarge):
        store.put("precious", cast(BinaryIO, PatternStream(10 * MiB, fail_at=9 * MiB)))

    assert read_all(store.open("precious")) == b"version 1"


@pytest.mark.parametrize(
    "size", [PART_SIZE - 1, PART_SIZE, 2 * PART_SIZE + 4321], ids=["below", "one-part", "20MiB"]
)
def test_large_blobs_round_trip_byte_exact(store: BlobStore, size: int) -> None:
    stream = PatternStream(size, max_read=100_000)  # short reads, not aligned to parts
    expected = stream.expected()

    result = store.put("big", cast(BinaryIO, stream))

    assert result == PutResult(size=size, sha256=sha256(expected))
    assert read_all(store.open("big")) == expected
    assert (
        read_all(store.open("big", PART_SIZE - 10, 20)) == expected[PART_SIZE - 10 : PART_SIZE + 10]
    )


@pytest.mark.parametrize(
    "stream_class", [PatternStream, ReadintoPatternStream], ids=["read", "readinto"]
)
def test_put_through_the_ingest_limits_round_trips(
    store: BlobStore, stream_class: type[PatternStream]
) -> None:
    size = 3 * MiB + 4321
    stream = stream_class(size, max_read=100_000)
    expected = stream.expected()
    limited = LimitedStream(cast(BinaryIO, stream), _Limits(max_size=size, quota_left=None))

    result = store.put("limited", cast(BinaryIO, limited))

    assert result == PutResult(size=size, sha256=sha256(expected))
    assert limited.count == size
    assert read_all(store.open("limited")) == expected


@pytest.mark.parametrize(
    "stream_class", [PatternStream, ReadintoPatternStream], ids=["read", "readinto"]
)
def test_crossing_the_ingest_size_limit_leaves_no_blob(
    store: BlobStore, request: pytest.FixtureRequest, stream_class: type[PatternStream]
) -> None:
    stream = stream_class(3 * MiB)
    limited = LimitedStream(cast(BinaryIO, stream), _Limits(max_size=2 * MiB, quota_left=None))

    with pytest.raises(TooLarge):
        store.put("too-big", cast(BinaryIO, limited))

    with pytest.raises(BlobNotFound):
        store.stat("too-big")
    assert_nothing_left(store, s3_client_for(store, request))


def test_iter_blobs_lists_keys_with_and_without_prefix(store: BlobStore) -> None:
    for key, size in {"aa/one": 1, "aa/two": 2, "ab/three": 3, "bb/four": 4}.items():
        put_bytes(store, key, b"x" * size)

    def listing(prefix: str = "") -> dict[str, int]:
        return {info.key: info.size for info in store.iter_blobs(prefix)}

    assert listing() == {"aa/one": 1, "aa/two": 2, "ab/three": 3, "bb/four": 4}
    assert listing("aa/") == {"aa/one": 1, "aa/two": 2}
    assert listing("a") == {"aa/one": 1, "aa/two": 2, "ab/three": 3}
    assert listing("zz") == {}
    assert all(info.modified_at.utcoffset() == timedelta(0) for info in store.iter_blobs())


def test_iter_blobs_of_an_empty_store(store: BlobStore) -> None:
    assert list(store.iter_blobs()) == []


def test_ping_succeeds_on_a_working_store(store: BlobStore) -> None:
    store.ping()


# --- signed download URLs ----------------------------------------------------------------------


def test_s3_signed_download_url_serves_the_bytes_as_an_attachment(s3_store: S3BlobStore) -> None:
    data = os.urandom(50_000)
    put_bytes(s3_store, "shared/blob", data)

    url = s3_store.signed_download_url("shared/blob", 300, 'Résumé "final".pdf', "application/pdf")

    assert url is not None
    response = requests.get(url, timeout=10)  # no credentials: the URL is the credential
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["Content-Type"] == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert disposition == content_disposition('Résumé "final".pdf')
    assert parse_options_header(disposition) == ("attachment", {"filename": 'Résumé "final".pdf'})


def test_s3_signed_url_is_for_one_key_only(s3_store: S3BlobStore) -> None:
    put_bytes(s3_store, "one", b"1")
    put_bytes(s3_store, "two", b"2")

    url = s3_store.signed_download_url("one", 300, "one.txt", "text/plain")

    assert url is not None
    assert "/uploads/one?" in url
    assert requests.get(url, timeout=10).content == b"1"


def test_local_store_has_no_signed_urls(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    put_bytes(store, "blob", b"data")

    assert store.signed_download_url("blob", 300, "a.txt", "text/plain") is None


# --- backend specifics -------------------------------------------------------------------------

HOSTILE_KEYS = [
    "",
    ".",
    "..",
    "../escape",
    "a/../../escape",
    "a/./b",
    "/etc/passwd",
    "a//b",
    "a/",
    "a\\b",
    "a\nb",
    "trailing-newline\n",
    "nul\x00byte",
    "space here",
    ".tmp-looks-like-a-temp-file",
    "ünïcode",
]


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_local_store_rejects_hostile_keys(tmp_path: Path, key: str) -> None:
    store = LocalBlobStore(tmp_path / "root")

    with pytest.raises(ValueError):
        store.put(key, io.BytesIO(b"evil"))
    for operation in (store.open, store.stat, store.delete):
        with pytest.raises(ValueError):
            operation(key)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_local_store_hides_its_temp_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    put_bytes(store, "ab/real", b"1")
    (tmp_path / "ab" / ".tmp-crashed-upload").write_bytes(b"half")

    assert [info.key for info in store.iter_blobs()] == ["ab/real"]


def test_local_ping_fails_when_the_directory_is_gone(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    (tmp_path / "blobs").rmdir()

    with pytest.raises(StorageUnavailable):
        store.ping()


@pytest.mark.parametrize("prefix", ["uploads", "", "deep/er/"])
def test_s3_objects_live_under_the_store_prefix(
    s3_bucket: str, moto_server: str, s3_client: S3Client, prefix: str
) -> None:
    store = S3BlobStore(s3_bucket, prefix, moto_server, "us-east-1")
    put_bytes(store, "ab/cd", b"payload")
    s3_client.put_object(Bucket=s3_bucket, Key="elsewhere/x", Body=b"not ours")

    expected_key = f"{prefix.strip('/')}/ab/cd" if prefix else "ab/cd"
    assert s3_client.get_object(Bucket=s3_bucket, Key=expected_key)["Body"].read() == b"payload"
    keys = [info.key for info in store.iter_blobs()]
    assert "ab/cd" in keys
    if prefix:
        assert keys == ["ab/cd"]


def test_s3_multipart_upload_reads_ahead_of_sending_by_a_bounded_amount(
    s3_store: S3BlobStore, s3_client: S3Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts are sent while the next ones are read, but memory stays bounded: the bytes read
    and not yet stored never exceed PARTS_IN_FLIGHT parts plus the one being read."""
    stream = PatternStream(6 * PART_SIZE - 1)
    stored = 0
    ahead: list[int] = []
    lock = threading.Lock()
    upload_part = s3_store._client.upload_part

    def slow_upload_part(**kwargs: Any) -> Any:
        nonlocal stored
        time.sleep(0.2)  # a slow S3: reading would race ahead if nothing held it back
        with lock:
            ahead.append(stream.position - stored)
        response = upload_part(**kwargs)
        with lock:
            stored += len(kwargs["Body"])
        return response

    monkeypatch.setattr(s3_store._client, "upload_part", slow_upload_part)

    s3_store.put("streamed", cast(BinaryIO, stream))

    assert max(ahead) <= (PARTS_IN_FLIGHT + 1) * PART_SIZE
    assert max(ahead) > PART_SIZE  # reading went on while a part was being sent
    body = s3_client.get_object(Bucket=s3_store.bucket, Key="uploads/streamed")["Body"].read()
    assert body == stream.expected()  # parts in their order
    etag = s3_client.head_object(Bucket=s3_store.bucket, Key="uploads/streamed")["ETag"]
    assert etag.strip('"').endswith("-6")  # really stored as a six-part upload


def test_s3_error_during_multipart_upload_aborts_it(
    s3_store: S3BlobStore, s3_client: S3Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload_part = s3_store._client.upload_part

    def upload_part_then_fail(**kwargs: Any) -> Any:
        if kwargs["PartNumber"] == 2:
            raise ClientError({"Error": {"Code": "SlowDown"}}, "UploadPart")
        return upload_part(**kwargs)

    monkeypatch.setattr(s3_store._client, "upload_part", upload_part_then_fail)

    with pytest.raises(StorageUnavailable):
        s3_store.put("doomed", cast(BinaryIO, PatternStream(2 * PART_SIZE + 1)))

    assert_nothing_left(s3_store, s3_client)


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_s3_unreachable_endpoint_is_storage_unavailable(aws_credentials: None) -> None:
    store = S3BlobStore("bucket", "p", _closed_port_url(), "us-east-1", max_attempts=1)

    with pytest.raises(StorageUnavailable):
        store.ping()
    with pytest.raises(StorageUnavailable):
        put_bytes(store, "k", b"data")
    with pytest.raises(StorageUnavailable):
        store.put("k", cast(BinaryIO, PatternStream(PART_SIZE + 1)))
    with pytest.raises(StorageUnavailable):
        store.open("k")
    with pytest.raises(StorageUnavailable):
        store.stat("k")
    with pytest.raises(StorageUnavailable):
        store.delete("k")
    with pytest.raises(StorageUnavailable):
        list(store.iter_blobs())


def test_s3_missing_bucket_is_storage_unavailable(moto_server: str, aws_credentials: None) -> None:
    store = S3BlobStore("no-such-bucket-here", "", moto_server, "us-east-1")

    with pytest.raises(StorageUnavailable):
        store.ping()
    with pytest.raises(StorageUnavailable):
        list(store.iter_blobs())


def test_s3_missing_credentials_is_storage_unavailable(
    s3_bucket: str, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = S3BlobStore(s3_bucket, "", moto_server, "us-east-1")

    with pytest.raises(StorageUnavailable):
        store.stat("anything")


# --- choosing the backend ----------------------------------------------------------------------


def test_open_blob_store_defaults_to_local_under_data_dir(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": tmp_path, "SECRET_KEY": "k"}, env_file=None)

    store = open_blob_store(settings)

    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path.resolve() / "uploads"


def test_open_blob_store_picks_local_for_file_urls(tmp_path: Path) -> None:
    root = tmp_path / "elsewhere"
    settings = load_settings(
        {"DATA_DIR": tmp_path, "SECRET_KEY": "k", "STORAGE_URL": f"file://{root}"}, env_file=None
    )

    store = open_blob_store(settings)

    assert isinstance(store, LocalBlobStore)
    assert store.root == root.resolve()
    assert root.is_dir()


def test_open_blob_store_picks_s3_for_s3_urls(
    tmp_path: Path, s3_storage_overrides: dict[str, str], s3_client: S3Client, s3_bucket: str
) -> None:
    settings = load_settings(
        {"DATA_DIR": tmp_path, "SECRET_KEY": "k", **s3_storage_overrides}, env_file=None
    )

    store = open_blob_store(settings)

    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix) == (s3_bucket, "uploads")
    store.ping()
    put_bytes(store, "via-settings", b"hello")
    body = s3_client.get_object(Bucket=s3_bucket, Key="uploads/via-settings")["Body"]
    assert body.read() == b"hello"


# --- Content-Disposition -----------------------------------------------------------------------

# Printable ASCII only: a quoted fallback without '"' or '\\', then RFC 8187 attr-chars.
_HEADER_RE = re.compile(
    r"^(attachment|inline); "
    r"filename=\"[ !#-\[\]-~]*\"; "
    r"filename\*=UTF-8''[A-Za-z0-9!#$&+.^_`|~%-]+$"
)


def test_content_disposition_of_a_plain_name() -> None:
    assert content_disposition("report.pdf") == (
        "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    )
    assert content_disposition("a b.txt", "inline") == (
        "inline; filename=\"a b.txt\"; filename*=UTF-8''a%20b.txt"
    )


def test_content_disposition_keeps_unicode_in_filename_star() -> None:
    header = content_disposition("naïve résumé 日本.pdf")

    assert 'filename="naive resume __.pdf"' in header
    assert parse_options_header(header) == ("attachment", {"filename": "naïve résumé 日本.pdf"})


@pytest.mark.parametrize(
    "name",
    [
        'quote"d.txt',
        'only"',
        "back\\slash.txt",
        "dir/../../etc/passwd",
        "crlf\r\nSet-Cookie: pwned=1",
        "nul\x00and\x1fcontrols\x7f\x85.txt",
        "line\u2028separator",
        "\u202egnp.exe",  # right-to-left override: shows as "exe.png"
        "lone\udcffsurrogate.bin",
        "percent%41%0d%0a.txt",
        "semi;colon=equals,comma.txt",
        "日本語",
        "",
        "..",
        "   ",
    ],
)
def test_content_disposition_survives_hostile_names(name: str) -> None:
    header = content_disposition(name)

    assert _HEADER_RE.match(header), header
    kind, params = parse_options_header(header)
    decoded = params["filename"]
    assert kind == "attachment"
    assert decoded.strip(" ._"), "never an empty or dot-only name"
    assert not any(char in decoded for char in "/\\")
    assert all(unicodedata.category(char)[0] != "C" for char in decoded)
    assert all(unicodedata.category(char) not in {"Zl", "Zp"} for char in decoded)


def test_content_disposition_rejects_unknown_dispositions() -> None:
    with pytest.raises(ValueError):
        content_disposition("a.txt", 'attachment; filename="x"')


def test_signed_upload_stores_the_object_without_credentials(store: BlobStore) -> None:
    data = os.urandom(1000)
    signed = store.signed_upload("direct/one", len(data), "text/plain", 60)
    if signed is None:  # local storage: the service signs its own upload URLs
        assert isinstance(store, LocalBlobStore)
        return
    assert signed.method == "POST"
    posted = requests.post(
        signed.url, data=signed.fields, files={"file": ("x", data, "text/plain")}, timeout=30
    )
    assert posted.status_code in (200, 201, 204), posted.text
    assert store.stat("direct/one").size == len(data)
    with store.open("direct/one") as stream:
        assert stream.read() == data


def test_signed_upload_policy_pins_key_exact_size_and_content_type(s3_store: S3BlobStore) -> None:
    # moto does not enforce POST policies, so the policy itself is checked here; real S3 refuses
    # any other size or type, and completion re-checks the stored size anyway.
    signed = s3_store.signed_upload("direct/typed", 3, "text/plain", 60)
    assert signed is not None
    policy = json.loads(base64.b64decode(signed.fields["policy"]))
    conditions = policy["conditions"]
    assert ["content-length-range", 3, 3] in conditions
    assert {"Content-Type": "text/plain"} in conditions
    assert {"key": f"{S3_PREFIX}/direct/typed"} in conditions
    assert signed.fields["key"] == f"{S3_PREFIX}/direct/typed"


def test_promote_moves_an_uploaded_object_into_a_hashed_blob(store: BlobStore) -> None:
    data = os.urandom(3000)
    store.put("staging/direct-up", io.BytesIO(data))
    result = store.promote("staging/direct-up", "blobs/promoted")
    assert result == PutResult(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    with store.open("blobs/promoted") as stream:
        assert stream.read() == data
    with pytest.raises(BlobNotFound):
        store.stat("staging/direct-up")
    # a client writing the upload key again cannot change the blob
    store.put("staging/direct-up", io.BytesIO(b"overwritten"))
    with store.open("blobs/promoted") as stream:
        assert stream.read() == data


def test_promote_of_a_missing_object_is_blob_not_found(store: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        store.promote("staging/never-uploaded", "blobs/nothing")
    with pytest.raises(BlobNotFound):
        store.stat("blobs/nothing")


def test_s3_promote_copies_large_objects_in_parts(
    s3_store: S3BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("upload_service.storage.s3.SINGLE_COPY_LIMIT", 5 * 1024 * 1024)
    monkeypatch.setattr("upload_service.storage.s3.COPY_PART_SIZE", 5 * 1024 * 1024)
    data = os.urandom(11 * 1024 * 1024)
    s3_store.put("staging/big-direct", io.BytesIO(data))
    result = s3_store.promote("staging/big-direct", "blobs/big-promoted")
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    with s3_store.open("blobs/big-promoted") as stream:
        assert stream.read() == data


# Staging (resumable uploads): appends are durable, re-appends at an offset drop what follows,
# a failed verify keeps nothing of the call, finishing yields one hashed blob.


def _fail() -> None:
    raise TooLarge()


def test_staging_appends_and_finishes(store: BlobStore) -> None:
    staging = "staging/contract"
    assert store.stage_size(staging) == 0
    assert store.stage_append(staging, 0, io.BytesIO(b"hello ")) == 6
    assert store.stage_append(staging, 6, io.BytesIO(b"world")) == 11
    assert store.stage_size(staging) == 11
    result = store.stage_finish(staging, "blobs/staged")
    assert result == PutResult(size=11, sha256=hashlib.sha256(b"hello world").hexdigest())
    assert store.open("blobs/staged").read() == b"hello world"
    assert store.stage_size(staging) == 0


def test_staging_failed_verify_keeps_nothing_of_the_call(store: BlobStore) -> None:
    staging = "staging/verify"
    store.stage_append(staging, 0, io.BytesIO(b"abc"))
    with pytest.raises(TooLarge):
        store.stage_append(staging, 3, io.BytesIO(b"def"), _fail)
    assert store.stage_size(staging) == 3
    with pytest.raises(TooLarge):
        store.stage_append(staging, 3, PatternStream(MiB, fail_at=1000))
    assert store.stage_size(staging) == 3


def test_staging_rewrite_at_offset_drops_unrecorded_tail(store: BlobStore) -> None:
    staging = "staging/rewrite"
    store.stage_append(staging, 0, io.BytesIO(b"abc"))
    store.stage_append(staging, 3, io.BytesIO(b"unrecorded"))
    assert store.stage_append(staging, 3, io.BytesIO(b"de")) == 5
    assert store.stage_finish(staging, "blobs/rewritten").size == 5
    assert store.open("blobs/rewritten").read() == b"abcde"


def test_staging_offset_past_the_end_is_refused(store: BlobStore) -> None:
    from upload_service.storage.base import StagingMismatch

    with pytest.raises(StagingMismatch):
        store.stage_append("staging/gap", 5, io.BytesIO(b"x"))


def test_staging_discard(store: BlobStore) -> None:
    store.stage_append("staging/gone", 0, io.BytesIO(b"abc"))
    store.stage_discard("staging/gone")
    store.stage_discard("staging/never")
    assert store.stage_size("staging/gone") == 0
