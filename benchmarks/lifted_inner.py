"""Generic Numba queries through the Theorem 3.2 adapter: ms per query and inner draws against the Hoeffding rule.

For d = 16 and Gaussian tolerance tau = 0.02 (Boolean tolerance 0.01, exact strategy), asks distinct
generic Numba queries (a new key each, so each pays its own pilot and inner draws) and reports the
median ms per query with the variance-aware budget (docs/theory/inner-budgets.md) and with today's
Hoeffding K (the same adapter with ``inner_samples`` fixed to it), and the inner draws each used.

* low variance: phi(z, y) = clip(y) tanh(z_0 z_1 + p) (0 wherever the lifted label is 0, ~94 % of the mass);
* high variance: phi(z, y) = tanh(2 (z_0 - z_1) + p) (spread within every cell, whatever the label);
* ``junta=True`` declares reads = (0, 1): the adapter draws per cell of x_R (4 cells).

    python benchmarks/lifted_inner.py           # d = 16, tau = 0.02, 5 queries per case
    python benchmarks/lifted_inner.py --quick   # 3 queries per case
"""

from __future__ import annotations

import statistics
import sys
import time

import numba
import numpy as np

from sqsim import BooleanCube, NumbaQuery, SQOracle
from sqsim._strategies import hoeffding_samples
from sqsim.adapter import LiftedOracle
from sqsim.concepts import Parity
from sqsim.lift import CompressedLift


@numba.njit
def _low(z, y, params):  # pragma: no cover
    return min(1.0, max(-1.0, y)) * np.tanh(z[0] * z[1] + params[0])


@numba.njit
def _high(z, y, params):  # pragma: no cover
    return np.tanh(2.0 * (z[0] - z[1]) + params[0])


def _adapter(d, tau, inner_samples=None):
    lift = CompressedLift(d, q=2, delta=1.0 / d, D=d)
    boolean = SQOracle(BooleanCube(d), Parity(d, [0, 1]), tau / 2, answers="exact", seed=1)
    return LiftedOracle(boolean, lift, inner_samples)


def lifted_generic_ms(d: int = 16, tau: float = 0.02, low_variance: bool = True, junta: bool = False,
                      queries: int = 5) -> dict:
    """Median ms per generic Numba query through the adapter and the inner draws used.

    Returns ``ms`` (variance-aware budget), ``ms_hoeffding`` (the adapter with K fixed at the per-point
    Hoeffding K: today's behaviour), ``K``, ``K_hoeffding`` (the Hoeffding rule's K for the same units),
    ``units`` (Boolean points, or cells of x_R), ``draws`` (units K) and ``draws_hoeffding`` (today's
    2^d K per label value), ``bound`` and ``eps_inner`` of the last query."""
    fn = _low if low_variance else _high
    reads = (0, 1) if junta else None
    warm = _adapter(d, tau)
    warm.ask(NumbaQuery(fn, name="warm", params=[0.5], reads=reads))  # compiles the fused kernels for fn
    o = _adapter(d, tau)
    times, recs = [], []
    for i in range(queries):
        q = NumbaQuery(fn, name=f"q{i}", params=[0.01 * (i + 1)], reads=reads)
        t0 = time.perf_counter()
        o.ask(q)
        times.append(time.perf_counter() - t0)
        recs.append(o.ledger[-1].extra)
    m_h = hoeffding_samples(tau / 4, o.inner_failure_probability)
    units = 4 if junta else 2**d
    K_today = max(1, -(-m_h // 2**d))  # today's rule: per point, Hoeffding
    h = _adapter(d, tau, inner_samples=K_today)
    h.ask(NumbaQuery(fn, name="warm", params=[0.5], reads=reads))
    times_h = []
    for i in range(queries):
        q = NumbaQuery(fn, name=f"q{i}", params=[0.01 * (i + 1)], reads=reads)
        t0 = time.perf_counter()
        h.ask(q)
        times_h.append(time.perf_counter() - t0)
    K = recs[-1]["inner_samples"]
    return {"d": d, "tau": tau, "low_variance": low_variance, "junta": junta,
            "ms": 1e3 * statistics.median(times), "ms_hoeffding": 1e3 * statistics.median(times_h),
            "K": K, "K_hoeffding": max(1, -(-m_h // units)), "units": units, "draws": units * K,
            "draws_hoeffding": 2**d * K_today, "bound": recs[-1]["inner_bound"], "eps_inner": recs[-1]["eps_inner"]}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    n = 3 if "--quick" in argv else 5
    print(f"{'case':<22} {'ms/query':>9} {'ms today':>9} {'K':>8} {'K_H':>8} {'draws':>9} "
          f"{'draws today':>11} bound")
    for junta in (False, True):
        for low in (True, False):
            r = lifted_generic_ms(16, 0.02, low, junta, n)
            name = ("low" if low else "high") + "-variance" + (" junta" if junta else "")
            print(f"{name:<22} {r['ms']:>9.1f} {r['ms_hoeffding']:>9.1f} {r['K']:>8} {r['K_hoeffding']:>8} "
                  f"{r['draws']:>9} {r['draws_hoeffding']:>11} {r['bound']}")
    print(f"\n{numba.config.NUMBA_NUM_THREADS} Numba threads; medians over {n} distinct queries per case; "
          f"draws are inner draws per label value (units x K); 'today' fixes K at the per-point Hoeffding K "
          f"(the adapter before variance-aware budgets); K_H is the Hoeffding rule's K for the same units.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
