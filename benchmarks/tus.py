#!/usr/bin/env python3
"""tus benchmark: throughput vs raw PUT /api/fs, bytes sent when a connection is cut at 60 %
and the upload resumed, and peak server RSS during a 1 GiB tus upload.

    .venv/bin/python benchmarks/tus.py [--size-mib 256] [--chunk-mib 8] [--rss-size-mib 1024]
                                       [--rounds 3]

Starts a real ``upload-service serve`` on 127.0.0.1 in a temporary directory (SQLite, local
storage). Raw PUT and tus alternate for ``--rounds`` rounds over keep-alive sessions (the
order swaps every round); the medians are printed. The cut goes through a TCP proxy
(tests/fixtures/proxy.py) that closes the connection once 60 % of the file has passed; the
client then asks the server for its offset (HEAD) and goes on, and the proxy counts every
byte sent. RSS is sampled every 50 ms from /proc for the master and each worker. Goals: tus
at least 0.8 times raw PUT; at most size + one chunk sent in all; at most 150 MiB per process.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fixtures.proxy import counting_proxy
from tests.fixtures.server import running_server

MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
TIMEOUT = 600


def _group_rss(pgid: int) -> dict[int, int]:
    """Resident bytes of every process in the process group ``pgid``, by pid."""
    sizes = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[2]) != pgid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes[int(entry.name)] = int(line.split()[1]) * 1024
        except (OSError, IndexError, ValueError):
            continue
    return sizes


class PeakRSS(threading.Thread):
    """The largest single process and the largest sum seen while it runs."""

    def __init__(self, pgid: int) -> None:
        super().__init__(daemon=True)
        self.pgid, self.largest, self.total, self.running = pgid, 0, 0, True

    def run(self) -> None:
        while self.running:
            sizes = _group_rss(self.pgid)
            self.largest = max(self.largest, *sizes.values(), 0)
            self.total = max(self.total, sum(sizes.values()))
            time.sleep(0.05)


def _chunks(path: Path, start: int, chunk: int):
    with path.open("rb") as handle:
        handle.seek(start)
        position = start
        while data := handle.read(chunk):
            yield position, data
            position += len(data)


def _create(http: requests.Session, url: str, auth: dict, size: int, name: str) -> str:
    meta = "filename " + base64.b64encode(name.encode()).decode()
    headers = {**auth, **TUS, "Upload-Length": str(size), "Upload-Metadata": meta}
    created = http.post(f"{url}/api/tus/", headers=headers, timeout=TIMEOUT)
    created.raise_for_status()
    return created.headers["Location"]


def _offset(http: requests.Session, location: str, auth: dict) -> int:
    head = http.head(location, headers={**auth, **TUS}, timeout=TIMEOUT)
    head.raise_for_status()
    return int(head.headers["Upload-Offset"])


def tus_upload(url: str, auth: dict, path: Path, name: str, chunk: int) -> None:
    """Upload ``path`` over tus in ``chunk``-sized PATCHes; after a cut, HEAD and go on."""
    with requests.Session() as http:
        location = _create(http, url, auth, path.stat().st_size, name)
        offset, finished = 0, False
        while not finished:
            try:
                for position, data in _chunks(path, offset, chunk):
                    headers = {
                        **auth,
                        **TUS,
                        "Content-Type": "application/offset+octet-stream",
                        "Upload-Offset": str(position),
                    }
                    response = http.patch(location, data=data, headers=headers, timeout=TIMEOUT)
                    response.raise_for_status()
                finished = bool(response.headers.get("Upload-File-Id"))
            except requests.ConnectionError:
                time.sleep(0.2)  # the server notices the cut and releases the upload
                offset = _offset(http, location, auth)


def raw_put(url: str, auth: dict, path: Path, name: str) -> None:
    with requests.Session() as http, path.open("rb") as handle:
        response = http.put(f"{url}/api/fs/{name}", data=handle, headers=auth, timeout=TIMEOUT)
        response.raise_for_status()


def _random_file(path: Path, size_mib: int) -> Path:
    with path.open("wb") as out:
        for _ in range(size_mib):
            out.write(os.urandom(MiB))
    return path


def _timed(run) -> float:
    os.sync()  # the previous upload's write-back does not land in this one's timing
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def throughput(url: str, auth: dict, source: Path, chunk: int, rounds: int) -> None:
    raw_times, tus_times = [], []
    for number in range(rounds):
        runs = [
            (raw_times, lambda n=number: raw_put(url, auth, source, f"raw-{n}.bin")),
            (tus_times, lambda n=number: tus_upload(url, auth, source, f"tus-{n}.bin", chunk)),
        ]
        for times, run in runs if number % 2 == 0 else reversed(runs):
            times.append(_timed(run))
    raw, tus = statistics.median(raw_times), statistics.median(tus_times)
    size = source.stat().st_size
    print(f"raw PUT {size // MiB} MiB: median {raw:.2f} s, {size / raw / MiB:.0f} MiB/s")
    print(
        f"tus {size // MiB} MiB in {chunk // MiB} MiB chunks: median {tus:.2f} s, "
        f"{size / tus / MiB:.0f} MiB/s; ratio {raw / tus:.2f}x (goal >= 0.8)"
    )
    print(
        f"  rounds raw: {[round(t, 2) for t in raw_times]}  tus: {[round(t, 2) for t in tus_times]}"
    )


def cut_and_resume(server, auth: dict, source: Path, chunk: int) -> None:
    size = source.stat().st_size
    with counting_proxy(server.address) as proxy:
        proxy.up.cut_after = int(size * 0.6)
        tus_upload(proxy.url, auth, source, "resumed.bin", chunk)
        assert proxy.cut.is_set()
        sent = proxy.up.count
    print(
        f"cut at 60 % and resumed: {sent / MiB:.1f} MiB sent (request heads included) for "
        f"{size / MiB:.0f} MiB (goal <= {(size + chunk) / MiB:.0f})"
    )


def peak_rss(server, auth: dict, work: Path, size_mib: int, chunk: int) -> None:
    big = _random_file(work / "big.bin", size_mib)
    idle = _group_rss(server.process.pid)
    sampler = PeakRSS(server.process.pid)
    sampler.start()
    tus_upload(server.url, auth, big, "big.bin", chunk)
    sampler.running = False
    sampler.join()
    print(
        f"peak server RSS during a {size_mib} MiB tus upload: largest process "
        f"{sampler.largest / MiB:.0f} MiB (goal <= 150), all {len(idle)} processes "
        f"{sampler.total / MiB:.0f} MiB; idle before it: largest {max(idle.values()) / MiB:.0f} "
        f"MiB, all {sum(idle.values()) / MiB:.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--chunk-mib", type=int, default=8)
    parser.add_argument("--rss-size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    chunk = args.chunk_mib * MiB
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = _random_file(work / "source.bin", args.size_mib)
        (work / "server").mkdir()
        with running_server(work / "server") as server:
            auth = {"Authorization": f"Bearer {server.create_token()}"}
            throughput(server.url, auth, source, chunk, args.rounds)
            cut_and_resume(server, auth, source, chunk)
            peak_rss(server, auth, work, args.rss_size_mib, chunk)


if __name__ == "__main__":
    main()
