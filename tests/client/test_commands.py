"""Every subcommand of upload-client (README) and the original flags, as a user runs them."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys

import requests

from tests.client.conftest import Client, sha256_of, write_random


def put_text(client: Client, name: str, text: str, *args: str) -> dict:  # type: ignore[type-arg]
    (client.cwd / name).write_text(text)
    return json.loads(client.ok("put", name, *args, "--json").stdout)


def listing(client: Client, *args: str) -> list[dict]:  # type: ignore[type-arg]
    return json.loads(client.ok("ls", *args, "--json").stdout)


# --------------------------------------------------------------------------- put


def test_put_prints_what_it_stored_and_the_server_has_the_same_bytes(
    client: Client, folder: str
) -> None:
    sha = write_random(client.cwd / "photo.jpg", 200_000)

    result = client.ok("put", "photo.jpg", f"{folder}/photo.jpg")

    [line] = result.lines
    assert line.startswith(f"uploaded photo.jpg -> {folder}/photo.jpg (195.3 KiB, id ")
    [stored] = listing(client, folder)
    assert stored["sha256"] == sha and stored["content_type"] == "image/jpeg"
    assert stored["category"] == "image"


def test_put_without_remote_uses_the_name_at_the_root(client: Client, folder: str) -> None:
    name = f"{folder.replace('/', '-')}.txt"
    (client.cwd / name).write_text("root")

    assert (
        client.ok("put", name).stdout
        == f"uploaded {name} -> {name} (4 B, id {_id(client, name)})\n"
    )
    assert name in client.ok("--list").lines


def test_put_into_a_folder_with_a_trailing_slash_and_with_to(client: Client, folder: str) -> None:
    for name in ("a.txt", "b.txt", "c.txt"):
        (client.cwd / name).write_text(name)

    client.ok("put", "a.txt", f"{folder}/docs/")
    many = json.loads(client.ok("put", "b.txt", "c.txt", "--to", f"{folder}/more", "--json").stdout)

    assert [f["path"] for f in many] == [f"{folder}/more/b.txt", f"{folder}/more/c.txt"]
    assert [f["path"] for f in listing(client, f"{folder}/docs")] == [f"{folder}/docs/a.txt"]


def test_put_replace_and_rename(client: Client, folder: str) -> None:
    first = put_text(client, "n.txt", "one", f"{folder}/n.txt")

    replaced = client.ok("put", "n.txt", f"{folder}/n.txt", "--replace")
    renamed = put_text(client, "n.txt", "two", f"{folder}/n.txt", "--rename")

    assert replaced.stdout.startswith(f"replaced n.txt -> {folder}/n.txt")
    assert renamed["path"] == f"{folder}/n (1).txt"
    assert {f["path"] for f in listing(client, folder)} == {first["path"], renamed["path"]}


def test_put_temporary_prints_the_token_last_and_the_file_stays_out_of_listings(
    client: Client, folder: str
) -> None:
    (client.cwd / "scan.pdf").write_bytes(b"%PDF-1.4 tiny")

    result = client.ok("put", "scan.pdf", f"{folder}/", "--temporary")

    *_, token = result.lines
    assert result.lines[0].startswith(f"uploaded {folder}/scan.pdf as a temporary file (13 B)")
    assert re.search(r", kept until \d{4}-\d\d-\d\d \d\d:\d\d UTC$", result.lines[0])
    assert listing(client, "--query", "scan.pdf") == []
    status = requests.get(
        f"{client.url}/api/upload_temporary/{token}",
        headers={"Authorization": f"Bearer {client.token}"},
        timeout=30,
    )
    assert status.json()["files"][0]["state"] == "temporary"


# --------------------------------------------------------------------------- ls


def test_ls_shows_an_aligned_table_with_human_sizes(client: Client, folder: str) -> None:
    write_random(client.cwd / "big.bin", 3 * 1024 * 1024 + 512 * 1024)
    (client.cwd / "notes.md").write_text("# hi\n")
    client.ok("put", "big.bin", "notes.md", "--to", folder)
    client.ok("mkdir", f"{folder}/empty")

    lines = client.ok("ls", folder).lines

    assert lines[0].split() == ["SIZE", "MODIFIED", "TYPE", "ID", "PATH"]
    assert lines[1].split()[-1] == f"{folder}/empty/"
    assert lines[2].split()[:2] == ["3.5", "MiB"] and lines[2].endswith(f"{folder}/big.bin")
    assert lines[3].split()[:2] == ["5", "B"] and lines[3].endswith(f"{folder}/notes.md")
    assert len({line.index("PATH" if i == 0 else folder) for i, line in enumerate(lines)}) == 1


def test_ls_filters_and_sorts(client: Client, folder: str) -> None:
    for i in range(3):
        (client.cwd / f"f{i}.txt").write_text("x" * (i + 1))
    (client.cwd / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    client.ok("put", "f0.txt", "f1.txt", "f2.txt", "pic.png", "--to", folder)

    by_size = listing(client, folder, "--sort", "size", "--reverse")
    images = listing(client, folder, "--category", "image")
    query = listing(client, "--query", f"{folder}/F1")

    assert [f["name"] for f in by_size] == ["pic.png", "f2.txt", "f1.txt", "f0.txt"]
    assert [f["name"] for f in images] == ["pic.png"]
    assert [f["path"] for f in query] == [f"{folder}/f1.txt"]


def test_ls_sorts_by_path_unless_told_otherwise(client: Client, folder: str) -> None:
    put_text(client, "zz.txt", "z", f"{folder}/a/zz.txt")
    put_text(client, "aa.txt", "a", f"{folder}/b/aa.txt")

    by_path = listing(client, "--query", folder)
    by_name = listing(client, "--query", folder, "--sort", "name")

    assert [f["path"] for f in by_path] == [f"{folder}/a/zz.txt", f"{folder}/b/aa.txt"]
    assert [f["path"] for f in by_name] == [f"{folder}/b/aa.txt", f"{folder}/a/zz.txt"]


def test_ls_follows_next_cursor_past_one_page(client: Client, folder: str) -> None:
    token = {"Authorization": f"Bearer {client.token}"}
    items = [{"filename": f"{i:04d}.txt", "folder": folder, "content": ""} for i in range(1005)]
    for batch in (items[:1000], items[1000:]):  # more than one page (the client asks for 1000)
        response = requests.put(f"{client.url}/api/upload", json=batch, headers=token, timeout=60)
        assert response.status_code == 201, response.text

    names = [f["name"] for f in listing(client, folder)]

    assert names == [f"{i:04d}.txt" for i in range(1005)]


def test_ls_of_a_missing_folder_is_not_found(client: Client, folder: str) -> None:
    assert client.fails(3, "ls", f"{folder}/nope") == f"no such folder on the server: {folder}/nope"


# --------------------------------------------------------------------------- get


def test_get_by_path_by_id_into_a_folder_and_to_stdout(client: Client, folder: str) -> None:
    sha = write_random(client.cwd / "data.bin", 100_000)
    stored = json.loads(client.ok("put", "data.bin", f"{folder}/data.bin", "--json").stdout)
    (client.cwd / "down").mkdir()
    (client.cwd / "data.bin").unlink()

    by_path = client.ok("get", f"{folder}/data.bin")
    client.ok("get", stored["id"], "by-id.bin")
    client.ok("get", f"{folder}/data.bin", "-o", "down")
    piped = client.run_binary("get", f"{folder}/data.bin", "-")

    assert by_path.stdout == f"downloaded {folder}/data.bin -> data.bin (97.7 KiB)\n"
    for path in ("data.bin", "by-id.bin", "down/data.bin"):
        assert sha256_of(client.cwd / path) == sha
    assert piped.returncode == 0 and piped.stderr == b""
    assert hashlib.sha256(piped.stdout).hexdigest() == sha
    assert not list(client.cwd.rglob("*.part"))


def test_get_of_a_folder_or_a_missing_file_fails_clearly(client: Client, folder: str) -> None:
    client.ok("mkdir", f"{folder}/dir")

    put_text(client, "f.txt", "f", f"{folder}/f.txt")
    (client.cwd / "f.txt").unlink()

    assert client.fails(2, "get", f"{folder}/dir") == f"{folder}/dir is a folder, not a file"
    assert client.fails(3, "get", f"{folder}/nope") == f"no such file on the server: {folder}/nope"
    assert client.fails(3, "get", f"{folder}/f.txt", "new/") == "no such local folder: new"
    assert not list(client.cwd.iterdir())


def test_get_never_overwrites_a_local_file_without_force(client: Client, folder: str) -> None:
    put_text(client, "keep.txt", "server copy", f"{folder}/keep.txt")
    (client.cwd / "keep.txt").write_text("local work")

    message = client.fails(5, "get", f"{folder}/keep.txt")
    assert (client.cwd / "keep.txt").read_text() == "local work"
    client.ok("get", f"{folder}/keep.txt", "--force")

    assert message == "keep.txt exists already (use --force to overwrite it)"
    assert (client.cwd / "keep.txt").read_text() == "server copy"
    assert not list(client.cwd.rglob("*.part"))


# --------------------------------------------------------------------------- rm, mv, mkdir


def test_rm_files_by_path_and_id_and_folders_recursively(client: Client, folder: str) -> None:
    a = put_text(client, "a.txt", "a", f"{folder}/a.txt")
    put_text(client, "b.txt", "b", f"{folder}/sub/b.txt")

    assert client.ok("rm", f"{folder}/a.txt").stdout == f"deleted {folder}/a.txt\n"
    put_text(client, "a.txt", "again", f"{folder}/a2.txt")
    by_id = client.ok("rm", _id(client, f"{folder}/a2.txt"))
    assert by_id.stdout == f"deleted {folder}/a2.txt\n"
    message = client.fails(5, "rm", f"{folder}/sub")
    client.ok("rm", "--recursive", f"{folder}/sub")

    assert message == f"{folder}/sub is a folder with files in it (use --recursive)"
    assert listing(client, folder) == []
    assert client.fails(3, "rm", a["id"]) == f"no such file or folder on the server: {a['id']}"


def test_rm_of_several_reports_each_failure_and_keeps_going(client: Client, folder: str) -> None:
    put_text(client, "a.txt", "a", f"{folder}/a.txt")

    result = client.run("rm", f"{folder}/nope", f"{folder}/a.txt")

    assert result.returncode == 3
    assert result.stderr == f"upload-client: no such file or folder on the server: {folder}/nope\n"
    assert result.stdout == f"deleted {folder}/a.txt\n"


def test_mv_renames_moves_into_folders_and_moves_folders(client: Client, folder: str) -> None:
    put_text(client, "a.txt", "a", f"{folder}/a.txt")
    b = put_text(client, "b.txt", "b", f"{folder}/b.txt")
    client.ok("mkdir", f"{folder}/box")

    renamed = client.ok("mv", f"{folder}/a.txt", f"{folder}/renamed.txt")
    client.ok("mv", f"{folder}/renamed.txt", f"{folder}/box")  # an existing folder: into it
    client.ok("mv", b["id"], f"{folder}/box/")  # by id, into a folder
    moved = client.ok("mv", f"{folder}/box", f"{folder}/crate")

    assert renamed.stdout == f"moved {folder}/a.txt -> {folder}/renamed.txt\n"
    assert moved.stdout == f"moved folder {folder}/box -> {folder}/crate (2 files)\n"
    paths = sorted(f["path"] for f in listing(client, f"{folder}/crate"))
    assert paths == [f"{folder}/crate/b.txt", f"{folder}/crate/renamed.txt"]


def test_mv_onto_an_existing_file_is_a_conflict(client: Client, folder: str) -> None:
    put_text(client, "a.txt", "a", f"{folder}/a.txt")
    put_text(client, "b.txt", "b", f"{folder}/b.txt")

    message = client.fails(5, "mv", f"{folder}/a.txt", f"{folder}/b.txt")

    assert message.startswith(f"cannot move {folder}/a.txt: A file already exists")


def test_mkdir_creates_parents_and_is_idempotent(client: Client, folder: str) -> None:
    created = client.ok("mkdir", f"{folder}/x/y")
    again = client.ok("mkdir", f"{folder}/x/y")

    assert created.stdout == f"created folder {folder}/x/y\n"
    assert again.stdout == f"folder already exists: {folder}/x/y\n"
    assert client.ok("ls", f"{folder}/x").lines[1].split()[-1] == f"{folder}/x/y/"


# --------------------------------------------------------------------------- link


def test_link_prints_one_absolute_url_that_needs_no_token(client: Client, folder: str) -> None:
    put_text(client, "share.txt", "shared", f"{folder}/share.txt")

    result = client.ok("link", f"{folder}/share.txt", "--expires", "10m")

    [url] = result.lines
    assert url.startswith(client.url + "/")
    assert requests.get(url, timeout=30).content == b"shared"
    expiring = json.loads(client.ok("link", f"{folder}/share.txt", "--json").stdout)
    assert set(expiring) == {"url", "expires_at"}
    assert client.fails(2, "link", f"{folder}/share.txt", "--expires", "soon").startswith(
        "not a duration"
    )


def test_link_takes_minutes_hours_days_weeks_and_names_the_maximum(
    client: Client, folder: str
) -> None:
    put_text(client, "week.txt", "w", f"{folder}/week.txt")

    for duration in ("30m", "2h", "7d", "1w"):
        client.ok("link", f"{folder}/week.txt", "--expires", duration)
    message = client.fails(1, "link", f"{folder}/week.txt", "--expires", "30d")

    assert "at most 7 days on this server (SIGNED_URL_MAX_AGE)" in message


# --------------------------------------------------------------------------- --json


def test_every_command_speaks_json(client: Client, folder: str) -> None:
    stored = put_text(client, "j.txt", "json", f"{folder}/j.txt")

    made = json.loads(client.ok("mkdir", f"{folder}/box", "--json").stdout)
    moved = json.loads(client.ok("--json", "mv", f"{folder}/j.txt", f"{folder}/box/").stdout)
    got = json.loads(client.ok("get", stored["id"], "back.txt", "--json").stdout)
    removed = json.loads(client.ok("rm", f"{folder}/box", "-r", "--json").stdout)

    assert made == {"success": True, "path": f"{folder}/box", "created": True, "folders": []}
    assert moved["id"] == stored["id"] and moved["path"] == f"{folder}/box/j.txt"
    assert got["local"] == "back.txt" and got["file"]["sha256"] == stored["sha256"]
    assert removed == {"deleted": [f"{folder}/box"]}


# --------------------------------------------------------------------------- original flags


def test_the_original_flags_list_upload_and_delete(client: Client, folder: str) -> None:
    name = f"{folder.replace('/', '-')}-orig.txt"
    (client.cwd / name).write_text("original")

    uploaded = client.ok("-u", name)
    listed = client.ok("-l")
    deleted = client.ok("--delete", name)

    assert uploaded.stdout.startswith(f"uploaded {name} -> {name}")
    assert name in listed.lines
    assert deleted.stdout == f"deleted {name}\n"
    assert name not in client.ok("--list").lines
    assert client.fails(3, "--delete", name) == f"no such file or folder on the server: {name}"


def test_list_prints_bare_paths_one_a_line(client: Client, folder: str) -> None:
    put_text(client, "one.txt", "1", f"{folder}/one.txt")
    put_text(client, "two.txt", "2", f"{folder}/deeper/two.txt")

    lines = client.ok("--list").lines

    assert f"{folder}/one.txt" in lines and f"{folder}/deeper/two.txt" in lines
    assert len(lines) == len(set(lines))


def test_a_command_and_an_original_flag_together_is_a_usage_error(client: Client) -> None:
    result = client.run("-l", "ls")

    assert result.returncode == 2
    assert "use either a command or --list" in result.stderr


def test_python_dash_m_runs_the_same_client(client: Client, folder: str) -> None:
    put_text(client, "m.txt", "m", f"{folder}/m.txt")

    done = subprocess.run(
        [sys.executable, "-m", "upload_service.client", "ls", folder, "--json"],
        cwd=client.cwd,
        env=client.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert [f["path"] for f in json.loads(done.stdout)] == [f"{folder}/m.txt"]


# --------------------------------------------------------------------------- helpers


def _id(client: Client, path: str) -> str:
    [file] = [f for f in listing(client, "--query", path) if f["path"] == path]
    return str(file["id"])
