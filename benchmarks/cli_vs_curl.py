#!/usr/bin/env python3
"""``upload-client put``/``get`` against ``curl -T``/``curl -o``: same server, same file.

    .venv/bin/python benchmarks/cli_vs_curl.py [--sizes 64,256] [--rounds 5] [--keep-temp]

Starts one ``upload-service serve`` (the benchmark settings of ``run_benchmarks.py``: SQLite,
local storage, 2 workers, no rate limit) in a temp dir, creates a token, writes a random file
per size (so it is in the page cache) and, after one untimed warm-up of each command, runs
interleaved rounds (the order swaps every round; before each command the page cache is
levelled, harness/rounds.py, and ``sync()`` called):

- ``upload-client --debug put --replace --json FILE bench/client-N.bin`` against
  ``curl -T FILE .../api/fs/bench/curl-N.bin?on_conflict=replace``;
- ``upload-client --debug get bench/client-N.bin -o OUT --force`` against
  ``curl -o OUT .../api/files/<id>/content``, both writing a file in the temp dir.

The figure compared is the transfer: curl's ``time_total`` against the client's own ``--debug``
lines (from sending the first request to the last answer, or for a download to its last byte,
the span ``time_total`` covers). The ratio is curl's time over the client's (the client's share
of curl's throughput), per round; the median and the spread are printed. The whole commands'
wall times (Python's start-up and imports included) are printed next to them. Goal: >= 0.95.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.common import VENV_BIN, MiB, log
from harness.rounds import balanced, level_page_cache
from harness.servers import OursSetup, Peer, start_ours
from harness.testfiles import random_file
from harness.transfer import Transfer, client_put, header_args, put_file

GOAL = 0.95
# The client's --debug line once a download's body has arrived (see client/transfer.py).
CLIENT_BODY = re.compile(r"^> GET \S+ -> 20[06], (\d+) bytes in ([0-9.]+) s$", re.MULTILINE)


@dataclass
class Pair:
    """Per-round figures of the client and curl for one operation and size."""

    client: list[Transfer] = field(default_factory=list)
    curl: list[Transfer] = field(default_factory=list)

    def ratios(self, whole: bool) -> list[float]:
        """curl's time over the client's, round by round (> 1: the client was faster)."""
        return [
            (theirs.wall / ours.wall) if whole else (theirs.seconds / ours.seconds)
            for ours, theirs in zip(self.client, self.curl, strict=True)
        ]


class Bench:
    def __init__(self, ours: Peer, work: Path) -> None:
        self.ours, self.work = ours, work
        self.env = {
            **os.environ,
            "HOME": str(work / "client-home"),
            "XDG_CONFIG_HOME": str(work / "client-home" / ".config"),
            "UPLOAD_SERVICE_URL": ours.base,
            "UPLOAD_SERVICE_TOKEN": ours.headers["Authorization"].removeprefix("Bearer "),
        }

    def curl_put(self, path: Path, name: str, sha256: str) -> Transfer:
        url = f"{self.ours.base}/api/fs/bench/{name}?on_conflict=replace"
        answer = self.work / "curl-answer.json"
        t = put_file(url, path, self.ours.headers, (200, 201), answer)  # syncs first
        _check(json.loads(t.body), path, sha256)
        return t

    def client_put(self, path: Path, name: str, sha256: str) -> Transfer:
        t = client_put(self.ours, path, f"bench/{name}", self.work)  # syncs first
        _check(json.loads(t.body), path, sha256)
        return t

    def curl_get(self, file_id: str, out: Path, size: int) -> Transfer:
        out.unlink(missing_ok=True)
        os.sync()
        url = f"{self.ours.base}/api/files/{file_id}/content"
        argv = ["curl", "-sS", "-o", str(out), "-w", "%{http_code} %{time_total}"]
        began = time.perf_counter()
        done = subprocess.run([*argv, *header_args(self.ours.headers), url], capture_output=True)
        wall = time.perf_counter() - began
        code, seconds = done.stdout.decode().split()
        if done.returncode != 0 or code != "200" or out.stat().st_size != size:
            raise RuntimeError(f"curl -o failed ({done.returncode}, HTTP {code}): {done.stderr!r}")
        return Transfer(200, float(seconds), 0, size, "", wall)

    def client_get(self, remote: str, out: Path, size: int) -> Transfer:
        out.unlink(missing_ok=True)
        os.sync()
        argv = [str(VENV_BIN / "upload-client"), "--debug", "get", remote, "-o", str(out)]
        began = time.perf_counter()
        done = subprocess.run([*argv, "--force"], env=self.env, capture_output=True, text=True)
        wall = time.perf_counter() - began
        logged = CLIENT_BODY.findall(done.stderr)
        if done.returncode != 0 or not logged or out.stat().st_size != size:
            failure = f"upload-client get failed ({done.returncode}): {done.stderr[-500:]}"
            raise RuntimeError(failure)
        received, seconds = int(logged[-1][0]), float(logged[-1][1])
        return Transfer(200, seconds, 0, received, done.stdout, wall)


def _check(answer: dict[str, object], path: Path, sha256: str) -> None:
    if answer.get("size") != path.stat().st_size or answer.get("sha256") != sha256:
        raise RuntimeError(f"the server stored something else: {answer}")


def rounds(
    pair: Pair,
    count: int,
    what: str,
    size: int,
    client: Callable[[], Transfer],
    other: Callable[[], Transfer],
) -> None:
    """``count`` rounds of both commands, the order swapped every round, the page cache
    levelled before each (harness/rounds.py says why)."""
    for r in range(count):
        for name, run in balanced([("client", client), ("curl", other)], r):
            level_page_cache(size)
            t = run()
            (pair.client if name == "client" else pair.curl).append(t)
            log(f"{what} round {r + 1} {name}: {t.seconds:.3f} s (whole command {t.wall:.3f} s)")


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}x (min {min(values):.2f}, max {max(values):.2f})"


def summary(what: str, size: int, pair: Pair) -> list[str]:
    ours = statistics.median(t.seconds for t in pair.client)
    theirs = statistics.median(t.seconds for t in pair.curl)
    ratios, whole = pair.ratios(whole=False), pair.ratios(whole=True)
    verdict = "PASS" if statistics.median(ratios) >= GOAL else "MISS"
    mib = size / MiB
    return [
        f"| {what} {size // MiB} MiB | {mib / ours:.0f} MiB/s ({ours:.3f} s) | "
        f"{mib / theirs:.0f} MiB/s ({theirs:.3f} s) | {spread(ratios)} | {verdict} | "
        f"{spread(whole)} |",
    ]


def details(what: str, size: int, pair: Pair) -> list[str]:
    def times(transfers: list[Transfer], wall: bool) -> str:
        return ", ".join(f"{t.wall if wall else t.seconds:.3f}" for t in transfers)

    label = f"{what} {size // MiB} MiB"
    return [
        f"- {label}, client transfer s: {times(pair.client, False)}",
        f"- {label}, curl transfer s: {times(pair.curl, False)}",
        f"- {label}, client whole command s: {times(pair.client, True)}",
        f"- {label}, curl whole command s: {times(pair.curl, True)}",
    ]


def bench_size(bench: Bench, size: int, count: int, work: Path) -> list[tuple[str, int, Pair]]:
    """The put rounds, then the get rounds, of one random file of ``size`` bytes."""
    path = work / f"file-{size // MiB}.bin"
    log(f"writing {size // MiB} MiB of random bytes to {path}")
    sha256 = random_file(path, size)  # and so in the page cache
    client_name, curl_name = f"client-{size // MiB}.bin", f"curl-{size // MiB}.bin"
    bench.client_put(path, client_name, sha256)  # untimed warm-up of both
    stored = json.loads(bench.curl_put(path, curl_name, sha256).body)
    puts, gets = Pair(), Pair()
    rounds(
        puts,
        count,
        f"put {size // MiB} MiB",
        size,
        lambda: bench.client_put(path, client_name, sha256),
        lambda: bench.curl_put(path, curl_name, sha256),
    )
    stored = json.loads(bench.curl_put(path, curl_name, sha256).body)
    out = work / "downloaded.bin"
    bench.client_get(f"bench/{curl_name}", out, size)  # warm-up: the blob in the page cache
    bench.curl_get(stored["id"], out, size)
    rounds(
        gets,
        count,
        f"get {size // MiB} MiB",
        size,
        lambda: bench.client_get(f"bench/{curl_name}", out, size),
        lambda: bench.curl_get(stored["id"], out, size),
    )
    path.unlink()
    out.unlink()
    return [("put", size, puts), ("get", size, gets)]


def run(sizes: list[int], count: int, work: Path) -> str:
    notes: list[str] = []
    data = work / "ours-data"
    data.mkdir()
    results: list[tuple[str, int, Pair]] = []
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    with contextlib.ExitStack() as stack:
        ours = start_ours(stack, OursSetup(work, {}, notes), data)
        bench = Bench(ours, work)
        for size in sizes:
            results += bench_size(bench, size, count, work)
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    lines = [
        f"# upload-client vs curl, median of {count} interleaved rounds",
        "",
        f"- {os.cpu_count()} cores; load average before / after: "
        f"{' '.join(load_before)} / {' '.join(load_after)}",
        "- transfer: curl's time_total; the client's --debug request times (put) or its time "
        "to the last byte (get). Ratio: curl's time / the client's, per round.",
        "",
        "| | upload-client | curl | ratio, transfer | >= 0.95 | ratio, whole command |",
        "|---|---|---|---|---|---|",
    ]
    for what, size, pair in results:
        lines += summary(what, size, pair)
    lines += ["", "Per round:", ""]
    for what, size, pair in results:
        lines += details(what, size, pair)
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sizes", default="64,256", help="file sizes in MiB, comma-separated")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep-temp", action="store_true", help="keep the temp dir (debugging)")
    args = parser.parse_args()
    if shutil.which("curl") is None:
        raise SystemExit("missing curl: install with apt-get install curl")
    sizes = [int(part) * MiB for part in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="cli-vs-curl-"))
    try:
        print(run(sizes, args.rounds, work), end="")
    finally:
        if args.keep_temp:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
