"""Peak VmRSS of the gunicorn master and its workers while one upload runs (small, then big)."""

from __future__ import annotations

from pathlib import Path

from harness.common import KiB, log, size_label
from harness.processes import RssSampler, process_tree, vm_rss_kib
from harness.report import Report, fmt_list
from harness.servers import Peer
from harness.testfiles import TestFiles
from harness.transfer import put_file

KINDS = ("small", "big")


class Peaks:
    """Per upload kind and round: the largest process, and the sum over master and workers."""

    def __init__(self) -> None:
        self.process: dict[str, list[float]] = {kind: [] for kind in KINDS}
        self.total: dict[str, list[float]] = {kind: [] for kind in KINDS}

    def add(self, kind: str, sampler: RssSampler) -> None:
        self.process[kind].append(sampler.peak_mib)
        self.total[kind].append(sampler.peak_total / KiB)


def bench_rss(report: Report, files: TestFiles, ours: Peer) -> None:
    plan = report.plan
    idle = max((vm_rss_kib(pid) or 0) for pid in process_tree(ours.server.pid)) / KiB
    labels = {"small": size_label(plan.rss_small), "big": size_label(plan.rss_big)}
    paths = {"small": files.rss_small, "big": files.rss_big}
    peaks = Peaks()
    for r in range(plan.rounds):
        for kind in KINDS:
            sampler = sample_upload(ours, kind, paths[kind])
            peaks.add(kind, sampler)
            log(
                f"RSS {labels[kind]} round {r + 1}: peak process {sampler.peak_mib:.1f} MiB, "
                f"all processes {sampler.peak_total / KiB:.1f} MiB ({sampler.samples} samples)"
            )
    rss_rows(report, peaks, labels)
    report.details.append(f"RSS idle (largest server process before the uploads): {idle:.1f} MiB")
    for kind in KINDS:
        report.details.append(
            f"RSS during {labels[kind]} upload, peak process per round: "
            f"{fmt_list(peaks.process[kind], ' MiB')}; peak sum over master+workers: "
            f"{fmt_list(peaks.total[kind], ' MiB')}"
        )


def sample_upload(ours: Peer, kind: str, path: Path) -> RssSampler:
    """``curl -T path`` to our server while sampling its processes' VmRSS."""
    url = f"{ours.base}/api/fs/bench/rss-{kind}.bin?on_conflict=replace"
    with RssSampler(ours.server.pid) as sampler:
        put_file(url, path, ours.headers, (200, 201))
    return sampler


def rss_rows(report: Report, peaks: Peaks, labels: dict[str, str]) -> None:
    small_peak, big_peak = max(peaks.process["small"]), max(peaks.process["big"])
    for kind, peak in (("big", big_peak), ("small", small_peak)):
        metric = f"peak RSS of any server process, {labels[kind]} upload, MiB"
        report.limit_row(metric, peak, 150, "<= 150 MiB")
    metric = f"RSS peak {labels['big']} upload minus peak {labels['small']} upload, MiB"
    report.limit_row(metric, big_peak - small_peak, 20, "<= 20 MiB")
