"""The benchmark's round orders (benchmarks/harness/rounds.py): every peer runs once per round,
and over the rounds every peer comes right after every other one equally often, so a state one
run leaves behind is not always measured against the same neighbour."""

from __future__ import annotations

import sys
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from harness.rounds import balanced


def follows(orders: list[list[str]]) -> Counter[tuple[str, str]]:
    return Counter(pair for order in orders for pair in pairwise(order))


@pytest.mark.parametrize("count", [2, 3, 4, 5, 6])
def test_each_peer_follows_each_other_equally_often(count: int) -> None:
    peers = [f"peer{i}" for i in range(count)]
    rounds = count if count % 2 == 0 else 2 * count
    orders = [balanced(peers, r) for r in range(rounds)]
    assert all(sorted(order) == peers for order in orders)
    pairs = follows(orders)
    assert set(pairs) == {(a, b) for a in peers for b in peers if a != b}
    assert len(set(pairs.values())) == 1
