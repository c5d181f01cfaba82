"""The curl commands of the original Upload Service README, run verbatim with real curl."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from tests.fixtures.github import FakeAccount, FakeGitHub
from tests.fixtures.users import Account

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

README = b"# Upload Service\n\nThis is simple upload service for uploading files.\n"
# The two commands exactly as the original README gives them, token aside.
TEMPORARY = (
    'curl -X PUT {url}/api/upload_temporary -H "Authorization: Bearer {token}" '
    '-H "Content-type: application/json" '
    '-d "[{{\\"filename\\": \\"README.md\\", \\"content\\": \\"$(base64 -w 0 README.md)\\"}}]"'
)
PERSISTENT = (
    'curl -X PUT {url}/api/upload -H "Authorization: Bearer {token}" '
    '-H "Content-type: application/json" '
    '-d "[{{\\"filename\\": \\"README.md\\", \\"content\\": \\"$(base64 -w 0 README.md)\\"}}]"'
)


def _run(command: str, cwd: Path) -> dict:  # type: ignore[type-arg]
    result = subprocess.run(
        ["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(result.stdout)


def _check_both_commands(url: str, token: str, cwd: Path) -> None:
    (cwd / "README.md").write_bytes(README)
    temporary = _run(TEMPORARY.format(url=url, token=token), cwd)
    assert temporary["success"] is True and temporary["token"]
    assert temporary["files"][0]["state"] == "temporary"
    stored = _run(PERSISTENT.format(url=url, token=token), cwd)
    assert stored["success"] is True
    file = stored["files"][0]
    assert file["path"] == "README.md" and file["size"] == len(README)
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(file["download_url"], headers=headers, timeout=30).content == README


def test_original_commands_with_our_api_token(
    live_url: str, alice: Account, tmp_path: Path
) -> None:
    _check_both_commands(live_url, alice.token, tmp_path)


def test_original_commands_with_a_github_token(
    github: FakeGitHub, live_url: str, tmp_path: Path
) -> None:
    token = github.issue_token(FakeAccount(id=4242, login="octocat", name="Mona"))
    _check_both_commands(live_url, token, tmp_path)
