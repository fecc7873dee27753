"""Correlations of lifted and other Gaussian families (docs/theory/dimension-lifted.md)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from sqsim import Gaussian, InvalidParameterError
from sqsim.concepts import LWRSecrets, NaturalWeights, Parity
from sqsim.dimension import pairwise_correlations, sda
from sqsim.dimension._gaussian import gaussian_correlations
from sqsim.dimension._lifted import (
    _phi_exact,
    lifted_correlations,
    nonzero_probability,
    second_moment,
    square_variations,
)
from sqsim.lift import CompressedLift


def lifted_parities(d, delta=0.1, D=None):
    lift = CompressedLift(d, q=2, delta=delta, D=D)
    return lift, [lift.lift(Parity(d, [j for j in range(d) if (c >> j) & 1])) for c in range(1, 2**d)]


def direct_monte_carlo(lift, family, pairs, law, n, seed, kind="sq"):
    """(estimates, standard errors) of chi over ``pairs`` from the definitions only: z ~ N(0, I_d), the
    members' labels lift.lift(f)(Z), the lifted null's conditional label law {b phi_D(V): p0(b)} given z."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, lift.d))
    _, phi = lift.features(Z)
    labels = {i: family[i](Z) for pair in pairs for i in pair}
    est, se = [], []
    for i, j in pairs:
        li, lj = labels[i], labels[j]
        if kind == "sq":
            # sum_l P_i(l|z) P_j(l|z) / P_0(l|z) - 1 with point masses P_i, P_j: 1[l_i = l_j] / P_0(l_i | z) - 1
            p_null = sum(p * (b * phi == li) for b, p in law.items())
            term = (li == lj) / p_null - 1.0
        else:
            r = sum(b * p for b, p in law.items()) * phi
            term = (li - r) * (lj - r)
        est.append(term.mean())
        se.append(term.std(ddof=1) / math.sqrt(n))
    return np.array(est), np.array(se)


# ---------------------------------------------------------------------------------------------- the law
@pytest.mark.parametrize("D", [1, 2, 9])
def test_square_variations_recompose_phi_squared(D):
    lift = CompressedLift(4, q=2, delta=0.1, D=D)
    c = lift.constants
    G = 64
    Hp, Hm, total = square_variations(c, G)
    assert np.all(np.diff(Hp) >= 0) and np.all(np.diff(Hm) >= 0)  # non-decreasing
    assert np.all(Hp <= 0) and np.all(Hm <= 0)
    for k in range(G + 1):
        exact = float(_phi_exact(Fraction(k, G), c) ** 2)
        assert Hp[k] - Hm[k] == pytest.approx(exact, abs=1e-15)
    assert Hp[-1] == 0 and Hm[-1] == 0  # 0 beyond kmax / kappa <= 1
    assert total >= max(float(_phi_exact(Fraction(k, G), c) ** 2) for k in range(G + 1))


@pytest.mark.parametrize("d,q,delta,D", [(6, 2, 0.1, 6), (10, 2, 0.1, 10), (3, 3, 0.1, 3)])
def test_second_moment_against_monte_carlo(d, q, delta, D):
    lift = CompressedLift(d, q=q, delta=delta, D=D)
    rng = np.random.default_rng(7)
    n = 400_000
    X, phi = lift.features(rng.standard_normal((n, d)))
    m2 = second_moment(lift)
    terms = phi**2
    se = terms.std() / math.sqrt(n)
    assert abs(terms.mean() - m2.value) <= m2.error + 4 * se
    assert 0 < m2.error < 0.05 * m2.value
    nz = nonzero_probability(lift)
    assert abs(np.mean(phi != 0) - nz.value) <= nz.error + 4 * math.sqrt(nz.value / n)
    if q >= 3:  # conditional on one histogram of cells
        counts = np.stack([(X == c).sum(axis=1) for c in range(q)], axis=1)
        h = (1, 1, 1)
        sel = np.all(counts == h, axis=1)
        mh = second_moment(lift, h)
        v = phi[sel] ** 2
        assert abs(v.mean() - mh.value) <= mh.error + 4 * v.std() / math.sqrt(v.size)
        assert mh.value != pytest.approx(second_moment(lift, (3, 0, 0)).value, rel=1e-3)


def test_second_moment_same_for_every_histogram_when_q_is_2():
    lift = CompressedLift(5, q=2, delta=0.1)
    assert second_moment(lift, (2, 3)) == second_moment(lift, None) == second_moment(lift, (5, 0))


# ---------------------------------------------------------------------------------------------- lifted parities
@pytest.mark.parametrize("d", [4, 7, 10])
def test_lifted_parities_against_direct_monte_carlo(d):
    lift, fam = lifted_parities(d, delta=1.0 / d)
    law = {0: 0.5, 1: 0.5}
    pairs = [(0, 0), (0, 1), (2, 5), (len(fam) - 1, len(fam) - 1), (len(fam) - 1, 3)]
    n = 200_000
    for kind in ("sq", "csq"):
        m = pairwise_correlations(fam, Gaussian(d), kind=kind)
        assert m.kind == kind and not m.exact and m.reference["law"] == law
        est, se = direct_monte_carlo(lift, fam, pairs, law, n, seed=d, kind=kind)
        exact = np.array([m.values[i, j] for i, j in pairs])
        assert np.all(np.abs(est - exact) <= 4 * se + m.abs_error), (kind, est, exact, se)
    # the structure: c times the Boolean (orthonormal) matrix, m2 / 4 for csq
    c = nonzero_probability(lift).value
    sq = pairwise_correlations(fam, Gaussian(d), kind="sq")
    assert np.allclose(sq.values, c * np.eye(len(fam)), atol=1e-15)
    csq = pairwise_correlations(fam, Gaussian(d), kind="csq")
    assert np.allclose(csq.values, second_moment(lift).value / 4 * np.eye(len(fam)), atol=1e-15)


def test_lifted_lwr_q3_against_direct_monte_carlo():
    d, q, p = 2, 3, 2
    lift = CompressedLift(d, q=q, delta=0.1)
    fam = [lift.lift(f) for f in LWRSecrets(d, q, p)]
    m = pairwise_correlations(fam, Gaussian(d), kind="sq")
    law = {float(k): v for k, v in m.reference["law"].items()}
    pairs = [(0, 0), (1, 1), (1, 3), (0, 4), (4, 8)]
    est, se = direct_monte_carlo(lift, fam, pairs, law, 400_000, seed=3)
    exact = np.array([m.values[i, j] for i, j in pairs])
    assert np.all(np.abs(est - exact) <= 4 * se + m.abs_error), (est, exact, se)
    csq = pairwise_correlations(fam, Gaussian(d), kind="csq")
    est, se = direct_monte_carlo(lift, fam, pairs, law, 400_000, seed=4, kind="csq")
    exact = np.array([csq.values[i, j] for i, j in pairs])
    assert np.all(np.abs(est - exact) <= 4 * se + csq.abs_error), (est, exact, se)


class _Wrapped:
    """A Parity seen as a generic compressible callable (forces the label-table path)."""

    def __init__(self, f):
        self.f, self.d, self.q = f, f.d, 2
        self.compressed = f.compressed

    def __call__(self, X):
        return self.f(X)


@pytest.mark.parametrize("kind,event", [("sq", None), ("csq", None), ("sq", "nonzero"), ("csq", "nonzero"),
                                        ("csq", "sign")])
def test_character_path_equals_table_path_and_streaming(kind, event):
    lift, fam = lifted_parities(5)
    concepts = [g.concept for g in fam]
    a = lifted_correlations(lift, concepts, kind=kind, event=event)
    b = lifted_correlations(lift, [_Wrapped(f) for f in concepts], kind=kind, event=event)
    assert np.allclose(a.values, b.values, atol=1e-14)
    s = lifted_correlations(lift, concepts, kind=kind, event=event, streaming=True, top=8)
    assert not s.stored
    assert np.allclose(s.submatrix(np.arange(31)), a.values, atol=1e-14)
    assert s.row_statistics().top_values[:, 0] == pytest.approx(np.abs(a.values).max(axis=1))


def test_reference_law_and_events():
    lift, fam = lifted_parities(4)
    m = pairwise_correlations(fam, Gaussian(4), kind="sq", reference={0: 0.25, 1: 0.75})
    c = nonzero_probability(lift).value
    # Boolean chi_ST = sum_y P[f = g = y] / p0(y) - 1 with P = 1/4 (S != T) or 1/2 (S = T)
    assert m.values[0, 1] == pytest.approx(c * (0.25 / 0.25 + 0.25 / 0.75 - 1))
    assert m.values[0, 0] == pytest.approx(c * (0.5 / 0.25 + 0.5 / 0.75 - 1))
    ev = gaussian_correlations(fam, Gaussian(4), kind="csq", label_map="nonzero")
    assert ev.values[0, 0] == pytest.approx(4 * c / 4)  # (1 - 2e) centred: 4 P_nz Var(f) = P_nz
    with pytest.raises(InvalidParameterError, match="'label_map'"):
        gaussian_correlations(fam, Gaussian(4), label_map=lambda y: y > 0)
    with pytest.raises(InvalidParameterError, match="'reference'"):
        pairwise_correlations(fam, Gaussian(4), reference={0: 1.0})


def test_lifted_sda_grows_like_the_boolean_one():
    gamma = 0.01
    lowers, boolean = [], []
    for d in (4, 6, 8, 10):
        lift, fam = lifted_parities(d, delta=1.0 / d)
        m = pairwise_correlations(fam, Gaussian(d))
        c_hi = nonzero_probability(lift).interval[1]
        res = sda(m, gamma=gamma)
        # chi = c x (orthonormal), so SDA_lifted(gamma) = SDA_Boolean(gamma / c) = ceil(N / (ceil(c / gamma) - 1)) - 1
        N = 2**d - 1
        closed = math.ceil(N / (math.ceil(c_hi / gamma) - 1)) - 1
        assert res.lower >= closed - 1 and res.lower <= res.upper
        lowers.append(res.lower)
        boolean.append(math.ceil(N / (math.ceil(1 / gamma) - 1)) - 1)
    ratios = np.diff(np.log2(np.array(lowers, dtype=float))) / 2
    assert np.all(np.abs(ratios - 1.0) < 0.2)  # doubles per dimension, like the Boolean 2^d - 1
    assert all(a > b for a, b in zip(lowers, boolean))  # weaker correlations: a larger dimension


# ---------------------------------------------------------------------------------------------- Monte Carlo
def _halfspaces(W):
    class H:
        def __init__(self, w):
            self.w, self.d = w, len(w)

        def __call__(self, Z):
            return (Z @ self.w >= 0).astype(np.float64)

    return [H(w) for w in W]


def test_monte_carlo_halfspaces_contain_the_closed_form():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((6, 3))
    fam = _halfspaces(W)
    U = W / np.linalg.norm(W, axis=1, keepdims=True)
    theta = np.arccos(np.clip(U @ U.T, -1, 1))
    truth = 1 - 2 * theta / np.pi  # P[same side] = 1 - theta/pi; chi = 2 P - 1 (p0 = 1/2), csq E[s s'] too
    sq = pairwise_correlations(fam, Gaussian(3), kind="sq", reference={0: 0.5, 1: 0.5}, samples=20_000, seed=1)
    assert np.all(np.abs(sq.values - truth) <= sq.abs_error) and sq.abs_error < 0.06
    csq = pairwise_correlations(fam, Gaussian(3), kind="csq", samples=20_000, seed=1)
    assert np.all(np.abs(csq.values - truth) <= csq.abs_error)
    again = pairwise_correlations(fam, Gaussian(3), kind="csq", samples=20_000, seed=1)
    assert np.array_equal(again.values, csq.values)  # one seed determines the run
    s = gaussian_correlations(fam, Gaussian(3), kind="csq", samples=20_000, seed=1, streaming=True, top=3)
    assert np.allclose(s.submatrix(np.arange(6)), csq.values)


def test_monte_carlo_refusals():
    nw = NaturalWeights(5, 3, members=4, seed=1)
    with pytest.raises(InvalidParameterError, match="'kind'.*real-valued.*Got 'sq'"):
        pairwise_correlations(nw, Gaussian(5), kind="sq")
    ok = gaussian_correlations(nw, Gaussian(5), kind="sq", label_map="nonzero", samples=4000)
    assert ok.N == 4 and ok.abs_error > 0
    unclipped = NaturalWeights(5, 3, members=4, seed=1, clip=False)
    with pytest.raises(InvalidParameterError, match="'label_range'"):
        pairwise_correlations(unclipped, Gaussian(5), kind="csq", samples=1000)
    with pytest.raises(InvalidParameterError, match="'label_range'"):
        pairwise_correlations(unclipped, Gaussian(5), kind="csq", samples=1000, label_range=(0, 0.1))
    with pytest.raises(InvalidParameterError, match="'family'.*dimension"):
        pairwise_correlations(_halfspaces(np.ones((2, 3))) + _halfspaces(np.ones((1, 4))), Gaussian(3))
    with pytest.raises(InvalidParameterError, match="'family'.*finite"):
        pairwise_correlations(NaturalWeights(5, 3), Gaussian(5), kind="csq")
    _, fam_a = lifted_parities(3, delta=0.1)
    _, fam_b = lifted_parities(3, delta=0.2)
    with pytest.raises(InvalidParameterError, match="one lift"):
        pairwise_correlations(fam_a[:2] + fam_b[:2], Gaussian(3))


def test_pairwise_correlations_forwards_gaussian_options():
    """streaming, block, top, members, label_map and max_dense_bytes reach the Gaussian paths."""
    nw = NaturalWeights(5, 3, members=4, seed=1)
    direct = gaussian_correlations(nw, Gaussian(5), kind="sq", label_map="nonzero", samples=4000)
    public = pairwise_correlations(nw, Gaussian(5), kind="sq", label_map="nonzero", samples=4000)
    assert np.array_equal(public.values, direct.values)  # the event is applied (without it: 'kind' refused)
    sub = pairwise_correlations(nw, Gaussian(5), kind="sq", label_map="nonzero", samples=4000, members=[1, 3])
    assert sub.N == 2
    streamed = pairwise_correlations(nw, Gaussian(5), kind="sq", label_map="nonzero", samples=4000, streaming=True,
                                     top=2, block=1)
    assert not streamed.stored and streamed.row_statistics().K == 2
    assert np.allclose(streamed.submatrix(np.arange(4)), direct.values)
    with pytest.raises(InvalidParameterError, match="'streaming'.*N = 4"):
        pairwise_correlations(nw, Gaussian(5), kind="csq", samples=1000, max_dense_bytes=64)
    with pytest.raises(InvalidParameterError, match="'members'"):
        pairwise_correlations(nw, Gaussian(5), kind="csq", samples=1000, members=[7])
    with pytest.raises(InvalidParameterError, match="'streaming'"):
        pairwise_correlations(nw, Gaussian(5), kind="csq", samples=1000, streaming="yes")
    _, fam = lifted_parities(4)
    lifted = pairwise_correlations(fam, Gaussian(4), kind="csq", label_map="nonzero", members=range(3),
                                   streaming=True, top=2)
    assert lifted.N == 3 and not lifted.stored
    full = pairwise_correlations(fam, Gaussian(4), kind="csq", label_map="nonzero")
    assert np.allclose(lifted.submatrix(np.arange(3)), full.values[:3, :3])


def test_vlaw_lattice_law_public_and_consistent():
    """VLaw.lattice_law: the histogram laws mix (multinomial weights) into the unconditional law; q = 2 ignores x."""
    import itertools

    lift = CompressedLift(4, 3, 0.25, 4)
    law = lift._law(256)
    whole = law.lattice_law(None)
    assert whole.cell_counts is None and whole.floor.shape == (257,)
    assert whole.ceil.sum() <= whole.floor.sum() + 2 * whole.error <= 1 + 3 * whole.error  # ceil loses the top cell
    assert np.all(np.cumsum(whole.floor) >= np.cumsum(whole.ceil) - 2 * whole.error)  # V^- <= V^+
    mix_f, mix_c, tol = np.zeros(257), np.zeros(257), 0.0
    for counts in itertools.product(range(5), repeat=3):
        if sum(counts) != 4:
            continue
        part = law.lattice_law(counts)
        assert part.cell_counts == counts and law.lattice_law(list(counts)) is part  # cached, normalised key
        w = math.factorial(4) / math.prod(math.factorial(c) for c in counts) / 3**4
        mix_f += w * part.floor
        mix_c += w * part.ceil
        tol += w * part.error
    assert np.abs(mix_f - whole.floor).sum() <= tol + whole.error + 1e-12
    assert np.abs(mix_c - whole.ceil).sum() <= tol + whole.error + 1e-12
    assert law.events((2, 1, 1)).cell_counts == (2, 1, 1)
    law2 = CompressedLift(4, 2, 0.25, 4)._law(256)
    assert law2.lattice_law((3, 1)) is law2.lattice_law(None)
    with pytest.raises(InvalidParameterError, match="'cell_counts'"):
        law.lattice_law((1, 1, 1))
