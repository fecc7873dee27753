import numpy as np
import pytest
from numpy.testing import assert_array_equal

from sqsim import BooleanCube, Gaussian, ZqCube


@pytest.mark.parametrize("dom", [BooleanCube(1), BooleanCube(5), ZqCube(3, 4), ZqCube(1, 2)])
def test_enumeration_codes_round_trip(dom):
    X = dom.enumerate()
    assert X.shape == (dom.size, dom.d) and X.dtype == np.int64
    assert_array_equal(dom.encode(X), np.arange(dom.size))
    assert len({tuple(r) for r in X.tolist()}) == dom.size
    assert X.min() == 0 and X.max() == dom.base - 1
    chunks = list(dom.chunks(chunk=3))
    assert_array_equal(np.concatenate([c for c, _ in chunks]), np.arange(dom.size))
    assert_array_equal(np.concatenate([x for _, x in chunks]), X)


def test_code_convention_bit_j_is_coordinate_j():
    X = BooleanCube(4).decode(np.array([0b1010]))
    assert X.tolist() == [[0, 1, 0, 1]]
    assert ZqCube(3, 5).decode(np.array([1 + 2 * 5 + 3 * 25])).tolist() == [[1, 2, 3]]


@pytest.mark.parametrize("dom", [BooleanCube(6), ZqCube(4, 3), Gaussian(3)])
def test_sampling_is_seeded_and_has_the_right_law(dom):
    a = dom.sample(20000, seed=1)
    b = dom.sample(20000, seed=np.random.default_rng(1))
    assert a.shape == (20000, dom.d)
    assert_array_equal(a, b)
    assert not np.array_equal(a, dom.sample(20000, seed=2))
    if isinstance(dom, Gaussian):
        assert np.allclose(a.mean(axis=0), 0, atol=0.04) and np.allclose(a.std(axis=0), 1, atol=0.03)
    else:  # uniform marginals: chi-square on each coordinate's counts
        from scipy import stats

        for j in range(dom.d):
            counts = np.bincount(a[:, j], minlength=dom.base)
            assert stats.chisquare(counts).pvalue > 1e-4


def test_guard_is_configurable():
    assert BooleanCube(24).enumerable and not BooleanCube(25).enumerable
    small = BooleanCube(10, max_enumeration=100)
    assert not small.enumerable
    assert ZqCube(3, 7).size == 343
