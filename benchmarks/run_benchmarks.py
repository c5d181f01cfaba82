#!/usr/bin/env python3
"""Upload Service benchmarks: one command, one table.

    .venv/bin/python benchmarks/run_benchmarks.py [--quick | --smoke] [--rounds N] [--profile]

Compares our server (``upload-service serve``) side by side with nginx (WebDAV PUT, static GET)
and copyparty (PUT), interleaving the servers in every round, with the same client (curl for big
transfers, ``requests`` threads for many small files) and the same random test files. Prints one
table with measured values, targets and PASS/MISS, and writes it (with per-round figures) to
``benchmarks/results/latest.md`` (``quick.md`` for ``--quick``, ``smoke.md`` for ``--smoke``).
See ``benchmarks/README.md``; the parts are in ``benchmarks/harness/`` and
``benchmarks/cases/``.

Everything runs on 127.0.0.1 inside one temporary directory, removed at the end together with
every process this script started.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import shutil
import signal
import tempfile
import time
from pathlib import Path

from cases.big_put import bench_big_put
from cases.download import bench_download
from cases.listing import bench_listing
from cases.profile import profile_listing, profile_transfers
from cases.rss import bench_rss
from cases.seed import seed_files
from cases.small_files import bench_small_files
from harness.common import PROFILE_DIR, REPO, log
from harness.environment import environment, load_average
from harness.markdown import markdown
from harness.plan import PLANS, Plan
from harness.report import Report
from harness.servers import OursSetup, Peers, start_ours, start_peers
from harness.testfiles import TestFiles, make_test_files
from harness.tools import Tools, find_tools, left_out_notes


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    size.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, our server only (the CI check that the benchmarks still run)",
    )
    parser.add_argument("--rounds", type=int, default=0, help="override the number of rounds")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also record py-spy profiles of the workers (big upload/download)",
    )
    parser.add_argument("--keep-temp", action="store_true", help="keep the temp dir (debugging)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of our server over the benchmark's own (repeatable), e.g. THREADS=8",
    )
    parser.add_argument(
        "--output", type=Path, help="write the report here instead of benchmarks/results/"
    )
    args = parser.parse_args()
    if any("=" not in item for item in args.set):
        parser.error("--set takes NAME=VALUE")
    return args


def chosen_plan(args: argparse.Namespace) -> Plan:
    plan = PLANS["quick" if args.quick else "smoke" if args.smoke else "full"]
    return dataclasses.replace(plan, rounds=args.rounds) if args.rounds else plan


def run(args: argparse.Namespace, plan: Plan, tools: Tools, work: Path) -> Report:
    """Every benchmark in turn; the servers of each phase are stopped when it ends."""
    report = Report(plan=plan)
    report.notes += left_out_notes(tools, plan.mode) if not plan.full else []
    settings = dict(item.split("=", 1) for item in args.set)
    if settings:
        report.notes.append(f"our server's settings changed with --set: {' '.join(args.set)}")
    files = make_test_files(work / "files", plan)
    setup = OursSetup(work=work, settings=settings, notes=report.notes)
    py_spy = tools.py_spy if args.profile else None
    with contextlib.ExitStack() as stack:
        peers = start_peers(stack, setup, tools)
        transfers(report, files, peers, work, py_spy)
    listing(report, setup, py_spy)
    report.notes = list(dict.fromkeys(report.notes))  # each fallback note once
    return report


def transfers(
    report: Report, files: TestFiles, peers: Peers, work: Path, py_spy: str | None
) -> None:
    """Big PUT, download, RSS and small files, against the servers ``peers`` started."""
    file_id = bench_big_put(report, files, peers, work)
    bench_download(report, peers.ours, file_id, peers.nginx)
    bench_rss(report, files, peers.ours)
    bench_small_files(report, files, peers.ours, peers.copyparty, work)
    if py_spy:
        profile_transfers(report, py_spy, files, peers.ours, work)


def listing(report: Report, setup: OursSetup, py_spy: str | None) -> None:
    """A fresh database seeded with the listing's files, then our server on it."""
    count = report.plan.list_files
    log(f"seeding {count:,} files into a fresh database")
    list_dir = setup.work / "ours-list"
    began = time.perf_counter()
    seed_files(list_dir, count)
    report.details.append(f"seeded {count:,} files in {time.perf_counter() - began:.1f} s")
    with contextlib.ExitStack() as stack:
        ours = start_ours(stack, setup, list_dir)
        bench_listing(report, ours)
        if py_spy:
            profile_listing(report, py_spy, ours)
            report.notes.append(f"py-spy raw stacks in {PROFILE_DIR.relative_to(REPO)}/")


def write_report(text: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(text)
    shown = target.resolve()
    print(f"(written to {shown.relative_to(REPO) if shown.is_relative_to(REPO) else shown})")


def main() -> None:
    args = parse_args()
    plan = chosen_plan(args)
    # SIGTERM/SIGHUP behave like Ctrl-C, so every server is stopped and the temp dir removed
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    tools = find_tools(install=plan.full, peers=plan.mode != "smoke", profile=args.profile)
    work = Path(tempfile.mkdtemp(prefix="upload-bench-"))
    began = time.perf_counter()
    start_load = load_average()
    try:
        report = run(args, plan, tools, work)
    finally:
        if args.keep_temp:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    load = f"{start_load} / {load_average()}"
    text = markdown(report, environment(tools, load), time.perf_counter() - began)
    write_report(text, args.output or plan.results_file)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    main()
