"""``plan.make_plan``: the actions one sync pass takes, from the three views of a folder."""

from __future__ import annotations

from upload_service.client.sync.plan import LocalFile, Move, Upload, make_plan
from upload_service.client.sync.scan import Stat
from upload_service.client.sync.state import Synced

A, B, C = "a" * 64, "b" * 64, "c" * 64


def here(sha: str, inode: int = 1) -> LocalFile:
    return LocalFile(Stat(1, inode, 10, 0), sha)


def plan(local, remote, synced, last_seen=None, folders=(set(), set(), set())):  # type: ignore[no-untyped-def]
    local_folders, remote_folders, synced_folders = folders
    return make_plan(
        local, local_folders, remote, remote_folders, synced, synced_folders, last_seen or {}
    )


def test_a_vanished_file_found_by_inode_is_moved_then_sent_as_a_delta() -> None:
    result = plan(
        {"new.txt": here(B, inode=7)},
        {"old.txt": A},
        {"old.txt": Synced(A)},
        last_seen={"old.txt": Stat(1, 7, 10, 0)},
    )
    assert result.moves == [Move("old.txt", "new.txt", A)]
    assert result.uploads == [Upload("new.txt", A)]
    assert result.deletes == []


def test_a_vanished_file_found_by_digest_is_moved_once() -> None:
    result = plan(
        {"x/one.txt": here(A, 5), "x/two.txt": here(A, 6)},
        {"one.txt": A},
        {"one.txt": Synced(A)},
    )
    assert result.moves == [Move("one.txt", "x/one.txt", A)]
    assert result.uploads == [Upload("x/two.txt", None, new=True)]


def test_a_local_delete_is_sent_only_while_the_server_has_our_version() -> None:
    result = plan(
        {}, {"mine.txt": A, "theirs.txt": C}, {"mine.txt": Synced(A), "theirs.txt": Synced(B)}
    )
    assert result.deletes == [("mine.txt", A)]
    assert result.forget == ["theirs.txt"]


def test_a_change_on_both_sides_is_sent_with_our_base_and_not_again_after_the_copy() -> None:
    first = plan({"f": here(B)}, {"f": C}, {"f": Synced(A)})
    assert first.uploads == [Upload("f", A)]  # the server will answer 409: a conflict copy
    again = plan({"f": here(B)}, {"f": C}, {"f": Synced(C, conflict=B)})
    assert again.is_empty()


def test_files_only_the_server_has_are_left_alone_and_equal_ones_adopted() -> None:
    result = plan({"same": here(A)}, {"same": A, "server-only": B}, {})
    assert result.is_empty()
    assert result.adopt == [("same", A)]


def test_only_empty_folders_are_made_and_removed_ones_go_deepest_first() -> None:
    result = plan(
        {"docs/a.txt": here(A)},
        {},
        {},
        folders=(
            {"docs", "empty", "empty/inner"},
            {"gone", "gone/deeper"},
            {"gone", "gone/deeper"},
        ),
    )
    assert result.mkdirs == ["empty/inner"]
    assert result.rmdirs == ["gone/deeper", "gone"]


def test_a_renamed_folder_is_one_folder_move() -> None:
    files = {f"old/{n}.txt": here(sha, inode) for n, sha, inode in (("a", A, 1), ("b", B, 2))}
    renamed = {p.replace("old/", "new/"): f for p, f in files.items()}
    synced = {p: Synced(f.sha256) for p, f in files.items()}
    last_seen = {p: f.stat for p, f in files.items()}
    folders = ({"new", "new/empty"}, {"old", "old/empty"}, {"old", "old/empty"})
    result = plan(renamed, {p: f.sha256 for p, f in files.items()}, synced, last_seen, folders)

    [move] = result.folder_moves
    assert (move.source, move.target, len(move.files)) == ("old", "new", 2)
    assert result.moves == [] and result.uploads == [] and result.deletes == []
    assert result.mkdirs == [] and result.rmdirs == []


def test_a_folder_whose_files_do_not_all_move_is_moved_file_by_file() -> None:
    synced = {"old/a.txt": Synced(A), "old/b.txt": Synced(B)}
    result = plan(
        {"new/a.txt": here(A)},
        {"old/a.txt": A, "old/b.txt": B},
        synced,
        folders=({"new"}, {"old"}, {"old"}),
    )
    assert result.folder_moves == []
    assert result.moves == [Move("old/a.txt", "new/a.txt", A)]
    assert result.deletes == [("old/b.txt", B)]
