"""The Theorem 3.2 adapter (MATH.md 4): one Boolean query per Gaussian query, answers within tau."""

import numpy as np
import pytest
from scipy import stats

from sqsim import BooleanCube, CorrelationalQuery, InvalidParameterError, Query, QueryRangeError, SQOracle, ZqCube
from sqsim._kernels import adapter as kadapter
from sqsim._kernels import reference as ref
from sqsim.adapter import LiftedOracle
from sqsim.concepts import LWR, Parity
from sqsim.lift import CompressedLift
from sqsim.lift._n3 import phi_table

STRATEGIES = ["exact", "noisy", "rounded", "adversarial", "sampled"]


def random_gaussian_query(rng, d, i):
    """Bounded queries looking at z only, y only, or both (labels clipped into [-1, 1])."""
    w = rng.normal(0, 1, d)
    c = rng.uniform(-1, 1)
    kind = i % 4
    if kind == 0:
        return CorrelationalQuery(lambda Z, w=w: np.tanh(Z @ w), name=f"csq{i}", labels="real"), kind
    if kind == 1:
        return Query(lambda Z, y, c=c: np.clip(c * 5 * y, -1, 1), name=f"y{i}"), kind
    if kind == 2:
        return Query(lambda Z, y, w=w: 0.5 * np.sin(Z @ w), name=f"z{i}"), kind
    j = i % d
    return Query(lambda Z, y, w=w, j=j: np.clip(y, -1, 1) * np.sign(Z[:, j]) * np.cos(Z @ w), name=f"zy{i}"), kind


def direct_truth(g, query, n=400_000, seed=0):
    """E_z[phi(z, f^Delta(z))] by direct Gaussian Monte Carlo of the lifted concept: (mean, standard error)."""
    Z = np.random.default_rng(seed).standard_normal((n, g.d))
    v = query.values(Z, g(Z), False)
    return v.mean(), v.std() / np.sqrt(n)


CASES = [
    ("parity-q2", lambda: (BooleanCube(6), Parity(6, [0, 2, 5]), CompressedLift(6, q=2, delta=1e-2, D=3))),
    ("parity-q2-d10", lambda: (BooleanCube(10), Parity(10, [1, 4, 8, 9]), CompressedLift(10, q=2, delta=1e-2, D=4))),
    ("lwr-q3", lambda: (ZqCube(3, 3), LWR(3, 3, 2, secret=[1, 2, 0]), CompressedLift(3, q=3, delta=1e-2, D=6))),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_answers_within_tau_of_direct_monte_carlo(case, strategy):
    dom, f, lift = case[1]()
    tau_b = 0.02
    boolean = SQOracle(dom, f, tau_b, answers=strategy, seed=3)
    gauss = LiftedOracle(boolean, lift)
    assert gauss.tolerance == 2 * tau_b and gauss.domain.d == dom.d
    g = lift.lift(f)
    rng = np.random.default_rng(hash((case[0], strategy)) % 2**32)
    kinds = set()
    for i in range(4):  # 4 queries x 5 strategies x 3 cases = 60 random bounded queries
        q, kind = random_gaussian_query(rng, dom.d, i)
        kinds.add(kind)
        a = gauss.ask(q)
        mc, se = direct_truth(g, q, seed=i)
        slack = 0.0 if strategy != "sampled" else 1.0  # sampled may miss with its recorded probability
        assert abs(a - mc) <= gauss.tolerance + 5 * se + slack, (q.name, a, mc)
    assert len(gauss.ledger) == len(boolean.ledger) == 4  # one Boolean query per Gaussian query
    rec = gauss.ledger[-1]
    assert rec.extra["tau_bool"] == tau_b and rec.extra["eps_inner"] <= gauss.tolerance / 4
    assert rec.extra["bad_event"] == 0.0 and rec.extra["boolean_index"] == 3
    assert kinds == {0, 1, 2, 3}


def test_adversarial_answers_equal_for_different_parities():
    """Against the null adversary the Gaussian learner cannot tell two lifted parities apart."""
    d = 8
    lift = CompressedLift(d, q=2, delta=0.05, D=4)
    answers = []
    for S in ([0, 1, 2], [3, 5, 6, 7]):
        o = LiftedOracle(SQOracle(BooleanCube(d), Parity(d, S), 0.02, answers="adversarial", seed=1), lift)
        rng = np.random.default_rng(0)
        answers.append([o.ask(random_gaussian_query(rng, d, i)[0]) for i in range(8)])
    assert answers[0] == answers[1]


def test_repeating_a_gaussian_query_repeats_the_boolean_query():
    d = 6
    o = LiftedOracle(SQOracle(BooleanCube(d), Parity(d, [1, 2]), 0.02, answers="noisy", seed=2),
                     CompressedLift(d, q=2, delta=0.05, D=2))
    q = Query(lambda Z, y: np.clip(y, -1, 1) * np.tanh(Z[:, 1] * Z[:, 2]), name="q")
    a = o.ask(q)
    assert o.ask(q) == a and o.boolean.ledger[1].cached
    assert o.ledger[0].key == o.ledger[1].key


def test_adapter_never_touches_the_target():
    class Guarded:
        d = 6
        boolean = True
        armed = False

        def __call__(self, X):
            if Guarded.armed:
                raise AssertionError("the target was evaluated outside the oracle's construction")
            return Parity(6, [0, 4])(X)

    target = Guarded()
    boolean = SQOracle(BooleanCube(6), target, 0.02, answers="adversarial", seed=0)
    Guarded.armed = True  # from now on any evaluation of f raises
    o = LiftedOracle(boolean, CompressedLift(6, q=2, delta=0.05, D=2))
    o.ask(Query(lambda Z, y: np.clip(y, -1, 1) * np.sign(Z[:, 0] * Z[:, 4]), name="corr"))
    assert len(o.ledger) == 1


@pytest.mark.parametrize("q,d", [(2, 5), (3, 3), (5, 2)])
def test_kernel_matches_numpy_twin_and_truncated_normals(q, d):
    lift = CompressedLift(d, q=q, delta=0.05, D=4)
    i, c = lift.intervals, lift.constants
    codes = np.arange(q**d)
    K = 64
    args = (codes, d, q, K, np.uint64(987654321), i.boundaries, i.L, i.l, i.r, i.U, phi_table(c),
            float(c.kmax), float(c.kappa))
    Z, mult = kadapter.cell_draws(*args)
    Zs, mults = kadapter.cell_draws.serial(*args)
    Z2, mult2 = ref.cell_draws_np(codes, d, q, K, 987654321, lift)
    assert np.array_equal(Z, Zs) and np.array_equal(mult, mults)
    assert np.max(np.abs(Z - Z2)) <= 1e-12 and np.max(np.abs(mult - mult2)) <= 1e-12
    X = np.repeat(np.stack([(codes // q**j) % q for j in range(d)], axis=1), K, axis=0)
    assert (lift.thres(Z) == X).all()
    assert np.allclose(mult, lift.phi(lift.n2(Z).sum(axis=1)), atol=1e-12)
    # each cell's draws follow N(0, 1) truncated to the cell (scipy truncnorm), KS at alpha = 1e-4
    edges = np.concatenate([[-np.inf], i.boundaries, [np.inf]])
    for cell in range(q):
        Zc, _ = kadapter.cell_draws(np.array([cell], dtype=np.int64), 1, q, 20000, np.uint64(11 + cell),
                                    i.boundaries, i.L, i.l, i.r, i.U, phi_table(c), float(c.kmax), float(c.kappa))
        dist = stats.truncnorm(edges[cell], edges[cell + 1])
        assert stats.kstest(Zc[:, 0], dist.cdf).pvalue > 1e-4, cell


@pytest.mark.parametrize("make,exc,match", [
    (lambda: LiftedOracle(SQOracle(BooleanCube(5), Parity(5, [0]), 0.02), CompressedLift(6, delta=0.05, D=2)),
     InvalidParameterError, "The 'lift' parameter of LiftedOracle must match"),
    (lambda: LiftedOracle(SQOracle(BooleanCube(3), Parity(3, [0]), 0.02), CompressedLift(3, q=3, delta=0.05, D=4)),
     InvalidParameterError, "The 'lift' parameter of LiftedOracle must match"),
    (lambda: LiftedOracle(SQOracle(BooleanCube(5), Parity(5, [0]), 0.02), CompressedLift(5, delta=0.05, D=2),
                          inner_samples=1),
     InvalidParameterError, r"tau_bool 0\.02 \+ eps_inner .* \+ 2 P\[E\] 0 = .*Got 1 instead"),
    (lambda: LiftedOracle("oracle", CompressedLift(5, delta=0.05)), InvalidParameterError, "boolean_oracle"),
])
def test_bad_adapter_input(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


@pytest.mark.parametrize("fn", [lambda Z, y: np.full(len(Z), np.nan), lambda Z, y: 2.0 * np.ones(len(Z)),
                                lambda Z, y: y * 100])
def test_bad_gaussian_query_leaves_both_ledgers(fn):
    boolean = SQOracle(BooleanCube(5), Parity(5, [0, 1]), 0.02, answers="noisy", seed=0)
    o = LiftedOracle(boolean, CompressedLift(5, delta=0.2, D=2))
    o.ask(Query(lambda Z, y: 0.1 * np.ones(len(Z)), name="fine"))
    fp = boolean.ledger.fingerprint()
    with pytest.raises(QueryRangeError):
        o.ask(Query(fn, name="bad"))
    assert boolean.ledger.fingerprint() == fp and len(o.ledger) == 1


def test_numba_queries_are_fused_and_agree_with_python_queries():
    import numba

    from sqsim import NumbaQuery

    @numba.njit
    def corr(z, y, params):
        return min(1.0, max(-1.0, y)) * np.tanh(z[0] * params[0])

    d = 5
    lift = CompressedLift(d, q=2, delta=0.05, D=2)
    boolean = SQOracle(BooleanCube(d), Parity(d, [0, 3]), 0.02, answers="exact", seed=4)
    o = LiftedOracle(boolean, lift)
    codes = np.arange(2**d)
    y = (codes % 3 == 0).astype(float)
    seed, K = np.uint64(99), 200
    fused = o._fused(NumbaQuery(corr, name="corr", params=[0.7]), codes, y, K, seed)
    Z, mult = o._draws(codes, K, seed)
    plain = (np.clip(np.repeat(y, K) * mult, -1, 1) * np.tanh(0.7 * Z[:, 0])).reshape(-1, K).mean(axis=1)
    assert np.max(np.abs(fused - plain)) <= 1e-12  # the same draws, consumed in place
    a = o.ask(NumbaQuery(corr, name="corr", params=[0.7]))
    assert abs(a - boolean.ledger[0].truth) == 0.0 and len(o.ledger) == 1

    @numba.njit
    def wild(z, y, params):
        return 3.0

    boolean = SQOracle(BooleanCube(d), Parity(d, [0, 3]), 0.02, answers="exact", seed=4)
    with pytest.raises(QueryRangeError, match="'wild' must return values in \\[-1, 1\\]. Got 3.0"):
        LiftedOracle(boolean, lift).ask(NumbaQuery(wild, name="wild"))
    assert len(boolean.ledger) == 0


def test_declared_reads_keep_the_law_exact():
    import numba
    from scipy import special

    from sqsim import NumbaQuery

    u = np.linspace(0, 0.999, 200)
    assert np.max(np.abs(np.array([kadapter._erfinv(v) for v in u]) - special.erfinv(u))) <= 1e-13

    @numba.njit
    def corr0(z, y, params):
        return min(1.0, max(-1.0, y)) * np.tanh(z[0])

    d = 6
    lift = CompressedLift(d, q=2, delta=0.2, D=3)
    boolean = SQOracle(BooleanCube(d), Parity(d, [0, 2]), 0.02, seed=0)
    o = LiftedOracle(boolean, lift)
    codes = np.arange(2**d)
    y = np.ones(2**d)
    K = 20000
    full = o._fused(NumbaQuery(corr0, name="a"), codes, y, K, np.uint64(1))
    lean = o._fused(NumbaQuery(corr0, name="a", reads=[0]), codes, y, K, np.uint64(2))
    # both estimate the same phi_B(x, 1) (unread coordinates only need N2): agreement within MC error
    assert np.max(np.abs(full - lean)) <= 5 * np.sqrt(2.0 / K)
    assert abs(np.mean(full - lean)) <= 5 * np.sqrt(2.0 / (K * 2**d))

    @numba.njit
    def reads_more(z, y, params):
        return np.tanh(z[1])

    with pytest.raises(QueryRangeError, match="nan"):
        o._fused(NumbaQuery(reads_more, name="liar", reads=[0]), codes, y, 10, np.uint64(1))
