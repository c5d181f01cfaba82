"""services.sync: prepare → missing chunks → commit, the manifest, and stale chunks swept."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.services.helpers import (
    Meanwhile,
    complete_paths,
    content,
    ingest,
    set_quota,
    sha256,
    stored_keys,
)
from upload_service.errors import (
    BadRequest,
    Conflict,
    InsufficientStorage,
    NotFound,
    TooLarge,
    VerificationFailed,
)
from upload_service.models import File, SyncChunk, User, utcnow
from upload_service.runtime import Runtime
from upload_service.services import sync
from upload_service.services.files import ensure_folder
from upload_service.services.sync import CHUNKER, Prepared, PrepareRequest
from upload_service.services.users import usage_bytes

A, B, C = b"a" * 300, b"b" * 200, b"c" * 100


def request(path: str, pieces: list[bytes], base: bytes | None = None) -> PrepareRequest:
    data = b"".join(pieces)
    return PrepareRequest(
        path=path,
        size=len(data),
        sha256=sha256(data),
        mtime=1700000000.5,
        chunker=CHUNKER,
        chunks=[(sha256(piece), len(piece)) for piece in pieces],
        base_sha256=sha256(base) if base is not None else None,
    )


def put(runtime: Runtime, owner: User, piece: bytes) -> bool:
    return sync.put_chunk(runtime, owner, sha256(piece), io.BytesIO(piece), len(piece))


def sync_file(
    runtime: Runtime, owner: User, path: str, pieces: list[bytes], base: bytes | None = None
) -> tuple[list[str], File]:
    """One whole sync of a file: the chunks the server asked for, and the committed file."""
    prepared = sync.prepare(runtime, owner, request(path, pieces, base))
    assert prepared.upload_id is not None and prepared.missing is not None
    by_id = {sha256(piece): piece for piece in pieces}
    for sha in prepared.missing:
        assert put(runtime, owner, by_id[sha])
    return prepared.missing, sync.commit(runtime, owner, prepared.upload_id).file


def staged_chunks(runtime: Runtime) -> int:
    with runtime.db.session() as session:
        return session.query(SyncChunk).count()


def test_a_new_file_is_assembled_from_its_chunks(runtime: Runtime, owner: User) -> None:
    missing, file = sync_file(runtime, owner, "s/f.bin", [A, B, A])

    assert missing == [sha256(A), sha256(B)]  # each chunk asked for once
    assert (file.path, file.mtime, content(runtime, file)) == ("s/f.bin", 1700000000.5, A + B + A)
    assert staged_chunks(runtime) == 0  # now part of the file
    assert stored_keys(runtime, sync.CHUNK_PREFIX) == []
    with runtime.db.session() as session:
        assert usage_bytes(session, owner) == len(A + B + A)


def test_an_edit_uploads_only_the_new_chunks(runtime: Runtime, owner: User) -> None:
    sync_file(runtime, owner, "f.bin", [A, B])

    missing, file = sync_file(runtime, owner, "f.bin", [A, C, B], base=A + B)

    assert missing == [sha256(C)]
    assert content(runtime, file) == A + C + B
    assert complete_paths(runtime, owner) == ["f.bin"]


def test_an_unchanged_file_needs_no_upload(runtime: Runtime, owner: User) -> None:
    [stored] = ingest(runtime, owner, {"f.bin": A + B})

    prepared = sync.prepare(runtime, owner, request("f.bin", [A, B]))

    assert prepared.upload_id is None
    assert prepared.unchanged_file is not None and prepared.unchanged_file.id == stored.id


@pytest.mark.parametrize(
    ("change", "error", "code"),
    [
        ({"chunker": "rabin"}, BadRequest, "unknown_chunker"),
        ({"size": len(A) + 1}, BadRequest, "chunks_size_mismatch"),
        ({"chunks": [("XYZ", len(A))]}, BadRequest, "invalid_sha256"),
        ({"chunks": [(sha256(b""), 0)], "size": 0}, BadRequest, "invalid_chunk_length"),
        ({"size": -1}, BadRequest, "invalid_size"),
        ({"path": "../f.bin"}, BadRequest, "invalid_path"),
    ],
)
def test_prepare_refuses_a_chunk_list_that_does_not_add_up(
    runtime: Runtime, owner: User, change: dict[str, object], error: type, code: str
) -> None:
    with pytest.raises(error) as info:
        sync.prepare(runtime, owner, replace(request("f.bin", [A]), **change))
    assert info.value.code == code


def test_prepare_refuses_a_file_over_the_size_limit(runtime: Runtime, owner: User) -> None:
    runtime.settings.MAX_FILE_SIZE = len(A)
    with pytest.raises(TooLarge):
        sync.prepare(runtime, owner, request("f.bin", [A, C]))


def test_chunks_are_checked_idempotent_and_counted_to_the_quota(
    runtime: Runtime, owner: User, stranger: User
) -> None:
    with pytest.raises(VerificationFailed):
        sync.put_chunk(runtime, owner, sha256(A), io.BytesIO(B), len(B))
    assert (staged_chunks(runtime), stored_keys(runtime)) == (0, [])

    assert put(runtime, owner, A)
    assert not put(runtime, owner, A)
    assert put(runtime, stranger, A)  # chunks are never shared between users
    with runtime.db.session() as session:
        assert usage_bytes(session, owner) == len(A)

    set_quota(runtime, owner, len(A) + len(C))
    with pytest.raises(InsufficientStorage):
        put(runtime, owner, B)
    meanwhile = Meanwhile(C, lambda: ingest(runtime, owner, {"f.bin": C}))  # fills the quota
    with pytest.raises(InsufficientStorage):
        sync.put_chunk(runtime, owner, sha256(C), meanwhile, len(C))
    assert staged_chunks(runtime) == 2
    assert len(stored_keys(runtime, sync.CHUNK_PREFIX)) == 2


def test_commit_needs_every_chunk_and_its_own_signed_id(
    runtime: Runtime, owner: User, stranger: User
) -> None:
    prepared = sync.prepare(runtime, owner, request("f.bin", [A, B]))
    assert prepared.upload_id is not None
    put(runtime, owner, A)

    with pytest.raises(BadRequest) as info:
        sync.commit(runtime, owner, prepared.upload_id)
    assert info.value.details == [{"missing": [sha256(B)]}]
    put(runtime, owner, B)
    for who, upload_id in ((stranger, prepared.upload_id), (owner, prepared.upload_id[:-2])):
        with pytest.raises(NotFound):
            sync.commit(runtime, who, upload_id)
    assert complete_paths(runtime, owner) == []

    assert content(runtime, sync.commit(runtime, owner, prepared.upload_id).file) == A + B


def test_a_file_changed_on_the_server_is_a_base_mismatch(runtime: Runtime, owner: User) -> None:
    ingest(runtime, owner, {"f.bin": A})
    with pytest.raises(Conflict) as info:  # prepare against a base the server no longer has
        sync.prepare(runtime, owner, request("f.bin", [B], base=C))
    assert info.value.code == "base_mismatch"

    changed: Prepared = sync.prepare(runtime, owner, request("f.bin", [B], base=A))
    appeared: Prepared = sync.prepare(runtime, owner, request("new.bin", [B]))
    put(runtime, owner, B)
    ingest(runtime, owner, {"f.bin": C}, on_conflict="replace")  # someone else was faster
    ingest(runtime, owner, {"new.bin": C})

    for prepared in (changed, appeared):
        assert prepared.upload_id is not None
        with pytest.raises(Conflict) as info:
            sync.commit(runtime, owner, prepared.upload_id)
        assert info.value.code == "base_mismatch"
    with runtime.db.session() as session:
        assert {f.path: f.size for f in session.query(File)} == {"f.bin": len(C), "new.bin": len(C)}


def test_the_manifest_lists_a_subtree_relative_to_its_folder(
    runtime: Runtime, owner: User, stranger: User
) -> None:
    ingest(runtime, owner, {"top.txt": b"t", "m/a.txt": b"a", "m/sub/b.txt": b"bb", "m_x/c": b"c"})
    with runtime.db.session() as session:
        ensure_folder(session, owner, "m/empty")
    ingest(runtime, stranger, {"m/theirs.txt": b"s"})

    listed = sync.manifest(runtime, owner, "/m/")

    assert listed.folder == "m"
    assert [(f["path"], f["size"], f["sha256"]) for f in listed.files] == [
        ("a.txt", 1, sha256(b"a")),
        ("sub/b.txt", 2, sha256(b"bb")),
    ]
    assert listed.folders == ["empty", "sub"]
    assert len(sync.manifest(runtime, owner, None).files) == 4
    with pytest.raises(NotFound):
        sync.manifest(runtime, owner, "nowhere")


def test_stale_staged_chunks_are_swept(runtime: Runtime, owner: User) -> None:
    put(runtime, owner, A)
    put(runtime, owner, B)
    stale = utcnow() - timedelta(seconds=runtime.settings.UPLOAD_SESSION_TTL + 1)
    with runtime.db.session() as session:
        session.execute(
            update(SyncChunk).where(SyncChunk.sha256 == sha256(A)).values(created_at=stale)
        )

    assert sync.sweep_staged_chunks(runtime, utcnow()) == 1

    with runtime.db.session() as session:
        assert list(session.scalars(select(SyncChunk.sha256))) == [sha256(B)]
    assert len(stored_keys(runtime, sync.CHUNK_PREFIX)) == 1
    with runtime.db.session() as session:
        assert usage_bytes(session, owner) == len(B)
