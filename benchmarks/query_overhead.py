"""Per-query cost of structured queries through SQOracle (microseconds per query, medians of 5 repeats).

Prints one line per (strategy, d): the median over 5 oracles of the mean time of one
``ask(Character(d, S))`` (the Character's construction included) over distinct random supports S, measured
in this process after a warm-up query (which compiles kernels and builds the oracle's lookup tables).
Run it against two checkouts to compare (the numbers are absolute times, so run both on the same machine
in the same minute and quote the ratio):

    python benchmarks/query_overhead.py            # d = 10, 16, 20
    python benchmarks/query_overhead.py --quick    # fewer queries per repeat
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from sqsim import BooleanCube, Character, SQOracle
from sqsim.concepts import Parity

STRATEGIES = ("exact", "adversarial", "rounded", "noisy")
DIMENSIONS = (10, 16, 20)


def distinct_supports(d: int, n: int, seed: int = 0) -> list[list[int]]:
    """``n`` distinct nonempty supports (uniform random codes without replacement, none equal to {0})."""
    rng = np.random.default_rng(seed)
    n = min(n, 2**d - 2)
    codes = rng.choice(np.arange(2, 2**d), size=n, replace=False)
    return [[j for j in range(d) if int(c) >> j & 1] for c in codes]


def per_query_us(d: int, answers: str, n: int = 2000, repeats: int = 5) -> float:
    supports = distinct_supports(d, n)
    runs = []
    for rep in range(repeats):
        o = SQOracle(BooleanCube(d), Parity(d, [0, 1, 2]), 0.05, answers=answers, seed=rep)
        o.ask(Character(d, [0]))  # compile kernels, build the lookup tables
        t0 = time.perf_counter()
        for s in supports:
            o.ask(Character(d, s))
        runs.append((time.perf_counter() - t0) / len(supports) * 1e6)
    return statistics.median(runs)


if __name__ == "__main__":
    n = 300 if "--quick" in sys.argv else 2000
    for answers in STRATEGIES:
        for d in DIMENSIONS:
            print(f"{answers:12s} d={d:2d}  {per_query_us(d, answers, n):9.1f} us/query", flush=True)
