"""The clients: curl for big transfers, ``upload-client put``, and threads of small PUTs.

Any answer other than the expected status raises ``RuntimeError``, which ends the run with a
non-zero exit: a benchmark of refused uploads measures nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from harness.common import VENV_BIN, MiB
from harness.servers import Peer


@dataclass
class Transfer:
    status: int
    seconds: float
    bytes_up: int
    bytes_down: int
    body: str = ""
    wall: float = 0.0  # the whole command, process start-up included

    def wall_mib_s(self, size: int) -> float:
        return size / MiB / self.wall

    def mib_s(self, size: int) -> float:
        return size / MiB / self.seconds


def curl(args: Sequence[str], expect: Sequence[int], body_file: Path | None = None) -> Transfer:
    """One curl run; timing from curl's own ``time_total``."""
    out = str(body_file) if body_file else "/dev/null"
    fmt = "%{http_code} %{time_total} %{size_upload} %{size_download}"
    began = time.perf_counter()
    done = subprocess.run(
        ["curl", "-sS", "-o", out, "-w", fmt, *args], capture_output=True, text=True
    )
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"curl {' '.join(args)} failed: {done.stderr.strip()}")
    code, total, up, down = done.stdout.split()
    body = body_file.read_text(errors="replace") if body_file else ""
    if int(code) not in expect:
        raise RuntimeError(f"curl {' '.join(args)} answered {code}: {body[:300]}")
    return Transfer(int(code), float(total), int(float(up)), int(float(down)), body, wall)


def header_args(headers: dict[str, str]) -> list[str]:
    """``-H 'Name: value'`` for each header."""
    return [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]


def put_file(
    url: str,
    path: Path,
    headers: dict[str, str],
    expect: Sequence[int],
    body_file: Path | None = None,
) -> Transfer:
    """``curl -T file`` (the same command line for every server), after flushing dirty pages."""
    os.sync()  # the previous upload's write-back must not land in this one's timing
    return curl(["-T", str(path), *header_args(headers), url], expect, body_file)


def get_file(url: str, headers: dict[str, str]) -> Transfer:
    return curl([*header_args(headers), url], (200,))


# The upload's requests as the client logs them: one streaming PUT, or (files of 32 MiB and
# more) the tus creation POST and its PATCHes.
CLIENT_REQUEST = re.compile(
    r"^> (?:PUT \S+ -> 20[01]|POST \S+/api/tus/ -> 201|PATCH \S+/api/tus/\S+ -> 204)"
    r" in ([0-9.]+) s$",
    re.MULTILINE,
)


def client_put(ours: Peer, path: Path, remote: str, work: Path) -> Transfer:
    """``upload-client --debug put --replace --json`` of ``path`` to our server.

    ``seconds`` is the upload's requests as the client logs them (from sending each request to
    its answer: for the single PUT, the same span as curl's ``time_total``; for a tus upload,
    the creation and every PATCH added up); ``wall`` is the whole command, Python's start-up
    included. Its HOME is inside the temp dir, so no saved login applies.
    """
    os.sync()
    home = work / "client-home"
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "UPLOAD_SERVICE_URL": ours.base,
        "UPLOAD_SERVICE_TOKEN": ours.headers["Authorization"].removeprefix("Bearer "),
    }
    argv = [str(VENV_BIN / "upload-client"), "--debug", "put", "--replace", "--json"]
    began = time.perf_counter()
    done = subprocess.run([*argv, str(path), remote], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - began
    logged = CLIENT_REQUEST.findall(done.stderr)
    if done.returncode != 0 or not logged:
        raise RuntimeError(f"upload-client put failed ({done.returncode}): {done.stderr[-500:]}")
    size = path.stat().st_size
    return Transfer(201, sum(map(float, logged)), size, 0, done.stdout, wall)


def put_many(
    items: Sequence[tuple[str, bytes]],
    headers: dict[str, str],
    concurrency: int,
    expect: Sequence[int],
) -> float:
    """PUT every (url, body) from ``concurrency`` threads, each with its own keep-alive session.

    Returns the wall-clock seconds from the common start until the last response.
    """
    start = threading.Barrier(concurrency + 1)
    failures: list[str] = []

    def client(mine: Sequence[tuple[str, bytes]]) -> None:
        with requests.Session() as session:
            session.headers.update(headers)
            start.wait()
            failures.extend(put_each(session, mine, expect))

    threads = [
        threading.Thread(target=client, args=(items[i::concurrency],)) for i in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    os.sync()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{len(failures)} small uploads failed, e.g. {failures[0]}")
    return elapsed


def put_each(
    session: requests.Session, items: Sequence[tuple[str, bytes]], expect: Sequence[int]
) -> list[str]:
    """PUT each (url, body) over ``session``; what went wrong, one line per failed request."""
    failures: list[str] = []
    for url, body in items:
        try:
            response = session.put(url, data=body, timeout=120)
        except requests.RequestException as exc:
            failures.append(f"{url}: {exc}")
            continue
        if response.status_code not in expect:
            failures.append(f"{url}: {response.status_code} {response.text[:200]}")
    return failures
