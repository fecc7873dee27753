"""Periodic single-index targets x -> psi(<w*, x>) (Shamir 2018; docs/theory/concepts.md, section concepts-periodic)."""

from __future__ import annotations

import math

import numpy as np

from .._domains import Gaussian
from .._errors import InvalidParameterError
from .._validation import Interval, Options, check_param
from ._families import ConceptFamily
from ._network import ReLUNetwork
from .._validation import show

PSIS = ("cosine", "triangle")


def triangle_wave(z) -> np.ndarray:
    """tri(z) = 1 - 4 |z - round(z)|: period 1, values in [-1, 1], tri(0) = 1, tri(1/2) = -1."""
    z = np.asarray(z, dtype=np.float64)
    return 1.0 - 4.0 * np.abs(z - np.round(z))


class PeriodicNeuron:
    """psi(<w*, x>) with psi of period 1 and values in [-1, 1] (Sha18 Sec 4, Thm 7).

    Parameters
    ----------
    w_star : array of shape (d,)
    psi : {"cosine", "triangle"}, default "cosine"
        ``"cosine"``: psi(z) = cos(2 pi z); ``"triangle"``: the triangle wave
        tri(z) = 1 - 4 |z - round(z)|, realised exactly by :meth:`network`.
    """

    boolean = False

    def __init__(self, w_star, psi="cosine"):
        check_param("psi", psi, Options(PSIS), "PeriodicNeuron")
        w = np.array(w_star, dtype=np.float64)
        if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)):
            raise InvalidParameterError(
                f"The 'w_star' parameter of PeriodicNeuron must be a finite 1-D array. Got shape {w.shape} instead."
            )
        w.setflags(write=False)
        self.w_star = w
        self.d = w.shape[0]
        self.psi = psi

    def psi_fn(self, z):
        return np.cos(2 * np.pi * np.asarray(z)) if self.psi == "cosine" else triangle_wave(z)

    def __call__(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.d:
            raise InvalidParameterError(
                f"The 'X' parameter of PeriodicNeuron must be an array of shape (n, {self.d}). Got shape {X.shape} instead."
            )
        return self.psi_fn(X @ self.w_star)

    def network(self, radius) -> ReLUNetwork:
        """The triangle wave as a depth-2 ReLU network, exact wherever |<w*, x>| <= R = ceil(radius).

        tri(z) = 1 - 4 relu(z + R) + sum_{k=1}^{4R-1} (-1)^{k+1} 8 relu(z + R - k/2) on [-R, R]
        (docs/theory/concepts.md, section concepts-periodic): first layer the shared direction w* with biases R - k/2, 4R units.
        For Gaussian inputs take radius ~ 8 ||w*|| (mass outside ~1e-15).
        """
        if self.psi != "triangle":
            raise InvalidParameterError(
                f"The 'psi' parameter of PeriodicNeuron must be 'triangle' for an exact ReLU network "
                f"(cos has none). Got {show(self.psi)} instead."
            )
        check_param("radius", radius, Interval(float, 0, None, closed="neither"), "PeriodicNeuron.network")
        R = int(math.ceil(radius))
        ks = np.arange(4 * R)  # unit k = 0 is relu(z + R), the affine part on [-R, R]
        coef = np.where(ks == 0, -4.0, 8.0 * (-1.0) ** (ks + 1))
        W1 = np.repeat(self.w_star[:, None], 4 * R, axis=1)
        return ReLUNetwork([W1, coef[:, None]], [R - ks / 2.0, np.array([1.0])])

    def __repr__(self):
        return f"PeriodicNeuron(d={self.d}, psi={self.psi!r}, |w*|={np.linalg.norm(self.w_star):.4g})"


class PeriodicNeurons(ConceptFamily):
    """psi(<w*, x>) with w* uniform on the sphere of radius 2r (Sha18 Thm 7) under N(0, I_d)."""

    def __init__(self, d, r, psi="cosine"):
        check_param("d", d, Interval(int, 1, None), "PeriodicNeurons")
        check_param("r", r, Interval(float, 0, None, closed="neither"), "PeriodicNeurons")
        check_param("psi", psi, Options(PSIS), "PeriodicNeurons")
        self.d, self.r, self.psi = int(d), float(r), psi
        self.domain = Gaussian(self.d)

    def _sample(self, rng):
        g = rng.standard_normal(self.d)
        return PeriodicNeuron(2 * self.r * g / np.linalg.norm(g), self.psi)

    def __repr__(self):
        return f"PeriodicNeurons(d={self.d}, r={self.r}, psi={self.psi!r})"
