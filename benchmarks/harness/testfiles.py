"""Random test files, generated into the temp dir before anything is timed."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from harness.common import MiB, log
from harness.plan import Plan


@dataclass
class TestFiles:
    big: Path
    big_sha256: str
    rss_small: Path
    rss_big: Path
    small: list[list[bytes]]  # per round: fresh random bodies, so dedup never kicks in


def random_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes to ``path``; their SHA-256."""
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
    small = [small_bodies(where / f"small-r{r}", plan) for r in range(plan.rounds)]
    return TestFiles(big, big_sha, rss_small, rss_big, small)


def small_bodies(folder: Path, plan: Plan) -> list[bytes]:
    """``plan.small_count`` random files in ``folder``, read back into memory before timing."""
    folder.mkdir()
    paths = [folder / f"f{i:05d}.bin" for i in range(plan.small_count)]
    for path in paths:
        random_file(path, plan.small_size)
    return [path.read_bytes() for path in paths]
