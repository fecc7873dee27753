"""Concept classes: network forms equal closed forms; class sizes; LWR arithmetic; families."""

import math
from fractions import Fraction

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats

from sqsim import BooleanCube, Gaussian, InvalidParameterError, ZqCube
from sqsim.concepts import (
    LWR,
    Junta,
    LWRSecrets,
    NaturalWeights,
    NaturalWeightsNetwork,
    Parities,
    Parity,
    PeriodicNeuron,
    PeriodicNeurons,
    ReLUNetwork,
    SmoothedNetworks,
    SparseParities,
    lwr_round,
    smoothed,
    triangle_wave,
)


def random_net(rng, sizes):
    Ws = [rng.standard_normal((a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [rng.standard_normal(b) for b in sizes[1:]]
    return ReLUNetwork(Ws, bs)


# ----------------------------------------------------------------------------- ReLUNetwork
@pytest.mark.parametrize("sizes", [[1, 1], [3, 5, 1], [32, 64, 1], [7, 4, 9, 3], [5, 2, 2, 2, 2, 1], [4, 300, 1]])
def test_network_numba_matches_numpy(sizes, rng):
    net = random_net(rng, sizes)
    X = rng.standard_normal((1001, sizes[0]))
    a, b = net(X), net.evaluate_numpy(X)
    assert a.shape == b.shape == ((1001,) if sizes[-1] == 1 else (1001, sizes[-1]))
    assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert net.hidden_layers == len(sizes) - 2 and net.size == sum(sizes[1:-1])
    assert net(X[:0]).shape[0] == 0


def test_network_json_round_trip_is_exact(rng):
    net = random_net(rng, [6, 10, 4, 1])
    again = ReLUNetwork.from_json(net.to_json())
    assert again == net
    X = rng.standard_normal((500, 6))
    assert_array_equal(again(X), net(X))
    tiny = ReLUNetwork([np.array([[5e-324, -1.7976931348623157e308]])], [np.array([0.1, 1 / 3])])
    assert ReLUNetwork.from_json(tiny.to_json()) == tiny


def test_network_composition(rng):
    f = random_net(rng, [4, 6, 3])
    g = random_net(rng, [3, 5, 2])
    X = rng.standard_normal((300, 4))
    assert_allclose(f.then(g)(X), g(f(X)), atol=1e-12)
    assert f.then(g).hidden_layers == 2
    A = rng.standard_normal((3, 1))
    assert_allclose(f.linear_output(A, [0.5])(X), f(X) @ A[:, 0] + 0.5, atol=1e-12)
    deep = f.deepen(4)
    assert deep.hidden_layers == 4
    assert_allclose(deep(X), f(X), atol=1e-12)
    h = random_net(rng, [4, 3, 3, 1])
    par = ReLUNetwork.parallel([f, h])
    assert par.hidden_layers == 2 and par.out_dim == 4
    assert_allclose(par(X), np.column_stack([f(X), h(X)]), atol=1e-12)
    comb = ReLUNetwork.combine([h, h], [2.0, -0.5], bias=1.0)
    assert_allclose(comb(X), 1.5 * h(X) + 1.0, atol=1e-12)


def test_smoothed_adds_parameter_noise(rng):
    net = random_net(rng, [10, 50, 50, 1])
    s = smoothed(net, 0.3, seed=1)
    diffs = np.concatenate([(a - b).ravel() for a, b in zip(s.weights, net.weights)] +
                           [(a - b).ravel() for a, b in zip(s.biases, net.biases)])
    assert stats.kstest(diffs / 0.3, "norm").pvalue > 1e-4
    assert smoothed(net, 0.3, seed=1) == s and smoothed(net, 0.0, seed=5) == net
    fam = SmoothedNetworks(6, widths=(8, 4), sigma=0.05)
    m = fam.sample(3)
    assert m.hidden_layers == 2 and m.widths == (8, 4) and m == fam.sample(3)
    Z = rng.standard_normal((50, 6))
    assert_allclose(m(Z), m.evaluate_numpy(Z), atol=1e-12)


# ----------------------------------------------------------------------------- parities
@pytest.mark.parametrize("d", [1, 2, 5, 9, 14])
def test_parity_network_and_compressed_form_on_every_point(d, rng):
    X = BooleanCube(d).enumerate()
    for code in {0, 2**d - 1, int(rng.integers(0, 2**d)), int(rng.integers(0, 2**d))}:
        S = [j for j in range(d) if (code >> j) & 1]
        f = Parity(d, S)
        y = f(X)
        assert_array_equal(y, X[:, S].sum(axis=1) % 2)
        assert_array_equal(f.labels_from_codes(np.arange(2**d)), y)
        net = f.network
        assert net.hidden_layers == 1 and net.size == max(len(S), 1)
        assert np.max(np.abs(net(X) - y)) <= 1e-12
        c = f.compressed
        assert_array_equal(c.sigma(c.h(X)), y)
        assert_array_equal(c.T, np.arange(len(S) + 1))
        assert set(np.unique(c.h(X))) <= set(c.T.tolist())


def test_parity_families():
    for d in (1, 4, 9):
        assert len(Parities(d)) == 2**d
        for k in range(d + 1):
            sp = SparseParities(d, k)
            assert len(sp) == math.comb(d, k)
            assert all(len(p.support) == k for p in sp)
            assert len(Parities(d, max_size=k)) == sum(math.comb(d, i) for i in range(k + 1))
    fam = Parities(8, max_size=3)
    members = list(fam)
    assert len({m.support for m in members}) == len(fam)
    assert all(fam.index_of(m) == i for i, m in enumerate(members))
    assert fam.sample(4) == fam.sample(4)
    draws = {fam.sample(s).code for s in range(300)}
    assert len(draws) > 50  # many different members
    with pytest.raises(InvalidParameterError, match=r"The 'i' parameter of Parities.member must be"):
        fam.member(len(fam))


# ----------------------------------------------------------------------------- LWR
def direct_lwr(w, x, p, q):
    r = sum(int(a) * int(b) for a, b in zip(w, x)) % q
    z = Fraction(p * r, q)
    rounded = math.floor(z + Fraction(1, 2))  # ties up
    return Fraction(rounded % p, p)


@pytest.mark.parametrize("d,q,p", [(1, 3, 2), (2, 4, 2), (3, 5, 2), (4, 5, 3), (3, 7, 4), (6, 5, 2)])
def test_lwr_matches_direct_integer_computation(d, q, p):
    f = LWR(d, q, p, seed=d * 100 + q)
    X = ZqCube(d, q).enumerate()
    y = f(X)
    assert set(np.unique(y)) <= {k / p for k in range(p)}
    idx = np.random.default_rng(0).choice(len(X), min(len(X), 400), replace=False)
    for i in idx:
        assert y[i] == float(direct_lwr(f.secret, X[i], p, q))
    net = f.network
    assert net.hidden_layers == 1
    assert np.max(np.abs(net(X) - y)) <= 1e-12
    c = f.compressed
    assert_array_equal(c.sigma(c.h(X)), y)
    assert c.T[-1] == f.secret.sum() * (q - 1) <= d * (q - 1) ** 2


def test_lwr_rounding_conventions():
    assert lwr_round(4, 2, 5) == 0.0  # round(1.6) = 2 = 0 mod 2 (docs/theory/concepts.md, section concepts-lwr)
    assert lwr_round(1, 2, 4) == 0.5  # round(0.5) = 1: ties up
    assert lwr_round(3, 2, 4) == 0.0  # round(1.5) = 2 = 0 mod 2
    assert LWR(3, 5, 2, seed=7).secret.tolist() == LWR(3, 5, 2, seed=7).secret.tolist()
    fam = LWRSecrets(2, 5, 2)
    assert len(fam) == 25 and len({tuple(m.secret) for m in fam}) == 25


# ----------------------------------------------------------------------------- natural weights
@pytest.mark.parametrize("dist", ["normal", "uniform", "bernoulli", "normal-cov", "sphere"])
def test_natural_weights_network_form(dist, rng):
    fam = NaturalWeights(20, distribution=dist, scale=0.5)
    f = fam.sample(1)
    Z = rng.standard_normal((100_000, 20))
    assert np.max(np.abs(f.network(Z) - f(Z))) <= 1e-12
    assert f.network.hidden_layers == 2 and f.m == 19  # ceil(log2(20)^2) = 19
    g = NaturalWeightsNetwork(f.W, clip=False)
    assert np.max(np.abs(g.network(Z) - g(Z))) <= 1e-12 and g.network.hidden_layers == 1


def test_natural_weights_distributions():
    n, m = 50, 40
    W = NaturalWeights(n, m, "normal", 0.2).sample(0).W
    assert stats.kstest(W.ravel() / 0.2, "norm").pvalue > 1e-4
    W = NaturalWeights(n, m, "uniform", 0.3).sample(0).W
    assert stats.kstest(W.ravel(), stats.uniform(-0.3, 0.6).cdf).pvalue > 1e-4
    W = NaturalWeights(n, m, "bernoulli", 0.7).sample(0).W
    assert set(np.unique(W)) == {-0.7, 0.7}
    W = NaturalWeights(n, m, "sphere", 2.0).sample(0).W
    assert_allclose(np.linalg.norm(W, axis=0), 2.0)
    A = np.random.default_rng(1).standard_normal((4, 4))
    cov = A @ A.T + np.eye(4)
    big = NaturalWeights(4, 4, "normal-cov", cov=cov)
    cols = np.hstack([big.weights(np.random.default_rng(s)) for s in range(5000)])
    assert_allclose(np.cov(cols), cov, atol=0.15 * np.max(np.abs(cov)))


def test_convolutional_variant_and_finite_family(rng):
    fam = NaturalWeights(24, distribution="normal", patch=6)
    f = fam.sample(3)
    assert f.m == 4
    w = f.W[:6, 0]
    for i in range(4):
        assert_array_equal(f.W[i * 6 : (i + 1) * 6, i], w)
        assert np.count_nonzero(f.W[:, i]) == 6
    Z = rng.standard_normal((2000, 24))
    assert_allclose(f(Z), np.clip(sum(np.maximum(Z[:, 6 * i : 6 * i + 6] @ w, 0) for i in range(4)), 0, 1))
    finite = NaturalWeights(10, members=8, seed=5)
    assert len(finite) == 8 and finite.finite
    assert_array_equal(finite.member(3).W, NaturalWeights(10, members=8, seed=5).member(3).W)
    assert not np.array_equal(finite.member(3).W, finite.member(4).W)
    assert not np.array_equal(finite.member(3).W, NaturalWeights(10, members=8, seed=6).member(3).W)


# ----------------------------------------------------------------------------- periodic
def test_triangle_wave_and_its_network(rng):
    assert triangle_wave(0.0) == 1.0 and triangle_wave(0.5) == -1.0 and triangle_wave(-1.25) == 0.0
    z = rng.uniform(-5, 5, 1000)
    assert_allclose(triangle_wave(z + 1), triangle_wave(z), atol=1e-12)
    fam = PeriodicNeurons(16, r=1.5, psi="triangle")
    f = fam.sample(2)
    assert abs(np.linalg.norm(f.w_star) - 3.0) < 1e-12
    R = 8 * 3.0
    net = f.network(R)
    Z = rng.standard_normal((100_000, 16))
    assert np.max(np.abs(Z @ f.w_star)) <= R
    assert np.max(np.abs(net(Z) - f(Z))) <= 1e-12
    # on and next to the ends of the exact range [-R, R] and at the kinks
    u = f.w_star / np.dot(f.w_star, f.w_star)
    for t in [-R, -R + 0.5, -R + 1e-9, R - 0.5, R, R - 1e-9, 0.25, 0.5]:
        assert abs(net((t * u)[None])[0] - triangle_wave(t)) <= 1e-12, t
    assert abs(net(((R + 0.75) * u)[None])[0] - triangle_wave(R + 0.75)) > 0.1  # not periodic outside


def test_periodic_direction_is_uniform():
    fam = PeriodicNeurons(5, r=1.0)
    W = np.array([fam.sample(s).w_star for s in range(2000)])
    assert_allclose(np.linalg.norm(W, axis=1), 2.0)
    # projections of a uniform point of the sphere of radius 2 in R^5: (x/2 + 1)/2 ~ Beta(2, 2)
    assert stats.kstest((W[:, 0] / 2 + 1) / 2, stats.beta(2, 2).cdf).pvalue > 1e-4
    f = PeriodicNeuron([0.5, 0.0], "cosine")
    assert_allclose(f(np.array([[1.0, 3.0]])), [np.cos(np.pi)])


# ----------------------------------------------------------------------------- bad parameters
@pytest.mark.parametrize("make,param", [
    (lambda: Parity(4, [4]), "support"),
    (lambda: Parity(4, [0, 0]), "support"),
    (lambda: LWR(3, 5, 5), "p"),
    (lambda: LWR(3, 5, 7), "p"),
    (lambda: LWR(3, 5, 1), "p"),
    (lambda: LWR(3, 2, 2), "q"),
    (lambda: LWR(3, 5, 2, secret=[1, 2, 5]), "secret"),
    (lambda: LWR(3, 5, 2, secret=[1, 2]), "secret"),
    (lambda: SmoothedNetworks(4, widths=(-1, 3)), "widths"),
    (lambda: SmoothedNetworks(4, sigma=-0.1), "sigma"),
    (lambda: NaturalWeights(10, m=-2), "m"),
    (lambda: NaturalWeights(10, patch=3), "patch"),
    (lambda: NaturalWeights(10, distribution="cauchy"), "distribution"),
    (lambda: NaturalWeights(2, distribution="normal-cov", cov=[[1, 2], [2, 1]]), "cov"),
    (lambda: NaturalWeights(2, cov=np.eye(2)), "cov"),
    (lambda: NaturalWeights(10, scale=0.0), "scale"),
    (lambda: SparseParities(5, 6), "k"),
    (lambda: Parities(5, max_size=-1), "max_size"),
    (lambda: ReLUNetwork([np.ones((2, 3))], [np.ones(2)]), "biases"),
    (lambda: ReLUNetwork([np.ones((2, 3)), np.ones((2, 1))], [np.ones(3), np.ones(1)]), "weights"),
    (lambda: ReLUNetwork([np.array([[np.nan]])], [np.zeros(1)]), "weights"),
    (lambda: ReLUNetwork(np.ones((2, 2)), [np.zeros(2)]), "weights"),
    (lambda: ReLUNetwork.from_json("{not json"), "text"),
    (lambda: ReLUNetwork.from_json('{"format": "other"}'), "text"),
    (lambda: PeriodicNeuron([1.0, 2.0], "cosine").network(3), "psi"),
    (lambda: PeriodicNeuron([1.0, 2.0], "sawtooth"), "psi"),
    (lambda: PeriodicNeurons(4, r=0), "r"),
    (lambda: smoothed("net", 0.1), "network"),
    (lambda: Parity(3, [0])(np.zeros((2, 4))), "X"),
    (lambda: random_net(np.random.default_rng(0), [3, 2, 1])(np.zeros((2, 4))), "X"),
])
def test_bad_concept_parameters(make, param):
    with pytest.raises(InvalidParameterError, match=rf"The '{param}' parameter of .* must .* Got .* instead"):
        make()


def test_concept_domain_mismatch_is_refused():
    from sqsim import SQOracle

    with pytest.raises(InvalidParameterError, match="d=5"):
        SQOracle(BooleanCube(5), Parity(4, [0]), 0.1)
    with pytest.raises(InvalidParameterError, match="d=5"):
        SQOracle(BooleanCube(5), Junta(4, [0], table=[0, 1]), 0.1)
    with pytest.raises(InvalidParameterError, match="d=3"):
        SQOracle(ZqCube(3, 5), LWR(4, 5, 2, seed=0), 0.1)
    with pytest.raises(InvalidParameterError, match="d=8"):
        SQOracle(Gaussian(8), NaturalWeights(10).sample(0), 0.1)


def test_family_index_and_size_guards():
    fam = Parities(6, max_size=2)
    with pytest.raises(InvalidParameterError, match="must be a member"):
        fam.index_of(Parity(6, [0, 1, 2]))
    with pytest.raises(InvalidParameterError, match="The 'max_size' parameter of Parities"):
        Parities(40, 8)
    assert LWR(16, 17, 2, seed=0).secret.shape == (16,)  # no domain is built until asked
