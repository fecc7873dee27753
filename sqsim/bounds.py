"""The theory's numbers: SQ lower bounds, expected query counts, Hoeffding sample sizes.

Every function cites its source; docs/theory/bounds.md has the derivations.
"""

from __future__ import annotations

import math
from fractions import Fraction

from ._strategies import hoeffding_error as _hoeffding_error
from ._strategies import hoeffding_samples as _hoeffding_samples
from ._validation import Interval, check_param

__all__ = [
    "parity_sq_lower_bound",
    "class_sq_lower_bound",
    "brute_force_expected",
    "low_degree_queries",
    "hoeffding_samples",
    "hoeffding_error",
    "bad_event_probability",
    "bad_event_paper_bound",
]


def parity_sq_lower_bound(d, tau):
    """LB(d, tau) = ceil(tau^2 (2^d - 2)) (docs/theory/bounds.md, section bounds-parity).

    Against the null adversary each answer rules out fewer than 1/tau^2 of the 2^d - 1
    nonempty parities (Parseval), so identifying S* needs at least this many queries in the
    worst case over targets.
    """
    check_param("d", d, Interval(int, 1, None), "parity_sq_lower_bound")
    check_param("tau", tau, Interval(float, 0, 1, closed="right"), "parity_sq_lower_bound")
    return class_sq_lower_bound(2 ** int(d) - 1, tau)


def class_sq_lower_bound(n_candidates, tau):
    """LB(N, tau) = ceil(tau^2 (N - 1)) for a search among N candidates (docs/theory/bounds.md, section bounds-search)."""
    check_param("n_candidates", n_candidates, Interval(int, 1, None), "class_sq_lower_bound")
    check_param("tau", tau, Interval(float, 0, 1, closed="right"), "class_sq_lower_bound")
    # exact rational arithmetic on the decimal the user wrote (0.1 means 1/10): a float product
    # 0.1**2 * 100 = 1.0000000000000002 would round the bound up by one
    t = Fraction(repr(float(tau)))
    return math.ceil(t * t * (int(n_candidates) - 1))


def brute_force_expected(d):
    """Expected queries of brute force over the 2^d - 1 nonempty parities in random order: 2^(d-1).

    The rank of S* in a uniformly random order of N = 2^d - 1 candidates has mean (N + 1)/2 = 2^(d-1)
    (docs/theory/bounds.md, section bounds-brute-force).
    """
    check_param("d", d, Interval(int, 1, None), "brute_force_expected")
    return 2.0 ** (int(d) - 1)


def low_degree_queries(d, k):
    """sum_{i <= k} C(d, i): the queries of the Linial-Mansour-Nisan low-degree algorithm."""
    check_param("d", d, Interval(int, 1, None), "low_degree_queries")
    check_param("k", k, Interval(int, 0, None), "low_degree_queries")
    return sum(math.comb(int(d), i) for i in range(min(int(k), int(d)) + 1))


def hoeffding_samples(eps, delta, value_range=2.0):
    """n = ceil(range^2 ln(2/delta) / (2 eps^2)): mean within eps w.p. 1 - delta (Hoeffding 1963).

    For queries with values in [-1, 1] (range 2) this is the ceil(2 ln(2/delta) / eps^2).
    """
    check_param("eps", eps, Interval(float, 0, None, closed="neither"), "hoeffding_samples")
    check_param("delta", delta, Interval(float, 0, 1, closed="neither"), "hoeffding_samples")
    check_param("value_range", value_range, Interval(float, 0, None, closed="neither"), "hoeffding_samples")
    return _hoeffding_samples(float(eps), float(delta), float(value_range))


def hoeffding_error(n, delta, value_range=2.0):
    """eps(n, delta) = range sqrt(ln(2/delta) / (2 n)) (docs/theory/bounds.md, section bounds-hoeffding)."""
    check_param("n", n, Interval(int, 1, None), "hoeffding_error")
    check_param("delta", delta, Interval(float, 0, 1, closed="neither"), "hoeffding_error")
    check_param("value_range", value_range, Interval(float, 0, None, closed="neither"), "hoeffding_error")
    return _hoeffding_error(int(n), float(delta), float(value_range))


def bad_event_probability(d, m, delta):
    """P[more than m of the d coordinates have N2(z_j) = 1] = binom.sf(m, d, delta) (CGKM22 Eq. (6)).

    The event that the paper's m-design of N3 cannot handle (docs/theory/lift.md, section lift-bad-event: Eq. (6) sums from i = m,
    but the bad event is i >= m + 1). With sqsim's N3 it does not arise (``lift.bad_event_probability()``
    is 0); this is for comparing with the paper's construction, next to :func:`bad_event_paper_bound`.
    """
    from scipy import stats

    check_param("d", d, Interval(int, 1, None), "bad_event_probability")
    check_param("m", m, Interval(int, 0, None), "bad_event_probability")
    check_param("delta", delta, Interval(float, 0, 1, closed="both"), "bad_event_probability")
    return float(stats.binom.sf(int(m), int(d), float(delta)))


def bad_event_paper_bound(d, m):
    """The paper's bound d^(-9 m^2) on Eq. (6)'s event, valid only for delta = d^(-10 m) (docs/theory/lift.md, section lift-bad-event)."""
    check_param("d", d, Interval(int, 2, None), "bad_event_paper_bound")
    check_param("m", m, Interval(int, 1, None), "bad_event_paper_bound")
    return float(int(d) ** (-9.0 * int(m) ** 2))
