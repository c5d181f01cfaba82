"""What the report records about the machine and the software versions."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from harness.common import REPO, TOOLS_VENV, GiB
from harness.tools import Tools


def environment(tools: Tools, load: str) -> list[str]:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GiB
    curl_version = _output([tools.curl, "--version"]).split()[:2]
    return [
        f"date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"load average at start / end (other work on the machine skews results): {load}",
        f"commit: {_commit()}",
        f"machine: {os.cpu_count()} cores ({_cpu_model()}), {mem:.0f} GiB RAM, "
        f"{platform.platform()}",
        f"python {platform.python_version()}, {_nginx_version(tools)}, {_copyparty_version(tools)}",
        " ".join(curl_version),
    ]


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


def _commit() -> str:
    commit = _output(["git", "rev-parse", "--short", "HEAD"]) or "?"
    dirty = _output(["git", "status", "--porcelain", "--untracked-files=no"])
    return f"{commit}{' (with uncommitted changes)' if dirty else ''}"


def _nginx_version(tools: Tools) -> str:
    if tools.nginx is None:
        return "nginx left out"
    done = subprocess.run([tools.nginx, "-v"], capture_output=True, text=True)
    return done.stderr.strip()  # "nginx version: nginx/1.22.1"


def _copyparty_version(tools: Tools) -> str:
    if tools.copyparty is None:
        return "copyparty left out"
    code = "import importlib.metadata as m; print(m.version('copyparty'))"
    return f"copyparty {_output([str(TOOLS_VENV / 'bin' / 'python'), '-c', code])}"


def _output(argv: list[str]) -> str:
    """The stripped stdout of ``argv`` run in the repository."""
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True).stdout.strip()
