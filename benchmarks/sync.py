#!/usr/bin/env python3
"""Folder sync benchmark: bytes a small edit sends, a no-change resync, an initial sync vs u2c.

    .venv/bin/python benchmarks/sync.py [--delta-mib 256] [--many 10000]
                                        [--initial-files 1000] [--initial-kib 1024] [--rounds 2]

1. A 100-byte insert into a ``--delta-mib`` file, after it was synced, at five positions in turn
   (10 % to 90 %): the bytes the client sent for each, counted by a TCP proxy between the
   client and the server (goal: <= 2 MiB; rsync sends about 16 KB of data and 115 KB of
   checksums for the same edit).
2. ``--many`` files in 100 folders, synced once, then synced again unchanged: wall time and
   bytes sent of the resync (goals: <= 3 s, <= 200 KB).
3. An initial sync of ``--initial-files`` files of ``--initial-kib`` each: ``upload-client sync``
   against ``upload-service serve`` and copyparty's own client ``u2c`` against ``copyparty``, on
   this machine, interleaved for ``--rounds`` rounds, each round on fresh servers (neither may
   deduplicate against an earlier round). Goal: ours at least as fast (>= 1.0x).

copyparty and u2c are installed into benchmarks/.venv-tools on first use. Servers run from a
temporary directory with SQLite and local storage, as on a laptop.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.fixtures.proxy import counting_proxy  # noqa: E402
from tests.fixtures.server import RunningServer, running_server  # noqa: E402

MiB = 1024 * 1024
CLIENT = str(Path(sys.executable).with_name("upload-client"))
TOOLS = REPO / "benchmarks" / ".venv-tools"


def log(message: str) -> None:
    print(f"[sync-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def write_random(path: Path, size: int) -> None:
    with path.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(left, 8 * MiB))
            out.write(block)
            left -= len(block)


@contextmanager
def our_server(work: Path) -> Iterator[tuple[RunningServer, str]]:
    work.mkdir(parents=True)
    with running_server(work, RATELIMIT_ENABLED="false", SWEEP_INTERVAL="0") as server:
        yield server, server.create_token()


def run_sync(home: Path, url: str, token: str, root: Path, remote: str) -> tuple[float, str]:
    """Wall seconds of one ``upload-client sync`` and its summary line."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "UPLOAD_SERVICE_URL": url,
        "UPLOAD_SERVICE_TOKEN": token,
    }
    started = time.perf_counter()
    done = subprocess.run(
        [CLIENT, "sync", str(root), "--remote", remote],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"upload-client sync failed ({done.returncode}): {done.stderr}")
    return seconds, done.stdout.strip()


# --------------------------------------------------------------------------- 1. delta


def bench_delta(work: Path, size_mib: int) -> list[str]:
    """100 random bytes inserted at 10 %, 30 %, 50 %, 70 % and 90 % of the file, one sync each.

    What one edit costs depends on the chunk it falls into (FastCDC: 256 KiB to 4 MiB, about
    1.25 MiB on average), so five edits are measured and the median and the largest shown.
    """
    root = work / "delta"
    root.mkdir()
    big = root / "disk.img"
    write_random(big, size_mib * MiB)
    sent: list[int] = []
    with (
        our_server(work / "delta-server") as (server, token),
        counting_proxy(server.address) as proxy,
    ):
        home = work / "delta-home"
        run_sync(home, proxy.url, token, root, "delta")
        for tenth in (1, 3, 5, 7, 9):
            position = big.stat().st_size * tenth // 10
            with big.open("r+b") as file:
                file.seek(position)
                tail = file.read()
                file.seek(position)
                file.write(os.urandom(100) + tail)
            proxy.reset()
            seconds, summary = run_sync(home, proxy.url, token, root, "delta")
            sent.append(proxy.up.count)
            log(f"delta at {tenth}0 %: {summary} in {seconds:.2f} s; {sent[-1]} bytes went up")
    middle, most = statistics.median(sent), max(sent)
    verdict = "PASS" if middle <= 2 * MiB else "MISS"
    return [
        f"| 100-byte insert into {size_mib} MiB, bytes sent: median of 5 positions "
        f"| {middle / MiB:.2f} MiB ({middle:,.0f} B) | <= 2 MiB | {verdict} |",
        f"| the same, the largest of the 5 | {most / MiB:.2f} MiB | | |",
    ]


# --------------------------------------------------------------------------- 2. many files


def bench_many(work: Path, count: int) -> list[str]:
    root = work / "many"
    for number in range(count):
        folder = root / f"d{number % 100:02}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{number:05}.txt").write_bytes(os.urandom(1024))
    with (
        our_server(work / "many-server") as (server, token),
        counting_proxy(server.address) as proxy,
    ):
        home = work / "many-home"
        first, _ = run_sync(home, server.url, token, root, "many")  # not through the proxy
        log(f"many: initial sync of {count} files in {first:.1f} s ({count / first:.0f} files/s)")
        walls, sent = [], []
        for _ in range(3):
            proxy.reset()
            seconds, summary = run_sync(home, proxy.url, token, root, "many")
            walls.append(seconds)
            sent.append(proxy.up.count)
        log(f"many: resyncs {summary}: {walls} s, {sent} bytes up")
    wall, up = statistics.median(walls), max(sent)
    return [
        f"| initial sync of {count:,} files of 1 KiB | {first:.1f} s ({count / first:.0f} "
        "files/s) | | |",
        f"| no-change resync of {count:,} files: wall (median of 3) | {wall:.2f} s | <= 3 s "
        f"| {'PASS' if wall <= 3 else 'MISS'} |",
        f"| no-change resync of {count:,} files: bytes sent | {up:,} B | <= 200 KB "
        f"| {'PASS' if up <= 200_000 else 'MISS'} |",
    ]


# --------------------------------------------------------------------------- 3. vs u2c


def ensure_copyparty() -> Path:
    bin_dir = TOOLS / "bin"
    if not (bin_dir / "u2c").exists():
        log(f"installing copyparty into {TOOLS.relative_to(REPO)}")
        subprocess.run([sys.executable, "-m", "venv", str(TOOLS)], check=True)
        pip = [str(bin_dir / "python"), "-m", "pip", "install", "-q", "copyparty"]
        subprocess.run(pip, check=True)
    return bin_dir


@contextmanager
def copyparty_server(bin_dir: Path, work: Path) -> Iterator[str]:
    from tests.client.conftest import closed_port

    port = closed_port()
    store, home = work / "store", work / "home"
    store.mkdir(parents=True)
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home)}
    argv = [str(bin_dir / "copyparty"), "-q", "-i", "127.0.0.1", "-p", str(port)]
    argv += ["-v", f"{store}::rw"]
    with (work / "copyparty.log").open("wb") as logfile:
        process = subprocess.Popen(argv, env=env, stdout=logfile, stderr=logfile)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url))
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def wait_until(probe: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            sys.exit("a server did not start")
        time.sleep(0.2)


def bench_initial(work: Path, files: int, kib: int, rounds: int) -> list[str]:
    bin_dir = ensure_copyparty()
    root = work / "initial"
    root.mkdir()
    for number in range(files):
        write_random(root / f"file-{number:04}.bin", kib * 1024)
    total = files * kib * 1024
    ours: list[float] = []
    theirs: list[float] = []
    for round_number in range(rounds):
        contenders = [("ours", ours), ("u2c", theirs)]
        if round_number % 2:
            contenders.reverse()
        for name, times in contenders:
            place = work / f"round-{round_number}-{name}"
            if name == "ours":
                with our_server(place) as (server, token):
                    seconds, _ = run_sync(place / "home", server.url, token, root, "initial")
            else:
                with copyparty_server(bin_dir, place) as url:
                    started = time.perf_counter()
                    argv = [str(bin_dir / "u2c"), f"{url}/", str(root)]
                    subprocess.run(argv, check=True, capture_output=True, timeout=3600)
                    seconds = time.perf_counter() - started
            times.append(seconds)
            log(f"initial: {name} round {round_number + 1}: {seconds:.2f} s")
    mine, other = statistics.median(ours), statistics.median(theirs)
    ratio = other / mine
    size = f"{total / MiB / 1024:.1f} GiB" if total >= 1024 * MiB else f"{total / MiB:.0f} MiB"
    return [
        f"| initial sync of {size} in {files:,} files: upload-client sync | {mine:.2f} s "
        f"({total / MiB / mine:.0f} MiB/s) | | |",
        f"| the same with u2c against copyparty | {other:.2f} s ({total / MiB / other:.0f} "
        "MiB/s) | | |",
        f"| ours vs u2c (median of {rounds}) | {ratio:.2f}x | >= 1.0x "
        f"| {'PASS' if ratio >= 1 else 'MISS'} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delta-mib", type=int, default=256)
    parser.add_argument("--many", type=int, default=10_000)
    parser.add_argument("--initial-files", type=int, default=1000)
    parser.add_argument("--initial-kib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    rows = ["| | result | goal | |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="sync-bench-") as tmp:
        work = Path(tmp)
        rows += bench_delta(work, args.delta_mib)
        rows += bench_many(work, args.many)
        rows += bench_initial(work, args.initial_files, args.initial_kib, args.rounds)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
