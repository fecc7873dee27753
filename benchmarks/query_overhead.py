"""Per-query cost of structured queries through SQOracle (microseconds per query, medians of 5 repeats).

Prints one line per (strategy, d): the median time of one ``ask(Character(d, S))`` over distinct supports,
measured in this process. Run it against two checkouts to compare (the numbers are absolute times, so
run both on the same machine in the same minute and quote the ratio):

    python benchmarks/query_overhead.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from sqsim import BooleanCube, Character, SQOracle
from sqsim.concepts import Parity


def per_query_us(d: int, answers: str, n: int = 200) -> float:
    rng = np.random.default_rng(0)
    supports = [sorted(rng.choice(d, size=3, replace=False).tolist()) for _ in range(n)]
    runs = []
    for rep in range(5):
        o = SQOracle(BooleanCube(d), Parity(d, [0, 1, 2]), 0.05, answers=answers, seed=rep)
        o.ask(Character(d, [0]))  # compile and warm caches
        t0 = time.perf_counter()
        for s in supports:
            o.ask(Character(d, s))
        runs.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(runs)


if __name__ == "__main__":
    for answers in ("exact", "adversarial", "rounded", "noisy"):
        for d in (10, 16):
            print(f"{answers:12s} d={d:2d}  {per_query_us(d, answers):9.1f} us/query")
