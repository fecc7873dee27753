"""The theory's numbers: SQ lower bounds, expected query counts, Hoeffding sample sizes.

Every function cites its source. The parity lower bound here is the exact-identification count
against the null adversary (docs/theory/bounds.md, section bounds-parity); the weak-learning bounds of Blum et
al. (1994) and Kearns (1998), stated through the statistical-query dimension, are different
quantities.
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
    "queries_ruled_out_per_answer",
    "brute_force_expected",
    "low_degree_queries",
    "hoeffding_samples",
    "hoeffding_error",
    "bad_event_probability",
    "bad_event_paper_bound",
]


def _exact(tau) -> Fraction:
    # exact rational arithmetic on the decimal the user wrote (0.1 means 1/10): in floats 1 / 0.1**2 is
    # 99.99999999999999, whose ceiling would count one parity too few per answer
    return Fraction(repr(float(tau)))


def queries_ruled_out_per_answer(tau):
    """m(tau) = ceil(1/tau^2) - 1: the most candidates one answer of the null adversary rules out.

    For a query phi put g(x) = (phi(x, 1) - phi(x, 0))/2, so |g| <= 1. The null answer is within
    tau of the truth for parity S unless |g^(S)| > tau, and by Parseval fewer than 1/tau^2 sets S
    have |g^(S)| > tau, so at most ceil(1/tau^2) - 1 of them (docs/theory/bounds.md, section bounds-parity). At tau = 1 it is 0: no answer
    rules out any candidate.

    Parameters
    ----------
    tau : float in (0, 1]
        The oracle's tolerance.

    Returns
    -------
    int
    """
    check_param("tau", tau, Interval(float, 0, 1, closed="right"), "queries_ruled_out_per_answer")
    t = _exact(tau)
    return math.ceil(1 / (t * t)) - 1


def parity_sq_lower_bound(d, tau):
    """Queries needed to identify a parity exactly against the null adversary: ceil((2^d - 2) / m(tau)).

    This is the exact-identification count of the parity lower bound (docs/theory/bounds.md, section bounds-parity): the null adversary answers every
    query with its value under labels drawn independently of x, each answer rules out at most
    m(tau) = ceil(1/tau^2) - 1 of the 2^d - 1 nonempty parities (Parseval, see
    :func:`queries_ruled_out_per_answer`), and a learner that names S* must have ruled out the
    other 2^d - 2. So in the worst case over targets it needs

        LB(d, tau) = ceil((2^d - 2) / m(tau))   queries (tau < 1),

    which is at least the older, looser ceil(tau^2 (2^d - 2)). It holds against the "adversarial"
    and "version-space" strategies only (exact or noisy answers let cheaters through), and only for
    identifying the parity exactly.

    It is *not* the weak-learning lower bound of Blum, Furst, Jackson, Kearns, Mansour and Rudich
    (1994) or Kearns (1998): those bound the queries needed to predict better than chance and are
    stated through the statistical-query dimension of the class; they are separate quantities and
    are not computed here.

    Parameters
    ----------
    d : int >= 1
        The dimension of the cube.
    tau : float in (0, 1]
        The oracle's tolerance.

    Returns
    -------
    int or float
        The count. At tau = 1 no answer rules out any parity (m(1) = 0), so for d >= 2 no number of
        queries identifies S*: the result is ``math.inf``. For d = 1 (one nonempty parity) it is 0.

    Examples
    --------
    >>> from sqsim import bounds
    >>> bounds.parity_sq_lower_bound(10, 0.1)   # ceil(1022 / 99)
    11
    """
    check_param("d", d, Interval(int, 1, None), "parity_sq_lower_bound")
    check_param("tau", tau, Interval(float, 0, 1, closed="right"), "parity_sq_lower_bound")
    return class_sq_lower_bound(2 ** int(d) - 1, tau)


def class_sq_lower_bound(n_candidates, tau):
    """LB(N, tau) = ceil((N - 1) / m(tau)): exact identification among N orthonormal candidates.

    The same count as :func:`parity_sq_lower_bound` for a search among N candidates whose +-1 forms
    are orthonormal (for example the C(d, k) parities of size k, or the sum_{1 <= i <= k} C(d, i)
    of size at most k), against the null adversary (docs/theory/bounds.md, section bounds-search). Returns 0 for N = 1 and ``math.inf`` at
    tau = 1 for N >= 2 (no answer rules out any candidate).
    """
    check_param("n_candidates", n_candidates, Interval(int, 1, None), "class_sq_lower_bound")
    check_param("tau", tau, Interval(float, 0, 1, closed="right"), "class_sq_lower_bound")
    wrong = int(n_candidates) - 1
    if wrong == 0:
        return 0
    m = queries_ruled_out_per_answer(tau)
    if m == 0:
        return math.inf
    return -(-wrong // m)


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
