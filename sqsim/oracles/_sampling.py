"""Empirical means of a query on fresh labelled samples (Monte Carlo truths and the sampled strategy)."""

from __future__ import annotations

import numpy as np

from .._domains import CHUNK
from .._random import derived_rng
from ._pointwise import check_pointwise


class Sampler:
    """``mean(query, n, rng)``: the mean of phi(x, f(x)) over n i.i.d. points, chunk by chunk.

    For Boolean targets the query only ever sees constant label columns: it is evaluated at y = 0 and
    at y = 1 on the same points and the oracle picks each row's value by the true label, so a query that
    stores its batch learns nothing about the target (the values, and so the mean, are the same as a
    joint evaluation). Real-valued labels must be passed with the points; the pointwise check runs on
    the first chunk of every mean.
    """

    def __init__(self, domain, target, boolean_labels: bool, binary: bool, entropy: int):
        self.domain, self.target = domain, target
        self.boolean_labels, self.binary = bool(boolean_labels), bool(binary)
        self.decoys = derived_rng(entropy, "decoys")  # never the sample streams: answers stay as they were

    def _values(self, query, X, y, rng, check: bool) -> np.ndarray:
        if self.boolean_labels and np.all((y == 0.0) | (y == 1.0)):
            v0 = query.values(X, np.zeros(X.shape[0]), True, binary=self.binary)
            v1 = query.values(X, np.ones(X.shape[0]), True, binary=self.binary)
            if check:
                check_pointwise(query, X, np.zeros(X.shape[0]), v0, self.domain, rng, True, self.binary)
            return np.where(y == 1.0, v1, v0)
        vals = query.values(X, y, False, binary=self.binary)
        if check:
            check_pointwise(query, X, y, vals, self.domain, rng, False, self.binary)
        return vals

    def mean(self, query, n: int, rng, independent_labels: bool = False) -> float:
        total = 0.0
        done = 0
        while done < n:
            m = min(CHUNK, n - done)
            X = self.domain._sample(m, rng)
            y = self.target.labels(self.domain._sample(m, rng) if independent_labels else X)
            total += float(np.sum(self._values(query, X, y, self.decoys, check=done == 0)))
            done += m
        return total / n
