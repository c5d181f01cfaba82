"""``upload-client sync``: the real client mirrors real folders to the real server.

What a user checks is what the server holds afterwards (its manifest, the bytes of its files)
and what went over the wire (a counting proxy between the client and the server).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.client.conftest import UPLOAD_CLIENT, Client, MiB, closed_port, sha256_of, write_random
from tests.fixtures.proxy import CountingProxy, counting_proxy
from tests.fixtures.server import RunningServer, running_server

KiB = 1024


def manifest(client: Client, folder: str) -> dict[str, str | list[str] | dict[str, str]]:
    """The server's view: {"files": {path: sha256}, "folders": [...]}."""
    response = requests.get(
        f"{client.url}/api/sync/manifest",
        params={"folder": folder},
        headers={"Authorization": f"Bearer {client.token}"},
        timeout=30,
    )
    if response.status_code == 404:
        return {"files": {}, "folders": []}
    response.raise_for_status()
    body = response.json()
    return {"files": {f["path"]: f["sha256"] for f in body["files"]}, "folders": body["folders"]}


def local_view(root: Path) -> dict[str, object]:
    """What the manifest should say for ``root`` (no links, no ignored names)."""
    files = {
        str(p.relative_to(root)): sha256_of(p)
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink()
    }
    folders = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir())
    return {"files": files, "folders": folders}


def file_ids(client: Client, folder: str) -> dict[str, str]:
    listed = json.loads(client.ok("ls", "--json").stdout)
    prefix = folder + "/"
    return {f["path"].removeprefix(prefix): f["id"] for f in listed if f["path"].startswith(prefix)}


def sync(client: Client, root: Path, folder: str, **env: str) -> str:
    """One-shot sync that must succeed; its summary line."""
    result = client.run("sync", str(root), "--remote", folder, **env)
    assert result.returncode == 0, result.stderr
    [line] = result.lines
    return line


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "Documents"
    (root / "notes" / "2026").mkdir(parents=True)
    (root / "photos").mkdir()
    (root / "empty" / "deeper").mkdir(parents=True)
    (root / "notes" / "todo.txt").write_text("milk\n")
    (root / "notes" / "2026" / "plan.md").write_text("# plan\n")
    write_random(root / "photos" / "cat.jpg", 300 * KiB)
    (root / "readme.txt").write_text("hello\n")
    return root


@pytest.fixture
def proxy(server: RunningServer) -> Iterator[CountingProxy]:
    with counting_proxy(server.address) as running:
        yield running


@pytest.fixture
def via_proxy(client: Client, proxy: CountingProxy) -> Client:
    client.url = proxy.url
    return client


# --------------------------------------------------------------------------- one-shot


def test_mirrors_a_tree_with_its_empty_folders(client: Client, tree: Path, folder: str) -> None:
    summary = sync(client, tree, folder)

    assert manifest(client, folder) == local_view(tree)
    assert summary.startswith("sync: 4 uploaded")
    # the state lives in the user's state directory, never inside the synced folder
    assert sorted(p.name for p in tree.iterdir()) == ["empty", "notes", "photos", "readme.txt"]
    assert list((client.home / ".local" / "state" / "upload-service" / "sync").glob("*.sqlite"))


def test_the_remote_folder_defaults_to_the_folder_name(client: Client, tmp_path: Path) -> None:
    root = tmp_path / "sync-default-name"
    root.mkdir()
    (root / "a.txt").write_text("a")
    assert client.run("sync", str(root)).returncode == 0
    assert manifest(client, "sync-default-name")["files"] == {"a.txt": sha256_of(root / "a.txt")}


def test_mirrors_every_kind_of_change(client: Client, tree: Path, folder: str) -> None:
    sync(client, tree, folder)
    before = file_ids(client, folder)

    (tree / "notes" / "todo.txt").write_text("milk\neggs\n")  # edit
    (tree / "readme.txt").unlink()  # delete
    (tree / "photos" / "cat.jpg").rename(tree / "cat.jpg")  # move a file
    (tree / "notes" / "2026").rename(tree / "archive")  # move a folder
    (tree / "new-empty").mkdir()  # a new empty folder
    (tree / "empty" / "deeper").rmdir()  # remove a folder
    summary = sync(client, tree, folder)

    assert manifest(client, folder) == local_view(tree)
    after = file_ids(client, folder)
    # moved files keep their identity on the server: they were moved, not sent again
    assert after["cat.jpg"] == before["photos/cat.jpg"]
    assert after["archive/plan.md"] == before["notes/2026/plan.md"]
    assert summary.startswith("sync: 1 uploaded, 2 moved, 1 deleted")
    assert "10 B sent" in summary  # only the edited file's bytes


def test_a_renamed_folder_is_one_request(client: Client, tmp_path: Path, folder: str) -> None:
    root = tmp_path / "renaming"
    (root / "Photos 2025" / "trip").mkdir(parents=True)
    for number in range(30):
        write_random(root / "Photos 2025" / "trip" / f"img-{number:02}.jpg", 8 * KiB)
    sync(client, root, folder)
    before = file_ids(client, folder)
    (root / "Photos 2025").rename(root / "Photos")

    result = client.run("sync", str(root), "--remote", folder, "--debug")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("sync: 30 moved")
    assert result.stderr.count("/api/fs/move") == 1
    assert manifest(client, folder) == local_view(root)
    after = file_ids(client, folder)
    assert after["Photos/trip/img-07.jpg"] == before["Photos 2025/trip/img-07.jpg"]


def test_a_change_of_case_is_a_rename(client: Client, tmp_path: Path, folder: str) -> None:
    root = tmp_path / "case"
    root.mkdir()
    write_random(root / "Photo.JPG", 100 * KiB)
    sync(client, root, folder)
    (root / "Photo.JPG").rename(root / "photo.jpg")

    summary = sync(client, root, folder)

    assert manifest(client, folder) == local_view(root)
    assert "1 moved" in summary and "0 B sent" in summary


def test_ignores_uploadignore_patterns_temp_files_and_links(
    client: Client, tmp_path: Path, folder: str
) -> None:
    root = tmp_path / "ignoring"
    (root / "build").mkdir(parents=True)
    (root / "keep.txt").write_text("keep")
    (root / "build" / "out.o").write_text("object")
    (root / "debug.log").write_text("log")
    (root / ".uploadignore").write_text("build/\n*.log\n")
    for temp in ("notes.txt.swp", "~$report.docx", ".#lock", "x.tmp", ".DS_Store"):
        (root / temp).write_text("temp")
    (root / "passwords").symlink_to("/etc/passwd")

    result = client.run("sync", str(root), "--remote", folder)

    assert result.returncode == 0, result.stderr
    assert sorted(manifest(client, folder)["files"]) == [".uploadignore", "keep.txt"]
    assert result.stderr.count("passwords: a symbolic link, not followed") == 1


def test_an_unchanged_folder_sends_almost_nothing(
    via_proxy: Client, proxy: CountingProxy, tree: Path, folder: str
) -> None:
    sync(via_proxy, tree, folder)
    proxy.reset()

    summary = sync(via_proxy, tree, folder)

    assert summary == "sync: up to date, 0 B sent"
    assert proxy.up.count < 4 * KiB  # one manifest request


@pytest.mark.slow
@pytest.mark.parametrize("change", ["insert", "overwrite", "append"])
def test_a_small_change_in_a_big_file_sends_only_the_changed_chunks(
    via_proxy: Client, proxy: CountingProxy, tmp_path: Path, folder: str, change: str
) -> None:
    root = tmp_path / "big"
    root.mkdir()
    big = root / "disk.img"
    write_random(big, 64 * MiB)
    sync(via_proxy, root, folder)
    data = big.read_bytes()
    middle = len(data) // 2
    edited = {
        "insert": data[:middle] + os.urandom(100) + data[middle:],
        "overwrite": data[:middle] + os.urandom(100) + data[middle + 100 :],
        "append": data + os.urandom(100),
    }[change]
    big.write_bytes(edited)
    proxy.reset()

    sync(via_proxy, root, folder)

    assert manifest(via_proxy, folder)["files"] == {"disk.img": sha256_of(big)}
    # one or two chunks of at most 4 MiB each (1.25 MiB on average), never the 64 MiB file
    assert proxy.up.count < 9 * MiB, proxy.up.count


# --------------------------------------------------------------------------- conflicts


def test_a_file_changed_on_both_sides_keeps_both(client: Client, tree: Path, folder: str) -> None:
    sync(client, tree, folder)
    theirs = client.cwd / "theirs.txt"
    theirs.write_text("changed on the server\n")
    client.ok("put", str(theirs), f"{folder}/readme.txt", "--replace")
    (tree / "readme.txt").write_text("changed here\n")

    result = client.run("sync", str(tree), "--remote", folder)

    assert result.returncode == 0, result.stderr
    files = manifest(client, folder)["files"]
    assert isinstance(files, dict)
    assert files["readme.txt"] == sha256_of(theirs)  # the server's version stays in place
    [copy] = [p for p in files if p.startswith("readme.conflict-")]
    assert re.fullmatch(r"readme\.conflict-\d{8}-\d{6}-[\w-]+\.txt", copy)
    assert files[copy] == sha256_of(tree / "readme.txt")  # ours, beside it
    assert "readme.txt changed on the server too" in result.stderr
    # the same conflict is not copied again
    assert sync(client, tree, folder) == "sync: up to date, 0 B sent"


def test_a_local_delete_never_removes_a_newer_server_version(
    client: Client, tree: Path, folder: str
) -> None:
    sync(client, tree, folder)
    theirs = client.cwd / "theirs.txt"
    theirs.write_text("a newer version\n")
    client.ok("put", str(theirs), f"{folder}/readme.txt", "--replace")
    (tree / "readme.txt").unlink()

    sync(client, tree, folder)

    files = manifest(client, folder)["files"]
    assert isinstance(files, dict)
    assert files["readme.txt"] == sha256_of(theirs)


def test_a_path_the_server_refuses_fails_clearly_and_the_rest_goes_up(
    client: Client, tmp_path: Path, folder: str
) -> None:
    root = tmp_path / "refused"
    root.mkdir()
    (root / "good.txt").write_text("good")
    (root / "back\\slash.txt").write_text("refused")

    result = client.run("sync", str(root), "--remote", folder)

    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("upload-client: could not sync back\\slash")
    assert sorted(manifest(client, folder)["files"]) == ["good.txt"]


# --------------------------------------------------------------------------- failures


def test_a_server_that_is_down_is_one_clear_line(client: Client, tree: Path) -> None:
    client.url = f"http://127.0.0.1:{closed_port()}"
    result = client.run("sync", str(tree))
    assert result.returncode == 7
    assert result.stderr.splitlines()[-1].startswith("upload-client: cannot reach the server")


def test_a_missing_local_folder_is_exit_3(client: Client, tmp_path: Path) -> None:
    line = client.fails(3, "sync", str(tmp_path / "nowhere"))
    assert line == f"no such local folder: {tmp_path / 'nowhere'}"


@pytest.mark.slow
def test_a_server_restart_mid_sync_is_waited_out(client: Client, tmp_path: Path) -> None:
    port = str(closed_port())
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    root = tmp_path / "many"
    root.mkdir()
    for number in range(120):  # big enough to go one request each, about 1.5 s in all
        write_random(root / f"file-{number:03}.bin", 1536 * KiB)
    with running_server(server_dir, PORT=port, RATELIMIT_ENABLED="false") as first:
        client.url, client.token = first.url, first.create_token()
        process = start_sync(client, root, "restart")
        wait_until(lambda: len(manifest(client, "restart")["files"]) >= 5, every=0.02)
    with running_server(server_dir, PORT=port, RATELIMIT_ENABLED="false"):
        _out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
        assert manifest(client, "restart") == local_view(root)
        assert "trying again" in err  # it did reach the server while it was down


# --------------------------------------------------------------------------- --watch


def start_sync(client: Client, root: Path, folder: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [UPLOAD_CLIENT, "sync", str(root), "--remote", folder, *extra],
        cwd=client.cwd,
        env=client.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass
class Watch:
    process: subprocess.Popen[str]
    out: str = ""
    err: str = ""


@contextmanager
def watching(client: Client, root: Path, folder: str, stop_with: int) -> Iterator[Watch]:
    """``sync --watch`` running; at the end ``stop_with`` is sent unless it stopped by itself,
    and its output collected."""
    watch = Watch(start_sync(client, root, folder, "--watch"))
    try:
        yield watch
    finally:
        if watch.process.poll() is None:
            watch.process.send_signal(stop_with)
        watch.out, watch.err = watch.process.communicate(timeout=30)


def wait_until(probe: Callable[[], bool], timeout: float = 30.0, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)


@pytest.mark.slow
def test_watch_mirrors_live_changes_and_stops_cleanly_on_sigterm(
    client: Client, tree: Path, folder: str
) -> None:
    with watching(client, tree, folder, signal.SIGTERM) as watch:
        wait_until(lambda: manifest(client, folder) == local_view(tree))

        (tree / "live.txt").write_text("written while watching\n")
        (tree / "notes" / "todo.txt").write_text("milk\nbread\n")
        (tree / "readme.txt").rename(tree / "notes" / "readme.txt")
        (tree / "later").mkdir()
        wait_until(lambda: manifest(client, folder) == local_view(tree))

        (tree / "live.txt").unlink()
        wait_until(lambda: manifest(client, folder) == local_view(tree))
    assert watch.process.returncode == 0, watch.err
    assert "Traceback" not in watch.err
    lines = watch.out.splitlines()
    assert lines and all(line.startswith("sync: ") for line in lines)


@pytest.mark.slow
def test_watch_waits_for_a_file_that_is_still_being_written(
    client: Client, tmp_path: Path, folder: str
) -> None:
    root = tmp_path / "growing"
    root.mkdir()
    with watching(client, root, folder, signal.SIGINT) as watch:
        time.sleep(1)
        with (root / "recording.wav").open("wb") as growing:
            # longer than the longest debounce: a pass runs while the file still grows
            for _ in range(20):
                growing.write(os.urandom(64 * KiB))
                growing.flush()
                time.sleep(0.35)
                # never a half-written version on the server
                files = manifest(client, folder)["files"]
                assert files == {}, files
        wait_until(lambda: manifest(client, folder) == local_view(root))
    assert watch.process.returncode == 0, watch.err


@pytest.mark.slow
def test_watch_stops_when_the_folder_disappears_and_deletes_nothing(
    client: Client, tree: Path, folder: str
) -> None:
    with watching(client, tree, folder, signal.SIGKILL) as watch:
        wait_until(lambda: manifest(client, folder) == local_view(tree))
        expected = manifest(client, folder)
        shutil.rmtree(tree)  # an unmounted disk looks like this
        watch.process.wait(timeout=30)  # it stops by itself
    assert watch.process.returncode == 3, watch.err
    assert watch.err.splitlines()[-1] == f"upload-client: cannot read the local folder {tree}"
    assert manifest(client, folder) == expected


def test_names_go_up_as_nfc_and_unusual_names_exactly(
    client: Client, tmp_path: Path, folder: str
) -> None:
    root = tmp_path / "names"
    root.mkdir()
    decomposed = "e\u0301te\u0301.txt"  # how macOS spells "été.txt"
    (root / decomposed).write_text("summer")
    for name in ("a b.txt", "quote's.txt", "semi;colon.txt", "日本.txt", "x" * 200 + ".txt"):
        (root / name).write_text(name)

    sync(client, root, folder)

    files = manifest(client, folder)["files"]
    assert isinstance(files, dict)
    assert "\u00e9t\u00e9.txt" in files and decomposed not in files
    assert sorted(files) == sorted(unicodedata.normalize("NFC", p.name) for p in root.iterdir())
    assert sync(client, root, folder) == "sync: up to date, 0 B sent"


# --------------------------------------------------------------------------- S3


@pytest.mark.slow
def test_sync_to_s3_storage_sends_a_delta_and_the_files_come_back_whole(
    s3_server: RunningServer, client: Client, tmp_path: Path, folder: str
) -> None:
    client.token = s3_server.create_token()
    root = tmp_path / "on-s3"
    (root / "small").mkdir(parents=True)
    for number in range(5):
        (root / "small" / f"note-{number}.txt").write_text(f"note {number}\n")
    big = root / "video.raw"
    write_random(big, 24 * MiB)
    with counting_proxy(s3_server.address) as proxy:
        client.url = proxy.url  # one URL throughout: the sync state belongs to a server URL
        sync(client, root, folder)
        with big.open("r+b") as file:
            file.seek(12 * MiB)
            file.write(os.urandom(100))
        proxy.reset()

        sync(client, root, folder)
        sent = proxy.up.count
        client.ok("get", f"{folder}/video.raw", "back.raw")
        assert manifest(client, folder) == local_view(root)

    assert sent < 9 * MiB, sent  # the changed chunk, not the 24 MiB file
    assert sha256_of(client.cwd / "back.raw") == sha256_of(big)
