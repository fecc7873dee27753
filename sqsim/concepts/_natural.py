"""Natural-weights depth-2 networks (Daniely-Vardi 2020; docs/theory/concepts.md, section concepts-natural-weights)."""

from __future__ import annotations

import math

import numpy as np

from .._domains import Gaussian
from .._errors import InvalidParameterError
from .._random import derived_rng, root_entropy
from .._validation import Interval, NoneOk, Options, check_param, show
from ._families import ConceptFamily, FiniteFamily
from ._network import ReLUNetwork

DISTRIBUTIONS = ("normal", "uniform", "bernoulli", "normal-cov", "sphere")


class NaturalWeightsNetwork:
    """h_W(x) = clip_[0,1]( sum_i relu(<w_i, x>) ) (DV20 Sec 2.3; docs/theory/concepts.md, section concepts-natural-weights).

    Parameters
    ----------
    W : array of shape (n, m)
        Column i is the weight vector w_i of hidden unit i (no biases, second layer all ones).
    clip : bool, default True
        Clip to [0, 1] (the paper's class). Without the clip the network is the plain sum of
        ReLUs (members then agree only where every unit is off: docs/theory/sq-model.md, section sq-vw-cheat).

    Attributes
    ----------
    network : ReLUNetwork
        The same function as an explicit network: with the clip, a second hidden layer of two
        units realises [s]_[0,1] = relu(s) - relu(s - 1) for s >= 0 (hidden_layers == 2).
    """

    boolean = False

    def __init__(self, W, clip=True):
        W = np.array(W, dtype=np.float64)
        if W.ndim != 2 or 0 in W.shape or not np.all(np.isfinite(W)):
            raise InvalidParameterError(
                f"The 'W' parameter of NaturalWeightsNetwork must be a finite (n, m) array. Got shape {W.shape} instead."
            )
        W.setflags(write=False)
        self.W = W
        self.d = W.shape[0]
        self.m = W.shape[1]
        self.clip = bool(clip)

    def __call__(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.d:
            raise InvalidParameterError(
                f"The 'X' parameter of NaturalWeightsNetwork must be an array of shape (n, {self.d}). "
                f"Got shape {X.shape} instead."
            )
        s = np.maximum(X @ self.W, 0.0).sum(axis=1)
        return np.clip(s, 0.0, 1.0) if self.clip else s

    @property
    def network(self) -> ReLUNetwork:
        ones = np.ones((self.m, 1))
        if not self.clip:
            return ReLUNetwork([self.W, ones], [np.zeros(self.m), np.zeros(1)])
        return ReLUNetwork([self.W, np.ones((self.m, 2)), np.array([[1.0], [-1.0]])],
                           [np.zeros(self.m), np.array([0.0, -1.0]), np.zeros(1)])

    def __repr__(self):
        return f"NaturalWeightsNetwork(n={self.d}, m={self.m}, clip={self.clip})"


def default_width(n: int) -> int:
    """m = ceil(log2(n)^2), capped at n (docs/theory/concepts.md, section concepts-natural-weights; the paper's O(log^2 n) units, m <= n)."""
    return max(1, min(int(n), math.ceil(math.log2(max(n, 2)) ** 2)))


class NaturalWeights(ConceptFamily):
    """Random natural-weights networks h_W (DV20 Cor 3.1, Thms 3.2-3.6).

    Parameters
    ----------
    n : int
        Input dimension.
    m : int, optional
        Hidden units (default ceil(log2(n)^2), at most n). For ``patch`` networks m = n / patch.
    distribution : str, default "normal"
        - ``"normal"``: entries i.i.d. N(0, scale^2) (Cor 3.1);
        - ``"uniform"``: entries i.i.d. U[-scale, scale] (Cor 3.1);
        - ``"bernoulli"``: entries i.i.d. uniform on {-scale, +scale} (Cor 3.1);
        - ``"normal-cov"``: columns i.i.d. N(0, cov) (Thm 3.2);
        - ``"sphere"``: columns i.i.d. uniform on the sphere of radius ``scale`` (Thm 3.3).
    scale : float, default 1/sqrt(n)
        sigma, r or the sphere radius.
    cov : array (n, n), optional
        Positive definite covariance for ``"normal-cov"`` (or the filter's, t x t, with ``patch``).
    patch : int, optional
        Non-overlapping convolutional variant (Sec 3.2, A4): a filter w in R^patch, drawn from
        ``distribution``, shared over the n / patch contiguous patches (patch must divide n).
    clip : bool, default True
    members : int, optional
        A finite family of this many members, member i drawn from a stream fixed by (seed, i).
    seed : int, numpy Generator or None
        Fixes the finite family's members.
    """

    def __init__(self, n, m=None, distribution="normal", scale=None, *, cov=None, patch=None, clip=True,
                 members=None, seed=None):
        c = "NaturalWeights"
        check_param("n", n, Interval(int, 1, None), c)
        check_param("m", m, [Interval(int, 1, None), NoneOk], c)
        check_param("distribution", distribution, Options(DISTRIBUTIONS), c)
        check_param("scale", scale, [Interval(float, 0, None, closed="neither"), NoneOk], c)
        check_param("patch", patch, [Interval(int, 1, None), NoneOk], c)
        check_param("members", members, [Interval(int, 1, None), NoneOk], c)
        self.n = int(n)
        self.distribution = distribution
        self.scale = 1.0 / math.sqrt(self.n) if scale is None else float(scale)
        self.clip = bool(clip)
        self.patch = None if patch is None else int(patch)
        if self.patch is not None:
            if self.n % self.patch:
                raise InvalidParameterError(f"The 'patch' parameter of {c} must divide n = {self.n}. Got {show(patch)} instead.")
            self.m = self.n // self.patch
            if m is not None and int(m) != self.m:
                raise InvalidParameterError(
                    f"The 'm' parameter of {c} must equal n / patch = {self.m} for convolutional networks. Got {show(m)} instead."
                )
        else:
            self.m = default_width(self.n) if m is None else int(m)
        vec_dim = self.patch or self.n
        self.cov = None
        if distribution == "normal-cov":
            cov = np.eye(vec_dim) * self.scale**2 if cov is None else np.asarray(cov, dtype=np.float64)
            if cov.shape != (vec_dim, vec_dim) or not np.allclose(cov, cov.T):
                raise InvalidParameterError(
                    f"The 'cov' parameter of {c} must be a symmetric ({vec_dim}, {vec_dim}) matrix. Got shape {cov.shape} instead."
                )
            try:
                self._chol = np.linalg.cholesky(cov)
            except np.linalg.LinAlgError:
                raise InvalidParameterError(f"The 'cov' parameter of {c} must be positive definite. Got {show(cov)} instead.") from None
            self.cov = cov
        elif cov is not None:
            raise InvalidParameterError(f"The 'cov' parameter of {c} must be None unless distribution='normal-cov'. Got a matrix instead.")
        self.domain = Gaussian(self.n)
        self.members = None if members is None else int(members)
        self._entropy = root_entropy(seed, c)
        if self.members is not None:
            self.finite = True

    def _columns(self, rng, dim, count):
        dist, s = self.distribution, self.scale
        if dist == "normal":
            return rng.normal(0.0, s, (dim, count))
        if dist == "uniform":
            return rng.uniform(-s, s, (dim, count))
        if dist == "bernoulli":
            return s * rng.choice(np.array([-1.0, 1.0]), (dim, count))
        if dist == "normal-cov":
            return self._chol @ rng.standard_normal((dim, count))
        g = rng.standard_normal((dim, count))  # sphere
        return s * g / np.linalg.norm(g, axis=0, keepdims=True)

    def weights(self, rng) -> np.ndarray:
        """A weight matrix W (n x m) drawn with ``rng``."""
        if self.patch is None:
            return self._columns(rng, self.n, self.m)
        w = self._columns(rng, self.patch, 1)[:, 0]
        W = np.zeros((self.n, self.m))
        for i in range(self.m):
            W[i * self.patch : (i + 1) * self.patch, i] = w
        return W

    def _sample(self, rng):
        if self.members is not None:
            return self._member(int(rng.integers(0, self.members)))
        return NaturalWeightsNetwork(self.weights(rng), clip=self.clip)

    # finite-family interface (members given)
    def __len__(self):
        if self.members is None:
            raise TypeError("an infinite NaturalWeights family has no length; pass members=N for a finite one")
        return self.members

    def member(self, i):
        return FiniteFamily.member(self, i)

    def _member(self, i):
        return NaturalWeightsNetwork(self.weights(derived_rng(self._entropy, "member", i)), clip=self.clip)

    def __iter__(self):
        return (self._member(i) for i in range(len(self)))

    def __repr__(self):
        return (f"NaturalWeights(n={self.n}, m={self.m}, distribution={self.distribution!r}, scale={self.scale:.4g}, "
                f"patch={self.patch}, members={self.members})")
