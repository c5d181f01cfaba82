"""``upload-service token ...`` and ``upload-service user list``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient

from tests.fixtures.users import Account
from upload_service.cli.tokens import token
from upload_service.cli.users import user


@pytest.fixture
def cli_env(app_overrides: dict[str, Any]) -> dict[str, str]:
    """The environment that points the commands at the test app's data and database."""
    return {
        "DATA_DIR": str(app_overrides["DATA_DIR"]),
        "DATABASE_URL": app_overrides["DATABASE_URL"],
        "SECRET_KEY": app_overrides["SECRET_KEY"],
    }


def run(command: Any, args: list[str], env: dict[str, str]) -> Result:
    return CliRunner().invoke(command, args, env=env, catch_exceptions=False)


def test_token_create_prints_a_working_token_last(
    app: Flask, client: FlaskClient, alice: Account, cli_env: dict[str, str]
) -> None:
    result = run(
        token, ["create", "--user", "alice", "--name", "backup", "--expires", "30d"], cli_env
    )

    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) >= 2
    assert "alice" in lines[0] and "backup" in lines[0]
    plaintext = lines[-1]
    assert plaintext.startswith("us_") and " " not in plaintext

    me = client.get("/api/me", headers={"Authorization": f"Bearer {plaintext}"})
    assert me.status_code == 200
    assert me.json["login"] == "alice"
    listed = client.get("/api/tokens", headers=alice.headers).json["items"]
    backup = next(item for item in listed if item["name"] == "backup")
    assert backup["expires_at"] is not None


def test_token_list_and_revoke(
    app: Flask, client: FlaskClient, alice: Account, bob: Account, cli_env: dict[str, str]
) -> None:
    created = run(token, ["create", "--user", "bob"], cli_env)
    plaintext = created.output.strip().splitlines()[-1]

    listing = run(token, ["list"], cli_env)
    assert listing.exit_code == 0
    header, *rows = listing.output.strip().splitlines()
    assert header.split()[:4] == ["ID", "USER", "NAME", "PREFIX"]
    assert len(rows) == 3  # alice's and bob's fixture tokens, and the new one
    assert plaintext not in listing.output
    only_bob = run(token, ["list", "--user", "bob"], cli_env).output.strip().splitlines()[1:]
    assert len(only_bob) == 2 and all(" bob " in row for row in only_bob)

    token_id = client.get("/api/tokens", headers={"Authorization": f"Bearer {plaintext}"}).json[
        "items"
    ][-1]["id"]
    revoked = run(token, ["revoke", token_id], cli_env)
    assert revoked.exit_code == 0
    assert "Revoked" in revoked.output
    assert (
        client.get("/api/me", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 401
    )
    state = next(
        row for row in run(token, ["list"], cli_env).output.splitlines() if token_id in row
    )
    assert state.rstrip().endswith("revoked")


def test_unknown_user_is_a_clear_error(app: Flask, cli_env: dict[str, str]) -> None:
    result = run(token, ["create", "--user", "nobody"], cli_env)
    assert result.exit_code != 0
    assert "no user with login 'nobody'" in result.output
    assert "Traceback" not in result.output
    assert "us_" not in result.output


def test_unknown_token_id_and_bad_expiry_fail(app: Flask, cli_env: dict[str, str]) -> None:
    assert run(token, ["revoke", "nope"], cli_env).exit_code != 0
    bad = run(token, ["create", "--user", "local", "--expires", "soon"], cli_env)
    assert bad.exit_code == 2
    assert "not a duration" in bad.output


def test_token_for_the_local_user_creates_it(
    app: Flask, client: FlaskClient, cli_env: dict[str, str]
) -> None:
    result = run(token, ["create", "--user", "local", "--expires", "12h"], cli_env)
    assert result.exit_code == 0, result.output
    plaintext = result.output.strip().splitlines()[-1]
    me = client.get("/api/me", headers={"Authorization": f"Bearer {plaintext}"}).json
    assert me["login"] == "local" and me["is_admin"] is True


def test_user_list(app: Flask, alice: Account, bob: Account, cli_env: dict[str, str]) -> None:
    result = run(user, ["list"], cli_env)
    assert result.exit_code == 0
    header, *rows = result.output.strip().splitlines()
    assert header.split()[:2] == ["LOGIN", "GITHUB"]
    assert [row.split()[:5] for row in rows] == [
        ["alice", "1001", "no", "0", "0"],
        ["bob", "1002", "no", "0", "0"],
    ]
    assert all("unlimited" in row for row in rows)


def test_commands_migrate_a_fresh_database(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path / "fresh"), "DATABASE_URL": ""}
    result = run(token, ["create", "--user", "local"], env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fresh" / "upload-service.db").exists()
