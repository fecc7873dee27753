"""Learning With Rounding (CGKM22 Definition 1.2; docs/theory/concepts.md, section concepts-lwr)."""

from __future__ import annotations

import numpy as np

from .._domains import ZqCube
from .._errors import InvalidParameterError
from .._random import check_rng
from .._validation import Interval, check_param
from ._families import FiniteFamily
from ._parity import Compressed
from .._validation import show


def lwr_round(r, p: int, q: int) -> np.ndarray:
    """(1/p) [round((p/q) r) mod p] for integers r in [0, q): exact integer arithmetic.

    round is to the nearest integer with ties rounded *up*: round(z) = floor(z + 1/2), so
    round((p/q) r) = floor((2 p r + q) / (2 q)). The outer mod p matters: p = 2, q = 5, r = 4
    gives round(1.6) = 2 = 0 mod 2.
    """
    r = np.asarray(r, dtype=np.int64)
    return ((2 * p * r + q) // (2 * q) % p) / p


class LWR:
    """f_w(x) = (1/p) [round((p/q) (w . x mod q)) mod p] on Z_q^d (Definition 1.2).

    Labels lie in Z_p / p = {0, 1/p, ..., (p-1)/p}; rounding is to the nearest integer with
    ties up (see :func:`lwr_round`).

    Parameters
    ----------
    d : int
    q : int
        Modulus of the inputs, q > p.
    p : int
        Rounding modulus, 2 <= p < q.
    secret : sequence of int, optional
        w in Z_q^d; drawn uniformly with ``seed`` when omitted.
    seed : int, numpy Generator or None

    Attributes
    ----------
    compressed : Compressed
        h(x) = w . x over the integers, T = {0, ..., (q-1) sum_j w_j} (the values h reaches; at most
        d (q-1)^2 over the class), sigma(t) = f's rounding of t mod q (Theorem 4.1's compressible form).
    network : ReLUNetwork
        One hidden layer (units relu(w . x - t)) interpolating sigma at every integer of T, so it
        equals f on every point of Z_q^d.
    """

    boolean = False

    def __init__(self, d, q, p, secret=None, seed=None):
        check_param("d", d, Interval(int, 1, None), "LWR")
        check_param("q", q, Interval(int, 3, None), "LWR")
        check_param("p", p, Interval(int, 2, None), "LWR")
        if int(p) >= int(q):
            raise InvalidParameterError(f"The 'p' parameter of LWR must satisfy 2 <= p < q = {q}. Got {show(p)} instead.")
        self.d, self.q, self.p = int(d), int(q), int(p)
        if secret is None:
            self.secret = check_rng(seed, "LWR").integers(0, self.q, self.d).astype(np.int64)
        else:
            s = np.asarray(secret)
            if s.shape != (self.d,) or not np.issubdtype(s.dtype, np.integer) or s.min() < 0 or s.max() >= self.q:
                raise InvalidParameterError(
                    f"The 'secret' parameter of LWR must be {self.d} integers in [0, {self.q - 1}]. Got {show(secret)} instead."
                )
            self.secret = s.astype(np.int64)
        self.secret.setflags(write=False)

    @property
    def domain(self) -> ZqCube:
        return ZqCube(self.d, self.q)

    def _check_X(self, X):
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.d:
            raise InvalidParameterError(
                f"The 'X' parameter of LWR must be an array of shape (n, {self.d}). Got shape {X.shape} instead."
            )
        return X.astype(np.int64)

    def __call__(self, X) -> np.ndarray:
        return lwr_round(self._check_X(X) @ self.secret % self.q, self.p, self.q)

    @property
    def compressed(self) -> Compressed:
        q, p, w = self.q, self.p, self.secret
        return Compressed(h=lambda X: np.asarray(X, dtype=np.int64) @ w,
                          T=np.arange(int(w.sum()) * (q - 1) + 1, dtype=np.int64),
                          sigma=lambda t: lwr_round(np.asarray(t, dtype=np.int64) % q, p, q), weights=w.copy())

    @property
    def network(self):
        from ._network import ReLUNetwork

        c = self.compressed
        vals = c.sigma(c.T)
        slopes = np.diff(vals)  # slope on [t, t + 1]
        coef = np.concatenate([[slopes[0]], np.diff(slopes)]) if len(slopes) else np.zeros(1)
        knots = np.arange(len(coef), dtype=np.float64)
        keep = coef != 0
        if not keep.any():
            keep[0] = True
        W1 = np.repeat(self.secret.astype(np.float64)[:, None], int(keep.sum()), axis=1)
        return ReLUNetwork([W1, coef[keep][:, None]], [-knots[keep], np.array([vals[0]])])

    def __repr__(self):
        return f"LWR(d={self.d}, q={self.q}, p={self.p}, secret={self.secret.tolist()})"


class LWRSecrets(FiniteFamily):
    """All q^d LWR functions on Z_q^d for fixed (q, p); member i has the secret with code i."""

    def __init__(self, d, q, p):
        LWR(d, q, p, secret=np.zeros(int(d), dtype=np.int64))  # validates d, q, p
        if int(q) ** int(d) > 2**24:
            raise InvalidParameterError(
                f"The 'd' parameter of LWRSecrets must keep q^d <= 2^24 members. Got d={d} with q={q} instead."
            )
        self.d, self.q, self.p = int(d), int(q), int(p)
        self.domain = ZqCube(self.d, self.q)

    def __len__(self):
        return self.q**self.d

    def _member(self, i):
        return LWR(self.d, self.q, self.p, secret=self.domain.decode(np.array([i]))[0])

    def __repr__(self):
        return f"LWRSecrets(d={self.d}, q={self.q}, p={self.p})"
