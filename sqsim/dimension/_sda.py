"""Certified intervals for the statistical dimension with average correlation (FGRVX17) and the
query lower bounds it implies for VSTAT and STAT (docs/theory/dimension.md)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from .._errors import InvalidParameterError
from .._export import export
from .._validation import Interval, Options, check_param
from ._correlations import build_matrix
from ._matrix import CorrelationMatrix

SDA_DEFINITION = (
    "SDA(gamma) of the family taken as D_D: the largest d such that every subset D' of D_D with |D'| >= |D_D|/d "
    "has average correlation rho(D') = |D'|^-2 sum_{D1, D2 in D'} chi_{D0}(D1, D2) <= gamma (the diagonal "
    "included); Feldman, Grigorescu, Reyzin, Vempala, Xiao, J. ACM 2017 (arXiv 1201.1214), Section 3. "
    "docs/theory/dimension.md, section 'Statistical dimension with average correlation'."
)
VSTAT_THEOREM = (
    "FGRVX17 Theorem 3.7 (number and form quoted second-hand; docs/theory/dimension.md, section "
    "'dimension-sources'): any randomized statistical algorithm that solves the decision problem B(D_D, D0) with "
    "probability alpha > 1/2 needs at least (2 alpha - 1) SDA(B, gamma) queries to VSTAT(1/(3 gamma))."
)
STAT_ROUTE = (
    " STAT(tau) (sqsim's [-1, 1] queries, tau_theirs = tau/2): every VSTAT(t) answer is a valid STAT answer when "
    "t >= max(1/tau_theirs, 1/(4 tau_theirs^2)), so gamma = min(tau/6, tau^2/3) (docs/theory/dimension.md, "
    "section 'From VSTAT to STAT')."
)

CSQ_ROUTE = (
    "Correlational queries (derived in docs/theory/dimension.md, section 'dimension-csq'; the SDA argument of "
    "FGRVX17 applied to CSQ answers, in the spirit of Szorenyi 2009 and Feldman 2012): for CSQ queries y' g(x), "
    "|g| <= 1, of tolerance tau in sqsim's convention, if every subset W with |W| >= N/d has "
    "rho(W) <= tau^2 - mean_offset^2 for the centred covariances, any algorithm that decides the family against "
    "the constant reference label with probability alpha > 1/2 against every oracle strategy needs more than "
    "(2 alpha - 1) d queries."
)


@export
@dataclass(frozen=True)
class SDAInterval:
    """A certified interval lower <= SDA(gamma) <= upper for a finite family.

    Attributes
    ----------
    lower, upper : int or math.inf
        ``lower`` comes from the row bound rho(D') <= (1/m) max_i S_i(m) + abs_error for every
        |D'| >= m (docs/theory/dimension.md, section "The row bound"); it is a lower bound on the
        paper's SDA(B, gamma) as well. ``upper`` comes from ``witness``, a subset whose average
        correlation exceeds gamma by more than abs_error; it bounds the SDA of this family taken as
        D_D. ``math.inf`` when every nonempty subset has rho <= gamma (no witness can exist).
    gamma : float
    N : int
    witness : tuple of int
        Member indices of the witness subset (empty when there is none).
    witness_correlation : float or None
        rho(witness) as computed.
    threshold_size : int or None
        m*, the smallest subset size for which the row bound certifies rho <= gamma.
    abs_error : float
    definition : str
    """

    lower: float
    upper: float
    gamma: float
    N: int
    witness: tuple = field(repr=False)
    witness_correlation: float | None
    threshold_size: int | None
    abs_error: float
    definition: str = field(default=SDA_DEFINITION, repr=False)

    @property
    def exact(self) -> bool:
        return self.lower == self.upper

    def to_dict(self) -> dict:
        d = asdict(self)
        d["witness"] = list(self.witness)
        for k in ("lower", "upper"):
            d[k] = None if math.isinf(d[k]) else int(d[k])
        return d


def orthonormal_sda(N: int, gamma: float) -> float:
    """SDA(gamma) of N orthonormal members: ceil(N / (ceil(1/gamma) - 1)) - 1, infinite at gamma = 1.

    docs/theory/dimension.md, section "Orthonormal families".
    """
    check_param("N", N, Interval(int, 1, None), "orthonormal_sda")
    check_param("gamma", gamma, Interval(float, 0, 1, closed="right"), "orthonormal_sda")
    m = math.ceil(1.0 / gamma)
    return math.inf if m <= 1 else math.ceil(N / (m - 1)) - 1


def _as_matrix(family_or_matrix, domain, caller, options):
    if isinstance(family_or_matrix, CorrelationMatrix):
        if options:
            name = min(options)
            raise InvalidParameterError(f"The {name!r} parameter of {caller} applies to families only, "
                                        f"not to a CorrelationMatrix. Got {options[name]!r} instead.")
        return family_or_matrix
    from .._domains import Gaussian

    if isinstance(domain, Gaussian) or (domain is None and isinstance(getattr(family_or_matrix, "domain", None),
                                                                        Gaussian)):
        from ._correlations import pairwise_correlations

        return pairwise_correlations(family_or_matrix, domain, **options)
    return build_matrix(family_or_matrix, domain, caller=caller, **options)


@export
def sda(family_or_matrix, domain=None, gamma=None, *, witness_sizes=32, **options) -> SDAInterval:
    """A certified interval for SDA(gamma), the statistical dimension with average correlation.

    Parameters
    ----------
    family_or_matrix : CorrelationMatrix or finite family
        A family is passed to :func:`pairwise_correlations` with ``options`` (``kind``,
        ``reference``, ``members``, ``streaming`` (default: stream when N x N does not fit), ...).
    domain : domain, optional
    gamma : float in (0, 1]
        The average-correlation threshold. At gamma = 1 an orthonormal family has every subset
        at rho <= 1, so its SDA is infinite (returned as ``math.inf``).
    witness_sizes : int, default 32
        How many subset sizes the witness search tries below m*.

    Returns
    -------
    SDAInterval
        ``lower`` from the row bound (docs/theory/dimension.md, section "The row bound"), ``upper``
        from an explicit witness; for an orthonormal family both equal
        ceil(N / (ceil(1/gamma) - 1)) - 1 (section "Orthonormal families").

    Examples
    --------
    >>> from sqsim.concepts import Parities
    >>> r = sda(Parities(4), gamma=0.25, members=range(1, 16))
    >>> r.lower, r.upper
    (4, 4)
    """
    check_param("gamma", gamma, Interval(float, 0, 1, closed="right"), "sda")
    check_param("witness_sizes", witness_sizes, Interval(int, 1, None), "sda")
    matrix = _as_matrix(family_or_matrix, domain, "sda", options)
    return sda_of_matrix(matrix, float(gamma), int(witness_sizes))


def sda_of_matrix(matrix: CorrelationMatrix, gamma: float, witness_sizes: int = 32) -> SDAInterval:
    stats = matrix.row_statistics()
    N, err = matrix.N, matrix.abs_error

    def row_bound(m):
        return float(np.max(stats.top_sum_bound(m))) / m

    # m*: the smallest m with row_bound(m) + err <= gamma (row_bound is non-increasing in m)
    if row_bound(N) + err > gamma:
        m_star = None
        lower = 0
    else:
        lo, hi = 1, N
        while lo < hi:
            mid = (lo + hi) // 2
            if row_bound(mid) + err <= gamma:
                hi = mid
            else:
                lo = mid + 1
        m_star = lo
        lower = math.inf if m_star == 1 else math.ceil(N / (m_star - 1)) - 1
    w_max = N if m_star is None else m_star - 1
    witness, rho_w = _find_witness(matrix, stats, gamma + err, w_max, witness_sizes)
    upper = math.inf if not witness else math.ceil(N / len(witness)) - 1
    if upper < lower:  # cannot happen in exact arithmetic: the row bound holds for the witness too
        raise RuntimeError(f"sda: witness of size {len(witness)} contradicts the row bound (lower {lower})")
    return SDAInterval(lower, upper, gamma, N, tuple(int(i) for i in sorted(witness)), rho_w, m_star, err)


def _find_witness(matrix, stats, level, w_max, sizes):
    """The largest subset found with rho > level: the top sets of the heaviest rows, then greedy growth."""
    N = matrix.N
    best, best_rho = (), None
    if w_max <= 0:
        return best, best_rho
    total = float(np.sum(stats.row_sums)) / N**2
    if w_max >= N and total > level:
        return tuple(range(N)), total
    K = stats.K
    # 1. for sizes m from w_max down: the m largest entries of the row that maximises S_i(m)
    ms = sorted({max(1, w_max - k) for k in range(sizes)} | {max(1, w_max >> k) for k in range(40)}, reverse=True)
    for m in ms:
        if m > K or m <= len(best):
            continue
        i0 = int(np.argmax(stats.top_sum_bound(m)))
        W = stats.top_indices[i0, :m]
        rho = matrix.average_correlation(W)
        if rho > level:
            best, best_rho = tuple(W), rho
            break
    # 2. greedy growth from the heaviest row, over the whole family (dense) or its top entries (streamed)
    i0 = int(np.argmax(stats.top_sum_bound(min(w_max, K))))
    if matrix.stored:
        pool = np.arange(N)
    else:  # the heaviest row's top entries, padded with the lowest other indices up to w_max (<= 4096)
        pool = np.unique(stats.top_indices[i0])
        want = min(N, max(len(pool), min(w_max, 4096)))
        if want > len(pool):
            rest = np.setdiff1d(np.arange(min(N, want + len(pool))), pool)[: want - len(pool)]
            pool = np.union1d(pool, rest)
    steps = min(w_max, len(pool))
    if steps > len(best):
        A = np.abs(matrix.submatrix(pool, pool)) if len(pool) <= 8192 else None
        start = int(np.nonzero(pool == i0)[0][0])
        chosen = [start]
        inW = np.zeros(len(pool), dtype=bool)
        inW[start] = True
        col = A[:, start] if A is not None else np.abs(matrix.submatrix(pool, pool[[start]]))[:, 0]
        c = col.copy()
        diag = np.abs(stats.diagonal[pool])
        T = float(diag[start])
        totals = [T]
        for size in range(2, steps + 1):
            score = np.where(inW, -np.inf, 2 * c + diag)
            j = int(np.argmax(score))
            T += float(score[j])
            totals.append(T)
            inW[j] = True
            chosen.append(j)
            c += A[:, j] if A is not None else np.abs(matrix.submatrix(pool, pool[[j]]))[:, 0]
        # the largest greedy prefix above the level, confirmed by an exact (fsum) recomputation
        for size in range(steps, len(best), -1):
            if totals[size - 1] / size**2 > level:
                W = pool[chosen[:size]]
                rho = matrix.average_correlation(W)
                if rho > level:
                    best, best_rho = tuple(W), rho
                    break
    return best, best_rho


@export
@dataclass(frozen=True)
class QueryLowerBound:
    """The number of queries FGRVX17 Theorem 3.7 (or the CSQ route) guarantees at a tolerance, with its interval.

    The theorem number is quoted second-hand (docs/theory/dimension.md, section "dimension-sources").

    Attributes
    ----------
    lower : int or math.inf
        Certified: ceil((2 alpha - 1) SDA.lower) queries are needed.
    upper : int or math.inf
        ceil((2 alpha - 1) SDA.upper): the most this theorem can give for this family at this
        gamma (not an upper bound on the true query complexity).
    oracle : {"stat", "vstat"}
    tolerance : float
        tau (sqsim's [-1, 1] convention) for STAT, t for VSTAT.
    gamma : float
    success_probability : float
    sda : SDAInterval
    theorem : str
    """

    lower: float
    upper: float
    oracle: str
    tolerance: float
    gamma: float
    success_probability: float
    sda: SDAInterval = field(repr=False)
    theorem: str = field(repr=False)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("oracle", "tolerance", "gamma", "success_probability", "theorem")}
        d["lower"] = None if math.isinf(self.lower) else int(self.lower)
        d["upper"] = None if math.isinf(self.upper) else int(self.upper)
        d["sda"] = self.sda.to_dict()
        return d


def stat_gamma(tau: float) -> float:
    """gamma for STAT(tau) in sqsim's convention: min(tau/6, tau^2/3) (docs/theory/dimension.md, "From VSTAT to STAT")."""
    return min(tau / 6.0, tau * tau / 3.0)


@export
def sq_lower_bound(family_or_matrix, domain=None, tolerance=None, oracle="stat", *, success_probability=1.0,
                   **options) -> QueryLowerBound:
    """Queries needed at a tolerance, from FGRVX17 Theorem 3.7 (SQ kind) or the correlational route (CSQ kind).

    Parameters
    ----------
    family_or_matrix, domain
        As for :func:`sda` (``options`` go to :func:`pairwise_correlations`).
    tolerance : float
        - ``oracle="stat"``: tau in (0, 1] for sqsim's [-1, 1]-valued queries; gamma =
          min(tau/6, tau^2/3) (docs/theory/dimension.md, section "From VSTAT to STAT");
        - ``oracle="vstat"``: the VSTAT parameter t >= 1/3; gamma = 1/(3 t).
    oracle : {"stat", "vstat"}
    success_probability : float in (1/2, 1], default 1
        alpha of Theorem 3.7: the bound is (2 alpha - 1) SDA(gamma) queries.

    Notes
    -----
    For a ``kind="csq"`` matrix the oracle must be ``"stat"``, read as the CSQ oracle (queries
    y' g(x), |g| <= 1, tolerance tau), and gamma = tau^2 - mean_offset^2 (docs/theory/dimension.md,
    section "dimension-csq"): no VSTAT theorem and no factor 1/6 is involved. When gamma <= 0 the
    bound is 0 (the members' means may give the target away).

    The theorem is about deciding D_D against D_0; a learner that identifies the target decides
    with one more query whenever the target's distance from D_0 exceeds twice the tolerance (for
    parities, (-1)^{S.x}(1 - 2y) has mean 1 under D_S and 0 under D_0), so a learner's count is
    at least ``lower - 1`` (docs/theory/dimension.md, section "Learning versus deciding").

    Examples
    --------
    >>> from sqsim.concepts import Parities
    >>> b = sq_lower_bound(Parities(12), tolerance=0.05, members=range(1, 2**12))
    >>> b.lower, round(b.gamma, 6)
    (3, 0.000833)
    """
    c = "sq_lower_bound"
    check_param("oracle", oracle, Options(("stat", "vstat")), c)
    if oracle == "stat":
        check_param("tolerance", tolerance, Interval(float, 0, 1, closed="right"), c)
        gamma = stat_gamma(float(tolerance))
    else:
        check_param("tolerance", tolerance, Interval(float, 1 / 3, None), c)
        gamma = min(1.0, 1.0 / (3.0 * float(tolerance)))
    check_param("success_probability", success_probability, Interval(float, 0.5, 1, closed="right"), c)
    matrix = _as_matrix(family_or_matrix, domain, c, options)
    if matrix.kind == "csq":
        if oracle != "stat":
            raise InvalidParameterError(
                f"The 'oracle' parameter of {c} must be 'stat' for a kind='csq' matrix: the correlational bound is "
                f"for CSQ queries y' g(x), |g| <= 1, of tolerance tau (docs/theory/dimension.md, section "
                f"'dimension-csq'). Got {oracle!r} instead.")
        gamma = float(tolerance) ** 2 - matrix.mean_offset**2
        theorem = CSQ_ROUTE
    else:
        theorem = VSTAT_THEOREM + (STAT_ROUTE if oracle == "stat" else "")
    if gamma > 0:
        s = sda_of_matrix(matrix, min(gamma, 1.0))
    else:  # the member means alone may identify the target: this route certifies nothing
        s = SDAInterval(0, math.inf, gamma, matrix.N, (), None, None, matrix.abs_error)
    a = 2.0 * float(success_probability) - 1.0

    def scale(v):
        return v if math.isinf(v) else math.ceil(a * v - 1e-12)

    return QueryLowerBound(scale(s.lower), scale(s.upper), oracle, float(tolerance), gamma,
                           float(success_probability), s, theorem)
