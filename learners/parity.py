"""Parity learners (docs/theory/sq-model.md, section sq-brute-force)."""

from __future__ import annotations

from itertools import combinations

import numpy as np

from sqsim import BooleanCube, Character, InvalidParameterError
from sqsim._queries import support_of
from sqsim._random import check_rng
from sqsim._validation import Interval, NoneOk, check_param
from sqsim.concepts import Parity

from sqsim._learning import Learner

from ._base import register

__all__ = ["ParityBruteForce"]


@register("parity-brute-force")
class ParityBruteForce(Learner):
    """Try the nonempty supports S in a seeded uniformly random order with the query chi_S.

    The correlational query (1 - 2y)(-1)^{S.x} has truth 1 for S = S* and 0 otherwise; any
    answer above 1/2 identifies S* when tau < 1/2. Against the null adversary (answer 0 for
    S != S*) it needs exactly rank(S*) queries, 2^(d-1) in expectation (docs/theory/sq-model.md, section sq-brute-force).

    Parameters
    ----------
    max_size : int, optional
        Only supports with 1 <= |S| <= max_size (sum_{i <= k} C(d, i) - 1 candidates).
    seed : int, numpy Generator or None
        Fixes the order.
    """

    def __init__(self, *, max_size=None, seed=None):
        check_param("max_size", max_size, [Interval(int, 1, None), NoneOk], "ParityBruteForce")
        check_rng(seed, "ParityBruteForce")
        self.max_size = max_size
        self.seed = seed

    def _candidates(self, d: int) -> np.ndarray:
        if self.max_size is None:
            return np.arange(1, 2**d, dtype=np.int64)
        k = min(self.max_size, d)
        # int64 codes up to d = 62, Python ints beyond (the permutation depends only on the length)
        return np.array([sum(1 << j for j in c) for i in range(1, k + 1) for c in combinations(range(d), i)],
                        dtype=np.int64 if d <= 62 else object)

    def _learn(self, oracle):
        if not isinstance(oracle.domain, BooleanCube):
            raise InvalidParameterError(
                f"The 'oracle' parameter of ParityBruteForce.learn must be over a BooleanCube. "
                f"Got {oracle.domain!r} instead."
            )
        tol = getattr(oracle, "tolerance", None)
        if tol is None or tol >= 0.5:
            raise InvalidParameterError(
                f"The 'oracle' parameter of ParityBruteForce.learn must have tolerance < 1/2. Got {tol!r} instead."
            )
        d = oracle.domain.d
        order = check_rng(self.seed, "ParityBruteForce").permutation(self._candidates(d))
        ask, make = oracle.ask, Character._trusted  # the supports are built here: no re-validation
        for asked, code in enumerate(order.tolist(), start=1):
            support = support_of(code)
            if ask(make(d, support, code)) > 0.5:
                return Parity(d, list(support)), {"rank": asked, "candidates": len(order)}
        # every nonempty candidate was rejected: the only parity left is the constant chi_empty = 0
        return Parity(d, []), {"rank": None, "candidates": len(order)}
