"""The version-space adversary (docs/theory/version-space.md) against all 2^d parities and other finite classes."""

from sqsim.oracles._grading import grade
import numpy as np
import pytest

import learners
from sqsim import (
    BooleanCube,
    Character,
    CharacterBatch,
    CorrelationalQuery,
    InvalidParameterError,
    Query,
    SQOracle,
    SQSimError,
    VersionSpaceStrategy,
    ZqCube,
)
from sqsim.concepts import LWRSecrets, Parities, Parity, SparseParities


def random_queries(rng, d, n):
    dom = BooleanCube(d)
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            code = int(rng.integers(0, 2**d))
            out.append(Character(d, [j for j in range(d) if (code >> j) & 1]))
        elif kind == 1:
            g = rng.uniform(-1, 1, 2**d)
            out.append(CorrelationalQuery(lambda X, g=g: g[dom.encode(X)], name=f"csq{i}"))
        elif kind == 2:
            a, b = rng.uniform(-1, 1, (2, 2**d))
            out.append(Query(lambda X, y, a=a, b=b: np.where(y == 1, b[dom.encode(X)], a[dom.encode(X)]), name=f"sq{i}"))
        else:  # a sparse-spectrum query: a few large Fourier coefficients, the adversary's hard case
            codes = rng.integers(0, 2**d, 3)
            out.append(CorrelationalQuery(
                lambda X, c=codes: np.mean([(-1.0) ** (X @ ((int(cc) >> np.arange(d)) & 1)) for cc in c], axis=0),
                name=f"sparse{i}"))
    return out


@pytest.mark.parametrize("tau", [0.05, 0.1, 0.3])
def test_reveal_is_consistent_and_survivors_drop_by_at_most_parseval(tau):
    d = 12
    rng = np.random.default_rng(int(tau * 1000))
    for trial in range(3):
        o = SQOracle(BooleanCube(d), Parities(d), tau, answers="version-space", seed=trial)
        before = 2**d
        for q in random_queries(rng, d, 40):
            o.ask(q)
            rec = o.ledger[-1]
            after = rec.extra["survivors"]
            assert after == o.survivors >= 1
            assert before - after == rec.extra["eliminated"] <= 1 / tau**2 + 1  # Parseval (docs/theory/bounds.md, section bounds-parity)
            before = after
        target = o.reveal()  # re-checks every answer against the drawn target; raises otherwise
        assert isinstance(target, Parity)
        exact = SQOracle(BooleanCube(d), target, tau, answers="exact")
        for r, q in zip(o.ledger, o._engine.asked):
            assert abs(r.answer - exact.ask(q[0])) <= tau
        assert o.reveal() is target


def test_version_space_against_brute_force_meets_the_lower_bound():
    d, tau = 8, 0.1
    o = SQOracle(BooleanCube(d), Parities(d), tau, answers="version-space", seed=3)
    res = learners.make("parity-brute-force", seed=4).learn(o)
    # every query eliminates exactly one candidate: brute force must try all 2^d - 1 supports
    assert res.queries == 2**d - 1 and res.success and o.survivors == 1
    assert [r.extra["survivors"] for r in o.ledger] == list(range(2**d - 1, 0, -1))


def test_reveal_avoids_a_wrong_hypothesis():
    d = 6
    o = SQOracle(BooleanCube(d), Parities(d), 0.2, answers="version-space", seed=0)
    o.ask_batch(CharacterBatch(d, max_size=1))
    guess = Parity(d, [0])
    g = grade(o, guess)
    assert not g["success"] and g["survivors"] > 1
    assert o.reveal() != guess


def test_batch_equals_sequential_and_repeats_eliminate_nobody():
    d = 7
    qs = [Character(d, [1, 2]), Character(d, [3]), Character(d, [1, 2])]
    o1 = SQOracle(BooleanCube(d), Parities(d), 0.1, answers="version-space", seed=5)
    o2 = SQOracle(BooleanCube(d), Parities(d), 0.1, answers="version-space", seed=5)
    a = o1.ask_batch(qs)
    b = [o2.ask(q) for q in qs]
    assert list(a) == b and o1.ledger.fingerprint() == o2.ledger.fingerprint()
    assert o1.ledger[2].cached and o1.ledger[2].extra == {"survivors": 2**d - 2, "eliminated": 0}


def test_other_finite_families():
    o = SQOracle(BooleanCube(8), SparseParities(8, 2), 0.1, answers="version-space", seed=1)
    res = learners.make("parity-brute-force", seed=1, max_size=2).learn(o)
    # the learner searches the 36 supports with 1 <= |S| <= 2; the adversary keeps the target alive until
    # the last 2-sparse candidate in the learner's order (size-1 queries eliminate nobody)
    order = np.random.default_rng(1).permutation(learners.make("parity-brute-force", max_size=2)._candidates(8))
    last_pair = max(i for i, c in enumerate(order, start=1) if bin(int(c)).count("1") == 2)
    assert res.success and res.queries == last_pair and len(res.hypothesis.support) == 2
    fam = LWRSecrets(2, 5, 2)
    o = SQOracle(ZqCube(2, 5), fam, 0.05, answers="version-space", seed=2)
    rng = np.random.default_rng(0)
    for i in range(15):
        s = rng.integers(0, 5, 2)
        o.ask(Query(lambda X, y, s=s: y * np.cos(2 * np.pi * (X @ s) / 5), name=f"c{i}"))
    target = o.reveal()
    assert target.secret.tolist() in [m.secret.tolist() for m in fam]


def test_version_space_errors():
    with pytest.raises(InvalidParameterError, match="The 'target' parameter of SQOracle must be a finite concept family"):
        SQOracle(BooleanCube(4), Parity(4, [0]), 0.1, answers="version-space")
    with pytest.raises(InvalidParameterError, match="family over BooleanCube"):
        SQOracle(BooleanCube(4), Parities(5), 0.1, answers="version-space")
    o = SQOracle(BooleanCube(4), Parity(4, [0]), 0.1)
    with pytest.raises(SQSimError, match="version-space"):
        o.reveal()
    v = SQOracle(BooleanCube(4), Parities(4), 0.1, answers=VersionSpaceStrategy(), seed=0)
    v.ask(Character(4, [0]))
    v.reveal()
    with pytest.raises(SQSimError, match="revealed"):
        v.ask(Character(4, [1]))
    assert len(v.ledger) == 1
