"""Raw PUT of the big file with ``curl -T``, servers interleaved, and ``upload-client put``;
then the raw PUT rounds once more with a smaller file.

``upload-client put`` to our server takes part in the same rounds as a peer of its own
("upload-client"), compared with curl -T to the same route (the "ours" peer).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from harness.common import MiB
from harness.report import Report, Row, fmt_list
from harness.rounds import interleaved, medians
from harness.servers import Peer, Peers
from harness.testfiles import TestFiles
from harness.transfer import Transfer, client_put, put_file

PUT_OK = (200, 201, 204)


def put_url(peer: Peer, name: str) -> str:
    if peer.name == "ours":
        return f"{peer.base}/api/fs/bench/{name}?on_conflict=replace"
    return f"{peer.base}/bench/{name}"  # nginx WebDAV and copyparty: PUT to the path


class BigPut:
    """One timed upload per call; checks what our server stored and keeps our file's id."""

    def __init__(self, files: TestFiles, size: int, work: Path) -> None:
        self.files = files
        self.size = size
        self.work = work
        self.file_id = ""
        self.walls: dict[str, list[float]] = {"ours": [], "upload-client": []}

    def __call__(self, peer: Peer, r: int) -> float:
        if peer.name == "upload-client":
            t = client_put(peer, self.files.big, f"bench/client-r{r}.bin", self.work)
        else:
            body = self.work / "put-response.json"
            t = put_file(put_url(peer, f"big-r{r}.bin"), self.files.big, peer.headers, PUT_OK, body)
        if peer.name in self.walls:  # our server, through curl or the client
            self._check(peer, t)
        return t.mib_s(self.size)

    def _check(self, peer: Peer, t: Transfer) -> None:
        answer = json.loads(t.body)
        if answer["size"] != self.size or answer["sha256"] != self.files.big_sha256:
            raise RuntimeError(f"our server stored something else: {answer}")
        self.walls[peer.name].append(t.wall)
        if peer.name == "ours":
            self.file_id = answer["id"]


def bench_big_put(report: Report, files: TestFiles, peers: Peers, work: Path) -> str:
    """The PUT rounds and their rows; returns our file's id for the download."""
    plan, size = report.plan, report.plan.big
    ours = peers.ours
    client = Peer("upload-client", ours.server, ours.base, ours.headers)
    for peer in peers.present():  # untimed: first-request costs, folders, connections
        put_file(put_url(peer, "warm-up.bin"), files.rss_small, peer.headers, PUT_OK)
    client_put(client, files.rss_small, "bench/client-warm-up.bin", work)
    put = BigPut(files, size, work)
    series = interleaved(report, f"PUT {size // MiB} MiB", "MiB/s", [*peers.present(), client], put)
    metric = f"raw PUT {size // MiB} MiB, MiB/s (median of {plan.rounds})"
    report.ratio_row(metric, medians(series), "nginx", 0.5, ".1f")
    report.ratio_row(metric, medians(series), "copyparty", 1.5, ".1f")
    client_rows(report, medians(series), put.walls)
    bench_smaller_put(report, files, peers)
    return put.file_id


def bench_smaller_put(report: Report, files: TestFiles, peers: Peers) -> None:
    """The same raw PUT rounds with the smaller file (the RSS benchmark's, 64 MiB in the full
    run): a big upload's fixed costs (the final fsync, the commit) weigh more there."""
    plan, size = report.plan, report.plan.rss_small

    def put(peer: Peer, r: int) -> float:
        url = put_url(peer, f"smaller-r{r}.bin")
        return put_file(url, files.rss_small, peer.headers, PUT_OK).mib_s(size)

    series = interleaved(report, f"PUT {size // MiB} MiB", "MiB/s", peers.present(), put)
    metric = f"raw PUT {size // MiB} MiB, MiB/s (median of {plan.rounds})"
    report.ratio_row(metric, medians(series), "nginx", 0.5, ".1f")
    report.ratio_row(metric, medians(series), "copyparty", 1.5, ".1f")


def client_rows(report: Report, values: dict[str, float], walls: dict[str, list[float]]) -> None:
    """upload-client put vs curl -T: the transfer (the target), and the whole command (info)."""
    plan, size = report.plan, report.plan.big
    metric = f"upload-client put {size // MiB} MiB, MiB/s (median of {plan.rounds})"
    transfer = {"ours": values["upload-client"], "curl -T": values["ours"]}
    report.ratio_row(metric, transfer, "curl -T", 0.9, ".1f")
    whole = {name: size / MiB / statistics.median(seconds) for name, seconds in walls.items()}
    ratio = whole["upload-client"] / whole["ours"]
    report.rows.append(
        Row(
            f"{metric}, whole command incl. start-up vs curl -T",
            f"{whole['upload-client']:.1f}",
            f"{whole['ours']:.1f}",
            f"{ratio:.2f}x",
            "(reported)",
            "INFO",
        )
    )
    for name, label in (("upload-client", "upload-client put"), ("ours", "curl -T")):
        report.details.append(
            f"{label} {size // MiB} MiB, whole command: {fmt_list(walls[name], ' s', 2)}"
        )
