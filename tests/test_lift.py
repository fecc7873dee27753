"""The lift (CGKM22 Section 2; docs/theory/lift.md): Lemmas 2.4-2.6 as that page builds them, Eqs. (4)-(8)."""

import json
from fractions import Fraction

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from sqsim import InvalidParameterError, bounds
from sqsim.concepts import LWR, Parity, ReLUNetwork
from sqsim.lift import (
    CompressedLift,
    DVLift,
    LabelQueryOracle,
    LiftPrecisionError,
    c_polynomial,
    gaussian_mass,
    n3_constants,
    pad,
)
from sqsim.lift._n3 import n3_direct, n3_exact

QS = [2, 3, 5]
DELTAS = [1e-1, 1e-3, 1e-6]


def edge_points(lift):
    """Every end point with its neighbouring doubles, 200 points inside each R_k and each half of S_k minus R_k."""
    i = lift.intervals
    pts = [np.random.default_rng(0).standard_normal(20000)]
    for arr in (i.L, i.l, i.r, i.U, i.boundaries):
        pts += [arr, np.nextafter(arr, -np.inf), np.nextafter(arr, np.inf)]
    for a, b in ((i.l, i.r), (i.L, i.l), (i.r, i.U)):
        pts += [a[k] + (b[k] - a[k]) * np.linspace(0, 1, 202)[1:-1] for k in range(len(a))]
    return np.concatenate(pts)


@pytest.mark.parametrize("q", QS)
@pytest.mark.parametrize("delta", DELTAS)
def test_intervals_masses(q, delta):
    lift = CompressedLift(d=3, q=q, delta=delta)
    i = lift.intervals
    eps = delta / (q - 1)
    assert_allclose(gaussian_mass(i.l, i.r), eps, rtol=1e-6)
    assert_allclose(gaussian_mass(i.L, i.U), 2 * eps, rtol=1e-6)
    assert_allclose(sum(gaussian_mass(i.l, i.r)), delta, rtol=1e-6)  # P[z in R] = delta
    assert np.all(i.L < i.l) and np.all(i.l < i.boundaries) and np.all(i.boundaries < i.r) and np.all(i.r < i.U)
    assert np.all(i.U[:-1] < i.L[1:])  # the S_k are disjoint
    cells = np.concatenate([[-np.inf], i.boundaries, [np.inf]])
    assert_allclose(gaussian_mass(cells[:-1], cells[1:]), 1 / q, rtol=1e-12)
    assert lift.R.shape == lift.S.shape == (q - 1, 2)


@pytest.mark.parametrize("q", QS)
@pytest.mark.parametrize("delta", DELTAS)
def test_lemma_2_4_and_2_5(q, delta):
    lift = CompressedLift(d=2, q=q, delta=delta)
    i = lift.intervals
    t = edge_points(lift)
    in_R = np.any((t[:, None] >= i.l) & (t[:, None] <= i.r), axis=1)
    in_S = np.any((t[:, None] >= i.L) & (t[:, None] <= i.U), axis=1)
    n1, n2 = lift.n1(t), lift.n2(t)
    # Lemma 2.4: N1 = thres_q off the R_k; range [0, q - 1]; monotone
    assert np.max(np.abs(n1[~in_R] - lift.thres(t[~in_R]))) <= 1e-12
    assert n1.min() >= 0 and n1.max() <= q - 1
    order = np.argsort(t)
    assert np.all(np.diff(n1[order]) >= -1e-12)
    # Lemma 2.5: N2 = 1 on R, 0 off S, in [0, 1], linear on the ramps
    assert np.max(np.abs(n2[in_R] - 1)) <= 2e-12 and np.max(np.abs(n2[~in_S])) == 0
    assert n2.min() >= 0 and n2.max() <= 1
    mid = (i.L + i.l) / 2
    assert_allclose(lift.n2(mid), 0.5, atol=1e-9)
    # the networks equal the closed forms; widths and weights as Lemma 2.4/2.5 state
    for net, closed, units in ((lift.n1_network, n1, 2 * (q - 1)), (lift.n2_network, n2, 4 * (q - 1))):
        assert net.hidden_layers == 1 and net.size == units
        err = np.max(np.abs(net(t[:, None]) - closed))
        assert err <= 1e-6 * max(1.0, 1e-3 / delta), err
    assert lift.n1_network.max_weight <= (q - 1) / (np.sqrt(2 * np.pi) * delta) * (1 + np.abs(i.l).max()) + 1


def test_n3_constants_match_math_md_table():
    table = {1: (4, 2, 1), 2: (15, 7, 2), 3: (47, 15, 3), 4: (105, 26, 8), 5: (197, 40, 17), 6: (331, 57, 52),
             8: (757, 100, 484), 10: (1447, 155, 5064), 12: (2465, 222, 57528)}
    for D, (units, W, cmax) in table.items():
        c = n3_constants(D, 1)
        assert (c.units, c.W, c.max_coefficient) == (units, W, cmax)
        # Wminus from the exact support equals the closed form -D(D-1)/2 used for large D
        assert min(k - abs(j - D) * D for (j, k) in c_polynomial(D)) == c.w_minus
    assert n3_constants(10, 1).phi_range() == pytest.approx((-1.39, 1.20), abs=0.005)
    assert n3_constants(20, 1).phi_range() == pytest.approx((-45.1, 43.0), abs=0.05)


@pytest.mark.parametrize("d,D", [(2, 1), (2, 2), (3, 3), (5, 4), (5, 5), (8, 6), (8, 8), (12, 10), (12, 12)])
def test_lemma_2_6(d, D):
    c = n3_constants(D, d)
    rng = np.random.default_rng(d * 100 + D)
    # float tolerance: 1e-16 x max|c| x the largest argument (docs/theory/lift.md, section lift-n3-constants)
    tol = 4e-16 * c.max_coefficient * (c.kmax + c.kappa * d + D * D) + 1e-14
    n = 400
    # (a): any number >= 1 of ones, other coordinates in [0, 1] (some exactly 0), |t| <= D
    s = rng.uniform(0, 1, (n, d))
    s[rng.random((n, d)) < 0.3] = 0.0
    ones = rng.integers(1, d + 1, n)
    for r in range(n):
        s[r, rng.choice(d, ones[r], replace=False)] = 1.0
    t = np.concatenate([rng.uniform(-D, D, n - 4), [D, -D, 0, D - 0.5]])
    assert np.max(np.abs(n3_direct(s, t, c))) <= tol
    for r in range(0, n, 40):  # exact rational arithmetic: exactly 0
        assert n3_exact(Fraction(int(ones[r])) + Fraction(0), Fraction(int(2 * t[r]), 2), c) == 0
    # (b): t = +-1 .. +-D, s random and at cube vertices
    for nn in list(range(1, D + 1)) + list(range(-D, 0)):
        sv = np.vstack([rng.uniform(0, 1, (50, d)), rng.integers(0, 2, (50, d)).astype(float)])
        assert np.max(np.abs(n3_direct(sv, np.full(100, float(nn)), c))) <= tol
        assert n3_exact(Fraction(1, 3), Fraction(nn), c) == 0
    # (d): N3(s; 0) = phi_D(sum s) and phi_D(v) = v on [0, rho]; first and last coordinate
    v = np.linspace(0, c.rho, 50)
    for j in (0, d - 1):
        sv = np.zeros((50, d))
        sv[:, j] = v
        assert np.max(np.abs(n3_direct(sv, np.zeros(50), c) - v)) <= tol
    lift = CompressedLift(d, q=2, delta=0.1, D=D)
    assert np.max(np.abs(lift.phi(v) - v)) <= 1e-15
    assert lift.phi(np.array([0.0, 1.0, 2.0, -0.5])).tolist() == [0.0, 0.0, 0.0, 0.0]
    for m in range(0, c.kmax + 1, max(1, c.kmax // 40)):  # exact breakpoints of phi_D
        vm = Fraction(c.kmax - m, c.kappa)
        assert n3_exact(vm, Fraction(0), c) == Fraction(c.sign * c.g_table[m], c.kappa)
    # the bounds are tight: (b) fails at |t| = D + 1 and (a) at t = -D - 1/2
    assert n3_exact(Fraction(1, 3), Fraction(D + 1), c) != 0 or n3_exact(Fraction(1, 5), Fraction(D + 1), c) != 0
    t_out = Fraction(-2 * D - 1, 2)
    kink_min = min(k + (j - D) * t_out for j, k, _ in c.coefficients)  # below Wminus: (a)'s argument breaks
    lo_s, hi_s = Fraction(c.kmax - c.w_minus, c.kappa), Fraction(c.kmax, c.kappa) - kink_min / c.kappa
    assert hi_s > lo_s >= 1
    assert any(n3_exact(lo_s + (hi_s - lo_s) * Fraction(m, 21), t_out, c) != 0 for m in range(1, 21))


def test_n3_network_equals_formula():
    lift = CompressedLift(4, q=2, delta=0.1, D=3)
    rng = np.random.default_rng(1)
    s = rng.uniform(0, 1, (500, 4))
    t = rng.uniform(-3, 3, 500)
    net = lift.n3_network
    assert net.hidden_layers == 1 and net.size == 47
    assert_allclose(net(np.column_stack([s, t])), lift.n3(s, t), atol=1e-12)


def lifted_points(lift, n=100_000, seed=0):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, lift.d))
    i = lift.intervals
    k = rng.integers(0, lift.q - 1, (n // 4,))
    u = rng.uniform(0, 1, n // 4)
    where = rng.integers(0, 3, n // 4)
    vals = np.where(where == 0, i.l[k] + u * (i.r[k] - i.l[k]),
                    np.where(where == 1, i.L[k] + u * (i.l[k] - i.L[k]), i.r[k] + u * (i.U[k] - i.r[k])))
    Z[: n // 4, 0] = vals  # one coordinate in R_k or in a half of S_k \ R_k
    if lift.d > 1:
        Z[: n // 8, 1] = vals[: n // 8][::-1]
    return Z


@pytest.mark.parametrize("D", [1, 2, 4, 6, 8, 10])
def test_lifted_parity_network_matches_closed_form(D, record_property):
    d = max(D, 6)
    f = Parity(d, list(range(D)))
    lift = CompressedLift(d, q=2, delta=0.05, D=D)
    g = lift.lift(f)
    Z = lifted_points(lift)
    closed = g(Z)
    assert np.max(np.abs(closed - g.evaluate_numpy(Z))) <= 1e-12  # Numba kernel == numpy reference
    net = g.network
    assert net.hidden_layers == 2
    err = float(np.max(np.abs(net(Z) - closed)))
    record_property(f"network_error_D{D}", err)
    print(f"D={D}: worst |network - closed form| = {err:.3g}")
    assert err <= 1e-6
    lo, hi = g.range
    assert closed.min() >= lo - 1e-12 and closed.max() <= hi + 1e-12
    # Eq. (5): where some N2(z_j) = 1 the lifted function is 0
    assert np.all(closed[np.any(lift.n2(Z) == 1.0, axis=1)] == 0)
    again = ReLUNetwork.from_json(net.to_json())
    assert again == net and json.loads(net.to_json())["format"] == "sqsim.ReLUNetwork"


def test_lifted_lwr_closed_form_and_network_refusal():
    f = LWR(3, 3, 2, seed=1)
    lift = CompressedLift(3, q=3, delta=1e-2)  # D = d (q-1)^2 = 12 by default
    g = lift.lift(f)
    Z = lifted_points(lift, 20_000)
    assert np.max(np.abs(g(Z) - g.evaluate_numpy(Z))) <= 1e-12
    assert lift.D == 12
    small = CompressedLift(1, q=3, delta=0.05, D=4)
    g1 = small.lift(LWR(1, 3, 2, secret=[2]))
    Z1 = lifted_points(small, 20_000)
    assert np.max(np.abs(g1.network(Z1) - g1(Z1))) <= 1e-6
    big = CompressedLift(3, q=5, delta=1e-3)  # D = 48: closed form exact, network refused with a clear error
    gb = big.lift(LWR(3, 5, 2, seed=0))
    assert np.isfinite(gb(Z[:, :3])).all()
    with pytest.raises(LiftPrecisionError, match=r"The 'D' parameter of CompressedLift must be at most 16 .* Got 48"):
        gb.network
    # within the cap, accuracy is measured: D = 16 at delta = 1e-3 misses 1e-6 (2.3e-6 here) and is refused
    tight = CompressedLift(16, q=2, delta=1e-3, D=16).lift(Parity(16, list(range(16))))
    with pytest.raises(LiftPrecisionError, match=r"differs from the exact closed form by .* Got 16 instead"):
        tight.network


def test_good_region_eq_8_and_masses():
    d, delta = 6, 0.05
    f = Parity(d, [0, 2, 5])
    lift = CompressedLift(d, q=2, delta=delta, D=3)
    g = lift.lift(f)
    rng = np.random.default_rng(3)
    # points of G: z_1..z_{d-1} outside S, N2(z_d) in (rho/2, rho) on a rising or falling ramp
    n = 2000
    Z = rng.standard_normal((n, d))
    i = lift.intervals
    Z[:, :-1] = np.where(np.abs(Z[:, :-1]) <= i.U[0], Z[:, :-1] + 3 * np.sign(Z[:, :-1] + 1e-300), Z[:, :-1])
    a = rng.uniform(lift.rho / 2, lift.rho, n)[: n]
    a = np.clip(a, lift.rho / 2 * (1 + 1e-9), lift.rho * (1 - 1e-9))
    side = rng.integers(0, 2, n)
    Z[:, -1] = np.where(side == 0, i.L[0] + a * (i.l[0] - i.L[0]), i.U[0] - a * (i.U[0] - i.r[0]))
    assert lift.in_good_region(Z).all()
    y = f(lift.thres(Z))
    assert_allclose(g(Z), y * lift.n2(Z)[:, -1], atol=1e-12)  # Eq. (8): f^Delta = y N2(z_d) on G
    # exact masses against Monte Carlo within 4.5 standard errors (failure probability ~ 1e-5 each)
    N = 400_000
    Zm = np.random.default_rng(4).standard_normal((N, d))
    for exact, hits in ((lift.good_region_mass(), lift.in_good_region(Zm).mean()),
                        (g.nonzero_mass(), (g(Zm) != 0).mean())):
        se = np.sqrt(exact * (1 - exact) / N)
        assert abs(hits - exact) <= 4.5 * se + 1e-12, (exact, hits)


def test_nonzero_mass_reference_values():
    # docs/theory/adapter.md, section adapter-signal-budget: P[f^Delta != 0] = 0.057 at d = 10, delta = 0.1 (q = 2, |S| = D = d); 0.030 at delta = 0.01
    lift = CompressedLift(10, q=2, delta=0.1)
    assert lift.nonzero_mass() == pytest.approx(0.057, abs=0.002)
    assert CompressedLift(10, q=2, delta=0.01).nonzero_mass() == pytest.approx(0.030, abs=0.002)
    assert lift.bad_event_probability() == 0.0


def test_bad_event_probability_matches_math_md():
    assert bounds.bad_event_probability(10, 2, 1e-3) == pytest.approx(1.19e-7, rel=0.01)
    assert bounds.bad_event_probability(10, 2, 1e-20) == pytest.approx(1.2e-58, rel=0.01)
    assert bounds.bad_event_probability(12, 4, 1e-3) == pytest.approx(7.9e-13, rel=0.02)
    assert bounds.bad_event_paper_bound(10, 2) == pytest.approx(1e-36)
    assert bounds.bad_event_probability(10, 2, 0.3) == pytest.approx(stats.binom.sf(2, 10, 0.3))


def test_dv_lift_and_label_queries():
    for q, f in ((2, Parity(5, [0, 1, 4])), (3, LWR(3, 3, 2, secret=[1, 2, 1]))):
        lift = DVLift(f.d, q=q, delta=0.01)
        g = lift.lift(f)
        assert g.network.hidden_layers == f.network.hidden_layers + 2
        assert g.M >= 1
        i = lift.intervals
        rng = np.random.default_rng(q)
        Z = rng.standard_normal((30_000, f.d))
        pts = np.concatenate([i.L, i.l, i.r, i.U, np.nextafter(i.l, -np.inf), np.nextafter(i.r, np.inf),
                              np.nextafter(i.L, -np.inf), np.nextafter(i.U, np.inf), (i.l + i.r) / 2,
                              (i.L + i.l) / 2, (i.r + i.U) / 2])
        for a, v in enumerate(pts):  # coordinates placed in and next to every R_k and S_k
            Z[100 * a : 100 * a + 100, a % f.d] = v
        direct = g(Z)
        assert np.max(np.abs(g.network(Z) - direct)) <= 1e-6
        oracle = LabelQueryOracle(g)
        assert np.max(np.abs(oracle.label(Z) - direct)) <= 1e-12
        assert oracle.ledger.total == len(Z) and oracle.ledger.counts() == {"label": 1}
    # M = 1 would be wrong for a network exceeding 1 between cube points (docs/theory/lift.md, section lift-dv)
    bump = ReLUNetwork([np.array([[1.0, 1.0, 1.0]]), np.array([[8.0], [-16.0], [8.0]])],
                       [np.array([-0.25, -0.5, -0.75]), np.zeros(1)])
    assert DVLift(1, delta=0.01).lift(bump).M >= 2.0


def test_padding():
    f = Parity(4, [1, 3])
    g = pad(f, 9)
    X = np.random.default_rng(0).integers(0, 2, (100, 9))
    assert (g(X) == f(X[:, :4])).all() and g.d == 9
    lw = LWR(3, 5, 2, seed=1)
    pl = pad(lw, 6)
    Xq = np.random.default_rng(0).integers(0, 5, (100, 6))
    assert (pl(Xq) == lw(Xq[:, :3])).all()
    with pytest.raises(InvalidParameterError, match="The 'd_prime' parameter of pad"):
        pad(f, 3)


@pytest.mark.parametrize("make,param", [
    (lambda: CompressedLift(4, delta=0.5), "delta"),
    (lambda: CompressedLift(4, delta=0.0), "delta"),
    (lambda: CompressedLift(4, q=3, delta=0.34), "delta"),
    (lambda: CompressedLift(4, q=3, delta=1e-20), "delta"),
    (lambda: CompressedLift(4, q=1), "q"),
    (lambda: CompressedLift(4, D=0), "D"),
    (lambda: CompressedLift(0), "d"),
    (lambda: CompressedLift(4).lift(lambda X: X[:, 0]), "concept"),
    (lambda: CompressedLift(4).lift(Parity(5, [0])), "concept"),
    (lambda: CompressedLift(4, q=3).lift(Parity(4, [0])), "concept"),
    (lambda: CompressedLift(4, D=2).lift(Parity(4, [0, 1, 2])), "D"),
    (lambda: DVLift(3).lift(Parity(4, [0])), "concept"),
    (lambda: LabelQueryOracle("g"), "lifted_concept"),
    (lambda: CompressedLift(3).label(np.zeros(2), np.zeros((2, 4))), "Z"),
])
def test_bad_lift_parameters(make, param):
    with pytest.raises(InvalidParameterError, match=rf"The '{param}' parameter of .* must .* Got .* instead"):
        make()


def test_unresolvable_delta_names_the_smallest_usable():
    with pytest.raises(InvalidParameterError, match=r"smallest usable delta is about 9\.\d+e-11"):
        CompressedLift(4, q=3, delta=1e-20)


def test_nonzero_mass_q3_is_exact_against_monte_carlo():
    lift = CompressedLift(4, q=3, delta=0.1, D=16)
    g = lift.lift(LWR(4, 3, 2, seed=1))
    N = 1_000_000
    hits = (g(np.random.default_rng(7).standard_normal((N, 4))) != 0).mean()
    exact = g.nonzero_mass()
    assert abs(hits - exact) <= 4.5 * np.sqrt(exact * (1 - exact) / N)
    # conditioning matters for q = 3: end cells hold one boundary, middle cells two
    assert lift.phi_nonzero_probability([4, 0, 0]) < lift.phi_nonzero_probability([0, 4, 0])


def test_review_findings_network_checks():
    # an inaccurate network is refused even where the old probe set saw no error (q = 5, D = 16)
    g = CompressedLift(1, q=5, delta=1e-3).lift(LWR(1, 5, 2, secret=[4]))
    with pytest.raises(LiftPrecisionError, match="differs from the exact closed form"):
        g.network
    g2 = CompressedLift(3, q=2, delta=1e-20, D=3).lift(Parity(3, [0, 1, 2]))
    assert np.isfinite(g2(np.random.default_rng(0).standard_normal((100, 3)))).all()  # closed form fine
    with pytest.raises(LiftPrecisionError):
        g2.network
    with pytest.raises(LiftPrecisionError):
        DVLift(3, 2, 1e-20).lift(Parity(3, [0, 1, 2])).network
    with pytest.raises(InvalidParameterError, match="finite points"):
        CompressedLift(3, delta=0.1).lift(Parity(3, [0])).__call__(np.full((2, 3), np.nan))


def test_dv_lift_linear_concept_and_cube_check():
    lin = ReLUNetwork([np.array([[0.5], [0.25]])], [np.array([0.1])])
    g = DVLift(2, 2, 0.1).lift(lin)
    Z = np.random.default_rng(0).standard_normal((5000, 2))
    assert g.network.hidden_layers == 2 and np.max(np.abs(g.network(Z) - g(Z))) <= 1e-12
    with pytest.raises(InvalidParameterError, match=r"must live on Z_3\^d"):
        DVLift(1, 3, 0.1).lift(Parity(1, [0]))
