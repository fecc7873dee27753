"""Concept families: one interface for classes of targets.

Every family has a ``domain``, ``sample(seed)`` and ``finite``; finite families also have
``len(family)``, ``member(i)`` and iteration in index order, so brute-force learners, the
version-space strategy and sweeps can use any of them.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np

from .._domains import BooleanCube
from .._errors import InvalidParameterError
from .._random import check_rng
from .._validation import Interval, NoneOk, check_param
from ._parity import Parity
from .._validation import show


class ConceptFamily:
    """Base class: a (finite or infinite) class of concepts over one domain."""

    finite = False
    domain = None

    def sample(self, seed=None):
        """One member drawn with ``seed`` (uniform over finite families)."""
        rng = check_rng(seed, f"{type(self).__name__}.sample")
        return self._sample(rng)

    def _sample(self, rng):  # pragma: no cover - abstract
        raise NotImplementedError


class FiniteFamily(ConceptFamily):
    """A finite family enumerable by index 0 .. len - 1."""

    finite = True

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def member(self, i: int):
        n = len(self)
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= int(i) < n:
            raise InvalidParameterError(
                f"The 'i' parameter of {type(self).__name__}.member must be an int in the range [0, {n - 1}]. "
                f"Got {show(i)} instead."
            )
        return self._member(int(i))

    def _member(self, i):  # pragma: no cover - abstract
        raise NotImplementedError

    def __iter__(self):
        return (self._member(i) for i in range(len(self)))

    def _sample(self, rng):
        return self._member(int(rng.integers(0, len(self))))

    def label_table(self, i: int) -> np.ndarray:
        """Labels of member i on every point of the domain (in code order)."""
        return np.asarray(self._member(i)(self.domain.enumerate()), dtype=np.float64)


class Parities(FiniteFamily):
    """All parities chi_S on {0,1}^d with |S| <= max_size (all 2^d when max_size is None).

    Members are indexed in the order of their supports' integer codes restricted to the class
    (for the full class, member i has support code i, so member 0 is the constant 0).
    """

    def __init__(self, d, max_size=None):
        check_param("d", d, Interval(int, 1, 62), "Parities")
        check_param("max_size", max_size, [Interval(int, 0, None), NoneOk], "Parities")
        self.d = int(d)
        self.max_size = None if max_size is None or int(max_size) >= self.d else int(max_size)
        self.domain = BooleanCube(self.d)
        if self.max_size is None and self.d > 24 or self.max_size is not None and \
                sum(math.comb(self.d, i) for i in range(self.max_size + 1)) > 2**24:
            raise InvalidParameterError(
                f"The 'max_size' parameter of Parities must keep the class at most 2^24 members. Got "
                f"max_size={max_size!r} with d={d} instead."
            )
        self._codes = None if self.max_size is None else _codes_up_to(self.d, self.max_size)

    def __len__(self):
        if self.max_size is None:
            return 2**self.d
        return len(self._codes)

    def codes(self) -> np.ndarray:
        """Support codes of the members, in index order."""
        return np.arange(2**self.d, dtype=np.int64) if self._codes is None else self._codes

    def _member(self, i):
        code = i if self._codes is None else int(self._codes[i])
        return Parity(self.d, [j for j in range(self.d) if (code >> j) & 1])

    def index_of(self, parity: Parity) -> int:
        """The index of a member (InvalidParameterError if it is not one)."""
        if not isinstance(parity, Parity) or parity.d != self.d:
            raise InvalidParameterError(f"The 'parity' parameter of {type(self).__name__}.index_of must be a Parity "
                                        f"on d = {self.d}. Got {parity!r} instead.")
        if self._codes is None:
            return parity.code
        i = int(np.searchsorted(self._codes, parity.code))
        if i >= len(self._codes) or self._codes[i] != parity.code:
            raise InvalidParameterError(f"The 'parity' parameter of {type(self).__name__}.index_of must be a member "
                                        f"of {self!r}. Got {parity!r} instead.")
        return i

    def __repr__(self):
        return f"Parities(d={self.d}, max_size={self.max_size})"


def _codes_up_to(d, k, exact=False):
    sizes = [k] if exact else range(k + 1)
    codes = [sum(1 << j for j in c) for s in sizes for c in combinations(range(d), s)]
    return np.array(sorted(codes), dtype=np.int64)


class SparseParities(Parities):
    """The k-sparse parities: |S| = k exactly (C(d, k) members)."""

    def __init__(self, d, k):
        check_param("d", d, Interval(int, 1, 62), "SparseParities")
        check_param("k", k, Interval(int, 0, int(d) if isinstance(d, int) else None), "SparseParities")
        if math.comb(int(d), int(k)) > 2**24:
            raise InvalidParameterError(
                f"The 'k' parameter of SparseParities must keep C(d, k) <= 2^24 members. Got k={k} with d={d} "
                f"(C = {math.comb(int(d), int(k)):.3g}) instead."
            )
        self.d = int(d)
        self.k = int(k)
        self.max_size = self.k
        self.domain = BooleanCube(self.d)
        self._codes = _codes_up_to(self.d, self.k, exact=True)

    def __repr__(self):
        return f"SparseParities(d={self.d}, k={self.k})"
