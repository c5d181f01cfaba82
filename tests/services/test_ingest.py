"""services.ingest: the one pipeline every upload goes through (docs/architecture.md §3)."""

from __future__ import annotations

import io

import pytest
from werkzeug.datastructures import FileStorage

from tests.services.helpers import (
    CutStream,
    Meanwhile,
    blob_count,
    complete_paths,
    content,
    files_of,
    folders_of,
    incoming,
    ingest,
    set_quota,
    sha256,
    stored_keys,
)
from upload_service.errors import (
    BadRequest,
    Conflict,
    InsufficientStorage,
    PreconditionFailed,
    TooLarge,
    VerificationFailed,
)
from upload_service.models import User
from upload_service.runtime import Runtime
from upload_service.services.ingest import (
    IngestOptions,
    StagedBlob,
    commit_staged,
    incoming_parts,
    ingest_files,
    new_blob_key,
)


def test_a_file_is_stored_with_its_row_and_folders(runtime: Runtime, owner: User) -> None:
    [result] = ingest_files(
        runtime, owner, [incoming("docs/notes/a.txt", b"hello", mtime=1.5)], IngestOptions()
    )

    file = result.file
    assert result.created
    assert (file.path, file.folder, file.name) == ("docs/notes/a.txt", "docs/notes", "a.txt")
    assert (file.size, file.sha256, file.state) == (5, sha256(b"hello"), "complete")
    assert (file.content_type, file.category, file.mtime) == ("text/plain", "document", 1.5)
    assert content(runtime, file) == b"hello"
    assert folders_of(runtime, owner) == ["docs", "docs/notes"]
    assert len(stored_keys(runtime)) == 1


def test_equal_bytes_are_stored_once_per_owner_never_across_owners(
    runtime: Runtime, owner: User, stranger: User
) -> None:
    ingest(runtime, owner, {"a.txt": b"same", "b.txt": b"same"})
    ingest(runtime, owner, {"c.txt": b"same"})
    [theirs] = ingest(runtime, stranger, {"a.txt": b"same"})

    assert complete_paths(runtime, owner) == ["a.txt", "b.txt", "c.txt"]
    assert (blob_count(runtime, owner), blob_count(runtime, stranger)) == (1, 1)
    assert len(stored_keys(runtime)) == 2  # the redundant copies were deleted
    assert content(runtime, theirs) == b"same"


@pytest.mark.parametrize(
    ("declared", "error", "code"),
    [
        ({"declared_sha256": sha256(b"other")}, VerificationFailed, "checksum_mismatch"),
        ({"declared_size": 99}, BadRequest, "size_mismatch"),
    ],
)
def test_a_batch_with_one_bad_file_leaves_no_file_and_no_object(
    runtime: Runtime, owner: User, declared: dict[str, object], error: type, code: str
) -> None:
    items = [incoming("good.txt", b"good"), incoming("bad.txt", b"bad", **declared)]

    with pytest.raises(error) as info:
        ingest_files(runtime, owner, items, IngestOptions())

    assert info.value.code == code
    assert files_of(runtime, owner) == []
    assert blob_count(runtime) == 0
    assert stored_keys(runtime) == []


def test_matching_declared_size_and_digest_are_accepted(runtime: Runtime, owner: User) -> None:
    item = incoming("a.bin", b"abc", declared_size=3, declared_sha256=sha256(b"abc").upper())

    [result] = ingest_files(runtime, owner, [item], IngestOptions())

    assert content(runtime, result.file) == b"abc"


def test_on_conflict_error_refuses_and_keeps_the_old_file(runtime: Runtime, owner: User) -> None:
    [old] = ingest(runtime, owner, {"a.txt": b"old"})

    with pytest.raises(Conflict) as info:
        ingest(runtime, owner, {"a.txt": b"new"})

    assert info.value.code == "path_exists"
    [kept] = files_of(runtime, owner)
    assert (kept.id, content(runtime, kept)) == (old.id, b"old")
    assert len(stored_keys(runtime)) == 1


def test_on_conflict_replace_swaps_the_content_of_the_same_file(
    runtime: Runtime, owner: User
) -> None:
    [old] = ingest(runtime, owner, {"a.txt": b"old"})

    [result] = ingest_files(
        runtime, owner, [incoming("a.txt", b"newer")], IngestOptions(on_conflict="replace")
    )

    assert not result.created
    [file] = files_of(runtime, owner)
    assert (file.id, file.size, content(runtime, file)) == (old.id, 5, b"newer")


def test_on_conflict_rename_takes_the_next_free_name(runtime: Runtime, owner: User) -> None:
    ingest(runtime, owner, {"a.txt": b"1"})

    renamed = ingest(runtime, owner, {"a.txt": b"2"}, on_conflict="rename")
    renamed += ingest(runtime, owner, {"a.txt": b"3"}, on_conflict="rename")

    assert [file.path for file in renamed] == ["a (1).txt", "a (2).txt"]
    assert [content(runtime, file) for file in files_of(runtime, owner)] == [b"2", b"3", b"1"]


def test_if_match_replaces_only_the_version_the_client_saw(runtime: Runtime, owner: User) -> None:
    ingest(runtime, owner, {"a.txt": b"v1"})

    with pytest.raises(PreconditionFailed):
        ingest(runtime, owner, {"a.txt": b"v2"}, if_match=sha256(b"stale"))
    with pytest.raises(PreconditionFailed):  # nothing to match at a free path either
        ingest(runtime, owner, {"b.txt": b"v2"}, if_match=sha256(b"v1"))
    assert len(stored_keys(runtime)) == 1  # the refused copies are gone
    ingest(runtime, owner, {"a.txt": b"v2"}, if_match=sha256(b"v1"))

    [file] = files_of(runtime, owner)
    assert content(runtime, file) == b"v2"


def test_file_over_the_size_limit_is_refused_and_not_kept(runtime: Runtime, owner: User) -> None:
    runtime.settings.MAX_FILE_SIZE = 10
    declared = io.BytesIO(b"x" * 11)

    with pytest.raises(TooLarge):  # while streaming
        ingest(runtime, owner, {"big.bin": b"x" * 11})
    with pytest.raises(TooLarge):  # from the declared size, before reading a byte
        ingest_files(runtime, owner, [incoming("big.bin", declared_size=11)], IngestOptions())
    ingest(runtime, owner, {"fits.bin": b"x" * 10})

    assert declared.tell() == 0
    assert complete_paths(runtime, owner) == ["fits.bin"]
    assert len(stored_keys(runtime)) == 1


def test_over_quota_upload_leaves_nothing_and_a_replace_counts_the_freed_bytes(
    runtime: Runtime, owner: User
) -> None:
    set_quota(runtime, owner, 10)
    ingest(runtime, owner, {"a.txt": b"x" * 6})

    with pytest.raises(InsufficientStorage):
        ingest(runtime, owner, {"b.txt": b"y" * 5})
    with pytest.raises(InsufficientStorage):  # the sum of a batch counts
        ingest(runtime, owner, {"b.txt": b"y" * 2, "c.txt": b"z" * 3})
    assert complete_paths(runtime, owner) == ["a.txt"]
    assert len(stored_keys(runtime)) == 1

    ingest(runtime, owner, {"a.txt": b"w" * 10}, on_conflict="replace")
    [file] = files_of(runtime, owner)
    assert content(runtime, file) == b"w" * 10


def test_the_quota_is_checked_again_against_uploads_that_finished_meanwhile(
    runtime: Runtime, owner: User
) -> None:
    set_quota(runtime, owner, 10)
    item = incoming("slow.txt")
    item.stream = Meanwhile(b"s" * 6, lambda: ingest(runtime, owner, {"fast.txt": b"f" * 6}))

    with pytest.raises(InsufficientStorage):
        ingest_files(runtime, owner, [item], IngestOptions())

    assert complete_paths(runtime, owner) == ["fast.txt"]
    assert len(stored_keys(runtime)) == 1


def test_an_interrupted_body_is_a_clear_error_and_stores_nothing(
    runtime: Runtime, owner: User
) -> None:
    item = incoming("a.bin")
    item.stream = CutStream(b"partial", ConnectionResetError())

    with pytest.raises(BadRequest) as info:
        ingest_files(runtime, owner, [item], IngestOptions())

    assert info.value.code == "upload_interrupted"
    assert files_of(runtime, owner) == []
    assert stored_keys(runtime) == []


def test_form_parts_become_files_named_by_their_file_name(runtime: Runtime, owner: User) -> None:
    parts = [
        FileStorage(io.BytesIO(b"1"), filename="one.txt", content_type="text/plain"),
        FileStorage(io.BytesIO(b"2"), filename="two.png", content_type="image/png"),
    ]

    items = incoming_parts("inbox", parts)
    ingest_files(runtime, owner, items, IngestOptions(description="from a form"))

    files = files_of(runtime, owner)
    assert [(f.path, f.category, f.description) for f in files] == [
        ("inbox/one.txt", "document", "from a form"),
        ("inbox/two.png", "image", "from a form"),
    ]
    hostile = [FileStorage(io.BytesIO(b"x"), filename="../escape.txt")]
    with pytest.raises(BadRequest):
        incoming_parts("inbox", hostile)


def test_commit_staged_verifies_the_blob_and_deletes_it_on_mismatch(
    runtime: Runtime, owner: User
) -> None:
    def staged(data: bytes) -> StagedBlob:
        key = new_blob_key()
        result = runtime.store.put(key, io.BytesIO(data))
        return StagedBlob(key=key, size=result.size, sha256=result.sha256)

    wrong = incoming("a.bin", declared_sha256=sha256(b"expected"))
    with pytest.raises(VerificationFailed):
        commit_staged(runtime, owner, wrong, staged(b"actual"), IngestOptions())
    assert stored_keys(runtime) == []

    right = incoming("a.bin", declared_size=6)
    result = commit_staged(runtime, owner, right, staged(b"actual"), IngestOptions())
    assert content(runtime, result.file) == b"actual"
