"""services.temporary: files stored now, invisible until persisted, gone once expired."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.services.helpers import (
    ago,
    complete_paths,
    content,
    files_of,
    incoming,
    ingest,
    set_quota,
    stored_keys,
    update_row,
)
from upload_service.errors import Conflict, InsufficientStorage, NotFound
from upload_service.models import TemporaryUpload, User, utcnow
from upload_service.runtime import Runtime
from upload_service.services.files import FileQuery, get_file, list_files
from upload_service.services.temporary import (
    discard_temporary,
    get_temporary,
    persist_temporary_upload,
    upload_temporary,
)


def upload(runtime: Runtime, owner: User, files: dict[str, bytes]) -> str:
    """A temporary upload of ``files``; its token."""
    temporary, _files = upload_temporary(
        runtime, owner, [incoming(path, data) for path, data in files.items()]
    )
    return temporary.id


def test_temporary_files_are_stored_but_not_listed(runtime: Runtime, owner: User) -> None:
    runtime.settings.TEMP_UPLOAD_TTL = 600
    temporary, stored = upload_temporary(runtime, owner, [incoming("a.txt", b"temp")])

    assert temporary.expires_at - utcnow() > timedelta(seconds=590)
    with runtime.db.session() as session:
        assert list_files(session, owner, FileQuery())[0] == []
        with pytest.raises(NotFound):
            get_file(session, owner, stored[0].id)
        _row, [file] = get_temporary(session, owner, temporary.id)
    assert (file.state, file.path, content(runtime, file)) == ("temporary", "a.txt", b"temp")


def test_persist_makes_every_file_visible_once(runtime: Runtime, owner: User) -> None:
    token = upload(runtime, owner, {"a.txt": b"a", "b.txt": b"b"})

    persisted = persist_temporary_upload(
        runtime, owner, token, folder="kept", description="for later"
    )

    assert [(f.path, f.state, f.description) for f in persisted] == [
        ("kept/a.txt", "complete", "for later"),
        ("kept/b.txt", "complete", "for later"),
    ]
    assert complete_paths(runtime, owner) == ["kept/a.txt", "kept/b.txt"]
    with pytest.raises(NotFound):  # the token is used up
        persist_temporary_upload(runtime, owner, token)


def test_a_conflict_persists_none_of_the_files(runtime: Runtime, owner: User) -> None:
    ingest(runtime, owner, {"b.txt": b"old"})
    token = upload(runtime, owner, {"a.txt": b"a", "b.txt": b"b"})

    with pytest.raises(Conflict):
        persist_temporary_upload(runtime, owner, token)

    assert complete_paths(runtime, owner) == ["b.txt"]
    with runtime.db.session() as session:
        assert len(get_temporary(session, owner, token)[1]) == 2  # still there to retry


@pytest.mark.parametrize(
    ("on_conflict", "expected"),
    [("replace", {"b.txt": b"new"}), ("rename", {"b (1).txt": b"new", "b.txt": b"old"})],
)
def test_persist_replaces_or_renames_on_request(
    runtime: Runtime, owner: User, on_conflict: str, expected: dict[str, bytes]
) -> None:
    ingest(runtime, owner, {"b.txt": b"old"})
    token = upload(runtime, owner, {"b.txt": b"new"})

    persist_temporary_upload(runtime, owner, token, on_conflict=on_conflict)  # type: ignore[arg-type]

    assert {f.path: content(runtime, f) for f in files_of(runtime, owner)} == expected


def test_an_expired_upload_can_no_longer_be_seen_or_persisted(
    runtime: Runtime, owner: User
) -> None:
    token = upload(runtime, owner, {"a.txt": b"a"})
    update_row(runtime, TemporaryUpload, token, expires_at=ago(1))

    with runtime.db.session() as session, pytest.raises(NotFound):
        get_temporary(session, owner, token)
    with pytest.raises(NotFound):
        persist_temporary_upload(runtime, owner, token)
    assert complete_paths(runtime, owner) == []


def test_discard_deletes_the_files_and_only_the_owner_may(
    runtime: Runtime, owner: User, stranger: User
) -> None:
    token = upload(runtime, owner, {"a.txt": b"a"})

    with runtime.db.session() as session:
        for action in (get_temporary, discard_temporary):
            with pytest.raises(NotFound):
                action(session, stranger, token)
    with pytest.raises(NotFound):
        persist_temporary_upload(runtime, stranger, token)
    with runtime.db.session() as session:
        discard_temporary(session, owner, token)

    assert files_of(runtime, owner) == []
    with runtime.db.session() as session:
        assert session.get(TemporaryUpload, token) is None


def test_a_failed_temporary_upload_leaves_no_token_and_no_bytes(
    runtime: Runtime, owner: User
) -> None:
    set_quota(runtime, owner, 3)

    with pytest.raises(InsufficientStorage):
        upload(runtime, owner, {"a.txt": b"too big"})

    with runtime.db.session() as session:
        assert session.query(TemporaryUpload).count() == 0
    assert files_of(runtime, owner) == []
    assert stored_keys(runtime) == []
