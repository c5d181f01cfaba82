"""``upload-client login``: checked against the server, saved 0600, used afterwards."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.client.conftest import Client, closed_port

UNSET = {"UPLOAD_SERVICE_URL": None, "UPLOAD_SERVICE_TOKEN": None}


def config_file(client: Client) -> Path:
    return client.home / ".config" / "upload-service" / "client.json"


def test_login_with_options_saves_a_private_file_used_afterwards(
    client: Client, folder: str
) -> None:
    result = client.run("login", "--url", client.url, "--token", client.token, **UNSET)

    saved = config_file(client)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"logged in to {client.url} as local; saved to {saved}\n"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    assert json.loads(saved.read_text()) == {"url": client.url, "token": client.token}
    (client.cwd / "after-login.txt").write_text("x")
    put = client.run("put", "after-login.txt", f"{folder}/", **UNSET)
    assert put.returncode == 0, put.stderr
    assert client.run("--list", **UNSET).stdout.count(f"{folder}/after-login.txt") == 1


def test_login_asks_for_url_and_token_when_they_are_not_given(client: Client) -> None:
    result = client.run("login", stdin=f"{client.url}\n{client.token}\n", **UNSET)

    assert result.returncode == 0, result.stderr
    assert json.loads(config_file(client).read_text())["token"] == client.token


def test_login_refuses_a_bad_token_and_saves_nothing(client: Client) -> None:
    result = client.run("login", "--url", client.url, "--token", "us_wrong", **UNSET)

    assert result.returncode == 4
    assert result.stderr == (
        f"upload-client: the server at {client.url} refused the token: "
        "The API token is invalid, revoked or expired\n"
    )
    assert not config_file(client).exists()


def test_login_to_a_server_that_is_down_saves_nothing(client: Client) -> None:
    url = f"http://127.0.0.1:{closed_port()}"

    result = client.run("login", "--url", url, "--token", client.token, **UNSET)

    assert result.returncode == 7
    assert (
        result.stderr == f"upload-client: cannot reach the server at {url} (connection refused)\n"
    )
    assert not config_file(client).exists()


def test_the_environment_wins_over_the_saved_login(client: Client) -> None:
    client.run("login", "--url", client.url, "--token", client.token, **UNSET)

    refused = client.run("ls", UPLOAD_SERVICE_URL=None, UPLOAD_SERVICE_TOKEN="us_wrong")
    elsewhere = f"http://127.0.0.1:{closed_port()}"
    other_server = client.run("ls", UPLOAD_SERVICE_URL=elsewhere, UPLOAD_SERVICE_TOKEN=None)

    assert refused.returncode == 4  # the bad token from the environment was used
    assert other_server.returncode == 4  # the saved token is never sent to another server
    assert other_server.stderr == (
        f"upload-client: no token for {elsewhere} (the saved one is for "
        f"{client.url}): set UPLOAD_SERVICE_URL and UPLOAD_SERVICE_TOKEN, or run "
        "`upload-client login`\n"
    )
