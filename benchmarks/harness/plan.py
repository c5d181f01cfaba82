"""What one run measures at which sizes: the full run, ``--quick`` and ``--smoke``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.common import RESULTS_DIR, GiB, KiB, MiB


@dataclass(frozen=True)
class Plan:
    """Sizes and counts of one run."""

    mode: str  # "full" | "quick" | "smoke"
    rounds: int
    big: int  # raw PUT and download
    rss_small: int
    rss_big: int
    small_count: int
    small_size: int
    concurrency: int
    list_files: int
    list_requests: int

    @property
    def full(self) -> bool:
        """The full run installs what is missing and compares with every peer."""
        return self.mode == "full"

    @property
    def results_file(self) -> Path:
        return RESULTS_DIR / ("latest.md" if self.full else f"{self.mode}.md")

    @property
    def heading(self) -> str:
        return HEADINGS[self.mode]


HEADINGS = {
    "full": "full run",
    "quick": "quick smoke run: smaller sizes, targets are meant for the full run",
    "smoke": "smoke run of our server only: tiny sizes, the figures mean nothing",
}

FULL = Plan("full", 5, 256 * MiB, 64 * MiB, 1 * GiB, 1000, 4 * KiB, 8, 100_000, 200)
QUICK = Plan("quick", 2, 32 * MiB, 16 * MiB, 128 * MiB, 200, 4 * KiB, 8, 10_000, 40)
# list_files: the 10% search must still fill a page of 100
SMOKE = Plan("smoke", 2, 4 * MiB, 1 * MiB, 4 * MiB, 48, 4 * KiB, 8, 1_000, 10)
PLANS = {plan.mode: plan for plan in (FULL, QUICK, SMOKE)}
