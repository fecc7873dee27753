"""Exact Boolean images of structured lifted queries (docs/theory/lifted-images.md)."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from scipy import signal, special

from sqsim import BooleanCube, InvalidParameterError, Query, QueryRangeError, SQOracle, ZqCube
from sqsim.adapter import LiftedOracle
from sqsim.concepts import LWR, Parity
from sqsim.lift import (
    CompressedLift,
    EventProbabilities,
    LiftedCharacter,
    LiftedCharacterBatch,
    ThresholdQuery,
)
from sqsim.lift._law import VLaw, sign_sets, truncated_convolve, truncated_convolve_numpy
from sqsim.lift._queries import threshold_boundaries

STRATEGIES = ("exact", "noisy", "rounded", "adversarial", "sampled")


# ----------------------------------------------------------------------------- psi families (importable)
def junta_psi(X, e, cols=(0, 1), table=None):
    """table[e + 1, x_cols[0], x_cols[1]] (values in [-1, 1])."""
    t = np.asarray(table)
    return t[(np.asarray(e) + 1).astype(np.int64), X[:, cols[0]], X[:, cols[1]]]


def cosine_psi(X, e, s=(1,), q=3, amp=(0.5, -1.0, 0.8)):
    """amp[e + 1] cos(2 pi (s . x mod q) / q)."""
    ph = (X[:, : len(s)] @ np.asarray(s, dtype=np.int64)) % q
    return np.asarray(amp)[(np.asarray(e) + 1).astype(np.int64)] * np.cos(2 * np.pi * ph / q)


def first_bit_psi(X, e):
    return e * (1.0 - 2.0 * (X[:, 0] % 2))


# ----------------------------------------------------------------------------- the certified law
def _reference_nonzero(lift, cell=None, grid=2**14):
    """An independent fine midpoint convolution (FFT) of the unconditional (or one cell's) law of N2."""
    i, q = lift.intervals, lift.q
    u = np.arange(grid + 1) / grid
    ramp = np.zeros(grid)
    mass = 1.0 if cell is None else 1.0 / q
    for k in range(q - 1):
        for z0, z1, c in ((i.L[k], i.l[k], k), (i.U[k], i.r[k], k + 1)):
            if cell is None or cell == c:
                ramp += np.abs(np.diff(special.ndtr(z0 + u * (z1 - z0))))
    ramp /= mass
    ends = np.concatenate([[-np.inf], i.U]), np.concatenate([i.L, [np.inf]])
    atom = sum(special.ndtr(hi) - special.ndtr(lo) for lo, hi, c in zip(*ends, range(q)) if cell in (None, c)) / mass
    # midpoints: index m stands for (m + 1/2) / grid, so a sum of n ramp values at index m sits at (m + n/2) / grid;
    # n of the d coordinates on a ramp, the others at the atom 0 (binomial), none at N2 = 1
    from math import comb

    cur = np.array([1.0])
    nz_sets = sign_sets(lift.constants)["nonzero"]
    res = 0.0
    for n in range(1, lift.d + 1):
        cur = signal.fftconvolve(cur, ramp)[: grid * n] if n > 1 else ramp.copy()
        cur = np.clip(cur, 0, None)
        v = (np.arange(cur.shape[0]) + n / 2) / grid
        inside = np.zeros(cur.shape[0], dtype=bool)
        for a, b in nz_sets:
            inside |= (v > float(a)) & (v < float(b))
        res += comb(lift.d, n) * atom ** (lift.d - n) * float(cur[inside].sum())
    return res


@pytest.mark.parametrize("d,q,delta,D", [(6, 2, 0.1, 3), (10, 2, 0.01, 10), (10, 2, 0.05, 4), (6, 3, 0.1, 4),
                                         (8, 3, 0.02, 6), (5, 5, 0.2, 3)])
def test_certified_interval_contains_fine_reference(d, q, delta, D):
    lift = CompressedLift(d, q=q, delta=delta, D=D)
    ev = lift.event_probabilities()
    assert isinstance(ev, EventProbabilities) and ev.grid == 2048
    ref = _reference_nonzero(lift)
    lo, hi = lift.phi_nonzero_interval()
    assert lo <= ref <= hi, (lo, ref, hi)
    assert lift.phi_nonzero_probability() == ev.nonzero == pytest.approx((lo + hi) / 2, abs=1e-15)
    assert ev.error >= ev.nonzero_error >= (hi - lo) / 2 > 0
    assert ev.error < 2e-3 and ev.nonzero_error < 2e-4  # informative, not just valid
    # the pieces add up: nonzero = positive + negative, within the errors
    assert abs(ev.nonzero - ev.positive - ev.negative) <= ev.nonzero_error + ev.positive_error + ev.negative_error
    # a finer grid gives a narrower interval that still overlaps
    fine = lift.event_probabilities(grid=4096)
    assert fine.nonzero_error < ev.nonzero_error and abs(fine.nonzero - ev.nonzero) <= fine.error + ev.error


def test_certified_interval_contains_monte_carlo_reference():
    """1e7 direct Gaussian samples at 5 sigma (d = 6, q = 2 and one histogram of q = 3)."""
    rng = np.random.default_rng(11)
    lift = CompressedLift(6, q=2, delta=0.1, D=3)
    n, hits = 0, 0
    hits_pos = 0
    for _ in range(10):
        Z = rng.standard_normal((10**6, 6))
        _, p = lift.features(Z)
        hits += int(np.count_nonzero(p)); hits_pos += int(np.count_nonzero(p > 0)); n += Z.shape[0]
    ev = lift.event_probabilities()
    for k, iv in ((hits, ev.nonzero_interval), (hits_pos, ev.positive_interval)):
        est = k / n
        sig = np.sqrt(est * (1 - est) / n)
        assert iv[0] - 5 * sig <= est <= iv[1] + 5 * sig
    # q = 3, conditional on the histogram (1, 4, 1): draw z | x cell by cell
    lift3 = CompressedLift(6, q=3, delta=0.1, D=4)
    b = lift3.boundaries
    cells = np.array([0, 1, 1, 1, 1, 2])
    lo = special.ndtr(np.concatenate([[-np.inf], b]))[cells]
    hi = special.ndtr(np.concatenate([b, [np.inf]]))[cells]
    Z = special.ndtri(lo + rng.random((2 * 10**6, 6)) * (hi - lo))
    assert np.array_equal(lift3.thres(Z), np.broadcast_to(cells, Z.shape))
    _, p = lift3.features(Z)
    est = np.count_nonzero(p) / Z.shape[0]
    sig = np.sqrt(est * (1 - est) / Z.shape[0])
    ev3 = lift3.event_probabilities((1, 4, 1))
    assert ev3.nonzero_interval[0] - 5 * sig <= est <= ev3.nonzero_interval[1] + 5 * sig
    assert ev3 is lift3.event_probabilities([1, 4, 1]) and ev3.cell_counts == (1, 4, 1)
    # it does depend on the histogram for q >= 3 (interior cells hold two half-ramps and two halves of R)
    assert abs(lift3.event_probabilities((0, 6, 0)).nonzero - lift3.event_probabilities((3, 0, 3)).nonzero) > 0.01


def test_q2_law_does_not_depend_on_x():
    lift = CompressedLift(8, q=2, delta=0.05, D=4)
    law = VLaw(lift)
    f0, c0, a0, _ = law._cell(0)
    f1, c1, a1, _ = law._cell(1)
    fu, cu, au, _ = law._cell(None)
    assert np.max(np.abs(f0 - f1)) < 1e-13 and np.max(np.abs(c0 - cu)) < 1e-13 and abs(a0 - au) < 1e-15
    ev = lift.event_probabilities()
    assert all(lift.event_probabilities((k, 8 - k)) is ev for k in range(9))
    assert lift.nonzero_mass() == pytest.approx(ev.nonzero / 2, rel=1e-15)
    assert lift.nonzero_mass(Parity(8, [1, 2])) == pytest.approx(ev.nonzero / 2, rel=1e-12)


def test_truncated_convolution_kernel_and_twin():
    rng = np.random.default_rng(3)
    a, b = rng.random(300), rng.random(300)
    ref = truncated_convolve_numpy(a, b)
    assert np.allclose(truncated_convolve(a, b), ref, rtol=1e-13, atol=0)
    assert np.allclose(truncated_convolve.py_func(a[:40], b[:40]), ref[:40], rtol=1e-13, atol=0)


def test_sign_sets_are_exact_and_cover_phi():
    lift = CompressedLift(10, q=2, delta=0.05, D=6)
    sets = sign_sets(lift.constants)
    v = np.linspace(1e-6, 1.2, 200001)
    phi = lift.phi(v)
    for name, test in (("positive", phi > 1e-12), ("negative", phi < -1e-12)):
        inside = np.zeros(v.shape, dtype=bool)
        for a, b in sets[name]:
            inside |= (v > float(a)) & (v < float(b))
        assert np.array_equal(inside[np.abs(phi) > 1e-12], test[np.abs(phi) > 1e-12])
    assert sets["nonzero"] == [(0, sets["nonzero"][-1][1])] and float(sets["nonzero"][-1][1]) <= 1


# ----------------------------------------------------------------------------- the query types
def test_query_values_on_gaussian_batches():
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((1000, 5))
    lab = rng.choice([0.0, 0.3, -0.2], 1000)
    q = LiftedCharacter(5, [1, 3], (0.25, -0.5))
    s = ((Z[:, 1] >= 0).astype(int) + (Z[:, 3] >= 0)) % 2
    assert np.array_equal(q.values(Z, lab, False), np.where(lab != 0, -0.5, 0.25) * (1 - 2 * s))
    assert (q.d, q.support, q.code, q.weights, q.reads) == (5, (1, 3), 10, (0.25, -0.5), (1, 3))
    t = ThresholdQuery(first_bit_psi, q=3, events="sign")
    cells = np.searchsorted(CompressedLift(5, q=3, delta=0.1).boundaries, Z, side="right")
    assert np.array_equal(t.values(Z, lab, False), np.sign(lab) * (1 - 2 * (cells[:, 0] % 2)))
    assert np.array_equal(threshold_boundaries(2), [0.0])
    for qq, delta in ((3, 0.1), (4, 0.01), (7, 0.2)):
        assert np.array_equal(threshold_boundaries(qq), CompressedLift(3, q=qq, delta=delta).boundaries)
    batch = LiftedCharacterBatch(5, 2, weights=(1, -1))
    assert len(batch) == 16 and all(m.weights == (1.0, -1.0) for m in batch)
    assert [m.support for m in LiftedCharacterBatch(5, supports=[[2, 0], []])] == [(0, 2), ()]


@pytest.mark.parametrize("make,text", [
    (lambda: LiftedCharacter(4, [0, 4]), "'support' parameter of LiftedCharacter"),
    (lambda: LiftedCharacter(4, [0], (0, 2)), "'weights' parameter of LiftedCharacter"),
    (lambda: LiftedCharacter(0, []), "'d' parameter of LiftedCharacter"),
    (lambda: LiftedCharacterBatch(4), "'max_size' parameter of LiftedCharacterBatch"),
    (lambda: LiftedCharacterBatch(4, 1, supports=[[0]]), "'max_size' parameter of LiftedCharacterBatch"),
    (lambda: LiftedCharacterBatch(4, supports=3), "'supports' parameter of LiftedCharacterBatch"),
    (lambda: ThresholdQuery(3), "'psi' parameter of ThresholdQuery"),
    (lambda: ThresholdQuery(first_bit_psi, q=1), "'q' parameter of ThresholdQuery"),
    (lambda: ThresholdQuery(first_bit_psi, events="label"), "'events' parameter of ThresholdQuery"),
    (lambda: CompressedLift(4, q=3, delta=0.1).event_probabilities((1, 1, 1)), "'cell_counts' parameter"),
    (lambda: CompressedLift(4, q=3, delta=0.1).event_probabilities((1.5, 1.5, 1)), "'cell_counts' parameter"),
    (lambda: CompressedLift(4, q=2, delta=0.1).event_probabilities(grid=3), "'grid' parameter"),
])
def test_bad_input(make, text):
    with pytest.raises(InvalidParameterError, match=text):
        make()


def test_psi_out_of_range_is_refused():
    t = ThresholdQuery(lambda X, e: 2.0 + 0 * e, name="too-big")
    with pytest.raises(QueryRangeError, match="too-big"):
        t.values(np.zeros((3, 2)), np.zeros(3), False)


# ----------------------------------------------------------------------------- images through LiftedOracle
def _q2_setup(d, strategy="exact", tol=0.02, seed=1, support=(0, 2, 3), lift=None):
    lift = lift or CompressedLift(d, q=2, delta=0.1 if d <= 6 else 0.05, D=3)
    b = SQOracle(BooleanCube(d), Parity(d, list(support)), tol, answers=strategy, seed=seed)
    return lift, b, LiftedOracle(b, lift), Parity(d, list(support))


def _q3_setup(d, strategy="exact", tol=0.02, seed=1, lift=None):
    lift = lift or CompressedLift(d, q=3, delta=0.1, D=4)
    f = LWR(d, 3, 2, secret=[1, 1] + [0] * (d - 2))
    b = SQOracle(ZqCube(d, 3), f, tol, answers=strategy, seed=seed)
    return lift, b, LiftedOracle(b, lift), f


def _random_queries(rng, d, q, n=50):
    out = []
    for k in range(n):
        if q == 2 and k % 2 == 0:
            S = sorted(rng.choice(d, size=int(rng.integers(0, 4)), replace=False).tolist())
            out.append(LiftedCharacter(d, S, tuple(np.round(rng.uniform(-1, 1, 2), 3))))
            continue
        events = ("nonzero", "sign")[int(rng.integers(0, 2))]
        if k % 4 in (1, 2):
            cols = tuple(sorted(rng.choice(d, size=2, replace=False).tolist()))
            psi = functools.partial(junta_psi, cols=cols, table=np.round(rng.uniform(-1, 1, (3, q, q)), 3))
            reads = cols
        else:
            s = tuple(int(v) for v in rng.integers(0, q, 3))
            psi = functools.partial(cosine_psi, s=s, q=q, amp=tuple(np.round(rng.uniform(-1, 1, 3), 3)))
            reads = (0, 1, 2)
        out.append(ThresholdQuery(psi, q=q, events=events, reads=reads, name=f"t{k}"))
    return out


def _direct_mc(lift, f, queries, n=2 * 10**6, seed=5):
    """E_z[phi(z, f^Delta(z))] by direct Gaussian Monte Carlo of the lifted target: (mean, sigma) per query."""
    g = lift.lift(f)
    rng = np.random.default_rng(seed)
    s1 = np.zeros(len(queries))
    s2 = np.zeros(len(queries))
    for _ in range(n // 500_000):
        Z = rng.standard_normal((500_000, lift.d))
        lab = g(Z)
        for i, q in enumerate(queries):
            v = q.values(Z, lab, False)
            s1[i] += v.sum()
            s2[i] += (v * v).sum()
    mean = s1 / n
    return mean, np.sqrt(np.maximum(s2 / n - mean**2, 1e-12) / n)


@pytest.mark.parametrize("d,q", [(6, 2), (10, 2), (6, 3), (10, 3)])
def test_answers_agree_with_direct_monte_carlo_under_every_strategy(d, q):
    rng = np.random.default_rng(100 * d + q)
    setup = _q2_setup if q == 2 else _q3_setup
    lift, _, _, f = setup(d)
    queries = _random_queries(rng, d, q)
    mc, sig = _direct_mc(lift, f, queries)
    for strategy in STRATEGIES:
        _, b, o, _ = setup(d, strategy, lift=lift)
        answers = o.ask_batch(queries)
        recs = list(o.ledger)
        assert len(recs) == len(queries) == len(b.ledger)
        for a, r, m, s in zip(answers, recs, mc, sig):
            assert r.extra["inner_bound"] == "exact-law" and r.extra["inner_samples"] == 0
            eps = r.extra["eps_inner"]
            assert 0 < eps < 0.01 and r.truth_error == eps
            if strategy == "exact":  # the Boolean truth itself: the image is right to eps_inner
                assert abs(a - m) <= eps + 5 * s + 1e-12, (r.name, a, m, s, eps)
            else:
                assert abs(a - m) <= r.tolerance + 5 * s, (strategy, r.name, a, m, s)


def test_exact_image_matches_generic_inner_monte_carlo_image():
    d = 6
    lift, b, o, _ = _q2_setup(d)
    q = LiftedCharacter(d, [0, 2, 3], (0.2, -0.7))
    plain = Query(lambda Z, lab, q=q: q.values(Z, lab, False), name="plain")
    exact = o.ask(q)
    lift2, b2, o2, _ = _q2_setup(d)
    o2 = LiftedOracle(b2, lift2, inner_samples=20000)
    generic = o2.ask(plain)
    rec, rec2 = o.ledger[0], o2.ledger[0]
    assert rec2.extra["inner_bound"] != "exact-law" and rec2.extra["inner_samples"] == 20000
    assert abs(exact - generic) <= rec.extra["eps_inner"] + rec2.extra["eps_inner"]
    # on S = S*: E[w0 chi_S] = 0 and chi_S = -1 wherever f^Delta != 0, so the truth is -(w1 - w0) P[f^Delta != 0]
    assert abs(exact - (-(-0.7 - 0.2) * lift.nonzero_mass())) < 1e-12
    # q = 3 ThresholdQuery against the generic image too
    lift3, b3, o3, _ = _q3_setup(5)
    t = ThresholdQuery(functools.partial(cosine_psi, s=(1, 2), q=3, amp=(0.3, -0.9, 0.6)), q=3, events="sign")
    plain3 = Query(lambda Z, lab, t=t: t.values(Z, lab, False), name="plain3")
    exact3 = o3.ask(t)
    lift4, b4, _, _ = _q3_setup(5)
    generic3 = LiftedOracle(b4, lift4, inner_samples=8000).ask(plain3)
    assert abs(exact3 - generic3) <= o3.ledger[0].extra["eps_inner"] + 0.02


def test_adversary_keeps_two_lifted_parities_indistinguishable():
    d = 6
    answers = []
    for support in ((0, 1, 2), (3, 4, 5)):
        lift, b, o, _ = _q2_setup(d, "adversarial", support=support)
        batch = LiftedCharacterBatch(d, 2)  # no member is either support
        t = [ThresholdQuery(functools.partial(junta_psi, cols=(1, 4), table=np.linspace(-1, 1, 12).reshape(3, 2, 2)),
                            events="sign", reads=(1, 4))]
        answers.append(np.concatenate([o.ask_batch(batch), o.ask_batch(t), o.ask_batch([LiftedCharacter(d, [0, 1])])]))
        assert len(o.ledger) == len(batch) + 2 and len(b.ledger) == len(o.ledger)
    assert np.array_equal(answers[0], answers[1])
    # ... while the exact strategy tells them apart on their own supports
    lift, _, o, _ = _q2_setup(d, support=(0, 1, 2))
    assert o.ask(LiftedCharacter(d, [0, 1, 2])) < -lift.nonzero_mass() / 2 and abs(o.ask(LiftedCharacter(d, [3, 4, 5]))) < 1e-12


def test_batch_forms_and_records():
    d = 6
    lift, b, o, _ = _q2_setup(d)
    batch = LiftedCharacterBatch(d, supports=[[0], [0, 2, 3], []], weights=(1, -1))
    a1 = o.ask_batch(batch)
    a2 = o.ask_batch([batch, LiftedCharacter(d, [1])])
    assert len(o.ledger) == 7 and len(b.ledger) == 7
    assert np.array_equal(a1, a2[:3])
    c = lift.event_probabilities().nonzero
    # weights (1, -1): the truth is -(w1 - w0) P[f^Delta != 0] = c on S*, 1 - 2 P[f^Delta != 0] = 1 - c on S = {}
    assert a1[1] == pytest.approx(c, abs=1e-12) and a1[2] == pytest.approx(1 - c, abs=1e-12) and a1[0] == 0
    with pytest.raises(InvalidParameterError, match="'queries' parameter of LiftedOracle.ask_batch"):
        o.ask_batch(LiftedCharacter(d, [0]))
    with pytest.raises(InvalidParameterError, match="'query' parameter of LiftedOracle.ask must act on d = 6"):
        o.ask(LiftedCharacter(5, [0]))


def test_budget_refused_when_the_law_error_does_not_fit():
    lift = CompressedLift(6, q=2, delta=0.1, D=3)
    b = SQOracle(BooleanCube(6), Parity(6, [0, 1]), 1e-5, seed=0)
    o = LiftedOracle(b, lift)
    with pytest.raises(InvalidParameterError, match="eps_inner .* certified error of the law of V"):
        o.ask(LiftedCharacter(6, [0, 1], (0, 1)))
    assert len(o.ledger) == 0 and len(b.ledger) == 0


def test_threshold_query_with_another_q_takes_the_generic_path():
    lift, b, o, _ = _q2_setup(5)
    o.ask(ThresholdQuery(first_bit_psi, q=3))
    assert o.ledger[0].extra["inner_bound"] != "exact-law" and o.ledger[0].extra["inner_samples"] > 0


def test_lifted_parity_brute_force_asks_lifted_characters():
    import learners

    d = 6
    lift, b, o, f = _q2_setup(d, support=(1, 4))
    hyp, details = learners.make("lifted-parity-brute-force", lift=lift, seed=1)._learn(o)
    assert details["support"] == [1, 4] and hyp.concept.support == (1, 4)
    assert len(o.ledger) == details["rank"] == len(b.ledger)
    assert all(r.extra["inner_bound"] == "exact-law" for r in o.ledger)
    assert all(r.name.startswith("lift[lifted-chi{") for r in b.ledger)


def test_structured_queries_cross_the_process_boundary():
    from sqsim._errors import QueryContractError
    from sqsim.oracles._sandbox import RemoteThresholdQuery, deserialize_query, serialize_query

    rng = np.random.default_rng(2)
    Z = rng.standard_normal((50, 5))
    lab = rng.choice([0.0, 0.4, -1.0], 50)
    for q in (LiftedCharacter(5, [0, 3], (0.5, -1)), LiftedCharacterBatch(5, 1, weights=(0, 1))):
        spec = json.loads(json.dumps(serialize_query(q)))
        back = deserialize_query(spec)
        assert type(back) is type(q)
        for m, n in zip(getattr(q, "members", [q]), getattr(back, "members", [back])):
            assert np.array_equal(m.values(Z, lab, False), n.values(Z, lab, False)) and m.name == n.name
    t = ThresholdQuery(first_bit_psi, q=3, events="sign", reads=[0])
    spec = json.loads(json.dumps(serialize_query(t)))
    with deserialize_query(spec) as remote:
        assert isinstance(remote, RemoteThresholdQuery) and remote.reads == (0,) and remote.events == "sign"
        assert np.array_equal(remote.values(Z, lab, False), t.values(Z, lab, False))
    with pytest.raises(QueryContractError, match="its psi '.*<lambda>' is not importable"):
        serialize_query(ThresholdQuery(lambda X, e: e))
