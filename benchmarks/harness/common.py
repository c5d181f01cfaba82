"""Paths, units and the log line every part of the benchmarks shares."""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BENCH_DIR = REPO / "benchmarks"
RESULTS_DIR = BENCH_DIR / "results"
PROFILE_DIR = RESULTS_DIR / "profiles"
TOOLS_VENV = BENCH_DIR / ".venv-tools"
VENV_BIN = Path(sys.executable).parent  # the project's .venv/bin when run as documented
KiB, MiB, GiB = 1024, 1024**2, 1024**3


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def size_label(size: int) -> str:
    """``1 GiB`` or ``64 MiB``."""
    return f"{size // GiB} GiB" if size % GiB == 0 else f"{size // MiB} MiB"
