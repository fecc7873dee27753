"""Variance-aware inner budgets and per-cell junta draws of the Theorem 3.2 adapter (docs/theory/inner-budgets.md)."""

import math

import numba
import numpy as np
import pytest

from sqsim import BooleanCube, NumbaQuery, Query, QueryContractError, QueryRangeError, SQOracle
from sqsim._kernels import adapter as kadapter
from sqsim._kernels import reference as ref
from sqsim._strategies import hoeffding_error, hoeffding_samples
from sqsim.adapter import LiftedOracle
from sqsim.concepts import Parity
from sqsim.lift import CompressedLift
from sqsim.oracles._inner import (_BooleanImage, bernstein_error, bernstein_samples, inner_budget, monte_carlo_image,
                                  nonnegative_mean_ucb)

TRIALS = 20_000


def _misses_ok(misses, trials, delta):
    """Misses within the declared rate delta at 4 standard errors."""
    return misses <= trials * delta + 4 * math.sqrt(trials * delta * (1 - delta))


# ---- coverage of the bound functions the adapter uses --------------------------------------------

@pytest.mark.parametrize("delta", [0.05, 0.01])
@pytest.mark.parametrize("p", [0.02, 0.5])  # low- and high-variance nonnegative data with known mean
def test_nonnegative_mean_ucb_covers(delta, p):
    rng = np.random.default_rng(int(1000 * delta + 10 * p))
    n, b = 200, 2.0
    X = b * (rng.random((TRIALS, n)) < p) * rng.random((TRIALS, n))  # values in [0, 2], mean b p / 2
    mu = b * p / 2
    misses = sum(nonnegative_mean_ucb(row, delta, b) < mu for row in X)
    assert _misses_ok(misses, TRIALS, delta), (misses, TRIALS * delta)
    # not vacuous: the bound is far below the range on low-variance data
    assert np.median([nonnegative_mean_ucb(row, delta, b) for row in X[:200]]) < (0.2 if p < 0.1 else 1.3)


@pytest.mark.parametrize("delta", [0.05, 0.01])
@pytest.mark.parametrize("scale", [0.1, 1.0])
def test_bernstein_error_covers(delta, scale):
    rng = np.random.default_rng(int(1000 * delta + scale * 7))
    n = 400
    # terms in [-1, 1] with mean 0.3 scale and variance <= scale^2 (|X - E X| <= 2)
    X = np.clip(0.3 * scale + scale * rng.uniform(-1, 1, (TRIALS, n)) * math.sqrt(3), -1, 1)
    mean = float(np.mean(np.clip(0.3 * scale + scale * rng.uniform(-1, 1, 4_000_000) * math.sqrt(3), -1, 1)))
    var = scale**2
    eps = bernstein_error(n, var, delta)
    misses = int(np.sum(np.abs(X.mean(axis=1) - mean) >= eps))
    assert _misses_ok(misses, TRIALS, delta), (misses, TRIALS * delta)
    if scale < 1:
        assert eps < hoeffding_error(n, delta) / 3  # low variance pays far less than Hoeffding


def test_bernstein_samples_is_the_smallest():
    for eps, v, delta in [(0.005, 0.03, 9e-7), (0.01, 1.0, 1e-6), (0.1, 1e-4, 0.05)]:
        n = bernstein_samples(eps, v, delta)
        assert bernstein_error(n, v, delta) <= eps < bernstein_error(n - 1, v, delta)
    # the closed form solves n^2 eps^2 = 2 L (n v + b n eps / 3)
    n, v, delta = 1000, 0.2, 0.01
    e, L = bernstein_error(n, v, delta), math.log(2 / 0.01)
    assert abs((n * e) ** 2 - 2 * L * (n * v + 2.0 * n * e / 3)) < 1e-9 * (n * e) ** 2


@pytest.mark.parametrize("delta", [0.05, 0.01])
@pytest.mark.parametrize("p", [0.03, 0.6])
def test_pilot_then_bernstein_covers(delta, p):
    """The composed procedure: a pilot UCB at delta_1 = delta / 10, then Bernstein at delta_2 = 0.9 delta with
    the main sample size chosen from the pilot; misses of the main mean within delta."""
    rng = np.random.default_rng(int(100 * delta + 10 * p))
    d1, d2, eps = delta / 10, 0.9 * delta, 0.05
    misses = 0
    for _ in range(TRIALS):
        # one term: label-like: 0 with probability 1 - p, else a spread value (mean p * 0.25)
        pilot = (rng.random((2, 200)) < p) * rng.uniform(-0.5, 1.0, (2, 200))
        S = (pilot[0] - pilot[1]) ** 2 / 2  # the pair statistic: E S = Var
        v = min(1.0, nonnegative_mean_ucb(S, d1, 2.0))
        n = bernstein_samples(eps, v, d2)
        main = (rng.random(n) < p) * rng.uniform(-0.5, 1.0, n)
        misses += abs(main.mean() - p * 0.25) >= bernstein_error(n, v, d2)
    assert _misses_ok(misses, TRIALS, delta), (misses, TRIALS * delta)


# ---- the adapter's budget --------------------------------------------------------------------------

@numba.njit
def _low(z, y, params):
    return min(1.0, max(-1.0, y)) * np.tanh(z[0] * z[1] + params[0])


@numba.njit
def _high(z, y, params):
    return np.tanh(2.0 * (z[0] - z[1]) + params[0])


@numba.njit
def _cellwise(z, y, params):
    return 1.0 if z[0] > 0 else -1.0


def _adapter(d=8, tau_b=0.01, seed=1, inner_samples=None, answers="exact", S=(0, 1)):
    lift = CompressedLift(d, q=2, delta=1.0 / d, D=d)
    return LiftedOracle(SQOracle(BooleanCube(d), Parity(d, list(S)), tau_b, answers=answers, seed=seed), lift,
                        inner_samples)


def _direct(o, query, n=400_000, seed=0):
    g = o.lift.lift(Parity(o.lift.d, [0, 1]))
    Z = np.random.default_rng(seed).standard_normal((n, o.lift.d))
    v = query.values(Z, g(Z), False)
    return v.mean(), v.std() / math.sqrt(n)


def test_low_variance_queries_pay_less_and_stay_accurate():
    o = _adapter()
    K_h = max(1, math.ceil(hoeffding_samples(o.tolerance / 4, o.inner_failure_probability) / 2**8))
    for fn, less in ((_low, 20), (_cellwise, 20), (_high, 1)):
        q = NumbaQuery(fn, name=fn.__name__, params=[0.1])
        a = o.ask(q)
        rec = o.ledger[-1].extra
        assert rec["eps_inner"] <= o.tolerance / 4 and rec["inner_samples"] <= K_h
        if less > 1:
            assert rec["inner_bound"] == "bernstein-pilot" and rec["inner_samples"] * less <= K_h, rec
        mc, se = _direct(o, q)
        assert abs(a - mc) <= o.tolerance + 5 * se, (fn.__name__, a, mc)
    assert o.ledger[-1].failure_probability == pytest.approx(o.boolean.ledger[-1].failure_probability + 1e-6)


def test_budget_is_deterministic_per_seed_and_key_and_user_K_is_kept():
    q = NumbaQuery(_low, name="low", params=[0.2])
    a, b = _adapter(seed=3), _adapter(seed=3)
    a.ask(q), b.ask(q), a.ask(q)
    ka = [r.extra["inner_samples"] for r in a.ledger]
    assert ka[0] == ka[1] == b.ledger[0].extra["inner_samples"] and a.ledger[0].answer == a.ledger[1].answer
    img1 = monte_carlo_image(a, q, "k", np.uint64(5))
    img2 = monte_carlo_image(a, q, "k", np.uint64(5))
    img3 = monte_carlo_image(a, q, "k", np.uint64(6))
    assert img1.inner_samples == img2.inner_samples and img1.variance_bound == img2.variance_bound
    assert img3.variance_bound != img1.variance_bound  # another seed: another pilot
    fixed = _adapter(inner_samples=5000)
    fixed.ask(q)
    rec = fixed.ledger[0].extra
    assert rec["inner_samples"] == 5000 and rec["inner_bound"] == "hoeffding"
    assert rec["eps_inner"] == hoeffding_error(2**8 * 5000, 1e-6)


def test_fallback_is_never_worse_than_hoeffding():
    o = _adapter()
    for fn in (_high, _low):
        for units in (1, 7, 256):
            b = inner_budget(o, NumbaQuery(fn, name="h", params=[0.0]), np.uint64(9), units)
            K_h = max(1, math.ceil(hoeffding_samples(o.tolerance / 4, 1e-6) / units))
            assert b.hoeffding_K == K_h and b.K <= K_h and b.eps <= o.tolerance / 4
            assert b.pilot_delta < 1e-6 * 0.11


def test_real_labels_fall_back_to_hoeffding():
    from sqsim import ZqCube
    from sqsim.concepts import LWR

    o = LiftedOracle(SQOracle(ZqCube(3, 3), LWR(3, 3, 2, secret=[1, 2, 0]), 0.02, seed=0),
                     CompressedLift(3, q=3, delta=1e-2, D=6))
    assert o.label_values is None
    o.ask(NumbaQuery(_low, name="low", params=[0.0]))
    assert o.ledger[0].extra["inner_bound"] == "hoeffding" and o.ledger[0].extra["eps_inner"] <= o.tolerance / 4


# ---- juntas --------------------------------------------------------------------------------------

def test_junta_draws_agree_with_per_point_in_expectation():
    o = _adapter(d=8)
    d = 8
    codes = np.arange(2**d, dtype=np.int64)
    q = NumbaQuery(_high, name="h", params=[0.3], reads=[0, 1])
    img = monte_carlo_image(o, q, "k", np.uint64(11))
    assert img.inner_cells == 4 and img.reads == (0, 1) and img.inner_units == 4
    X = o.boolean.domain.decode(codes)
    lean = img.values(X, np.ones(2**d), False)
    # phi_B depends on x only through x_R: constant on each cell
    cells = (codes & 3)
    assert all(np.ptp(lean[cells == c]) == 0 for c in range(4))
    # the per-point image (no reads: every coordinate drawn per point) agrees in expectation
    full = monte_carlo_image(o, NumbaQuery(_high, name="h", params=[0.3]), "k", np.uint64(12))
    pp = full.values(X, np.ones(2**d), False)
    K_pp, K_j = full.inner_samples, img.inner_samples
    for c in range(4):
        diff = lean[cells == c][0] - pp[cells == c].mean()
        se = math.sqrt(1.0 / K_j + 1.0 / (K_pp * 64))
        assert abs(diff) <= 5 * se, (c, diff, se)
    # and a Python query declaring the same reads gets the same values as the Numba one (same draws)
    pyq = Query(lambda Z, y: np.tanh(2.0 * (Z[:, 0] - Z[:, 1]) + 0.3), name="h", reads=[0, 1])
    pimg = _BooleanImage(o, pyq, np.uint64(11), img.inner_samples, reads=(0, 1))
    assert np.max(np.abs(pimg.values(X, np.ones(2**d), False) - lean)) <= 1e-12


def test_junta_answers_within_tau_for_every_strategy():
    for strategy in ("exact", "noisy", "adversarial", "sampled"):
        o = _adapter(d=8, tau_b=0.01, answers=strategy, seed=2)
        for fn in (_low, _high):
            q = NumbaQuery(fn, name=fn.__name__, params=[0.05], reads=[0, 1])
            a = o.ask(q)
            mc, se = _direct(o, q)
            slack = 0.0 if strategy != "sampled" else 1.0
            assert abs(a - mc) <= o.tolerance + 5 * se + slack, (strategy, fn.__name__, a, mc)
            assert o.ledger[-1].extra["eps_inner"] <= o.tolerance / 4


@numba.njit
def _tanh3(z, y, params):
    return np.tanh(3.0 * z[0])


def test_junta_large_K_walks_blocks(monkeypatch):
    """Two cells, K above ROWS: the Python path walks the draws in blocks and agrees with the Numba path."""
    from sqsim.oracles import _inner

    monkeypatch.setattr(_inner, "ROWS", 5000)
    o = _adapter(d=6, tau_b=0.01)
    img = monte_carlo_image(o, Query(lambda Z, y: np.tanh(3.0 * Z[:, 0]), name="t3", reads=[0]), "k", np.uint64(3))
    assert img.inner_cells == 2 and img.inner_samples > _inner.ROWS
    X = o.boolean.domain.decode(np.arange(64))
    v = img.values(X, np.ones(64), False)
    nimg = _BooleanImage(o, NumbaQuery(_tanh3, name="t3", reads=[0]), np.uint64(3), img.inner_samples, reads=(0,))
    assert np.max(np.abs(nimg.values(X, np.ones(64), False) - v)) <= 1e-12
    from scipy import integrate

    exact = 2 * integrate.quad(lambda t: np.tanh(3 * t) * np.exp(-t * t / 2) / np.sqrt(2 * np.pi), 0, np.inf)[0]
    assert abs(v[1] - exact) < 0.01 and abs(v[0] + exact) < 0.01  # E[tanh(3 z_0) | x_0] = +-E[tanh(3 |g|)]
    # block sums in order: K over several blocks equals the plain mean over one big draw
    K = 2 * kadapter.KBLOCK + 17
    codes = np.array([5], dtype=np.int64)
    a = kadapter.fused_image_labels(_high, np.array([0.3]), codes, np.ones((1, 1)), 6, 2, K, np.uint64(8),
                                    np.ones(6, np.uint8), *o._kernel_args)[0][0, 0]
    Z, mult = kadapter.cell_draws(codes, 6, 2, K, np.uint64(8), *o._kernel_args)
    assert abs(a - np.mean(np.tanh(2.0 * (Z[:, 0] - Z[:, 1]) + 0.3))) <= 1e-12


def test_reads_violations_are_refused():
    o = _adapter(d=8)

    @numba.njit
    def liar_cmp(z, y, params):  # reads z[5] through a comparison (NaN-blind): the randomized check sees it
        return 0.5 if z[5] > 0 else -0.5

    @numba.njit
    def liar_arith(z, y, params):
        return np.tanh(z[0] + 0.0 * z[6])  # NaN through arithmetic, invisible to the pilot's check

    fp = o.boolean.ledger.fingerprint()
    with pytest.raises(QueryContractError, match=r"'liar' declares reads=\[0, 1\].*outside them changed"):
        o.ask(NumbaQuery(liar_cmp, name="liar", reads=[0, 1]))
    with pytest.raises(QueryContractError, match=r"'liar2' declares reads=\[0\].*NaN"):
        o.ask(NumbaQuery(liar_arith, name="liar2", reads=[0]))
    with pytest.raises(QueryContractError, match="'pyliar' declares reads"):
        o.ask(Query(lambda Z, y: np.where(Z[:, 3] > 0, 0.2, -0.2), name="pyliar", reads=[0]))
    with pytest.raises(QueryContractError, match="'pyliar2' declares reads=\\[0\\].*NaN"):
        o.ask(Query(lambda Z, y: np.tanh(Z[:, 0] + 0.0 * Z[:, 4]), name="pyliar2", reads=[0]))
    with pytest.raises(QueryRangeError, match="'wild' must return values in \\[-1, 1\\]"):
        o.ask(Query(lambda Z, y: 2.0 + 0 * Z[:, 0], name="wild", reads=[0]))
    from sqsim import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="The 'reads' parameter of NumbaQuery must index the d = 8"):
        o.ask(NumbaQuery(_low, name="far", reads=[0, 9]))
    assert o.boolean.ledger.fingerprint() == fp and len(o.ledger) == 0


# ---- kernels and their twins -------------------------------------------------------------------

def test_pilot_kernels_match_twins_and_laws():
    from scipy import stats

    o = _adapter(d=5)
    lift = o.lift
    a = o._kernel_args
    tied = np.array([1, 0, 1, 1, 0], dtype=np.uint8)
    Z1, Z2, m1, m2 = kadapter.pilot_pairs(3000, 5, np.uint64(4), tied, a[4], a[3], *a[5:])
    S = kadapter.pilot_pairs.serial(3000, 5, np.uint64(4), tied, a[4], a[3], *a[5:])
    T = ref.pilot_pairs_np(3000, 5, 4, tied, lift)
    for x, y, z in zip((Z1, Z2, m1, m2), S, T):
        assert np.array_equal(x, y) and np.max(np.abs(x - z)) <= 1e-12
    assert np.all((Z1 >= 0) == (Z2 >= 0), axis=0)[tied == 1].all()  # tied coordinates share the cell
    assert abs(np.mean((Z1[:, 1] >= 0) == (Z2[:, 1] >= 0)) - 0.5) < 0.05  # untied ones do not
    assert stats.kstest(Z1.reshape(-1), stats.norm.cdf).pvalue > 1e-4
    assert stats.kstest(Z2.reshape(-1), stats.norm.cdf).pvalue > 1e-4
    P, pm = kadapter.pilot_draws(2000, 5, np.uint64(4), *a[1:])
    P2, pm2 = ref.pilot_draws_np(2000, 5, 4, lift)
    assert np.max(np.abs(P - P2)) <= 1e-12 and np.max(np.abs(pm - pm2)) <= 1e-12
    assert stats.kstest(P.reshape(-1), stats.norm.cdf).pvalue > 1e-4
    # the pilot never shares a stream with a Boolean point's inner draws
    Zc, _ = kadapter.cell_draws(np.arange(32, dtype=np.int64), 5, 2, 200, np.uint64(4), *a)
    assert np.intersect1d(np.abs(Zc).reshape(-1), np.abs(Z1).reshape(-1)).size == 0
    X = np.random.default_rng(0).integers(0, 3, (100, 7))
    assert np.array_equal(kadapter.encode_codes(X, 3), ref.encode_codes_np(X, 3))


def test_block_draws_and_label_kernel_match_twins():
    lift = CompressedLift(4, q=3, delta=0.1, D=4)
    i, c = lift.intervals, lift.constants
    from sqsim.lift._n3 import phi_table

    args = (i.boundaries, i.L, i.l, i.r, i.U, phi_table(c), float(c.kmax), float(c.kappa))
    codes = np.array([0, 5, 80], dtype=np.int64)
    for q, lf, cs in ((3, lift, codes), (2, CompressedLift(4, q=2, delta=0.1, D=4), codes % 16)):
        if q == 2:
            i2, c2 = lf.intervals, lf.constants
            args = (i2.boundaries, i2.L, i2.l, i2.r, i2.U, phi_table(c2), float(c2.kmax), float(c2.kappa))
        Zb, mb = kadapter.cell_draws_block(cs, 4, q, 7, 30, np.uint64(2), *args)
        Zt, mt = ref.cell_draws_block_np(cs, 4, q, 7, 30, 2, lf)
        Zf, mf = kadapter.cell_draws(cs, 4, q, 37, np.uint64(2), *args)
        rows = (np.arange(3)[:, None] * 37 + 7 + np.arange(30)[None, :]).reshape(-1)
        assert np.array_equal(Zb, Zf[rows]) and np.max(np.abs(Zb - Zt)) <= 1e-12 and np.allclose(mb, mt)
        Y = np.array([[0.0, 1.0], [1.0, 0.5], [0.25, 1.0]])
        reads = np.array([1, 1, 0, 1], dtype=np.uint8)
        out = kadapter.fused_image_labels(_low, np.array([0.1]), cs, Y, 4, q, 50, np.uint64(2), reads, *args)[0]
        twin = ref.fused_image_labels_np(lambda Z, y: np.clip(y, -1, 1) * np.tanh(Z[:, 0] * Z[:, 1] + 0.1), cs, Y,
                                         4, q, 50, 2, lf, reads)
        assert np.max(np.abs(out - twin)) <= 1e-12
