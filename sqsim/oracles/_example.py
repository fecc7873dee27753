"""The example oracle (with label queries): labelled examples, counted in the same ledger design as queries.

Not an SQ oracle: learners that use it (Gaussian elimination over GF(2), for instance) show
what the SQ lower bound does *not* say: parities are easy from examples (docs/theory/sq-model.md, section sq-examples).
"""

from __future__ import annotations

import time

import numpy as np

from .._domains import Domain
from .._errors import InvalidParameterError
from .._export import export
from .._ledger import Ledger
from .._random import derived_rng, root_entropy
from .._validation import Callable, InstanceOf, Interval, NoneOk, check_param
from ._evaluation import count_record
from ._seal import Sealed
from ._target import HiddenTarget


@export
class ExampleOracle(Sealed):
    """Draws i.i.d. labelled examples (x, f(x)) with x from ``domain``, and answers label queries.

    Parameters
    ----------
    domain : BooleanCube, ZqCube or Gaussian
    target : callable on batches
    seed : int, numpy Generator or None
        Fixes the whole example stream: the same seed gives the same examples and ledger.
    budget : int, optional
        Maximum number of examples; a draw that would exceed it raises
        :class:`QueryBudgetExceeded` and draws nothing.

    Attributes
    ----------
    ledger : Ledger
        One record (kind ``"example"``) per :meth:`draw` call with ``extra["count"] = n``;
        ``ledger.total`` counts examples.

    Examples
    --------
    >>> from sqsim import BooleanCube, ExampleOracle
    >>> from sqsim.concepts import Parity
    >>> oracle = ExampleOracle(BooleanCube(8), Parity(8, [1, 2]), seed=0)
    >>> X, y = oracle.draw(5)
    >>> X.shape, y.shape, oracle.ledger.total
    ((5, 8), (5,), 5)
    """

    oracle_kind = "example"
    tolerance = None

    def __init__(self, domain, target, seed=None, budget=None):
        c = "ExampleOracle"
        check_param("domain", domain, InstanceOf(Domain, "a sqsim domain (BooleanCube, ZqCube or Gaussian)"), c)
        check_param("target", target, Callable, c)
        check_param("budget", budget, [Interval(int, 0, None), NoneOk], c)
        td = getattr(target, "d", None)
        if isinstance(td, (int, np.integer)) and int(td) != domain.d:
            raise InvalidParameterError(f"The 'target' parameter of {c} must act on the domain's dimension "
                                        f"d={domain.d}. Got a target with d={td} instead.")
        self.domain = domain
        self._target = HiddenTarget(target, c)
        self._entropy = root_entropy(seed, c)
        self._rng = derived_rng(self._entropy, "examples")
        self.ledger = Ledger(budget)
        self._grader = _LazyGrader(self)
        self._seal()

    def draw(self, n: int):
        """``n`` fresh examples: ``(X, y)`` with X of shape (n, d) and y of shape (n,)."""
        check_param("n", n, Interval(int, 1, None), "ExampleOracle.draw")
        n = int(n)
        self.ledger.check_budget(n, "example")
        t0 = time.perf_counter()
        X = self.domain._sample(n, self._rng)
        y = self._target.raw(X).reshape(-1)
        self.ledger.append(**count_record("example", n, "examples"), seconds=time.perf_counter() - t0)
        return X, y

    def label(self, X) -> np.ndarray:
        """Label queries (membership queries): f(x) at points the learner chooses, counted as kind "label".

        They share the ledger (and its budget) with :meth:`draw`: ``ledger.total`` counts examples
        plus labels, ``ledger.counts()`` keeps the kinds apart.
        """
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.domain.d or X.shape[0] < 1:
            raise InvalidParameterError(f"The 'X' parameter of ExampleOracle.label must be an array of shape "
                                        f"(n >= 1, {self.domain.d}). Got shape {X.shape} instead.")
        if not np.issubdtype(X.dtype, np.number) or not np.all(np.isfinite(X)):
            raise InvalidParameterError(f"The 'X' parameter of ExampleOracle.label must hold finite numbers. "
                                        f"Got {X.dtype} values including {X.ravel()[:1]!r} instead.")
        if self.domain.finite:
            bad = (X != np.floor(X)) | (X < 0) | (X >= self.domain.base)
            if bad.any():
                i = int(np.flatnonzero(bad.any(axis=1))[0])
                raise InvalidParameterError(
                    f"The 'X' parameter of ExampleOracle.label must hold points of {self.domain!r} (integers in "
                    f"[0, {self.domain.base - 1}]). Got row {i} = {X[i].tolist()} instead.")
            X = X.astype(np.int64)
        n = X.shape[0]
        self.ledger.check_budget(n, "label query")
        t0 = time.perf_counter()
        y = self._target.raw(X).reshape(-1)
        self.ledger.append(**count_record("label", n, "labels"), seconds=time.perf_counter() - t0)
        return y

    def __repr__(self):
        return f"ExampleOracle({self.domain!r}, examples={self.ledger.total})"


class _LazyGrader:
    """The rules of an exact SQ oracle on this target, built on first use (grading, not a query)."""

    def __init__(self, oracle):
        self._domain, self._target, self._entropy = oracle.domain, oracle._target, oracle._entropy
        self._inner = None

    def target(self, avoid=None):
        return self._target.concept

    def grade(self, hypothesis) -> dict:
        from ._grading import target_grader

        if self._inner is None:
            self._inner = target_grader(self._domain, self._target, self._entropy)
        return self._inner.grade(hypothesis)
