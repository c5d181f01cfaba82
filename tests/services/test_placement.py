"""services.placement: where a file lands (conflicts, renames, replacements, implicit folders)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from tests.services.helpers import folders_of, incoming, ingest, sha256
from upload_service.errors import Conflict, PreconditionFailed
from upload_service.models import TemporaryUpload, User, utcnow
from upload_service.runtime import Runtime
from upload_service.services import placement
from upload_service.services.files import ensure_folder
from upload_service.services.ingest import IngestOptions


@pytest.fixture
def session(runtime: Runtime) -> Iterator[Session]:
    with runtime.db.session() as opened:
        yield opened


@pytest.mark.parametrize(
    ("taken", "path", "free"),
    [
        ([], "a/b.txt", "a/b (1).txt"),
        (["a/b (1).txt", "a/b (2).txt"], "a/b.txt", "a/b (3).txt"),
        (["x.tar (1).gz/f"], "x.tar.gz", "x.tar (2).gz"),  # a folder takes the name too
        ([], "Makefile", "Makefile (1)"),
        ([], ".env", ".env (1)"),
    ],
)
def test_free_path_numbers_the_name_before_its_extension(
    runtime: Runtime, owner: User, session: Session, taken: list[str], path: str, free: str
) -> None:
    ingest(runtime, owner, {name: b"x" for name in [path, *taken]})

    assert placement.free_path(session, owner.id, path) == free


def test_ensure_folders_is_mkdir_p_and_never_through_a_file(
    runtime: Runtime, owner: User, session: Session
) -> None:
    ingest(runtime, owner, {"file": b"x"})

    placement.ensure_folders(session, owner.id, "a/b/c")
    placement.ensure_folders(session, owner.id, "a/b")  # existing: nothing to do
    placement.ensure_folders(session, owner.id, "")
    with pytest.raises(Conflict) as info:
        placement.ensure_folders(session, owner.id, "file/below")
    session.commit()

    assert info.value.code == "file_exists"
    assert folders_of(runtime, owner) == ["a", "a/b", "a/b/c"]


@pytest.mark.parametrize(
    ("options", "outcome"),
    [
        (IngestOptions(), Conflict),
        (IngestOptions(on_conflict="replace"), ("a.txt", True)),
        (IngestOptions(on_conflict="rename"), ("a (1).txt", False)),
        (IngestOptions(if_match=sha256(b"old")), ("a.txt", True)),
        (IngestOptions(if_match=sha256(b"new")), PreconditionFailed),
    ],
)
def test_settle_path_follows_on_conflict_and_if_match(
    runtime: Runtime, owner: User, session: Session, options: IngestOptions, outcome: object
) -> None:
    [existing] = ingest(runtime, owner, {"a.txt": b"old"})

    if isinstance(outcome, type):
        with pytest.raises(outcome):
            placement.settle_path(session, owner, "a.txt", options)
        return
    path, replaced = placement.settle_path(session, owner, "a.txt", options)
    assert (path, replaced is not None and replaced.id == existing.id) == outcome


def test_settle_path_creates_the_folders_of_a_free_path_and_refuses_a_folder(
    runtime: Runtime, owner: User, session: Session
) -> None:
    ensure_folder(session, owner, "taken")

    assert placement.settle_path(session, owner, "new/dir/f.txt", IngestOptions()) == (
        "new/dir/f.txt",
        None,
    )
    with pytest.raises(Conflict) as info:
        placement.settle_path(session, owner, "taken", IngestOptions(on_conflict="replace"))
    with pytest.raises(PreconditionFailed):
        placement.settle_path(session, owner, "free.txt", IngestOptions(if_match=sha256(b"x")))
    session.commit()

    assert info.value.code == "folder_exists"
    assert folders_of(runtime, owner) == ["new", "new/dir", "taken"]


def test_only_complete_files_of_the_owner_occupy_a_path(
    runtime: Runtime, owner: User, stranger: User, session: Session
) -> None:
    ingest(runtime, stranger, {"a.txt": b"theirs"})
    temporary = TemporaryUpload(id="t", owner_id=owner.id, expires_at=utcnow())
    session.add(temporary)
    session.commit()
    ingest(runtime, owner, {"a.txt": b"pending"}, temporary=temporary)

    assert placement.live_file_at(session, owner.id, "a.txt") is None
    assert placement.live_file_at(session, stranger.id, "a.txt") is not None
    assert placement.find_blob(session, stranger, sha256(b"theirs")) is not None
    assert placement.find_blob(session, owner, sha256(b"theirs")) is None


def test_replaced_size_counts_only_files_a_replace_frees(
    runtime: Runtime, owner: User, session: Session
) -> None:
    ingest(runtime, owner, {"a.txt": b"x" * 7, "b.txt": b"y" * 5})
    items = [incoming("a.txt"), incoming("b.txt"), incoming("new.txt")]
    temporary = TemporaryUpload(id="t", owner_id=owner.id, expires_at=utcnow())

    def freed(options: IngestOptions) -> int:
        return placement.replaced_size(session, owner, items, options)

    assert freed(IngestOptions(on_conflict="replace")) == 12
    assert freed(IngestOptions(if_match=sha256(b"x" * 7))) == 12
    assert freed(IngestOptions()) == 0
    assert freed(IngestOptions(on_conflict="rename")) == 0
    assert freed(IngestOptions(on_conflict="replace", temporary=temporary)) == 0
