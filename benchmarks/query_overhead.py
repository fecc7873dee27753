"""Per-query cost of structured queries through SQOracle (microseconds per query, medians over repeats).

Two tables:

* ``--enumerated`` (the default table): one line per (strategy, d) for d = 10, 16, 20, inside the enumeration
  guard: the median over 5 oracles of the mean time of one ``ask(Character(d, S))`` (the Character's
  construction included) over distinct random supports S, measured after a warm-up query (which compiles
  kernels and builds the oracle's lookup tables).
* ``--junta``: structured queries beyond the guard (d = 32 and 64, the junta path of a target that
  declares its support, docs/theory/juntas.md) against an in-run reference, the same queries at d = 16
  (inside the guard: the enumerated engine's lookups). Every round builds three fresh oracles (d = 16,
  32, 64; target Parity(d, [3, d - 2]), tolerance 0.05, seed = the round) and times ``ask`` over the same
  number of distinct 3-supports on each, in alternating blocks of 25 queries; a line gives, per query form
  (Character, LabelCharacter) and strategy, the median over rounds of the time per query and of the ratio
  to the round's d = 16 time, in this thread's CPU time (``time.thread_time``: the time spent waiting for a
  core is left out) and wall-clock time. On a loaded machine quote the CPU times and the ratios: wall
  times move with the load, CPU times and ratios much less (the three oracles of a round are timed in
  alternation).

Run it against two checkouts to compare (``PYTHONPATH=<checkout> python benchmarks/query_overhead.py``):

    python benchmarks/query_overhead.py                # enumerated table, d = 10, 16, 20
    python benchmarks/query_overhead.py --junta        # beyond the guard: d = 32, 64 against d = 16
    python benchmarks/query_overhead.py --quick        # fewer queries per repeat (either table)
"""

from __future__ import annotations

import itertools
import statistics
import sys
import time

import numpy as np

from sqsim import BooleanCube, Character, LabelCharacter, SQOracle
from sqsim.concepts import Parity

STRATEGIES = ("exact", "adversarial", "rounded", "noisy")
DIMENSIONS = (10, 16, 20)
#: beyond the enumeration guard (junta path) and the in-run reference inside it
JUNTA_DIMENSIONS = (32, 64)
REFERENCE_D = 16
#: the label character's weights in the junta table
WEIGHTS = (0.5, -0.25)


def distinct_supports(d: int, n: int, seed: int = 0) -> list[list[int]]:
    """``n`` distinct nonempty supports (uniform random codes without replacement, none equal to {0})."""
    rng = np.random.default_rng(seed)
    n = min(n, 2**d - 2)
    codes = rng.choice(np.arange(2, 2**d), size=n, replace=False)
    return [[j for j in range(d) if int(c) >> j & 1] for c in codes]


def distinct_triples(d: int, n: int, seed: int = 0) -> list[list[int]]:
    """``n`` distinct 3-supports of [0, d) in random order (at most C(d, 3))."""
    triples = list(itertools.combinations(range(d), 3))
    rng = np.random.default_rng(seed)
    return [list(triples[i]) for i in rng.permutation(len(triples))[:n]]


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


def _make_query(form: str, d: int):
    if form == "Character":
        return lambda s: Character(d, s)
    return lambda s: LabelCharacter(d, s, WEIGHTS)


def _timed_block(o, make, supports) -> tuple[float, float]:
    """(wall, CPU) seconds of ``ask(make(S))`` over ``supports`` (query construction included)."""
    ask = o.ask
    t0, c0 = time.perf_counter(), time.thread_time()
    for s in supports:
        ask(make(s))
    return time.perf_counter() - t0, time.thread_time() - c0


def junta_overhead(answers: str, form: str, n: int = 500, rounds: int = 5, block: int = 25) -> dict:
    """Median us per query (wall clock and this thread's CPU time) at d = 16 (reference) and each junta d,
    and the median per-round ratios to the reference (of CPU times).

    A round builds one fresh oracle per d (each warmed up by one query) and times them in alternation, one
    block of ``block`` queries each, so load changes slower than a few blocks hit all of them alike; CPU
    time leaves out the time the process waited for a core.
    """
    ds = (REFERENCE_D, *JUNTA_DIMENSIONS)
    sups = {d: distinct_triples(d, n) for d in ds}
    wall = {d: [] for d in ds}
    cpu = {d: [] for d in ds}
    ratios = {d: [] for d in JUNTA_DIMENSIONS}
    for r in range(rounds):
        oracles = {}
        for d in ds:
            oracles[d] = SQOracle(BooleanCube(d), Parity(d, [3, d - 2]), 0.05, answers=answers, seed=r)
            oracles[d].ask(Character(d, [0]))  # compile kernels, build the lookup tables
        w_tot, c_tot = dict.fromkeys(ds, 0.0), dict.fromkeys(ds, 0.0)
        for start in range(0, n, block):
            for d in ds:
                w, c = _timed_block(oracles[d], _make_query(form, d), sups[d][start : start + block])
                w_tot[d] += w
                c_tot[d] += c
        for d in ds:
            wall[d].append(w_tot[d] / n * 1e6)
            cpu[d].append(c_tot[d] / n * 1e6)
        for d in JUNTA_DIMENSIONS:
            ratios[d].append(c_tot[d] / c_tot[REFERENCE_D])
    med = statistics.median
    return {"wall_us": {d: med(v) for d, v in wall.items()}, "cpu_us": {d: med(v) for d, v in cpu.items()},
            "ratio": {d: med(v) for d, v in ratios.items()}}


def print_junta_table(n: int, rounds: int) -> None:
    print(f"structured queries beyond the guard: medians of {rounds} rounds of {n} distinct 3-supports, "
          f"CPU us per query [wall us]; ratio = CPU t(d) / CPU t(d={REFERENCE_D}), same round", flush=True)
    for form in ("Character", "LabelCharacter"):
        for answers in STRATEGIES:
            r = junta_overhead(answers, form, n, rounds)
            cells = "  ".join(f"d={d}: {r['cpu_us'][d]:5.1f} [{r['wall_us'][d]:5.1f}] ({r['ratio'][d]:.2f}x)"
                              for d in JUNTA_DIMENSIONS)
            print(f"{form:14s} {answers:12s} d={REFERENCE_D}: {r['cpu_us'][REFERENCE_D]:5.1f} "
                  f"[{r['wall_us'][REFERENCE_D]:5.1f}]  {cells}", flush=True)


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    if "--junta" in sys.argv:
        print_junta_table(200 if quick else 500, 3 if quick else 5)
    else:
        n = 300 if quick else 2000
        for answers in STRATEGIES:
            for d in DIMENSIONS:
                print(f"{answers:12s} d={d:2d}  {per_query_us(d, answers, n):9.1f} us/query", flush=True)
