"""The correlation matrix of a finite family, stored densely or as per-row statistics.

See docs/theory/dimension.md, sections "Pairwise correlation" and "The row bound".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._errors import InvalidParameterError
from .._export import export
from .._validation import Interval, Options, check_param, show

#: the correlation kinds a matrix can hold (docs/theory/dimension.md, "Pairwise correlation")
KINDS = ("sq", "csq")


@export
@dataclass(frozen=True)
class RowStatistics:
    """What the SDA row bound and the witness search need from each row of |chi|.

    Attributes
    ----------
    top_values : array (N, K)
        The K largest |chi_ij| of each row i (the diagonal included), sorted in decreasing order.
    top_indices : array (N, K)
        Their column indices j.
    row_sums : array (N,)
        sum_j |chi_ij| over the whole row.
    diagonal : array (N,)
        chi_ii.
    max_offdiagonal : float
        max_{i != j} |chi_ij| (0 when N = 1).

    Notes
    -----
    ``top_sum_bound(m)`` is the sum of the m largest |chi_ij| of each row when m <= K and, for
    m > K, the upper bound S_i(K) + (m - K) v_iK capped by the row sum (the K-th largest bounds
    every later entry), so the row bound built on it stays certified (docs/theory/dimension.md,
    section "The row bound").
    """

    top_values: np.ndarray
    top_indices: np.ndarray
    row_sums: np.ndarray
    diagonal: np.ndarray
    max_offdiagonal: float

    @property
    def N(self) -> int:
        return int(self.top_values.shape[0])

    @property
    def K(self) -> int:
        return int(self.top_values.shape[1])

    def top_sum_bound(self, m: int) -> np.ndarray:
        """Per-row upper bounds on S_i(m), the sum of the m largest |chi_ij| in row i (exact for m <= K)."""
        m = int(m)
        K = self.K
        if m <= K:
            return self._cumulative()[:, m - 1]
        head = self._cumulative()[:, K - 1]
        return np.minimum(head + (m - K) * self.top_values[:, K - 1], self.row_sums)

    def _cumulative(self) -> np.ndarray:
        cum = self.__dict__.get("_cum")
        if cum is None:
            cum = np.cumsum(self.top_values, axis=1)
            object.__setattr__(self, "_cum", cum)
        return cum

    @staticmethod
    def from_rows(rows: np.ndarray, first: int, K: int) -> RowStatistics:
        """Statistics of a block of rows (rows[r] is row ``first + r`` of |chi|, all N columns)."""
        a = np.abs(rows)
        b, N = a.shape
        K = min(int(K), N)
        # stable: ties keep the lower column index first (as the streaming kernel does)
        idx = np.argsort(-a, axis=1, kind="stable")[:, :K].astype(np.int64)
        vals = np.take_along_axis(a, idx, axis=1)
        r = np.arange(b)
        diag = rows[r, first + r].astype(np.float64)
        off = a.copy()
        off[r, first + r] = -np.inf
        max_off = float(off.max()) if N > 1 else 0.0
        return RowStatistics(np.ascontiguousarray(vals), np.ascontiguousarray(idx), a.sum(axis=1), diag,
                             max(max_off, 0.0))

    @staticmethod
    def concatenate(blocks) -> RowStatistics:
        blocks = list(blocks)
        return RowStatistics(np.concatenate([s.top_values for s in blocks]),
                             np.concatenate([s.top_indices for s in blocks]),
                             np.concatenate([s.row_sums for s in blocks]),
                             np.concatenate([s.diagonal for s in blocks]),
                             max(s.max_offdiagonal for s in blocks))


@export
class CorrelationMatrix:
    """Pairwise correlations chi_ij of a finite family against a reference law.

    Dense form: ``CorrelationMatrix(values, kind=..., reference=..., abs_error=..., exact=...)``
    holds the N x N array. Streaming form (:meth:`streamed`): only the per-row statistics of
    :class:`RowStatistics` and a function that computes any sub-block of the matrix on demand
    (N up to 2^16 without storing N x N).

    Parameters
    ----------
    values : array (N, N)
        chi_ij; symmetric. For ``kind="sq"``, chi_D(D_i, D_j) = <D_i/D_0 - 1, D_j/D_0 - 1>_{D_0}
        (FGRVX17; docs/theory/dimension.md, section "Pairwise correlation"); for ``kind="csq"``
        the centred covariance E[(f_i - E f_i)(f_j - E f_j)].
    kind : {"sq", "csq"}
    reference : str or dict
        The reference law D_0 (a label law {label: probability} for finite labels, or a name such
        as ``"lifted-null"``).
    abs_error : float, default 0.0
        A bound on |computed - true| for every entry (0 for exact enumeration; a Monte Carlo
        confidence half-width otherwise). Certified intervals add or subtract it.
    exact : bool
        Whether the entries are exact (up to floating-point rounding of the enumeration).
    names : sequence of str, optional
        One name per member.
    mean_offset : float, default 0.0
        For ``kind="csq"``: a bound on max_i |E f_i - c| for one constant c, when the entries are
        centred at each member's own mean (0 when every member has the same mean, or when the entries
        are already taken against one common reference function, as for lifted families). The CSQ
        query lower bound needs it (docs/theory/dimension.md, section "dimension-csq").
    """

    def __init__(self, values, *, kind, reference, abs_error=0.0, exact, names=None, mean_offset=0.0):
        c = "CorrelationMatrix"
        check_param("kind", kind, Options(KINDS), c)
        check_param("abs_error", abs_error, Interval(float, 0, None), c)
        check_param("exact", exact, Options((True, False)), c)
        v = np.array(values, dtype=np.float64)
        if v.ndim != 2 or v.shape[0] != v.shape[1] or v.shape[0] == 0 or not np.all(np.isfinite(v)):
            raise InvalidParameterError(f"The 'values' parameter of {c} must be a finite, nonempty square array. "
                                        f"Got {'shape ' + str(v.shape) if v.ndim else show(values)} instead.")
        asym = float(np.max(np.abs(v - v.T)))
        if asym > 1e-9 * max(1.0, float(np.max(np.abs(v)))) + 2 * float(abs_error):
            raise InvalidParameterError(f"The 'values' parameter of {c} must be symmetric (within abs_error). "
                                        f"Got max |v - v.T| = {asym:.3g} instead.")
        v = 0.5 * (v + v.T)
        v.setflags(write=False)
        self._values = v
        self._init(v.shape[0], kind, reference, float(abs_error), bool(exact), names, mean_offset)
        self._stats = None
        self._entries = None

    def _init(self, N, kind, reference, abs_error, exact, names, mean_offset):
        check_param("mean_offset", mean_offset, Interval(float, 0, None), "CorrelationMatrix")
        self.mean_offset = float(mean_offset)
        self.N = int(N)
        self.kind = kind
        self.reference = reference
        self.abs_error = abs_error
        self.exact = exact
        if names is not None:
            names = tuple(str(n) for n in names)
            if len(names) != self.N:
                raise InvalidParameterError(f"The 'names' parameter of CorrelationMatrix must have one name per "
                                            f"member ({self.N}). Got {len(names)} names instead.")
        self.names = names

    @classmethod
    def streamed(cls, stats: RowStatistics, entries: Callable[[np.ndarray, np.ndarray], np.ndarray], *, kind,
                 reference, abs_error=0.0, exact, names=None, mean_offset=0.0) -> CorrelationMatrix:
        """The streaming form: row statistics plus ``entries(rows, cols) -> chi[rows][:, cols]``."""
        c = "CorrelationMatrix.streamed"
        check_param("kind", kind, Options(KINDS), c)
        check_param("abs_error", abs_error, Interval(float, 0, None), c)
        check_param("stats", stats, _IsStats(), c)
        self = cls.__new__(cls)
        self._values = None
        self._init(stats.N, kind, reference, float(abs_error), bool(exact), names, mean_offset)
        self._stats = stats
        self._entries = entries
        return self

    @property
    def stored(self) -> bool:
        """Whether the N x N array is held (dense form)."""
        return self._values is not None

    @property
    def values(self) -> np.ndarray:
        """The N x N array (read-only); the streaming form has none and raises."""
        if self._values is None:
            raise InvalidParameterError("The 'values' of a streamed CorrelationMatrix are not stored "
                                        f"(N = {self.N}); use row_statistics() or submatrix(indices).")
        return self._values

    def __len__(self) -> int:
        return self.N

    def submatrix(self, rows, cols=None) -> np.ndarray:
        """chi[rows][:, cols] (cols defaults to rows), computed on demand in the streaming form."""
        rows = np.asarray(rows, dtype=np.int64)
        cols = rows if cols is None else np.asarray(cols, dtype=np.int64)
        if self._values is not None:
            return self._values[np.ix_(rows, cols)]
        return np.asarray(self._entries(rows, cols), dtype=np.float64)

    def row_statistics(self, top: int | None = None) -> RowStatistics:
        """Per-row statistics (top ``top`` entries; all N for the dense form when ``top`` is None)."""
        if self._stats is not None and (top is None or top <= self._stats.K):
            return self._stats
        K = self.N if top is None else min(int(top), self.N)
        if self._values is None:
            raise InvalidParameterError(f"The 'top' parameter of CorrelationMatrix.row_statistics must be at most "
                                        f"{self._stats.K} for this streamed matrix. Got {show(top)} instead.")
        block = max(1, 2**22 // max(1, self.N))
        stats = RowStatistics.concatenate(RowStatistics.from_rows(self._values[s : s + block], s, K)
                                          for s in range(0, self.N, block))
        if top is None:
            self._stats = stats
        return stats

    @property
    def diagonal(self) -> np.ndarray:
        return np.diag(self._values).copy() if self._values is not None else self._stats.diagonal.copy()

    @property
    def max_offdiagonal(self) -> float:
        if self._values is not None:
            if self.N == 1:
                return 0.0
            a = np.abs(self._values).copy()
            np.fill_diagonal(a, -np.inf)
            return float(a.max())
        return self._stats.max_offdiagonal

    def average_correlation(self, indices) -> float:
        """rho(W) = (1/|W|^2) sum_{i, j in W} |chi_ij| (diagonal included; FGRVX17)."""
        idx = np.unique(np.asarray(indices, dtype=np.int64))
        if idx.size == 0:
            raise InvalidParameterError("The 'indices' parameter of CorrelationMatrix.average_correlation must "
                                        "be nonempty. Got an empty set instead.")
        return float(math.fsum(np.abs(self.submatrix(idx)).ravel()) / idx.size**2)

    def __repr__(self):
        form = "dense" if self.stored else "streamed"
        return (f"CorrelationMatrix(N={self.N}, kind={self.kind!r}, reference={self.reference!r}, "
                f"abs_error={self.abs_error:.3g}, exact={self.exact}, {form})")


# ---------------------------------------------------------------------------------------------- factored matrices
def gram(factors, offset, signs=None):
    """entries(rows, cols) = offset + sum_k s_k F_k[rows] F_k[cols]^T (blocked BLAS products; s_k = +-1)."""
    signs = [1.0] * len(factors) if signs is None else [float(v) for v in signs]

    def entries(rows, cols):
        out = np.full((len(rows), len(cols)), float(offset))
        for F, sgn in zip(factors, signs):
            out += sgn * (F[rows] @ F[cols].T)
        return out

    return entries


def factored_matrix(factors, offset, N, *, streaming, block, top, meta, signs=None):
    """chi = offset + sum_k s_k F_k F_k^T as a CorrelationMatrix (dense, or streamed over row blocks)."""
    entries = gram(factors, offset, signs)
    allc = np.arange(N)
    if not streaming:
        return CorrelationMatrix(entries(allc, allc), **meta)
    stats = RowStatistics.concatenate(RowStatistics.from_rows(entries(np.arange(s, min(N, s + block)), allc), s, top)
                                      for s in range(0, N, block))
    return CorrelationMatrix.streamed(stats, entries, **meta)



class _IsStats:
    def holds(self, value):
        return isinstance(value, RowStatistics)

    def __str__(self):
        return "a RowStatistics"
