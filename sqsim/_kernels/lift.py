"""The lifted function's closed form f(thres_q(z)) phi_D(sum_j N2(z_j)) (docs/theory/lift.md, section lift-closed-form), one pass.

Per point: the cell index of every coordinate (thres_q), N2 of every coordinate, phi_D of
their sum by linear interpolation in the exact table g(m) / kappa, and, for linear compressed
concepts f = sigma(w . x), the label sigma(h) from a table. No fastmath: the value is exact up
to the rounding of N2's ramps and of one interpolation.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from . import dual


@numba.njit(inline="always", cache=True)
def _n2(z, L, l, r, U):  # pragma: no cover
    v = 0.0
    for k in range(L.shape[0]):
        if not (z > L[k] and z < U[k]):  # off S_k (probability 1 - 2 eps): N2's trapezoid k is 0
            continue
        up = (z - L[k]) / (l[k] - L[k])
        up = 0.0 if up < 0.0 else (1.0 if up > 1.0 else up)
        dn = (z - r[k]) / (U[k] - r[k])
        dn = 0.0 if dn < 0.0 else (1.0 if dn > 1.0 else dn)
        v += up - dn
    return v


@numba.njit(inline="always", cache=True)
def _phi(V, phi_tab, kmax, kappa):  # pragma: no cover
    u = kmax - kappa * V
    if not (u > 0.0 and u < kmax):  # also NaN: never index the table with garbage
        return 0.0
    m = int(math.floor(u))
    frac = u - m
    return phi_tab[m] + frac * (phi_tab[m + 1] - phi_tab[m])


@numba.njit(inline="always", cache=True)
def _cell(z, boundaries):  # pragma: no cover
    """thres_q(z): the number of boundaries <= z."""
    k = 0
    while k < boundaries.shape[0] and z >= boundaries[k]:
        k += 1
    return k


@dual
def lift_features(Z, boundaries, L, l, r, U, phi_tab, kmax, kappa):  # pragma: no cover
    """(cells, phi): cells[i, j] = thres_q(Z[i, j]) and phi[i] = phi_D(sum_j N2(Z[i, j]))."""
    n, d = Z.shape
    cells = np.empty((n, d), dtype=np.int64)
    phi = np.empty(n, dtype=np.float64)
    for i in numba.prange(n):
        V = 0.0
        for j in range(d):
            cells[i, j] = _cell(Z[i, j], boundaries)
            V += _n2(Z[i, j], L, l, r, U)
        phi[i] = _phi(V, phi_tab, kmax, kappa)
    return cells, phi


@dual
def lifted_linear(Z, boundaries, L, l, r, U, phi_tab, kmax, kappa, w, h_offset, sigma_tab):  # pragma: no cover
    """f(thres_q(z)) phi_D(sum_j N2(z_j)) for f = sigma(w . x) (sigma tabulated from h_offset on)."""
    n, d = Z.shape
    out = np.empty(n, dtype=np.float64)
    for i in numba.prange(n):
        V = 0.0
        h = 0
        for j in range(d):
            h += w[j] * _cell(Z[i, j], boundaries)
            V += _n2(Z[i, j], L, l, r, U)
        p = _phi(V, phi_tab, kmax, kappa)
        out[i] = sigma_tab[h - h_offset] * p if p != 0.0 else 0.0
    return out
