"""Structured queries by lookups (docs/theory/structured-queries.md): the same keys, truths, nulls, answers
and records as the generic enumerated path, batches equal to one-by-one asking, the columnar ledger."""

import csv
import hashlib
import json
from fractions import Fraction

import numpy as np
import pytest

from sqsim import (
    AnswerStrategy,
    BooleanCube,
    Character,
    CharacterBatch,
    InvalidParameterError,
    LabelCharacter,
    Ledger,
    Query,
    QueryRangeError,
    SQOracle,
    StrategyContractError,
)
from sqsim import _keys
from sqsim._kernels.reference import key_hash_terms_np
from sqsim._ledger import TIMING_FIELDS
from sqsim._queries import support_code, support_of
from sqsim.concepts import Parity
from sqsim.oracles import _enumerated
from sqsim.oracles._answering import smooth_noise
from sqsim.oracles._evaluation import CHARACTER_WEIGHTS
from sqsim.oracles._enumerated import EXACT_FP_ERROR

STRATEGIES = ["exact", "noisy", "rounded", "adversarial", "sampled"]


def _chi(X, support):
    return 1.0 - 2.0 * (X[:, list(support)].sum(axis=1) % 2) if support else np.ones(X.shape[0])


def plain_character(support):
    """A plain Query with a Character's values (the generic enumerated path)."""
    return Query(lambda X, y: (1.0 - 2.0 * y) * _chi(X, support), name="plain")


def plain_label_character(support, w):
    return Query(lambda X, y: np.where(y == 1.0, w[1], w[0]) * _chi(X, support), name="plain")


class Table:
    """A Boolean target given by its label table (code order)."""

    def __init__(self, d, y):
        self.d, self.y = d, np.asarray(y, dtype=np.float64)

    def __call__(self, X):
        return self.y[(np.asarray(X, dtype=np.int64) << np.arange(self.d)).sum(axis=1)]


def targets(d):
    rng = np.random.default_rng(d)
    return {"parity": Parity(d, sorted({0, d - 1})), "random": Table(d, rng.integers(0, 2, 2**d)),
            "zeros": Table(d, np.zeros(2**d)), "ones": Table(d, np.ones(2**d))}


def _supports(d, n, seed=0):
    rng = np.random.default_rng(seed)
    return [()] + [support_of(int(c)) for c in rng.integers(1, 2**d, n)]


def _pair(d, f, answers="exact", seed=3, **kw):
    return (SQOracle(BooleanCube(d), f, 0.05, answers=answers, seed=seed, **kw),
            SQOracle(BooleanCube(d), f, 0.05, answers=answers, seed=seed, **kw))


def _rows(ledger):
    return [{k: v for k, v in r.to_dict().items() if k not in TIMING_FIELDS} for r in ledger]


# --------------------------------------------------------------------------- keys and truths
@pytest.mark.parametrize("d", [1, 3, 6, 10])
@pytest.mark.parametrize("target", ["parity", "random", "zeros", "ones"])
def test_character_key_truth_and_null_equal_the_generic_path(d, target):
    f = targets(d)[target]
    fast, slow = _pair(d, f, "adversarial")
    for S in _supports(d, 12):
        ef = fast._engine.evaluate(Character(d, S))
        es = slow._engine._enumerated(plain_character(S))
        assert ef.key == es.key
        assert ef.truth == es.truth and ef.truth_error == 0.0  # integer sums: exact on both paths
        assert ef.null == es.null
        assert np.array_equal(ef.noise_vector(), es.noise_vector())


@pytest.mark.parametrize("d", [2, 5, 9])
@pytest.mark.parametrize("target", ["parity", "random", "zeros", "ones"])
@pytest.mark.parametrize("w", [(1.0, -1.0), (0.5, -0.25), (0.0, 1.0), (-0.0, 0.75), (0.375, 0.375), (-1.0, 0.0)])
def test_label_character_with_dyadic_weights_equals_the_generic_path(d, target, w):
    f = targets(d)[target]
    fast, slow = _pair(d, f, "adversarial")
    for S in _supports(d, 8, seed=d):
        ef = fast._engine.evaluate(LabelCharacter(d, S, w))
        es = slow._engine._enumerated(plain_label_character(S, w))
        assert ef.key == es.key
        assert ef.truth == es.truth and ef.truth_error == 0.0  # dyadic weights: every sum is exact
        assert ef.null == es.null
        assert np.array_equal(ef.noise_vector(), es.noise_vector())


@pytest.mark.parametrize("target", ["parity", "random", "ones"])
def test_label_character_truth_is_correctly_rounded_for_any_weights(target):
    d = 8
    f = targets(d)[target]
    fast, slow = _pair(d, f)
    y = f(BooleanCube(d).enumerate())
    X = BooleanCube(d).enumerate()
    rng = np.random.default_rng(7)
    for S in _supports(d, 10, seed=1):
        w = tuple(rng.uniform(-1, 1, 2).tolist())
        ef = fast._engine.evaluate(LabelCharacter(d, S, w))
        es = slow._engine._enumerated(plain_label_character(S, w))
        chi = _chi(X, S).astype(int)
        exact = sum((Fraction(w[int(v)]) * int(c) for v, c in zip(y, chi)), Fraction(0)) / 2**d
        assert ef.truth == float(exact)  # the closed form, correctly rounded
        assert abs(Fraction(ef.truth) - exact) <= ef.truth_error <= 2.0**-53
        assert ef.key == es.key and abs(ef.truth - es.truth) <= EXACT_FP_ERROR


def test_a_plain_query_with_a_characters_values_gets_its_answer_again():
    d = 9
    o = SQOracle(BooleanCube(d), targets(d)["random"], 0.05, answers="noisy", seed=1)
    a = o.ask(Character(d, [1, 4]))
    b = o.ask(plain_character((1, 4)))
    c = o.ask(LabelCharacter(d, [1, 4], (1.0, -1.0)))  # the same table of values
    assert a == b == c and o.ledger[1].cached and o.ledger[2].cached
    assert len({r.key for r in o.ledger}) == 1


def test_two_value_hash_matches_the_key_hash_of_the_table():
    rng = np.random.default_rng(0)
    n = 64
    K = [np.arange(n, dtype=np.uint64) + np.uint64(vi * n) for vi in range(2)]
    for _ in range(20):
        code = int(rng.integers(0, n))
        w = rng.uniform(-1, 1, 2)
        chi = 1.0 - 2.0 * np.array([bin(code & c).count("1") % 2 for c in range(n)])
        from sqsim._kernels.bits import index_mix_np

        P = [int(np.sum(index_mix_np(k), dtype=np.uint64)) for k in K]
        Q = [int(np.sum(index_mix_np(k) * chi.astype(np.int64).astype(np.uint64), dtype=np.uint64)) for k in K]
        direct = sum(int(key_hash_terms_np(w[vi] * chi, K[vi])) for vi in range(2)) & _keys.MASK
        assert _keys.label_character_hash(P, Q, list(w)) == direct
        signs = [1, -1]
        assert _keys.character_hash(P, Q, signs) == (
            sum(int(key_hash_terms_np(signs[vi] * chi, K[vi])) for vi in range(2)) & _keys.MASK)


# --------------------------------------------------------------------------- batches, repeats, records
@pytest.mark.parametrize("answers", STRATEGIES)
def test_batch_equals_one_by_one(answers):
    d = 8
    f = targets(d)["random"]
    a, b = _pair(d, f, answers)
    batch = CharacterBatch(d, max_size=2)
    ans = a.ask_batch(batch)
    singles = np.array([b.ask(m) for m in batch])
    assert np.array_equal(ans, singles)
    assert _rows(a.ledger) == _rows(b.ledger) and a.ledger.fingerprint() == b.ledger.fingerprint()


@pytest.mark.parametrize("answers", STRATEGIES)
def test_the_single_query_path_records_what_the_batch_path_records(answers):
    d = 7
    f = targets(d)["random"]
    a, b = _pair(d, f, answers)
    qs = [Character(d, [0, 3]), LabelCharacter(d, [2], (0.5, -0.25)), Character(d, []), Character(d, [0, 3]),
          LabelCharacter(d, [], (0.25, 1.0)), plain_character((0, 3)), LabelCharacter(d, [0, 3], (1.0, -1.0))]
    x = [a.ask(q) for q in qs]
    y = [float(b.ask_batch([q])[0]) for q in qs]
    assert x == y and _rows(a.ledger) == _rows(b.ledger)
    assert [r.cached for r in a.ledger] == [False, False, False, True, False, True, True]


@pytest.mark.parametrize("answers", STRATEGIES)
@pytest.mark.parametrize("d", [4, 10])
def test_every_strategy_answers_in_band(answers, d):
    o = SQOracle(BooleanCube(d), targets(d)["random"], 0.05, answers=answers, seed=d)
    rng = np.random.default_rng(d)
    for S in _supports(d, 30, seed=2):
        for q in (Character(d, S), LabelCharacter(d, S, tuple(rng.uniform(-1, 1, 2).tolist()))):
            a = o.ask(q)
            r = o.ledger[-1]
            assert (abs(a - r.truth) <= 0.05) == r.in_band
            assert r.in_band or answers == "sampled"


def test_nulls_recorded_by_the_adversary():
    d = 6
    f = targets(d)["random"]
    o = SQOracle(BooleanCube(d), f, 0.05, answers="adversarial", seed=0)
    p1 = float(np.mean(f(BooleanCube(d).enumerate())))
    o.ask(Character(d, []))
    o.ask(Character(d, [2]))
    o.ask(LabelCharacter(d, [], (0.5, -0.75)))
    o.ask(LabelCharacter(d, [1], (0.5, -0.75)))
    nulls = [r.extra["null"] for r in o.ledger]
    assert nulls[0] == pytest.approx(1.0 - 2.0 * p1) and nulls[1] == 0.0 and nulls[3] == 0.0
    assert nulls[2] == pytest.approx(0.5 * (1 - p1) - 0.75 * p1)


def test_noisy_structured_uniform_equals_the_generic_one():
    for d in (3, 12, 20):
        o = SQOracle(BooleanCube(d), Parity(d, [0]), 0.05, answers="noisy", seed=d)
        eng = o._engine
        for code in np.random.default_rng(d).integers(0, 2**d, 300).tolist():
            ev = eng.character(Character(d, list(support_of(code))))
            assert ev.probe_weights == CHARACTER_WEIGHTS
            u = smooth_noise(o, ev)  # the closed form
            ev.probe_weights = None
            assert u == smooth_noise(o, ev)  # the generic formula, bit for bit (u and scale)
            assert np.array_equal(eng.probes.character_vector(code), eng.probes.character_values(code))


#: weight pairs for the two-weight noise: generic, equal, opposite, zero, signed-zero and nearly equal weights
TWO_WEIGHTS = [(0.5, -0.25), (1.0, 1.0), (-1.0, -1.0), (0.0, 1.0), (1.0, 0.0), (0.0, -0.3), (-0.3, 0.0),
               (0.3, -0.3), (-1.0, 1.0), (0.0, 0.0), (-0.0, 0.5), (0.5, -0.0), (0.7, 0.7), (0.2, 0.2 + 2**-50),
               (0.9, -0.9 + 2**-40), (1e-300, -0.75)]


@pytest.mark.parametrize("d", [12, 40])  # enumerated lookups; beyond the guard, the junta path
def test_two_weight_noise_is_the_generic_formula(d):
    """The closed form of the noisy strategy's variable for (w_0 chi, w_1 chi) (mean from the chi = -1 count,
    norm as a sum of squares) is the generic centring-and-norm formula up to rounding, takes the constant
    stream exactly where the generic one does, and is bit for bit the generic one for opposite weights; the
    scales (half the probe range: max |w_l|, or |w_0 - w_1| / 2 on a constant chi) are equal."""
    from sqsim.oracles._answering import constant_uniform

    o = SQOracle(BooleanCube(d), Parity(d, [1, d - 2]), 0.05, answers="noisy", seed=d)
    eng = o._engine
    rng = np.random.default_rng(d)
    supports = [[], [0], [1, d - 2]] + [sorted(rng.choice(d, k, replace=False).tolist()) for k in (1, 2, 3, 5, 9)
                                       for _ in range(4)]
    const = constant_uniform(o)
    seen = {"constant": 0, "opposite": 0, "smooth": 0}
    worst = 0.0
    for S in supports:
        for w in TWO_WEIGHTS:
            q = LabelCharacter(d, S, (0.25, 0.5))
            q.weights = w  # past check_weights, which folds -0.0
            ev = eng.evaluate(q)
            assert ev.probe_weights == w
            v = ev.noise_vector()
            assert v.tobytes() == eng.probes.values(q).tobytes()
            closed, s_closed = smooth_noise(o, ev)
            ev.probe_weights = None
            generic, s_generic = smooth_noise(o, ev)
            assert s_closed == s_generic == (1.0 if generic == const else 0.5 * (v.max() - v.min())), (S, w)
            assert (closed == const) == (generic == const), (S, w)
            if generic == const:
                seen["constant"] += 1
            elif w[0] + w[1] == 0.0:
                assert closed == generic, (S, w)
                seen["opposite"] += 1
            else:
                # the generic centring loses digits to cancellation when v is nearly constant (relative
                # error ~ 1e-16 max|v| / range(v)); the closed form does not
                cond = max(1.0, float(np.abs(v).max()) / float(v.max() - v.min()))
                worst = max(worst, abs(closed - generic) / cond)
                seen["smooth"] += 1
    assert worst <= 1e-13
    # constant on the probes (exactly): zero weights on every support, and the 3 equal pairs on S = {}
    assert seen["constant"] == len(supports) + 3 and min(seen.values()) > 0


def test_a_key_collision_on_the_structured_path_stays_in_band(monkeypatch):
    d = 6
    o = SQOracle(BooleanCube(d), Parity(d, [1, 2]), 0.1, answers="exact", seed=0)
    monkeypatch.setattr(o._engine, "_finalize", lambda h: "same-key")  # every key collides
    o.ask(Character(d, [3]))  # truth 0
    a = o.ask(Character(d, [0]))  # truth 0: the earlier answer is valid, so it is repeated (cached)
    b = o.ask(Character(d, [1, 2]))  # truth 1: the earlier answer 0 is not valid, so a second key
    assert a == 0.0 and o.ledger[1].cached
    assert b == 1.0 and not o.ledger[2].cached and o.ledger[2].extra == {"key_collision": True}
    assert o.ledger[2].key == _keys.alternative("same-key", 1)


def test_a_strategy_outside_its_band_is_refused_on_the_structured_path():
    class Off(AnswerStrategy):
        name = "off"

        def answer(self, ctx):
            return ctx.hi + 1.0

    o = SQOracle(BooleanCube(5), Parity(5, [0]), 0.1, answers=Off(), seed=0)
    with pytest.raises(StrategyContractError, match="outside the promised band"):
        o.ask(Character(5, [0]))
    assert len(o.ledger) == 0


def test_non_boolean_labels_get_the_clear_errors():
    d = 4
    o = SQOracle(BooleanCube(d), lambda X: X.sum(axis=1) / d, 0.1, seed=0)
    with pytest.raises(QueryRangeError, match="labels are not Boolean"):
        o.ask(Character(d, [0]))
    with pytest.raises(QueryRangeError, match="labels are not Boolean"):
        o.ask_batch(CharacterBatch(d, max_size=1))
    with pytest.raises(QueryRangeError, match=r"defined for labels in \{0, 1\}"):
        o.ask(LabelCharacter(d, [0], (0.5, 0.5)))
    assert len(o.ledger) == 0


def test_one_label_value_allowed_falls_back_to_the_generic_path():
    d = 5
    f = targets(d)["random"]
    o = SQOracle(BooleanCube(d), f, 0.1, seed=0, max_label_values=1)
    g = SQOracle(BooleanCube(d), f, 0.1, seed=0, max_label_values=1)
    assert not o._engine.structured
    assert o.ask(Character(d, [1])) == g.ask(plain_character((1,)))
    assert o.ledger[0].key == g.ledger[0].key and o.ledger[0].truth == g.ledger[0].truth


def test_budget_is_checked_on_the_structured_path():
    from sqsim import QueryBudgetExceeded

    o = SQOracle(BooleanCube(5), Parity(5, [0]), 0.1, seed=0, budget=2)
    o.ask(Character(5, [0]))
    o.ask(Character(5, [0]))  # a repeat still counts
    with pytest.raises(QueryBudgetExceeded):
        o.ask(Character(5, [1]))
    assert len(o.ledger) == 2


def test_key_spectra_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(_enumerated, "KEY_SPECTRA_BYTES", 8 * 2**7)
    monkeypatch.setattr(_enumerated, "_KEY_SPECTRA", type(_enumerated._KEY_SPECTRA)())
    keys = []
    for d in (5, 6, 7):
        o = SQOracle(BooleanCube(d), targets(d)["random"], 0.1, seed=0)
        o.ask(Character(d, [0]))
        keys.append(o.ledger[0].key)
        assert sum(t.nbytes for t in _enumerated._KEY_SPECTRA.values()) <= 8 * 2**7 or len(_enumerated._KEY_SPECTRA) == 1
    for d, k in zip((5, 6, 7), keys):  # rebuilt after eviction: the same keys
        o = SQOracle(BooleanCube(d), targets(d)["random"], 0.1, seed=0)
        o.ask(Character(d, [0]))
        assert o.ledger[0].key == k
    assert all(not t.flags.writeable for t in _enumerated._KEY_SPECTRA.values())


# --------------------------------------------------------------------------- constructors
def test_trusted_and_public_characters_agree():
    for code in [0, 1, 2, 5, 255, 256, 2**20 - 1, 2**33 + 7]:
        S = support_of(code)
        assert support_code(S) == code and list(S) == [j for j in range(40) if code >> j & 1]
        a, b = Character(40, list(S)), Character._trusted(40, S, code)
        assert (a.d, a.support, a.code, a.name, a.kind, a.reads) == (b.d, b.support, b.code, b.name, b.kind, b.reads)
        X = np.random.default_rng(0).integers(0, 2, (16, 40))
        y = np.random.default_rng(1).integers(0, 2, 16).astype(float)
        assert np.array_equal(a.values(X, y), b.values(X, y))
    c = Character(6, np.array([3, 1]), name="mine")
    assert c.support == (1, 3) and c.name == "mine" and c.kind == "csq" and c.reads == (1, 3)


@pytest.mark.parametrize("bad, match", [
    (dict(d=0, support=[]), "'d' parameter of Character"),
    (dict(d=True, support=[]), "'d' parameter of Character"),
    (dict(d=4, support=[4]), "coordinate indices in"),
    (dict(d=4, support=[1, 1]), "must not repeat"),
    (dict(d=4, support=3), "pass \\[i\\]"),
    (dict(d=4, support=[True]), "coordinate indices in"),
    (dict(d=4, support=[0], name=3), "'name' parameter of Character"),
])
def test_public_character_constructor_still_validates(bad, match):
    with pytest.raises(InvalidParameterError, match=match):
        Character(**bad)


def test_label_character_constructor_validates():
    with pytest.raises(InvalidParameterError, match="'weights' parameter of LabelCharacter"):
        LabelCharacter(3, [0], (2.0, 0.0))
    with pytest.raises(InvalidParameterError, match="must not repeat"):
        LabelCharacter(3, [0, 0], (1.0, 0.0))
    q = LabelCharacter(3, (2, 0), (-0.0, 0.5))
    assert q.support == (0, 2) and q.weights == (0.0, 0.5) and q.kind == "sq" and q.name == "w(0.0, 0.5)*chi{0,2}"


# --------------------------------------------------------------------------- the columnar ledger
def _run_ledger():
    d = 6
    o = SQOracle(BooleanCube(d), Parity(d, [1, 4]), 0.1, answers="adversarial", seed=2)
    for S in _supports(d, 20, seed=4):
        o.ask(Character(d, S))
    o.ask(LabelCharacter(d, [1, 4], (0.5, -0.5)))
    o.ask(Character(d, [1, 4]))
    return o.ledger


def test_ledger_round_trips_json_and_csv(tmp_path):
    led = _run_ledger()
    back = Ledger.from_json(led.to_json())
    assert back.fingerprint() == led.fingerprint() and _rows(back) == _rows(led) and len(back) == len(led)
    assert [r.to_dict() for r in back] == [r.to_dict() for r in led]
    led.to_csv(tmp_path / "l.csv")
    with open(tmp_path / "l.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(led)
    for row, rec in zip(rows, led):
        assert row["key"] == rec.key and float(row["answer"]) == rec.answer and json.loads(row["extra"]) == rec.extra
        assert row["cached"] == str(rec.cached) and int(row["index"]) == rec.index


def test_fingerprint_is_the_hash_of_the_whole_record_list():
    led = _run_ledger()
    text = json.dumps(_rows(led), sort_keys=True, default=repr)
    assert led.fingerprint() == hashlib.sha256(text.encode()).hexdigest()
    assert Ledger().fingerprint() == hashlib.sha256(b"[]").hexdigest()
    big = Ledger()
    for i in range(9000):  # several encoding slices
        big.append(name=f"q{i}", kind="sq", tolerance=0.1, answer=i / 7, truth=None, truth_error=0.0,
                   failure_probability=0.0, strategy="s", in_band=True, seconds=0.0, key="k",
                   extra={"null": -0.0} if i % 2 else {})
    text = json.dumps(_rows(big), sort_keys=True, default=repr)
    assert big.fingerprint() == hashlib.sha256(text.encode()).hexdigest()


def test_ledger_records_are_built_on_demand_as_snapshots():
    led = _run_ledger()
    n = len(led)
    assert [r.index for r in led] == list(range(n)) and led[-1].index == n - 1 and led[n - 3 :][0].index == n - 3
    assert [r.index for r in led.records] == list(range(n))
    with pytest.raises(IndexError):
        led[n]
    r = led[0]
    r.extra["null"] = 5.0
    r.answer = 9.0
    assert led[0].extra["null"] != 5.0 and led[0].answer != 9.0  # the ledger is unchanged
    assert led.counts() == {"csq": n - 1, "sq": 1} and led.total == n


def test_shared_extras_keep_signed_zeros_and_types_apart():
    led = Ledger()
    for e in ({"null": 0.0}, {"null": -0.0}, {"null": 0}, {"null": False}, {"null": 0.0}, {"count": 3}):
        led.append(name="q", kind="sq", tolerance=0.1, answer=0.0, truth=0.0, truth_error=0.0,
                   failure_probability=0.0, strategy="s", in_band=True, seconds=0.0, key="k", extra=e)
    got = [r.extra["null"] for r in led[:5]]
    assert [repr(v) for v in got] == ["0.0", "-0.0", "0", "False", "0.0"]
    assert led.total == 8 and led[5].extra == {"count": 3}


def test_key_spectrum_entries_are_the_per_query_key_sums():
    from sqsim._kernels import cube as kcube

    for d in (1, 4, 9):
        n = 2**d
        for vi in (0, 1):
            tab = _enumerated.key_spectrum(vi, n)
            assert int(tab[0]) == _enumerated.key_total(vi, n)
            for code in np.random.default_rng(d).integers(0, n, 10).tolist():
                assert int(tab[code]) == int(kcube.character_key_sum.serial(code, vi, n, _enumerated.block_bits(n)))


def test_sq_query_overhead_benchmark_reports_its_fields():
    """Structure only (no timing assertion): the entry `sqsim bench` reports as sq_query_overhead."""
    from sqsim._bench import bench_sq_query_overhead

    r = bench_sq_query_overhead(8, 20, 3)
    assert set(r) == {"value", "unit", "reference_value", "ratio"} and r["unit"] == "us/query"
    assert r["value"] > 0 and r["reference_value"] > 0
