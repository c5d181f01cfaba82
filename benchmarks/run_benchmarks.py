#!/usr/bin/env python3
"""Upload Service benchmarks: one command, one table.

    .venv/bin/python benchmarks/run_benchmarks.py [--quick] [--rounds N] [--profile]

Compares our server (``upload-service serve``) side by side with nginx (WebDAV PUT, static GET)
and copyparty (PUT), interleaving the servers in every round, with the same client (curl for big
transfers, ``requests`` threads for many small files) and the same random test files. Prints one
table with measured values, targets and PASS/MISS, and writes it (with per-round figures) to
``benchmarks/results/latest.md`` (``quick.md`` for ``--quick``). See ``benchmarks/README.md``.

Everything runs on 127.0.0.1 inside one temporary directory, removed at the end together with
every process this script started.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import io
import json
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "benchmarks"
RESULTS_DIR = BENCH_DIR / "results"
TOOLS_VENV = BENCH_DIR / ".venv-tools"
VENV_BIN = Path(sys.executable).parent  # the project's .venv/bin when run as documented
KiB, MiB, GiB = 1024, 1024**2, 1024**3
READY_TIMEOUT = 60.0
RSS_INTERVAL = 0.05  # seconds between VmRSS samples


@dataclass(frozen=True)
class Plan:
    """Sizes and counts of one run."""

    rounds: int
    big: int  # raw PUT and download
    rss_small: int
    rss_big: int
    small_count: int
    small_size: int
    concurrency: int
    list_files: int
    list_requests: int


FULL = Plan(5, 256 * MiB, 64 * MiB, 1 * GiB, 1000, 4 * KiB, 8, 100_000, 200)
QUICK = Plan(2, 32 * MiB, 16 * MiB, 128 * MiB, 200, 4 * KiB, 8, 10_000, 40)


# --------------------------------------------------------------------------- prerequisites


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ensure_prerequisites(profile: bool) -> dict[str, str]:
    """curl and nginx (apt-get), copyparty (+ py-spy) in benchmarks/.venv-tools; their paths."""
    missing = [pkg for pkg, exe in (("curl", "curl"), ("nginx", "nginx")) if not _which(exe)]
    if missing:
        if os.geteuid() != 0:
            sys.exit(
                f"missing {', '.join(missing)}: install with apt-get install {' '.join(missing)}"
            )
        log(f"installing {' '.join(missing)} with apt-get")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", *missing],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    wanted = ["copyparty"] + (["py-spy"] if profile else [])
    tool_bin = TOOLS_VENV / "bin"
    if not (tool_bin / "python").exists():
        log(f"creating {TOOLS_VENV.relative_to(REPO)}")
        subprocess.run([sys.executable, "-m", "venv", str(TOOLS_VENV)], check=True)
    absent = [name for name in wanted if not (tool_bin / name).exists()]
    if absent:
        log(f"installing {' '.join(absent)} into {TOOLS_VENV.relative_to(REPO)}")
        pip = [str(tool_bin / "python"), "-m", "pip", "install", "-q", *absent]
        subprocess.run(pip, check=True)
    return {
        "curl": _which("curl") or "curl",
        "nginx": _which("nginx") or "nginx",
        "copyparty": str(tool_bin / "copyparty"),
        "py-spy": str(tool_bin / "py-spy"),
    }


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


# --------------------------------------------------------------------------- processes


class Server:
    """A process started by us in its own process group, stopped (the group) at the end."""

    def __init__(self, name: str, argv: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log_path = cwd / f"{name}.log"
        self._stopped = False
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, url: str, ok: Callable[[requests.Response], bool]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            with contextlib.suppress(requests.RequestException):
                if ok(requests.get(url, timeout=2)):
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {READY_TIMEOUT}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        # the group may outlive its leader (e.g. gunicorn workers): make sure it is gone
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (gunicorn master + workers)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return found


def vm_rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class RssSampler:
    """Samples VmRSS of a process tree every ``RSS_INTERVAL`` while a ``with`` block runs."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak_by_pid: dict[int, int] = {}
        self.peak_total = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(RSS_INTERVAL):
            self._sample()

    def _sample(self) -> None:
        total = 0
        for pid in process_tree(self.root):
            kib = vm_rss_kib(pid)
            if kib is not None:
                self.peak_by_pid[pid] = max(self.peak_by_pid.get(pid, 0), kib)
                total += kib
        self.peak_total = max(self.peak_total, total)
        self.samples += 1

    @property
    def peak_mib(self) -> float:
        return max(self.peak_by_pid.values(), default=0) / KiB


def cpu_seconds(root: int) -> float:
    """User + system CPU time used so far by ``root`` and its live descendants."""
    ticks = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- servers


@dataclass
class Peer:
    """A server under test: its process, where it listens and the headers it needs."""

    name: str
    server: Server
    base: str
    headers: dict[str, str] = field(default_factory=dict)


def server_env(data_dir: Path, port: int) -> dict[str, str]:
    """Benchmark settings: no rate limit, no sweeper, 2 GiB files, 2 workers, local storage."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "S3_", "AWS_"))}
    env.update(
        HOST="127.0.0.1",
        PORT=str(port),
        DATA_DIR=str(data_dir),
        DATABASE_URL=f"sqlite:///{data_dir / 'upload-service.db'}",
        STORAGE_URL=f"file://{data_dir / 'uploads'}",
        WORKERS="2",
        RATELIMIT_ENABLED="false",
        SWEEP_INTERVAL="0",
        MAX_FILE_SIZE="2GiB",
        USER_QUOTA="0",
        AUTO_MIGRATE="true",
        PYTHONUNBUFFERED="1",
    )
    return env


def cli_available(subcommand: str) -> bool:
    """True when ``upload-service SUBCOMMAND --help`` works (the CLI may still be in progress)."""
    probe = subprocess.run(
        [str(VENV_BIN / "upload-service"), subcommand, "--help"],
        capture_output=True,
        cwd=tempfile.gettempdir(),
    )
    return probe.returncode == 0


def start_ours(work: Path, data_dir: Path, notes: list[str]) -> Peer:
    port = free_port()
    env = server_env(data_dir, port)
    if cli_available("serve"):
        argv = [str(VENV_BIN / "upload-service"), "serve"]
    else:  # same click command, imported directly
        notes.append("`upload-service` CLI not importable: started cli.serve.serve() directly")
        code = "from upload_service.cli.serve import serve; serve(prog_name='upload-service serve')"
        argv = [sys.executable, "-c", code]
    # cwd = the temp dir, so that a developer's .env in the checkout cannot change the settings
    server = Server(f"ours-{data_dir.name}", argv, work, env)
    base = f"http://127.0.0.1:{port}"
    server.wait_ready(f"{base}/healthz", lambda r: r.status_code == 200)
    token = create_token(env, work, notes)
    return Peer("ours", server, base, {"Authorization": f"Bearer {token}"})


def create_token(env: dict[str, str], cwd: Path, notes: list[str]) -> str:
    """``upload-service token create --user local --name bench``, or the services directly."""
    argv = [str(VENV_BIN / "upload-service"), "token", "create", "--user", "local"]
    done = subprocess.run([*argv, "--name", "bench"], env=env, cwd=cwd, capture_output=True)
    lines = done.stdout.decode().strip().splitlines()
    if done.returncode == 0 and lines and " " not in lines[-1].strip():
        return lines[-1].strip()
    notes.append(
        "`upload-service token create` failed "
        f"({(done.stderr.decode().strip().splitlines() or ['?'])[-1]}): token created via services"
    )
    return _token_via_services(env["DATABASE_URL"])


def _token_via_services(database_url: str) -> str:
    from upload_service.db import Database
    from upload_service.services.tokens import create_api_token
    from upload_service.services.users import ensure_local_user

    database = Database(database_url)
    try:
        with database.session() as session:
            _row, plaintext = create_api_token(session, ensure_local_user(session), "bench")
    finally:
        database.dispose()
    return plaintext


NGINX_CONF = """\
{user}
worker_processes 2;
daemon off;
master_process on;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        client_max_body_size 0;
        location / {{
            dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
        }}
    }}
}}
"""


def start_nginx(exe: str, work: Path, root: Path) -> Peer:
    port = free_port()
    # As root, nginx's workers would switch to "nobody", who cannot write to our 0700 temp dir.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=user, work=work, port=port, root=root))
    argv = [exe, "-p", str(work), "-e", str(work / "nginx-error.log"), "-c", str(conf)]
    server = Server("nginx", argv, work, dict(os.environ))
    base = f"http://127.0.0.1:{port}"
    server.wait_ready(f"{base}/", lambda r: r.status_code in (200, 403, 404))
    return Peer("nginx", server, base)


def start_copyparty(exe: str, work: Path, root: Path) -> Peer:
    port = free_port()
    home = work / "copyparty-home"  # its salts and session db, not the user's ~/.config
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home)}
    argv = [exe, "-q", "-i", "127.0.0.1", "-p", str(port), "-v", f"{root}::rw"]
    server = Server("copyparty", argv, work, env)
    base = f"http://127.0.0.1:{port}"
    server.wait_ready(f"{base}/", lambda r: r.status_code == 200)
    return Peer("copyparty", server, base)


# --------------------------------------------------------------------------- clients


@dataclass
class Transfer:
    status: int
    seconds: float
    bytes_up: int
    bytes_down: int
    body: str = ""
    wall: float = 0.0  # the whole command, process start-up included

    def wall_mib_s(self, size: int) -> float:
        return size / MiB / self.wall

    def mib_s(self, size: int) -> float:
        return size / MiB / self.seconds


def curl(args: Sequence[str], expect: Sequence[int], body_file: Path | None = None) -> Transfer:
    """One curl run; timing from curl's own ``time_total``."""
    out = str(body_file) if body_file else "/dev/null"
    fmt = "%{http_code} %{time_total} %{size_upload} %{size_download}"
    began = time.perf_counter()
    done = subprocess.run(
        ["curl", "-sS", "-o", out, "-w", fmt, *args], capture_output=True, text=True
    )
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"curl {' '.join(args)} failed: {done.stderr.strip()}")
    code, total, up, down = done.stdout.split()
    body = body_file.read_text(errors="replace") if body_file else ""
    if int(code) not in expect:
        raise RuntimeError(f"curl {' '.join(args)} answered {code}: {body[:300]}")
    return Transfer(int(code), float(total), int(float(up)), int(float(down)), body, wall)


def put_file(
    url: str,
    path: Path,
    headers: dict[str, str],
    expect: Sequence[int],
    body_file: Path | None = None,
) -> Transfer:
    """``curl -T file`` (the same command line for every server), after flushing dirty pages."""
    os.sync()  # the previous upload's write-back must not land in this one's timing
    args = ["-T", str(path)]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    return curl([*args, url], expect, body_file)


# The upload's requests as the client logs them: one streaming PUT, or (files of 32 MiB and
# more) the tus creation POST and its PATCHes.
CLIENT_REQUEST = re.compile(
    r"^> (?:PUT \S+ -> 20[01]|POST \S+/api/tus/ -> 201|PATCH \S+/api/tus/\S+ -> 204)"
    r" in ([0-9.]+) s$",
    re.MULTILINE,
)


def client_put(ours: Peer, path: Path, remote: str, work: Path) -> Transfer:
    """``upload-client --debug put --replace --json`` of ``path`` to our server.

    ``seconds`` is the upload's requests as the client logs them (from sending each request to
    its answer: for the single PUT, the same span as curl's ``time_total``; for a tus upload,
    the creation and every PATCH added up); ``wall`` is the whole command, Python's start-up
    included. Its HOME is inside the temp dir, so no saved login applies.
    """
    os.sync()
    home = work / "client-home"
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "UPLOAD_SERVICE_URL": ours.base,
        "UPLOAD_SERVICE_TOKEN": ours.headers["Authorization"].removeprefix("Bearer "),
    }
    argv = [str(VENV_BIN / "upload-client"), "--debug", "put", "--replace", "--json"]
    began = time.perf_counter()
    done = subprocess.run([*argv, str(path), remote], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - began
    requests = CLIENT_REQUEST.findall(done.stderr)
    if done.returncode != 0 or not requests:
        raise RuntimeError(f"upload-client put failed ({done.returncode}): {done.stderr[-500:]}")
    size = path.stat().st_size
    return Transfer(201, sum(map(float, requests)), size, 0, done.stdout, wall)


def get_file(url: str, headers: dict[str, str]) -> Transfer:
    args: list[str] = []
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    return curl([*args, url], (200,))


def put_many(
    requests_: Sequence[tuple[str, bytes]],
    headers: dict[str, str],
    concurrency: int,
    expect: Sequence[int],
) -> float:
    """PUT every (url, body) from ``concurrency`` threads, each with its own keep-alive session.

    Returns the wall-clock seconds from the common start until the last response.
    """
    slices = [requests_[i::concurrency] for i in range(concurrency)]
    start = threading.Barrier(concurrency + 1)
    failures: list[str] = []

    def client(items: Sequence[tuple[str, bytes]]) -> None:
        with requests.Session() as session:
            session.headers.update(headers)
            start.wait()
            for url, body in items:
                try:
                    response = session.put(url, data=body, timeout=120)
                except requests.RequestException as exc:
                    failures.append(f"{url}: {exc}")
                    continue
                if response.status_code not in expect:
                    failures.append(f"{url}: {response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=client, args=(s,)) for s in slices]
    for thread in threads:
        thread.start()
    os.sync()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{len(failures)} small uploads failed, e.g. {failures[0]}")
    return elapsed


# --------------------------------------------------------------------------- test data


@dataclass
class TestFiles:
    big: Path
    big_sha256: str
    rss_small: Path
    rss_big: Path
    small: list[list[bytes]]  # per round: fresh random bodies, so dedup never kicks in


def random_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 4 * MiB))
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def make_test_files(where: Path, plan: Plan) -> TestFiles:
    where.mkdir()
    log(f"generating random test files in {where}")
    big = where / "big.bin"
    big_sha = random_file(big, plan.big)
    rss_small, rss_big = where / "rss-small.bin", where / "rss-big.bin"
    random_file(rss_small, plan.rss_small)
    random_file(rss_big, plan.rss_big)
    small: list[list[bytes]] = []
    for r in range(plan.rounds):
        folder = where / f"small-r{r}"
        folder.mkdir()
        paths = [folder / f"f{i:05d}.bin" for i in range(plan.small_count)]
        for path in paths:
            random_file(path, plan.small_size)
        small.append([path.read_bytes() for path in paths])  # in memory before timing
    return TestFiles(big, big_sha, rss_small, rss_big, small)


# --------------------------------------------------------------------------- measurements


@dataclass
class Row:
    metric: str
    ours: str
    reference: str
    ratio: str
    target: str
    result: str  # PASS | MISS | INFO


@dataclass
class Report:
    plan: Plan
    quick: bool
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profiles: list[tuple[str, list[str]]] = field(default_factory=list)

    def ratio_row(
        self, metric: str, values: dict[str, float], reference: str, minimum: float, fmt: str
    ) -> None:
        """A row comparing ours with ``reference``; PASS when ours >= minimum x reference."""
        ratio = values["ours"] / values[reference]
        shown = f"{ratio:.2f}x" if round(ratio, 2) != minimum else f"{ratio:.3f}x"
        self.rows.append(
            Row(
                f"{metric} vs {reference}",
                format(values["ours"], fmt),
                format(values[reference], fmt),
                shown,
                f">= {minimum}x {reference}",
                verdict(ratio >= minimum),
            )
        )

    def limit_row(self, metric: str, value: float, limit: float, target: str) -> None:
        """A row with an upper bound; PASS when value <= limit."""
        self.rows.append(Row(metric, f"{value:.1f}", "", "", target, verdict(value <= limit)))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def rotated(items: Sequence[Any], by: int) -> list[Any]:
    by %= len(items)
    return list(items[by:]) + list(items[:by])


def fmt_list(values: Sequence[float], unit: str = "", digits: int = 1) -> str:
    return ", ".join(f"{v:.{digits}f}{unit}" for v in values)


@dataclass
class Series:
    """Per-round values of one server, and the server CPU seconds each round cost."""

    values: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values)


def interleaved(
    report: Report,
    what: str,
    unit: str,
    peers: Sequence[Peer],
    run: Callable[[Peer, int], float],
) -> dict[str, Series]:
    """``run(peer, round)`` for every peer in every round, the order rotating per round."""
    series = {peer.name: Series() for peer in peers}
    for r in range(report.plan.rounds):
        for peer in rotated(peers, r):
            before = cpu_seconds(peer.server.pid)
            value = run(peer, r)
            series[peer.name].values.append(value)
            series[peer.name].cpu.append(cpu_seconds(peer.server.pid) - before)
            log(f"{what} round {r + 1} {peer.name}: {value:.1f} {unit}")
    for name, one in series.items():
        report.details.append(
            f"{what} {name}: {fmt_list(one.values, ' ' + unit)} "
            f"(server CPU per round: {fmt_list(one.cpu, ' s', 2)})"
        )
    return series


def bench_big_put(report: Report, files: TestFiles, peers: Sequence[Peer], work: Path) -> str:
    """Raw PUT of the big file, servers interleaved; returns our file id for the download.

    ``upload-client put`` to our server takes part in the same rounds as a peer of its own
    ("upload-client"), compared with curl -T to the same route (the "ours" peer).
    """
    plan, size = report.plan, report.plan.big
    body = work / "put-response.json"
    file_id = ""
    ours = next(peer for peer in peers if peer.name == "ours")
    client = Peer("upload-client", ours.server, ours.base, ours.headers)
    walls: dict[str, list[float]] = {"ours": [], "upload-client": []}

    def url(peer: Peer, name: str) -> str:
        if peer.name == "ours":
            return f"{peer.base}/api/fs/bench/{name}?on_conflict=replace"
        return f"{peer.base}/bench/{name}"  # nginx WebDAV and copyparty: PUT to the path

    def put(peer: Peer, r: int) -> float:
        nonlocal file_id
        if peer.name == "upload-client":
            t = client_put(peer, files.big, f"bench/client-r{r}.bin", work)
        else:
            t = put_file(url(peer, f"big-r{r}.bin"), files.big, peer.headers, (200, 201, 204), body)
        if peer.name in walls:  # our server, through curl or the client
            answer = json.loads(t.body)
            if answer["size"] != size or answer["sha256"] != files.big_sha256:
                raise RuntimeError(f"our server stored something else: {answer}")
            walls[peer.name].append(t.wall)
            if peer.name == "ours":
                file_id = answer["id"]
        return t.mib_s(size)

    for peer in peers:  # untimed: first-request costs, folders, connections
        put_file(url(peer, "warm-up.bin"), files.rss_small, peer.headers, (200, 201, 204))
    client_put(client, files.rss_small, "bench/client-warm-up.bin", work)
    series = interleaved(report, f"PUT {size // MiB} MiB", "MiB/s", [*peers, client], put)
    medians = {name: one.median for name, one in series.items()}
    metric = f"raw PUT {size // MiB} MiB, MiB/s (median of {plan.rounds})"
    report.ratio_row(metric, medians, "nginx", 0.5, ".1f")
    report.ratio_row(metric, medians, "copyparty", 1.5, ".1f")
    client_rows(report, medians, walls)
    return file_id


def client_rows(report: Report, medians: dict[str, float], walls: dict[str, list[float]]) -> None:
    """upload-client put vs curl -T: the transfer (the target), and the whole command (info)."""
    plan, size = report.plan, report.plan.big
    metric = f"upload-client put {size // MiB} MiB, MiB/s (median of {plan.rounds})"
    transfer = {"ours": medians["upload-client"], "curl -T": medians["ours"]}
    report.ratio_row(metric, transfer, "curl -T", 0.9, ".1f")
    whole = {name: size / MiB / statistics.median(values) for name, values in walls.items()}
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


def bench_download(report: Report, ours: Peer, file_id: str, nginx: Peer) -> None:
    size = report.plan.big
    urls = {
        "ours": f"{ours.base}/api/files/{file_id}/content",
        "nginx": f"{nginx.base}/bench/big-r0.bin",
    }

    def get(peer: Peer, _round: int) -> float:
        t = get_file(urls[peer.name], peer.headers)
        if t.bytes_down != size:
            raise RuntimeError(f"{peer.name} download returned {t.bytes_down} bytes, not {size}")
        return t.mib_s(size)

    for peer in (ours, nginx):  # untimed warm-up: both copies are in the page cache afterwards
        get(peer, 0)
    series = interleaved(report, f"GET {size // MiB} MiB", "MiB/s", [ours, nginx], get)
    metric = f"download {size // MiB} MiB, MiB/s (median of {report.plan.rounds})"
    report.ratio_row(metric, {n: s.median for n, s in series.items()}, "nginx", 0.7, ".1f")


def bench_rss(report: Report, files: TestFiles, ours: Peer) -> None:
    """Peak VmRSS of the gunicorn master and its workers while one upload runs."""
    plan = report.plan
    idle = max((vm_rss_kib(pid) or 0) for pid in process_tree(ours.server.pid)) / KiB
    labels = {"small": _size_label(plan.rss_small), "big": _size_label(plan.rss_big)}
    peaks: dict[str, list[float]] = {"small": [], "big": []}
    totals: dict[str, list[float]] = {"small": [], "big": []}
    for r in range(plan.rounds):
        for kind, path in (("small", files.rss_small), ("big", files.rss_big)):
            url = f"{ours.base}/api/fs/bench/rss-{kind}.bin?on_conflict=replace"
            with RssSampler(ours.server.pid) as sampler:
                put_file(url, path, ours.headers, (200, 201))
            peaks[kind].append(sampler.peak_mib)
            totals[kind].append(sampler.peak_total / KiB)
            log(
                f"RSS {labels[kind]} round {r + 1}: peak process {sampler.peak_mib:.1f} MiB, "
                f"all processes {sampler.peak_total / KiB:.1f} MiB ({sampler.samples} samples)"
            )
    small_peak, big_peak = max(peaks["small"]), max(peaks["big"])
    for kind, peak in (("big", big_peak), ("small", small_peak)):
        metric = f"peak RSS of any server process, {labels[kind]} upload, MiB"
        report.limit_row(metric, peak, 150, "<= 150 MiB")
    metric = f"RSS peak {labels['big']} upload minus peak {labels['small']} upload, MiB"
    report.limit_row(metric, big_peak - small_peak, 20, "<= 20 MiB")
    report.details.append(f"RSS idle (largest server process before the uploads): {idle:.1f} MiB")
    for kind in ("small", "big"):
        report.details.append(
            f"RSS during {labels[kind]} upload, peak process per round: "
            f"{fmt_list(peaks[kind], ' MiB')}; peak sum over master+workers: "
            f"{fmt_list(totals[kind], ' MiB')}"
        )


def _size_label(size: int) -> str:
    return f"{size // GiB} GiB" if size % GiB == 0 else f"{size // MiB} MiB"


def bench_small_files(report: Report, files: TestFiles, ours: Peer, copyparty: Peer) -> None:
    plan = report.plan

    def url(peer: Peer, r: int, i: int) -> str:
        if peer.name == "ours":
            return f"{peer.base}/api/fs/small/r{r}/f{i:05d}.bin?on_conflict=replace"
        return f"{peer.base}/small/r{r}/f{i:05d}.bin"

    def upload(peer: Peer, r: int) -> float:
        bodies = files.small[r]
        work = [(url(peer, r, i), body) for i, body in enumerate(bodies)]
        return len(bodies) / put_many(work, peer.headers, plan.concurrency, (200, 201))

    what = f"{plan.small_count} x {plan.small_size // KiB} KiB"
    series = interleaved(report, what, "files/s", [ours, copyparty], upload)
    metric = (
        f"{plan.small_count} files x {plan.small_size // KiB} KiB, {plan.concurrency} clients, "
        f"files/s (median of {plan.rounds}) vs copyparty"
    )
    ours_rate, copyparty_rate = series["ours"].median, series["copyparty"].median
    report.rows.append(
        Row(
            metric,
            f"{ours_rate:.0f}",
            f"{copyparty_rate:.0f}",
            f"{ours_rate / copyparty_rate:.2f}x",
            ">= 1.0x copyparty",
            "PASS" if ours_rate >= copyparty_rate else "MISS",
        )
    )
    for name, one in series.items():
        per_file = 1000 * statistics.median(one.cpu) / plan.small_count
        report.details.append(f"small files {name}: server CPU {per_file:.2f} ms per file")


# listing: 100,000 files of one user, seeded straight into the DB before the server starts

WORDS = [
    "report",
    "invoice",
    "photo",
    "notes",
    "backup",
    "draft",
    "scan",
    "slides",
    "budget",
    "contract",
]
EXTS = ["pdf", "jpg", "txt", "zip", "py", "md", "png", "csv", "mp3", "docx"]
TOP_FOLDERS, SUB_FOLDERS = 10, 10


def seeded_name(i: int) -> tuple[str, str]:
    """(folder, name) of seeded file number ``i``."""
    folder = f"projects/p{i % TOP_FOLDERS:02d}/part{(i // TOP_FOLDERS) % SUB_FOLDERS:02d}"
    return folder, f"{WORDS[i % len(WORDS)]}-{i:06d}.{EXTS[(i // 7) % len(EXTS)]}"


def seed_files(data_dir: Path, count: int) -> None:
    """Migrate, then insert ``count`` complete files sharing one blob, plus their folders."""
    from sqlalchemy import insert

    from upload_service.db import Database
    from upload_service.models import Blob, File, Folder, new_public_id
    from upload_service.services.categories import category_for, guess_content_type
    from upload_service.services.paths import ancestors
    from upload_service.services.users import ensure_local_user
    from upload_service.storage.local import LocalBlobStore

    content = b"benchmark content\n"
    store = LocalBlobStore(data_dir / "uploads")
    stored = store.put("blobs/bench-shared-blob", io.BytesIO(content))
    database = Database(f"sqlite:///{data_dir / 'upload-service.db'}")
    try:
        database.upgrade()
        base = datetime(2024, 1, 1, tzinfo=UTC)
        with database.session() as session:
            owner = ensure_local_user(session)
            blob = Blob(
                owner_id=owner.id,
                sha256=stored.sha256,
                size=stored.size,
                storage_key="blobs/bench-shared-blob",
                created_at=base,
                last_used_at=base,
            )
            session.add(blob)
            session.flush()
            folders: set[str] = set()
            rows = []
            for i in range(count):
                folder, name = seeded_name(i)
                path = f"{folder}/{name}"
                folders.update(ancestors(folder))
                content_type = guess_content_type(name)
                when = base + timedelta(seconds=i)
                rows.append(
                    {
                        "id": new_public_id(),
                        "owner_id": owner.id,
                        "path": path,
                        "folder": folder,
                        "name": name,
                        "size": stored.size,
                        "content_type": content_type,
                        "category": category_for(content_type, name),
                        "sha256": stored.sha256,
                        "blob_id": blob.id,
                        "state": "complete",
                        "description": "",
                        "created_at": when,
                        "updated_at": when,
                    }
                )
            for start in range(0, len(rows), 10_000):
                session.execute(insert(File), rows[start : start + 10_000])
            session.execute(
                insert(Folder),
                [{"owner_id": owner.id, "path": p, "created_at": base} for p in sorted(folders)],
            )
        with database.engine.connect() as connection:  # what a long-running DB would have
            connection.exec_driver_sql("ANALYZE")
    finally:
        database.dispose()


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def bench_listing(report: Report, ours: Peer) -> None:
    plan = report.plan
    _rare_folder, rare_name = seeded_name(int(plan.list_files * 0.42))
    queries = {
        "first page": ("/api/files", None),
        "search q=invoice (10% match)": ("/api/files?q=invoice", 100),
        f"search q={rare_name[:-4]} (1 match)": (f"/api/files?q={rare_name[:-4]}", 1),
    }
    timings: dict[str, list[float]] = {label: [] for label in queries}
    with requests.Session() as session:
        session.headers.update(ours.headers)

        def fetch(url: str, expect_items: int | None) -> float:
            began = time.perf_counter()
            response = session.get(ours.base + url, timeout=60)
            elapsed = time.perf_counter() - began
            if response.status_code != 200:
                raise RuntimeError(f"GET {url}: {response.status_code} {response.text[:300]}")
            items = len(response.json()["items"])
            if items != (expect_items or 100):
                raise RuntimeError(f"GET {url}: {items} items")
            return elapsed * 1000

        for _ in range(10):  # warm-up: connections, caches, both workers
            for url, expect in queries.values():
                fetch(url, expect)
        for _ in range(plan.list_requests):  # interleaved, so noise hits every query alike
            for label, (url, expect) in queries.items():
                timings[label].append(fetch(url, expect))
    targets = {"first page": 25.0}
    for label, values in timings.items():
        target = targets.get(label, 100.0)
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


# --------------------------------------------------------------------------- profiling


PROFILE_DIR = RESULTS_DIR / "profiles"


def profile_transfers(
    report: Report, py_spy: str, files: TestFiles, ours: Peer, work: Path
) -> None:
    """py-spy on the gunicorn workers during one big upload, then one big download."""
    shutil.rmtree(PROFILE_DIR, ignore_errors=True)  # a previous run's files name other pids
    PROFILE_DIR.mkdir(parents=True)
    body = work / "profile-response.json"
    url = f"{ours.base}/api/fs/bench/profile.bin?on_conflict=replace"
    with py_spy_record(report, py_spy, ours, f"upload {report.plan.big // MiB} MiB"):
        answer = json.loads(put_file(url, files.big, ours.headers, (200, 201), body).body)
    with py_spy_record(report, py_spy, ours, f"download {report.plan.big // MiB} MiB"):
        get_file(f"{ours.base}/api/files/{answer['id']}/content", ours.headers)


def profile_listing(report: Report, py_spy: str, ours: Peer) -> None:
    """py-spy on the gunicorn workers during 100 first-page listings."""
    with requests.Session() as session, py_spy_record(report, py_spy, ours, "first page listing"):
        session.headers.update(ours.headers)
        for _ in range(100):
            session.get(f"{ours.base}/api/files", timeout=60).raise_for_status()


@contextlib.contextmanager
def py_spy_record(report: Report, py_spy: str, ours: Peer, what: str) -> Iterator[None]:
    """``py-spy record`` (collapsed stacks) on each worker while the block runs, then a summary.

    The summary (share of request-thread samples per function, inclusive) goes into the report;
    the raw stacks stay in benchmarks/results/profiles/ (load them into speedscope.app, or
    render them with flamegraph.pl).
    """
    slug = what.replace(" ", "-")
    outputs = []
    spies = []
    for pid in (p for p in process_tree(ours.server.pid) if p != ours.server.pid):
        output = PROFILE_DIR / f"{slug}-worker{pid}.txt"
        argv = [py_spy, "record", "-p", str(pid), "-r", "250", "-f", "raw", "-o", str(output)]
        spies.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        outputs.append(output)
    time.sleep(1.5)  # attach
    try:
        yield
    finally:
        time.sleep(0.3)
        for spy in spies:
            spy.send_signal(signal.SIGINT)  # py-spy writes its output and exits
        for spy in spies:
            try:
                spy.wait(timeout=60)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
    report.profiles.append((what, summarize_stacks([o for o in outputs if o.exists()])))


def summarize_stacks(paths: Sequence[Path], top: int = 14) -> list[str]:
    """Inclusive share per function over the samples of request-handling threads."""
    inclusive: dict[str, int] = {}
    total = 0
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if "handle_request" not in stack or not count.isdigit():
                continue  # idle pool threads and the event loop
            total += int(count)
            frames = {frame.rsplit(":", 1)[0] + ")" for frame in stack.split(";")}
            for frame in frames:
                inclusive[frame] = inclusive.get(frame, 0) + int(count)
    plumbing = ("threading.py", "concurrent/futures", "gthread.py", "flask/app.py")
    ranked = sorted(inclusive.items(), key=lambda item: -item[1])
    lines = [
        f"{100 * n / total:5.1f}% {frame}"
        for frame, n in ranked
        if not any(part in frame for part in plumbing)
    ]
    return [f"{total} samples in request threads", *lines[:top]] if total else ["no samples"]


# --------------------------------------------------------------------------- report


def environment(load: str) -> list[str]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = (
        subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        or "?"
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.strip()
    nginx = subprocess.run([_which("nginx") or "nginx", "-v"], capture_output=True, text=True)
    copyparty = subprocess.run(
        [
            str(TOOLS_VENV / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('copyparty'))",
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GiB
    curl_version = subprocess.run(["curl", "--version"], capture_output=True, text=True)
    return [
        f"date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"load average at start / end (other work on the machine skews results): {load}",
        f"commit: {commit}{' (with uncommitted changes)' if dirty else ''}",
        f"machine: {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.platform()}",
        f"python {platform.python_version()}, {nginx.stderr.strip()}, copyparty {copyparty}",
        " ".join(curl_version.stdout.split()[:2]),
    ]


def markdown(report: Report, env_lines: list[str], seconds: float) -> str:
    plan = report.plan
    header = ["Benchmark", "Ours", "Reference", "Ratio", "Target", "Result"]
    rows = [[r.metric, r.ours, r.reference, r.ratio, r.target, r.result] for r in report.rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    table = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    table += [line(row) for row in rows]
    mode = (
        "quick smoke run: smaller sizes, targets are meant for the full run"
        if report.quick
        else "full run"
    )
    parts = [
        f"# Upload Service benchmarks: {mode}",
        "",
        *[f"- {x}" for x in env_lines],
        f"- rounds: {plan.rounds} (servers interleaved, order rotated per round); "
        f"wall time {seconds / 60:.1f} min",
        "- client: curl -T / curl -o /dev/null for big transfers (MiB/s = size / curl time_total);"
        f" Python requests, {plan.concurrency} threads with keep-alive sessions, for small files"
        " and listings",
        "",
        *table,
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


# --------------------------------------------------------------------------- main


def run(args: argparse.Namespace, work: Path, servers: list[Server]) -> Report:
    plan = QUICK if args.quick else FULL
    if args.rounds:
        plan = dataclasses.replace(plan, rounds=args.rounds)
    report = Report(plan=plan, quick=args.quick)
    tools = ensure_prerequisites(args.profile)
    files = make_test_files(work / "files", plan)
    roots = {name: work / name for name in ("ours-data", "nginx-root", "copyparty-root")}
    for root in roots.values():
        root.mkdir()
    devices = {os.stat(root).st_dev for root in roots.values()}
    report.notes.append(
        f"all server data under one temp dir on one filesystem ({len(devices)} device)"
    )

    log("starting our server, nginx and copyparty")
    ours = start_ours(work, roots["ours-data"], report.notes)
    servers.append(ours.server)
    nginx = start_nginx(tools["nginx"], work, roots["nginx-root"])
    servers.append(nginx.server)
    copyparty = start_copyparty(tools["copyparty"], work, roots["copyparty-root"])
    servers.append(copyparty.server)

    file_id = bench_big_put(report, files, [ours, nginx, copyparty], work)
    bench_download(report, ours, file_id, nginx)
    bench_rss(report, files, ours)
    bench_small_files(report, files, ours, copyparty)
    if args.profile:
        profile_transfers(report, tools["py-spy"], files, ours, work)
    for peer in (copyparty, nginx, ours):
        peer.server.stop()

    log(f"seeding {plan.list_files:,} files into a fresh database")
    list_dir = work / "ours-list"
    began = time.perf_counter()
    seed_files(list_dir, plan.list_files)
    report.details.append(
        f"seeded {plan.list_files:,} files in {time.perf_counter() - began:.1f} s"
    )
    listing = start_ours(work, list_dir, report.notes)
    servers.append(listing.server)
    bench_listing(report, listing)
    if args.profile:
        profile_listing(report, tools["py-spy"], listing)
        report.notes.append(f"py-spy raw stacks in {PROFILE_DIR.relative_to(REPO)}/")
    listing.server.stop()
    report.notes = list(dict.fromkeys(report.notes))  # each fallback note once
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--rounds", type=int, default=0, help="override the number of rounds")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also record py-spy profiles of the workers (big upload/download)",
    )
    parser.add_argument("--keep-temp", action="store_true", help="keep the temp dir (debugging)")
    args = parser.parse_args()

    # SIGTERM/SIGHUP behave like Ctrl-C, so the finally block below always cleans up
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    work = Path(tempfile.mkdtemp(prefix="upload-bench-"))
    servers: list[Server] = []
    began = time.perf_counter()
    start_load = _load_average()
    try:
        report = run(args, work, servers)
    finally:
        for server in servers:
            server.stop()
        if args.keep_temp:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    load = f"{start_load} / {_load_average()}"
    text = markdown(report, environment(load), time.perf_counter() - began)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    target = RESULTS_DIR / ("quick.md" if args.quick else "latest.md")
    target.write_text(text)
    print(text)
    print(f"(written to {target.relative_to(REPO)})")


def _load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    main()
