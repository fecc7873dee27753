"""The Theorem 3.2 adapter (docs/theory/adapter.md): one Boolean query per Gaussian query, answers within tau."""

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
from sqsim.oracles._inner import cell_draws, fused_image

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
    fused = fused_image(o, NumbaQuery(corr, name="corr", params=[0.7]), codes, y, K, seed)
    Z, mult = cell_draws(o, codes, K, seed)
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

    from sqsim import NumbaQuery

    @numba.njit
    def corr0(z, y, params):
        return min(1.0, max(-1.0, y)) * np.tanh(z[0])

    d = 6
    lift = CompressedLift(d, q=2, delta=0.2, D=3)
    boolean = SQOracle(BooleanCube(d), Parity(d, [0, 2]), 0.02, seed=0)
    o = LiftedOracle(boolean, lift)
    codes = np.arange(2**d)
    y = np.ones(2**d)
    K = 2000
    full = fused_image(o, NumbaQuery(corr0, name="a"), codes, y, K, np.uint64(1))
    lean = fused_image(o, NumbaQuery(corr0, name="a", reads=[0]), codes, y, K, np.uint64(1))
    other = fused_image(o, NumbaQuery(corr0, name="a", reads=[0]), codes, y, K, np.uint64(2))
    # unread coordinates are drawn all the same (their N2 counts), only hidden: the very same values
    assert np.array_equal(full, lean) and not np.array_equal(lean, other)
    assert np.max(np.abs(other - lean)) <= 5 * np.sqrt(2.0 / K)

    @numba.njit
    def reads_more(z, y, params):
        return np.tanh(z[1])

    with pytest.raises(QueryRangeError, match="nan"):
        fused_image(o, NumbaQuery(reads_more, name="liar", reads=[0]), codes, y, 10, np.uint64(1))


# ---- the ziggurat normal generator behind the adapter's draws ----------------------------------

def _zig_many_py():
    import numba

    @numba.njit
    def many(key, n, signed):
        g = np.empty(n)
        t = np.empty(n, dtype=np.uint64)
        for p in range(n):
            x, tp = kadapter._ziggurat(key, np.uint64(p), np.uint64(0), signed)
            g[p] = x
            t[p] = tp
        return g, t

    return many


_zig_many = _zig_many_py()


def _zig_keys_py():
    import numba

    @numba.njit
    def first(keys, signed):
        g = np.empty(keys.shape[0])
        for a in range(keys.shape[0]):
            g[a] = kadapter._ziggurat(keys[a], np.uint64(0), np.uint64(0), signed)[0]
        return g

    return first


_zig_keys = _zig_keys_py()
M64 = 2**64


def _lift2():
    lift = CompressedLift(2, q=2, delta=0.05, D=2)
    i, c = lift.intervals, lift.constants
    return lift, (i.boundaries, i.L, i.l, i.r, i.U, phi_table(c), float(c.kmax), float(c.kappa))


def _halfnormal_draws(n, seed):
    """|g| at positions 0 .. n-1 through the q = 2 fast path: the point x = (1, 1) has z = (|g|, |g'|)."""
    _, args = _lift2()
    Z, _ = kadapter.cell_draws(np.array([3], dtype=np.int64), 2, 2, n // 2, np.uint64(seed), *args)
    return Z.reshape(-1)


def test_ziggurat_tables():
    # the recurrence reproduces the published constants (Marsaglia-Tsang 2000: 256 layers; Doornik 2005: 128)
    R, V, _, _ = kadapter.ziggurat_tables(256)
    assert abs(R / 3.6541528853610088 - 1) < 1e-15 and abs(V / 4.92867323399e-3 - 1) < 1e-11
    R, V, _, _ = kadapter.ziggurat_tables(128)
    assert abs(R / 3.442619855899 - 1) < 1e-12 and abs(V / 9.91256303526217e-3 - 1) < 1e-10  # V at the rounded R
    # the tables in use: edges decrease to 0, and every layer (base + tail included) has area V
    R, V, X, F = kadapter.ZIG_R, kadapter.ZIG_V, kadapter.ZIG_X, kadapter.ZIG_F
    n = kadapter.ZIG_LAYERS
    assert X.shape == (n + 1,) and X[1] == R and X[n] == 0.0 and F[n] == 1.0 and np.all(np.diff(X) < 0)
    assert kadapter.LAYER_MASK == n - 1 and kadapter.SIGN_BIT == n and n * 2 <= 2**11  # disjoint from u's bits
    ld = np.longdouble
    Xl, Fl = X.astype(ld), F.astype(ld)
    areas = Xl[1:n] * (Fl[2:] - Fl[1:n])
    assert np.max(np.abs(areas / ld(V) - 1)) < 1e-12
    base = R * np.exp(-R * R / 2) + np.sqrt(2 * np.pi) * stats.norm.sf(R)
    assert abs(base / V - 1) < 1e-13 and abs(X[0] * np.exp(-R * R / 2) / V - 1) < 1e-15
    assert np.allclose(F[1:], np.exp(-X[1:] ** 2 / 2), rtol=1e-15, atol=0)


def test_ziggurat_matches_normal_and_half_normal():
    g = _halfnormal_draws(2**20, 5)
    assert g.min() >= 0 and stats.kstest(g, stats.halfnorm.cdf).pvalue > 1e-4
    s, t = _zig_many(np.uint64(17), 2**20, True)
    assert stats.kstest(s, stats.norm.cdf).pvalue > 1e-4
    assert abs(np.mean(s > 0) - 0.5) < 5 * 0.5 / 2**10  # the sign bit is fair
    # words consumed: one for almost every draw (99.57 %), never zero
    assert t.min() >= 1 and abs(np.mean(t == 1) - 0.99572) < 0.0005
    # moments: E|g| = sqrt(2 / pi), E g^2 = 1, E g^4 = 3
    assert abs(g.mean() - np.sqrt(2 / np.pi)) < 5 * 0.6 / 2**10
    assert abs(np.mean(s**2) - 1) < 5 * np.sqrt(2) / 2**10 and abs(np.mean(s**4) - 3) < 5 * np.sqrt(96) / 2**10


def test_ziggurat_tail_masses_and_tail_law():
    n = 2**23
    g = _halfnormal_draws(n, 9)
    R = kadapter.ZIG_R
    for c in (3.5, R, 4.5):  # P[|g| > c] against a two-sided binomial interval at level 1e-6
        p = 2 * stats.norm.sf(c)
        lo, hi = stats.binom.ppf(5e-7, n, p), stats.binom.isf(5e-7, n, p)
        assert lo <= np.sum(g > c) <= hi, (c, np.sum(g > c), n * p)
    # beyond R every draw comes from Marsaglia's tail method: N(0, 1) truncated to (R, inf)
    tail = g[g > R]
    assert tail.size > 300 and stats.kstest(tail, stats.truncnorm(R, np.inf).cdf).pvalue > 1e-4
    # many more tail draws: streams whose first word picks layer 0 with a candidate beyond R
    m = 2**53 - 1 - np.arange(20000)
    keys = np.array([_unmix64((int(v) << 11) | (1 << 10)) for v in m], dtype=np.uint64)
    tail = _zig_keys(keys, False)
    assert tail.min() > R and stats.kstest(tail, stats.truncnorm(R, np.inf).cdf).pvalue > 1e-4
    assert np.array_equal(_zig_keys(keys, True), -tail)  # the sign bit was set


def test_ziggurat_layer_bins():
    """Counts in the layer-aligned bins [X_{i+1}, X_i) (layer i's wedge: a wedge bug moves mass of exactly
    one bin) match the half-normal masses: chi-square over all bins and every bin's binomial z-score."""
    n = 2**23
    g = _halfnormal_draws(n, 21)
    edges = kadapter.ZIG_X[1:][::-1]  # 0 = X_n < X_{n-1} < ... < X_1 = R
    edges = np.concatenate([edges, [np.inf]])
    counts = np.histogram(g, bins=edges)[0]
    cdf = 2 * stats.norm.cdf(edges) - 1
    p = np.diff(cdf)
    expected = n * p
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert stats.chi2.sf(chi2, len(p) - 1) > 1e-4
    z = (counts - expected) / np.sqrt(expected * (1 - p))
    assert np.max(np.abs(z)) < 5.5
    # finer: the lower and upper halves of every bin (the wedge's curved edge against the chord)
    mids = (edges[:-2] + edges[1:-1]) / 2
    fine = np.sort(np.concatenate([edges, mids]))
    counts = np.histogram(g, bins=fine)[0]
    p = np.diff(2 * stats.norm.cdf(fine) - 1)
    assert stats.chi2.sf(np.sum((counts - n * p) ** 2 / (n * p)), len(p) - 1) > 1e-4


def _unmix64(y):
    """The inverse of bits.mix64 (python ints): lets a test choose the word a stream position yields."""
    def unxorshift(y, s):
        x = y
        for _ in range(64 // s + 1):
            x = y ^ (x >> s)
        return x

    m1, m2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
    y = unxorshift(y, 31)
    y = (y * pow(m2, -1, M64)) % M64
    y = unxorshift(y, 27)
    y = (y * pow(m1, -1, M64)) % M64
    return unxorshift(y, 30)


def test_ziggurat_layer_boundaries_with_chosen_words():
    from sqsim._kernels.bits import mix64_np

    n, XS, X, R = kadapter.ZIG_LAYERS, kadapter.ZIG_XS, kadapter.ZIG_X, kadapter.ZIG_R
    for w in (0x123456789ABCDEF, 2**64 - 1, 0):
        assert int(mix64_np(np.uint64(_unmix64(w)))) == w

    def draw(layer, m, sign=0, signed=False):
        """The draw whose first word has layer bits ``layer``, sign bit ``sign`` and uniform bits m."""
        key = np.uint64(_unmix64((m << 11) | (sign << 10) | layer))  # position 0: the word is mix64(key)
        g, t = kadapter._ziggurat(key, np.uint64(0), np.uint64(0), signed)
        g2, t2 = ref.ziggurat_np(np.array([key]), np.zeros(1, np.uint64), np.zeros(1, np.uint64), signed)
        assert g2[0] == g and t2[0] == t  # the numpy twin takes the same path
        return g, int(t)

    def core_limit(i):
        """The smallest m whose candidate m XS[i] is not below X[i+1] (the first outside the core)."""
        m = int(X[i + 1] / XS[i])
        while m * XS[i] < X[i + 1]:
            m += 1
        while m > 0 and (m - 1) * XS[i] >= X[i + 1]:
            m -= 1
        return m

    for i in (1, 2, 100, 511, n - 3, n - 2):
        m = core_limit(i)
        g, t = draw(i, m - 1)
        assert t == 1 and g == (m - 1) * XS[i] and g < X[i + 1]  # last candidate in the core: one word
        g, t = draw(i, m)
        assert t >= 2  # first candidate outside the core: the wedge test takes a second word
        assert g == m * XS[i] or t > 2  # accepted there (just under the layer's top) or redrawn
        g, t = draw(i, 0)
        assert t == 1 and g == 0.0
        g, t = draw(i, 2**53 - 1)
        assert t >= 2 and g < X[1] + 10  # the candidate near X[i] is in the wedge
    # the top layer has no core: even u = 0 goes through the wedge (and is accepted: f(0) = 1)
    g, t = draw(n - 1, 0)
    assert t == 2 and g == 0.0
    # layer 0: below R the base box accepts, at or beyond R the tail method runs (two words per attempt)
    m = core_limit(0)
    g, t = draw(0, m - 1)
    assert t == 1 and g < R
    g, t = draw(0, m)
    assert t >= 3 and t % 2 == 1 and g > R
    # the sign bit: ignored by half-normal draws, negates signed ones
    a, _ = draw(7, 12345, sign=1)
    b, _ = draw(7, 12345, sign=1, signed=True)
    c, _ = draw(7, 12345, sign=0, signed=True)
    assert a > 0 and b == -a and c == a


def test_ziggurat_twin_agrees_on_the_slow_paths():
    """The numpy twin reproduces every draw and the words it consumed, wedges and tails included."""
    n = 2**16
    for signed in (False, True):
        g, t = _zig_many(np.uint64(4242), n, signed)
        key = np.full(n, 4242, dtype=np.uint64)
        g2, t2 = ref.ziggurat_np(key, np.arange(n, dtype=np.uint64), np.zeros(n, np.uint64), signed)
        assert np.array_equal(t, t2) and np.max(np.abs(g - g2)) <= 1e-13
        assert np.sum(t > 1) > 200
    # the tail and the wedge are exercised: draws beyond R, and draws that needed several words
    g, t = _zig_many(np.uint64(3), 2**19, False)
    key = np.full(2**19, 3, dtype=np.uint64)
    g2, t2 = ref.ziggurat_np(key, np.arange(2**19, dtype=np.uint64), np.zeros(2**19, np.uint64), False)
    assert np.sum(g > kadapter.ZIG_R) >= 10 and np.max(t) >= 4
    assert np.array_equal(t, t2) and np.max(np.abs(g - g2)) <= 1e-13


def test_draws_do_not_depend_on_batch_order_or_threads():
    import numba

    lift, args = _lift2()
    for q, lf in ((2, None), (3, CompressedLift(2, q=3, delta=0.05, D=4))):
        if lf is not None:
            i, c = lf.intervals, lf.constants
            args_q = (i.boundaries, i.L, i.l, i.r, i.U, phi_table(c), float(c.kmax), float(c.kappa))
        else:
            args_q = args
        codes = np.arange(q**2, dtype=np.int64)
        K = 500
        Z, mult = kadapter.cell_draws(codes, 2, q, K, np.uint64(77), *args_q)
        perm = np.random.default_rng(0).permutation(codes.shape[0])
        Zp, multp = kadapter.cell_draws.serial(codes[perm], 2, q, K, np.uint64(77), *args_q)
        rows = (perm[:, None] * K + np.arange(K)[None, :]).reshape(-1)
        assert np.array_equal(Zp, Z[rows]) and np.array_equal(multp, mult[rows])
        Zs, _ = kadapter.cell_draws(codes[2:3], 2, q, K, np.uint64(77), *args_q)
        assert np.array_equal(Zs, Z[2 * K:3 * K])
        old = numba.get_num_threads()
        try:
            numba.set_num_threads(1)
            Z1, mult1 = kadapter.cell_draws(codes, 2, q, K, np.uint64(77), *args_q)
        finally:
            numba.set_num_threads(old)
        assert np.array_equal(Z1, Z) and np.array_equal(mult1, mult)
    # the fused kernel: serial, parallel and one thread agree, and equal the draws of cell_draws
    d, K = 5, 300
    lift = CompressedLift(d, q=2, delta=0.1, D=3)
    i, c = lift.intervals, lift.constants
    a = (i.boundaries, i.L, i.l, i.r, i.U, phi_table(c), float(c.kmax), float(c.kappa))

    @numba.njit
    def phi(z, y, params):
        return 0.5 * y * np.tanh(z[0] - z[3])

    codes = np.arange(2**d, dtype=np.int64)
    ys = np.ones(2**d)
    reads = np.ones(d, dtype=np.uint8)
    out = kadapter.fused_image(phi, np.zeros(0), codes, ys, d, 2, K, np.uint64(5), reads, 0.0, *a)[0]
    outs = kadapter.fused_image.serial(phi, np.zeros(0), codes, ys, d, 2, K, np.uint64(5), reads, 0.0, *a)[0]
    Z, mult = kadapter.cell_draws(codes, d, 2, K, np.uint64(5), *a)
    plain = (0.5 * mult * np.tanh(Z[:, 0] - Z[:, 3])).reshape(-1, K).mean(axis=1)
    assert np.array_equal(out, outs) and np.max(np.abs(out - plain)) <= 1e-14


def test_stream_positions_stay_disjoint():
    _, args = _lift2()
    with pytest.raises(ValueError, match="K d <= 2"):
        kadapter.cell_draws(np.zeros(0, dtype=np.int64), 2**11, 2, 2**30, np.uint64(1), *args)
    # neighbouring coordinates, draws and points never share a value (q = 2 and q = 5 with rejections)
    Z, _ = kadapter.cell_draws(np.array([3, 3], dtype=np.int64), 2, 2, 5000, np.uint64(8), *args)
    assert np.array_equal(Z[:5000], Z[5000:])  # the same point: the same draws
    Z2, _ = kadapter.cell_draws(np.array([3, 0], dtype=np.int64), 2, 2, 5000, np.uint64(8), *args)
    assert np.array_equal(np.abs(Z2[5000:]) == np.abs(Z[:5000]), np.zeros((5000, 2), bool))
    vals = np.abs(Z[:5000]).reshape(-1)
    assert np.unique(vals).size == vals.size


def test_ledger_records_the_variance_aware_budget_and_labels_share_draws():
    import numba

    from sqsim import NumbaQuery

    @numba.njit
    def corr(z, y, params):
        return min(1.0, max(-1.0, y)) * np.tanh(z[0] + z[2])

    d = 8
    lift = CompressedLift(d, q=2, delta=1.0 / d, D=d)
    o = LiftedOracle(SQOracle(BooleanCube(d), Parity(d, [0, 2]), 0.01, answers="exact", seed=0), lift)
    o.ask(NumbaQuery(corr, name="corr"))
    o.ask(NumbaQuery(corr, name="corr-junta", reads=[0, 2]))
    hoeffding_K = o.K  # the adapter's per-point Hoeffding K
    for rec in o.ledger:
        assert rec.extra["inner_bound"] == "bernstein-pilot" and rec.extra["eps_inner"] <= o.tolerance / 4
    assert o.ledger[0].extra["inner_samples"] * 10 <= hoeffding_K  # labels are 0 on most of the mass
    # one pass of draws serves every label value: the same numbers as one fused pass per label
    codes = np.arange(2**d)
    Y = np.tile([0.0, 1.0], (2**d, 1))
    both = kadapter.fused_image_labels(corr, np.zeros(0), codes, Y, d, 2, 50, np.uint64(4), np.ones(d, np.uint8),
                                       *o._kernel_args)[0]
    for m in range(2):
        one = fused_image(o, NumbaQuery(corr, name="corr"), codes, Y[:, m].copy(), 50, np.uint64(4))
        assert np.array_equal(both[:, m], one)
