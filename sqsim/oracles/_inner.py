"""The generic Boolean image of a Gaussian query under the Theorem 3.2 adapter: inner Monte Carlo with a
variance-aware budget and per-cell draws for juntas (docs/theory/inner-budgets.md).

phi_B(x, y) = (1/K) sum_k phi(z_k(x), y phi_D(sum_j N2(z_kj))) with inner draws z_k(x) ~ N(0, I_d) |
thres_q(z) = x fixed by (the adapter's seed, the Gaussian query's key, x), so phi_B is a fixed bounded
function the Boolean oracle answers like any other query.

* **K.** :func:`inner_budget` chooses K per query: an independent pilot (its own stream) of pairs of
  draws from one cell gives an upper confidence bound on the mean conditional variance of the inner
  terms, whatever the target (Maurer 2003, nonnegative lower tail), and Bernstein's inequality over the
  main draws turns it into eps_inner; K is the smallest with
  eps_inner <= tau / 4, and never more than the Hoeffding K of today's rule. The failure probability
  delta_inner is split between the pilot and the main bound, so it is kept.
* **Juntas.** For q = 2 and a query that declares the coordinates R it reads, phi_B depends on x only
  through x_R: the image draws per cell of x_R (2^|R| cells, K draws each) and declares reads R itself.
  Declared reads are enforced: unread coordinates reach the query as NaN, and a randomized check on the
  pilot compares the query's values when only unread coordinates change (QueryContractError).

The image carries ``eps_inner``, ``inner_samples`` (K), ``inner_bound`` ("hoeffding" or
"bernstein-pilot"), ``hoeffding_samples`` (the K the Hoeffding rule would use), ``inner_units`` (the
independent draw units: Boolean points or cells), ``variance_bound``, ``pilot_pairs`` and ``inner_cells``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._errors import InvalidParameterError, QueryContractError, QueryRangeError
from .._kernels import adapter as kadapter
from .._kernels import pick
from .._queries import NumbaQuery, Query
from .._strategies import hoeffding_error, hoeffding_samples

#: rows of inner draws evaluated at once (bounded memory)
ROWS = 2**17
#: at most this many pilot pairs for the variance bound
PILOT_MAX = 2**14
#: rows of the randomized reads check (junta queries)
READS_CHECK = 2**10
#: share of delta_inner given to the pilot when the Hoeffding fallback leaves room (see inner_budget)
PILOT_SHARE = 0.1
#: a junta image tabulates every cell when there are at most this many
TABLE_MAX = 2**16
#: the range of one inner term's deviation |phi(z, y~) - phi_B(x, y)| (phi in [-1, 1])
TERM_RANGE = 2.0


class ReadsViolation(QueryContractError, QueryRangeError):
    """A query read a coordinate outside its declared ``reads`` (a QueryContractError; also a
    QueryRangeError, so that it passes through the oracles' evaluation of the image unchanged)."""


# ---------------------------------------------------------------------------------------------- bounds

def bernstein_error(n: int, variance: float, delta: float, bound: float = TERM_RANGE) -> float:
    """Two-sided Bernstein: for n independent terms with |X_i - E X_i| <= ``bound`` and mean variance
    at most ``variance``, P[|mean - E mean| >= eps] <= delta at

        eps = (b L / 3 + sqrt((b L / 3)^2 + 2 n v L)) / n,   L = ln(2 / delta)

    (the root of n^2 eps^2 = 2 L (n v + b n eps / 3); docs/theory/inner-budgets.md, section inner-budgets-bernstein)."""
    L = math.log(2.0 / delta)
    a = bound * L / 3.0
    return (a + math.sqrt(a * a + 2.0 * n * variance * L)) / n


def bernstein_samples(eps: float, variance: float, delta: float, bound: float = TERM_RANGE) -> int:
    """The smallest n with :func:`bernstein_error` (n, variance, delta, bound) <= eps:
    n = ceil(2 L (v + b eps / 3) / eps^2), checked against rounding."""
    L = math.log(2.0 / delta)
    n = max(1, math.ceil(2.0 * L * (variance + bound * eps / 3.0) / eps**2))
    while n > 1 and bernstein_error(n - 1, variance, delta, bound) <= eps:
        n -= 1
    while bernstein_error(n, variance, delta, bound) > eps:
        n += 1
    return n


def nonnegative_mean_ucb(values, delta: float, value_max: float) -> float:
    """Upper confidence bound on the mean mu of independent values in [0, value_max], level 1 - delta.

    Maurer (2003), Theorem 1: for independent nonnegative X_i, P[mu - mean >= t] <= exp(-n t^2 /
    (2 E X^2)); with E X^2 <= value_max mu this gives sqrt(mu) <= sqrt(a) + sqrt(a + mean),
    a = value_max ln(1/delta) / (2 n) (docs/theory/inner-budgets.md, section inner-budgets-pilot). Capped at value_max."""
    v = np.asarray(values, dtype=np.float64)
    n = v.shape[0]
    if n == 0:
        return float(value_max)
    mean = float(min(value_max, max(0.0, v.mean())))
    a = value_max * math.log(1.0 / delta) / (2.0 * n)
    return float(min(value_max, (math.sqrt(a) + math.sqrt(a + mean)) ** 2))


@dataclass(frozen=True)
class InnerBudget:
    """K and its certificate for one generic query (recorded on the image)."""

    K: int
    eps: float
    bound: str
    hoeffding_K: int
    units: int
    variance_bound: float | None = None
    pilot_pairs: int = 0
    pilot_delta: float = 0.0


def _pilot_rows(m_hoeffding: int) -> int:
    n = 2 ** max(10, math.ceil(math.log2(max(1.0, m_hoeffding / 64))))
    return int(min(PILOT_MAX, n))


def inner_budget(adapter, query: Query, seed: np.uint64, units: int, junta_reads=None) -> InnerBudget:
    """Choose K for ``query`` (docs/theory/inner-budgets.md).

    ``units`` is the number of independent draw units the inner error averages over (Boolean points, or
    cells of x_R for a junta). Rule: K_H = ceil(n_H(tau/4, delta) / units) (Hoeffding). If K_H = 1 or
    the labels are not known to be Boolean, K = K_H with Hoeffding at delta. Otherwise delta is split as
    delta = delta_1 + delta_2 with delta_2 = max(0.9 delta, delta') where delta' is the smallest failure
    probability at which Hoeffding still certifies tau/4 at units K_H (so the fallback is exactly today's
    K); the pilot bounds the mean conditional variance at delta_1 and Bernstein certifies the main draws
    at delta_2. K is a function of (seed, query) only: phi_B stays a fixed function of (x, y).
    """
    tau = adapter.tolerance
    delta = adapter.inner_failure_probability
    eps_t = tau / 4
    m_h = hoeffding_samples(eps_t, delta)
    K_h = max(1, math.ceil(m_h / units))
    labels = adapter.label_values
    hoeffding = InnerBudget(K_h, hoeffding_error(units * K_h, delta), "hoeffding", K_h, units)
    check = junta_reads is not None
    if K_h == 1 or labels is None:
        if check:
            _pilot(adapter, query, seed, 0, junta_reads, None)
        return hoeffding
    # delta': Hoeffding at units K_h certifies eps_t at any failure probability >= delta'
    n_main = units * K_h
    d_prime = 2.0 * math.exp(-n_main * eps_t**2 / 2.0) * (1 + 1e-9)
    delta2 = max((1.0 - PILOT_SHARE) * delta, d_prime)
    delta1 = delta - delta2
    if not (delta1 > 1e-6 * delta) or hoeffding_error(n_main, delta2) > eps_t:
        if check:
            _pilot(adapter, query, seed, 0, junta_reads, None)
        return hoeffding
    n_p = _pilot_rows(m_h)
    S, b_S = _pilot(adapter, query, seed, n_p, junta_reads, labels)
    v = min(1.0, nonnegative_mean_ucb(S, delta1, b_S))  # a [-1, 1] variable has variance <= 1
    K_b = max(1, math.ceil(bernstein_samples(eps_t, v, delta2) / units))
    if K_b < K_h:
        return InnerBudget(K_b, bernstein_error(units * K_b, v, delta2), "bernstein-pilot", K_h, units, v,
                           n_p, delta1)
    return InnerBudget(K_h, hoeffding_error(n_main, delta2), "hoeffding", K_h, units, v, n_p, delta1)


def _pilot(adapter, query, seed, n_p, junta_reads, labels):
    """The pilot: n_p independent pairs (z, z') drawn like two inner draws of one unit (z ~ N(0, I_d) and z'
    in the same cell of x, or of x_R for a junta), and the statistic

        S = max_v (phi(z, y~(v, z)) - phi(z', y~(v, z')))^2 / 2  in [0, 2],

    whose mean bounds the mean conditional variance of one inner term whatever the target (the label v
    at each unit is f's, unknown; docs/theory/inner-budgets.md, section inner-budgets-variance). For a junta the first READS_CHECK
    pairs also serve the randomized reads check. The pairs come from the pilot streams of ``seed``
    (:func:`sqsim._kernels.adapter.pilot_pairs`), disjoint from the inner draws. Returns (S, 2.0)."""
    lift = adapter.lift
    d, q = lift.d, lift.q
    n_s = n_p if labels is not None else 0
    n_chk = READS_CHECK if junta_reads is not None else 0
    n = max(n_s, n_chk)
    args = adapter._kernel_args
    if q == 2:
        tied = np.ones(d, dtype=np.uint8)
        if junta_reads is not None:
            tied[:] = 0
            tied[list(junta_reads)] = 1
        Z1, Z2, m1, m2 = pick(kadapter.pilot_pairs, n * d)(n, d, seed, tied, args[4], args[3], *args[5:])
    else:
        Z, mult = pick(kadapter.pilot_draws, 2 * n * d)(2 * n, d, seed, *args[1:])
        Z1, m1 = Z[:n], mult[:n]
        Z2 = _same_cell(lift, Z1, Z[n:])
        m2 = lift.phi(lift.n2(Z2).sum(axis=1))
    if n_chk:
        _check_reads(query, Z1[:n_chk], m1[:n_chk], Z2[:n_chk], junta_reads,
                     labels if labels is not None else np.array([0.0, 1.0]))
    if labels is None:
        return None
    Z1, m1, Z2, m2 = Z1[:n_s], m1[:n_s], Z2[:n_s], m2[:n_s]
    S = np.zeros(n_s)
    for v in labels:
        S = np.maximum(S, (query.values(Z1, v * m1, False) - query.values(Z2, v * m2, False)) ** 2 / 2.0)
    return S, 2.0


def _same_cell(lift, Z1, G):
    """q >= 3: z' in the cell of z, coordinate-wise, by the inverse-CDF map of Phi(g_j) into the cell
    of z_j (G independent N(0, 1))."""
    from scipy import special

    cells = lift.thres(Z1)
    edges = np.concatenate([[-np.inf], lift.boundaries, [np.inf]])
    lo, hi = special.ndtr(edges[cells]), special.ndtr(edges[cells + 1])
    Z2 = special.ndtri(lo + special.ndtr(G) * (hi - lo))
    return np.clip(Z2, edges[cells], np.nextafter(edges[cells + 1], -np.inf))


def _check_reads(query, Z, mult, Z2, reads, labels):
    """Raise QueryContractError if the query's values change when only coordinates outside ``reads``
    change (they are taken from Z2, independent draws there)."""
    unread = np.ones(Z.shape[1], dtype=bool)
    unread[list(reads)] = False
    Zalt = Z.copy()
    Zalt[:, unread] = Z2[:, unread]
    for v in labels:
        y = v * mult
        a, b = query.values(Z, y, False), query.values(Zalt, y, False)
        if not np.array_equal(a, b):
            r = int(np.flatnonzero(a != b)[0])
            raise ReadsViolation(
                f"Query {query.name!r} declares reads={list(reads)} but its value changed from {float(a[r])!r} to "
                f"{float(b[r])!r} when only coordinates outside them changed (adapter reads check): declare every "
                f"coordinate it reads (or none).")


class _BooleanImage(Query):
    """phi_B of (A1): the Boolean query a Gaussian query becomes.

    ``reads`` (q = 2 only): draw per cell of x_R; the image then depends on x only through x_R and
    declares reads R."""

    def __init__(self, adapter, query: Query, seed: np.uint64, K: int, reads=None):
        super().__init__(self._evaluate, f"lift[{query.name}]", kind=query.kind, reads=reads)
        self._adapter, self._query, self._seed, self._K = adapter, query, seed, int(K)
        d = adapter.lift.d
        self._junta = reads is not None
        self._hide = np.ones(d, dtype=np.uint8)  # coordinates passed to the query (others NaN, q = 2)
        if query.reads is not None and adapter.lift.q == 2:
            self._hide[:] = 0
            self._hide[list(query.reads)] = 1
        if self._junta:
            self._bits = np.array(reads, dtype=np.int64)
            self._mask = int(sum(1 << j for j in reads))
            self._table = None
        self._memo = (None, None, None, None)
        self._label_memo = None

    @property
    def qualname(self):
        return "sqsim.adapter.BooleanImage"

    # -- draws and evaluation ----------------------------------------------------------------------
    def _draws(self, codes, k0, kn):
        m = self._memo
        if m[0] is not None and m[1] == (k0, kn) and np.array_equal(m[0], codes):
            return m[2], m[3]
        Z, mult = cell_draws(self._adapter, codes, kn, self._seed, k0)
        if self._junta:
            Z[:, self._hide == 0] = np.nan  # the query declared it does not read them
        self._memo = (codes.copy(), (k0, kn), Z, mult)
        return Z, mult

    def _values(self, codes, k0, kn, Z, ytil):
        try:
            return self._query.values(Z, ytil, False)
        except QueryRangeError as exc:
            if not self._junta:
                raise
            full, _ = cell_draws(self._adapter, codes, kn, self._seed, k0)
            self._query.values(full, ytil, False)  # raises if the query fails with every coordinate given
            raise ReadsViolation(
                f"Query {self._query.name!r} declares reads={list(self._query.reads)} but failed when the "
                f"coordinates outside them were NaN ({exc}): it reads an undeclared coordinate.") from exc

    def _means(self, codes, Y):
        """out[i, m] = phi_B(x_i, Y[i, m]) for point codes (already reduced to x_R for a junta)."""
        codes = np.ascontiguousarray(codes, dtype=np.int64)
        Y = np.ascontiguousarray(Y, dtype=np.float64)
        if isinstance(self._query, NumbaQuery):
            return self._fused(codes, Y)
        K, (n, L) = self._K, Y.shape
        out = np.empty((n, L))
        if K <= ROWS:
            step = max(1, ROWS // K)
            for s in range(0, n, step):
                cs = codes[s : s + step]
                Z, mult = self._draws(cs, 0, K)
                for m in range(L):
                    ytil = np.repeat(Y[s : s + step, m], K) * mult  # the label map of Eq. (7)
                    out[s : s + step, m] = self._values(cs, 0, K, Z, ytil).reshape(-1, K).mean(axis=1)
            return out
        for i in range(n):  # K beyond ROWS: walk the draws in blocks, add the block sums in order
            acc = np.zeros(L)
            cs = codes[i : i + 1]
            for k0 in range(0, K, ROWS):
                kn = min(ROWS, K - k0)
                Z, mult = self._draws(cs, k0, kn)
                for m in range(L):
                    acc[m] += float(np.sum(self._values(cs, k0, kn, Z, Y[i, m] * mult)))
            out[i] = acc / K
        return out

    def _fused(self, codes, Y):
        a, q = self._adapter, self._query
        q._set_params(False)
        d = a.lift.d
        kern = pick(kadapter.fused_image_labels, codes.shape[0] * self._K * d * max(1, Y.shape[1]))
        vals, bad, badval = kern(q.fn, q.params, codes, Y, d, a.lift.q, self._K, self._seed, self._hide,
                                 *a._kernel_args)
        if bad >= 0:
            msg = (f"Query {q.name!r} must return values in [-1, 1]. Got {float(badval)!r} on an inner draw of "
                   f"Boolean point code {int(codes[bad])} instead.")
            if math.isnan(badval) and q.reads is not None and self._hide.min() == 0:
                every = np.ones(d, dtype=np.uint8)
                _, bad2, _ = kadapter.fused_image_labels.serial(q.fn, q.params, codes[bad:bad + 1], Y[bad:bad + 1], d,
                                                                a.lift.q, self._K, self._seed, every, *a._kernel_args)
                if bad2 < 0:
                    raise ReadsViolation(
                        f"Query {q.name!r} declares reads={list(q.reads)} but returned NaN when the coordinates "
                        f"outside them were NaN (Boolean point code {int(codes[bad])}): it reads an undeclared "
                        f"coordinate.")
            raise QueryRangeError(msg)
        return vals

    def _cells(self, codes):
        """Cell index sum_t x_{R_t} 2^t of each (reduced) point code."""
        idx = np.zeros(codes.shape[0], dtype=np.int64)
        for t, j in enumerate(self._bits):
            idx |= ((codes >> int(j)) & 1) << t
        return idx

    def _cell_table(self, labels):
        """phi_B at every cell of x_R and every label value: shape (2^|R|, L)."""
        if self._table is None:
            cells = np.arange(2 ** len(self._bits), dtype=np.int64)
            reps = np.zeros(cells.shape[0], dtype=np.int64)
            for t, j in enumerate(self._bits):
                reps |= ((cells >> t) & 1) << int(j)
            self._table = self._means(reps, np.tile(np.asarray(labels, dtype=np.float64), (reps.shape[0], 1)))
        return self._table

    def _evaluate(self, X, y):
        a = self._adapter
        dom = a.boolean.domain
        if isinstance(X, np.ndarray) and X.dtype == np.int64 and X.ndim == 2 and X.shape[1] == dom.d:
            codes = kadapter.encode_codes.serial(np.ascontiguousarray(X), int(a.lift.q))  # memory-bound
        else:
            codes = dom.encode(X)
        if self._junta:
            codes = codes & self._mask  # phi_B depends on x only through x_R: one representative per cell
        y = np.asarray(y, dtype=np.float64)
        labels = a.label_values
        if labels is not None and 1 < len(labels) <= 16 and y.size and np.all(y == y[0]) and y[0] in labels:
            if self._junta and 2 ** len(self._bits) <= TABLE_MAX:
                vi = int(np.flatnonzero(labels == y[0])[0])
                return self._cell_table(labels)[self._cells(codes), vi]
            # phi_B depends on x only through its code: evaluate each distinct code once (the sampled
            # strategy and Monte Carlo Boolean truths repeat points, one label value at a time)
            uniq, inverse = np.unique(codes, return_inverse=True)
            if uniq.shape[0] < codes.shape[0]:
                return self._evaluate_all_labels(uniq, float(y[0]), labels)[inverse.reshape(-1)]
            return self._evaluate_all_labels(codes, float(y[0]), labels)
        if self._junta and self._table is not None and labels is not None and np.all(np.isin(y, labels)):
            vi = np.searchsorted(labels, y)
            return self._table[self._cells(codes), vi]
        # phi_B is a function of (x, y): evaluate each distinct pair once (the sampled strategy and
        # Monte Carlo Boolean truths repeat points)
        order = np.lexsort((y, codes))  # exact on int64 codes (no float round trip)
        cs, ys = codes[order], y[order]
        new = np.ones(cs.shape[0], dtype=bool)
        new[1:] = (cs[1:] != cs[:-1]) | (ys[1:] != ys[:-1])
        if new.all():
            return self._means(codes, y[:, None])[:, 0]
        group = np.cumsum(new) - 1
        vals = self._means(cs[new], ys[new][:, None])[:, 0]
        out = np.empty(codes.shape[0])
        out[order] = vals[group]
        return out

    def _evaluate_all_labels(self, codes, y0, labels):
        """phi_B(x, v) for every label value v on one pass of inner draws; the other labels are kept for
        the oracle's next calls (an enumerating oracle asks the same points once per label value)."""
        memo = self._label_memo
        if memo is not None and y0 in memo[1] and np.array_equal(memo[0], codes):
            return memo[1].pop(y0)
        table = self._means(codes, np.tile(np.asarray(labels, dtype=np.float64), (codes.shape[0], 1)))
        vals = {float(v): table[:, m] for m, v in enumerate(labels)}
        mine = vals.pop(y0)
        self._label_memo = (codes.copy(), vals)
        return mine


def cell_draws(adapter, codes, K, seed, k0=0):
    """Inner draws k0 .. k0 + K - 1 of every point code: (Z (n K, d), phi_D multipliers (n K,))."""
    codes = np.ascontiguousarray(codes, dtype=np.int64)
    d, q = adapter.lift.d, adapter.lift.q
    if k0 == 0:
        kern = pick(kadapter.cell_draws, codes.shape[0] * K * d)
        return kern(codes, d, q, K, seed, *adapter._kernel_args)
    kern = pick(kadapter.cell_draws_block, codes.shape[0] * K * d)
    return kern(codes, d, q, k0, K, seed, *adapter._kernel_args)


def _check_reads_index(query, d):
    if query.reads is not None and any(j >= d for j in query.reads):
        raise InvalidParameterError(f"The 'reads' parameter of {type(query).__name__} must index the d = {d} "
                                    f"coordinates. Got {list(query.reads)!r} instead.")


def fused_image(adapter, query, codes, y, K, seed):
    """phi_B(x_i, y_i) for a Numba query, per point (the query's declared reads hide the other coordinates)."""
    codes = np.ascontiguousarray(codes, dtype=np.int64)
    query._set_params(False)
    d = adapter.lift.d
    _check_reads_index(query, d)
    reads = np.ones(d, dtype=np.uint8)
    if query.reads is not None:
        reads[:] = 0
        reads[list(query.reads)] = 1
    p_in_s = float(math.erf(adapter.lift.intervals.U[0] / math.sqrt(2))) if adapter.lift.q == 2 else 0.0
    kern = pick(kadapter.fused_image, codes.shape[0] * K * d)
    vals, bad, badval = kern(query.fn, query.params, codes, np.ascontiguousarray(y, dtype=np.float64),
                             d, adapter.lift.q, K, seed, reads, p_in_s, *adapter._kernel_args)
    if bad >= 0:
        hint = (f" (coordinates outside reads={list(query.reads)} are passed as NaN)"
                if query.reads is not None and math.isnan(badval) else "")
        raise QueryRangeError(f"Query {query.name!r} must return values in [-1, 1]. Got {float(badval)!r} on "
                              f"an inner draw of Boolean point code {int(codes[bad])} instead{hint}.")
    return vals


def monte_carlo_image(adapter, query: Query, key: str, seed: np.uint64) -> _BooleanImage:
    """The inner Monte Carlo image of ``query``: K from :func:`inner_budget` (or the user's fixed K with
    Hoeffding), per-cell draws when the query declares its reads and q = 2."""
    d, q = adapter.lift.d, adapter.lift.q
    _check_reads_index(query, d)
    points = int(adapter._points)
    if adapter.inner_samples_given:  # the user fixed K: today's per-point image, Hoeffding at that K
        budget = InnerBudget(adapter.K, adapter.eps_inner, "hoeffding", adapter.K, points)
        reads = None
    else:
        reads = query.reads if (q == 2 and query.reads is not None and len(query.reads) < d) else None
        units = points if reads is None else min(points, 2 ** len(reads))
        budget = inner_budget(adapter, query, seed, units, reads)
    image = _BooleanImage(adapter, query, seed, budget.K, reads)
    image.key = key
    image.eps_inner, image.inner_samples, image.inner_bound = budget.eps, budget.K, budget.bound
    image.hoeffding_samples, image.inner_units = budget.hoeffding_K, budget.units
    image.variance_bound, image.pilot_pairs = budget.variance_bound, budget.pilot_pairs
    image.inner_cells = None if reads is None else 2 ** len(reads)
    image.budget = budget
    return image
