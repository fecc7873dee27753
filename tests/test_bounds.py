import math

import pytest
from scipy import special

from sqsim import InvalidParameterError, bounds


def test_parity_lower_bound_m2():
    assert bounds.parity_sq_lower_bound(10, 0.1) == math.ceil(0.01 * (2**10 - 2)) == 11
    assert bounds.parity_sq_lower_bound(1, 0.5) == 0
    assert bounds.parity_sq_lower_bound(20, 1.0) == 2**20 - 2
    assert bounds.class_sq_lower_bound(101, 0.1) == 1


def test_brute_force_and_low_degree():
    assert bounds.brute_force_expected(11) == 1024.0
    for d in (1, 5, 12):
        for k in range(0, d + 2):
            expected = sum(special.comb(d, i, exact=True) for i in range(min(k, d) + 1))
            assert bounds.low_degree_queries(d, k) == expected
    assert bounds.low_degree_queries(10, 10) == 2**10


def test_hoeffding_sizes_match_math_md():
    # docs/theory/bounds.md, section bounds-hoeffding: n = ceil(2 ln(2/delta) / tau^2), eps(n, delta) = sqrt(2 ln(2/delta) / n) on [-1, 1]
    assert bounds.hoeffding_samples(0.1, 1e-3) == math.ceil(2 * math.log(2e3) / 0.01)
    n = bounds.hoeffding_samples(0.05, 1e-6)
    assert bounds.hoeffding_error(n, 1e-6) <= 0.05 < bounds.hoeffding_error(n - 1, 1e-6)
    assert bounds.hoeffding_error(100, 0.01) == pytest.approx(math.sqrt(2 * math.log(200) / 100))
    # [0, 1]-valued: range 1
    assert bounds.hoeffding_samples(0.1, 0.05, value_range=1.0) == math.ceil(math.log(40) / 0.02)


@pytest.mark.parametrize("call", [
    lambda: bounds.parity_sq_lower_bound(0, 0.1),
    lambda: bounds.parity_sq_lower_bound(5, 0),
    lambda: bounds.low_degree_queries(5, -1),
    lambda: bounds.hoeffding_samples(0.1, 1.5),
    lambda: bounds.hoeffding_error(0, 0.1),
])
def test_bad_arguments(call):
    with pytest.raises(InvalidParameterError, match="parameter of .* must be"):
        call()
