"""Parities over {0,1}^d (MATH.md section 1)."""

from __future__ import annotations

import numpy as np

from .._errors import InvalidParameterError
from .._kernels.bits import parity_np
from .._queries import _check_support, support_code
from .._validation import Interval, check_param


class Parity:
    """The parity chi_S(x) = (sum_{j in S} x_j) mod 2 on {0,1}^d, labels in {0, 1}.

    Parameters
    ----------
    d : int
        Dimension, 1 <= d <= 62.
    support : sequence of int
        Distinct coordinate indices in [0, d - 1] (S = empty gives the constant 0).

    Examples
    --------
    >>> import numpy as np
    >>> from sqsim.concepts import Parity
    >>> f = Parity(4, support=[0, 2])
    >>> f(np.array([[1, 0, 1, 1], [1, 1, 0, 0]])).tolist()
    [0, 1]
    """

    boolean = True

    def __init__(self, d, support):
        check_param("d", d, Interval(int, 1, 62), "Parity")
        self.d = int(d)
        self.support = _check_support(support, self.d, "Parity")
        self.code = support_code(self.support)

    def __call__(self, X) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.d:
            raise InvalidParameterError(
                f"The 'X' parameter of Parity must be an array of shape (n, {self.d}). Got shape {X.shape} instead."
            )
        if not self.support:
            return np.zeros(X.shape[0], dtype=np.int64)
        return (X[:, list(self.support)].astype(np.int64).sum(axis=1) % 2).astype(np.int64)

    def labels_from_codes(self, codes: np.ndarray) -> np.ndarray:
        """Labels of the integer codes of {0,1}^d (bit j = coordinate j): popcount(S & c) mod 2."""
        return parity_np(np.asarray(codes, dtype=np.int64) & self.code)

    def __eq__(self, other):
        return isinstance(other, Parity) and other.d == self.d and other.support == self.support

    def __hash__(self):
        return hash(("Parity", self.d, self.support))

    def __repr__(self):
        return f"Parity(d={self.d}, support={list(self.support)})"
