"""Every failure a user meets: its exit status and its one line on stderr, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.conftest import Client, MiB, closed_port, write_random
from tests.fixtures.server import RunningServer, running_server


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with a 1 MiB file limit and a 2 MiB quota per user."""
    root = tmp_path_factory.mktemp("limited-server")
    settings = {"MAX_FILE_SIZE": "1MiB", "USER_QUOTA": "2MiB", "SWEEP_INTERVAL": "0"}
    with running_server(root, **settings) as running:
        yield running


@pytest.fixture
def limited_client(limited: RunningServer, tmp_path: Path) -> Client:
    home, cwd = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    cwd.mkdir()
    return Client(url=limited.url, token=limited.create_token(), home=home, cwd=cwd)


def test_a_missing_local_file(client: Client) -> None:
    assert client.fails(3, "put", "nope.txt") == "no such local file: nope.txt"
    assert client.fails(3, "-u", "nope.txt") == "no such local file: nope.txt"


def test_a_folder_given_as_local_file(client: Client) -> None:
    (client.cwd / "dir").mkdir()

    assert client.fails(2, "put", "dir") == "dir is a folder; put uploads files"


def test_a_bad_token(client: Client) -> None:
    message = client.fails(4, "ls", UPLOAD_SERVICE_TOKEN="us_not-a-real-token")

    assert message == (
        "The API token is invalid, revoked or expired "
        "(check UPLOAD_SERVICE_TOKEN, or run `upload-client login`)"
    )


def test_no_configuration_at_all_is_a_usage_error(client: Client) -> None:
    message = client.fails(2, "ls", UPLOAD_SERVICE_URL=None, UPLOAD_SERVICE_TOKEN=None)

    assert message == (
        "no server configured: set UPLOAD_SERVICE_URL and UPLOAD_SERVICE_TOKEN, "
        "or run `upload-client login`"
    )


def test_a_server_but_no_token_is_an_auth_error(client: Client) -> None:
    message = client.fails(4, "ls", UPLOAD_SERVICE_TOKEN=None)

    assert message == (
        "no token configured: set UPLOAD_SERVICE_URL and UPLOAD_SERVICE_TOKEN, "
        "or run `upload-client login`"
    )


def test_a_url_that_is_not_one(client: Client) -> None:
    message = client.fails(2, "ls", UPLOAD_SERVICE_URL="localhost:8000")

    assert message == "not a server URL: 'localhost:8000' (expected e.g. http://127.0.0.1:8000)"


def test_the_server_is_down(client: Client) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    (client.cwd / "a.txt").write_text("a")

    for args in (["ls"], ["put", "a.txt"], ["get", "a.txt"], ["-l"]):
        message = client.fails(7, *args, UPLOAD_SERVICE_URL=url)
        assert message == f"cannot reach the server at {url} (connection refused)"


def test_a_conflict_when_putting_twice(client: Client, folder: str) -> None:
    (client.cwd / "twice.txt").write_text("once")
    client.ok("put", "twice.txt", f"{folder}/twice.txt")

    message = client.fails(5, "put", "twice.txt", f"{folder}/twice.txt")

    assert message == f"{folder}/twice.txt already exists on the server (use --replace or --rename)"


def test_a_file_over_the_size_limit(limited_client: Client) -> None:
    write_random(limited_client.cwd / "big.bin", 1 * MiB + 1)

    message = limited_client.fails(6, "put", "big.bin", "limits/big.bin")

    assert message == "limits/big.bin is larger than the server's limit of 1.0 MiB"
    assert limited_client.ok("ls", "--query", "limits/big").stdout == ""


def test_a_file_over_the_quota(limited_client: Client) -> None:
    for name in ("q1.bin", "q2.bin", "q3.bin"):
        write_random(limited_client.cwd / name, 900 * 1024)
    limited_client.ok("put", "q1.bin", "q2.bin", "--to", "quota")

    message = limited_client.fails(6, "put", "q3.bin", "quota/")

    assert message == "quota/q3.bin does not fit in your storage quota (248.0 KiB left)"
    stored = json.loads(limited_client.ok("ls", "quota", "--json").stdout)
    assert [f["name"] for f in stored] == ["q1.bin", "q2.bin"]


def test_a_temporary_upload_over_the_json_limit_is_refused_before_reading_it(
    client: Client,
) -> None:
    with (client.cwd / "sparse.bin").open("wb") as sparse:  # 100 MiB without writing them
        sparse.truncate(100 * MiB)

    message = client.fails(6, "put", "sparse.bin", "--temporary")

    assert message.startswith("--temporary sends base64 JSON, limited to 64 MiB per request")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["put", "a", "b", "c"], "to upload several files, name their folder with --to FOLDER"),
        (["rm", "/"], "refusing to delete the root folder"),
        (["link", "x", "--expires", "0"], "not a duration: '0' (e.g. 30m, 1h, 7d)"),
    ],
)
def test_usage_errors(client: Client, args: list[str], expected: str) -> None:
    assert client.fails(2, *args) == expected


def test_argparse_usage_errors_exit_2(client: Client) -> None:
    result = client.run("frobnicate")

    assert result.returncode == 2
    assert "invalid choice: 'frobnicate'" in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_shows_the_requests_and_the_traceback(client: Client) -> None:
    result = client.run("--debug", "get", "t/nothing-here.txt")

    assert result.returncode == 3
    assert "> GET " in result.stderr and "-> 200 in " in result.stderr
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "upload-client: no such file on the server: t/nothing-here.txt"
    )
