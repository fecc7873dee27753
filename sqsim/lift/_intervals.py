"""Interval geometry of the lift (docs/theory/lift.md, section lift-intervals) and the gadgets N1, N2 (Lemmas 2.4, 2.5).

For a modulus q and delta, with eps = delta / (q - 1), boundary k = 1 .. q-1 has
b_k = Phi^{-1}(k/q), R_k = [Phi^{-1}(k/q - eps/2), Phi^{-1}(k/q + eps/2)] (mass eps) and
S_k = [Phi^{-1}(k/q - eps), Phi^{-1}(k/q + eps)] (mass 2 eps): P[z in R] = delta and
P[z in S] = 2 delta exactly. thres_q(t) = k on I_k = [b_k, b_{k+1}).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from .._errors import InvalidParameterError

#: each of R_k's halves and S_k \ R_k's halves must span this many doubles, so that the end
#: points and the ramps between them are resolved to about 1e-6 relative precision
MIN_ULPS = 2**20


def gaussian_mass(a, b):
    """P[a <= z <= b] for z ~ N(0, 1), without cancellation in either tail."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    right = special.ndtr(-a) - special.ndtr(-b)  # both in the right tail: survival functions
    left = special.ndtr(b) - special.ndtr(a)
    straddle = (special.erf(b / math.sqrt(2)) - special.erf(a / math.sqrt(2))) / 2  # accurate near 0
    return np.where(a >= 0, right, np.where(b <= 0, left, straddle))


def normal_quantile(p: float) -> float:
    """Phi^{-1}(p), the lower half via the left tail and the upper half by symmetry (accurate near 1)."""
    return float(special.ndtri(p)) if p <= 0.5 else float(-special.ndtri(1.0 - p))


def _endpoints(q: int, delta: float) -> np.ndarray:
    """(q-1, 5) array: L, l, b, r, U per boundary."""
    eps = delta / (q - 1)
    if q == 2:  # b = 0 exactly; symmetric end points via erfinv, accurate for any eps
        r = math.sqrt(2.0) * special.erfinv(eps)
        U = math.sqrt(2.0) * special.erfinv(2 * eps)
        return np.array([[-U, -r, 0.0, r, U]])
    out = np.empty((q - 1, 5))
    for k in range(1, q):
        p = k / q
        probs = [p - eps, p - eps / 2, p, p + eps / 2, p + eps]
        out[k - 1] = [normal_quantile(x) for x in probs]
    return out


def _resolved(ends: np.ndarray, q: int, delta: float) -> bool:
    if not np.all(np.isfinite(ends)):
        return False
    eps = delta / (q - 1)
    for L, l, b, r, U in ends:
        pieces = [(L, l), (l, b), (b, r), (r, U)]
        for lo, hi in pieces:
            if not hi > lo:
                return False
            ulp = np.spacing(max(abs(lo), abs(hi)))
            if (hi - lo) / ulp < MIN_ULPS:
                return False
        # masses computed back from the end points must match eps and 2 eps
        if abs(gaussian_mass(l, r) / eps - 1) > 1e-6 or abs(gaussian_mass(L, U) / (2 * eps) - 1) > 1e-6:
            return False
    return True


def smallest_delta(q: int) -> float:
    """The smallest delta (to 3 significant digits) whose end points are resolvable for this q."""
    lo, hi = -320.0, math.log10(_delta_max(q) * 0.999)
    if not _resolved(_endpoints(q, 10**hi), q, 10**hi):
        return float("inf")
    for _ in range(60):
        mid = (lo + hi) / 2
        if _resolved(_endpoints(q, 10**mid), q, 10**mid):
            hi = mid
        else:
            lo = mid
    return float(f"{10**hi:.3g}") * 1.001


def _delta_max(q: int) -> float:
    """delta < 1/2 for q = 2, delta < (q-1)/(2q) for q >= 3 (the S_k stay disjoint, docs/theory/lift.md, section lift-intervals)."""
    return 0.5 if q == 2 else (q - 1) / (2 * q)


class Intervals:
    """Boundaries, R_k and S_k for (q, delta), with exact masses (docs/theory/lift.md, section lift-intervals)."""

    def __init__(self, q: int, delta: float, caller: str = "CompressedLift"):
        dmax = _delta_max(q)
        if not (isinstance(delta, (int, float)) and not isinstance(delta, bool) and 0 < delta < dmax):
            raise InvalidParameterError(
                f"The 'delta' parameter of {caller} must be a float in the range (0, {dmax:.6g}) for q = {q} "
                f"(so that the S_k stay disjoint). Got {delta!r} instead."
            )
        ends = _endpoints(q, float(delta))
        if not _resolved(ends, q, float(delta)):
            raise InvalidParameterError(
                f"The 'delta' parameter of {caller} must be resolvable in double precision for q = {q}: every "
                f"end point of R_k and S_k distinct with at least 2^20 doubles between neighbours. The smallest "
                f"usable delta is about {smallest_delta(q):.3g}. Got {delta!r} instead (the paper's d^(-10m) is not "
                f"representable; docs/theory/lift.md, section lift-precision)."
            )
        self.q, self.delta, self.eps = q, float(delta), float(delta) / (q - 1)
        self.L, self.l, self.boundaries, self.r, self.U = (np.ascontiguousarray(ends[:, i]) for i in range(5))

    @property
    def R(self) -> np.ndarray:
        return np.column_stack([self.l, self.r])

    @property
    def S(self) -> np.ndarray:
        return np.column_stack([self.L, self.U])

    def thres(self, t) -> np.ndarray:
        """thres_q(t) = #{k : t >= b_k} (the cell index, in Z_q)."""
        t = np.asarray(t, dtype=np.float64)
        return np.searchsorted(self.boundaries, t, side="right").astype(np.int64)

    def n1(self, t) -> np.ndarray:
        """N1(t) = sum_k clip((t - l_k) / (r_k - l_k), 0, 1) (Lemma 2.4): thres_q off the R_k."""
        t = np.asarray(t, dtype=np.float64)[..., None]
        return np.clip((t - self.l) / (self.r - self.l), 0.0, 1.0).sum(axis=-1)

    def n2(self, t) -> np.ndarray:
        """N2(t) = sum_k trapezoid_k(t) (Lemma 2.5): 1 on the R_k, 0 off the S_k, linear between."""
        t = np.asarray(t, dtype=np.float64)[..., None]
        up = np.clip((t - self.L) / (self.l - self.L), 0.0, 1.0)
        down = np.clip((t - self.r) / (self.U - self.r), 0.0, 1.0)
        return (up - down).sum(axis=-1)

    def _check_weights(self, w):
        if not np.all(np.isfinite(w)) or np.max(np.abs(w)) > 1e15:
            from ._compressed import LiftPrecisionError

            raise LiftPrecisionError(
                f"The 'delta' parameter of the lift must keep the gadget weights below 1e15 for an explicit network "
                f"(they are about q/delta; beyond, w z swamps the biases in float64). Got {self.delta!r} instead."
            )

    def n1_network(self):
        """N1 as a one-hidden-layer ReLUNetwork (2(q-1) units, input weights 1/(r_k - l_k))."""
        from ..concepts import ReLUNetwork

        w = 1.0 / (self.r - self.l)
        self._check_weights(w)
        W1 = np.concatenate([w, w])[None, :]
        b1 = np.concatenate([-self.l * w, -self.r * w])
        out = np.concatenate([np.ones(self.q - 1), -np.ones(self.q - 1)])[:, None]
        return ReLUNetwork([W1, out], [b1, np.zeros(1)])

    def n2_network(self):
        """N2 as a one-hidden-layer ReLUNetwork (4(q-1) units)."""
        from ..concepts import ReLUNetwork

        wu = 1.0 / (self.l - self.L)
        wd = 1.0 / (self.U - self.r)
        self._check_weights(np.concatenate([wu, wd]))
        W1 = np.concatenate([wu, wu, wd, wd])[None, :]
        b1 = np.concatenate([-self.L * wu, -self.l * wu, -self.r * wd, -self.U * wd])
        m = self.q - 1
        out = np.concatenate([np.ones(m), -np.ones(m), -np.ones(m), np.ones(m)])[:, None]
        return ReLUNetwork([W1, out], [b1, np.zeros(1)])

    def n2_ramp_density(self, grid: int = 4096):
        """Law of N2(z), z ~ N(0, 1): (P[N2 = 0], P[N2 = 1], density of the ramp part on a midpoint grid of (0, 1)).

        On each half of S_k minus R_k, N2 is affine in z, so the ramp density at u is
        sum over the 2(q-1) ramps of phi(z(u)) |dz/du|.
        """
        u = (np.arange(grid) + 0.5) / grid
        dens = np.zeros(grid)
        for L, l, r, U in zip(self.L, self.l, self.r, self.U):
            dens += _phi(L + u * (l - L)) * (l - L)
            dens += _phi(U - u * (U - r)) * (U - r)
        p_one = self.delta
        p_zero = 1.0 - 2.0 * self.delta
        return p_zero, p_one, dens


def _phi(x):
    return np.exp(-0.5 * np.asarray(x) ** 2) / math.sqrt(2 * math.pi)
