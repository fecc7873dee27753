"""Bad input: the right exception type, a message naming the parameter and value, nothing lost."""

import numba
import numpy as np
import pytest

import learners
from sqsim import (
    AnswerStrategy,
    BooleanCube,
    Character,
    CharacterBatch,
    DomainTooLargeError,
    Gaussian,
    InvalidParameterError,
    NumbaQuery,
    Query,
    QueryBudgetExceeded,
    QueryRangeError,
    SQOracle,
    SQSimError,
    StrategyContractError,
    VSTATOracle,
    ZqCharacter,
    ZqCube,
)
from sqsim.concepts import Parity

PATTERN = r"The '{p}' parameter of {c} must be .* Got {v} instead\."


def oracle(**kw):
    o = SQOracle(BooleanCube(6), Parity(6, [1, 2]), 0.1, answers=kw.pop("answers", "noisy"), seed=0, **kw)
    o.ask(Character(6, [1]))  # something in the ledger that must survive
    return o


def intact(o, fp, n=1):
    assert len(o.ledger) == n and o.ledger.fingerprint() == fp


@pytest.mark.parametrize("tol", [-0.1, 0, 0.0, 1.5, float("nan"), "0.1", None, True])
def test_tolerance(tol):
    with pytest.raises(InvalidParameterError, match=PATTERN.format(p="tolerance", c="SQOracle", v=".*")) as e:
        SQOracle(BooleanCube(3), Parity(3, [0]), tol)
    assert "(0, 1]" in str(e.value) and repr(tol)[:3] in str(e.value)
    assert isinstance(e.value, ValueError) and isinstance(e.value, SQSimError)


def test_exact_message_format():
    with pytest.raises(InvalidParameterError) as e:
        SQOracle(BooleanCube(3), Parity(3, [0]), -0.1)
    assert str(e.value) == ("The 'tolerance' parameter of SQOracle must be a float in the range (0, 1]. "
                            "Got -0.1 instead.")


@pytest.mark.parametrize("make,param,caller", [
    (lambda: BooleanCube(0), "d", "BooleanCube"),
    (lambda: BooleanCube(-3), "d", "BooleanCube"),
    (lambda: BooleanCube(3.5), "d", "BooleanCube"),
    (lambda: BooleanCube(4097), "d", "BooleanCube"),
    (lambda: Gaussian(0), "d", "Gaussian"),
    (lambda: ZqCube(3, 1), "q", "ZqCube"),
    (lambda: ZqCube(0, 3), "d", "ZqCube"),
    (lambda: ZqCube(40, 3), "d", "ZqCube"),
    (lambda: Parity(5, [5]), "support", "Parity"),
    (lambda: Parity(5, [1, 1]), "support", "Parity"),
    (lambda: Parity(5, 3), "support", "Parity"),
    (lambda: Character(4, [-1]), "support", "Character"),
    (lambda: CharacterBatch(4, 2, supports=[[1]]), "max_size", "CharacterBatch"),
    (lambda: CharacterBatch(4, 5), "max_size", "CharacterBatch"),
    (lambda: ZqCharacter(3, 5, [1, 2]), "s", "ZqCharacter"),
    (lambda: Query("not callable"), "fn", "Query"),
    (lambda: NumbaQuery(lambda x, y, p: 0.0), "fn", "NumbaQuery"),
    (lambda: VSTATOracle(BooleanCube(3), Parity(3, [0]), 0.5), "t", "VSTATOracle"),
    (lambda: SQOracle(BooleanCube(3), Parity(3, [0]), 0.1, answers="sneaky"), "answers", "SQOracle"),
    (lambda: SQOracle(BooleanCube(3), Parity(3, [0]), 0.1, seed="abc"), "seed", "SQOracle"),
    (lambda: SQOracle(BooleanCube(3), Parity(3, [0]), 0.1, seed=-5), "seed", "SQOracle"),
    (lambda: SQOracle(BooleanCube(3), Parity(3, [0]), 0.1, seed=1.5), "seed", "SQOracle"),
    (lambda: SQOracle(BooleanCube(3), Parity(3, [0]), 0.1, budget=-1), "budget", "SQOracle"),
    (lambda: SQOracle(BooleanCube(3), Parity(3, [0]), 0.1, truth="guess"), "truth", "SQOracle"),
    (lambda: SQOracle(BooleanCube(4), Parity(3, [0]), 0.1), "target", "SQOracle"),
    (lambda: SQOracle(BooleanCube(3), 42, 0.1), "target", "SQOracle"),
    (lambda: SQOracle("cube", Parity(3, [0]), 0.1), "domain", "SQOracle"),
    (lambda: SQOracle(BooleanCube(3), lambda X: X, 0.1), "target", "SQOracle"),
    (lambda: SQOracle(BooleanCube(3), lambda X: np.full(X.shape[0], np.nan), 0.1), "target", "SQOracle"),
    (lambda: SQOracle(Gaussian(3), lambda Z: Z[:, 0], 0.01, truth_samples=100), "truth_samples", "SQOracle"),
    (lambda: SQOracle(Gaussian(3), lambda Z: Z[:, 0], 0.1, truth="exact"), "truth", "SQOracle"),
    (lambda: learners.make("no-such-learner"), "name", "learners.make"),
    (lambda: learners.make("parity-brute-force", max_size=0), "max_size", "ParityBruteForce"),
])
def test_bad_parameters(make, param, caller):
    with pytest.raises(InvalidParameterError, match=rf"The '{param}' parameter of {caller} must .* Got .*") as e:
        make()
    assert isinstance(e.value, (ValueError, TypeError))


def test_unknown_strategy_lists_the_names():
    with pytest.raises(InvalidParameterError, match="'adversarial'.*'sampled'.*Got 'sneaky'"):
        SQOracle(BooleanCube(3), Parity(3, [0]), 0.1, answers="sneaky")


def test_huge_domain_enumeration_says_what_to_do():
    with pytest.raises(DomainTooLargeError, match=r"2\^40.*max_enumeration.*monte-carlo") as e:
        BooleanCube(40).enumerate()
    assert isinstance(e.value, ValueError)
    with pytest.raises(DomainTooLargeError, match="truth='exact'"):
        SQOracle(BooleanCube(30), Parity(30, [0]), 0.1, truth="exact")
    with pytest.raises(DomainTooLargeError):
        next(ZqCube(20, 7).chunks())
    assert BooleanCube(30, max_enumeration=2**30).enumerable


@pytest.mark.parametrize("fn,match", [
    (lambda X, y: np.full(X.shape[0], np.nan), "nan"),
    (lambda X, y: 1.5 * (1 - 2 * y), "1.5"),
    (lambda X, y: -1.0000001 * np.ones(X.shape[0]), "-1.0000001"),
    (lambda X, y: np.ones((X.shape[0], 2)), r"shape \(\d+,\)"),
    (lambda X, y: np.ones(3), r"shape \(3,\)"),
    (lambda X, y: 1 / 0, "ZeroDivisionError"),
    (lambda X, y: np.array(["a"] * X.shape[0]), "real numbers"),
    (lambda X, y: np.ones(X.shape[0]) * 1j, "real numbers"),
])
def test_bad_query_values_leave_ledger_intact(fn, match):
    for answers in ("noisy", "adversarial"):
        o = oracle(answers=answers)
        fp = o.ledger.fingerprint()
        with pytest.raises(QueryRangeError, match=match) as e:
            o.ask(Query(fn, name="bad-one"))
        assert "bad-one" in str(e.value)
        intact(o, fp)
        with pytest.raises(QueryRangeError):
            o.ask_batch([Character(6, [2]), Query(fn, name="bad-one")])
        intact(o, fp)
        assert o.ask(Character(6, [2])) == o.ask(Character(6, [2]))  # the oracle still works


def test_bad_query_on_gaussian_and_numba_kernel():
    g = SQOracle(Gaussian(3), lambda Z: Z[:, 0] > 0, 0.1, seed=0)
    with pytest.raises(QueryRangeError, match="'unbounded'"):
        g.ask(Query(lambda Z, y: Z[:, 0], name="unbounded"))
    assert len(g.ledger) == 0

    @numba.njit
    def too_big(x, y, params):
        return 3.0 if x[2] == 1 else 0.0

    o = oracle()
    fp = o.ledger.fingerprint()
    with pytest.raises(QueryRangeError, match=r"3\.0 at x=\[0, 0, 1, 0, 0, 0\]"):
        o.ask(NumbaQuery(too_big, name="too-big"))
    intact(o, fp)


def test_range_error_names_point_and_label():
    o = SQOracle(BooleanCube(4), lambda X: X[:, 0], 0.1, seed=0)
    with pytest.raises(QueryRangeError, match=r"Got 2\.0 at x=\[1, 0, 0, 0\], y=0\.0"):
        o.ask(Query(lambda X, y: 2.0 * (X[:, 0] - y), name="unbounded-at-y0"))


def test_budget_exhaustion_mid_batch():
    o = SQOracle(BooleanCube(6), Parity(6, [1, 2]), 0.1, seed=0, budget=5)
    o.ask(Character(6, [1]))
    fp = o.ledger.fingerprint()
    with pytest.raises(QueryBudgetExceeded, match="5 more queries would exceed the budget of 5") as e:
        o.ask_batch([Character(6, [j]) for j in range(5)])
    assert isinstance(e.value, RuntimeError)
    intact(o, fp)


def test_non_query_and_mismatched_query():
    o = oracle()
    fp = o.ledger.fingerprint()
    for bad in (lambda X, y: y, "chi", None):
        with pytest.raises(InvalidParameterError, match="The 'query' parameter of SQOracle.ask"):
            o.ask(bad)
    with pytest.raises(InvalidParameterError, match="must fit the domain"):
        o.ask(Character(7, [1]))
    with pytest.raises(InvalidParameterError, match="must fit the domain"):
        SQOracle(Gaussian(6), lambda Z: Z[:, 0] > 0, 0.1, seed=0).ask(Character(6, [1]))
    intact(o, fp)


def test_character_needs_boolean_labels():
    o = SQOracle(BooleanCube(4), lambda X: X.sum(axis=1) / 4, 0.1, seed=0)
    with pytest.raises(QueryRangeError, match="Boolean"):
        o.ask(Character(4, [0]))
    assert len(o.ledger) == 0


def test_vstat_rejects_non_binary_queries():
    o = VSTATOracle(BooleanCube(5), Parity(5, [0]), 50, seed=0)
    with pytest.raises(QueryRangeError, match=r"\{0, 1\}"):
        o.ask(Query(lambda X, y: 0.5 * np.ones(X.shape[0]), name="half"))
    assert len(o.ledger) == 0


class ReturnsText(AnswerStrategy):
    def answer(self, ctx):
        return "zero"


def test_strategy_returning_garbage():
    o = SQOracle(BooleanCube(4), Parity(4, [0]), 0.1, answers=ReturnsText())
    with pytest.raises(StrategyContractError, match="must be floats"):
        o.ask(Character(4, [0]))
    assert len(o.ledger) == 0


def test_adversary_needs_label_marginal():
    # 256 distinct labels > max_label_values: no null distribution, a clear error at construction
    target = lambda X: (X * 2.0 ** np.arange(8)).sum(axis=1) / 256  # noqa: E731
    with pytest.raises(InvalidParameterError, match=r"The 'max_label_values' parameter .* \(256\) .* Got 64"):
        SQOracle(BooleanCube(8), target, 0.1, answers="adversarial", seed=0)
    o = SQOracle(BooleanCube(8), target, 0.1, answers="adversarial", seed=0, max_label_values=256)
    assert abs(o.ask(Query(lambda X, y: y, name="y")) - o.ledger[0].truth) <= 0.1


@pytest.mark.parametrize("make,param", [
    (lambda: SQOracle(Gaussian(1), lambda Z: Z[:, 0] > 0, 1e-6), "tolerance"),
    (lambda: SQOracle(BooleanCube(3), Parity(3, [0]), 1e-6, answers="sampled"), "tolerance"),
    (lambda: VSTATOracle(BooleanCube(3), Parity(3, [0]), float("inf"), answers="sampled"), "t"),
    (lambda: VSTATOracle(BooleanCube(3), Parity(3, [0]), 1e300, answers="sampled"), "t"),
    (lambda: NumbaQuery(_ok_numba, params="ab"), "params"),
    (lambda: SQOracle(BooleanCube(3), lambda X: X[:, 0] * 1j, 0.1), "target"),
    (lambda: SQOracle(BooleanCube(3), Parity(3, [0]), 0.1).ask_batch(Character(3, [0])), "queries"),
    (lambda: SQOracle(ZqCube(3, 3), lambda X: X[:, 0] / 3, 0.1).ask(ZqCharacter(3, 5, [1, 0, 0])), "query"),
    (lambda: SQOracle(BooleanCube(40), Parity(40, [0]), 0.2).ask_batch(CharacterBatch(3, max_size=1)), "query"),
    (lambda: SQOracle(Gaussian(3), lambda Z: Z[:, 0] > 0, 0.2).ask_batch(CharacterBatch(3, max_size=1)), "query"),
    (lambda: SQOracle(BooleanCube(3), Parity(3, [0]), 1e-300).ask(Query(lambda X, y: 0.3 * y)), "tolerance"),
])
def test_review_findings_bad_input(make, param):
    with pytest.raises(InvalidParameterError, match=rf"The '{param}' parameter of .* must .* Got .* instead"):
        make()


@numba.njit
def _ok_numba(x, y, params):
    return 0.0


def test_ledger_from_json_rejects_foreign_records():
    from sqsim import Ledger

    for text in ('[{"foo": 1}]', '{"a": 1}', '[1, 2]'):
        with pytest.raises(InvalidParameterError, match="The 'text' parameter of Ledger.from_json"):
            Ledger.from_json(text)


def test_cubes_beyond_integer_codes_are_sampled_not_enumerated():
    from sqsim import DomainTooLargeError

    cube = BooleanCube(64, max_enumeration=2**70)
    assert cube.sample(3, seed=0).shape == (3, 64)
    with pytest.raises(DomainTooLargeError, match="integer codes below 2\\^63"):
        cube.enumerate()
    with pytest.raises(DomainTooLargeError, match="encode of BooleanCube\\(d=64\\)"):
        cube.encode(np.zeros((1, 64), dtype=np.int64))
