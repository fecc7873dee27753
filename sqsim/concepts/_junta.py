"""Juntas: functions of a few coordinates x_S of {0,1}^d (docs/theory/juntas.md, section juntas-targets).

A junta declares its ``support``; truth engines then enumerate only the coordinates a query reads and
the target depends on, so exact truths exist far beyond the 2^24 enumeration guard.
"""

from __future__ import annotations

import numpy as np

from .._domains import MAX_CUBE_D
from .._errors import InvalidParameterError
from .._queries import _check_support, support_code
from .._validation import Callable, Interval, check_param, show

#: the largest support of a truth table (2^24 float64 entries = 128 MiB)
MAX_TABLE_SUPPORT = 24


class Junta:
    """A function of the coordinates x_S of {0,1}^d: f(x) = g(x_S).

    Parameters
    ----------
    d : int
        Dimension, 1 <= d <= 4096 (evaluation only reads the columns in ``support``; integer codes,
        used by ``labels_from_codes`` on enumerable cubes, need d <= 62).
    support : sequence of int
        Distinct coordinate indices in [0, d - 1]; stored sorted, S = (s_0 < s_1 < ...).
    table : array-like of float, optional
        The 2^|S| values of g in code order: entry p is g at the pattern x_{s_i} = bit i of p
        (|S| <= 24). Boolean labels (all entries in {0, 1}) or real ones (finite).
    fn : callable, optional
        A vectorised ``fn(XS) -> labels`` of the (n, |S|) sub-matrix XS = X[:, support] (columns in
        sorted support order), returning n finite labels. Exactly one of ``table`` and ``fn``.

    Attributes
    ----------
    support : tuple of int
        The sorted coordinates the junta depends on (what truth engines read).
    boolean : bool or None
        Whether the labels lie in {0, 1}: known for a table, None (decided by the oracle) for ``fn``.

    Examples
    --------
    >>> import numpy as np
    >>> from sqsim.concepts import Junta
    >>> maj = Junta(64, [3, 17, 40], table=[0, 0, 0, 1, 0, 1, 1, 1])   # majority of three bits
    >>> X = np.zeros((2, 64), dtype=np.int64); X[0, [3, 40]] = 1
    >>> maj(X).tolist()
    [1.0, 0.0]
    """

    def __init__(self, d, support, table=None, fn=None):
        check_param("d", d, Interval(int, 1, MAX_CUBE_D), "Junta")
        self.d = int(d)
        self.support = _check_support(support, self.d, "Junta")
        k = len(self.support)
        if (table is None) == (fn is None):
            raise InvalidParameterError(
                "The 'table' parameter of Junta must be given exactly when 'fn' is not. "
                f"Got table={'None' if table is None else '...'}, fn={show(fn)} instead."
            )
        self.fn = None
        self.table = None
        if fn is not None:
            check_param("fn", fn, Callable, "Junta")
            self.fn = fn
        else:
            if k > MAX_TABLE_SUPPORT:
                raise InvalidParameterError(
                    f"The 'table' parameter of Junta must have 2^|S| entries with |S| <= {MAX_TABLE_SUPPORT} "
                    f"(use fn= for larger supports). Got a support of size {k} instead."
                )
            try:
                t = np.asarray(table)
                ok = t.ndim == 1 and (np.issubdtype(t.dtype, np.number) or t.dtype == np.bool_) \
                    and not np.iscomplexobj(t)
            except (TypeError, ValueError):
                ok = False
            if not ok or t.shape != (1 << k,):
                raise InvalidParameterError(
                    f"The 'table' parameter of Junta must be a real array of 2^{k} = {1 << k} values (one per "
                    f"pattern of x_S, in code order). Got {show(table)} instead."
                )
            t = t.astype(np.float64)
            if not np.all(np.isfinite(t)):
                raise InvalidParameterError(f"The 'table' parameter of Junta must hold finite values. "
                                            f"Got {show(table)} instead.")
            t.setflags(write=False)
            self.table = t
        self._weights = (np.int64(1) << np.arange(k, dtype=np.int64)) if k <= 62 else None

    @property
    def boolean(self):
        if self.table is None:
            return None
        return bool(np.all((self.table == 0.0) | (self.table == 1.0)))

    @property
    def code(self) -> int:
        """sum_{j in S} 2^j (a Python int, any d)."""
        return support_code(self.support)

    def _from_sub(self, XS: np.ndarray) -> np.ndarray:
        n = XS.shape[0]
        if self.table is not None:
            if not self.support:
                return np.full(n, self.table[0])
            return self.table[XS.astype(np.int64) @ self._weights]
        y = np.asarray(self.fn(XS))
        if y.shape == () and n == 1:
            y = y.reshape(1)
        if y.shape != (n,):
            raise InvalidParameterError(
                f"The 'fn' parameter of Junta must return an array of shape ({n},) for a sub-matrix of shape "
                f"{XS.shape}. Got shape {y.shape} instead."
            )
        return y

    def __call__(self, X) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.d:
            raise InvalidParameterError(
                f"The 'X' parameter of Junta must be an array of shape (n, {self.d}). Got shape {X.shape} instead."
            )
        return self._from_sub(X[:, list(self.support)])

    def labels_from_codes(self, codes: np.ndarray) -> np.ndarray:
        """Labels of the integer codes of {0,1}^d (bit j = coordinate j; d <= 62)."""
        codes = np.asarray(codes, dtype=np.int64)
        XS = np.stack([(codes >> s) & 1 for s in self.support], axis=1) if self.support \
            else np.zeros((codes.shape[0], 0), dtype=np.int64)
        return self._from_sub(XS)

    def __eq__(self, other):
        if not isinstance(other, Junta) or other.d != self.d or other.support != self.support:
            return False
        if self.table is not None and other.table is not None:
            return bool(np.array_equal(self.table, other.table))
        return self.fn is other.fn

    def __hash__(self):
        return hash(("Junta", self.d, self.support))

    def __repr__(self):
        how = "table" if self.table is not None else "fn"
        return f"Junta(d={self.d}, support={list(self.support)}, {how})"
