"""Big files go up over tus: a cut connection is retried, a killed ``put`` continues with
``--resume``, and only the missing part travels again."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import requests

from tests.client.conftest import UPLOAD_CLIENT, Client, MiB, sha256_of, write_random
from tests.fixtures.proxy import CountingProxy, counting_proxy
from tests.fixtures.server import RunningServer
from upload_service.client.resumable import CHUNK_SIZE, RESUMABLE_THRESHOLD

SIZE = RESUMABLE_THRESHOLD + 8 * MiB + 123  # one whole chunk and a short one
assert CHUNK_SIZE < SIZE < 2 * CHUNK_SIZE  # two PATCHes: the digest goes on across them
CUT = 20 * MiB  # inside the first chunk
HEADROOM = 64 * 1024  # request heads, HEADs and the lookups around the upload


def state_of(client: Client) -> dict[str, str]:
    path = client.home / ".local" / "state" / "upload-service" / "uploads.json"
    return json.loads(path.read_text()) if path.exists() else {}


def server_offset(server: RunningServer, client: Client, location: str) -> int:
    response = requests.head(
        server.url + location,
        headers={"Authorization": f"Bearer {client.token}", "Tus-Resumable": "1.0.0"},
        timeout=30,
    )
    assert response.status_code == 200
    return int(response.headers["Upload-Offset"])


def kill_put_when_stalled(
    client: Client, proxy: CountingProxy, folder: str, *, stall_after: int
) -> None:
    """Start ``put big.bin`` through ``proxy``, held back after ``stall_after`` bytes: SIGKILL."""
    proxy.up.stall_after = stall_after
    putting = subprocess.Popen(
        [UPLOAD_CLIENT, "put", "big.bin", f"{folder}/big.bin"],
        cwd=client.cwd,
        env=client.env(UPLOAD_SERVICE_URL=proxy.url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert proxy.stalled.wait(60), "the upload never got going"
    putting.send_signal(signal.SIGKILL)
    putting.wait(timeout=30)


def settled_offset(server: RunningServer, client: Client, location: str) -> int:
    """The offset once the server has finished with the cut PATCH (it records it at the end)."""
    deadline = time.monotonic() + 30
    while (offset := server_offset(server, client, location)) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    return offset


def test_a_big_put_goes_on_after_a_cut_connection(
    server: RunningServer, client: Client, folder: str
) -> None:
    sha = write_random(client.cwd / "big.bin", SIZE)
    with counting_proxy(server.address) as proxy:
        proxy.up.cut_after = CUT

        result = client.ok(
            "put", "big.bin", f"{folder}/big.bin", "--json", UPLOAD_SERVICE_URL=proxy.url
        )

        assert proxy.cut.is_set()
        # What arrived before the cut is not sent again (the slack: a retry that a slow server
        # refuses early while it still finishes the cut PATCH may have started sending).
        assert proxy.up.count < SIZE + CUT // 2
    stored = json.loads(result.stdout)
    assert stored["size"] == SIZE and stored["sha256"] == sha
    assert state_of(client) == {}  # nothing left to resume
    client.ok("get", f"{folder}/big.bin", "back.bin")
    assert sha256_of(client.cwd / "back.bin") == sha


def test_put_resume_continues_a_killed_upload_with_only_the_rest(
    server: RunningServer, client: Client, folder: str
) -> None:
    sha = write_random(client.cwd / "big.bin", SIZE)
    with counting_proxy(server.address) as proxy:
        kill_put_when_stalled(client, proxy, folder, stall_after=CUT)
        proxy.drop_connections()  # the server sees the held PATCH cut: it keeps what arrived
        [location] = state_of(client).values()
        kept = settled_offset(server, client, location)
        assert CUT - HEADROOM < kept <= CUT

        proxy.reset()
        result = client.ok(
            "put", "big.bin", f"{folder}/big.bin", "--resume", UPLOAD_SERVICE_URL=proxy.url
        )
        assert SIZE - kept <= proxy.up.count < SIZE - kept + HEADROOM  # only the rest went up

    assert result.stdout.startswith(f"uploaded big.bin -> {folder}/big.bin (")
    assert client.ok("ls", "--json", folder).stdout.count(sha) == 1
    assert state_of(client) == {}


def test_a_changed_file_is_not_resumed_onto_an_earlier_try(
    server: RunningServer, client: Client, folder: str
) -> None:
    local = client.cwd / "big.bin"
    write_random(local, SIZE)
    with counting_proxy(server.address) as proxy:
        kill_put_when_stalled(client, proxy, folder, stall_after=12 * MiB)
        proxy.drop_connections()
        assert len(state_of(client)) == 1

        sha = write_random(local, SIZE)  # the same size, other bytes
        proxy.reset()
        client.ok("put", "big.bin", f"{folder}/big.bin", "--resume", UPLOAD_SERVICE_URL=proxy.url)
        assert proxy.up.count >= SIZE  # all of it, from the start

    stored = json.loads(client.ok("ls", "--json", folder).stdout)
    assert [item["sha256"] for item in stored] == [sha]
    assert state_of(client) == {}  # the earlier try is forgotten too


def test_put_resume_of_a_small_file_with_nothing_to_resume_uploads_it(
    client: Client, folder: str
) -> None:
    sha = write_random(client.cwd / "small.bin", 1 * MiB)
    client.ok("put", "small.bin", f"{folder}/small.bin", "--resume")
    assert sha256_of_remote(client, f"{folder}/small.bin", client.cwd / "copy.bin") == sha


def sha256_of_remote(client: Client, remote: str, local: Path) -> str:
    client.ok("get", remote, str(local))
    return sha256_of(local)


def test_resume_cannot_be_combined_with_direct_or_temporary(client: Client) -> None:
    write_random(client.cwd / "f.bin", 10)
    message = client.fails(2, "put", "f.bin", "--resume", "--direct")
    assert message == "--resume and --direct cannot be combined"
    message = client.fails(2, "put", "f.bin", "--resume", "--temporary")
    assert message == "--resume and --temporary cannot be combined"
