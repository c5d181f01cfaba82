"""The report as markdown: the table first, then per-round figures, profiles and notes."""

from __future__ import annotations

from collections.abc import Sequence

from harness.report import Report

HEADER = ["Benchmark", "Ours", "Reference", "Ratio", "Target", "Result"]


def table(report: Report) -> list[str]:
    """The rows as a markdown table, columns padded to their widest cell."""
    rows = [[r.metric, r.ours, r.reference, r.ratio, r.target, r.result] for r in report.rows]
    widths = [max(len(cell) for cell in column) for column in zip(HEADER, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return [line(HEADER), rule, *(line(row) for row in rows)]


def markdown(report: Report, env_lines: list[str], seconds: float) -> str:
    plan = report.plan
    parts = [
        f"# Upload Service benchmarks: {plan.heading}",
        "",
        *[f"- {x}" for x in env_lines],
        f"- rounds: {plan.rounds} (servers interleaved in balanced orders, page cache levelled"
        " before each run); "
        f"wall time {seconds / 60:.1f} min",
        "- client: curl -T / curl -o /dev/null for big transfers (MiB/s = size / curl time_total);"
        f" Python requests, {plan.concurrency} threads with keep-alive sessions, for small files"
        " and listings",
        "",
        *table(report),
        "",
        "## Per-round figures",
        "",
        *[f"- {x}" for x in report.details],
    ]
    for what, lines in report.profiles:
        parts += ["", f"## Profile: {what} (py-spy, inclusive share)", "", "```", *lines, "```"]
    if report.notes:
        parts += ["", "## Notes", "", *[f"- {x}" for x in report.notes]]
    return "\n".join(parts) + "\n"
