import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import special

from sqsim import InvalidParameterError, bounds


def _per_answer(tau):
    """m(tau) = ceil(1/tau^2) - 1 on the exact rational tau (the test's own reference)."""
    t = Fraction(repr(float(tau)))
    return math.ceil(1 / (t * t)) - 1


def test_parity_lower_bound_is_the_tight_integer_form_of_m2():
    # LB(d, tau) = ceil((2^d - 2) / m(tau)), m(tau) = ceil(1/tau^2) - 1 (docs/theory/bounds.md, section bounds-parity)
    assert bounds.parity_sq_lower_bound(10, 0.1) == math.ceil(1022 / 99) == 11
    assert bounds.parity_sq_lower_bound(4, 0.5) == math.ceil(14 / 3) == 5  # the loose ceil(tau^2 (2^d - 2)) gives 4
    assert bounds.parity_sq_lower_bound(12, 0.3) == math.ceil((2**12 - 2) / 11) == 373
    for d in (2, 5, 9, 16):
        for tau in (0.01, 0.05, 0.1, 0.25, 0.3, 0.5, 0.7, 0.99):
            lb = bounds.parity_sq_lower_bound(d, tau)
            assert lb == math.ceil((2**d - 2) / _per_answer(tau)), (d, tau)
            assert lb >= math.ceil(Fraction(repr(tau)) ** 2 * (2**d - 2))  # never below the older, looser form
            # (lb - 1) answers cannot rule out the 2^d - 2 wrong parities, lb answers may
            assert (lb - 1) * _per_answer(tau) < 2**d - 2 <= lb * _per_answer(tau)
    assert bounds.class_sq_lower_bound(101, 0.1) == math.ceil(100 / 99) == 2
    assert bounds.class_sq_lower_bound(1, 0.3) == 0  # one candidate: nothing to identify


def test_parity_lower_bound_at_tau_one_is_infinite():
    # m(1) = 0: no answer rules out any parity, so no number of queries identifies one of several
    assert bounds.queries_ruled_out_per_answer(1.0) == 0
    assert bounds.parity_sq_lower_bound(20, 1.0) == math.inf
    assert bounds.parity_sq_lower_bound(2, 1.0) == math.inf
    assert bounds.parity_sq_lower_bound(1, 1.0) == 0  # d = 1: one nonempty parity, known without a query
    assert bounds.class_sq_lower_bound(2, 1.0) == math.inf


def _walsh(table):
    """All 2^d coefficients g^(S) = E[g(x) (-1)^{S.x}] of a table indexed by the point code."""
    a = np.array(table, dtype=np.float64)
    h = 1
    while h < len(a):
        a = a.reshape(-1, 2, h)
        a = np.stack([a[:, 0] + a[:, 1], a[:, 0] - a[:, 1]], axis=1).reshape(-1)
        h *= 2
    return a / len(a)


@pytest.mark.parametrize("tau", [0.1, 0.2, 0.24, 0.25, 0.3, 0.5, 0.75, 1.0])
def test_an_answer_rules_out_at_most_m_tau_parities_by_enumeration(tau):
    # the null answer E_null[phi] is within tau of the truth of parity S iff |g^(S)| <= tau (M1): count the
    # parities one query can rule out, over random bounded g and Parseval-saturating +-1 (bent) functions
    d = 4
    rng = np.random.default_rng(7)
    codes = np.arange(2**d)
    bent = np.where((((codes & 1) * ((codes >> 1) & 1) + ((codes >> 2) & 1) * ((codes >> 3) & 1)) & 1) == 1, -1.0, 1.0)
    tables = [bent, rng.uniform(-1, 1, 2**d), np.sign(rng.standard_normal(2**d)), np.ones(2**d)]
    tables += [np.cos(np.pi * (codes & 3) / 3)]
    m = bounds.queries_ruled_out_per_answer(tau)
    assert m == _per_answer(tau)
    for g in tables:
        coeffs = _walsh(g)
        assert np.isclose((coeffs ** 2).sum(), (g ** 2).mean())  # Parseval
        assert (np.abs(coeffs[1:]) > tau).sum() <= m, (tau, g)
    # the bound is attained where it can be: the bent function's 16 coefficients are all +-1/4
    assert (np.abs(_walsh(bent)) > 0.24).sum() == 16 <= bounds.queries_ruled_out_per_answer(0.24) == 17


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
    lambda: bounds.queries_ruled_out_per_answer(1.5),
    lambda: bounds.low_degree_queries(5, -1),
    lambda: bounds.hoeffding_samples(0.1, 1.5),
    lambda: bounds.hoeffding_error(0, 0.1),
])
def test_bad_arguments(call):
    with pytest.raises(InvalidParameterError, match="parameter of .* must be"):
        call()
