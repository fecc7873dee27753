"""Theorem 3.2 end to end: a Gaussian learner through the adapter, and the reduction B(A)."""

from sqsim.oracles._grading import grade
import numpy as np
import pytest

import learners
from sqsim import BooleanCube, InvalidParameterError, SQOracle
from sqsim.adapter import LiftedOracle, reduce, weak_predictor
from sqsim.concepts import Parity
from sqsim.lift import CompressedLift


@pytest.fixture(scope="module")
def setting():
    d = 4
    return d, CompressedLift(d, q=2, delta=0.25, D=4), Parity(4, [1, 3])


def test_lifted_brute_force_through_the_adapter(setting):
    d, lift, f = setting
    signal = lift.nonzero_mass()
    tau_b = 0.45 * signal / 2  # tau = 2 tau_b < P[f^Delta != 0] / 2 (docs/theory/adapter.md, section adapter-signal-budget)
    boolean = SQOracle(BooleanCube(d), f, tau_b, answers="adversarial", seed=1)
    gauss = LiftedOracle(boolean, lift)
    res = learners.make("lifted-parity-brute-force", lift=lift, seed=2).learn(gauss)
    order = np.random.default_rng(2).permutation(np.arange(1, 2**d))
    rank = int(np.flatnonzero(order == f.code)[0]) + 1
    assert res.success and res.queries == rank == len(boolean.ledger)  # the Boolean count, one to one
    assert res.details["grade"]["loss_upper_bound"] <= 0.25 * res.details["grade"]["target_energy"]
    zero = grade(gauss, lambda Z: np.zeros(len(Z)))
    assert not zero["success"]  # the zero hypothesis never succeeds on a lifted target


def test_reduction_counts_and_weak_predictor_advantage(setting):
    d, lift, f = setting
    tau_b = 0.45 * lift.nonzero_mass() / 2
    boolean = SQOracle(BooleanCube(d), f, tau_b, answers="adversarial", seed=1)
    B = reduce(learners.make("lifted-parity-brute-force", lift=lift, seed=2), lift, seed=0)
    res = B.learn(boolean)
    assert res.details["gaussian_queries"] == res.details["boolean_queries"] == res.queries == len(boolean.ledger)
    lifted = res.details["lifted_ledger"]
    assert [r.extra["boolean_index"] for r in lifted] == list(range(len(boolean.ledger)))
    wp = res.hypothesis
    adv = wp.advantage(f, n=50_000)
    # an exact Gaussian hypothesis predicts f exactly on G: advantage = P[G] E[(1/2 - f)^2] = P[G] / 4
    assert adv["advantage"] == pytest.approx(lift.good_region_mass() / 4, rel=1e-9)
    X = BooleanCube(d).enumerate()
    preds = wp(X)
    assert preds.shape == (2**d,) and np.all((preds >= 0) & (preds <= 1))
    # B~ is randomised: over many calls its mean gain on the cube approaches advantage()
    gains = [np.mean((0.5 - f(X)) ** 2 - (wp(X) - f(X)) ** 2) for _ in range(2000)]
    assert abs(np.mean(gains) - adv["advantage"]) <= 5 * np.std(gains) / np.sqrt(len(gains)) + 1e-12


def test_weak_predictor_of_a_useless_hypothesis_has_no_advantage(setting):
    d, lift, f = setting
    adv = weak_predictor(lambda Z: np.zeros(len(Z)), lift).advantage(f, n=20_000)
    assert adv["advantage"] <= 0 and adv["p_good"] == lift.good_region_mass()


def test_reduction_bad_input(setting):
    _, lift, _ = setting
    with pytest.raises(InvalidParameterError, match="The 'gaussian_learner' parameter of reduce"):
        reduce("A", lift)
    with pytest.raises(InvalidParameterError, match="The 'hypothesis' parameter of weak_predictor"):
        weak_predictor(3, lift)


def test_reduction_is_graded_by_its_advantage(setting):
    d, lift, f = setting
    tau_b = 0.45 * lift.nonzero_mass() / 2
    boolean = SQOracle(BooleanCube(d), f, tau_b, answers="adversarial", seed=1)
    res = reduce(learners.make("lifted-parity-brute-force", lift=lift, seed=2), lift, seed=0).learn(boolean)
    assert res.success and res.details["grade"]["advantage"] > 0  # a weak learner, graded as one
    bad = SQOracle(BooleanCube(d), f, tau_b, seed=1)
    assert not grade(bad, weak_predictor(lambda Z: np.zeros(len(Z)), lift))["success"]


def test_lifted_grading_through_a_version_space_oracle(setting):
    from sqsim.concepts import Parities

    d, lift, _ = setting
    vs = SQOracle(BooleanCube(d), Parities(d), 0.01, answers="version-space", seed=0)
    g = LiftedOracle(vs, lift)
    rep = grade(g, lambda Z: np.zeros(len(Z)))
    assert "loss_upper_bound" in rep and not rep["success"]


def test_review_findings_draws():
    from sqsim import Query
    from sqsim._kernels import adapter as kadapter
    from sqsim.lift._n3 import phi_table

    # codes above 2^53 keep their identity when repeated points are merged
    d = 60
    g = LiftedOracle(SQOracle(BooleanCube(d), Parity(d, [0, 1]), 0.05, seed=1), CompressedLift(d, q=2, delta=1 / d, D=4))
    X = np.ones((3, d), dtype=np.int64)
    X[1, 0] = 0
    vals = g._image(Query(lambda Z, y: (Z[:, 0] >= 0) * 1.0, name="s"))._evaluate(X, np.zeros(3))
    assert vals.tolist() == [1.0, 0.0, 1.0]
    # rejection attempts never reuse another coordinate's or draw's uniforms (q = 31: many rejections)
    lift = CompressedLift(3, q=31, delta=0.01, D=4)
    i, c = lift.intervals, lift.constants
    Z, _ = kadapter.cell_draws(np.zeros(1, dtype=np.int64), 3, 31, 2000, np.uint64(3), i.boundaries, i.L, i.l, i.r,
                               i.U, phi_table(c), float(c.kmax), float(c.kappa))
    assert np.mean(Z[:, 0] == Z[:, 1]) == 0 and np.mean(Z[:-1, 2] == Z[1:, 0]) == 0
