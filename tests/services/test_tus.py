"""services.tus: resumable uploads keep their offset, append, finish into a file, terminate."""

from __future__ import annotations

import base64
import hashlib
import io
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from tests.services.helpers import (
    CutStream,
    ago,
    complete_paths,
    content,
    ingest,
    set_quota,
    stored_keys,
    update_row,
)
from upload_service.errors import BadRequest, Conflict, NotFound, TooLarge
from upload_service.models import File, Lease, UploadSession, User, utcnow
from upload_service.runtime import Runtime
from upload_service.services import tus
from upload_service.services.tus import ChecksumMismatch, Gone, PatchOutcome
from upload_service.sweeper import acquire_lease

DATA = b"0123456789" * 3


def metadata(**values: str) -> str:
    return ",".join(f"{key} {base64.b64encode(v.encode()).decode()}" for key, v in values.items())


def create(
    runtime: Runtime, owner: User, length: int | None = len(DATA), **values: str
) -> UploadSession:
    values = {"filename": "a.bin", **values}
    return tus.create_upload(runtime, owner, length, metadata(**values))


def patch(
    runtime: Runtime,
    owner: User,
    upload: UploadSession,
    offset: int,
    data: bytes,
    checksum: str | None = None,
    **kw: int,
) -> PatchOutcome:
    return tus.patch_upload(
        runtime,
        owner,
        upload.id,
        offset,
        io.BytesIO(data),
        content_length=len(data),
        checksum_header=checksum,
        **kw,
    )


def offset_of(runtime: Runtime, owner: User, upload: UploadSession) -> int:
    return tus.get_upload(runtime, owner, upload.id).offset


def file_of(runtime: Runtime, outcome: PatchOutcome) -> File:
    """The file the finishing PATCH made."""
    with runtime.db.session() as session:
        return session.get_one(File, outcome.file_id)


def test_metadata_pairs_are_decoded_and_bad_base64_refused() -> None:
    assert tus.parse_metadata(metadata(filename="ü.txt") + ", flag") == {
        "filename": "ü.txt",
        "flag": "",
    }
    assert tus.parse_metadata(None) == {}
    with pytest.raises(BadRequest) as info:
        tus.parse_metadata("filename not-base64!")
    assert info.value.code == "invalid_metadata"


def test_chunks_append_at_the_offset_and_the_last_one_makes_the_file(
    runtime: Runtime, owner: User
) -> None:
    upload = create(runtime, owner, folder="in", filetype="application/x-custom")

    first = patch(runtime, owner, upload, 0, DATA[:10])
    assert (first.session.offset, first.file_id) == (10, None)
    assert offset_of(runtime, owner, upload) == 10
    assert complete_paths(runtime, owner) == []
    done = patch(runtime, owner, upload, 10, DATA[10:])

    file = file_of(runtime, done)
    assert (file.path, file.content_type, content(runtime, file)) == (
        "in/a.bin",
        "application/x-custom",
        DATA,
    )
    assert tus.get_upload(runtime, owner, upload.id).state == "finished"
    assert stored_keys(runtime, "staging/") == []
    assert tus.stored_metadata(tus.get_upload(runtime, owner, upload.id)).startswith("filename ")


def test_a_patch_at_the_wrong_offset_is_refused(runtime: Runtime, owner: User) -> None:
    upload = create(runtime, owner)
    patch(runtime, owner, upload, 0, DATA[:10])

    for offset in (0, 5, 11):
        with pytest.raises(Conflict) as info:
            patch(runtime, owner, upload, offset, DATA[offset:])
        assert (info.value.code, info.value.details) == ("offset_mismatch", [{"offset": 10}])
    assert offset_of(runtime, owner, upload) == 10


def test_bytes_past_the_length_are_refused_and_not_kept(runtime: Runtime, owner: User) -> None:
    upload = create(runtime, owner)

    with pytest.raises(TooLarge):  # said by Content-Length
        patch(runtime, owner, upload, 0, DATA + b"!")
    with pytest.raises(TooLarge):  # found while reading
        tus.patch_upload(
            runtime,
            owner,
            upload.id,
            0,
            io.BytesIO(DATA + b"!"),
            content_length=None,
            checksum_header=None,
        )

    assert offset_of(runtime, owner, upload) == 0
    assert runtime.store.stage_size(upload.staging_key or "") == 0


def test_a_chunk_must_match_its_checksum(runtime: Runtime, owner: User) -> None:
    upload = create(runtime, owner)

    def checksum(data: bytes) -> str:
        return "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()

    with pytest.raises(ChecksumMismatch):
        patch(runtime, owner, upload, 0, DATA[:10], checksum(b"other"))
    assert offset_of(runtime, owner, upload) == 0
    with pytest.raises(BadRequest):
        patch(runtime, owner, upload, 0, DATA[:10], "crc32 AAAA")
    patch(runtime, owner, upload, 0, DATA[:10], checksum(DATA[:10]))
    assert offset_of(runtime, owner, upload) == 10


def test_a_cut_chunk_keeps_what_arrived(runtime: Runtime, owner: User) -> None:
    upload = create(runtime, owner)

    with pytest.raises(BadRequest) as info:
        tus.patch_upload(
            runtime,
            owner,
            upload.id,
            0,
            CutStream(DATA[:12], ConnectionResetError()),
            content_length=len(DATA),
            checksum_header=None,
        )

    assert info.value.code == "upload_interrupted"
    assert offset_of(runtime, owner, upload) == 12
    done = patch(runtime, owner, upload, 12, DATA[12:])
    assert content(runtime, file_of(runtime, done)) == DATA


class SlowClient(io.RawIOBase):
    """A body sent in small pieces, ``on_piece`` called before each: a PATCH that streams long."""

    def __init__(self, data: bytes, on_piece: Callable[[], None], piece: int = 3) -> None:
        self.data, self.on_piece, self.piece = data, on_piece, piece

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self.data:
            return 0
        self.on_piece()
        size = min(len(buffer), self.piece, len(self.data))
        buffer[:size] = self.data[:size]
        self.data = self.data[size:]
        return size


def slow_patch(
    runtime: Runtime, owner: User, upload: UploadSession, on_piece: Callable[[], None]
) -> PatchOutcome:
    return tus.patch_upload(
        runtime,
        owner,
        upload.id,
        0,
        SlowClient(DATA, on_piece),
        content_length=len(DATA),
        checksum_header=None,
    )


def test_a_patch_that_streams_longer_than_its_lease_keeps_it(
    runtime: Runtime, owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tus, "PATCH_LEASE_TTL", timedelta(milliseconds=200))
    monkeypatch.setattr(tus, "LEASE_RENEWAL", timedelta(milliseconds=50))
    upload = create(runtime, owner)
    taken_by_others: list[bool] = []

    def another_request_tries() -> None:
        time.sleep(0.06)  # 10 pieces: 0.6 s, three times the lease
        lease = f"tus:{upload.id}"
        taken_by_others.append(
            acquire_lease(runtime.db, lease, "other", utcnow(), timedelta(minutes=1))
        )

    done = slow_patch(runtime, owner, upload, another_request_tries)

    assert taken_by_others and not any(taken_by_others)
    assert content(runtime, file_of(runtime, done)) == DATA


def test_a_patch_whose_lease_was_taken_over_keeps_nothing(
    runtime: Runtime, owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tus, "LEASE_RENEWAL", timedelta(0))  # renew at every piece
    upload = create(runtime, owner)

    def taken_over() -> None:  # e.g. the lease ran out while this process was stalled
        update_row(
            runtime,
            Lease,
            f"tus:{upload.id}",
            holder="other",
            expires_at=utcnow() + timedelta(hours=1),
        )

    with pytest.raises(Conflict) as info:
        slow_patch(runtime, owner, upload, taken_over)

    assert info.value.code == "upload_locked"
    assert offset_of(runtime, owner, upload) == 0
    assert runtime.store.stage_size(f"staging/{upload.id}") == 0


def test_the_length_may_be_declared_later(runtime: Runtime, owner: User) -> None:
    upload = create(runtime, owner, length=None)

    patch(runtime, owner, upload, 0, DATA[:10])
    with pytest.raises(BadRequest):  # shorter than what already arrived
        patch(runtime, owner, upload, 10, b"", length=5)
    done = patch(runtime, owner, upload, 10, DATA[10:], length=len(DATA))

    assert content(runtime, file_of(runtime, done)) == DATA


def test_terminate_removes_the_session_and_its_bytes(
    runtime: Runtime, owner: User, stranger: User
) -> None:
    upload = create(runtime, owner)
    patch(runtime, owner, upload, 0, DATA[:10])

    with pytest.raises(NotFound):
        tus.terminate_upload(runtime, stranger, upload.id)
    tus.terminate_upload(runtime, owner, upload.id)

    assert stored_keys(runtime) == []
    for who in (owner, stranger):
        with pytest.raises(NotFound):
            tus.get_upload(runtime, who, upload.id)


def test_an_expired_upload_is_gone(runtime: Runtime, owner: User) -> None:
    upload = create(runtime, owner)
    update_row(runtime, UploadSession, upload.id, expires_at=ago(1))

    with pytest.raises(Gone):
        patch(runtime, owner, upload, 0, DATA)
    assert complete_paths(runtime, owner) == []


def test_creation_refuses_what_can_never_finish(runtime: Runtime, owner: User) -> None:
    ingest(runtime, owner, {"taken.bin": b"t"})
    runtime.settings.MAX_FILE_SIZE = 100

    for values, error, code in [
        ({"filename": ""}, BadRequest, "missing_filename"),
        ({"filename": "../x"}, BadRequest, "invalid_path"),
        ({"on_conflict": "merge"}, BadRequest, "invalid_on_conflict"),
        ({"filename": "taken.bin"}, Conflict, "path_exists"),
    ]:
        with pytest.raises(error) as info:
            create(runtime, owner, **values)
        assert info.value.code == code
    with pytest.raises(TooLarge):
        create(runtime, owner, length=101)
    set_quota(runtime, owner, 10)
    with pytest.raises(TooLarge) as info:  # tus answers 413 for the quota too
        create(runtime, owner, length=10)
    assert info.value.code == "quota_exceeded"
    assert create(runtime, owner, length=9, filename="taken.bin", on_conflict="replace")
