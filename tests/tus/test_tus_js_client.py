"""tus-js-client itself (the release the web page vendors, from npm) under node, against the
real server: it uploads, and a second process resumes the first one's upload."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.fixtures.server import RunningServer, running_server

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]
VENDORED = ROOT / "upload_service" / "static" / "vendor" / "tus-js-client" / "VERSION"
SCRIPT = Path(__file__).with_name("tus_js_client_upload.js")
NODE = shutil.which("node")
NPM = shutil.which("npm")

pytestmark = pytest.mark.skipif(
    NODE is None or NPM is None, reason="node and npm are needed to run tus-js-client"
)


def vendored_version() -> str:
    """The version on the first line of the vendored copy's VERSION note."""
    name, version = VENDORED.read_text().split()[:2]
    assert name == "tus-js-client", name
    return version


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """tus-js-client and its dependencies, installed from npm once per version."""
    version = vendored_version()
    prefix = ROOT / ".cache" / f"tus-js-client-{version}"
    if not (prefix / "node_modules" / "tus-js-client" / "package.json").exists():
        assert NPM is not None
        subprocess.run(
            [
                NPM,
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(prefix),
                f"tus-js-client@{version}",
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return prefix / "node_modules"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(tmp_path, WORKERS="1", SWEEP_INTERVAL="0") as running:
        yield running


def run_node(
    node_modules: Path, server: RunningServer, token: str, file: Path, storage: Path, *extra: str
) -> dict[str, object]:
    assert NODE is not None
    result = subprocess.run(
        [NODE, str(SCRIPT), f"{server.url}/api/tus/", token, str(file), str(storage), *extra],
        env={**os.environ, "NODE_PATH": str(node_modules)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def test_tus_js_client_uploads_and_a_second_process_resumes(
    node_modules: Path, server: RunningServer, tmp_path: Path
) -> None:
    token = server.create_token()
    data = os.urandom(6 * MiB + 777)
    file = tmp_path / "from node.bin"
    file.write_bytes(data)
    storage = tmp_path / "tus-urls.json"

    first = run_node(node_modules, server, token, file, storage, str(3 * MiB))
    assert first["fileId"] is None and first["offset"] == 3 * MiB

    second = run_node(node_modules, server, token, file, storage)
    assert second["url"] == first["url"]  # the same upload, found in the URL storage,
    assert second["resumedFrom"] == 3 * MiB  # and it went on from where the first one stopped
    stored = requests.get(
        f"{server.url}/api/files/{second['fileId']}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()
    assert stored["path"] == "from-node/from node.bin"
    assert (stored["size"], stored["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert json.loads(storage.read_text() or "{}") == {}  # the finished upload is forgotten
