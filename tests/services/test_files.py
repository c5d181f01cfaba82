"""services.files: finding, listing, renaming, moving and deleting files and folders."""

from __future__ import annotations

from typing import Any

import pytest

from tests.services.helpers import ago, complete_paths, folders_of, ingest, sha256, update_row
from upload_service.errors import BadRequest, Conflict, NotFound, PreconditionFailed
from upload_service.models import File, User
from upload_service.runtime import Runtime
from upload_service.services import files
from upload_service.services.files import FileQuery


def listed(runtime: Runtime, owner: User, **query: Any) -> list[str]:
    with runtime.db.session() as session:
        page, _cursor = files.list_files(session, owner, FileQuery(**query))
    return [file.path for file in page]


def test_a_file_is_found_by_its_owner_only_and_not_once_expired(
    runtime: Runtime, owner: User, stranger: User
) -> None:
    [file] = ingest(runtime, owner, {"a.txt": b"a"})

    with runtime.db.session() as session:
        assert files.get_file(session, owner, file.id).path == "a.txt"
        assert files.get_file_by_path(session, owner, "a.txt").id == file.id
        for who, file_id in ((stranger, file.id), (owner, "no-such-id")):
            with pytest.raises(NotFound):
                files.get_file(session, who, file_id)
        with pytest.raises(NotFound):
            files.get_file_by_path(session, stranger, "a.txt")
    update_row(runtime, File, file.id, expires_at=ago(1))
    with runtime.db.session() as session, pytest.raises(NotFound):
        files.get_file(session, owner, file.id)


@pytest.mark.parametrize(
    ("sort", "order", "expected"),
    [
        ("name", "asc", ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt"]),
        ("name", "desc", ["e.txt", "d.txt", "c.txt", "b.txt", "a.txt"]),
        ("size", "asc", ["c.txt", "a.txt", "e.txt", "b.txt", "d.txt"]),
        ("created_at", "asc", ["c.txt", "a.txt", "e.txt", "b.txt", "d.txt"]),
    ],
)
def test_pages_follow_the_cursor_through_every_file_once(
    runtime: Runtime, owner: User, sort: str, order: str, expected: list[str]
) -> None:
    for size, name in enumerate(["c.txt", "a.txt", "e.txt", "b.txt", "d.txt"], start=1):
        ingest(runtime, owner, {name: b"x" * size})

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        with runtime.db.session() as session:
            query = FileQuery(sort=sort, order=order, limit=2, cursor=cursor)  # type: ignore[arg-type]
            page, cursor = files.list_files(session, owner, query)
        seen += [file.name for file in page]
        pages += 1
        if cursor is None:
            break

    assert seen == expected
    assert pages == 3


def test_a_forged_cursor_is_a_clear_400(runtime: Runtime, owner: User) -> None:
    ingest(runtime, owner, {"a.txt": b"a"})
    for cursor in ("not-base64-json", "WzEsMl0"):  # the second is [1, 2]: a number as name
        with pytest.raises(BadRequest) as info:
            listed(runtime, owner, cursor=cursor)
        assert info.value.code == "invalid_cursor"


def test_listing_filters_by_folder_category_and_text(
    runtime: Runtime, owner: User, stranger: User
) -> None:
    ingest(
        runtime,
        owner,
        {
            "top.png": b"1",
            "docs/Report 100%.pdf": b"2",
            "docs/sub/deep_note.md": b"3",
            "docsx/other.txt": b"4",
        },
    )
    ingest(runtime, stranger, {"docs/theirs.pdf": b"5"})

    assert listed(runtime, owner, folder="") == ["top.png"]
    assert listed(runtime, owner, folder="docs") == ["docs/Report 100%.pdf"]
    assert listed(runtime, owner, folder="docs", recursive=True, sort="path") == [
        "docs/Report 100%.pdf",
        "docs/sub/deep_note.md",
    ]
    assert len(listed(runtime, owner, folder="", recursive=True)) == 4
    assert listed(runtime, owner, category="image") == ["top.png"]
    assert listed(runtime, owner, q="REPORT") == ["docs/Report 100%.pdf"]
    assert listed(runtime, owner, q="%") == ["docs/Report 100%.pdf"]  # % is literal
    assert listed(runtime, owner, q="e_o") == []  # so is _ ("epo" of "Report" is no match)
    assert listed(runtime, owner, q="p_note") == ["docs/sub/deep_note.md"]


def test_subfolders_are_the_direct_children(runtime: Runtime, owner: User) -> None:
    ingest(runtime, owner, {"a/b/c/f.txt": b"1", "a/d/f.txt": b"2", "e/f.txt": b"3"})

    with runtime.db.session() as session:
        assert files.list_subfolders(session, owner, "") == ["a", "e"]
        assert files.list_subfolders(session, owner, "a") == ["a/b", "a/d"]
        assert files.list_subfolders(session, owner, "a/b/c") == []


def test_a_file_is_moved_into_new_folders_and_described(runtime: Runtime, owner: User) -> None:
    [file] = ingest(runtime, owner, {"a.txt": b"a"})

    with runtime.db.session() as session:
        moved = files.update_file(
            session,
            owner,
            files.get_file(session, owner, file.id),
            path="x/y/a.py",
            description="now code",
            if_match=f'"{sha256(b"a")}"',
        )
        assert (moved.folder, moved.name, moved.category) == ("x/y", "a.py", "code")

    assert complete_paths(runtime, owner) == ["x/y/a.py"]
    assert folders_of(runtime, owner) == ["x", "x/y"]


@pytest.mark.parametrize(
    ("change", "error", "code"),
    [
        ({"path": "taken.txt"}, Conflict, "path_exists"),
        ({"path": "folder"}, Conflict, "folder_exists"),
        ({"path": "taken.txt/a.txt"}, Conflict, "file_exists"),
        ({"if_match": sha256(b"stale")}, PreconditionFailed, "if_match_failed"),
        ({"description": "x" * (files.MAX_DESCRIPTION + 1)}, BadRequest, "bad_request"),
    ],
)
def test_a_refused_update_changes_nothing(
    runtime: Runtime, owner: User, change: dict[str, Any], error: type, code: str
) -> None:
    [file] = ingest(runtime, owner, {"a.txt": b"a", "taken.txt": b"t", "folder/f": b"f"})[:1]

    with pytest.raises(error) as info, runtime.db.session() as session:
        files.update_file(session, owner, files.get_file(session, owner, file.id), **change)

    assert info.value.code == code
    assert complete_paths(runtime, owner) == ["a.txt", "folder/f", "taken.txt"]


def test_ensure_folder_creates_once_and_never_over_a_file(runtime: Runtime, owner: User) -> None:
    ingest(runtime, owner, {"a.txt": b"a"})

    with runtime.db.session() as session:
        assert files.ensure_folder(session, owner, "new/deep")
        assert not files.ensure_folder(session, owner, "new/deep")
        with pytest.raises(Conflict):
            files.ensure_folder(session, owner, "a.txt")
        with pytest.raises(Conflict):
            files.ensure_folder(session, owner, "a.txt/below")
    assert folders_of(runtime, owner) == ["new", "new/deep"]


def test_delete_file_honours_if_match(runtime: Runtime, owner: User) -> None:
    [file] = ingest(runtime, owner, {"a.txt": b"a"})

    with pytest.raises(PreconditionFailed), runtime.db.session() as session:
        files.delete_file(session, files.get_file(session, owner, file.id), sha256(b"b"))
    with runtime.db.session() as session:
        files.delete_file(session, files.get_file(session, owner, file.id), sha256(b"a"))

    assert complete_paths(runtime, owner) == []


def test_delete_folder_needs_recursive_for_content_and_spares_lookalikes(
    runtime: Runtime, owner: User
) -> None:
    ingest(runtime, owner, {"d/a.txt": b"1", "d/sub/b.txt": b"2", "d2/c.txt": b"3"})
    with runtime.db.session() as session:
        files.ensure_folder(session, owner, "empty")

    with runtime.db.session() as session:
        with pytest.raises(Conflict) as info:
            files.delete_folder(session, owner, "d", recursive=False)
        assert info.value.code == "folder_not_empty"
        with pytest.raises(NotFound):
            files.delete_folder(session, owner, "missing", recursive=True)
        with pytest.raises(BadRequest):
            files.delete_folder(session, owner, "", recursive=True)
        assert files.delete_folder(session, owner, "empty", recursive=False) == 0
        assert files.delete_folder(session, owner, "d", recursive=True) == 2

    assert complete_paths(runtime, owner) == ["d2/c.txt"]
    assert folders_of(runtime, owner) == ["d2"]


def test_move_folder_moves_the_whole_tree(runtime: Runtime, owner: User) -> None:
    ingest(runtime, owner, {"src/a.txt": b"1", "src/sub/b.txt": b"2", "srcx/c.txt": b"3"})

    with runtime.db.session() as session:
        assert files.move_folder(session, owner, "src", "dest/moved") == 2

    assert complete_paths(runtime, owner) == [
        "dest/moved/a.txt",
        "dest/moved/sub/b.txt",
        "srcx/c.txt",
    ]
    assert folders_of(runtime, owner) == ["dest", "dest/moved", "dest/moved/sub", "srcx"]
    with runtime.db.session() as session:
        [moved] = files.list_files(session, owner, FileQuery(folder="dest/moved/sub"))[0]
        assert moved.name == "b.txt"


@pytest.mark.parametrize(
    ("source", "target", "code"),
    [
        ("src", "src/inner", "invalid_path"),
        ("src", "other", "folder_exists"),
        ("src", "file.txt", "path_exists"),
        ("", "x", "invalid_path"),
    ],
)
def test_a_refused_folder_move_changes_nothing(
    runtime: Runtime, owner: User, source: str, target: str, code: str
) -> None:
    ingest(runtime, owner, {"src/a.txt": b"1", "other/b.txt": b"2", "file.txt": b"3"})

    with pytest.raises((BadRequest, Conflict)) as info, runtime.db.session() as session:
        files.move_folder(session, owner, source, target)

    assert info.value.code == code
    assert complete_paths(runtime, owner) == ["file.txt", "other/b.txt", "src/a.txt"]
