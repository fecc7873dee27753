"""Lifting Boolean learners (docs/theory/lifting-learners.md): the identity E[phi] = A0 + c (E psi - A0), the
Boolean view, lifted-low-degree through the adapter over an adversarial Boolean oracle, refusals, contracts."""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
import pytest

import learners
from learners.lift import (
    BooleanView,
    LiftedHypothesis,
    implied_tolerance,
    lift_hypothesis,
    lift_learner,
)
from sqsim import (
    BooleanCube,
    Character,
    CorrelationalQuery,
    InvalidParameterError,
    NumbaQuery,
    Query,
    SQOracle,
)
from sqsim._errors import QueryContractError, SealError
from sqsim._learning import Learner
from sqsim._queries import LabelCharacter, ZqCharacter
from sqsim.adapter import LiftedOracle
from sqsim.concepts import Parity
from sqsim.lift import CompressedLift, LiftedCharacter, LiftedConcept, ThresholdQuery


def low_degree_count(d, k=2):
    return sum(math.comb(d, i) for i in range(k + 1))


def c_of(lift):
    lo, hi = lift.phi_nonzero_interval()
    return 0.5 * (lo + hi), lo, hi


# ------------------------------------------------------------------ query functions (importable)
def table_psi(X, y, R, table):
    """psi(x, y) = table[x_R as bits, y]: an arbitrary function of the coordinates R and the label."""
    X = np.asarray(X, dtype=np.int64)
    idx = np.zeros(X.shape[0], dtype=np.int64)
    for i, j in enumerate(R):
        idx |= X[:, j] << i
    idx |= np.asarray(y, dtype=np.float64).astype(np.int64) << len(R)
    return np.asarray(table)[idx]


def table_g(X, R, table):
    X = np.asarray(X, dtype=np.int64)
    idx = np.zeros(X.shape[0], dtype=np.int64)
    for i, j in enumerate(R):
        idx |= X[:, j] << i
    return np.asarray(table)[idx]


@numba.njit(cache=True)
def numba_psi(x, y, params):  # pragma: no cover - compiled
    """(0.5 + 0.4 y) (1 - 2 x_{params[0]}) x_{params[1]}: reads two coordinates."""
    return (0.5 + 0.4 * y) * (1.0 - 2.0 * x[int(params[0])]) * x[int(params[1])]


def peeking_psi(X, y):
    """Reads coordinate 5 although it declares only (0, 1)."""
    X = np.asarray(X)
    return 0.25 * X[:, 0] + 0.5 * (1.0 - 2.0 * X[:, 5])


def unread_psi(X, y):
    return 0.5 * (1.0 - 2.0 * np.asarray(X)[:, 0])


def random_queries(d, rng, n=4):
    """Structured and reads-declaring Boolean queries with random parameters."""
    out = []
    for _ in range(n):
        S = sorted(rng.choice(d, size=int(rng.integers(0, 4)), replace=False).tolist())
        out.append(Character(d, S))
        out.append(LabelCharacter(d, S, tuple(rng.uniform(-1, 1, 2))))
        R = tuple(sorted(rng.choice(d, size=3, replace=False).tolist()))
        out.append(Query(functools.partial(table_psi, R=R, table=rng.uniform(-1, 1, 16)), name=f"table{R}", reads=R))
        out.append(CorrelationalQuery(functools.partial(table_g, R=R, table=rng.uniform(-1, 1, 8)), name=f"g{R}",
                                      labels="boolean", reads=R))
    out.append(NumbaQuery(numba_psi, name="numba-psi", params=[1, 3], reads=[1, 3]))
    return out


def lifted_image(query, d):
    """The Gaussian query phi(z, l) = psi(thres_2 z, 1[l != 0]) of a Boolean query (independent of the view)."""
    if type(query) is Character:
        return LiftedCharacter(d, query.support, weights=(1.0, -1.0))
    if type(query) is LabelCharacter:
        return LiftedCharacter(d, query.support, weights=query.weights)
    return ThresholdQuery(lambda X, e, q=query: q.values(X, e, True), q=2, reads=query.reads)


def cube_mean(query, d, labels):
    X = BooleanCube(d).enumerate()
    return float(query.values(X, np.asarray(labels(X), dtype=np.float64), True).mean())


# ------------------------------------------------------------------ the identity
def test_v_is_independent_of_the_cells():
    """N2 is even for q = 2 and P[phi_D(V) != 0 | cells] is the same for every histogram of cells."""
    lift = CompressedLift(6, q=2, delta=1 / 6, D=2)
    t = np.linspace(-3, 3, 60001)
    np.testing.assert_array_equal(lift.R[0], -lift.R[0][::-1])  # R and S symmetric about b_1 = 0
    np.testing.assert_array_equal(lift.S[0], -lift.S[0][::-1])
    np.testing.assert_allclose(lift.n2(t), lift.n2(-t), rtol=0, atol=1e-15)  # N2 even (up to rounding)
    lo, hi = lift.phi_nonzero_interval()
    for n1 in range(7):
        clo, chi = lift.phi_nonzero_interval((6 - n1, n1))
        assert clo <= hi and lo <= chi, f"cells ({6 - n1}, {n1}): [{clo}, {chi}] vs [{lo}, {hi}]"
        assert abs(lift.phi_nonzero_probability((6 - n1, n1)) - 0.5 * (lo + hi)) <= hi - lo


@pytest.mark.parametrize("seed", [0, 1])
def test_identity_against_gaussian_monte_carlo(seed):
    """E_z[psi(thres_2 z, 1[f^Delta(z) != 0])] = A0 + c (E_x psi(x, f(x)) - A0), within 5 sigma of direct Monte Carlo."""
    d = 6
    lift = CompressedLift(d, q=2, delta=1 / d, D=2)
    f = Parity(d, [0, 3])
    g = lift.lift(f)
    c, lo, hi = c_of(lift)
    rng = np.random.default_rng(seed)
    n = 400_000
    Z = rng.standard_normal((n, d))
    labels = g(Z)
    assert np.all((labels != 0) == ((f(lift.thres(Z)) == 1) & (lift.phi(lift.n2(Z).sum(axis=1)) != 0)))
    for q in random_queries(d, rng):
        vals = lifted_image(q, d).values(Z, labels, False)
        mc, se = vals.mean(), vals.std() / math.sqrt(n)
        T = cube_mean(q, d, f)
        A0 = cube_mean(q, d, lambda X: np.zeros(len(X)))
        rhs = A0 + c * (T - A0)
        assert abs(mc - rhs) <= 5 * se + 2 * (hi - lo), f"{q.name}: Monte Carlo {mc:.5f} +- {se:.1e}, identity {rhs:.5f}"


def test_identity_against_exact_enumeration():
    """Exactly: sum_x 2^-d [p(x) psi(x, f(x)) + (1 - p(x)) psi(x, 0)] with p(x) the law given x's cells equals
    A0 + c (T - A0) (the per-x law is the same for every x); and the view's A0 (enumeration over x_R only)
    equals the full-cube A0."""
    d = 7
    lift = CompressedLift(d, q=2, delta=1 / d, D=2)
    f = Parity(d, [2, 6])
    c, lo, hi = c_of(lift)
    X = BooleanCube(d).enumerate()
    ones = X.sum(axis=1)
    p = np.array([lift.phi_nonzero_probability((d - k, k)) for k in range(d + 1)])[ones]
    from learners.lift import _a0_by_enumeration

    for q in random_queries(d, np.random.default_rng(5)):
        v1 = q.values(X, f(X).astype(np.float64), True)
        v0 = q.values(X, np.zeros(len(X)), True)
        exact = float(np.mean(p * v1 + (1 - p) * v0))
        T, A0 = float(v1.mean()), float(v0.mean())
        assert exact == pytest.approx(A0 + c * (T - A0), abs=2 * (hi - lo))
        if q.reads is not None and type(q) not in (Character, LabelCharacter):
            assert _a0_by_enumeration(q, d) == pytest.approx(A0, abs=1e-12)


def test_implied_tolerance_formula():
    c_hat, tol = implied_tolerance(0.01, (0.099, 0.101))
    assert c_hat == pytest.approx(0.1) and tol == pytest.approx((0.01 + 0.002) / 0.1)
    # the bound (L3) holds at the worst c in the interval and the worst |T - A0| = 2
    for c in (0.099, 0.101):
        for T_minus_A0 in (-2.0, 2.0):
            for e in (-0.01, 0.01):
                a_minus_A0 = c * T_minus_A0 + e
                assert abs(a_minus_A0 / c_hat - T_minus_A0) <= tol + 1e-12


# ------------------------------------------------------------------ the Boolean view through the adapter
class AskAll(Learner):
    """A Boolean learner that asks a fixed list of queries, one by one and then as one batch."""

    def __init__(self, *, queries=()):
        self.queries = list(queries)

    def _learn(self, oracle):
        one = [oracle.ask(q) for q in self.queries]
        batch = oracle.ask_batch(self.queries)
        return Parity(oracle.domain.d, []), {"one": one, "batch": batch.tolist(), "tolerance": oracle.tolerance,
                                             "ledger": oracle.ledger.to_rows(), "queries": oracle.queries}


def test_view_answers_are_boolean_truths():
    """Through an exact Boolean oracle the view's answers equal the Boolean truths up to the certified errors,
    well inside the implied tolerance; every Boolean query is one Gaussian and one Boolean query."""
    d = 7
    lift = CompressedLift(d, q=2, delta=1 / d, D=2)
    f = Parity(d, [1, 4])
    c, lo, hi = c_of(lift)
    qs = random_queries(d, np.random.default_rng(3))
    boolean = SQOracle(BooleanCube(d), f, 0.01, answers="exact", seed=1)
    gauss = LiftedOracle(boolean, lift)
    r = lift_learner(AskAll(queries=qs), lift).learn(gauss)
    truths = np.array([cube_mean(q, d, f) for q in qs])
    det = r.details
    assert det["implied_tolerance"] == pytest.approx((gauss.tolerance + hi - lo) / c)
    assert det["boolean"]["tolerance"] == det["implied_tolerance"]
    for got in (det["boolean"]["one"], det["boolean"]["batch"]):
        # exact Gaussian answers up to the adapter's certified image error (<= 2 eps) plus eps_c: (L2)
        np.testing.assert_allclose(got, truths, atol=4 * (hi - lo) / c, err_msg="view answer vs Boolean truth")
    assert r.queries == len(gauss.ledger) == len(boolean.ledger) == 2 * len(qs) == det["boolean_queries"]
    assert [row["answer"] for row in det["boolean"]["ledger"]] == det["boolean_answers"]
    a, a0 = np.array(det["gaussian_answers"]), np.array(det["a0"])
    np.testing.assert_allclose(det["boolean_answers"], np.clip(a0 + (a - a0) / c, -1, 1), rtol=0, atol=1e-15)


def test_view_is_sealed():
    d = 4
    lift = CompressedLift(d, q=2, delta=0.25, D=2)
    seen = {}

    class Peek(Learner):
        def _learn(self, oracle):
            for name in ("v_handle", "_handle", "handle"):
                try:
                    getattr(oracle, name)
                except SealError as exc:
                    seen[name] = str(exc)
            for attempt in (lambda: setattr(oracle, "tolerance", 1.0), lambda: __import__("copy").copy(oracle),
                            lambda: oracle.ledger.total.__class__ and setattr(oracle.ledger, "x", 1)):
                with pytest.raises(SealError):
                    attempt()
            assert isinstance(oracle, BooleanView) and oracle.kind == "sq" and oracle.boolean_labels is True
            assert oracle.domain == BooleanCube(d) and oracle.truth_points is None
            return None, {}

    boolean = SQOracle(BooleanCube(d), Parity(d, [0]), 0.02, seed=0)
    lift_learner(Peek(), lift).learn(LiftedOracle(boolean, lift))
    assert set(seen) == {"v_handle", "_handle", "handle"}


# ------------------------------------------------------------------ acceptance: lifted-low-degree
@pytest.mark.parametrize("d", [8, 16, 32])
def test_lifted_low_degree_identifies_lifted_2_sparse_parities(d):
    """delta = 1/d, D = 2 (covers |S| <= 2), Gaussian tolerance tau = c^/4 (well below c/2); the adapter's
    Boolean oracle is adversarial at tau/2. Exactly sum_{i <= 2} C(d, i) Gaussian and Boolean queries."""
    lift = CompressedLift(d, q=2, delta=1 / d, D=2)
    c, lo, hi = c_of(lift)
    tau = c / 4
    assert tau < lo / 2 / 1.9  # well below c / 2
    support = [1, d - 2]
    boolean = SQOracle(BooleanCube(d), Parity(d, support), tau / 2, answers="adversarial", seed=d)
    gauss = LiftedOracle(boolean, lift)
    assert gauss.tolerance == pytest.approx(tau)
    r = learners.make("lifted-low-degree", k=2, lift=lift).learn(gauss)
    n = low_degree_count(d)
    assert r.success, r.details["grade"]
    assert r.queries == n == len(gauss.ledger) == len(boolean.ledger) == r.details["boolean_queries"]
    assert isinstance(r.hypothesis, LiftedConcept) and list(r.hypothesis.concept.support) == support
    assert r.details["implied_tolerance"] == pytest.approx((tau + hi - lo) / c) and r.details["implied_tolerance"] < 0.26
    assert r.details["c_interval"] == (lo, hi) and r.details["gaussian_tolerance"] == tau
    b = np.array(r.details["boolean_answers"])
    top = int(np.argmax(np.abs(b[1:]))) + 1
    assert b[top] >= 1 - r.details["implied_tolerance"] and np.all(np.abs(np.delete(b[1:], top - 1)) <= 1e-12)


def test_lifted_parity_brute_force_through_single_characters():
    """Any Boolean learner: parity-brute-force asks one Character at a time; the counts follow one to one."""
    d = 8
    lift = CompressedLift(d, q=2, delta=1 / d, D=2)
    c, _, _ = c_of(lift)
    boolean = SQOracle(BooleanCube(d), Parity(d, [2, 5]), c / 8, answers="adversarial", seed=1)
    gauss = LiftedOracle(boolean, lift)
    r = lift_learner(learners.ParityBruteForce(max_size=2, seed=4), lift).learn(gauss)
    assert r.success and r.queries == r.details["boolean"]["rank"] == len(boolean.ledger)


# ------------------------------------------------------------------ refusals
def test_refuses_when_the_implied_tolerance_is_at_least_one():
    d = 8
    lift = CompressedLift(d, q=2, delta=1 / d, D=2)
    c, _, _ = c_of(lift)
    boolean = SQOracle(BooleanCube(d), Parity(d, [0, 1]), 0.6 * c, seed=0)  # Gaussian tolerance 1.2 c
    gauss = LiftedOracle(boolean, lift)
    with pytest.raises(InvalidParameterError, match=r"tau = 0\.1475.*c = P\[phi_D\(V\) != 0\] in \[0\.1228.*= 1\.2"):
        learners.make("lifted-low-degree", lift=lift).learn(gauss)
    assert len(boolean.ledger) == 0 and len(gauss.ledger) == 0
    # below 1 but above low-degree's 1/2: the Boolean learner refuses itself
    boolean = SQOracle(BooleanCube(d), Parity(d, [0, 1]), 0.3 * c, seed=0)
    with pytest.raises(InvalidParameterError, match="LowDegree.learn must have tolerance < 0.5"):
        learners.make("lifted-low-degree", lift=lift).learn(LiftedOracle(boolean, lift))
    assert len(boolean.ledger) == 0


@pytest.mark.parametrize("query, match", [
    (Query(unread_psi, name="no-reads"), "declares no reads"),
    (Query(unread_psi, name="wide", reads=range(7)), "outside"),
    (ZqCharacter(6, 2, [1, 0, 0, 0, 0, 1]), "must be liftable"),
    ("chi", "must be liftable"),
])
def test_unliftable_queries_are_refused(query, match):
    d = 6
    lift = CompressedLift(d, q=2, delta=1 / d, D=2)
    boolean = SQOracle(BooleanCube(d), Parity(d, [0]), 0.01, seed=0)
    gauss = LiftedOracle(boolean, lift)
    with pytest.raises(InvalidParameterError, match=match) as info:
        lift_learner(AskAll(queries=[query]), lift).learn(gauss)
    assert "declare reads" in str(info.value) or "reads=" in str(info.value)
    assert len(boolean.ledger) == 0


def test_undeclared_reads_are_refused_before_asking():
    d = 6
    lift = CompressedLift(d, q=2, delta=1 / d, D=2)
    boolean = SQOracle(BooleanCube(d), Parity(d, [0]), 0.01, seed=0)
    with pytest.raises(QueryContractError, match="read only its declared coordinates"):
        lift_learner(AskAll(queries=[Query(peeking_psi, name="peek", reads=[0, 1])]), lift).learn(
            LiftedOracle(boolean, lift))
    assert len(boolean.ledger) == 0


def test_parameters_are_validated():
    lift = CompressedLift(4, q=2, delta=0.25, D=2)
    with pytest.raises(InvalidParameterError, match="The 'lift' parameter of lift_learner"):
        lift_learner(learners.LowDegree(), CompressedLift(4, q=3, delta=0.1))
    with pytest.raises(InvalidParameterError, match="The 'boolean_learner' parameter of lift_learner"):
        lift_learner(learners.make("lifted-parity-brute-force", lift=lift), lift)
    with pytest.raises(InvalidParameterError, match="The 'k' parameter of LiftedLowDegree"):
        learners.make("lifted-low-degree", k=-1, lift=lift)
    boolean = SQOracle(BooleanCube(5), Parity(5, [0]), 0.01, seed=0)
    with pytest.raises(InvalidParameterError, match=r"must be over Gaussian\(4\)"):
        learners.make("lifted-low-degree", lift=lift).learn(LiftedOracle(boolean, CompressedLift(5, q=2, delta=0.2)))
    assert "lifted-low-degree" in learners.available() and learners.lift_learner is lift_learner


# ------------------------------------------------------------------ hypotheses
def test_lifted_hypotheses():
    d = 6
    lift = CompressedLift(d, q=2, delta=1 / d, D=1)
    Z = np.random.default_rng(0).standard_normal((2000, d)) * 0.3
    closed = lambda h: np.asarray(h(lift.thres(Z)), dtype=float) * lift.phi(lift.n2(Z).sum(axis=1))
    small = lift_hypothesis(Parity(d, [0, 4]), lift)  # |S| = 2 needs D >= 1: the lift with its network
    assert isinstance(small, LiftedConcept)
    np.testing.assert_allclose(small(Z), closed(Parity(d, [0, 4])), atol=1e-12)
    big = lift_hypothesis(Parity(d, [0, 2, 4]), lift)  # |S| = 3 needs D >= 3: the closed form instead
    assert isinstance(big, LiftedHypothesis)
    np.testing.assert_allclose(big(Z), closed(Parity(d, [0, 2, 4])), atol=1e-12)
    from learners.boolean import SignHypothesis

    sign = SignHypothesis(d, np.array([1, 5]), np.array([0.7, -0.2]))
    np.testing.assert_allclose(lift_hypothesis(sign, lift)(Z), closed(sign), atol=1e-12)
    assert lift_hypothesis(None, lift) is None


# ------------------------------------------------------------------ contracts and isolation
def _lifted_queries_cross() -> bool:
    """Whether LiftedCharacter can cross a process boundary (sqsim.oracles._sandbox.serialize_query)."""
    from sqsim.oracles._sandbox import serialize_query

    try:
        serialize_query(LiftedCharacter(2, [0], weights=(1.0, -1.0)))
    except QueryContractError:
        return False
    return True


#: until serialize_query knows the lifted queries, isolated runs are refused: declared here, not skipped (the
#: mark lifts itself the day serialization lands, and the tests must then pass)
NEEDS_LIFTED_SPECS = pytest.mark.xfail(not _lifted_queries_cross(), raises=QueryContractError, strict=True,
                                       reason="serialize_query does not yet carry LiftedCharacter(Batch)")
def _factory():
    lift = CompressedLift(4, q=2, delta=0.25, D=2)

    def make(seed, budget, guard):
        b = SQOracle(BooleanCube(4), guard(Parity(4, [1, 2])), 0.01, answers="adversarial", seed=seed, budget=budget)
        return LiftedOracle(b, lift)

    return lift, make


_LIFT, _MAKE = _factory()


@pytest.mark.parametrize("name, check", list(__import__("sqsim.testing", fromlist=["check_learner"]).check_learner(
    learners.make("lifted-low-degree", k=2, lift=_LIFT), _MAKE)), ids=lambda v: v if isinstance(v, str) else "")
def test_check_learner(name, check):
    if name == "isolation-consistent" and not _lifted_queries_cross():
        with pytest.raises(QueryContractError, match="LiftedCharacter is not a sqsim query class"):
            check()
        return
    check()


@NEEDS_LIFTED_SPECS
def test_isolation_gives_the_same_ledger():
    d = 8
    lift = CompressedLift(d, q=2, delta=1 / d, D=2)
    c, _, _ = c_of(lift)

    def run(isolation):
        boolean = SQOracle(BooleanCube(d), Parity(d, [3, 6]), c / 8, answers="adversarial", seed=9)
        r = learners.make("lifted-low-degree", k=2, lift=lift).learn(LiftedOracle(boolean, lift), isolation=isolation)
        return r, boolean

    (ra, ba), (rb, bb) = run(None), run("process")
    assert ra.success and rb.success and ra.queries == rb.queries == low_degree_count(d)
    assert ba.ledger.fingerprint() == bb.ledger.fingerprint()
    assert ra.details["boolean_answers"] == rb.details["boolean_answers"]
