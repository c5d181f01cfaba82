"""Download of the big file with ``curl -o /dev/null``: ours against nginx's static file."""

from __future__ import annotations

from harness.common import MiB
from harness.report import Report
from harness.rounds import interleaved, medians
from harness.servers import Peer
from harness.transfer import get_file


def bench_download(report: Report, ours: Peer, file_id: str, nginx: Peer | None) -> None:
    """``file_id`` is our copy of the big file; nginx serves round 0's upload (same bytes)."""
    size = report.plan.big
    urls = {"ours": f"{ours.base}/api/files/{file_id}/content"}
    peers = [ours]
    if nginx is not None:
        urls["nginx"] = f"{nginx.base}/bench/big-r0.bin"
        peers.append(nginx)

    def get(peer: Peer, _round: int) -> float:
        t = get_file(urls[peer.name], peer.headers)
        if t.bytes_down != size:
            raise RuntimeError(f"{peer.name} download returned {t.bytes_down} bytes, not {size}")
        return t.mib_s(size)

    for peer in peers:  # untimed warm-up: every copy is in the page cache afterwards
        get(peer, 0)
    series = interleaved(report, f"GET {size // MiB} MiB", "MiB/s", peers, get)
    metric = f"download {size // MiB} MiB, MiB/s (median of {report.plan.rounds})"
    report.ratio_row(metric, medians(series), "nginx", 0.7, ".1f")
