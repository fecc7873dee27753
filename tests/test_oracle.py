"""The SQ oracle contract: bands, keys, repeats, batches, budgets, ledgers, reproducibility."""

import json

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose

import sqsim
from sqsim import (
    AnswerStrategy,
    BooleanCube,
    Character,
    CharacterBatch,
    CorrelationalQuery,
    Gaussian,
    Ledger,
    NumbaQuery,
    Query,
    QueryBudgetExceeded,
    SQOracle,
    StrategyContractError,
    VSTATOracle,
    ZqCharacter,
    ZqCube,
)
from sqsim.concepts import Parity

STRATEGIES = ["exact", "sampled", "noisy", "rounded", "adversarial"]


def corr_x0():
    return Query(lambda X, y: (1 - 2 * y) * (1 - 2 * X[:, 0]), name="corr-x0")


def test_design_example():
    d = 10
    f = Parity(d, support=[0, 3, 7])
    oracle = SQOracle(BooleanCube(d), f, tolerance=0.05, answers="adversarial", seed=1)
    a = oracle.ask(corr_x0())
    assert isinstance(a, float) and abs(a - 0.0) <= 0.05
    assert len(oracle.ledger) == 1
    rec = oracle.ledger.records[0]
    assert rec.name == "corr-x0" and rec.truth == 0.0 and rec.strategy == "adversarial" and rec.in_band
    assert repr(SQOracle).endswith("sqsim.SQOracle'>")


@pytest.mark.parametrize("answers", STRATEGIES)
def test_character_truths_and_band(answers):
    d, S = 8, [1, 4, 5]
    o = SQOracle(BooleanCube(d), Parity(d, S), 0.1, answers=answers, seed=4)
    a_star = o.ask(Character(d, S))
    a_other = o.ask(Character(d, [1, 4]))
    assert o.ledger[0].truth == 1.0 and o.ledger[1].truth == 0.0
    assert abs(a_star - 1.0) <= 0.1 + (0 if answers != "sampled" else 1.0)
    if answers == "adversarial":  # the null answer: 0, clipped into [0.9, 1.1] for S*
        assert a_other == 0.0 and a_star == pytest.approx(0.9)
    if answers == "exact":
        assert (a_star, a_other) == (1.0, 0.0)
    if answers == "rounded":
        assert round(a_star / 0.1) == pytest.approx(a_star / 0.1)


def test_renaming_or_rewrapping_does_not_buy_fresh_noise():
    d, S = 7, [0, 2, 6]
    o = SQOracle(BooleanCube(d), Parity(d, S), 0.2, answers="noisy", seed=11)

    @numba.njit
    def chi_numba(x, y, params):
        return (1.0 - 2.0 * y) * (1.0 - 2.0 * ((x[0] + x[2] + x[6]) % 2))

    answers = [
        o.ask(Character(d, S)),
        o.ask(Query(lambda X, y: (1 - 2 * y) * (1 - 2 * ((X[:, 0] + X[:, 2] + X[:, 6]) % 2)), name="renamed")),
        o.ask(CorrelationalQuery(lambda X: (-1.0) ** (X[:, 0] + X[:, 2] + X[:, 6]), name="as-csq")),
        o.ask(NumbaQuery(chi_numba, name="compiled")),
        o.ask_batch(CharacterBatch(d, supports=[S]))[0],
    ]
    assert len(set(answers)) == 1, answers
    keys = {r.key for r in o.ledger}
    assert len(keys) == 1
    assert [r.cached for r in o.ledger] == [False, True, True, True, True]
    assert answers[0] != 1.0  # the noise is really there


def test_repeat_returns_same_answer_for_every_strategy():
    for answers in STRATEGIES:
        o = SQOracle(BooleanCube(6), Parity(6, [2]), 0.1, answers=answers, seed=3)
        q = Query(lambda X, y: 0.5 * (1 - 2 * y) * X[:, 2], name="q")
        assert o.ask(q) == o.ask(q) == o.ask(Query(q.fn, name="other name"))
        assert len(o.ledger) == 3 and o.ledger.counts() == {"sq": 3}


def test_same_seed_same_ledger_and_different_seeds_differ():
    def run(seed, answers="noisy"):
        o = SQOracle(BooleanCube(8), Parity(8, [1, 2]), 0.1, answers=answers, seed=seed)
        o.ask_batch(CharacterBatch(8, max_size=2))
        o.ask(corr_x0())
        return o

    a, b, c = run(5), run(5), run(6)
    assert a.ledger.fingerprint() == b.ledger.fingerprint()
    assert a.ledger.fingerprint() != c.ledger.fingerprint()
    ans_a = np.array([r.answer for r in a.ledger])
    ans_c = np.array([r.answer for r in c.ledger])
    assert np.mean(ans_a != ans_c) > 0.99
    # a Generator seed is reproducible too
    g1 = run(np.random.default_rng(3)).ledger.fingerprint()
    g2 = run(np.random.default_rng(3)).ledger.fingerprint()
    assert g1 == g2
    for answers in ("sampled", "adversarial"):
        assert run(9, answers).ledger.fingerprint() == run(9, answers).ledger.fingerprint()


def test_ask_batch_equals_asking_in_order():
    d = 9
    qs = [Character(d, [0, 1]), corr_x0(), Character(d, [3]), Character(d, [0, 1]),
          Query(lambda X, y: 0.25 * np.cos(X.sum(axis=1) + y), name="cos")]
    o1 = SQOracle(BooleanCube(d), Parity(d, [3]), 0.1, answers="noisy", seed=7)
    o2 = SQOracle(BooleanCube(d), Parity(d, [3]), 0.1, answers="noisy", seed=7)
    batch = o1.ask_batch(qs)
    seq = np.array([o2.ask(q) for q in qs])
    assert np.array_equal(batch, seq)
    assert o1.ledger.fingerprint() == o2.ledger.fingerprint()


def test_structured_batch_counts_members_and_matches_single_queries():
    d, k = 10, 2
    f = Parity(d, [2, 7])
    o = SQOracle(BooleanCube(d), f, 0.05, answers="noisy", seed=1)
    batch = CharacterBatch(d, max_size=k)
    ans = o.ask_batch(batch)
    assert len(o.ledger) == len(batch) == sqsim.bounds.low_degree_queries(d, k) == 56
    assert o.ledger.counts() == {"csq": 56}
    truths = np.array([r.truth for r in o.ledger])
    expected = np.array([1.0 if m.support == (2, 7) else 0.0 for m in batch])
    assert np.array_equal(truths, expected)
    o2 = SQOracle(BooleanCube(d), f, 0.05, answers="noisy", seed=1)
    singles = np.array([o2.ask(m) for m in batch])
    assert np.array_equal(ans, singles)
    assert o.ledger.fingerprint() == o2.ledger.fingerprint()


def test_budget_checked_before_answering_and_batch_atomic():
    o = SQOracle(BooleanCube(6), Parity(6, [0]), 0.1, answers="noisy", seed=0, budget=10)
    o.ask_batch(CharacterBatch(6, max_size=1))  # 7 queries
    fp = o.ledger.fingerprint()
    with pytest.raises(QueryBudgetExceeded, match="budget of 10"):
        o.ask_batch(CharacterBatch(6, max_size=2))  # 22 more: refused as a whole
    assert len(o.ledger) == 7 and o.ledger.fingerprint() == fp
    o.ask_batch([corr_x0(), Character(6, [1, 2]), Character(6, [2, 3])])
    with pytest.raises(QueryBudgetExceeded):
        o.ask(Character(6, [4]))
    assert len(o.ledger) == 10 and o.ledger.remaining == 0


def test_ledger_exports_round_trip(tmp_path):
    o = SQOracle(BooleanCube(5), Parity(5, [0, 4]), 0.1, answers="noisy", seed=2)
    o.ask_batch(CharacterBatch(5, max_size=1))
    o.ask(corr_x0())
    text = o.ledger.to_json(tmp_path / "l.json")
    again = Ledger.from_json((tmp_path / "l.json").read_text())
    assert again.fingerprint() == o.ledger.fingerprint() and json.loads(text)[0]["index"] == 0
    o.ledger.to_csv(tmp_path / "l.csv")
    import csv

    rows = list(csv.DictReader(open(tmp_path / "l.csv")))
    assert len(rows) == len(o.ledger)
    assert [float(r["answer"]) for r in rows] == [r.answer for r in o.ledger]
    assert [r["kind"] for r in rows] == ["csq"] * 6 + ["sq"]


class OutOfBand(AnswerStrategy):
    name = "liar"

    def answer(self, ctx):
        return ctx.hi + 1e-9


class Exactly(AnswerStrategy):
    name = "edge"

    def answer(self, ctx):
        return ctx.lo


def test_oracle_checks_user_strategies():
    o = SQOracle(BooleanCube(5), Parity(5, [1]), 0.1, answers=OutOfBand(), seed=0)
    with pytest.raises(StrategyContractError, match="outside the promised band"):
        o.ask(corr_x0())
    assert len(o.ledger) == 0
    o2 = SQOracle(BooleanCube(5), Parity(5, [1]), 0.1, answers=Exactly(), seed=0)
    a = o2.ask(Character(5, [1]))
    assert abs(a - 1.0) <= 0.1 and o2.ledger[0].strategy == "edge"


def test_gaussian_truth_error_is_recorded_and_subtracted():
    o = SQOracle(Gaussian(4), lambda Z: np.tanh(Z[:, 0]), 0.05, answers="noisy", seed=3)
    q = CorrelationalQuery(lambda Z: np.tanh(Z[:, 0]), name="tanh")
    a = o.ask(q)
    rec = o.ledger[0]
    assert rec.truth_error <= 0.05 / 4 + 1e-12 and rec.failure_probability == 1e-6
    assert abs(a - rec.truth) <= 0.05 - rec.truth_error
    # E[tanh(z)^2] for z ~ N(0,1) is 0.3943 (scipy quad)
    from scipy import integrate, stats

    exact = integrate.quad(lambda z: np.tanh(z) ** 2 * stats.norm.pdf(z), -np.inf, np.inf)[0]
    assert abs(rec.truth - exact) <= rec.truth_error
    assert abs(a - exact) <= 0.05
    assert o.ask(q) == a  # seeded from the key: repeatable


def test_gaussian_adversary_uses_null():
    o = SQOracle(Gaussian(3), lambda Z: np.sign(Z[:, 0]), 0.1, answers="adversarial", seed=3,
                 truth_samples=40_000)
    a = o.ask(CorrelationalQuery(lambda Z: np.sign(Z[:, 0]), name="sign"))
    # truth 1, null 0: the adversary answers the band's lower end
    assert a == pytest.approx(o.ledger[0].truth - (0.1 - o.ledger[0].truth_error))


def test_huge_cube_falls_back_to_monte_carlo():
    d = 40
    o = SQOracle(BooleanCube(d), Parity(d, [0, 39]), 0.1, answers="exact", seed=0)
    assert not o.exact
    a = o.ask(Character(d, [0, 39]))
    rec = o.ledger[0]
    # a junta target and query are enumerated on x_U (docs/theory/juntas.md); otherwise the truth is sampled
    assert a == 1.0 and (rec.extra.get("truth_path") == "junta" or rec.truth_error > 0)


def test_zq_character_matches_plain_query_and_enumeration():
    d, q = 4, 5
    w = np.array([1, 2, 0, 3])
    target = lambda X: ((X @ w) % q) / q  # noqa: E731
    o = SQOracle(ZqCube(d, q), target, 0.05, answers="noisy", seed=2)
    s = np.array([1, 1, 2, 0])
    a1 = o.ask(ZqCharacter(d, q, s))
    a2 = o.ask(Query(lambda X, y: y * np.cos(2 * np.pi * ((X @ s) % q) / q), name="plain"))
    X = ZqCube(d, q).enumerate()
    exact = np.mean(target(X) * np.cos(2 * np.pi * ((X @ s) % q) / q))
    assert_allclose(o.ledger[0].truth, exact, atol=1e-12)
    assert_allclose(o.ledger[1].truth, exact, atol=1e-12)
    assert a1 == a2 and o.ledger[1].cached


def test_vstat_band():
    t = 200.0
    o = VSTATOracle(BooleanCube(8), Parity(8, [0, 1]), t, answers="adversarial", seed=1)
    q = Query(lambda X, y: y * X[:, 0], name="y-and-x0")  # p = 1/4 exactly
    a = o.ask(q)
    p = 0.25
    w = max(1 / t, np.sqrt(p * (1 - p) / t))
    assert o.ledger[0].truth == p and o.ledger[0].tolerance == pytest.approx(w)
    assert abs(a - p) <= w  # null: P[y=1] P[x0=1] = 1/4 too, so the adversary answers 1/4
    small = o.ask(Query(lambda X, y: y * X[:, 0] * X[:, 1] * X[:, 2] * X[:, 3] * X[:, 4] * X[:, 5] * X[:, 6],
                        name="rare"))
    assert abs(small - o.ledger[1].truth) <= 1 / t + 1e-15


def test_noisy_answers_fill_the_band():
    o = SQOracle(BooleanCube(10), Parity(10, [0]), 0.1, answers="noisy", seed=8)
    ans = o.ask_batch(CharacterBatch(10, max_size=2))
    truths = np.array([r.truth for r in o.ledger])
    err = ans - truths
    assert np.all(np.abs(err) <= 0.1)
    assert err.min() < -0.08 and err.max() > 0.08  # uniform over the whole band
    # Kolmogorov-Smirnov against U[-tau, tau]: the noise is uniform (p well above 1e-4)
    from scipy import stats

    assert stats.kstest(err, stats.uniform(-0.1, 0.2).cdf).pvalue > 1e-4


def test_point_zero_enters_the_key():
    """Two queries differing only at x = 0 with label 0 are different queries (review finding)."""
    o = SQOracle(BooleanCube(2), Parity(2, [0]), 0.1, answers="exact", seed=0)
    o.ask(Query(lambda X, y: np.zeros(len(X)), name="zero"))
    a = o.ask(Query(lambda X, y: np.where((X.sum(1) == 0) & (y == 0), 1.0, 0.0), name="pt"))
    assert a == 0.25 and not o.ledger[1].cached
    v = VSTATOracle(BooleanCube(3), Parity(3, [0]), 10, seed=0)
    v.ask(Query(lambda X, y: np.ones(len(X)), name="ones"))
    assert v.ask(Query(lambda X, y: 1.0 - (X.sum(1) == 0), name="not-origin")) == 0.875


def test_colliding_monte_carlo_keys_never_leave_the_band():
    """Lambdas agreeing on the probe points (or built to) get answers valid for themselves."""
    o = SQOracle(Gaussian(1), lambda Z: (Z[:, 0] > 0) * 1.0, 0.004, answers="exact", seed=5,
                 truth_samples=4_000_000, failure_probability=1e-2)
    o.ask(Query(lambda Z, y: (Z[:, 0] > 2.5) * 1.0))
    b = o.ask(Query(lambda Z, y: np.where(Z[:, 0] > 2.5, -1.0, 0.0)))
    assert abs(b - o.ledger[1].truth) <= 0.004 and b < 0

    def sneaky(Z, y):  # 0 on the 256 probe points, 1 everywhere else
        return np.zeros(len(Z)) if len(Z) == 256 else np.ones(len(Z))

    g = SQOracle(Gaussian(2), lambda Z: Z[:, 0] > 0, 0.1, answers="noisy", seed=1, truth_samples=20_000)
    g.ask(Query(lambda Z, y: np.zeros(len(Z)), name="q"))
    a = g.ask(Query(sneaky, name="q"))
    assert abs(a - 1.0) <= 0.1
    # forcing the same name, qualified name and probe values: still answered within its own band
    g2 = SQOracle(Gaussian(2), lambda Z: Z[:, 0] > 0, 0.1, answers="noisy", seed=1, truth_samples=20_000)
    zero = Query(lambda Z, y: np.zeros(len(Z)), name="q")
    g2.ask(zero)
    zero.fn = sneaky
    a2 = g2.ask(zero)
    assert abs(a2 - 1.0) <= 0.1 and g2.ledger[1].extra.get("key_collision") in (True, None)


def test_floating_point_error_of_the_truth_is_in_the_band():
    """The band is built around the computed truth minus its rounding-error bound (review finding)."""
    o = SQOracle(ZqCube(1, 3), lambda X: (X[:, 0] == 0) * 1.0, 0.1, answers="adversarial")
    a = o.ask(Query(lambda X, y: np.where(X[:, 0] == 0, 1 - 2 * y, 0.0)))
    assert abs(a - (-1 / 3)) <= 0.1  # exact rational truth -1/3
    assert 0 < o.ledger[0].truth_error < 1e-13
    c = SQOracle(BooleanCube(6), Parity(6, [1]), 1e-9, answers="adversarial")
    assert c.ask(Character(6, [1])) == 1.0 - 1e-9 and c.ledger[0].truth_error == 0.0
