"""The sealed oracles: handles, ledger views, read-only configuration, pointwise queries, keys and noise."""

import copy
import pickle

import numpy as np
import pytest
from scipy import stats

import learners
from sqsim import (BooleanCube, Character, Gaussian, Learner, Query, QueryContractError, SealError, SQOracle,
                   TargetError)
from sqsim.concepts import Parity
from sqsim.oracles import OracleHandle


def _oracle(answers="exact", seed=1):
    return SQOracle(BooleanCube(5), Parity(5, [0, 2]), 0.1, answers=answers, seed=seed)


class _Probe(Learner):
    """Runs a callable on the handle inside _learn and reports what happened."""

    domains = ("boolean", "zq", "gaussian")

    def __init__(self, *, action=None):
        self.action = action

    def _learn(self, h):
        return None, {"out": self.action(h)}


def test_learn_hands_a_handle_not_the_oracle():
    seen = {}
    r = _Probe(action=lambda h: seen.setdefault("h", h)).learn(_oracle())
    h = seen["h"]
    assert isinstance(h, OracleHandle) and r.queries == 0 and not r.success
    with pytest.raises(SealError, match="run has ended"):  # closed after learn: a hypothesis may not ask
        h.ask(Character(5, [0]))


@pytest.mark.parametrize("attack", [
    lambda h: h._h_oracle, lambda h: h._oracle_ref, lambda h: h.strategy, lambda h: h.reveal(),
    lambda h: h._grader, lambda h: vars(h), lambda h: h.__dict__, lambda h: h.ledger._v_ledger,
    lambda h: h.ledger.records,
])
def test_no_attribute_path_from_the_handle(attack):
    with pytest.raises((SealError, TypeError, AttributeError)):
        _Probe(action=attack).learn(_oracle())


@pytest.mark.parametrize("attack", [copy.copy, copy.deepcopy, pickle.dumps, lambda h: copy.copy(h.ledger)])
def test_copying_a_handle_is_refused(attack):
    with pytest.raises(SealError, match="cannot be copied or pickled"):
        _Probe(action=attack).learn(_oracle())


def test_handle_and_oracle_configuration_are_read_only():
    with pytest.raises(SealError, match="read-only"):
        _Probe(action=lambda h: setattr(h, "tolerance", 1.0)).learn(_oracle())
    o = _oracle()
    for name, value in (("strategy", None), ("tolerance", 1.0), ("ledger", None), ("_engine", None)):
        with pytest.raises(SealError, match="read-only"):
            setattr(o, name, value)
    with pytest.raises(SealError):
        copy.deepcopy(o)
    with pytest.raises(SealError):
        pickle.dumps(o)


def test_ledger_view_shows_what_the_learner_knows_only():
    def action(h):
        a = h.ask(Character(5, [0, 2]))
        h.ask(Character(5, [1]))
        rec = h.ledger[0]
        assert (rec.index, rec.name, rec.kind, rec.answer, rec.count) == (0, "chi{0,2}", "csq", a, 1)
        for hidden in ("truth", "truth_error", "in_band", "key", "strategy", "seconds", "extra"):
            with pytest.raises(SealError):
                getattr(rec, hidden)
        return h.ledger.to_rows(), h.queries, h.budget_left

    o = SQOracle(BooleanCube(5), Parity(5, [0, 2]), 0.1, seed=0, budget=10)
    o.ask(Character(5, [3]))  # asked before the run: not part of this run's view
    r = _Probe(action=action).learn(o)
    rows, queries, left = r.details["out"]
    assert [row["index"] for row in rows] == [0, 1] and queries == 2 == r.queries and left == 7
    assert r.details["ledger_total"] == 3


def test_nested_learn_on_a_handle_is_refused():
    with pytest.raises(SealError, match="takes an oracle, not a handle"):
        _Probe(action=lambda h: learners.make("parity-brute-force").learn(h)).learn(_oracle())


def test_a_target_that_raises_is_named():
    def broken(X):
        raise RuntimeError("boom")

    with pytest.raises(TargetError, match="broken.*raised RuntimeError: boom"):
        SQOracle(BooleanCube(4), broken, 0.1)


def test_version_space_grading_honours_avoid():
    from sqsim.concepts import Parities

    o = SQOracle(BooleanCube(4), Parities(4), 0.3, answers="version-space", seed=0)
    guess = Parity(4, [1])
    r = _Probe(action=lambda h: None).learn(o)  # no queries: every parity survives
    assert not r.success
    from sqsim.oracles._grading import grade

    o2 = SQOracle(BooleanCube(4), Parities(4), 0.3, answers="version-space", seed=0)
    rep = grade(o2, guess)
    assert not rep["success"] and rep["revealed"] != repr(guess)


# ---------------------------------------------------------------- pointwise queries
def _batch_mean(X, y):
    return np.full(X.shape[0], np.clip(np.mean(y), -1, 1))


def _secret_solver(X, y):
    # correlate y with each coordinate over the batch: depends on the whole batch
    s = (1 - 2 * y) @ np.tanh(X) / max(1, X.shape[0])
    return np.full(X.shape[0], np.tanh(s[0]))


@pytest.mark.parametrize("fn", [_batch_mean, _secret_solver])
def test_cross_row_queries_are_refused_and_not_recorded(fn):
    o = SQOracle(Gaussian(3), lambda Z: np.tanh(Z[:, 0]), 0.2, seed=1)  # real labels: the query sees them
    o.ask(Query(lambda Z, y: y * np.tanh(Z[:, 0]), name="honest"))
    before = o.ledger.fingerprint()
    with pytest.raises(QueryContractError, match="fixed function of one"):
        o.ask(Query(fn, name="cross-row"))
    assert o.ledger.fingerprint() == before and len(o.ledger) == 1


def test_boolean_gaussian_targets_never_show_a_label_to_the_query():
    seen = []

    def spy(Z, y):
        seen.append(np.unique(y))
        return (1 - 2 * y) * np.tanh(Z[:, 0])

    o = SQOracle(Gaussian(3), lambda Z: (Z[:, 0] > 0).astype(float), 0.2, seed=1)
    o.ask(Query(spy, name="spy"))
    # every batch carries one constant label, except the fixed probe set (labels 0 and 1 at every probe point)
    assert all(len(u) == 1 or u.tolist() == [0.0, 1.0] for u in seen)
    assert sum(len(u) == 2 for u in seen) == 1


# ---------------------------------------------------------------- keys
def test_gaussian_keys_ignore_names_and_code_and_do_not_leak_labels():
    f = lambda Z: np.tanh(Z[:, 0])  # noqa: E731
    g = lambda Z: -np.tanh(Z[:, 1])  # noqa: E731
    qa = Query(lambda Z, y: np.clip(y, -1, 1) * np.tanh(Z[:, 0]), name="a")
    qb = Query(lambda Z, y: np.tanh(Z[:, 0]) * np.clip(y, -1, 1), name="b")  # same values, other name and code
    keys = []
    for target in (f, g):
        o = SQOracle(Gaussian(3), target, 0.2, answers="noisy", seed=4)
        assert o.ask(qa) == o.ask(qb)
        assert o.ledger[1].cached and o.ledger[0].key == o.ledger[1].key
        keys.append(o.ledger[0].key)
    assert keys[0] == keys[1]  # the key depends on the query and the seed, not on the target's labels


# ---------------------------------------------------------------- noise that cannot be averaged away
def _averaging_errors(oracle, base, truth, k=2000):
    single = abs(oracle.ask(base) - truth)
    estimates = []
    for i in range(1, k + 1):
        a = 1.0 - i * 1e-9
        fn = base.fn
        q = Query(lambda X, y, a=a, fn=fn: a * fn(X, y), name=f"scaled{i}")
        estimates.append(oracle.ask(q) / a)
    return single, abs(np.mean(estimates) - truth)


def test_perturbed_reasking_does_not_average_noise_on_the_cube():
    o = SQOracle(BooleanCube(6), Parity(6, [0, 1]), 0.1, answers="noisy", seed=3)
    base = Query(lambda X, y: (1 - 2 * y) * (1 - 2 * X[:, 0]) * 0.5, name="base")
    single, mean = _averaging_errors(o, base, 0.0)
    assert single > 0.01 and mean >= 0.5 * single, (single, mean)


def test_perturbed_reasking_does_not_average_noise_on_a_gaussian():
    o = SQOracle(Gaussian(2), lambda Z: (Z[:, 0] > 0).astype(float), 0.2, answers="noisy", seed=5,
                 truth_samples=20_000)
    base = Query(lambda Z, y: (1 - 2 * y) * np.tanh(Z[:, 1]), name="base")  # truth 0 by symmetry
    single, mean = _averaging_errors(o, base, 0.0)
    assert mean >= 0.5 * single - 0.02, (single, mean)  # 0.02: the Monte Carlo error of the truth estimate


def test_smooth_noise_is_uniform_in_the_band_across_queries():
    """answer = truth + s (2u - 1) tau with u ~ U(0, 1) across queries, s half the range of the query's probe values
    (the values of (1 - 2y) tanh(<w, x>) / 2 span less than [-1/2, 1/2], so s < 1/2 and the noise is narrower)."""
    o = SQOracle(BooleanCube(7), Parity(7, [0, 1, 2]), 0.1, answers="noisy", seed=2)
    rng = np.random.default_rng(0)
    us, scales = [], []
    for i in range(300):
        w = rng.standard_normal(7)
        q = Query(lambda X, y, w=w: (1 - 2 * y) * np.tanh(X @ w) * 0.5, name=f"q{i}")
        a = o.ask(q)
        rec = o.ledger[-1]
        v = o._engine.probes.values(q)
        s = 0.5 * (float(v.max()) - float(v.min()))
        scales.append(s)
        us.append(0.5 + (a - rec.truth) / (2 * s * rec.tolerance))
    assert 0.1 < min(scales) and max(scales) < 0.5
    assert stats.kstest(us, "uniform").pvalue > 1e-3


def _equivariance_gap(o, base, maps):
    """max over (a, b) in ``maps`` of |noise(a phi + b) - a noise(phi)|, noise = answer - truth (ledger), and
    the noise of phi itself."""
    o.ask(base)
    n0 = o.ledger[-1].answer - o.ledger[-1].truth
    gap = 0.0
    for i, (a, b) in enumerate(maps):
        fn = base.fn
        o.ask(Query(lambda X, y, a=a, b=b, fn=fn: a * fn(X, y) + b, name=f"affine{i}"))
        rec = o.ledger[-1]
        gap = max(gap, abs((rec.answer - rec.truth) - a * n0))
    return gap, n0


AFFINE_MAPS = [(0.5, 0.0), (-0.5, 0.2), (0.25, -0.7), (1.0, 0.3), (-1.0, 0.0), (1.0 - 1e-6, 0.0), (0.9, 0.05)]


@pytest.mark.parametrize("where", ["cube", "gaussian"])
def test_noisy_answers_scale_with_the_query(where):
    """The noise of a phi + b is exactly a times that of phi (a < 0 included): the answers to rescaled,
    negated and shifted copies are a (answer) + b, so solving two of them for the truth gains nothing
    (hostile learner 13-rescaling). On a Gaussian domain each copy has its own Monte Carlo truth estimate,
    and the noise on top of it is still equivariant."""
    if where == "cube":
        o = SQOracle(BooleanCube(7), Parity(7, [0, 1, 2]), 0.1, answers="noisy", seed=4)
        bases = [Query(lambda X, y, w=w: (1 - 2 * y) * np.tanh(X @ w) * 0.5, name=f"base{k}")
                 for k, w in enumerate(np.random.default_rng(1).standard_normal((3, 7)))]
    else:
        o = SQOracle(Gaussian(2), lambda Z: (Z[:, 0] > 0).astype(float), 0.2, answers="noisy", seed=5,
                     truth_samples=20_000)
        bases = [Query(lambda Z, y: (1 - 2 * y) * np.tanh(Z[:, 1]) * 0.5, name="base")]
    for base in bases:
        gap, n0 = _equivariance_gap(o, base, AFFINE_MAPS)
        assert abs(n0) > 1e-3 and gap < 1e-12, (base.name, n0, gap)


def test_noisy_label_characters_and_vstat_complements_scale_with_the_query():
    """The structured closed form (LabelCharacter weights scaled by a, a < 0 included) and VSTAT's only affine
    map of a {0, 1}-valued query, 1 - phi, keep the equivariance."""
    from sqsim import LabelCharacter, VSTATOracle

    o = SQOracle(BooleanCube(9), Parity(9, [1, 4]), 0.1, answers="noisy", seed=6)
    for S in ([], [1], [1, 4], [0, 2, 7]):
        o.ask(LabelCharacter(9, S, (0.6, -0.2)))
        r0 = o.ledger[-1]
        for a in (0.5, -1.0, -0.25):
            o.ask(LabelCharacter(9, S, (0.6 * a, -0.2 * a)))
            r = o.ledger[-1]
            assert abs((r.answer - r.truth) - a * (r0.answer - r0.truth)) < 1e-12, (S, a)
    phi = lambda X, y: ((X[:, 0] + y) % 2 == 0).astype(float) * (X[:, 5] == 1)
    noises = []
    for seed in range(5):
        v = VSTATOracle(BooleanCube(7), Parity(7, [0, 3]), t=50, answers="noisy", seed=seed)
        v.ask(Query(phi, name="phi"))
        v.ask(Query(lambda X, y: 1.0 - phi(X, y), name="complement"))
        a, b = v.ledger[0], v.ledger[1]
        assert abs((b.answer - b.truth) + (a.answer - a.truth)) < 1e-12, seed
        noises.append(abs(a.answer - a.truth))
    assert max(noises) > 1e-2


# ---------------------------------------------------------------- second review findings
class _FakeWeak:
    is_weak_predictor = True
    seen = None

    def __call__(self, X):
        return np.zeros(len(X))

    def advantage(self, concept):
        _FakeWeak.seen = concept
        return {"advantage": 1.0, "stderr": 0.0}


def test_only_the_framework_weak_predictor_is_graded_as_one():
    r = _Probe(action=lambda h: None).learn(_oracle())
    assert not r.success
    fake = _Probe(action=None)
    fake._learn = lambda h: (_FakeWeak(), {})
    r = fake.learn(_oracle())
    assert not r.success and _FakeWeak.seen is None  # the hypothesis never receives the target


def test_a_weak_predictor_with_a_forged_lift_fails():
    from sqsim.adapter import weak_predictor
    from sqsim.lift import CompressedLift

    lift = CompressedLift(4, q=2, delta=0.1)
    object.__setattr__(lift, "delta", 0.9)  # P[G] < 0 would make a constant predictor look advantageous
    forged = _Probe(action=None)
    forged._learn = lambda h: (weak_predictor(Parity(4, []), lift), {})
    r = forged.learn(SQOracle(BooleanCube(4), Parity(4, [0, 2]), 0.1, seed=1))
    assert not r.success and "invalid weak predictor" in r.details["grade"]["reason"]


def _leaky_cross_row(Z, y):
    return np.full(Z.shape[0], 0.123456789 if Z.shape[0] > 1000 else 0.0)


def test_a_refused_query_leaks_no_values_and_ends_the_run():
    o = SQOracle(Gaussian(3), lambda Z: np.tanh(Z[:, 0]), 0.2, seed=1)

    def action(h):
        with pytest.raises(QueryContractError) as info:
            h.ask(Query(_leaky_cross_row, name="leak"))
        assert "0.123" not in str(info.value)
        with pytest.raises(SealError, match="run has ended"):
            h.ask(Query(lambda Z, y: y * 0.0, name="next"))
        return True

    assert _Probe(action=action).learn(o).details["out"] and len(o.ledger) == 0


def test_isolated_results_trust_only_hypothesis_building_blocks():
    from sqsim.oracles import _isolation as iso

    assert iso._trusted_global("sqsim.concepts._parity", "Parity", iso._RESULT_ROOTS)
    assert iso._trusted_global("sqsim.lift._n3", "N3Constants", iso._RESULT_ROOTS)
    assert iso._trusted_global("numpy", "ndarray", iso._RESULT_ROOTS)
    for module, name in (("sqsim", "SQOracle"), ("sqsim", "Ledger"), ("sqsim", "Query"),
                         ("sqsim.experiments._runner", "SweepReport"), ("numpy._pytesttester", "PytestTester"),
                         ("learners.parity", "ParityBruteForce")):
        __import__(module)
        assert not iso._trusted_global(module, name, iso._RESULT_ROOTS), (module, name)
