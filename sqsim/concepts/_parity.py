"""Parities over {0,1}^d (docs/theory/sq-model.md; CGKM22 Definition 2.1 for the compressed form)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .._errors import InvalidParameterError
from .._kernels.bits import parity_np
from .._queries import _check_support, support_code
from .._validation import Interval, check_param
from .._domains import MAX_CUBE_D


@dataclass(frozen=True)
class Compressed:
    """The compressible form f = sigma(h(x)) of CGKM22 Definition 2.1.

    Attributes
    ----------
    h : callable
        Integer-valued ``h(X) -> int64 array`` (depth 0 here: a linear form with integer weights).
    T : numpy array of int
        The values h can take (its range).
    sigma : callable
        ``sigma(t)`` vectorised over integer arrays.
    weights : numpy array of int
        The integer coefficients of h (h(x) = weights . x).
    """

    h: Callable
    T: np.ndarray
    sigma: Callable
    weights: np.ndarray


class Parity:
    """The parity chi_S(x) = (sum_{j in S} x_j) mod 2 on {0,1}^d, labels in {0, 1}.

    Parameters
    ----------
    d : int
        Dimension, 1 <= d <= 4096 (integer codes, used on enumerable cubes, need d <= 62).
    support : sequence of int
        Distinct coordinate indices in [0, d - 1] (S = empty gives the constant 0).

    Attributes
    ----------
    compressed : Compressed
        h(x) = sum_{j in S} x_j, T = {0, ..., |S|}, sigma(t) = t mod 2 (Definition 2.1).
    network : ReLUNetwork
        One hidden layer of max(|S|, 1) units, equal to the parity on every point of the cube:
        with s = h(x), chi = relu(s) + sum_{m=1}^{|S|-1} 2 (-1)^m relu(s - m) interpolates
        t mod 2 at every integer t in [0, |S|].

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
        check_param("d", d, Interval(int, 1, MAX_CUBE_D), "Parity")
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

    @property
    def compressed(self) -> Compressed:
        w = np.zeros(self.d, dtype=np.int64)
        w[list(self.support)] = 1
        return Compressed(h=lambda X, w=w: np.asarray(X, dtype=np.int64) @ w,
                          T=np.arange(len(self.support) + 1, dtype=np.int64),
                          sigma=lambda t: np.asarray(t, dtype=np.int64) % 2, weights=w)

    @property
    def network(self):
        from ._network import ReLUNetwork

        k = len(self.support)
        units = max(k, 1)
        W1 = np.zeros((self.d, units))
        if k:
            W1[list(self.support), :] = 1.0
        b1 = -np.arange(units, dtype=np.float64)
        w2 = np.array([1.0] + [2.0 * (-1) ** m for m in range(1, units)]) if k else np.zeros(1)
        return ReLUNetwork([W1, w2[:, None]], [b1, np.zeros(1)])

    def __eq__(self, other):
        return isinstance(other, Parity) and other.d == self.d and other.support == self.support

    def __hash__(self):
        return hash(("Parity", self.d, self.support))

    def __repr__(self):
        return f"Parity(d={self.d}, support={list(self.support)})"
