"""Interleaved rounds: every peer once per round, in an order that changes from round to round
so that each peer follows each other peer equally often (a Williams design), and each run
starting from the same state of the page cache.

A run can leave the machine in a state that changes the cost of the next one. On this kind of
virtual machine, memory the guest touches for the first time (or got back from the host) costs
several times more kernel time than pages another process has just freed, and an upload to our
server that turns out to be a duplicate frees a whole file's worth of page cache when the copy
is deleted. With a plain rotation the same peer always came right after the same other one, so
that effect stuck to one peer in every round: `upload-client put` always followed copyparty (no
pages freed), curl's upload to our server always followed the client's (256 MiB freed), and
the client measured 0.35x curl where both do the same work. Now every run is preceded by
``level_page_cache`` and the orders are balanced (benchmarks/README.md).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from harness.common import log
from harness.processes import cpu_seconds
from harness.report import Report, fmt_list
from harness.servers import Peer

T = TypeVar("T")


@dataclass
class Series:
    """Per-round values of one server, and the server CPU seconds each round cost."""

    values: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values)


LEVEL_BLOCK = bytes(1 << 20)


def level_page_cache(file_size: int) -> None:
    """Write twice ``file_size`` bytes to a scratch file, fsync it and let it go, right before a
    timed run of a file that big: the run then finds that much freshly freed page cache,
    whatever the run before it freed. Twice: the upload's own page cache, and the memory a
    client process such as ``upload-client`` takes while it starts."""
    with tempfile.TemporaryFile() as scratch:
        for _ in range(max(2 * file_size // len(LEVEL_BLOCK), 1)):
            scratch.write(LEVEL_BLOCK)
        scratch.flush()
        os.fsync(scratch.fileno())


def balanced(items: Sequence[T], r: int) -> list[T]:
    """Round ``r``'s order: a row of a Williams square. For an even count, in ``n`` rounds every
    peer follows every other exactly once; for an odd count each row is followed by its mirror
    image, and in ``2n`` rounds every peer follows every other twice."""
    n = len(items)
    if n % 2 == 0:
        return [items[(step + r) % n] for step in _williams_row(n)]
    row = [items[(step + r // 2) % n] for step in _williams_row(n)]
    return row[::-1] if r % 2 else row


def _williams_row(n: int) -> list[int]:
    """0, 1, n-1, 2, n-2, ...: the first row of a Williams square of order ``n``."""
    row, low, high = [0], 1, n - 1
    while len(row) < n:
        row.append(low)
        low += 1
        if len(row) < n:
            row.append(high)
            high -= 1
    return row


def interleaved(
    report: Report,
    what: str,
    unit: str,
    peers: Sequence[Peer],
    run: Callable[[Peer, int], float],
) -> dict[str, Series]:
    """``run(peer, round)`` for every peer in every round, in the orders of ``balanced``."""
    series = {peer.name: Series() for peer in peers}
    for r in range(report.plan.rounds):
        for peer in balanced(peers, r):
            level_page_cache(report.plan.big)
            before = cpu_seconds(peer.server.pid)
            value = run(peer, r)
            series[peer.name].values.append(value)
            series[peer.name].cpu.append(cpu_seconds(peer.server.pid) - before)
            log(f"{what} round {r + 1} {peer.name}: {value:.1f} {unit}")
    for name, one in series.items():
        report.details.append(
            f"{what} {name}: {fmt_list(one.values, ' ' + unit)} "
            f"(server CPU per round: {fmt_list(one.cpu, ' s', 2)})"
        )
    return series


def medians(series: dict[str, Series]) -> dict[str, float]:
    return {name: one.median for name, one in series.items()}
