"""Input distributions: uniform {0,1}^d, uniform Z_q^d and the standard Gaussian N(0, I_d).

Finite domains enumerate their points through integer codes: x in {0,1}^d is the code
c = sum_j x_j 2^j (coordinate j is bit j, so a support S is the integer sum_{j in S} 2^j);
x in Z_q^d is c = sum_j x_j q^j. Enumeration is refused above a size guard
(``max_enumeration``, default 2^24 points) with :class:`DomainTooLargeError`, which says what
to do instead.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from ._errors import DomainTooLargeError, InvalidParameterError
from ._export import export
from ._random import check_rng
from ._validation import Interval, check_param

DEFAULT_MAX_ENUMERATION = 2**24
#: the largest cube dimension (sampling only above 62, where integer codes overflow)
MAX_CUBE_D = 4096
#: the largest Gaussian dimension (one sample row of N(0, I_d) is 8 d bytes; 2^16 keeps a batch of
#: 2^15 rows at 16 GiB, the most any oracle allocates at once)
MAX_GAUSSIAN_D = 2**16
#: Z_q^d needs integer codes: q^d below 2^62 (so d <= 61 and q < 2^62)
MAX_ZQ_CODES = 2**62
#: rows per chunk when plain Python queries are evaluated on enumerated points
CHUNK = 2**15


class Domain:
    """Base class of the input distributions."""

    d: int
    finite: bool = False

    def sample(self, n: int, seed=None) -> np.ndarray:
        """``n`` i.i.d. points as an array of shape (n, d)."""
        check_param("n", n, Interval(int, 0, None), f"{type(self).__name__}.sample")
        rng = check_rng(seed, f"{type(self).__name__}.sample")
        return self._sample(int(n), rng)

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def describe(self) -> str:
        return repr(self)


class FiniteDomain(Domain):
    """A uniform distribution on a finite product set, enumerable through integer codes."""

    finite = True
    base: int

    def __init__(self, d, base, max_enumeration):
        self.d = int(d)
        self.base = int(base)
        self.max_enumeration = int(max_enumeration)

    @property
    def size(self) -> int:
        """Number of points (a Python int, exact for any d)."""
        return self.base**self.d

    @property
    def enumerable(self) -> bool:
        """Whether exact enumeration is within the guard ``max_enumeration``."""
        return self.size <= self.max_enumeration

    def check_enumerable(self, what: str = "exact enumeration") -> None:
        """Raise :class:`DomainTooLargeError` if the domain is above the enumeration guard."""
        self._check_codes(what)
        if not self.enumerable:
            raise DomainTooLargeError(
                f"{what} of {self!r} needs {self.base}^{self.d} = {self.size:.3g} points, above the "
                f"enumeration guard max_enumeration={self.max_enumeration} "
                f"(2^{math.log2(self.max_enumeration):.0f}). Use Monte Carlo truths instead "
                f"(SQOracle(..., truth='monte-carlo') or answers='sampled'), a smaller d, or pass a "
                f"larger max_enumeration to {type(self).__name__} if you have the time and memory."
            )

    def _check_codes(self, what: str) -> None:
        if self.base**self.d >= 2**63:
            raise DomainTooLargeError(f"{what} of {self!r} needs integer codes below 2^63; {self.base}^{self.d} "
                                      f"points have none. Sample the domain instead.")

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Points (shape (n, d), int64) of the integer ``codes``."""
        self._check_codes("decode")
        codes = np.asarray(codes, dtype=np.int64)
        if self.base == 2:
            shifts = np.arange(self.d, dtype=np.int64)
            return (codes[:, None] >> shifts) & 1
        out = np.empty((codes.shape[0], self.d), dtype=np.int64)
        rem = codes.copy()
        for j in range(self.d):
            out[:, j] = rem % self.base
            rem //= self.base
        return out

    def encode(self, X: np.ndarray) -> np.ndarray:
        """Integer codes of points ``X`` (shape (n, d))."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.d:
            raise InvalidParameterError(
                f"The 'X' parameter of {type(self).__name__}.encode must be an array of shape (n, {self.d}). "
                f"Got shape {X.shape} instead."
            )
        self._check_codes("encode")
        weights = self.base ** np.arange(self.d, dtype=np.int64)
        return (X.astype(np.int64) * weights).sum(axis=1)

    def enumerate(self) -> np.ndarray:
        """All points, shape (size, d), in code order. Refused above the guard."""
        self.check_enumerable()
        return self.decode(np.arange(self.size, dtype=np.int64))

    def chunks(self, chunk: int = CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (codes, points) in code order, ``chunk`` points at a time (bounded memory)."""
        self.check_enumerable()
        n = self.size
        for start in range(0, n, chunk):
            codes = np.arange(start, min(n, start + chunk), dtype=np.int64)
            yield codes, self.decode(codes)

    def _sample(self, n, rng):
        return rng.integers(0, self.base, size=(n, self.d), dtype=np.int64)


@export
class BooleanCube(FiniteDomain):
    """The uniform distribution on {0,1}^d.

    Parameters
    ----------
    d : int
        Dimension, 1 <= d <= 4096. Integer codes (enumeration, ``encode``/``decode``) need
        d <= 62; larger cubes are sampled (Monte Carlo truths, example oracles).
    max_enumeration : int, default 2**24
        The largest number of points enumerated exactly; above it exact enumeration raises
        :class:`DomainTooLargeError` and oracles fall back to (recorded) Monte Carlo truths.

    Examples
    --------
    >>> from sqsim import BooleanCube
    >>> cube = BooleanCube(3)
    >>> cube.enumerate()[5].tolist()   # code 5 = x_0 + 4 x_2
    [1, 0, 1]
    """

    kind = "boolean"

    def __init__(self, d, *, max_enumeration=DEFAULT_MAX_ENUMERATION):
        check_param("d", d, Interval(int, 1, MAX_CUBE_D), "BooleanCube")
        check_param("max_enumeration", max_enumeration, Interval(int, 1, None), "BooleanCube")
        super().__init__(d, 2, max_enumeration)

    def __repr__(self):
        return f"BooleanCube(d={self.d})"

    def __eq__(self, other):
        return type(other) is BooleanCube and other.d == self.d

    def __hash__(self):
        return hash(("BooleanCube", self.d))


@export
class ZqCube(FiniteDomain):
    """The uniform distribution on Z_q^d = {0, ..., q-1}^d.

    Parameters
    ----------
    d : int
        Dimension, 1 <= d <= 61.
    q : int
        Modulus, 2 <= q < 2^62, with q^d < 2^62 so that codes fit in int64 (d <= 61 for q = 2,
        d <= 39 for q = 3, ...); larger sizes are refused at construction.
    max_enumeration : int, default 2**24
        Enumeration guard, as for :class:`BooleanCube`.
    """

    kind = "zq"

    def __init__(self, d, q, *, max_enumeration=DEFAULT_MAX_ENUMERATION):
        check_param("d", d, Interval(int, 1, 61), "ZqCube")  # q >= 2, so q^d < 2^62 needs d <= 61
        check_param("q", q, Interval(int, 2, MAX_ZQ_CODES - 1), "ZqCube")
        check_param("max_enumeration", max_enumeration, Interval(int, 1, None), "ZqCube")
        if int(d) * math.log2(int(q)) >= 63 or int(q) ** int(d) >= MAX_ZQ_CODES:  # no huge power is computed
            raise InvalidParameterError(
                f"The 'd' parameter of ZqCube must keep q^d below 2^62 (integer codes; d <= "
                f"{_max_zq_d(int(q))} for q={q}). Got d={d} with q={q} instead."
            )
        super().__init__(d, q, max_enumeration)
        self.q = int(q)

    def __repr__(self):
        return f"ZqCube(d={self.d}, q={self.q})"

    def __eq__(self, other):
        return type(other) is ZqCube and other.d == self.d and other.q == self.q

    def __hash__(self):
        return hash(("ZqCube", self.d, self.q))


def _max_zq_d(q: int) -> int:
    """The largest d with q^d < 2^62."""
    d = 0
    while q ** (d + 1) < MAX_ZQ_CODES:
        d += 1
    return d


@export
class Gaussian(Domain):
    """The standard Gaussian N(0, I_d) on R^d.

    No expectation under it is exact: oracles estimate truths by Monte Carlo with a recorded
    Hoeffding error bound (docs/theory/sq-model.md, section sq-gaussian-truths).

    Parameters
    ----------
    d : int
        Dimension, 1 <= d <= 65536 (``MAX_GAUSSIAN_D`` = 2^16); larger dimensions are refused at
        construction, before any sample is drawn.
    """

    kind = "gaussian"

    finite = False

    def __init__(self, d):
        check_param("d", d, Interval(int, 1, MAX_GAUSSIAN_D), "Gaussian")
        self.d = int(d)

    def _sample(self, n, rng):
        return rng.standard_normal((n, self.d))

    def __repr__(self):
        return f"Gaussian(d={self.d})"

    def __eq__(self, other):
        return type(other) is Gaussian and other.d == self.d

    def __hash__(self):
        return hash(("Gaussian", self.d))
