#!/usr/bin/env python3
"""S3 benchmark (issue #9): uploads through our server and signed direct uploads, each against
boto3 ``upload_fileobj`` straight to the same S3 endpoint, and peak server RSS during a 1 GiB
upload to S3.

    .venv/bin/python benchmarks/direct_upload.py [--size-mib 256] [--rss-size-mib 1024] [--rounds 3]

Starts ``moto_server`` (S3) and a real ``upload-service serve`` (SQLite, S3 storage) in a
temporary directory. Goals: through the server >= 0.8x boto3; signed direct upload + complete
>= 0.9x boto3; peak server RSS during a 1 GiB upload <= 150 MiB.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tus import PeakRSS, _tree_rss

from tests.fixtures.server import running_server
from upload_service.client.transfer import HashingReader, MultipartBody

MiB = 1024 * 1024
TIMEOUT = 900
AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    log = (work / "moto.log").open("wb")
    process = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(url, timeout=1)
            return process, url
        except requests.ConnectionError:
            time.sleep(0.05)
    raise SystemExit("moto_server did not start")


def write_file(path: Path, size_mib: int) -> None:
    block = os.urandom(MiB)
    with path.open("wb") as out:
        for _ in range(size_mib):
            out.write(block)


def timed(action: Callable[[], object], rounds: int) -> float:
    """The median of ``rounds`` runs, in seconds."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def boto3_straight(s3: object, bucket: str, path: Path) -> None:
    with path.open("rb") as body:
        s3.upload_fileobj(body, bucket, f"straight/{secrets.token_hex(4)}")  # type: ignore[attr-defined]


def through_server(url: str, auth: dict[str, str], path: Path) -> None:
    with path.open("rb") as body:
        response = requests.put(
            f"{url}/api/fs/bench/through.bin?on_conflict=replace",
            data=body,
            headers=auth,
            timeout=TIMEOUT,
        )
    response.raise_for_status()


def signed_direct(url: str, auth: dict[str, str], path: Path) -> None:
    size = path.stat().st_size
    body = {"path": "bench/direct.bin", "size": size, "on_conflict": "replace"}
    signed = requests.post(f"{url}/api/uploads", json=body, headers=auth, timeout=TIMEOUT)
    signed.raise_for_status()
    answer = signed.json()
    with path.open("rb") as file:
        form = MultipartBody(answer["fields"], "direct.bin", HashingReader(file, size, _nop, "f"))
        posted = requests.post(answer["url"], data=form, headers=form.headers, timeout=TIMEOUT)
    posted.raise_for_status()
    done = requests.post(
        f"{url}/api/uploads/{answer['upload_id']}/complete", headers=auth, timeout=TIMEOUT
    )
    done.raise_for_status()


def _nop(_sent: int) -> None:
    return None


def _process_peaks(pid: int) -> int:
    """The largest VmRSS of any one process in ``pid``'s group."""
    largest = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[2]) != pid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):  # the process's own peak resident size
                    largest = max(largest, int(line.split()[1]) * 1024)
        except (OSError, IndexError, ValueError):
            continue
    return largest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--rss-size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.update(AWS)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        moto, endpoint = start_moto(work)
        try:
            run(args, work, endpoint)
        finally:
            moto.terminate()
            moto.wait(timeout=30)


def run(args: argparse.Namespace, work: Path, endpoint: str) -> None:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=AWS["AWS_DEFAULT_REGION"])
    bucket = f"bench-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=bucket)
    source = work / "source.bin"
    write_file(source, args.size_mib)
    (work / "server").mkdir()
    settings = {
        **AWS,
        "STORAGE_URL": f"s3://{bucket}/uploads",
        "S3_ENDPOINT_URL": endpoint,
        "S3_REGION": AWS["AWS_DEFAULT_REGION"],
        "RATELIMIT_ENABLED": "false",
        "SWEEP_INTERVAL": "0",
    }
    with running_server(work / "server", **settings) as server:
        auth = {"Authorization": f"Bearer {server.create_token()}"}
        size = args.size_mib * MiB
        straight = timed(lambda: boto3_straight(s3, bucket, source), args.rounds)
        ours = timed(lambda: through_server(server.url, auth, source), args.rounds)
        direct = timed(lambda: signed_direct(server.url, auth, source), args.rounds)
        print(f"{args.size_mib} MiB to S3 (moto), median of {args.rounds}:")
        print(
            f"  boto3 upload_fileobj straight  {straight:6.2f} s  "
            f"{size / straight / MiB:7.1f} MiB/s"
        )
        print(
            f"  PUT /api/fs through the server {ours:6.2f} s  {size / ours / MiB:7.1f} MiB/s"
            f"  ratio {straight / ours:.2f}x (goal >= 0.8)"
        )
        print(
            f"  signed direct upload + complete {direct:5.2f} s  {size / direct / MiB:7.1f} MiB/s"
            f"  ratio {straight / direct:.2f}x (goal >= 0.9)"
        )
        big = work / "big.bin"
        write_file(big, args.rss_size_mib)
        idle = _tree_rss(server.process.pid)
        sampler = PeakRSS(server.process.pid)
        sampler.start()
        through_server(server.url, auth, big)
        sampler.running = False
        sampler.join()
        print(
            f"peak server RSS during a {args.rss_size_mib} MiB upload to S3: "
            f"largest process {_process_peaks(server.process.pid) / MiB:.0f} MiB (goal <= 150), "
            f"all processes together {sampler.peak / MiB:.0f} MiB (idle {idle / MiB:.0f} MiB)"
        )


if __name__ == "__main__":
    main()
