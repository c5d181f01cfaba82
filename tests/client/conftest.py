"""The real ``upload-client`` executable against the real server (``upload-service serve``).

One server serves every test of this package (each test works in its own remote folder); tests
that need other settings start their own.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest

from tests.fixtures.s3 import S3_REGION
from tests.fixtures.server import RunningServer, running_server

UPLOAD_CLIENT = str(Path(sys.executable).with_name("upload-client"))
MiB = 1024 * 1024


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()


@dataclass
class Client:
    """Runs ``upload-client`` as a user would: its own HOME, a working directory, a token."""

    url: str
    token: str
    home: Path
    cwd: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, **overrides: str | None) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "LANG": "C.UTF-8",
            "UPLOAD_SERVICE_URL": self.url,
            "UPLOAD_SERVICE_TOKEN": self.token,
            **self.extra_env,
        }
        for name, value in overrides.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def run(
        self, *args: str, stdin: str | None = None, timeout: float = 120, **env: str | None
    ) -> Result:
        done = subprocess.run(
            [UPLOAD_CLIENT, *args],
            cwd=self.cwd,
            env=self.env(**env),
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def run_binary(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        """Run with stdout as bytes (``get REMOTE -``)."""
        return subprocess.run(
            [UPLOAD_CLIENT, *args], cwd=self.cwd, env=self.env(), capture_output=True, timeout=120
        )

    def ok(self, *args: str, **env: str | None) -> Result:
        """Run and insist on success with nothing on stderr (no bar, no warning off a tty)."""
        result = self.run(*args, **env)
        assert result.returncode == 0, result.stderr
        assert result.stderr == "", result.stderr
        return result

    def fails(self, code: int, *args: str, **env: str | None) -> str:
        """Run, insist on exit status ``code`` and one line on stderr; returns that line."""
        result = self.run(*args, **env)
        assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("upload-client: ")
        return lines[0].removeprefix("upload-client: ")


def write_random(path: Path, size: int) -> str:
    """A file of ``size`` random bytes (written in 8 MiB blocks); returns its SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(left, 8 * MiB))
            digest.update(block)
            out.write(block)
            left -= len(block)
    return digest.hexdigest()


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(8 * MiB):
            digest.update(block)
    return digest.hexdigest()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One real server for the client tests (no rate limit, no sweeper)."""
    root = tmp_path_factory.mktemp("client-server")
    with running_server(root, RATELIMIT_ENABLED="false", SWEEP_INTERVAL="0") as running:
        yield running


@pytest.fixture(scope="session")
def s3_server(
    tmp_path_factory: pytest.TempPathFactory, moto_server: str
) -> Iterator[RunningServer]:
    """A real server that keeps its files in a bucket on the moto S3 server."""
    bucket = f"client-{secrets.token_hex(6)}"
    boto3.client("s3", endpoint_url=moto_server, region_name=S3_REGION).create_bucket(Bucket=bucket)
    root = tmp_path_factory.mktemp("client-s3-server")
    settings = {
        "STORAGE_URL": f"s3://{bucket}/files",
        "S3_ENDPOINT_URL": moto_server,
        "S3_REGION": S3_REGION,
        "RATELIMIT_ENABLED": "false",
        "SWEEP_INTERVAL": "0",
    }
    with running_server(root, **settings) as running:
        yield running


@pytest.fixture(scope="session")
def token(server: RunningServer) -> str:
    return server.create_token()


@pytest.fixture
def client(server: RunningServer, token: str, tmp_path: Path) -> Client:
    home, cwd = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    cwd.mkdir()
    return Client(url=server.url, token=token, home=home, cwd=cwd)


@pytest.fixture
def folder(request: pytest.FixtureRequest) -> str:
    """A remote folder of this test's own, so that tests sharing the server never collide."""
    return "t/" + request.node.name.replace("[", "-").replace("]", "")
