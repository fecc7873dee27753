"""sqsim.dimension: correlations, certified SDA intervals, query lower bounds, SQ dimension.

docs/theory/dimension.md has the definitions and derivations checked here.
"""

import itertools
import math

import numpy as np
import pytest

import learners
from sqsim import BooleanCube, InvalidParameterError, SQOracle, ZqCube
from sqsim._kernels.correlation import character_row_stats
from sqsim.concepts import LWRSecrets, NaturalWeights, Parities, Parity, SparseParities
from sqsim.dimension import (
    CorrelationMatrix,
    RowStatistics,
    orthonormal_sda,
    pairwise_correlations,
    sda,
    sq_dimension,
    sq_lower_bound,
    stat_gamma,
    weak_learning_bound,
)
from sqsim.dimension._correlations import character_stats

GAMMAS = (0.25, 0.1, 1 / 3, 0.01, stat_gamma(0.05), 1.0)


# ---------------------------------------------------------------- helpers: SDA by its definition
def brute_sda(M, gamma):
    """SDA of the family with matrix M by the definition: every subset of size >= N/d has rho <= gamma."""
    A = np.abs(M)
    N = len(A)
    worst = [0.0] * (N + 1)  # worst[m] = max rho over subsets of size exactly m
    for m in range(1, N + 1):
        worst[m] = max(A[np.ix_(c, c)].sum() / m**2 for c in itertools.combinations(range(N), m))
    ok = [m for m in range(1, N + 1) if all(worst[k] <= gamma for k in range(m, N + 1))]
    if not ok:
        return 0
    m_star = min(ok)
    return math.inf if m_star == 1 else math.ceil(N / (m_star - 1)) - 1


def random_matrix(N, seed, scale=0.3):
    rng = np.random.default_rng(seed)
    M = rng.uniform(-scale, scale, (N, N))
    M = (M + M.T) / 2
    np.fill_diagonal(M, rng.uniform(0.5, 1.0, N))
    return M


# ---------------------------------------------------------------- correlations
def test_parity_correlations_are_the_identity_for_every_path():
    d = 5
    eye = np.eye(2**d - 1)
    nonempty = range(1, 2**d)
    assert np.array_equal(pairwise_correlations(Parities(d), members=nonempty).values, eye)
    # the same members as Parity objects (character path) and as plain callables (label-table path)
    objs = [Parities(d).member(i) for i in nonempty]
    assert np.array_equal(pairwise_correlations(objs, BooleanCube(d)).values, eye)
    plain = [lambda X, f=f: f(X) for f in objs]
    table = pairwise_correlations(plain, BooleanCube(d))
    np.testing.assert_allclose(table.values, eye, atol=1e-14, rtol=0)
    assert table.exact and table.abs_error == 0.0 and table.reference == {0: 0.5, 1: 0.5}
    np.testing.assert_allclose(pairwise_correlations(plain, BooleanCube(d), kind="csq").values, eye, atol=1e-14)


def test_sq_correlation_matches_its_definition_on_a_small_family():
    """chi(f, g) = sum_y P[f = g = y] / p0(y) - 1, and the csq covariance, by direct enumeration."""
    rng = np.random.default_rng(3)
    d = 4
    X = BooleanCube(d).enumerate()
    tables = rng.integers(0, 3, (6, 2**d))  # three labels, unbalanced
    fams = [lambda X, t=t: t[X @ (1 << np.arange(d))] for t in tables]
    p0 = {y: float(np.mean(tables == y)) for y in range(3)}
    want = np.array([[sum(np.mean((a == y) & (b == y)) / p0[y] for y in range(3)) - 1 for b in tables] for a in tables])
    m = pairwise_correlations(fams, BooleanCube(d))
    np.testing.assert_allclose(m.values, want, atol=1e-13)
    ref = {0: 0.5, 1: 0.25, 2: 0.25}
    want = np.array([[sum(np.mean((a == y) & (b == y)) / ref[y] for y in range(3)) - 1 for b in tables] for a in tables])
    np.testing.assert_allclose(pairwise_correlations(fams, BooleanCube(d), reference=ref).values, want, atol=1e-13)
    c = tables - tables.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(pairwise_correlations(fams, BooleanCube(d), kind="csq").values, c @ c.T / 2**d, atol=1e-13)
    assert X.shape == (16, 4)


def test_character_path_equals_the_label_table_path_with_the_constant_parity():
    """Parities(d) includes chi_empty = 0: unbalanced average label law, not orthonormal."""
    d = 4
    fam = Parities(d)
    plain = [lambda X, f=f: f(X) for f in fam]
    for kind in ("sq", "csq"):
        a = pairwise_correlations(fam, kind=kind)
        b = pairwise_correlations(plain, BooleanCube(d), kind=kind)
        np.testing.assert_allclose(a.values, b.values, atol=1e-13, err_msg=kind)
    ref = {0: 0.7, 1: 0.3}
    np.testing.assert_allclose(pairwise_correlations(fam, reference=ref).values,
                               pairwise_correlations(plain, BooleanCube(d), reference=ref).values, atol=1e-13)


def test_lwr_family_correlations():
    fam = LWRSecrets(2, 5, 2)
    m = pairwise_correlations(fam)
    assert m.N == 25 and m.exact
    X = ZqCube(2, 5).enumerate()
    tables = np.array([f(X) for f in fam])
    labels = np.unique(tables)
    p0 = {y: np.mean(tables == y) for y in labels}
    want = sum(((tables == y).astype(float) @ (tables == y).T.astype(float)) / (25 * p0[y]) for y in labels) - 1
    np.testing.assert_allclose(m.values, want, atol=1e-13)


def test_kernel_matches_its_twin_compiled_and_uncompiled():
    """The streaming kernel against the dense numpy block + RowStatistics.from_rows (its twin)."""
    from sqsim.dimension._correlations import CharacterSource

    src = CharacterSource(BooleanCube(6), Parities(6, max_size=3).codes())
    for kind in ("sq", "csq"):
        coef, _ = src.coefficients(kind, {0: 0.6, 1: 0.4} if kind == "sq" else None)
        allr = np.arange(src.N)
        twin = RowStatistics.from_rows(src.block(coef, allr, allr), 0, 7)
        got = character_stats(src.codes, src.e, coef, 7)
        index_of = np.full(len(src.e), -1, dtype=np.int64)
        index_of[src.codes] = allr
        py = [np.empty((src.N, 7)), np.empty((src.N, 7), dtype=np.int64)] + [np.empty(src.N) for _ in range(3)]
        character_row_stats.py_func(src.codes, index_of, np.flatnonzero(src.e).astype(np.int64), src.e, *coef, *py)
        for stats, name in ((got, "jit"), (RowStatistics(py[0], py[1], py[2], py[3], float(py[4].max())), "python")):
            np.testing.assert_allclose(stats.top_values, twin.top_values, atol=1e-14, err_msg=f"{kind} {name}")
            np.testing.assert_array_equal(stats.top_indices, twin.top_indices, err_msg=f"{kind} {name}")
            np.testing.assert_allclose(stats.row_sums, twin.row_sums, atol=1e-12, err_msg=f"{kind} {name}")
            np.testing.assert_allclose(stats.diagonal, twin.diagonal, atol=1e-14, err_msg=f"{kind} {name}")
            assert abs(stats.max_offdiagonal - twin.max_offdiagonal) < 1e-14


@pytest.mark.parametrize("family, members", [
    (Parities(8), None), (Parities(9), range(1, 512)), (SparseParities(9, 3), None), (LWRSecrets(2, 5, 3), None),
])
def test_streaming_equals_dense(family, members):
    for kind in ("sq", "csq"):
        dense = pairwise_correlations(family, members=members, kind=kind)
        for top in (1, 5, 64):
            s = pairwise_correlations(family, members=members, kind=kind, streaming=True, top=top, block=37)
            assert not s.stored and s.N == dense.N
            a, b = s.row_statistics(), dense.row_statistics(top=top)
            np.testing.assert_allclose(a.top_values, b.top_values, atol=1e-12, err_msg=f"{kind} top={top}")
            np.testing.assert_allclose(a.row_sums, b.row_sums, atol=1e-10)
            np.testing.assert_allclose(a.diagonal, b.diagonal, atol=1e-12)
            idx = np.arange(0, dense.N, 7)
            np.testing.assert_allclose(s.submatrix(idx), dense.values[np.ix_(idx, idx)], atol=1e-12)
        for gamma in (0.25, 0.05):
            x, y = sda(s, gamma=gamma), sda(dense, gamma=gamma)
            assert x.lower <= y.lower and y.lower <= y.upper <= x.upper or (x.lower, x.upper) == (y.lower, y.upper)
            if family.__class__ is not LWRSecrets:  # orthonormal or character classes: both exact and equal
                assert (x.lower, x.upper) == (y.lower, y.upper)


# ---------------------------------------------------------------- SDA: closed forms
def test_orthonormal_closed_form_by_the_definition():
    """ceil(N / (ceil(1/gamma) - 1)) - 1 equals SDA computed over all subsets (N <= 9)."""
    assert orthonormal_sda(15, 0.25) == 4
    for N in range(1, 10):
        for gamma in (0.2, 0.25, 0.3, 0.5, 0.9, 1.0, 1 / 3):
            assert brute_sda(np.eye(N), gamma) == orthonormal_sda(N, gamma), (N, gamma)


@pytest.mark.parametrize("d", range(4, 17))
def test_parity_sda_equals_the_closed_form(d):
    """All nonempty parities (N = 2^d - 1) and the search version without a target (N = 2^d - 2)."""
    gammas = GAMMAS if d <= 12 else (0.25, stat_gamma(0.05))
    for N, members in ((2**d - 1, range(1, 2**d)), (2**d - 2, range(2, 2**d))):
        m = pairwise_correlations(Parities(d), members=members, streaming=d > 10)
        for gamma in gammas:
            r = sda(m, gamma=gamma)
            assert r.lower == r.upper == orthonormal_sda(N, gamma), (d, N, gamma, r)
            if math.isfinite(r.upper):
                assert len(r.witness) == min(N, math.ceil(1 / gamma) - 1) and r.witness_correlation > gamma
        for tau in (0.05, 0.1, 0.3):
            b = sq_lower_bound(m, tolerance=tau)
            assert b.lower == b.upper == orthonormal_sda(N, min(tau / 6, tau**2 / 3))
        b = sq_lower_bound(m, tolerance=50.0, oracle="vstat", success_probability=2 / 3)
        assert b.gamma == 1 / 150 and b.lower == b.upper == math.ceil(orthonormal_sda(N, 1 / 150) / 3 - 1e-12)


@pytest.mark.parametrize("d", range(4, 17))
def test_sparse_parity_sda_equals_the_closed_form(d):
    for k in (1, 2, 3):
        N = math.comb(d, k)
        m = pairwise_correlations(SparseParities(d, k), streaming=N > 2000)
        for gamma in (0.25, 0.1, stat_gamma(0.1)):
            r = sda(m, gamma=gamma)
            assert r.lower == r.upper == orthonormal_sda(N, gamma), (d, k, gamma)


def test_gamma_one_is_infinite_for_orthonormal_families():
    r = sda(Parities(5), gamma=1.0, members=range(1, 32))
    assert r.lower == r.upper == math.inf and r.witness == ()
    assert r.to_dict()["lower"] is None


# ---------------------------------------------------------------- SDA: the row bound and hand-built families
def test_row_bound_is_non_increasing_and_certified():
    for seed in range(5):
        M = random_matrix(9, seed)
        stats = CorrelationMatrix(M, kind="sq", reference="hand", exact=True).row_statistics()
        R = [stats.top_sum_bound(m).max() / m for m in range(1, 10)]
        assert all(a >= b - 1e-15 for a, b in itertools.pairwise(R))
        for m in range(1, 10):  # the row bound dominates every subset of size m
            worst = max(np.abs(M)[np.ix_(c, c)].sum() / m**2 for c in itertools.combinations(range(9), m))
            assert worst <= R[m - 1] + 1e-15
        short = CorrelationMatrix(M, kind="sq", reference="hand", exact=True).row_statistics(top=3)
        assert np.all(short.top_sum_bound(7) >= stats.top_sum_bound(7) - 1e-15)  # the tail bound is an upper bound


def test_random_hand_built_matrix_interval_contains_the_definition():
    for seed in range(8):
        M = random_matrix(10, 100 + seed)
        for gamma in (0.15, 0.25, 0.4):
            r = sda(CorrelationMatrix(M, kind="sq", reference="hand", exact=True), gamma=gamma)
            true = brute_sda(M, gamma)
            assert r.lower <= true <= r.upper, (seed, gamma, r, true)
            if r.witness:
                assert np.abs(M)[np.ix_(r.witness, r.witness)].mean() > gamma
            # Monte Carlo error widens the interval on both sides
            w = sda(CorrelationMatrix(M, kind="sq", reference="hand", exact=False, abs_error=0.02), gamma=gamma)
            assert w.lower <= r.lower and w.upper >= r.upper


def test_random_family_with_repeated_members_gives_the_expected_interval():
    """Random parities with multiplicities: chi is the 'same support' indicator, built here by hand."""
    rng = np.random.default_rng(7)
    d = 6
    counts = rng.integers(1, 6, 12)
    codes = rng.choice(np.arange(1, 2**d), 12, replace=False)
    fam = [Parity(d, [j for j in range(d) if (int(c) >> j) & 1]) for c, n in zip(codes, counts) for _ in range(n)]
    labels = np.repeat(np.arange(12), counts)
    want = (labels[:, None] == labels[None, :]).astype(float)
    N, g = len(fam), int(counts.max())
    for path in (fam, [lambda X, f=f: f(X) for f in fam]):
        m = pairwise_correlations(path, BooleanCube(d))
        np.testing.assert_allclose(m.values, want, atol=1e-14)
        for gamma in (0.2, 0.3, 0.5):
            r = sda(m, gamma=gamma)
            # row bound: S_i(m) = min(m, g_i), so m* = ceil(g / gamma) (g = largest multiplicity, gamma < 1)
            m_star = math.ceil(g / gamma - 1e-12)
            assert r.threshold_size == m_star and r.lower == math.ceil(N / (m_star - 1)) - 1
            # exact value: the worst subset of size k fills the largest groups first
            worst = []
            for k in range(1, N + 1):
                left, total = k, 0
                for c in sorted(counts, reverse=True):
                    take = min(c, left)
                    total, left = total + take**2, left - take
                worst.append(total / k**2)
            ok = [k for k in range(1, N + 1) if all(w <= gamma for w in worst[k - 1:])]
            exact = math.ceil(N / (min(ok) - 1)) - 1
            assert r.lower <= exact <= r.upper


# ---------------------------------------------------------------- query bounds against measured counts
def test_demo_sweep_medians_lie_above_the_certified_bound():
    """The demo's parity sweep (tau = 0.1, adversarial, d = 4..14 step 2): median counts >= the bound.

    The bound is for the nonempty parities; it holds for any class containing them (SDA(B, gamma)
    is a maximum over sub-families). Version-space search runs up to d = 10 (its queries are slow).
    """
    tau = 0.1
    for d in range(4, 15, 2):
        bound = sq_lower_bound(Parities(d), tolerance=tau, members=range(1, 2**d))
        assert bound.lower == bound.upper == orthonormal_sda(2**d - 1, tau**2 / 3)
        runs = [("parity-brute-force", 5)] + ([("version-space-search", 3)] if d <= 10 else [])
        for name, seeds in runs:
            counts = []
            for s in range(seeds):
                code = int(np.random.default_rng(100 * d + s).integers(1, 2**d))
                f = Parity(d, [j for j in range(d) if code >> j & 1])
                o = SQOracle(BooleanCube(d), f, tau, answers="adversarial", seed=s)
                counts.append(learners.make(name, seed=s).learn(o).queries)
            assert np.median(counts) >= bound.lower, (name, d, counts, bound.lower)
    assert bound.lower > 0  # d = 14: the bound is not vacuous


# ---------------------------------------------------------------- SQ dimension
def test_sq_dimension_of_parities_and_the_weak_learning_bound():
    r = sq_dimension(Parities(16), members=range(1, 2**16))
    assert r.lower == r.upper == 2**16 - 1 and r.exact and len(r.witness) == 2**16 - 1
    w = r.weak_learning
    assert w["applies"] and abs(w["queries"] - (2**16 - 1) ** (1 / 3) / 2) < 1e-9
    assert abs(w["tolerance_sqsim"] - 2 * w["tolerance_theirs"]) < 1e-15
    assert not weak_learning_bound(15)["applies"]


def test_sq_dimension_exact_and_greedy_agree_with_brute_force():
    rng = np.random.default_rng(11)
    for seed in range(6):
        N = int(rng.integers(4, 11))
        M = random_matrix(N, 200 + seed, scale=0.6)
        m = CorrelationMatrix(M, kind="sq", reference="hand", exact=True)
        for form, bound in (("1/d", lambda d: 1 / d), ("bfj94", lambda d: 1 / d**3)):
            A = np.abs(M)
            true = max(k for k in range(1, N + 1) if any(
                all(A[i, j] <= bound(k) for i, j in itertools.combinations(c, 2))
                for c in itertools.combinations(range(N), k)))
            exact = sq_dimension(m, form=form)
            greedy = sq_dimension(m, form=form, exact_cap=0)
            assert exact.lower == exact.upper == true, (seed, form)
            assert greedy.lower <= true <= greedy.upper
            W = greedy.witness
            assert len(W) == greedy.lower and all(A[i, j] <= bound(len(W)) for i, j in itertools.combinations(W, 2))


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("gamma", [0, -0.1, 1.5, float("nan"), None, "0.5"])
def test_gamma_outside_the_unit_interval(gamma):
    with pytest.raises(InvalidParameterError, match=r"The 'gamma' parameter of sda must be a float in the range "
                                                    r"\(0, 1\]\. Got .* instead\."):
        sda(Parities(3), gamma=gamma)


def test_bad_input_is_a_clear_error():
    with pytest.raises(InvalidParameterError, match="'streaming' parameter of pairwise_correlations must be True for "
                                                    "N = 65536 members.*Got False instead"):
        pairwise_correlations(Parities(16))
    with pytest.raises(InvalidParameterError, match="'streaming' parameter"):
        pairwise_correlations(Parities(6), max_dense_bytes=1000)
    with pytest.raises(InvalidParameterError, match=r"'family' parameter .* one dimension, d = 3 .* Got members of "
                                                    r"dimensions \[3, 4\]"):
        pairwise_correlations([Parity(3, [0]), Parity(4, [1])], BooleanCube(3))
    nw = NaturalWeights(8, members=5, seed=0)
    with pytest.raises(InvalidParameterError, match="'kind' parameter of pairwise_correlations can be 'sq' only for a "
                                                    "finite label set"):
        pairwise_correlations(nw, BooleanCube(8))
    assert pairwise_correlations(nw, BooleanCube(8), kind="csq").N == 5
    assert pairwise_correlations(nw, BooleanCube(8), label_map=lambda y: y > 0.5).N == 5  # a label event
    with pytest.raises(InvalidParameterError, match="'reference' parameter .* positive probability to every label"):
        pairwise_correlations(Parities(3), reference={0: 1.0})
    with pytest.raises(InvalidParameterError, match="'reference' parameter .* probability law"):
        pairwise_correlations(Parities(3), reference={0: 0.7, 1: 0.7})
    with pytest.raises(InvalidParameterError, match="'members' parameter"):
        pairwise_correlations(Parities(3), members=[0, 8])
    with pytest.raises(InvalidParameterError, match="'domain' parameter .* family's domain"):
        pairwise_correlations(Parities(3), BooleanCube(4))
    with pytest.raises(InvalidParameterError, match="'domain' parameter .* BooleanCube, a ZqCube or a Gaussian"):
        pairwise_correlations([Parity(3, [0])], "cube")
    with pytest.raises(InvalidParameterError, match="'kind' parameter"):
        pairwise_correlations(Parities(3), kind="vstat")
    with pytest.raises(InvalidParameterError, match="'tolerance' parameter of sq_lower_bound"):
        sq_lower_bound(Parities(3), tolerance=0.0)
    with pytest.raises(InvalidParameterError, match="'tolerance' parameter of sq_lower_bound"):
        sq_lower_bound(Parities(3), tolerance=0.1, oracle="vstat")
    with pytest.raises(InvalidParameterError, match="'oracle' parameter of sq_lower_bound"):
        sq_lower_bound(Parities(3), tolerance=0.1, oracle="csq")
    with pytest.raises(InvalidParameterError, match="'values' parameter of CorrelationMatrix must be symmetric"):
        CorrelationMatrix([[1.0, 0.5], [0.0, 1.0]], kind="sq", reference="x", exact=True)
    with pytest.raises(InvalidParameterError, match="'abs_error' parameter of CorrelationMatrix"):
        CorrelationMatrix(np.eye(2), kind="sq", reference="x", exact=True, abs_error=-1.0)
    big = pairwise_correlations(Parities(7), streaming=True)
    with pytest.raises(InvalidParameterError, match="are not stored"):
        _ = big.values


def test_gaussian_sq_correlations_need_finite_labels():
    pytest.importorskip("sqsim.dimension._gaussian")
    from sqsim import Gaussian

    nets = NaturalWeights(3, members=3, seed=0)
    with pytest.raises(InvalidParameterError):
        pairwise_correlations(nets, Gaussian(3), kind="sq")


def test_sda_benchmark_reports_its_fields():
    """Structure only (no timing assertion): the entry `sqsim bench` reports as sda_parities_d16."""
    from sqsim._bench import bench_sda_parities

    r = bench_sda_parities(8, 6, 1)
    assert set(r) == {"value", "unit", "reference_value", "ratio"} and r["unit"] == "s"
    assert r["value"] > 0 and r["reference_value"] > 0 and r["ratio"] == r["reference_value"] / r["value"]


def test_readme_worked_example_numbers():
    """README, "Certified lower bounds for your own class": XORs of one or two coordinates at tau = 0.3."""
    got = [sq_lower_bound(Parities(d, max_size=2), tolerance=0.3, members=range(1, d + math.comb(d, 2) + 1)).lower
           for d in (8, 10, 12, 14)]
    assert got == [1, 1, 2, 3] == [math.ceil((d + math.comb(d, 2)) / 33) - 1 for d in (8, 10, 12, 14)]


def test_public_names_round_trip_through_pickle():
    import pickle

    import sqsim.dimension as dim

    r = sda(Parities(4), gamma=0.25, members=range(1, 16))
    assert pickle.loads(pickle.dumps(r)) == r and repr(type(r)).startswith("<class 'sqsim.dimension.")
    m = pickle.loads(pickle.dumps(pairwise_correlations(Parities(3))))
    assert m.N == 8 and set(dim.__all__) >= {"pairwise_correlations", "sda", "sq_lower_bound", "sq_dimension",
                                             "CorrelationMatrix"}


def test_sequences_of_network_members():
    """Members of an infinite family (SmoothedNetworks) as a sequence of callables, on a finite cube."""
    from sqsim.concepts import SmoothedNetworks

    nets = [SmoothedNetworks(4, sigma=0.1).sample(s) for s in range(4)]
    m = pairwise_correlations(nets, BooleanCube(4), kind="csq")
    X = BooleanCube(4).enumerate()
    t = np.array([n(X) for n in nets])
    t -= t.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(m.values, t @ t.T / 16, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(m.values) > -1e-12)


def test_family_options_with_a_matrix_are_an_error():
    m = pairwise_correlations(Parities(3))
    with pytest.raises(InvalidParameterError, match="'members' parameter of sda applies to families only"):
        sda(m, gamma=0.5, members=[1, 2])


def test_factored_matrix_is_the_one_assembly_dense_and_streamed():
    """The shared factored assembly (label tables, lifted tables, Monte Carlo) against an explicit product."""
    from sqsim.dimension._matrix import factored_matrix

    rng = np.random.default_rng(3)
    F, G = rng.standard_normal((7, 5)), rng.standard_normal((7, 2))
    want = 0.25 + F @ F.T - G @ G.T
    meta = {"kind": "csq", "reference": "test", "abs_error": 0.0, "exact": True, "names": None}
    dense = factored_matrix([F, G], 0.25, 7, streaming=False, block=3, top=4, meta=meta, signs=[1, -1])
    assert np.allclose(dense.values, want, atol=1e-12)
    streamed = factored_matrix([F, G], 0.25, 7, streaming=True, block=3, top=4, meta=meta, signs=[1, -1])
    assert not streamed.stored and np.allclose(streamed.submatrix(np.arange(7)), want, atol=1e-12)
    assert np.allclose(streamed.row_statistics().top_values, -np.sort(-np.abs(want), axis=1)[:, :4], atol=1e-12)
    # the table path and the character path reach the same matrix through their one assembly each
    fam = [Parity(4, [0, 1]), Parity(4, [2]), Parity(4, [1, 3])]
    wrapped = [lambda X, f=f: f(X) for f in fam]
    for kind in ("sq", "csq"):
        a = pairwise_correlations(fam, BooleanCube(4), kind=kind)
        b = pairwise_correlations(wrapped, BooleanCube(4), kind=kind, streaming=True, top=2)
        assert np.allclose(b.submatrix(np.arange(3)), a.values, atol=1e-12)


def test_csq_lower_bound_uses_the_correlational_route():
    N, tau = 63, 0.2
    b = sq_lower_bound(Parities(6), tolerance=tau, members=range(1, 64), kind="csq")
    assert b.gamma == pytest.approx(tau**2) and "Correlational" in b.theorem and "Theorem 3.7:" not in b.theorem
    assert b.lower == b.upper == orthonormal_sda(N, tau**2)
    sq = sq_lower_bound(Parities(6), tolerance=tau, members=range(1, 64))
    assert sq.gamma == pytest.approx(min(tau / 6, tau**2 / 3)) and sq.lower < b.lower  # the VSTAT route is weaker
    with pytest.raises(InvalidParameterError, match="'oracle'.*'stat' for a kind='csq'.*Got 'vstat'"):
        sq_lower_bound(Parities(4), tolerance=10.0, oracle="vstat", kind="csq")


def test_csq_lower_bound_certifies_the_adversary_lemma():
    """For every CSQ query h (|h| <= 1) fewer than N/d members have |E[h (f_i - c)]| > tau (c: the mid mean),
    so the constant-reference adversary needs more than d queries to be refuted (section "dimension-csq")."""
    rng = np.random.default_rng(11)
    dom = BooleanCube(6)
    X = dom.enumerate()
    N = 24
    tables = (rng.random((N, 64)) < rng.uniform(0.3, 0.7, (N, 1))).astype(float)  # unequal means
    fam = [lambda Z, t=t: t[Z @ (1 << np.arange(6))] for t in tables]
    assert np.array_equal(fam[0](X), tables[0][X @ (1 << np.arange(6))])
    tau = 0.7
    m = pairwise_correlations(fam, dom, kind="csq")
    F = 1.0 - 2.0 * tables[:, X @ (1 << np.arange(6))]  # y' = 1 - 2y on the enumerated points
    mu = F.mean(axis=1)
    assert m.mean_offset == pytest.approx((mu.max() - mu.min()) / 2)
    assert np.allclose(m.values, np.cov(F, bias=True), atol=1e-12)
    b = sq_lower_bound(m, tolerance=tau)
    assert b.gamma == pytest.approx(tau**2 - m.mean_offset**2)
    d = b.sda.lower
    assert 2 <= d < math.inf
    c = (mu.max() + mu.min()) / 2
    G = F - c
    worst = 0
    for _ in range(400):  # adversarial queries h = sign(sum_{i in W} s_i g_i), the extremal ones of the lemma
        W = rng.choice(N, size=int(rng.integers(1, N + 1)), replace=False)
        s = rng.choice([-1.0, 1.0], size=W.size)
        h = np.sign(s @ G[W])
        h[h == 0] = 1.0
        worst = max(worst, int(np.sum(np.abs(G @ h) / 64 > tau)))
    assert worst > 0  # the queries do eliminate members
    assert worst <= math.ceil(N / d) - 1
    # without the mean offset the same matrix would claim more than it may
    no_offset = sq_lower_bound(CorrelationMatrix(m.values, kind="csq", reference="test", exact=True), tolerance=tau)
    assert no_offset.sda.lower >= d


def test_sweep_bound_is_exported(tmp_path):
    import sqsim.dimension as dim

    assert "sweep_bound" in dim.__all__ and dim.sweep_bound.__module__ == "sqsim.dimension"
    b = dim.sweep_bound("parity", 6, 0.1, tmp_path)
    assert b["lower"] == orthonormal_sda(63, min(0.1 / 6, 0.01 / 3))
