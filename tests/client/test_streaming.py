"""How ``put`` and ``get`` move the bytes: hashed in the same pass (on a thread of its own), the
length declared up front, the server's digest checked at the end, few big tus PATCHes, and a
progress bar for a resumable upload too."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.client.conftest import Client, MiB, write_random
from tests.client.test_transfers import run_with_terminal_stderr
from upload_service.client.resumable import (
    CHUNK_SIZE,
    MAX_CHUNK,
    PATCH_SECONDS,
    RESUMABLE_THRESHOLD,
    next_chunk_size,
)
from upload_service.client.transfer import Hasher

# --------------------------------------------------------------------------- the hashing thread


def hashing_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "sha256")


def test_the_hashing_thread_gives_the_digest_of_every_block_in_order() -> None:
    blocks = [os.urandom(size) for size in (1, 4096, 3 * MiB + 7, 0, 65536, 1)] * 3
    hasher = Hasher()
    for block in blocks:
        hasher.update(block)
    assert hasher.result().hexdigest() == hashlib.sha256(b"".join(blocks)).hexdigest()


def test_the_hashing_thread_goes_on_from_a_digest_it_is_given() -> None:
    start = hashlib.sha256(b"what the partial file held")
    hasher = Hasher(start.copy())
    hasher.update(b" and the rest")
    expected = hashlib.sha256(b"what the partial file held and the rest").hexdigest()
    assert hasher.result().hexdigest() == expected


def test_an_abandoned_hasher_ends_its_thread() -> None:
    before = hashing_threads()
    hasher = Hasher()
    hasher.update(b"x" * MiB)
    assert hashing_threads() == before + 1
    del hasher  # a request that failed half-way drops its body
    for thread in threading.enumerate():
        if thread.name == "sha256":
            thread.join(timeout=10)
    assert hashing_threads() == before


# --------------------------------------------------------------------------- tus chunk sizes


def test_after_a_slow_patch_the_next_one_is_still_the_first_chunk_size() -> None:
    assert next_chunk_size(CHUNK_SIZE, 900.0) == CHUNK_SIZE  # 32 MiB in 15 minutes


def test_after_a_fast_patch_the_next_one_sends_what_that_speed_moves_in_a_minute() -> None:
    rate = 2 * MiB  # bytes per second
    assert next_chunk_size(CHUNK_SIZE, CHUNK_SIZE / rate) == int(rate * PATCH_SECONDS)


def test_no_patch_sends_more_than_the_largest_chunk() -> None:
    assert next_chunk_size(CHUNK_SIZE, 0.0) == MAX_CHUNK


def test_a_big_put_on_a_fast_link_sends_the_rest_in_one_patch(client: Client, folder: str) -> None:
    size = 2 * CHUNK_SIZE + 8 * MiB + 5  # three PATCHes of CHUNK_SIZE at most
    sha = write_random(client.cwd / "big.bin", size)

    result = client.run("--debug", "put", "big.bin", f"{folder}/big.bin", "--json")

    assert result.returncode == 0, result.stderr
    assert len(re.findall(r"^> PATCH \S+ -> 204 in ", result.stderr, re.MULTILINE)) == 2
    stored = json.loads(result.stdout)
    assert stored["size"] == size and stored["sha256"] == sha


def test_a_resumable_put_shows_its_progress_on_a_terminal(client: Client, folder: str) -> None:
    size = RESUMABLE_THRESHOLD + 3 * MiB
    write_random(client.cwd / "big.bin", size)

    out, bar = run_with_terminal_stderr(client, "put", "big.bin", f"{folder}/big.bin")

    assert out.startswith(f"uploaded big.bin -> {folder}/big.bin (35.0 MiB")
    assert f"put {folder}/big.bin" in bar
    assert "35.0/35.0 MiB" in bar and "100%" in bar and "/s" in bar


# --------------------------------------------------------------------------- one streaming PUT


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: int


@dataclass
class FakeServer:
    """Answers every PUT with ``answer`` (201) and every DELETE with 204; keeps what it saw."""

    answer: dict[str, Any]
    seen: list[Seen] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    fake = FakeServer(answer={})

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            length = self.headers.get("Content-Length")
            if length is None:  # a chunked body: refuse it, as a server that wants a length
                self._record(0)
                self._reply(411, b"{}")
                return
            received = 0
            while received < int(length):
                received += len(self.rfile.read(min(MiB, int(length) - received)))
            self._record(received)
            self._reply(201, json.dumps(fake.answer).encode())

        def do_DELETE(self) -> None:
            self._record(0)
            self.send_response(204)
            self.end_headers()

        def _record(self, body: int) -> None:
            fake.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))

        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def stored_answer(client: Client, folder: str, name: str) -> dict[str, Any]:
    """What the real server answers for ``name`` (a real FileOut to play back)."""
    answer: dict[str, Any] = json.loads(client.ok("put", name, f"{folder}/{name}", "--json").stdout)
    return answer


def test_put_declares_the_length_up_front_and_streams_the_file(
    client: Client, folder: str, fake_server: FakeServer
) -> None:
    size = 9 * MiB + 3
    write_random(client.cwd / "f.bin", size)
    fake_server.answer = stored_answer(client, folder, "f.bin")

    result = client.run("put", "f.bin", f"{folder}/f.bin", UPLOAD_SERVICE_URL=fake_server.url)

    assert result.returncode == 0, result.stderr
    [put] = fake_server.seen
    assert put.method == "PUT" and put.path.startswith(f"/api/fs/{folder}/f.bin?")
    assert put.headers["Content-Length"] == str(size) and put.body == size
    assert "Transfer-Encoding" not in put.headers
    assert "X-Content-SHA256" not in put.headers  # no second pass to hash it first


def test_a_digest_the_server_answers_that_is_not_ours_fails_and_deletes_its_copy(
    client: Client, folder: str, fake_server: FakeServer
) -> None:
    write_random(client.cwd / "f.bin", 2 * MiB)
    answer = stored_answer(client, folder, "f.bin")
    ours, theirs = answer["sha256"], "0" * 64
    fake_server.answer = {**answer, "sha256": theirs}

    message = client.fails(8, "put", "f.bin", f"{folder}/f.bin", UPLOAD_SERVICE_URL=fake_server.url)

    assert message == (
        f"upload of f.bin is corrupt: SHA-256 {ours} here, {theirs} on the server; "
        "the server's copy was deleted"
    )
    put, delete = fake_server.seen
    assert put.method == "PUT"
    assert delete.method == "DELETE" and delete.path == f"/api/files/{answer['id']}"
    assert delete.headers["If-Match"] == f'"{theirs}"'  # exactly the copy that went wrong


def test_get_with_debug_tells_how_long_the_body_took(client: Client, folder: str) -> None:
    write_random(client.cwd / "f.bin", 3 * MiB)
    client.ok("put", "f.bin", f"{folder}/f.bin")

    result = client.run("--debug", "get", f"{folder}/f.bin", "copy.bin")

    assert result.returncode == 0, result.stderr
    assert re.search(
        r"^> GET \S+/content -> 200, 3145728 bytes in [0-9.]+ s$", result.stderr, re.MULTILINE
    )
