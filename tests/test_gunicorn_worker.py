"""Request bodies under our gunicorn worker: the socket reader alone, then the real server."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import io
import os
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from gunicorn.http.body import Body, ChunkedReader, LengthReader
from gunicorn.http.unreader import SocketUnreader

from tests.fixtures.server import RunningServer, running_server
from upload_service.gunicorn_worker import SocketBody, SocketBodyInput

MiB = 1024 * 1024
NEXT_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


# --- SocketBody over a socket pair, with gunicorn's own reader objects ------------------------


@pytest.fixture
def sockets() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(server side, client side) of a connected pair; the server side times out after 5 s."""
    server, client = socket.socketpair()
    server.settimeout(5)
    with server, client:
        yield server, client


def length_reader(server: socket.socket, length: int, buffered: bytes = b"") -> LengthReader:
    """gunicorn's state after parsing a request head: ``buffered`` arrived along with it."""
    unreader = SocketUnreader(server)
    unreader.unread(buffered)
    return LengthReader(unreader, length)


def test_reads_buffered_bytes_then_the_socket_and_never_past_the_body(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    server, client = sockets
    reader = length_reader(server, 11, buffered=b"hello ")
    client.sendall(b"world" + NEXT_REQUEST)

    body = SocketBody(reader)

    assert body.read() == b"hello world"
    assert body.read() == b""
    assert reader.length == 0  # gunicorn has nothing left to discard
    assert reader.unreader.read() == NEXT_REQUEST  # the next request is still gunicorn's


def test_a_pipelined_request_buffered_with_the_body_stays_with_gunicorn(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    server, _client = sockets
    reader = length_reader(server, 10, buffered=b"0123456789" + NEXT_REQUEST)

    body = SocketBody(reader)

    buffer = bytearray(64)
    assert body.readinto(buffer) == 10
    assert bytes(buffer[:10]) == b"0123456789"
    assert reader.unreader.read() == NEXT_REQUEST


def test_gunicorn_discards_exactly_what_the_application_left_unread(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    server, client = sockets
    reader = length_reader(server, 100, buffered=b"a" * 30)
    client.sendall(b"b" * 70 + NEXT_REQUEST)
    body = SocketBody(reader)

    assert body.read(50) == b"a" * 30 + b"b" * 20

    # what gunicorn's parser does before the next request: drain the body through its reader
    assert Body(reader).read() == b"b" * 50
    assert reader.unreader.read() == NEXT_REQUEST


def test_readinto_fills_the_buffer_across_many_sends(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    server, client = sockets
    data = os.urandom(3 * MiB)
    sender = threading.Thread(target=_send_in_pieces, args=(client, data, 1000))
    sender.start()
    body = SocketBody(length_reader(server, len(data)))

    buffer = bytearray(2 * MiB)
    first = body.readinto(buffer)
    received = bytes(buffer[:first])
    second = body.readinto(buffer)
    received += bytes(buffer[:second])
    sender.join()

    assert (first, second) == (2 * MiB, MiB)
    assert received == data


def test_readline_and_iteration(sockets: tuple[socket.socket, socket.socket]) -> None:
    server, client = sockets
    content = b"--boundary\r\nname: one\r\n\r\nvalue\nlast line"
    reader = length_reader(server, len(content), buffered=content[:5])
    client.sendall(content[5:] + NEXT_REQUEST)
    body = SocketBody(reader)

    assert body.readline() == b"--boundary\r\n"
    assert body.readline(4) == b"name"
    assert list(body) == [b": one\r\n", b"\r\n", b"value\n", b"last line"]
    assert reader.unreader.read() == NEXT_REQUEST


def test_a_client_that_closes_early_ends_the_body_short(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    server, client = sockets
    reader = length_reader(server, 100, buffered=b"x" * 10)
    client.sendall(b"y" * 30)
    client.shutdown(socket.SHUT_WR)

    body = SocketBody(reader)

    assert body.read() == b"x" * 10 + b"y" * 30  # as gunicorn's reader: short, no error
    assert body.read() == b""
    assert reader.length == 0  # nothing more will come: gunicorn must not wait for it


def test_a_silent_client_times_out(sockets: tuple[socket.socket, socket.socket]) -> None:
    server, _client = sockets
    server.settimeout(0.2)
    body = SocketBody(length_reader(server, 10))

    with pytest.raises(TimeoutError):
        body.read(10)


def test_only_content_length_bodies_get_the_socket_reader(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    server, _client = sockets
    seen: list[object] = []
    app = SocketBodyInput(lambda environ, start_response: seen.append(environ["wsgi.input"]) or [])
    unreader = SocketUnreader(server)
    chunked = Body(ChunkedReader(None, unreader))

    app({"wsgi.input": Body(LengthReader(unreader, 5))}, lambda *a: None)
    app({"wsgi.input": chunked}, lambda *a: None)
    app({"wsgi.input": io.BytesIO(b"other server")}, lambda *a: None)

    assert isinstance(seen[0], SocketBody)
    assert seen[1] is chunked
    assert isinstance(seen[2], io.BytesIO)


def _send_in_pieces(sock: socket.socket, data: bytes, size: int) -> None:
    for start in range(0, len(data), size):
        sock.sendall(data[start : start + size])


# --- the real server ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str]]:
    """A running server and a bearer token for its local user."""
    tmp_path = tmp_path_factory.mktemp("bodies")
    with running_server(tmp_path) as server:
        yield server, server.create_token()


def raw_request(server: RunningServer, request: bytes, *, half_close: bool = False) -> bytes:
    """Send ``request`` on a fresh connection and read until the server closes it."""
    with socket.create_connection(server.address, timeout=30) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(MiB):
            chunks.append(chunk)
    return b"".join(chunks)


def put_head(token: str, path: str, length: int, *, close: bool = False) -> bytes:
    connection = "Connection: close\r\n" if close else ""
    return (
        f"PUT /api/fs/{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Length: {length}\r\n{connection}\r\n"
    ).encode()


def statuses(responses: bytes) -> list[int]:
    return [int(code) for code in re.findall(rb"^HTTP/1\.1 (\d{3}) ", responses, re.MULTILINE)]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_raw_put_round_trips_20_mib(live: tuple[RunningServer, str]) -> None:
    server, token = live
    data = os.urandom(20 * MiB)
    auth = {"Authorization": f"Bearer {token}"}

    put = requests.put(f"{server.url}/api/fs/big/random.bin", data=data, headers=auth, timeout=60)
    got = requests.get(f"{server.url}/api/fs/big/random.bin", headers=auth, timeout=60)

    assert put.status_code == 201, put.text
    assert (put.json()["size"], put.json()["sha256"]) == (len(data), sha256(data))
    assert sha256(got.content) == sha256(data)


def test_keep_alive_connection_serves_the_request_after_a_big_put(
    live: tuple[RunningServer, str],
) -> None:
    server, token = live
    connection = http.client.HTTPConnection(*server.address, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        connection.request("PUT", "/api/fs/kept/a.bin", body=os.urandom(5 * MiB), headers=headers)
        put = connection.getresponse()
        put.read()
        first_socket = connection.sock
        connection.request("GET", "/healthz")
        health = connection.getresponse()
        health.read()

        assert (put.status, health.status) == (201, 200)
        assert first_socket is not None
        assert connection.sock is first_socket  # not closed and reopened in between
    finally:
        connection.close()


@pytest.mark.parametrize("size", [11, 3 * MiB], ids=["small-body", "big-body"])
def test_pipelined_requests_after_a_put_are_all_answered(
    live: tuple[RunningServer, str], size: int
) -> None:
    server, token = live
    data = os.urandom(size)
    last = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"

    responses = raw_request(
        server, put_head(token, f"pipelined/{size}.bin", size) + data + NEXT_REQUEST + last
    )

    assert statuses(responses) == [201, 200, 200]
    assert sha256(data).encode() in responses


def test_multipart_upload(live: tuple[RunningServer, str]) -> None:
    server, token = live
    data = os.urandom(3 * MiB)

    response = requests.post(
        f"{server.url}/api/files",
        headers={"Authorization": f"Bearer {token}"},
        files={"file": ("form.bin", data, "application/octet-stream")},
        data={"folder": "multipart"},
        timeout=60,
    )

    assert response.status_code == 201, response.text
    [file] = response.json()["files"]
    assert (file["path"], file["sha256"]) == ("multipart/form.bin", sha256(data))


def test_chunked_put_still_works(live: tuple[RunningServer, str]) -> None:
    server, token = live
    pieces = [os.urandom(300_000) for _ in range(10)]

    response = requests.put(
        f"{server.url}/api/fs/chunked/c.bin",
        data=iter(pieces),  # a generator body is sent with Transfer-Encoding: chunked
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )

    assert response.status_code == 201, response.text
    assert response.json()["sha256"] == sha256(b"".join(pieces))


def test_a_body_shorter_than_its_content_length_stores_nothing(
    live: tuple[RunningServer, str],
) -> None:
    server, token = live
    blobs = server_blob_files(server)

    # the client sends 100 KiB of a promised MiB, then closes its side
    response = raw_request(
        server, put_head(token, "short/s.bin", MiB) + os.urandom(100 * 1024), half_close=True
    )

    assert statuses(response) == [400]
    assert b'"code":"size_mismatch"' in response
    missing = requests.get(
        f"{server.url}/api/fs/short/s.bin",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert missing.status_code == 404
    assert server_blob_files(server) == blobs  # no blob and no temp file
    assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200


def server_blob_files(server: RunningServer) -> set[Path]:
    root = server.log.parent / "data" / "uploads"
    return {path for path in root.rglob("*") if path.is_file()}


def test_a_declared_size_over_the_limit_is_refused_before_the_body(tmp_path: Path) -> None:
    with running_server(tmp_path, MAX_FILE_SIZE="1MiB") as server:
        token = server.create_token()

        # only the head is sent: the answer must not wait for the 10 MiB body
        response = raw_request(server, put_head(token, "too/big.bin", 10 * MiB, close=True))

        assert statuses(response) == [413]
        assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200


def test_a_refused_body_closes_the_keep_alive_connection(tmp_path: Path) -> None:
    """After a 413 sent before the body was read, the rest of the body is never parsed as
    the next request: the server closes the connection instead of answering 431."""
    with running_server(tmp_path, MAX_FILE_SIZE="1MiB") as server:
        token = server.create_token()
        with socket.create_connection(server.address, timeout=30) as sock:
            sock.sendall(put_head(token, "big.bin", 3 * MiB))  # keep-alive, body not yet sent
            with contextlib.suppress(OSError):  # the server may close while we still send
                sock.sendall(b"x" * (3 * MiB))
            received = b""
            with contextlib.suppress(OSError):
                while chunk := sock.recv(MiB):
                    received += chunk
        assert statuses(received) == [413]
        assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
