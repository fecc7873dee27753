"""The certified law of V = sum_j N2(z_j) given the cells of x (docs/theory/lifted-images.md).

phi_D(V) != 0 needs every N2(z_j) < 1 (one N2 = 1 gives V >= 1 >= kmax/kappa, where phi_D = 0), so only
the sub-probability law of N2 on {N2 < 1} matters: per cell c an atom at 0 plus a ramp part on (0, 1)
on which N2 is affine in z (section lifted-images-cell-law). Flooring / ceiling each ramp value to the lattice
(1/G) Z gives V^- <= V <= V^+ on {every N2 < 1}; their pmfs on {0, .., G} are exact truncated
convolutions of per-cell lattice pmfs (Gaussian CDF differences), and

    P[V^+ < b] <= P[V < b] <= P[V^- < b],    P[V^+ <= a] <= P[V <= a] <= P[V^- <= a]   (a > 0)

bracket P[V in (a, b)] for each open interval of phi_D's sign sets, whose end points are exact
Fractions (N3Constants.phi_breakpoints); P[V = 0] is the exact atom (section lifted-images-bracket). Every
floating-point step is non-negative sums, so its error is bounded a priori (section lifted-images-allowance).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

import numba
import numpy as np
from scipy import special

from .._errors import InvalidParameterError
from .._validation import show

UNIT_ROUNDOFF = 2.0**-53
#: absolute error allowed for one Gaussian CDF value at a rounded argument (scipy's ndtr is accurate to a
#: few ulps of its value <= 1; a rounded argument z moves it by at most phi(z) |z| 2^-52 <= 2.6e-17)
CDF_ERROR = 2e-15
#: default lattice resolution G (V^- and V^+ on (1/G) Z)
DEFAULT_GRID = 2048


@numba.njit(cache=True)
def truncated_convolve(a, b):  # pragma: no cover - compiled; its numpy twin is truncated_convolve_numpy
    """c[k] = sum_{i <= k} a[i] b[k - i] for k = 0 .. len(a) - 1 (sequential non-negative sums)."""
    n = a.shape[0]
    out = np.zeros(n)
    for k in range(n):
        s = 0.0
        for i in range(k + 1):
            s += a[i] * b[k - i]
        out[k] = s
    return out


def truncated_convolve_numpy(a, b):
    """The numpy twin of :func:`truncated_convolve`."""
    return np.convolve(a, b)[: a.shape[0]]


def _conv_error(G: int, ea: float, eb: float) -> float:
    """L1 error bound of a computed truncated convolution of pmfs (mass <= 1) with L1 errors ea, eb.

    |a^ * b^ - a * b|_1 <= ea + eb + ea eb (exact arithmetic), plus rounding: each entry is a sum of at
    most G + 1 non-negative products, relative error <= gamma_{G+2} <= 1.01 (G + 2) u.
    """
    return ea + eb + ea * eb + 1.01 * (G + 2) * UNIT_ROUNDOFF * (1 + ea) * (1 + eb)


@dataclass(frozen=True)
class EventProbabilities:
    """P[phi_D(V) != 0], P[phi_D(V) > 0], P[phi_D(V) < 0] given the cells of x, with a certified error.

    ``error`` bounds the absolute error of each of the three values (the midpoints of the certified
    intervals ``nonzero_interval``, ``positive_interval``, ``negative_interval``; ``nonzero_error`` etc.
    are the per-event bounds, whose maximum is ``error``); ``cell_counts`` is the histogram conditioned
    on (None: unconditional, and always None for q = 2); ``grid`` the lattice resolution G.
    """

    nonzero: float
    positive: float
    negative: float
    error: float
    nonzero_interval: tuple
    positive_interval: tuple
    negative_interval: tuple
    cell_counts: tuple | None
    grid: int
    nonzero_error: float = 0.0
    positive_error: float = 0.0
    negative_error: float = 0.0

    @property
    def zero(self) -> float:
        """P[phi_D(V) = 0] = 1 - nonzero (same error)."""
        return 1.0 - self.nonzero


def _ceil(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


def sign_sets(const) -> dict:
    """Open intervals (a, b) (exact Fractions) whose union is {v > 0: phi_D(v) > 0}, {< 0}, {!= 0}, up to
    finitely many points; adjacent pieces merged (V has no atom in (0, 1))."""
    pts = sorted(const.phi_breakpoints())  # (v_m, phi_D(v_m)) by increasing v; v from 0 to kmax/kappa
    pos, neg = [], []
    for (va, pa), (vb, pb) in itertools.pairwise(pts):
        if pa >= 0 and pb >= 0 and (pa > 0 or pb > 0):
            pos.append((va, vb))
        elif pa <= 0 and pb <= 0 and (pa < 0 or pb < 0):
            neg.append((va, vb))
        elif pa != 0 or pb != 0:  # strict sign change inside the segment
            vc = va + pa / (pa - pb) * (vb - va)
            (pos if pa > 0 else neg).append((va, vc))
            (neg if pa > 0 else pos).append((vc, vb))

    def merge(iv):
        out = []
        for a, b in sorted(iv):
            if out and out[-1][1] == a:
                out[-1] = (out[-1][0], b)
            else:
                out.append((a, b))
        return out

    return {"positive": merge(pos), "negative": merge(neg), "nonzero": merge(pos + neg)}


class LatticeLaw(NamedTuple):
    """The certified lattice law of V given the cells of x (:meth:`VLaw.lattice_law`).

    ``floor`` and ``ceil``: pmfs of V^- and V^+ on the lattice k / G, k = 0 .. G, restricted to
    {every N2(z_j) < 1} (V^- <= V <= V^+ there); ``atom``: P[V = 0] exactly (up to its rounding);
    ``error``: a bound on the L1 distance of each computed pmf from its exact value; ``cell_counts``:
    the histogram conditioned on, normalised (None: unconditional, always None for q = 2).
    """

    floor: np.ndarray
    ceil: np.ndarray
    atom: float
    error: float
    cell_counts: tuple | None


class VLaw:
    """Certified event laws of phi_D(V) for one lift, cached per histogram of cells (or unconditional)."""

    def __init__(self, lift, grid: int = DEFAULT_GRID):
        if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)) or not 16 <= int(grid) <= 2**15:
            raise InvalidParameterError(f"The 'grid' parameter of CompressedLift.event_probabilities must be an int "
                                        f"in [16, 32768]. Got {show(grid)} instead.")
        self.lift, self.G = lift, int(grid)
        self.d, self.q = lift.d, lift.q
        self._sets = sign_sets(lift.constants)
        self._cells: dict = {}
        self._powers: dict = {}
        self._laws: dict = {}
        self._events: dict = {}
        #: the largest image error over every histogram, per event kind (filled by the image builder)
        self.max_errors: dict = {}
        self.float_allowance = self._float_phi_allowance()

    # ------------------------------------------------------------------ per-cell lattice laws
    def _ramps(self, c):
        """The ramps inside cell c (None: all of R) as (z at u = 0, z at u = 1) pairs."""
        i, q = self.lift.intervals, self.q
        out = []
        for k in range(q - 1):
            if c is None or c == k + 1:  # boundary k+1 is the cell's lower end: the falling ramp [r, U]
                out.append((i.U[k], i.r[k]))
            if c is None or c == k:  # boundary k+1 is the cell's upper end: the rising ramp [L, l]
                out.append((i.L[k], i.l[k]))
        return out

    def _cell(self, c):
        """(pmf of floor(G N2), pmf of ceil(G N2), atom P[N2 = 0], L1 error) on {N2 < 1}, given cell c."""
        if c in self._cells:
            return self._cells[c]
        from ._intervals import gaussian_mass

        i, G, q = self.lift.intervals, self.G, self.q
        b = np.concatenate([[-np.inf], i.boundaries, [np.inf]])
        if c is None:
            mass, lo_edges, hi_edges = 1.0, np.concatenate([[-np.inf], i.U]), np.concatenate([i.L, [np.inf]])
        else:
            mass = float(gaussian_mass(b[c], b[c + 1]))
            lo_edges = np.array([-np.inf if c == 0 else i.U[c - 1]])
            hi_edges = np.array([np.inf if c == q - 1 else i.L[c]])
        atom = float(np.sum(gaussian_mass(lo_edges, hi_edges))) / mass
        ramp = np.zeros(G)  # mass of u in [m/G, (m+1)/G), m = 0 .. G-1
        u = np.arange(G + 1) / G
        for z0, z1 in self._ramps(c):
            z = z0 + u * (z1 - z0)
            F = special.ndtr(z) if max(z0, z1) <= 0 else -special.ndtr(-z)  # tail-accurate, monotone in z
            ramp += np.maximum(np.abs(np.diff(F)), 0.0)
        ramp /= mass
        floor = np.zeros(G + 1)
        ceil = np.zeros(G + 1)
        floor[0] = atom
        floor[:G] += ramp
        ceil[0] = atom
        ceil[1:] += ramp
        n_cdf = len(self._ramps(c)) * (G + 1) + 2 * len(lo_edges) + 2
        err = (2 * n_cdf * CDF_ERROR) / mass + 4 * (G + 2) * UNIT_ROUNDOFF
        self._cells[c] = (floor, ceil, atom, err)
        return self._cells[c]

    def _power(self, c, n: int):
        """(floor pmf, ceil pmf, atom, L1 error) of the sum of n coordinates of cell c (binary powering)."""
        key = (c, n)
        if key in self._powers:
            return self._powers[key]
        G = self.G
        if n == 0:
            one = np.zeros(G + 1)
            one[0] = 1.0
            out = (one, one.copy(), 1.0, 0.0)
        elif n == 1:
            out = self._cell(c)
        else:
            h = self._power(c, n // 2)
            r = self._power(c, n - n // 2)
            out = _combine(h, r, G)
        self._powers[key] = out
        return out

    # ------------------------------------------------------------------ the lattice law of V given the cells
    def lattice_law(self, cell_counts=None) -> LatticeLaw:
        """The certified lattice brackets of V = sum_j N2(z_j) on {every N2 < 1}, given the cells of x.

        ``cell_counts[c]`` is the number of coordinates of x in cell c (q non-negative integers summing
        to d), None the unconditional law (for q = 2 every histogram gives it). Returns
        :class:`LatticeLaw`: the pmfs of V^- = sum floor(G N2)/G and V^+ = sum ceil(G N2)/G on
        {0, 1/G, .., 1} (sub-probability: mass outside is on {some N2 >= 1}), the exact atom P[V = 0],
        and a bound on the L1 error of both computed pmfs (docs/theory/lifted-images.md, section
        "lifted-images-bracket"). Cached per histogram.
        """
        counts = self._check_counts(cell_counts)
        if counts in self._laws:
            return self._laws[counts]
        if counts is None:
            law = self._power(None, self.d)
        else:
            law = None
            for c, n in enumerate(counts):
                if n:
                    part = self._power(c, n)
                    law = part if law is None else _combine(law, part, self.G)
        out = LatticeLaw(*law, counts)
        self._laws[counts] = out
        return out

    # ------------------------------------------------------------------ events
    def events(self, cell_counts=None) -> EventProbabilities:
        law = self.lattice_law(cell_counts)
        counts = law.cell_counts
        if counts in self._events:
            return self._events[counts]
        ev = self._evaluate(law, counts)
        self._events[counts] = ev
        return ev

    def _check_counts(self, cell_counts):
        if cell_counts is None:
            return None
        try:
            counts = tuple(int(v) for v in cell_counts)
            ok = len(counts) == self.q and all(v >= 0 for v in counts) and sum(counts) == self.d \
                and all(float(v) == w for v, w in zip(counts, cell_counts))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise InvalidParameterError(
                f"The 'cell_counts' parameter of CompressedLift.event_probabilities must be {self.q} non-negative "
                f"integers summing to d = {self.d} (cell_counts[c] = number of coordinates in cell c), or None. "
                f"Got {show(cell_counts)} instead.")
        if self.q == 2:
            return None  # the law of V does not depend on x for q = 2 (docs/theory/lifted-images.md)
        return counts

    def _evaluate(self, law, counts) -> EventProbabilities:
        floor, ceil, atom, err = law.floor, law.ceil, law.atom, law.error
        G = self.G
        cf, cc = np.cumsum(floor), np.cumsum(ceil)  # P[V^- <= k/G], P[V^+ <= k/G] (non-negative sums)

        def below(cum, b):  # P[V^. < b] for b > 0
            k = _ceil(b * G) - 1
            return float(cum[min(k, G)]) if k >= 0 else 0.0

        def at_most(cum, a):  # P[V^. <= a] for a > 0
            return float(cum[min(a.numerator * G // a.denominator, G)])

        # every sum above is within err + 1.01 (G + 2) u of its exact lattice value
        allow = err + 1.01 * (G + 2) * UNIT_ROUNDOFF + self.float_allowance
        out = {}
        for name, ivs in self._sets.items():
            lo = hi = 0.0
            for a, b in ivs:
                if a == 0:
                    lo += below(cc, b) - atom
                    hi += below(cf, b) - atom
                else:
                    lo += below(cc, b) - at_most(cf, a)
                    hi += below(cf, b) - at_most(cc, a)
            slack = 2 * len(ivs) * allow
            lo, hi = max(0.0, lo - slack), min(1.0, hi + slack)
            out[name] = (lo, hi)
        mids = {k: (lo + hi) / 2 for k, (lo, hi) in out.items()}
        # the midpoints' own rounding: a relative 4 u and an absolute 4 u
        errs = {k: float((hi - lo) / 2 * (1 + 4 * UNIT_ROUNDOFF) + 4 * UNIT_ROUNDOFF) for k, (lo, hi) in out.items()}
        return EventProbabilities(float(mids["nonzero"]), float(mids["positive"]), float(mids["negative"]),
                                  max(errs.values()), tuple(map(float, out["nonzero"])),
                                  tuple(map(float, out["positive"])), tuple(map(float, out["negative"])), counts, G,
                                  errs["nonzero"], errs["positive"], errs["negative"])

    def _float_phi_allowance(self) -> float:
        """Mass of V where the simulator's float64 phi_D can have a different sign than the exact one.

        The float interpolation of the exact table errs by at most 16 u (kmax + kappa max|phi_D|) (in
        units of phi); where phi_D is not constant its slope is a non-zero integer, so the set where the
        signs can differ lies within that distance of phi_D's zeros (at most kmax + 1 of them), and V's
        density on (0, 1) is at most the largest conditional ramp density of one coordinate.
        """
        c = self.lift.constants
        lo, hi = c.phi_range()
        width = 16 * UNIT_ROUNDOFF * (c.kmax + c.kappa * max(abs(lo), abs(hi)))
        dens = 0.0
        for z0, z1 in self._ramps(None):
            near0 = 0.0 if min(z0, z1) <= 0 <= max(z0, z1) else min(abs(z0), abs(z1))
            dens = max(dens, math.exp(-near0**2 / 2) / math.sqrt(2 * math.pi) * abs(z1 - z0) * self.q * 1.01)
        return 2 * width * dens * (c.kmax + 1)


def _combine(a, b, G):
    fa, ca, aa, ea = a
    fb, cb, ab, eb = b
    return (truncated_convolve(fa, fb), truncated_convolve(ca, cb), aa * ab,
            _conv_error(G, ea, eb) + 2 * UNIT_ROUNDOFF)
