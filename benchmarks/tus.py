#!/usr/bin/env python3
"""tus benchmark: throughput vs raw PUT /api/fs, bytes sent when resuming after a cut at 60 %,
and peak server RSS (master + workers) during a tus upload.

    .venv/bin/python benchmarks/tus.py [--size-mib 256] [--chunk-mib 8] [--rss-size-mib 1024]

Starts a real ``upload-service serve`` on 127.0.0.1 in a temporary directory (SQLite, local
storage) and prints the figures. Goals: tus at least 0.8 times raw PUT; resume total at most
size + one chunk; peak RSS at most 150 MiB.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fixtures.server import running_server

MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
TIMEOUT = 600


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and every process in its group."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[2]) != pid:  # process group id
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (OSError, IndexError, ValueError):
            continue
    return total


class PeakRSS(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, _tree_rss(self.pid))
            time.sleep(0.05)


def _chunks(path: Path, start: int, chunk: int, stop: int):
    with path.open("rb") as handle:
        handle.seek(start)
        position = start
        while position < stop:
            data = handle.read(min(chunk, stop - position))
            yield position, data
            position += len(data)


def tus_upload(
    url: str, auth: dict, path: Path, name: str, chunk: int, cut_at: float | None = None
) -> int:
    """Upload ``path`` over tus; with ``cut_at``, stop at that fraction, resume.

    Returns the bytes sent."""
    size = path.stat().st_size
    meta = "filename " + base64.b64encode(name.encode()).decode()
    created = requests.post(
        f"{url}/api/tus/",
        headers={**auth, **TUS, "Upload-Length": str(size), "Upload-Metadata": meta},
        timeout=TIMEOUT,
    )
    created.raise_for_status()
    location = created.headers["Location"]
    sent = 0
    stop = int(size * cut_at) if cut_at else size
    for offset, data in _chunks(path, 0, chunk, stop):
        headers = {
            **auth,
            **TUS,
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": str(offset),
        }
        requests.patch(location, data=data, headers=headers, timeout=TIMEOUT).raise_for_status()
        sent += len(data)
    if cut_at:  # the "new process": ask the server where to continue
        offset = int(
            requests.head(location, headers={**auth, **TUS}, timeout=TIMEOUT).headers[
                "Upload-Offset"
            ]
        )
        for position, data in _chunks(path, offset, chunk, size):
            headers = {
                **auth,
                **TUS,
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": str(position),
            }
            response = requests.patch(location, data=data, headers=headers, timeout=TIMEOUT)
            response.raise_for_status()
            sent += len(data)
        assert response.headers.get("Upload-File-Id")
    return sent


def raw_put(url: str, auth: dict, path: Path, name: str) -> None:
    with path.open("rb") as handle:
        requests.put(
            f"{url}/api/fs/{name}", data=handle, headers=auth, timeout=TIMEOUT
        ).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--chunk-mib", type=int, default=8)
    parser.add_argument("--rss-size-mib", type=int, default=1024)
    args = parser.parse_args()
    chunk = args.chunk_mib * MiB
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = work / "source.bin"
        with source.open("wb") as out:
            for _ in range(args.size_mib):
                out.write(os.urandom(MiB))
        with (
            running_server(work / "server") if (work / "server").mkdir() is None else None as server
        ):
            auth = {"Authorization": f"Bearer {server.create_token()}"}
            start = time.perf_counter()
            raw_put(server.url, auth, source, "raw.bin")
            raw = time.perf_counter() - start
            start = time.perf_counter()
            tus_upload(server.url, auth, source, "tus.bin", chunk)
            tus = time.perf_counter() - start
            size = args.size_mib * MiB
            print(f"raw PUT  {args.size_mib} MiB: {raw:6.2f} s  {size / raw / MiB:7.1f} MiB/s")
            print(
                f"tus      {args.size_mib} MiB in {args.chunk_mib} MiB chunks: {tus:6.2f} s  "
                f"{size / tus / MiB:7.1f} MiB/s  ratio {raw / tus:.2f}x (goal >= 0.8)"
            )
            sent = tus_upload(server.url, auth, source, "resumed.bin", chunk, cut_at=0.6)
            print(
                f"cut at 60 % and resume: sent {sent / MiB:.1f} MiB for {args.size_mib} MiB "
                f"(goal <= {args.size_mib + args.chunk_mib})"
            )
            big = work / "big.bin"
            with big.open("wb") as out:
                block = os.urandom(MiB)
                for _ in range(args.rss_size_mib):
                    out.write(block)
            baseline = _tree_rss(server.process.pid)
            sampler = PeakRSS(server.process.pid)
            sampler.start()
            tus_upload(server.url, auth, big, "big.bin", chunk)
            sampler.running = False
            sampler.join()
            print(
                f"peak server RSS during a {args.rss_size_mib} MiB tus upload: "
                f"{sampler.peak / MiB:.0f} MiB (goal <= 150); "
                f"idle before it: {baseline / MiB:.0f} MiB"
            )


if __name__ == "__main__":
    main()
