"""Junta truths beyond the enumeration guard (docs/theory/juntas.md): exact truths for queries that declare
their reads against targets that declare their support, checked against sampling and the enumerated engine."""

from itertools import combinations

import numpy as np
import pytest

import learners
from sqsim import (
    BooleanCube,
    Character,
    CharacterBatch,
    InvalidParameterError,
    LabelCharacter,
    Query,
    QueryContractError,
    SQOracle,
    VSTATOracle,
    ZqCube,
)
from sqsim.concepts import Junta, Parity
from sqsim.oracles._enumerated import EXACT_FP_ERROR
from sqsim.oracles._evaluation import CHARACTER_WEIGHTS
from sqsim.oracles._junta import JUNTA_MAX_POINTS, junta_guard, probe_bits, probe_character_values

STRATEGIES = ["exact", "noisy", "rounded", "adversarial", "sampled"]
D = 64
T10 = (1, 4, 9, 17, 22, 31, 40, 47, 55, 63)  # a 10-junta's support at d = 64


def _maj_table(k):
    p = np.arange(2**k)
    return ((np.array([int(c).bit_count() for c in p]) * 2) > k).astype(np.float64)


def _targets(d=D):
    rng = np.random.default_rng(5)
    sup = tuple(sorted(rng.choice(d, 10, replace=False).tolist())) if d != D else T10
    return {
        "parity": Parity(d, [5 % d, 33 % d]),
        "junta-bool": Junta(d, sup, table=rng.integers(0, 2, 2**10).astype(float)),
        "junta-real": Junta(d, sup[:4], table=np.round(rng.uniform(-1, 1, 16), 3)),
        "junta-fn": Junta(d, sup[:3], fn=lambda XS: (XS.sum(axis=1) >= 2).astype(np.int64)),
    }


def _queries(d=D):
    """Junta queries of several types: (name, query) pairs; every union with T10 stays within 2^20."""
    a, b, c = 5 % d, 33 % d, 40 % d
    w = np.linspace(-0.2, 0.3, 6)
    cols = [a, b, c, 2, 11, 50 % d]
    return [
        ("plain", Query(lambda X, y: np.clip((1 - 2 * y) * 0.5 * (1 - 2 * X[:, a]) + 0.3 * X[:, b] - 0.2 * y * X[:, c],
                                             -1, 1), name="plain", reads=[a, b, c])),
        ("linear", Query(lambda X, y: np.tanh((X[:, cols] - 0.5) @ w) * (1 - y), name="linear", reads=cols)),
        ("char-in", Character(d, [a, b])),
        ("char-out", Character(d, [a, 7])),
        ("char-empty", Character(d, [])),
        ("label-char", LabelCharacter(d, [a, b], (0.5, -0.25))),
        ("label-char-empty", LabelCharacter(d, [], (0.3, -0.9))),
    ]


def _record(oracle, query):
    oracle.ask(query)
    return oracle.ledger[len(oracle.ledger) - 1]


# ---------------------------------------------------------------------------------------------- concepts
def test_junta_concept_table_fn_and_codes(rng):
    maj = Junta(64, [3, 17, 40], table=_maj_table(3))
    X = rng.integers(0, 2, (500, 64))
    direct = (X[:, [3, 17, 40]].sum(axis=1) >= 2).astype(float)
    np.testing.assert_array_equal(maj(X), direct)
    assert maj.boolean is True and maj.support == (3, 17, 40)
    by_fn = Junta(64, [40, 3, 17], fn=lambda XS: (XS.sum(axis=1) >= 2).astype(float))
    np.testing.assert_array_equal(by_fn(X), direct)
    assert by_fn.boolean is None and by_fn.support == (3, 17, 40)
    small = Junta(20, [0, 7, 19], table=np.arange(8) / 8.0)
    codes = np.arange(0, 2**20, 997)
    np.testing.assert_array_equal(small.labels_from_codes(codes), small(BooleanCube(20).decode(codes)))
    assert small.boolean is False
    # pattern p of the table sets x_{s_i} = bit i of p
    x = np.zeros((1, 20), dtype=np.int64)
    x[0, 19] = 1
    assert small(x)[0] == 4 / 8.0
    assert Junta(8, [], table=[1.0])(np.zeros((3, 8), dtype=np.int64)).tolist() == [1.0, 1.0, 1.0]
    assert maj == Junta(64, [3, 17, 40], table=_maj_table(3)) and maj != by_fn


@pytest.mark.parametrize("make, param", [
    (lambda: Junta(0, [0], table=[0, 1]), "d"),
    (lambda: Junta(8, [1, 1], table=[0, 1, 1, 0]), "support"),
    (lambda: Junta(8, [9], table=[0, 1]), "support"),
    (lambda: Junta(8, 3, table=[0, 1]), "support"),
    (lambda: Junta(8, [1, 2], table=[0, 1, 1]), "table"),
    (lambda: Junta(8, [1], table=[0, np.nan]), "table"),
    (lambda: Junta(8, [1], table=["a", "b"]), "table"),
    (lambda: Junta(8, [1]), "table"),
    (lambda: Junta(8, [1], table=[0, 1], fn=lambda XS: XS[:, 0]), "table"),
    (lambda: Junta(8, [1], fn=3), "fn"),
    (lambda: Junta(40, list(range(25)), table=np.zeros(2)), "table"),
    (lambda: Junta(8, [1], table=[0, 1])(np.zeros((2, 7))), "X"),
    (lambda: Junta(8, [1], fn=lambda XS: XS)(np.zeros((2, 8))), "fn"),
])
def test_bad_junta_parameters(make, param):
    with pytest.raises(InvalidParameterError, match=rf"The '{param}' parameter of Junta.* must .* Got .* instead"):
        make()


class _Declares:
    """A plain target with a hand-written support declaration."""

    boolean = True

    def __init__(self, support, reads):
        self.support, self.reads = support, list(reads)

    def __call__(self, X):
        return X[:, self.reads].sum(axis=1) % 2


@pytest.mark.parametrize("support", [[0, 0], [70], "ab", 3, [1.5], [True]])
def test_malformed_support_declaration_is_refused(support):
    with pytest.raises(InvalidParameterError, match="The 'target' parameter of SQOracle must declare its support"):
        SQOracle(BooleanCube(D), _Declares(support, [0]), 0.1)


def test_target_that_reads_outside_its_support_is_refused():
    with pytest.raises(InvalidParameterError, match=r"must depend only on the coordinates of its declared support"):
        SQOracle(BooleanCube(D), _Declares([0, 1], [0, 1, 50]), 0.1)
    SQOracle(BooleanCube(D), _Declares([0, 1, 50], [0, 1, 50]), 0.1)  # an honest declaration passes


# ---------------------------------------------------------------------------------------------- truths
def _sampled_check(target, query, n=10**6, seed=11):
    """Mean of phi(x, f(x)) and of phi(x, f(x')) on n uniform points, with their standard errors."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 2, (n, D))
    y = np.asarray(target(X), dtype=np.float64)
    v = query.values(X, y, target.boolean is not False and bool(np.all((y == 0) | (y == 1))))
    y2 = y[rng.permutation(n)]  # labels of independent points: the null distribution
    v0 = query.values(X, y2, bool(np.all((y == 0) | (y == 1))))
    return v.mean(), v.std() / np.sqrt(n), v0.mean(), v0.std() / np.sqrt(n)


@pytest.mark.parametrize("tname", ["parity", "junta-bool", "junta-real", "junta-fn"])
def test_d64_junta_truths_agree_with_a_sampled_check(tname):
    f = _targets()[tname]
    oracle = SQOracle(BooleanCube(D), f, 0.05, answers="adversarial", seed=3)
    for qname, q in _queries():
        if tname == "junta-real" and isinstance(q, (Character, LabelCharacter)):
            continue  # characters and label characters are defined for Boolean labels
        rec = _record(oracle, q)
        assert rec.extra["truth_path"] == "junta", (tname, qname)
        assert rec.failure_probability == 0.0 and rec.truth_error <= EXACT_FP_ERROR
        structured = isinstance(q, (Character, LabelCharacter))  # from the spectrum of f on x_T: size |T|
        assert rec.extra["junta_size"] == len(set(() if structured else q.reads) | set(f.support))
        m, se, m0, se0 = _sampled_check(f, q)
        assert abs(rec.truth - m) <= 5 * se + 1e-12, (tname, qname, rec.truth, m, se)
        assert abs(rec.extra["null"] - m0) <= 5 * se0 + 1e-12, (tname, qname, rec.extra["null"], m0, se0)
        assert not oracle.exact  # engine-level: this oracle can also give Monte Carlo truths


def test_parity_characters_have_their_closed_form_at_d64():
    oracle = SQOracle(BooleanCube(D), Parity(D, [5, 63]), 0.05, seed=1)
    assert oracle.ask(Character(D, [5, 63])) == 1.0
    assert oracle.ask(Character(D, [5])) == 0.0
    assert oracle.ask(Character(D, list(range(40)))) == 0.0  # S outside T: no enumeration at all
    assert oracle.ask(LabelCharacter(D, [5, 63], (0.5, -0.25))) == 0.375  # (0.5 + 0.25) / 2
    assert oracle.ask(LabelCharacter(D, [], (0.5, -0.25))) == 0.125  # E[w_f] = (0.5 - 0.25) / 2
    assert [r.extra["truth_path"] for r in oracle.ledger] == ["junta"] * 5


def _pair(f, d, answers="adversarial"):
    """(enumerated oracle, junta oracle) on {0,1}^d for the same target and seed."""
    exact = SQOracle(BooleanCube(d), f, 0.05, answers=answers, seed=7, truth="exact")
    junta = SQOracle(BooleanCube(d, max_enumeration=2**12), f, 0.05, answers=answers, seed=7)
    return exact, junta


@pytest.mark.parametrize("tname", ["parity", "junta-bool", "junta-real", "junta-fn"])
def test_junta_truths_equal_the_enumerated_engine_at_d16(tname):
    d = 16
    rng = np.random.default_rng(2)
    sup = (0, 3, 6, 9, 12, 15)
    f = {"parity": Parity(d, [3, 12]),
         "junta-bool": Junta(d, sup, table=rng.integers(0, 2, 64).astype(float)),
         "junta-real": Junta(d, sup[:3], table=np.round(rng.uniform(-1, 1, 8), 3)),
         "junta-fn": Junta(d, sup[:3], fn=lambda XS: (XS.sum(axis=1) >= 2).astype(np.int64))}[tname]
    exact, junta = _pair(f, d)
    assert exact.exact and not junta.exact
    for qname, q in _queries(d):
        if tname == "junta-real" and isinstance(q, (Character, LabelCharacter)):
            continue
        a, b = _record(exact, q), _record(junta, q)
        assert b.extra["truth_path"] == "junta", (tname, qname, b.extra)
        dyadic = isinstance(q, Character)
        tol = 0.0 if dyadic else 4 * EXACT_FP_ERROR
        assert abs(a.truth - b.truth) <= tol, (tname, qname, a.truth, b.truth)
        assert abs(a.extra["null"] - b.extra["null"]) <= tol, (tname, qname, a.extra["null"], b.extra["null"])
        assert a.key != b.key  # enumerated keys hash the whole domain, Monte Carlo keys the probe set


def test_character_batch_members_match_the_enumerated_spectrum():
    d = 16
    f = Junta(d, (1, 5, 8, 13), table=np.random.default_rng(4).integers(0, 2, 16).astype(float))
    exact, junta = _pair(f, d, answers="exact")
    batch = CharacterBatch(d, max_size=2)
    np.testing.assert_array_equal(exact.ask_batch(batch), junta.ask_batch(batch))
    assert all(r.extra["truth_path"] == "junta" for r in junta.ledger)
    assert len(junta.ledger) == 1 + 16 + 120


@pytest.mark.parametrize("answers", STRATEGIES)
def test_every_strategy_answers_in_band_at_d64(answers):
    f = _targets()["junta-bool"]
    oracle = SQOracle(BooleanCube(D), f, 0.05, answers=answers, seed=9)
    qs = [q for _, q in _queries()] + list(CharacterBatch(32, max_size=1).members[:0])
    answers_ = oracle.ask_batch(qs)
    for a, rec in zip(answers_, oracle.ledger):
        assert rec.extra["truth_path"] == "junta" and rec.failure_probability == (1e-3 if answers == "sampled" else 0.0)
        if answers == "sampled":
            assert rec.in_band == (abs(a - rec.truth) <= 0.05)
        else:
            assert rec.in_band and abs(a - rec.truth) <= 0.05 - rec.truth_error
    if answers == "adversarial":  # the null adversary answers the null, clipped into the band
        for a, rec in zip(answers_, oracle.ledger):
            assert a == min(max(rec.extra["null"], rec.truth - 0.05 + rec.truth_error), rec.truth + 0.05)


def test_vstat_junta_truths_are_exact():
    f = Parity(D, [2, 50])
    q = Query(lambda X, y: ((X[:, 2] ^ X[:, 50]) == y).astype(float), name="agree", reads=[2, 50])
    oracle = VSTATOracle(BooleanCube(D), f, 100, seed=1)
    assert oracle.ask(q) == 1.0 and oracle.ledger[0].extra["truth_path"] == "junta"


def test_zq_cube_juntas_beyond_the_guard():
    class ModSum:
        boolean = False
        support = (3, 20)

        def __call__(self, X):
            return ((X[:, 3] + X[:, 20]) % 3) / 2.0

    dom = ZqCube(30, 3)
    oracle = SQOracle(dom, ModSum(), 0.05, answers="adversarial", seed=2)
    q = Query(lambda X, y: 0.5 * y * (X[:, 3] == 1) - 0.5 * (X[:, 7] == 2), name="zq", reads=[3, 7])
    rec = _record(oracle, q)
    # E[y 1{x3 = 1}] = (1/3) E[((1 + x20) mod 3) / 2] = (1/3) (1/2) = 1/6; E[1{x7 = 2}] = 1/3
    assert rec.extra["truth_path"] == "junta" and rec.extra["junta_size"] == 3 and abs(rec.truth - (1 / 12 - 1 / 6)) <= 1e-15
    # null: E[y] = 1/2 independently of x3
    assert abs(rec.extra["null"] - (0.5 * 0.5 / 3 - 0.5 / 3)) <= 1e-15


# ---------------------------------------------------------------------------------------------- keys
def test_structured_probe_vectors_equal_the_generic_ones():
    oracle = SQOracle(BooleanCube(D), Parity(D, [0, 63]), 0.05, seed=4)
    probes = oracle._engine.probes
    bits = probe_bits(probes)
    for q in (Character(D, [0, 63]), Character(D, []), Character(D, [1, 2, 62]), Character(D, range(0, 60, 5)), LabelCharacter(D, [63], (0.0, -1.0)),
              LabelCharacter(D, [], (0.25, 0.5))):
        np.testing.assert_array_equal(probe_character_values(bits, probes.labels, q), probes.values(q))
        assert (probe_character_values(bits, probes.labels, q).view(np.uint64) == probes.values(q).view(np.uint64)).all()


def test_a_plain_query_with_a_characters_values_shares_its_key():
    oracle = SQOracle(BooleanCube(D), Parity(D, [0, 63]), 0.05, answers="noisy", seed=4)
    a = oracle.ask(Character(D, [0, 63]))
    twin = Query(lambda X, y: (1.0 - 2.0 * y) * (1.0 - 2.0 * ((X[:, 0] + X[:, 63]) % 2)), name="twin", reads=[0, 63])
    assert oracle.ask(twin) == a
    assert oracle.ledger[1].cached and oracle.ledger[1].key == oracle.ledger[0].key


# ---------------------------------------------------------------------------------------------- reads
def test_read_violation_raises_and_leaves_the_ledger_unchanged():
    oracle = SQOracle(BooleanCube(D), Parity(D, [3, 40]), 0.05, answers="noisy", seed=1)
    good = Query(lambda X, y: (1 - 2 * y) * (1 - 2 * (X[:, 3] ^ X[:, 40])), name="good", reads=[3, 40])
    oracle.ask(good)
    before = oracle.ledger.fingerprint()
    liar = Query(lambda X, y: (1 - 2 * y) * (1 - 2 * (X[:, 3] ^ X[:, 41])), name="liar", reads=[3, 40])
    # reads a coordinate outside its declaration only where x_3 = 1 and the label is 1
    sly = Query(lambda X, y: np.where((X[:, 3] == 1) & (y == 1), 0.5 * X[:, 60], 0.0), name="sly", reads=[3])
    for bad in (liar, sly):
        with pytest.raises(QueryContractError, match=rf"Query '{bad.name}' declares reads=\[3(, 40)?\]"):
            oracle.ask(bad)
        with pytest.raises(QueryContractError, match=f"Query '{bad.name}'"):
            oracle.ask_batch([good, bad])
    assert len(oracle.ledger) == 1 and oracle.ledger.fingerprint() == before


def test_reads_beyond_the_dimension_are_refused():
    oracle = SQOracle(BooleanCube(D), Parity(D, [3]), 0.05, seed=1)
    with pytest.raises(InvalidParameterError, match=r"The 'reads' parameter of Query 'far' must hold .* \[0, 63\]"):
        oracle.ask(Query(lambda X, y: 0 * y, name="far", reads=[64]))
    assert len(oracle.ledger) == 0


# ---------------------------------------------------------------------------------------------- fallback
def test_honest_fallback_to_monte_carlo():
    f = Parity(D, [3, 40])
    oracle = SQOracle(BooleanCube(D), f, 0.1, seed=1)
    wide = list(range(25))
    cases = [
        (Query(lambda X, y: (1 - 2 * y) * 0.1 * X[:, :25].mean(axis=1), name="wide", reads=wide), "above the junta guard"),
        (Query(lambda X, y: (1 - 2 * y) * (1 - 2 * (X[:, 3] ^ X[:, 40])), name="undeclared"), "declares no reads"),
    ]
    for q, why in cases:
        rec = _record(oracle, q)
        assert rec.extra["truth_path"] == "monte-carlo" and why in rec.extra["junta_fallback"]
        assert rec.truth_error > 0 and rec.failure_probability > 0 and rec.extra["truth_samples"] > 0
    assert abs(oracle.ledger[1].truth - 1.0) <= oracle.ledger[1].truth_error

    plain = SQOracle(BooleanCube(D), lambda X: (X[:, 3] ^ X[:, 40]), 0.1, seed=1)
    rec = _record(plain, Character(D, [3, 40]))
    assert rec.extra["junta_fallback"] == "the target declares no support" and abs(rec.truth - 1.0) <= rec.truth_error

    big = Junta(D, list(range(22)), fn=lambda XS: XS[:, 0])
    rec = _record(SQOracle(BooleanCube(D), big, 0.1, seed=1), Character(D, [0]))
    assert "support has 22 coordinates" in rec.extra["junta_fallback"] and rec.truth_error > 0

    # truth="monte-carlo" on an enumerable cube: the Monte Carlo engine as it always was (no junta path)
    mc = SQOracle(BooleanCube(12), Parity(12, [3]), 0.1, seed=1, truth="monte-carlo")
    rec = _record(mc, Character(12, [3]))
    assert "truth_path" not in rec.extra and rec.truth_error > 0


def test_too_many_label_values_fall_back():
    f = Junta(D, list(range(8)), table=np.arange(256) / 256.0)  # 256 distinct labels > 64
    oracle = SQOracle(BooleanCube(D), f, 0.1, seed=1)
    rec = _record(oracle, Query(lambda X, y: 0.5 * y * X[:, 0], name="q", reads=[0]))
    assert rec.extra["truth_path"] == "monte-carlo" and "256 distinct labels" in rec.extra["junta_fallback"]


def test_junta_guard():
    assert junta_guard(BooleanCube(64)) == JUNTA_MAX_POINTS == 2**20
    assert junta_guard(BooleanCube(64, max_enumeration=2**12)) == 2**12
    oracle = SQOracle(BooleanCube(D), _targets()["junta-bool"], 0.05, seed=1)
    extra = list(set(range(D)) - set(T10))[:10]  # |U| = 20: still exact
    q = Query(lambda X, y: (1 - 2 * y) * (1 - 2 * X[:, extra[0]]) * 0.5, name="u20", reads=extra)
    rec = _record(oracle, q)
    assert rec.extra == {"truth_path": "junta", "junta_size": 20} and rec.truth == 0.0
    more = next(j for j in range(D) if j not in T10 and j not in extra)
    q21 = Query(lambda X, y: 0.25 * (1 - 2 * y) * (1 - 2 * X[:, extra[0]]), name="u21", reads=extra + [more])
    assert _record(oracle, q21).extra["truth_path"] == "monte-carlo"


# ---------------------------------------------------------------------------------------------- learners
def _brute_force_rank(d, support, seed, k=2):
    codes = np.array([sum(1 << j for j in c) for i in range(1, k + 1) for c in combinations(range(d), i)],
                     dtype=np.uint64)
    order = np.random.default_rng(seed).permutation(codes)
    return int(np.flatnonzero(order == np.uint64(sum(1 << j for j in support)))[0]) + 1


@pytest.mark.parametrize("d", [32, 64])
def test_parity_brute_force_identifies_a_sparse_parity_beyond_the_guard(d):
    support = [7, d - 2]
    oracle = SQOracle(BooleanCube(d), Parity(d, support), 0.05, answers="adversarial", seed=3)
    res = learners.make("parity-brute-force", max_size=2, seed=5).learn(oracle)
    assert res.success and res.hypothesis.support == tuple(support)
    assert res.queries == _brute_force_rank(d, support, 5)
    assert all(r.extra["truth_path"] == "junta" for r in oracle.ledger)


@pytest.mark.parametrize("d", [32, 64])
def test_low_degree_identifies_a_sparse_parity_beyond_the_guard(d):
    support = [7, d - 2]
    oracle = SQOracle(BooleanCube(d), Parity(d, support), 0.05, answers="adversarial", seed=3)
    res = learners.make("low-degree", k=2).learn(oracle)
    assert res.success and res.hypothesis.support == tuple(support)
    assert res.queries == 1 + d + d * (d - 1) // 2
    assert all(r.extra["truth_path"] == "junta" for r in oracle.ledger)


# ---------------------------------------------------------------------------------------------- internals
def test_cube_chunks_equal_the_generic_digit_chunks():
    """The {0,1}^d chunking (template + constant high columns) against the any-base digit chunking."""
    oracle = SQOracle(BooleanCube(D), _targets()["junta-bool"], 0.05, seed=1)
    J = oracle._engine.junta
    U = tuple(sorted(set(T10) | {0, 2, 3, 5, 6, 7, 8}))  # 17 coordinates: four chunks of 2^15 patterns
    from sqsim._random import derived_rng

    n = 0
    for (X, X2, lidx, describe), (Y, _, lidy, _) in zip(J._cube_chunks(U, derived_rng(1, "a")),
                                                        J._digit_chunks(U, derived_rng(1, "a")), strict=True):
        n += 1
        np.testing.assert_array_equal(X, Y)
        np.testing.assert_array_equal(lidx, lidy)
        np.testing.assert_array_equal(X2[:, list(U)], Y[:, list(U)])  # the check keeps x_U ...
        rest = [j for j in range(D) if j not in U]
        assert 0.4 < X2[:, rest].mean() < 0.6 and not X.flags.writeable  # ... and fills the rest at random
        assert describe(5).startswith("x_{0,1,2,3,")
    assert n == 4


def test_a_query_that_writes_to_its_batch_is_refused():
    oracle = SQOracle(BooleanCube(D), Parity(D, [3, 40]), 0.05, seed=1)

    def writes(X, y):
        X[:, 3] = 0
        return 0 * y

    with pytest.raises(Exception, match="read-only"):
        oracle.ask(Query(writes, name="writes", reads=[3]))
    assert len(oracle.ledger) == 0


# ------------------------------------------------------------------------------------------ fast characters
def _fast_queries(d, T):
    """Characters and label characters that exercise every branch of JuntaCharacters.probe_bits."""
    rng = np.random.default_rng(d)
    qs = [Character(d, []), Character(d, [T[0]]), Character(d, list(T)), Character(d, [0, d - 1]),
          Character(d, range(0, d, 2)), Character(d, range(d))]
    qs += [Character(d, sorted(rng.choice(d, k, replace=False).tolist())) for k in (2, 3, 5, 6, 7, 8, 20)]
    for w in ((0.5, -0.25), (0.0, 1.0), (1.0, -1.0), (0.1, 0.7), (-1.0, 0.0), (0.3, 0.3), (0.0, 0.0)):
        qs += [LabelCharacter(d, S, w) for S in ([], [T[0]], list(T), [1, 2], range(1, d, 3))]
    return qs


def _reference_key(context, values):
    """The key rule spelled out (docs/theory/juntas.md, juntas-fast-keys): blake2b of the context, a zero
    byte and the float64 values."""
    import hashlib

    b = hashlib.blake2b(digest_size=16)
    b.update(context.encode() + b"\0" + np.asarray(values, dtype=np.float64).tobytes())
    return b.hexdigest()


@pytest.mark.parametrize("d", [25, 32, 63, 64, 200])
def test_fast_character_probe_vectors_and_keys_equal_the_generic_ones(d):
    """Bit for bit: the probe vector from the sign rows, the query's own values on the probe set and the
    previous product form; the key, the key rule applied to the evaluated values."""
    T = (3, d - 2)
    eng = SQOracle(BooleanCube(d), Parity(d, list(T)), 0.05, seed=9)._engine
    probes, fast = eng.probes, eng.characters
    bits = probe_bits(probes)
    for q in _fast_queries(d, T):
        generic = probes.values(q)
        previous = probe_character_values(bits, probes.labels, q)
        assert fast.probe_values(q).tobytes() == generic.tobytes() == previous.tobytes()
        ev = eng.evaluate(q)
        assert ev.key == _reference_key(eng.context, generic)
        assert ev.noise_vector().tobytes() == generic.tobytes()
        assert ev.probe_weights == (CHARACTER_WEIGHTS if type(q) is Character else q.weights)


def test_fast_label_character_patterns_keep_the_sign_of_a_zero_weight():
    """0.0 and -0.0 are equal dict keys: the weight patterns are still told apart (a -0.0 weight gives -0.0 at
    chi = +1, as the product w chi does)."""
    eng = SQOracle(BooleanCube(40), Parity(40, [1, 2]), 0.05, seed=1)._engine
    bits = probe_bits(eng.probes)
    for w in ((0.0, 0.5), (-0.0, 0.5), (0.5, -0.0), (0.0, 0.5)):
        q = LabelCharacter(40, [1, 7], (0.25, 0.5))
        q.weights = w  # past check_weights, which folds -0.0
        previous = probe_character_values(bits, eng.probes.labels, q)
        assert eng.characters.probe_values(q).tobytes() == previous.tobytes()


class _PreviousCharacters:
    """The junta path's characters as they were computed before the sign-row fast path: the product-form probe
    vector, probe_key, and for Characters the generic smooth noise (LabelCharacters keep the closed form,
    which rounds differently: test_two_weight_noise_is_the_generic_formula compares the two)."""

    def __init__(self, eng):
        self.eng, self.bits = eng, probe_bits(eng.probes)

    def evaluate(self, query):
        from sqsim import _keys

        pv = probe_character_values(self.bits, self.eng.probes.labels, query)
        ev = self.eng.junta.character(query, _keys.probe_key(self.eng.context, pv), pv,
                                      {"truth_path": "junta", "junta_size": len(self.eng.junta.support)})
        if type(query) is Character:
            ev.probe_weights = None
        return ev

    label_character = character = evaluate


def _junta_session(o, d):
    rng = np.random.default_rng(3)
    qs = _fast_queries(d, (3, d - 2)) + [Character(d, sorted(rng.choice(d, 3, replace=False).tolist()))
                                        for _ in range(40)]
    for q in qs:
        o.ask(q)
    o.ask(Character(d, [3]))  # a repeat
    o.ask(LabelCharacter(d, [3, d - 2], (0.5, -0.25)))  # a repeat
    o.ask_batch([Character(d, [1, 4]), LabelCharacter(d, [1, 4], (0.2, 0.9)), Character(d, [1, 4])])
    o.ask_batch(CharacterBatch(d, supports=[[2], [3, d - 2], []]))
    return o.ledger


@pytest.mark.parametrize("d", [32, 64])
@pytest.mark.parametrize("answers", ["exact", "noisy", "rounded", "adversarial", "sampled"])
def test_fast_junta_characters_reproduce_the_previous_ledger(d, answers):
    """The ask fast path (lookups, sign rows, keyer, structured noise) and the previous path (ask through the
    batch template, product-form probe vectors, probe_key, generic noise) record identical ledgers."""
    mk = lambda: SQOracle(BooleanCube(d), Parity(d, [3, d - 2]), 0.05, answers=answers, seed=11)
    fast = mk()
    slow = mk()
    assert fast._structured
    object.__setattr__(slow, "_structured", False)  # sealed oracle: this test opts out of its fast path
    slow._engine.characters = _PreviousCharacters(slow._engine)
    a, b = _junta_session(fast, d), _junta_session(slow, d)
    assert len(a) == len(b) > 90
    assert a.fingerprint() == b.fingerprint()
    assert [r.key for r in a] == [r.key for r in b] and [r.answer for r in a] == [r.answer for r in b]


def _smooth_uniform_reference(o, v):
    """The noisy strategy's variable spelled out (mean, norm and the constant stream for constant vectors)."""
    import math

    from sqsim._random import derived_rng

    if v.min() == v.max():
        return float(derived_rng(o._entropy, "noise", "constant").random())
    c = v - float(np.add.reduce(v)) / v.shape[0]
    norm = math.sqrt(float(c.dot(c)))
    g = derived_rng(o._entropy, "noise", v.shape[0]).standard_normal(v.shape[0])
    return 0.5 * math.erfc(-float(g @ c) / (norm * math.sqrt(2.0)))


def test_smooth_noise_is_constant_only_on_exactly_constant_probe_vectors():
    """The constant stream (and scale 1) only for exactly constant vectors; a nearly constant vector keeps its
    own direction and its small scale (an absolute threshold let eps phi + 1 - eps, eps < 1e-12, share the
    constant noise and read E[phi] to 1e-4 from two answers, hostile review); below TINY_NORM the direction is
    taken from the vector rescaled to [0, 1], the same u as the pattern at scale 1 up to rounding."""
    from sqsim.oracles._answering import TINY_NORM, smooth_noise, smooth_noise_two_weight
    from sqsim.oracles._evaluation import Evaluation

    o = SQOracle(BooleanCube(40), Parity(40, [1, 2]), 0.05, answers="noisy", seed=2)
    const = _smooth_uniform_reference(o, np.zeros(3))
    rng = np.random.default_rng(0)
    ev = lambda v: Evaluation(0.0, 0.0, 0.0, "k", 0.0, lambda v=v: v)  # noqa: E731
    for v in (rng.uniform(-1, 1, 512), np.full(512, 0.3), np.full(512, -1.0), np.ones(5), np.zeros(512)):
        u, s = smooth_noise(o, ev(v))
        assert u == _smooth_uniform_reference(o, v) and s == (0.5 * (v.max() - v.min()) or 1.0)
    pattern = rng.uniform(-1, 1, 512)
    u1, s1 = smooth_noise(o, ev(pattern))
    for eps in (1e-9, 1e-12, 5e-13, 1e-14, 1e-100, 1e-200, 1e-300):
        v = 0.5 * (1.0 - eps) + eps * pattern if eps > 1e-20 else eps * pattern
        u, s = smooth_noise(o, ev(v))
        assert u != const and s == pytest.approx(eps * s1, rel=1e-3), eps
        if eps < 1e-140:  # exact multiples of the pattern: the rescaled path, the pattern's u
            assert np.sqrt(float((v - v.mean()) @ (v - v.mean()))) <= TINY_NORM
            assert u == pytest.approx(u1, abs=1e-12)
        else:
            assert u == _smooth_uniform_reference(o, v)
    for _ in range(20):
        chi = rng.choice([-1.0, 1.0], 256)
        pm = np.concatenate((chi, -chi))
        assert smooth_noise_two_weight(o, pm, CHARACTER_WEIGHTS) == (_smooth_uniform_reference(o, pm), 1.0)
        tiny = smooth_noise_two_weight(o, 1e-200 * pm, (1e-200, -1e-200))
        assert tiny[0] == pytest.approx(_smooth_uniform_reference(o, pm), abs=1e-12) and tiny[1] == 1e-200


# ------------------------------------------------------------------------------ lifted characters beyond d = 62
@pytest.mark.parametrize("d", [63, 64, 200])
def test_lifted_characters_accept_the_cube_cap(d):
    """LiftedCharacter and LiftedCharacterBatch accept d up to the cube's cap (as Character does): values by
    their formula (support through the last coordinate), Python-int codes, a spec round trip, and an
    in-band Monte Carlo answer on a Gaussian oracle; the exact image still needs a lift on the same d."""
    from sqsim import Gaussian
    from sqsim.lift import CompressedLift, LiftedCharacter, LiftedCharacterBatch
    from sqsim.lift._queries import exact_image
    from sqsim.oracles._sandbox import deserialize_query, serialize_query

    S = [0, 5, d - 1]
    q = LiftedCharacter(d, S, (0.25, -0.5))
    assert q.code == (1 << 0) + (1 << 5) + (1 << (d - 1)) and q.reads == tuple(S)
    rng = np.random.default_rng(d)
    Z, lab = rng.standard_normal((400, d)), rng.choice([0.0, -1.5, 2.0], 400)
    expected = np.where(lab != 0, -0.5, 0.25) * (-1.0) ** (Z[:, S] >= 0).sum(axis=1)
    np.testing.assert_array_equal(q.values(Z, lab, False), expected)
    back = deserialize_query(serialize_query(q))
    assert type(back) is LiftedCharacter and back.d == d and back.support == q.support and back.weights == q.weights
    batch = LiftedCharacterBatch(d, supports=[[], [d - 1], S], weights=(0.0, 1.0))
    assert [m.code for m in batch.members] == [0, 1 << (d - 1), q.code]
    o = SQOracle(Gaussian(d), lambda Z: (Z[:, d - 1] >= 0).astype(float), 0.1, seed=3)
    a = o.ask(LiftedCharacter(d, [d - 1], (0.25, -0.5)))
    # phi = w_l (-1)^{1[z >= 0]} with l = 1[z >= 0], z = z_{d-1}: 0.25 (z < 0) and 0.5 (z >= 0), mean 0.375
    assert abs(a - 0.375) <= 0.1 + o.ledger[0].truth_error
    with pytest.raises(InvalidParameterError, match="d = 8"):
        exact_image(q, CompressedLift(8, 2, 0.1), True)


def test_lifted_characters_refuse_d_beyond_the_cube_cap():
    from sqsim.lift import LiftedCharacter, LiftedCharacterBatch

    for make in (lambda: LiftedCharacter(4097, [0]), lambda: LiftedCharacterBatch(4097, supports=[[0]]),
                 lambda: LiftedCharacter(0, [])):
        with pytest.raises(InvalidParameterError, match="'d' parameter of LiftedCharacter"):
            make()
    assert LiftedCharacter(4096, [4095]).code == 1 << 4095
