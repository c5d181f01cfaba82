"""Many small files, one PUT each, from concurrent clients: files per second, ours vs copyparty.

The same rounds also time the floor of our stack (``harness/floor_app.py``): a Flask route on
our gunicorn worker that only reads the body (and, the second one, writes and fsyncs it), so
the report shows how much of the gap to copyparty is ours and how much is Flask and gunicorn.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import statistics
from collections.abc import Callable
from pathlib import Path

from harness.common import KiB
from harness.report import Report
from harness.rounds import interleaved, medians
from harness.servers import Peer, start_floor
from harness.testfiles import TestFiles
from harness.transfer import put_many


def small_url(peer: Peer, r: int, i: int) -> str:
    if peer.name == "ours":
        return f"{peer.base}/api/fs/small/r{r}/f{i:05d}.bin?on_conflict=replace"
    return f"{peer.base}/small/r{r}/f{i:05d}.bin"


def bench_small_files(
    report: Report, files: TestFiles, ours: Peer, copyparty: Peer | None, work: Path
) -> None:
    with contextlib.ExitStack() as stack:
        floors = [floor(stack, work, durable) for durable in (False, True)]
        compare_small_files(report, files, ours, copyparty, floors)
    bench_one_client(report, files, ours)
    bench_base64(report, ours)


def floor(stack: contextlib.ExitStack[bool | None], work: Path, durable: bool) -> Peer:
    root = work / f"floor-root-{'durable' if durable else 'bare'}"
    root.mkdir()
    return start_floor(stack, work, root, durable=durable)


def compare_small_files(
    report: Report, files: TestFiles, ours: Peer, copyparty: Peer | None, floors: list[Peer]
) -> None:
    """Ours and copyparty side by side, with the floors of our stack in the same rounds."""
    plan = report.plan
    peers = [ours, *([] if copyparty is None else [copyparty]), *floors]

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
    figures = medians(series)
    report.ratio_row(metric, figures, "copyparty", 1.0, ".0f")
    labels = {
        "flask": "a Flask route that reads the body, on our gunicorn worker",
        "flask+fsync": "the same, writing it as ours does (temp file, fsync, rename)",
    }
    for peer in floors:
        label = f"{metric.replace(', files/s', '')}: floor of our stack, {labels[peer.name]}"
        report.info_row(f"{label}, files/s", figures[peer.name], ".0f")
    for name, one in series.items():
        per_file = 1000 * statistics.median(one.cpu) / plan.small_count
        versus = f", {figures[name] / figures['copyparty']:.2f}x copyparty" if copyparty else ""
        report.details.append(f"small files {name}: server CPU {per_file:.2f} ms per file{versus}")


def bench_one_client(report: Report, files: TestFiles, ours: Peer) -> None:
    """The same files from one client, one request after the other: latency bound."""
    plan = report.plan

    def items(peer: Peer, r: int) -> list[tuple[str, bytes]]:
        base = f"{peer.base}/api/fs/one/r{r}"
        return [(f"{base}/f{i:05d}.bin", body) for i, body in enumerate(files.small[r])]

    what = f"{plan.small_count} files x {plan.small_size // KiB} KiB, 1 client, files/s"
    _report_ours(report, ours, what, items, {}, 1)


def bench_base64(report: Report, ours: Peer) -> None:
    """``PUT /api/upload`` (the original base64 JSON API) of one 1 KiB file per request."""
    plan = report.plan

    def items(peer: Peer, r: int) -> list[tuple[str, bytes]]:
        return [(f"{peer.base}/api/upload", _base64_body(r, i)) for i in range(plan.small_count)]

    what = f"PUT /api/upload base64 JSON 1 KiB, {plan.concurrency} clients, requests/s"
    json_type = {"Content-Type": "application/json"}
    _report_ours(report, ours, what, items, json_type, plan.concurrency)


def _report_ours(
    report: Report,
    ours: Peer,
    what: str,
    items: Callable[[Peer, int], list[tuple[str, bytes]]],
    headers: dict[str, str],
    clients: int,
) -> None:
    """Our server alone, ``items(peer, round)`` PUT per round: an INFO row of requests/s."""

    def upload(peer: Peer, r: int) -> float:
        batch = items(peer, r)
        return len(batch) / put_many(batch, {**peer.headers, **headers}, clients, (201,))

    series = interleaved(report, what, "requests/s", [ours], upload)
    report.info_row(f"{what} (median of {report.plan.rounds})", series["ours"].median, ".0f")


def _base64_body(r: int, i: int) -> bytes:
    content = base64.b64encode(os.urandom(1024)).decode()
    item = {"filename": f"f{i:05d}.txt", "folder": f"base64/r{r}", "content": content}
    return json.dumps([item]).encode()
