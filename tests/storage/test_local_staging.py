"""Local staging (resumable uploads): the hash kept while appending, and one writer at a time.

A finished upload's SHA-256 names its blob for deduplication, so it must always be the hash of
the bytes the blob holds, whichever process wrote them; these tests change the file behind
the store's back and check that the hash follows the bytes.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
from pathlib import Path

import pytest

from upload_service.storage import local
from upload_service.storage.base import StagingBusy, StorageUnavailable
from upload_service.storage.local import LocalBlobStore

MiB = 1024 * 1024
KEY = "staging/upload"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path)


def never_reread(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_args: object) -> None:
        raise AssertionError("the finished upload was read again to hash it")

    monkeypatch.setattr(local, "_copy_hashing", fail)


def test_an_upload_appended_here_is_finished_without_reading_it_again(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = [os.urandom(3 * MiB + 17), os.urandom(5), os.urandom(2 * MiB)]
    offset = 0
    for part in parts:
        offset = store.stage_append(KEY, offset, io.BytesIO(part))
    never_reread(monkeypatch)
    result = store.stage_finish(KEY, "blobs/whole")
    whole = b"".join(parts)
    assert (result.size, result.sha256) == (len(whole), sha256(whole))
    assert store.open("blobs/whole").read() == whole
    with pytest.raises(OSError):  # the blob does not keep the staging's writer mark
        os.getxattr(store.root / "blobs/whole", local._WRITER_ATTR)


def test_a_cut_append_resumes_with_its_hash(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(3 * MiB)

    # a client that went away: the service hands the store a body that just ends early
    offset = store.stage_append(KEY, 0, io.BytesIO(data[: MiB + 5]))
    assert offset == MiB + 5
    store.stage_append(KEY, offset, io.BytesIO(data[offset:]))
    never_reread(monkeypatch)
    assert store.stage_finish(KEY, "blobs/resumed").sha256 == sha256(data)


def test_another_writer_in_between_makes_the_finish_hash_the_file(tmp_path: Path) -> None:
    here, other = LocalBlobStore(tmp_path), LocalBlobStore(tmp_path)  # two processes
    here.stage_append(KEY, 0, io.BytesIO(b"abc"))
    other.stage_append(KEY, 3, io.BytesIO(b"def"))
    assert here.stage_finish(KEY, "blobs/mixed").sha256 == sha256(b"abcdef")


def test_a_rewrite_by_another_writer_is_not_continued(tmp_path: Path) -> None:
    here, other = LocalBlobStore(tmp_path), LocalBlobStore(tmp_path)
    here.stage_append(KEY, 0, io.BytesIO(b"abc"))
    other.stage_append(KEY, 0, io.BytesIO(b"xyz"))  # same size, other bytes
    here.stage_append(KEY, 3, io.BytesIO(b"def"))
    result = other.stage_finish(KEY, "blobs/rewritten")
    assert result.sha256 == sha256(b"xyzdef")
    assert other.open("blobs/rewritten").read() == b"xyzdef"


def test_an_unrecorded_tail_rewritten_here_is_hashed_as_stored(store: LocalBlobStore) -> None:
    store.stage_append(KEY, 0, io.BytesIO(b"abc"))
    store.stage_append(KEY, 3, io.BytesIO(b"lost answer"))
    store.stage_append(KEY, 3, io.BytesIO(b"de"))
    assert store.stage_finish(KEY, "blobs/tail").sha256 == sha256(b"abcde")


def test_without_extended_attributes_the_finish_hashes_the_file(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsupported(*_args: object) -> None:
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(os, "setxattr", unsupported)
    reads: list[object] = []
    rehash = local._copy_hashing
    monkeypatch.setattr(local, "_copy_hashing", lambda *a: reads.append(a) or rehash(*a))
    store.stage_append(KEY, 0, io.BytesIO(b"abc"))
    store.stage_append(KEY, 3, io.BytesIO(b"def"))
    assert store.stage_finish(KEY, "blobs/plain").sha256 == sha256(b"abcdef")
    assert len(reads) == 1


def test_a_staged_file_another_request_still_writes_is_busy(store: LocalBlobStore) -> None:
    store.stage_append(KEY, 0, io.BytesIO(b"abc"))
    stalled = os.open(store.root / KEY, os.O_RDWR)  # e.g. a request whose lease ran out
    fcntl.flock(stalled, fcntl.LOCK_EX)
    try:
        with pytest.raises(StagingBusy) as refused:
            store.stage_append(KEY, 3, io.BytesIO(b"def"))
        assert refused.value.status == 409
        with pytest.raises(StagingBusy):
            store.stage_finish(KEY, "blobs/busy")
    finally:
        os.close(stalled)
    assert store.stage_append(KEY, 3, io.BytesIO(b"def")) == 6
    assert store.stage_finish(KEY, "blobs/busy").sha256 == sha256(b"abcdef")


def test_a_mark_that_can_be_neither_replaced_nor_removed_stops_the_append(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.stage_append(KEY, 0, io.BytesIO(b"abc"))

    def refused(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "setxattr", refused)
    monkeypatch.setattr(os, "removexattr", refused)
    with pytest.raises(StorageUnavailable):
        store.stage_append(KEY, 3, io.BytesIO(b"def"))
    assert store.stage_size(KEY) == 3
