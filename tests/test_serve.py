"""The real server, started as a user starts it: ``upload-service serve`` in a subprocess."""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.fixtures.server import (
    UPLOAD_SERVICE,
    RunningServer,
    running_server,
    server_env,
    wait_for,
)

LOCAL_MODE = "local mode: sign in as the local user from this machine"
T = TypeVar("T")


def get_status(server: RunningServer, path: str, timeout: float = 10.0) -> int:
    host, port = server.address
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _healthy(server: RunningServer) -> bool:
    try:
        return get_status(server, "/healthz", timeout=2) == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("server")) as running:
        wait_for(lambda: _healthy(running), running.process, running.log)
        yield running


class SlowClient:
    """A client that sends its request one byte at a time (slowloris)."""

    REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"x" * 500

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=10)
        self.sent = 0

    def send_next_byte(self) -> None:
        self.sock.sendall(self.REQUEST[self.sent : self.sent + 1])
        self.sent += 1

    def still_connected(self) -> bool:
        self.sock.setblocking(False)
        try:
            self.sock.recv(1)  # an answer or end of file: the server gave up on us
            return False
        except BlockingIOError:
            return True  # nothing to read and not closed: the server is still waiting
        except OSError:
            return False
        finally:
            self.sock.settimeout(10)

    def finish(self) -> bytes:
        self.sock.sendall(self.REQUEST[self.sent :] + b"\r\nConnection: close\r\n\r\n")
        response = b""
        while chunk := self.sock.recv(65536):
            response += chunk
        return response.split(b"\r\n", 1)[0]


def _trickle(clients: list[SlowClient], stop: threading.Event) -> None:
    while not stop.is_set():
        for client in clients:
            client.send_next_byte()
        stop.wait(1.0)


def test_answers_while_100_clients_trickle_their_headers(server: RunningServer) -> None:
    clients = [SlowClient(server.address) for _ in range(100)]
    stop = threading.Event()
    trickler = threading.Thread(target=_trickle, args=(clients, stop), daemon=True)
    trickler.start()
    try:
        time.sleep(3)  # every slow client has started its request line by now
        for _ in range(8):
            started = time.monotonic()
            try:
                status = get_status(server, "/healthz", timeout=10)
            except TimeoutError:
                pytest.fail("/healthz got no answer in 10 s while 100 clients trickled headers")
            assert status == 200
            assert time.monotonic() - started < 5
            time.sleep(0.5)
        stop.set()
        trickler.join(timeout=10)
        # The slow clients were really holding their connections open all along...
        assert all(client.sent >= 5 for client in clients)
        assert all(client.still_connected() for client in clients)
        # ...and one that finally completes its request is served normally.
        assert [client.finish() for client in clients[:5]] == [b"HTTP/1.1 200 OK"] * 5
    finally:
        stop.set()
        for client in clients:
            client.sock.close()


def test_keep_alive_connection_serves_one_request_after_another(server: RunningServer) -> None:
    connection = http.client.HTTPConnection(*server.address, timeout=10)
    try:
        for _ in range(3):
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b'{"status":"ok"}\n')
    finally:
        connection.close()


def test_startup_line_names_url_and_local_mode(server: RunningServer) -> None:
    host, port = server.address
    assert (host, port != 0) == ("127.0.0.1", True)
    assert server.startup_line == f"Upload Service listening on {server.url} ({LOCAL_MODE})"


def test_bare_command_serves_and_names_github_mode(tmp_path: Path) -> None:
    github = {
        "GITHUB_CLIENT_ID": "client-id",
        "GITHUB_CLIENT_SECRET": "client-secret",
        "GITHUB_URL": "https://github.example.com/",
    }
    with running_server(tmp_path, command=(), **github) as running:
        assert running.startup_line.endswith("(GitHub sign-in via https://github.example.com)")


def test_host_and_port_options_override_settings(tmp_path: Path) -> None:
    # 192.0.2.1 is TEST-NET-1: binding to it would fail, so the option must win.
    with running_server(
        tmp_path, "--host", "127.0.0.1", "--port", "0", HOST="192.0.2.1"
    ) as running:
        assert running.url.startswith("http://127.0.0.1:")
        wait_for(lambda: _healthy(running), running.process, running.log)


@pytest.mark.parametrize(
    ("command", "name", "value"),
    [
        (("serve",), "MAX_FILE_SIZE", "lots"),
        (("serve",), "PORT", "eighty"),
        (("serve",), "STORAGE_URL", "ftp://example.com/files"),
        (("serve",), "DATABASE_URL", "not a database url"),
        ((), "MAX_FILE_SIZE", "16 parsecs"),  # bare `upload-service` serves too
    ],
    ids=["size", "port", "storage", "database", "bare-command"],
)
def test_bad_setting_stops_startup_with_one_line(
    tmp_path: Path, command: tuple[str, ...], name: str, value: str
) -> None:
    result = subprocess.run(
        [UPLOAD_SERVICE, *command],
        env=server_env(tmp_path, **{name: value}),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0]


def test_a_port_in_use_stops_startup_with_one_line_naming_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [UPLOAD_SERVICE, "serve"],
            env=server_env(tmp_path, PORT=str(port)),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert str(port) in lines[0] and "PORT" in lines[0] and "in use" in lines[0]


def test_db_upgrade_creates_the_schema_in_a_fresh_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"
    env = dict(os.environ, DATA_DIR=str(data_dir))
    for _ in range(2):  # and a second run is a no-op
        result = subprocess.run(
            [UPLOAD_SERVICE, "db", "upgrade"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
    with contextlib.closing(sqlite3.connect(data_dir / "upload-service.db")) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        (version,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert {"users", "api_tokens", "files", "blobs", "upload_sessions"} <= tables
    assert version
