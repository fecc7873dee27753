"""Theorem 3.2 end to end: a Gaussian learner through the adapter, and the reduction B(A)."""

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
    tau_b = 0.45 * signal / 2  # tau = 2 tau_b < P[f^Delta != 0] / 2 (MATH.md 4)
    boolean = SQOracle(BooleanCube(d), f, tau_b, answers="adversarial", seed=1)
    gauss = LiftedOracle(boolean, lift)
    res = learners.make("lifted-parity-brute-force", lift=lift, seed=2).learn(gauss)
    order = np.random.default_rng(2).permutation(np.arange(1, 2**d))
    rank = int(np.flatnonzero(order == f.code)[0]) + 1
    assert res.success and res.queries == rank == len(boolean.ledger)  # the Boolean count, one to one
    assert res.details["grade"]["loss_upper_bound"] <= 0.25 * res.details["grade"]["target_energy"]
    zero = gauss._grade(lambda Z: np.zeros(len(Z)))
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
    assert np.array_equal(wp(X), preds)  # z | x drawn from a stream fixed by x


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
