"""Many small files, one PUT each, from concurrent clients: files per second, ours vs copyparty."""

from __future__ import annotations

import statistics

from harness.common import KiB
from harness.report import Report
from harness.rounds import interleaved, medians
from harness.servers import Peer
from harness.testfiles import TestFiles
from harness.transfer import put_many


def small_url(peer: Peer, r: int, i: int) -> str:
    if peer.name == "ours":
        return f"{peer.base}/api/fs/small/r{r}/f{i:05d}.bin?on_conflict=replace"
    return f"{peer.base}/small/r{r}/f{i:05d}.bin"


def bench_small_files(report: Report, files: TestFiles, ours: Peer, copyparty: Peer | None) -> None:
    plan = report.plan
    peers = [ours] if copyparty is None else [ours, copyparty]

    def upload(peer: Peer, r: int) -> float:
        bodies = files.small[r]
        items = [(small_url(peer, r, i), body) for i, body in enumerate(bodies)]
        return len(bodies) / put_many(items, peer.headers, plan.concurrency, (200, 201))

    what = f"{plan.small_count} x {plan.small_size // KiB} KiB"
    series = interleaved(report, what, "files/s", peers, upload)
    metric = (
        f"{plan.small_count} files x {plan.small_size // KiB} KiB, {plan.concurrency} clients, "
        f"files/s (median of {plan.rounds})"
    )
    report.ratio_row(metric, medians(series), "copyparty", 1.0, ".0f")
    for name, one in series.items():
        per_file = 1000 * statistics.median(one.cpu) / plan.small_count
        report.details.append(f"small files {name}: server CPU {per_file:.2f} ms per file")
