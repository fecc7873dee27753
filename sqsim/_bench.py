"""Kernel benchmarks: each a ratio against a reference measured in the same run.

``sqsim bench`` (and ``benchmarks/run_benchmarks.py``) prints a table, or with ``--json`` one
JSON object mapping names to {"value", "unit", "reference_value", "ratio"}; ratio is the
speed-up over the in-run reference (> 1 is faster). Times are the best of several repeats
after a warm-up call (which pays the Numba compilation).
"""

from __future__ import annotations

import json
import math
import time

import numba
import numpy as np

from ._kernels import bits, cube, walsh
from ._kernels import reference as ref


def _best(fn, repeats: int, min_seconds: float = 0.2) -> float:
    fn()  # warm-up (compilation, caches)
    best = float("inf")
    start = time.perf_counter()
    for i in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
        if i >= 1 and time.perf_counter() - start > min_seconds * repeats:
            break
    return best


def bench_cube_expectation(d: int, repeats: int) -> dict:
    """Exact E[(1 - 2y) chi_S(x)] over {0,1}^d: popcount kernel vs numpy (points/s)."""
    n = 2**d
    rng = np.random.default_rng(d)
    y = rng.integers(0, 2, n)
    words = bits.pack_bits(y)
    S = int(rng.integers(1, n))
    assert cube.character_sum(S, words, n) == ref.character_sum_np(S, y)
    t = _best(lambda: cube.character_sum(S, words, n), repeats)
    t_ref = _best(lambda: ref.character_sum_np(S, y), max(1, repeats // 5))
    return {"value": n / t, "unit": "points/s", "reference_value": n / t_ref, "ratio": t_ref / t}


@numba.njit(cache=True)
def _bench_phi(x, y, params):  # pragma: no cover
    s = 0
    for j in range(x.shape[0]):
        s += x[j] * (j + 1)
    return (1.0 - 2.0 * y) * ((s % 7) - 3.0) / 3.0


def bench_numba_query(d: int, repeats: int) -> dict:
    """One fused pass of a general Numba query (truth, null pieces, key) vs numpy on all points."""
    n = 2**d
    rng = np.random.default_rng(d)
    lidx = rng.integers(0, 2, n).astype(np.int16)
    lvals = np.array([0.0, 1.0])
    params = np.zeros(0)

    def numpy_twin():
        total = 0.0
        w = np.arange(1, d + 1)
        for start in range(0, n, 2**16):
            codes = np.arange(start, min(n, start + 2**16))
            X = (codes[:, None] >> np.arange(d)) & 1
            g = ((X @ w) % 7 - 3.0) / 3.0
            for vi, v in enumerate(lvals):
                vals = (1 - 2 * v) * g
                total += vals[lidx[codes] == vi].sum()
                ref.key_hash_terms_np(vals, np.uint64(vi * n) + codes.astype(np.uint64))
        return total

    got = cube.fused_query_pass(_bench_phi, params, d, 2, lidx, lvals, 4096)[0].sum()
    assert abs(got - numpy_twin()) < 1e-6 * n
    t = _best(lambda: cube.fused_query_pass(_bench_phi, params, d, 2, lidx, lvals, 4096), repeats)
    t_ref = _best(numpy_twin, max(1, repeats // 5))
    return {"value": n / t, "unit": "points/s", "reference_value": n / t_ref, "ratio": t_ref / t}


def bench_fwht(d: int, repeats: int) -> dict:
    """Walsh-Hadamard transform of 2^d doubles: ns per element per stage vs a numpy reshape version."""
    n = 2**d
    x = np.random.default_rng(d).standard_normal(n)
    assert np.allclose(walsh.fwht_inplace(x.copy(), walsh.BLOCK_BITS)[:64], ref.fwht_np(x)[:64])
    buf = x.copy()
    t = _best(lambda: walsh.fwht_inplace(buf, walsh.BLOCK_BITS), repeats)
    t_ref = _best(lambda: ref.fwht_np(x), max(1, repeats // 5))
    per = 1e9 / (n * d)
    return {"value": t * per, "unit": "ns/element/stage", "reference_value": t_ref * per, "ratio": t_ref / t}


def bench_network(d: int, units: int, n: int, repeats: int) -> dict:
    """A one-hidden-layer ReLU network (d inputs, ``units`` units): Numba pass vs numpy matmuls (points/s)."""
    from .concepts import ReLUNetwork

    rng = np.random.default_rng(d)
    net = ReLUNetwork([rng.standard_normal((d, units)), rng.standard_normal((units, 1))],
                      [rng.standard_normal(units), rng.standard_normal(1)])
    X = rng.standard_normal((n, d))
    assert np.allclose(net(X[:1000]), net.evaluate_numpy(X[:1000]))
    t = _best(lambda: net(X), repeats)
    t_ref = _best(lambda: net.evaluate_numpy(X), repeats)
    return {"value": n / t, "unit": "points/s", "reference_value": n / t_ref, "ratio": t_ref / t}


def bench_lifted(d: int, k: int, n: int, repeats: int) -> dict:
    """A lifted parity of k variables on Gaussian(d) (D = k, delta = 1/d): closed form and explicit network."""
    from .concepts import Parity
    from .lift import CompressedLift

    g = CompressedLift(d, q=2, delta=1.0 / d, D=k).lift(Parity(d, list(range(k))))
    Z = np.random.default_rng(d).standard_normal((n, d))
    assert np.allclose(g(Z[:2000]), g.evaluate_numpy(Z[:2000]))
    net = g.network
    out = {}
    t = _best(lambda: g(Z), repeats)
    t_ref = _best(lambda: g.evaluate_numpy(Z), max(1, repeats // 4))
    out[f"lifted_closed_form_d{d}"] = {"value": n / t, "unit": "points/s", "reference_value": n / t_ref,
                                       "ratio": t_ref / t}
    m = max(1, n // 10)
    t = _best(lambda: net(Z[:m]), repeats)
    t_ref = _best(lambda: net.evaluate_numpy(Z[:m]), max(1, repeats // 4))
    out[f"lifted_network_d{d}"] = {"value": m / t, "unit": "points/s", "reference_value": m / t_ref,
                                   "ratio": t_ref / t}
    return out


def bench_adapter(d: int, K: int, n: int, repeats: int) -> dict:
    """Boolean points/s through the adapter: K cell-conditioned draws per point, N2, phi_D, the label map
    and a correlational query y~ tanh(z_0) (declared to read z_0 only), the fused Numba kernel against
    the numpy twin that draws every coordinate (the same streams are checked equal first)."""
    from ._kernels.adapter import cell_draws
    from ._kernels.reference import cell_draws_np
    from .lift import CompressedLift
    from .lift._n3 import phi_table

    lift = CompressedLift(d, q=2, delta=1.0 / d, D=8)
    i, c = lift.intervals, lift.constants
    codes = np.random.default_rng(d).integers(0, 2**d, n).astype(np.int64)
    y = (codes & 1).astype(np.float64)
    args = (i.boundaries, i.L, i.l, i.r, i.U, phi_table(c), float(c.kmax), float(c.kappa))

    def finish(Z, mult):
        return (np.repeat(y, K) * mult * np.tanh(Z[:, 0])).reshape(n, K).mean(axis=1)

    a = finish(*cell_draws(codes, d, 2, K, np.uint64(7), *args))
    b = finish(*cell_draws_np(codes, d, 2, K, 7, lift))
    assert np.allclose(a, b, atol=1e-12)
    from ._kernels.adapter import fused_image

    every = np.ones(d, dtype=np.uint8)
    fused = fused_image(_bench_corr, np.zeros(0), codes, y, d, 2, K, np.uint64(7), every, 0.0, *args)[0]
    assert np.allclose(fused, a, atol=1e-12)
    # the query reads z_0 only: the other coordinates are drawn (their N2 counts) but passed as NaN
    reads = np.zeros(d, dtype=np.uint8)
    reads[0] = 1
    p_in_s = math.erf(lift.intervals.U[0] / math.sqrt(2))
    t = _best(lambda: fused_image(_bench_corr, np.zeros(0), codes, y, d, 2, K, np.uint64(7), reads, p_in_s, *args),
              repeats)
    t_ref = _best(lambda: finish(*cell_draws_np(codes, d, 2, K, 7, lift)), max(1, repeats // 5))
    return {"value": n / t, "unit": "Boolean points/s", "reference_value": n / t_ref, "ratio": t_ref / t}


@numba.njit(cache=True)
def _bench_corr(z, y, params):  # pragma: no cover
    return y * math.tanh(z[0])


def bench_sq_query_overhead(d: int, n: int, repeats: int) -> dict:
    """Microseconds per structured query through SQOracle (exact strategy; the Character's construction
    included) against the same query as a plain Query with the same values (the generic enumerated path).

    Each repeat asks distinct supports of a fresh oracle after one warm-up query (which builds the lookup
    tables); the best repeat counts. The two paths are first checked to give the same key and truth.
    """
    from . import BooleanCube, Character, Query, SQOracle
    from .concepts import Parity

    rng = np.random.default_rng(d)
    codes = rng.choice(np.arange(2, 2**d), size=min(n + 1, 2**d - 2), replace=False)
    sups = [[j for j in range(d) if int(c) >> j & 1] for c in codes]

    def plain(s):
        return Query(lambda X, y: (1.0 - 2.0 * y) * (1.0 - 2.0 * (X[:, s].sum(axis=1) % 2)), name="plain")

    def oracle():
        return SQOracle(BooleanCube(d), Parity(d, [0, 1, 2]), 0.05, answers="exact", seed=0)

    a, b = oracle(), oracle()
    a.ask(Character(d, sups[0]))
    b.ask(plain(sups[0]))
    assert a.ledger[0].key == b.ledger[0].key and a.ledger[0].truth == b.ledger[0].truth

    def per_query(make, count: int, reps: int) -> float:
        best = float("inf")
        for _ in range(reps):
            o = oracle()
            o.ask(make(sups[0]))  # warm-up: compilation, lookup tables
            t = time.perf_counter()
            for s in sups[1 : count + 1]:
                o.ask(make(s))
            best = min(best, (time.perf_counter() - t) / count)
        return best

    t = per_query(lambda s: Character(d, s), n, max(3, repeats // 4))
    t_ref = per_query(plain, max(5, n // 100), 3)
    return {"value": t * 1e6, "unit": "us/query", "reference_value": t_ref * 1e6, "ratio": t_ref / t}


@numba.njit(cache=True)
def _bench_low_variance(z, y, params):  # pragma: no cover
    return min(1.0, max(-1.0, y)) * math.tanh(z[0] * z[1] + params[0])


def _lifted_adapter(d: int, tau: float, inner_samples=None):
    from . import BooleanCube, SQOracle
    from .adapter import LiftedOracle
    from .concepts import Parity
    from .lift import CompressedLift

    lift = CompressedLift(d, q=2, delta=1.0 / d, D=d)
    boolean = SQOracle(BooleanCube(d), Parity(d, [0, 1]), tau / 2, answers="adversarial", seed=1)
    return LiftedOracle(boolean, lift, inner_samples)


def _ms_per_query(oracle, queries) -> float:
    times = []
    for q in queries:
        t = time.perf_counter()
        oracle.ask(q)
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def bench_lifted_structured(d: int, n: int, n_ref: int, tau: float = 0.025) -> dict:
    """ms per LiftedCharacter through LiftedOracle (an exact Boolean image, docs/theory/lifted-images.md)
    against the generic inner Monte Carlo path on the same query (a plain Query with the same values).

    Median over distinct supports on one adapter after a warm-up query; the adversarial Boolean strategy.
    """
    from . import Query
    from .lift import LiftedCharacter

    rng = np.random.default_rng(d)
    sups = [sorted(rng.choice(d, size=3, replace=False).tolist()) for _ in range(n + n_ref + 2)]
    o = _lifted_adapter(d, tau)
    o.ask(LiftedCharacter(d, sups[0]))
    t = _ms_per_query(o, [LiftedCharacter(d, s) for s in sups[1 : n + 1]])

    def plain(s):
        lc = LiftedCharacter(d, s)
        return Query(lambda Z, y: lc.values(Z, y), name="plain-lifted-character")

    r = _lifted_adapter(d, tau)
    r.ask(plain(sups[-1]))
    t_ref = _ms_per_query(r, [plain(s) for s in sups[n + 1 : n + 1 + n_ref]])
    return {"value": t, "unit": "ms/query", "reference_value": t_ref, "ratio": t_ref / t}


def bench_lifted_generic(d: int, n: int, tau: float = 0.02) -> dict:
    """ms per generic (low-variance) Numba query through the adapter with the variance-aware inner budget
    (docs/theory/inner-budgets.md) against the same queries with K fixed at the Hoeffding rule's."""
    from . import NumbaQuery
    from ._strategies import hoeffding_samples

    def queries(tag):
        return [NumbaQuery(_bench_low_variance, name=f"{tag}{i}", params=[0.01 * (i + 1)]) for i in range(n)]

    o = _lifted_adapter(d, tau)
    o.ask(NumbaQuery(_bench_low_variance, name="warm", params=[0.5]))
    t = _ms_per_query(o, queries("q"))
    K = max(1, -(-hoeffding_samples(tau / 4, o.inner_failure_probability) // 2**d))
    h = _lifted_adapter(d, tau, inner_samples=K)
    h.ask(NumbaQuery(_bench_low_variance, name="warm", params=[0.5]))
    t_ref = _ms_per_query(h, queries("q"))
    return {"value": t, "unit": "ms/query", "reference_value": t_ref, "ratio": t_ref / t}


def _numpy_sgd_step(params, X, y, lr):
    """The in-run reference of ``sgd_mlp_steps``: one hinge-loss SGD step of a one-hidden-layer ReLU network in numpy."""
    (W1, b1), (W2, b2) = params
    pre = X @ W1 + b1
    h = np.maximum(pre, 0.0)
    pred = (h @ W2 + b2)[:, 0]
    g = (-y * (1.0 - y * pred > 0) / X.shape[0])[:, None]  # d mean(max(0, 1 - y pred)) / d pred
    gh = (g @ W2.T) * (pre > 0)
    return [(W1 - lr * (X.T @ gh), b1 - lr * gh.sum(0)), (W2 - lr * (h.T @ g), b2 - lr * g.sum(0))]


def bench_sgd_mlp(d: int, width: int, batch: int, steps: int, repeats: int) -> dict | None:
    """SGD steps/s of the sgd-mlp program (hinge loss, one hidden layer, jitted scan) vs the numpy step.

    None without the nn extra (JAX, optax): the entry is then left out.
    """
    try:
        from .nn import MLP, require_optax
        from .nn._train import SGDProgram

        require_optax("sqsim bench")
    except ImportError:
        return None
    import jax

    lr = 0.1
    prog = SGDProgram(MLP(d, (width,)), "hinge", "sgd", lr)
    state = prog.init(jax.random.split(jax.random.PRNGKey(0), 1))
    rng = np.random.default_rng(d)
    X = (1.0 - 2.0 * rng.integers(0, 2, size=(1, steps, batch, d))).astype(np.float32)
    Y = (1.0 - 2.0 * ((X[..., :3] < 0).sum(-1) % 2)).astype(np.float32)  # a 3-sparse parity
    active = np.ones(1, dtype=bool)
    params = [(np.asarray(W[0], dtype=np.float64), np.asarray(b[0], dtype=np.float64)) for W, b in state[0]]
    one, _ = prog.run(state, X[:, :1], Y[:, :1], active)  # the numpy step agrees with the program's first step
    ref_one = _numpy_sgd_step(params, X[0, 0].astype(np.float64), Y[0, 0].astype(np.float64), lr)
    assert all(np.allclose(np.asarray(a[0]), b, atol=1e-4) for la, lb in zip(one[0], ref_one) for a, b in zip(la, lb))

    def program():
        jax.block_until_ready(prog.run(state, X, Y, active))

    def numpy_twin():
        p = params
        for i in range(steps):
            p = _numpy_sgd_step(p, X[0, i], Y[0, i], lr)

    t = _best(program, repeats)
    t_ref = _best(numpy_twin, max(1, repeats // 4))
    return {"value": steps / t, "unit": "steps/s", "reference_value": steps / t_ref, "ratio": t_ref / t}


def bench_sda_parities(d: int, d_ref: int, repeats: int) -> dict:
    """Seconds for the certified SDA (gamma = 1/4) of all 2^d - 1 nonempty parities: the streaming kernel
    (docs/theory/dimension.md, section "Character families") against the dense numpy path (the full matrix,
    then sorted rows) at d_ref in the same run, scaled per matrix entry to d."""
    from .dimension import orthonormal_sda, pairwise_correlations, sda

    def run(dim, streaming):
        m = pairwise_correlations(Parities(dim), members=range(1, 2**dim), streaming=streaming)
        return sda(m, gamma=0.25)

    from .concepts import Parities

    r = run(d, True)  # warm-up (compilation) and check
    assert r.lower == r.upper == orthonormal_sda(2**d - 1, 0.25)
    t = _best(lambda: run(d, True), repeats)
    start = time.perf_counter()  # the numpy reference compiles nothing: one timed run, checked
    r = run(d_ref, False)
    t_ref = (time.perf_counter() - start) * ((2**d - 1) / (2**d_ref - 1)) ** 2
    assert r.lower == r.upper == orthonormal_sda(2**d_ref - 1, 0.25)
    return {"value": t, "unit": "s", "reference_value": t_ref, "ratio": t_ref / t}


def collect(quick: bool = False, smoke: bool = False) -> dict:
    """Every benchmark, by name. ``smoke`` runs each at a tiny size (one repeat) only to check that it
    runs and reports its fields (the test suite uses it); its numbers are not the named sizes'."""
    reps = 1 if smoke else 5 if quick else 20
    big = 12 if smoke else 24  # the cube and transform sizes of the "_d24" entries
    out = {}
    for d, name in (((16, 16), (big, 24)) if quick or smoke else ((16, 16), (20, 20), (24, 24))):
        out[f"cube_expectation_d{name}"] = bench_cube_expectation(min(d, big), reps)
    out["cube_numba_query_d20"] = bench_numba_query(12 if smoke else 16 if quick else 20, reps)
    for d in (20, 24):
        out[f"fwht_d{d}"] = bench_fwht(min(d, big), reps)
    out["network_d32"] = bench_network(32, 64, 2_000 if smoke else 100_000 if quick else 1_000_000, reps)
    out.update(bench_lifted(16, 8, 2_000 if smoke else 100_000 if quick else 1_000_000, reps))
    out["adapter_d16"] = bench_adapter(16, 64, 200 if smoke else 2_000 if quick else 20_000, reps)
    out["sq_query_overhead"] = bench_sq_query_overhead(16, 50 if smoke else 500 if quick else 5_000, reps)
    out["lifted_query_structured_d16"] = bench_lifted_structured(16, 5 if smoke else 50 if quick else 500,
                                                                 1 if smoke else 2 if quick else 5)
    out["lifted_query_generic_d16"] = bench_lifted_generic(10 if smoke else 16, 1 if smoke else 3 if quick else 5)
    sgd = bench_sgd_mlp(20, 256, 32, 20 if smoke else 200 if quick else 1000, reps)
    if sgd is not None:  # the nn extra is installed
        out["sgd_mlp_steps"] = sgd
    out["sda_parities_d16"] = bench_sda_parities(10 if smoke else 16, 8 if smoke else 12, reps if smoke else
                                                 2 if quick else 5)
    return out


def run_all(quick: bool = False, as_json: bool = False, smoke: bool = False) -> int:
    results = collect(quick, smoke)
    if as_json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'benchmark':<24} {'value':>12} {'unit':<18} {'reference':>12} {'ratio':>8}")
    for name, r in results.items():
        print(f"{name:<24} {r['value']:>12.4g} {r['unit']:<18} {r['reference_value']:>12.4g} {r['ratio']:>7.1f}x")
    print(f"\n{numba.config.NUMBA_NUM_THREADS} Numba threads; references are numpy twins measured in this run.")
    return 0
