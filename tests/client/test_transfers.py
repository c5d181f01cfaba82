"""Big transfers, resumed downloads, SHA-256 verification and progress bars."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.conftest import UPLOAD_CLIENT, Client, MiB, sha256_of, write_random
from tests.fixtures.proxy import CountingProxy, counting_proxy
from tests.fixtures.server import RunningServer

HEADROOM = 16 * 1024  # response heads and the small JSON of the lookup that precedes a get


@pytest.fixture
def proxy(server: RunningServer) -> Iterator[CountingProxy]:
    with counting_proxy(server.address) as running:
        yield running


@pytest.mark.slow
def test_a_300_mb_upload_and_download_round_trip(client: Client, folder: str) -> None:
    sha = write_random(client.cwd / "big.bin", 300 * MiB)

    stored = json.loads(client.ok("put", "big.bin", f"{folder}/", "--json").stdout)
    (client.cwd / "back").mkdir()
    client.ok("get", f"{folder}/big.bin", "back/")

    assert stored["size"] == 300 * MiB and stored["sha256"] == sha
    assert sha256_of(client.cwd / "back" / "big.bin") == sha
    assert sorted(p.name for p in (client.cwd / "back").iterdir()) == ["big.bin"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_an_interrupted_download_resumes_with_only_the_rest(
    client: Client, folder: str, proxy: CountingProxy, sig: signal.Signals
) -> None:
    size = 24 * MiB
    sha = write_random(client.cwd / "src.bin", size)
    client.ok("put", "src.bin", f"{folder}/data.bin")
    through_proxy = Client(proxy.url, client.token, client.home, client.cwd)
    part = client.cwd / "data.bin.part"

    proxy.down.stall_after = 8 * MiB  # the server's bytes stop flowing here
    getting = subprocess.Popen(
        [UPLOAD_CLIENT, "get", f"{folder}/data.bin"],
        cwd=client.cwd,
        env=through_proxy.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proxy.stalled.wait(60), "the download never got going"
    kept = wait_until_stable(part)
    getting.send_signal(sig)
    _out, err = getting.communicate(timeout=60)

    assert 4 * MiB <= kept < size
    assert part.read_bytes() == (client.cwd / "src.bin").read_bytes()[:kept]
    assert not (client.cwd / "data.bin").exists()
    if sig == signal.SIGINT:
        assert getting.returncode == 130
        assert err == (
            f"upload-client: interrupted; {part.name} keeps what arrived: "
            "run the same command to resume\n"
        )

    proxy.reset()
    resumed = through_proxy.ok("get", f"{folder}/data.bin")

    assert resumed.stdout == f"downloaded {folder}/data.bin -> data.bin (24.0 MiB) (resumed)\n"
    assert sha256_of(client.cwd / "data.bin") == sha
    assert not part.exists()
    assert size - kept <= proxy.down.count < size - kept + HEADROOM  # only the rest came


def test_a_part_left_by_another_version_is_downloaded_again(client: Client, folder: str) -> None:
    sha = write_random(client.cwd / "src.bin", 3 * MiB)
    client.ok("put", "src.bin", f"{folder}/v.bin")
    write_random(client.cwd / "v.bin.part", 1 * MiB)  # the same size as a real prefix, wrong

    result = client.run("get", f"{folder}/v.bin")

    assert result.returncode == 0
    assert result.stderr == (
        f"the partial download v.bin.part did not match {folder}/v.bin; downloading it again\n"
    )
    assert result.stdout == f"downloaded {folder}/v.bin -> v.bin (3.0 MiB)\n"
    assert sha256_of(client.cwd / "v.bin") == sha
    assert not (client.cwd / "v.bin.part").exists()


def test_an_upload_damaged_on_the_way_is_reported(
    client: Client, folder: str, proxy: CountingProxy
) -> None:
    sha = write_random(client.cwd / "up.bin", 2 * MiB)
    proxy.up.corrupt_at = 1 * MiB  # well inside the body

    message = client.fails(8, "put", "up.bin", f"{folder}/up.bin", UPLOAD_SERVICE_URL=proxy.url)

    said = re.fullmatch(
        r"upload of up.bin is corrupt: SHA-256 (\w+) here, (\w+) on the server; "
        r"the server's copy was deleted",
        message,
    )
    assert said and said[1] == sha and said[2] != sha
    assert client.ok("ls", "--query", folder).stdout == ""


def test_a_download_damaged_on_the_way_is_reported_and_not_kept(
    client: Client, folder: str, proxy: CountingProxy
) -> None:
    write_random(client.cwd / "src.bin", 2 * MiB)
    stored = json.loads(client.ok("put", "src.bin", f"{folder}/down.bin", "--json").stdout)
    proxy.down.corrupt_at = 1 * MiB

    message = client.fails(8, "get", f"{folder}/down.bin", UPLOAD_SERVICE_URL=proxy.url)

    assert message.startswith(f"download of {folder}/down.bin is corrupt: SHA-256 ")
    assert message.endswith(f", {stored['sha256']} on the server")
    assert not (client.cwd / "down.bin").exists()
    assert not (client.cwd / "down.bin.part").exists()


def test_progress_bars_appear_on_a_terminal(client: Client, folder: str) -> None:
    write_random(client.cwd / "tty.bin", 4 * MiB)

    put_out, put_bar = run_with_terminal_stderr(client, "put", "tty.bin", f"{folder}/tty.bin")
    get_out, get_bar = run_with_terminal_stderr(client, "get", f"{folder}/tty.bin", "copy.bin")

    assert put_out.startswith(f"uploaded tty.bin -> {folder}/tty.bin (4.0 MiB")
    assert get_out.startswith(f"downloaded {folder}/tty.bin -> copy.bin (4.0 MiB)")
    for label, bar in ((f"put {folder}/tty.bin", put_bar), (f"get {folder}/tty.bin", get_bar)):
        assert label in bar
        assert "4.0/4.0 MiB" in bar and "100%" in bar and "/s" in bar


# --------------------------------------------------------------------------- helpers


def wait_until_stable(path: Path, timeout: float = 30.0) -> int:
    """The size of ``path`` once it exists and has not grown for half a second."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        size = path.stat().st_size if path.exists() else -1
        if size != last:
            last, since = size, time.monotonic()
        elif size > 0 and time.monotonic() - since > 0.5:
            return size
        time.sleep(0.05)
    raise AssertionError(f"{path} did not settle (last size {last})")


def run_with_terminal_stderr(client: Client, *args: str) -> tuple[str, str]:
    """Run with stderr on a pseudo-terminal; returns (stdout, what the terminal showed)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [UPLOAD_CLIENT, *args],
        cwd=client.cwd,
        env=client.env(TERM="xterm", COLUMNS="120"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
    )
    os.close(follower)
    shown = bytearray()
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 0, shown.decode(errors="replace")
    return stdout, shown.decode(errors="replace")
