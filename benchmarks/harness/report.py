"""The report of one run: table rows, per-round figures, notes and profile summaries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.plan import Plan

ABSENT = "absent"  # the reference column of a comparison whose peer was left out


@dataclass
class Row:
    metric: str
    ours: str
    reference: str
    ratio: str
    target: str
    result: str  # PASS | MISS | INFO | SKIP (the peer compared with was left out)


@dataclass
class Report:
    plan: Plan
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profiles: list[tuple[str, list[str]]] = field(default_factory=list)

    def ratio_row(
        self, metric: str, values: dict[str, float], reference: str, minimum: float, fmt: str
    ) -> None:
        """A row comparing ours with ``reference``; PASS when ours >= minimum x reference.

        Without a value for ``reference`` (a peer left out of a quick or smoke run), the row
        shows ours alone and says SKIP.
        """
        metric, target = f"{metric} vs {reference}", f">= {minimum}x {reference}"
        ours = format(values["ours"], fmt)
        if reference not in values:
            self.rows.append(Row(metric, ours, ABSENT, "", target, "SKIP"))
            return
        ratio = values["ours"] / values[reference]
        shown = f"{ratio:.2f}x" if round(ratio, 2) != minimum else f"{ratio:.3f}x"
        self.rows.append(
            Row(
                metric,
                ours,
                format(values[reference], fmt),
                shown,
                target,
                verdict(ratio >= minimum),
            )
        )

    def info_row(self, metric: str, value: float, fmt: str) -> None:
        """A figure the issues ask to be reported, with no target of its own."""
        self.rows.append(Row(metric, format(value, fmt), "", "", "(reported)", "INFO"))

    def limit_row(self, metric: str, value: float, limit: float, target: str) -> None:
        """A row with an upper bound; PASS when value <= limit."""
        self.rows.append(Row(metric, f"{value:.1f}", "", "", target, verdict(value <= limit)))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def fmt_list(values: Sequence[float], unit: str = "", digits: int = 1) -> str:
    return ", ".join(f"{v:.{digits}f}{unit}" for v in values)
