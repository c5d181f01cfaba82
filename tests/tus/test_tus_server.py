"""tus against the real server process: offsets survive a restart and a cut connection."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
from pathlib import Path

import requests

from tests.fixtures.server import running_server

MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"


def _offset(url: str, headers: dict[str, str]) -> int:
    head = requests.head(url, headers={**headers, **TUS}, timeout=30)
    assert head.status_code == 200, head.text
    return int(head.headers["Upload-Offset"])


def _patch(url: str, headers: dict[str, str], offset: int, body: bytes) -> requests.Response:
    return requests.patch(
        url,
        data=body,
        headers={**headers, **TUS, "Content-Type": OCTETS, "Upload-Offset": str(offset)},
        timeout=60,
    )


def _cut_patch(url: str, token: str, offset: int, declared: int, sent: bytes) -> None:
    """A PATCH that declares ``declared`` bytes, sends ``sent`` and drops the connection."""
    host, _, rest = url.removeprefix("http://").partition("/")
    name, _, port = host.partition(":")
    head = (
        f"PATCH /{rest} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Tus-Resumable: 1.0.0\r\nContent-Type: {OCTETS}\r\nUpload-Offset: {offset}\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    ).encode()
    with socket.create_connection((name, int(port))) as sock:
        sock.sendall(head + sent)


def test_offsets_survive_restart_and_cut_connection(tmp_path: Path) -> None:
    data = os.urandom(8 * MiB)
    metadata = "filename " + base64.b64encode(b"resumed.bin").decode()
    with running_server(tmp_path) as server:
        token = server.create_token()
        auth = {"Authorization": f"Bearer {token}"}
        created = requests.post(
            f"{server.url}/api/tus/",
            headers={**auth, **TUS, "Upload-Length": str(len(data)), "Upload-Metadata": metadata},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        path = created.headers["Location"].split("/api/tus/")[1]
        assert _patch(f"{server.url}/api/tus/{path}", auth, 0, data[: 3 * MiB]).status_code == 204
    with running_server(tmp_path) as server:
        url = f"{server.url}/api/tus/{path}"
        assert _offset(url, auth) == 3 * MiB
        _cut_patch(url, token, 3 * MiB, 4 * MiB, data[3 * MiB : 5 * MiB])
        deadline = time.monotonic() + 30  # the server notices the cut when the socket closes
        while _offset(url, auth) == 3 * MiB and time.monotonic() < deadline:
            time.sleep(0.2)
        offset = _offset(url, auth)
        assert 3 * MiB < offset <= 5 * MiB  # what arrived is kept, nothing invented
        done = _patch(url, auth, offset, data[offset:])
        assert done.status_code == 204, done.text
        file_id = done.headers["Upload-File-Id"]
        content = requests.get(
            f"{server.url}/api/files/{file_id}/content", headers=auth, timeout=60
        )
        assert hashlib.sha256(content.content).digest() == hashlib.sha256(data).digest()
