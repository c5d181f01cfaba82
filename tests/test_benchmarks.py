"""``benchmarks/run_benchmarks.py --smoke``: the benchmarks still run against our own server.

The smoke run uses tiny sizes and leaves nginx and copyparty out. Its figures are not
asserted (performance is measured in benchmarks/, never timed in a test): the test checks
that the run completes, that its table has every row of our server, and that uploads the
server refuses fail the run instead of ending up in a report.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "run_benchmarks.py"
NUMBER = re.compile(r"^\d+(\.\d+)?$")
VERDICTS = {"PASS", "MISS"}

# metric (a regular expression): results it may show; SKIP = compared with a peer left out
ROWS = {
    # the smoke plan's big file (4 MiB) and its smaller one (1 MiB, the RSS benchmark's)
    r"raw PUT 4 MiB, MiB/s \(median of 2\) vs nginx": {"SKIP"},
    r"raw PUT 4 MiB, MiB/s \(median of 2\) vs copyparty": {"SKIP"},
    r"raw PUT 1 MiB, MiB/s \(median of 2\) vs nginx": {"SKIP"},
    r"raw PUT 1 MiB, MiB/s \(median of 2\) vs copyparty": {"SKIP"},
    r"upload-client put \d+ MiB, MiB/s \(median of 2\) vs curl -T": VERDICTS,
    r"upload-client put \d+ MiB, .*whole command incl\. start-up vs curl -T": {"INFO"},
    r"download \d+ MiB, MiB/s \(median of 2\) vs nginx": {"SKIP"},
    r"peak RSS of any server process, 4 MiB upload, MiB": VERDICTS,
    r"peak RSS of any server process, 1 MiB upload, MiB": VERDICTS,
    r"RSS peak 4 MiB upload minus peak 1 MiB upload, MiB": VERDICTS,
    r"\d+ files x 4 KiB, 8 clients, files/s \(median of 2\) vs copyparty": {"SKIP"},
    r"\d+ files x 4 KiB, 8 clients \(median of 2\): floor of our stack, a Flask route .*": {"INFO"},
    r"\d+ files x 4 KiB, 8 clients \(median of 2\): floor of our stack, the same, .*": {"INFO"},
    r"\d+ files x 4 KiB, 1 client, files/s \(median of 2\)": {"INFO"},
    r"PUT /api/upload base64 JSON 1 KiB, 8 clients, requests/s \(median of 2\)": {"INFO"},
    r"GET /api/files first page, 1,000 files \(SQLite\), p95 ms": VERDICTS,
    r"GET /api/files search q=invoice \(10% match\), .*p95 ms": VERDICTS,
    r"GET /api/files search q=\S+ \(1 match\), .*p95 ms": VERDICTS,
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("curl") is None, reason="the benchmarks transfer with curl"),
]


def run_smoke(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``run_benchmarks.py --smoke``, its temp dir under ``tmp_path``, its report in it."""
    argv = [sys.executable, str(SCRIPT), "--smoke", "--output", str(tmp_path / "smoke.md")]
    return subprocess.run(
        [*argv, *args],
        env={**os.environ, "TMPDIR": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )


def table(report: str) -> dict[str, list[str]]:
    """The report's table: metric -> the other cells of its row."""
    rows = {}
    for line in report.splitlines():
        if line.startswith("| ") and not line.startswith("| Benchmark "):
            metric, *cells = (cell.strip() for cell in line.strip().strip("|").split("|"))
            rows[metric] = cells
    return rows


def test_smoke_run_reports_every_row_of_our_server(tmp_path: Path) -> None:
    done = run_smoke(tmp_path)

    assert done.returncode == 0, done.stderr[-3000:]
    report = (tmp_path / "smoke.md").read_text()
    assert report in done.stdout
    rows = table(report)
    assert len(rows) == len(ROWS), list(rows)
    for pattern, results in ROWS.items():
        found = [metric for metric in rows if re.fullmatch(pattern, metric)]
        assert len(found) == 1, (pattern, list(rows))
        ours, reference, _ratio, _target, result = rows[found[0]]
        assert NUMBER.match(ours), (found[0], ours)
        assert result in results, (found[0], result)
        assert (reference == "absent") == (result == "SKIP"), (found[0], reference)
    small_files = next(metric for metric in rows if " files x 4 KiB, " in metric)
    assert 10 <= int(small_files.split()[0]) <= 100  # a few dozen files, one PUT each
    assert float(rows[small_files][0]) > 0  # files/s
    assert "nginx and copyparty are left out" in report
    assert not list(tmp_path.glob("upload-bench-*")), "the temp dir outlived the run"


def test_uploads_the_server_refuses_fail_the_run(tmp_path: Path) -> None:
    done = run_smoke(tmp_path, "--set", "MAX_FILE_SIZE=64KiB")

    assert done.returncode != 0
    assert "answered 413" in done.stderr
    assert not (tmp_path / "smoke.md").exists()
    assert not list(tmp_path.glob("upload-bench-*")), "the temp dir outlived the run"
