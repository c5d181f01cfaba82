"""``--profile``: py-spy on the gunicorn workers during a big upload, a big download, listings.

Each phase adds a summary (share of request-thread samples per function, inclusive) to the
report; the raw stacks stay in benchmarks/results/profiles/ (load them into speedscope.app, or
render them with flamegraph.pl).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import requests
from harness.common import PROFILE_DIR, MiB
from harness.processes import workers
from harness.report import Report
from harness.servers import Peer
from harness.testfiles import TestFiles
from harness.transfer import get_file, put_file

ATTACH_SECONDS = 1.5
PLUMBING = ("threading.py", "concurrent/futures", "gthread.py", "flask/app.py")


def profile_transfers(
    report: Report, py_spy: str, files: TestFiles, ours: Peer, work: Path
) -> None:
    """py-spy on the gunicorn workers during one big upload, then one big download."""
    shutil.rmtree(PROFILE_DIR, ignore_errors=True)  # a previous run's files name other pids
    PROFILE_DIR.mkdir(parents=True)
    body = work / "profile-response.json"
    url = f"{ours.base}/api/fs/bench/profile.bin?on_conflict=replace"
    with py_spy_record(report, py_spy, ours, f"upload {report.plan.big // MiB} MiB"):
        answer = json.loads(put_file(url, files.big, ours.headers, (200, 201), body).body)
    with py_spy_record(report, py_spy, ours, f"download {report.plan.big // MiB} MiB"):
        get_file(f"{ours.base}/api/files/{answer['id']}/content", ours.headers)


def profile_listing(report: Report, py_spy: str, ours: Peer) -> None:
    """py-spy on the gunicorn workers during 100 first-page listings."""
    with requests.Session() as session, py_spy_record(report, py_spy, ours, "first page listing"):
        session.headers.update(ours.headers)
        for _ in range(100):
            session.get(f"{ours.base}/api/files", timeout=60).raise_for_status()


@contextlib.contextmanager
def py_spy_record(report: Report, py_spy: str, ours: Peer, what: str) -> Iterator[None]:
    """``py-spy record`` (raw stacks) on each worker while the block runs, then a summary."""
    slug = what.replace(" ", "-")
    outputs = {pid: PROFILE_DIR / f"{slug}-worker{pid}.txt" for pid in workers(ours.server.pid)}
    spies = [start_spy(py_spy, pid, output) for pid, output in outputs.items()]
    time.sleep(ATTACH_SECONDS)
    try:
        yield
    finally:
        time.sleep(0.3)
        stop_spies(spies)
    report.profiles.append((what, summarize_stacks([o for o in outputs.values() if o.exists()])))


def start_spy(py_spy: str, pid: int, output: Path) -> subprocess.Popen[bytes]:
    argv = [py_spy, "record", "-p", str(pid), "-r", "250", "-f", "raw", "-o", str(output)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_spies(spies: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGINT: py-spy writes its output and exits (killed after a minute)."""
    for spy in spies:
        spy.send_signal(signal.SIGINT)
    for spy in spies:
        try:
            spy.wait(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()


def summarize_stacks(paths: Sequence[Path], top: int = 14) -> list[str]:
    """Inclusive share per function over the samples of request-handling threads."""
    inclusive: dict[str, int] = {}
    total = 0
    for path in paths:
        for stack, count in request_stacks(path):
            total += count
            for frame in {frame.rsplit(":", 1)[0] + ")" for frame in stack.split(";")}:
                inclusive[frame] = inclusive.get(frame, 0) + count
    if not total:
        return ["no samples"]
    ranked = sorted(inclusive.items(), key=lambda item: -item[1])
    lines = [
        f"{100 * n / total:5.1f}% {frame}"
        for frame, n in ranked
        if not any(part in frame for part in PLUMBING)
    ]
    return [f"{total} samples in request threads", *lines[:top]]


def request_stacks(path: Path) -> Iterator[tuple[str, int]]:
    """(stack, samples) of each line of py-spy's raw output that handles a request."""
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "handle_request" in stack and count.isdigit():  # not idle pool threads, event loop
            yield stack, int(count)
