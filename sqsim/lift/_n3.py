"""The N3 gadget of docs/theory/lift.md, section lift-n3 (Lemma 2.6 as built for sqsim), in exact integer arithmetic.

C_D(y, z) = prod_{n=1}^{D} (z - y^n)(y^n z - 1) = sum_{j,k} c_{jk} z^j y^k, 0 <= j <= 2D, 0 <= k <= kmax = D(D+1).
Wminus = min_{c_jk != 0} (k - |j - D| D), W = kmax - Wminus, kappa = max(W, d), rho = 1/kappa, and

    N3(s; t) = ((-1)^D / kappa) sum_{c_jk != 0} c_jk relu((kmax - k) - kappa sum_i s_i - (j - D) t).

At t = 0 it is phi_D(sum_i s_i) with phi_D(v) = ((-1)^D / kappa) g(kmax - kappa v) and
g(u) = sum_k a_k relu(u - k), a_k = sum_j c_jk (the coefficients of C_D(y, 1)); g is piecewise
linear with integer values g(m) = sum_{k < m} a_k (m - k) at the integers, zero for u <= 0 and
for u >= kmax, so phi_D is tabulated exactly from Python integers for any D.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np


def _mul(p: dict, q: dict) -> dict:
    out: dict = {}
    for (j1, k1), c1 in p.items():
        for (j2, k2), c2 in q.items():
            key = (j1 + j2, k1 + k2)
            out[key] = out.get(key, 0) + c1 * c2
    return {k: v for k, v in out.items() if v != 0}


@lru_cache(maxsize=64)
def c_polynomial(D: int) -> dict:
    """{(j, k): c_jk} of C_D (exact Python integers)."""
    poly = {(0, 0): 1}
    for n in range(1, D + 1):
        poly = _mul(poly, {(1, 0): 1, (0, n): -1})  # z - y^n
        poly = _mul(poly, {(1, n): 1, (0, 0): -1})  # y^n z - 1
    return poly


@dataclass(frozen=True)
class N3Constants:
    """Exact constants of N3 for one (D, d) (docs/theory/lift.md, section lift-n3-constants).

    ``g_table`` comes from the univariate C_D(y, 1) = (-1)^D prod_n (1 - y^n)^2 (cheap for any D);
    the bivariate coefficients c_jk (needed only by the explicit network) are built on demand.
    W = kmax - Wminus with Wminus = -D(D-1)/2, attained by the single terms y^{D(D+1)/2} of z^0
    and z^{2D}; tests compare it with the minimum over the exact support for every D <= 12.
    """

    D: int
    d: int
    kmax: int
    w_minus: int
    W: int
    kappa: int
    g_table: tuple  # g(m) for m = 0 .. kmax (exact ints)

    @property
    def rho(self) -> float:
        return 1.0 / self.kappa

    @property
    def coefficients(self) -> tuple:
        """((j, k, c_jk), ...) with c_jk != 0, sorted (exact ints)."""
        return tuple(sorted((j, k, c) for (j, k), c in c_polynomial(self.D).items()))

    @property
    def units(self) -> int:
        return len(c_polynomial(self.D))

    @property
    def max_coefficient(self) -> int:
        return max(abs(c) for c in c_polynomial(self.D).values())

    @property
    def sign(self) -> int:
        return -1 if self.D % 2 else 1

    def phi_breakpoints(self):
        """(v_m, phi_D(v_m)) at v_m = (kmax - m) / kappa as exact Fractions, m = 0 .. kmax."""
        return [(Fraction(self.kmax - m, self.kappa), Fraction(self.sign * self.g_table[m], self.kappa))
                for m in range(self.kmax + 1)]

    def phi_range(self) -> tuple[float, float]:
        """Exact range of phi_D over [0, 1] (its extremes sit at breakpoints; phi_D(0) = phi_D(1) = 0)."""
        vals = [self.sign * g for g in self.g_table] + [0]
        return float(Fraction(min(vals), self.kappa)), float(Fraction(max(vals), self.kappa))


@lru_cache(maxsize=256)
def _g_table(D: int) -> tuple:
    kmax = D * (D + 1)
    P = np.zeros(kmax + 1, dtype=object)
    P[:] = 0
    P[0] = 1
    for n in range(1, D + 1):
        for _ in range(2):  # multiply by (1 - y^n)
            Q = P.copy()
            Q[n:] = Q[n:] - P[: kmax + 1 - n]
            P = Q
    a = P if D % 2 == 0 else -P  # C_D(y, 1) = (-1)^D prod (1 - y^n)^2
    k = np.arange(kmax + 1, dtype=object)
    A = np.concatenate([[0], np.cumsum(a)[:-1]])  # sum_{k < m} a_k
    B = np.concatenate([[0], np.cumsum(a * k)[:-1]])  # sum_{k < m} k a_k
    m = np.arange(kmax + 1, dtype=object)
    return tuple(int(v) for v in m * A - B)  # g(m) = sum_{k < m} a_k (m - k)


@lru_cache(maxsize=256)
def n3_constants(D: int, d: int) -> N3Constants:
    kmax = D * (D + 1)
    w_minus = -(D * (D - 1)) // 2
    W = kmax - w_minus
    return N3Constants(D, d, kmax, w_minus, W, max(W, d), _g_table(D))


def phi_table(const: N3Constants) -> np.ndarray:
    """g(m) / kappa * (-1)^D as float64, m = 0 .. kmax (phi_D(v) at u = kmax - kappa v = m)."""
    return np.array([float(Fraction(const.sign * g, const.kappa)) for g in const.g_table], dtype=np.float64)


def phi_closed_form(v, const: N3Constants) -> np.ndarray:
    """phi_D(v) by exact-table linear interpolation (numpy reference of the kernel)."""
    v = np.asarray(v, dtype=np.float64)
    tab = phi_table(const)
    u = const.kmax - const.kappa * v
    out = np.zeros_like(u)
    inside = (u > 0) & (u < const.kmax)
    m = np.floor(u[inside]).astype(np.int64)
    frac = u[inside] - m
    out[inside] = tab[m] + frac * (tab[np.minimum(m + 1, const.kmax)] - tab[m])
    return out


def n3_direct(s: np.ndarray, t: np.ndarray, const: N3Constants) -> np.ndarray:
    """N3(s; t) summed unit by unit in float64 (the formula of docs/theory/lift.md, section lift-n3, for tests)."""
    s = np.asarray(s, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    S = s.sum(axis=1)
    out = np.zeros(s.shape[0])
    for j, k, c in const.coefficients:
        out += c * np.maximum((const.kmax - k) - const.kappa * S - (j - const.D) * t, 0.0)
    return const.sign * out / const.kappa


def n3_exact(s_sum: Fraction, t: Fraction, const: N3Constants) -> Fraction:
    """N3 at rational (sum_i s_i, t) in exact arithmetic (for tests of Lemma 2.6)."""
    total = Fraction(0)
    for j, k, c in const.coefficients:
        arg = (const.kmax - k) - const.kappa * s_sum - (j - const.D) * t
        if arg > 0:
            total += c * arg
    return const.sign * total / const.kappa
