"""Interleaved rounds: every peer once per round, the order rotating from round to round."""

from __future__ import annotations

import statistics
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


def rotated(items: Sequence[T], by: int) -> list[T]:
    by %= len(items)
    return list(items[by:]) + list(items[:by])


def interleaved(
    report: Report,
    what: str,
    unit: str,
    peers: Sequence[Peer],
    run: Callable[[Peer, int], float],
) -> dict[str, Series]:
    """``run(peer, round)`` for every peer in every round, the order rotating per round."""
    series = {peer.name: Series() for peer in peers}
    for r in range(report.plan.rounds):
        for peer in rotated(peers, r):
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
