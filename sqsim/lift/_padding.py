"""Padding (proof of Theorem 3.1, Corollary C.6): a concept on d coordinates as one on d' >= d."""

from __future__ import annotations

import numpy as np

from .._errors import InvalidParameterError
from .._validation import Interval, check_param, show


def pad(concept, d_prime):
    """The concept on d' >= d coordinates that ignores the extra ones.

    Parities and LWR map to their own class (support unchanged, secret padded with zeros); any
    other concept with ``.d`` is wrapped, keeping ``.compressed`` (weights padded with zeros) and
    ``.network`` (zero input rows) when it has them.
    """
    d = getattr(concept, "d", None)
    if not isinstance(d, int) or not callable(concept):
        raise InvalidParameterError(f"The 'concept' parameter of pad must be a concept with a dimension d. "
                                    f"Got {show(concept)} instead.")
    check_param("d_prime", d_prime, Interval(int, d, None), "pad")
    from ..concepts import LWR, Parity

    if isinstance(concept, Parity):
        return Parity(int(d_prime), concept.support)
    if isinstance(concept, LWR):
        secret = np.concatenate([concept.secret, np.zeros(int(d_prime) - d, dtype=np.int64)])
        return LWR(int(d_prime), concept.q, concept.p, secret=secret)
    return PaddedConcept(concept, int(d_prime))


class PaddedConcept:
    def __init__(self, concept, d_prime):
        self.inner = concept
        self.d = d_prime
        self.boolean = getattr(concept, "boolean", None)
        if hasattr(concept, "q"):
            self.q = concept.q

    def __call__(self, X):
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.d:
            raise InvalidParameterError(f"The 'X' parameter of PaddedConcept must be an array of shape (n, {self.d}). "
                                        f"Got shape {X.shape} instead.")
        return self.inner(X[:, : self.inner.d])

    @property
    def compressed(self):
        from ..concepts import Compressed

        c = self.inner.compressed
        w = np.concatenate([np.asarray(c.weights), np.zeros(self.d - self.inner.d, dtype=np.int64)])
        return Compressed(h=lambda X: np.asarray(X, dtype=np.int64) @ w, T=c.T, sigma=c.sigma, weights=w)

    @property
    def network(self):
        from ..concepts import ReLUNetwork

        net = self.inner.network
        W0 = np.vstack([net.weights[0], np.zeros((self.d - net.d, net.weights[0].shape[1]))])
        return ReLUNetwork([W0, *net.weights[1:]], list(net.biases))

    def __repr__(self):
        return f"pad({self.inner!r}, {self.d})"
