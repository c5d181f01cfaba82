"""``GET /api/files`` over many files of one user (SQLite): first page and two searches.

After a warm-up, ``plan.list_requests`` requests per query go out sequentially over one
keep-alive session, the three queries interleaved so noise hits every query alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import requests
from harness.report import Report, Row, verdict
from harness.servers import Peer

from cases.seed import seeded_name

PAGE = 100  # items on a full page
WARM_UP = 10  # rounds of the three queries before timing
TARGETS_MS = {"first page": 25.0}  # the searches: SEARCH_TARGET_MS
SEARCH_TARGET_MS = 100.0

Queries = dict[str, tuple[str, int]]  # label: (path and query, items expected)


def queries(list_files: int) -> Queries:
    _rare_folder, rare_name = seeded_name(int(list_files * 0.42))
    rare = rare_name[:-4]
    return {
        "first page": ("/api/files", PAGE),
        "search q=invoice (10% match)": ("/api/files?q=invoice", PAGE),
        f"search q={rare} (1 match)": (f"/api/files?q={rare}", 1),
    }


def timed_get(session: requests.Session, url: str, expect_items: int) -> float:
    """Milliseconds of one GET; an error or another number of items stops the run."""
    began = time.perf_counter()
    response = session.get(url, timeout=60)
    elapsed = time.perf_counter() - began
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: {response.status_code} {response.text[:300]}")
    items = len(response.json()["items"])
    if items != expect_items:
        raise RuntimeError(f"GET {url}: {items} items")
    return elapsed * 1000


def measure(ours: Peer, wanted: Queries, rounds: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {label: [] for label in wanted}
    with requests.Session() as session:
        session.headers.update(ours.headers)
        for _ in range(WARM_UP):  # connections, caches, both workers
            for url, expect in wanted.values():
                timed_get(session, ours.base + url, expect)
        for _ in range(rounds):
            for label, (url, expect) in wanted.items():
                timings[label].append(timed_get(session, ours.base + url, expect))
    return timings


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def bench_listing(report: Report, ours: Peer) -> None:
    plan = report.plan
    timings = measure(ours, queries(plan.list_files), plan.list_requests)
    for label, values in timings.items():
        target = TARGETS_MS.get(label, SEARCH_TARGET_MS)
        p50, p95 = statistics.median(values), percentile(values, 95)
        report.rows.append(
            Row(
                f"GET /api/files {label}, {plan.list_files:,} files (SQLite), p95 ms",
                f"{p95:.1f}",
                "",
                "",
                f"< {target:.0f} ms",
                verdict(p95 < target),
            )
        )
        report.details.append(
            f"listing {label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
            f"max {max(values):.1f} ms over {len(values)} requests"
        )
