"""Cell-conditioned Gaussian draws for the Theorem 3.2 adapter (MATH.md 4), one compiled pass.

For Boolean (or Z_q) point codes c and inner draws k = 0..K-1, coordinate j of z_k(x) is drawn
from N(0, 1) conditioned on the cell I_{x_j}: for q = 2 as sign(x_j) |g| (one Box-Muller pair
for coordinates 2i and 2i + 1), for q >= 3 by rejection (g redrawn until it lands in the cell). Each normal g comes from Box-Muller on two
uniforms taken from counter-based streams (splitmix64; see ``_draw_point``), so the draws are a
fixed function of (seed, x) whatever the batch, thread count or order. The kernel also
returns phi_D(sum_j N2(z_j)), the label multiplier of Eq. (7).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from . import dual
from .bits import mix64
from .lift import _n2, _phi

INV53 = 1.0 / 9007199254740992.0  # 2^-53
USALT = np.uint64(0xA0761D6478BD642F)
GOLD = np.uint64(0x9E3779B97F4A7C15)
S11 = np.uint64(11)


@numba.njit(inline="always", cache=True)
def _normal_pair(seed, counter):  # pragma: no cover
    """Both Box-Muller outputs (r cos, r sin) of the uniforms at ``counter`` of the stream ``seed``."""
    a = mix64(seed ^ (counter * GOLD))
    b = mix64(a ^ GOLD)
    u1 = (float(a >> S11) + 1.0) * INV53  # (0, 1]
    u2 = float(b >> S11) * INV53  # [0, 1)
    r = math.sqrt(-2.0 * math.log(u1))
    return r * math.cos(2.0 * math.pi * u2), r * math.sin(2.0 * math.pi * u2)


@numba.njit(inline="always", cache=True)
def _normal(seed, counter):  # pragma: no cover
    return _normal_pair(seed, counter)[0]


@numba.njit(inline="always", cache=True)
def _uniform(seed, counter):  # pragma: no cover
    return float(mix64(seed ^ (counter * GOLD) ^ USALT) >> S11) * INV53  # [0, 1)


@numba.njit(inline="always", cache=True)
def _erfinv(u):  # pragma: no cover
    """erf^{-1}(u) for u in [0, 1) by Newton's method on math.erf.

    The start u sqrt(pi)/2 lies below the root (erf is concave on [0, inf)), so the iterates rise
    monotonically to it; the loop stops when a step no longer changes x.
    """
    x = u * 0.886226925452758  # sqrt(pi) / 2: erf(x) <= 2x / sqrt(pi)
    for _ in range(200):
        step = (u - math.erf(x)) / (1.1283791670955126 * math.exp(-x * x))
        x += step
        if abs(step) <= 1e-17 * x:
            break
    return x


@numba.njit(inline="always", cache=True)
def _draw_point_reads(z, reads, p_in_s, seed, c, K, k, d, q, boundaries, L, l, r, U):  # pragma: no cover
    """As :func:`_draw_point` for q = 2, but coordinates the query never reads (reads[j] == 0) only get
    their N2: with probability P[|g| < U] = erf(U / sqrt 2) the coordinate lies in S and
    |z| = sqrt(2) erfinv(u) exactly (u uniform below that probability), else N2 = 0 and z is
    left as NaN (never read)."""
    sc = mix64(seed ^ mix64(np.uint64(c) + GOLD))
    V = 0.0
    rem = c
    for j in range(d):
        cell = rem % 2
        rem //= 2
        base = np.uint64(k) * np.uint64(d) + np.uint64(j)
        if reads[j]:
            g = abs(_normal(sc, base))
            zj = g if cell == 1 else -g
        else:
            u = _uniform(sc, base)
            if u >= p_in_s:
                z[j] = np.nan
                continue
            g = 1.4142135623730951 * _erfinv(u)
            zj = g if cell == 1 else -g
        z[j] = zj
        V += _n2(zj, L, l, r, U)
    return V


@numba.njit(inline="always", cache=True)
def _draw_point(z, seed, c, K, k, d, q, boundaries, L, l, r, U):  # pragma: no cover
    """Fill z with the k-th inner draw z_k(x) of point code c; return sum_j N2(z_j).

    Streams: point c has its own seed mix64(seed ^ mix64(c + GOLD)); draw k, coordinate j use the
    counter k d + j in it; rejection attempt t >= 1 moves to the seed mix64(point seed + t). No two
    (c, k, j, t) share uniforms, whatever d, K or the number of rejections.
    """
    m = boundaries.shape[0]
    sc = mix64(seed ^ mix64(np.uint64(c) + GOLD))
    rem = c
    V = 0.0
    spare = 0.0
    for j in range(d):
        cell = rem % q
        rem //= q
        base = np.uint64(k) * np.uint64(d) + np.uint64(j)
        if q == 2:
            # one Box-Muller pair serves coordinates j (cos) and j + 1 (sin)
            if j % 2 == 0:
                g, spare = _normal_pair(sc, base)
            else:
                g = spare
            g = abs(g)
            zj = g if cell == 1 else -g
        else:
            lo = -np.inf if cell == 0 else boundaries[cell - 1]
            hi = np.inf if cell == m else boundaries[cell]
            t = np.uint64(0)
            zj = _normal(sc, base)
            while not (zj >= lo and zj < hi):
                t += np.uint64(1)
                zj = _normal(mix64(sc + t), base)
        z[j] = zj
        V += _n2(zj, L, l, r, U)
    return V


@dual
def cell_draws(codes, d, q, K, seed, boundaries, L, l, r, U, phi_tab, kmax, kappa):  # pragma: no cover
    """(Z of shape (n K, d), mult of shape (n K,)): inner draws z_k(x) and phi_D(sum_j N2(z_kj))."""
    n = codes.shape[0]
    Z = np.empty((n * K, d), dtype=np.float64)
    mult = np.empty(n * K, dtype=np.float64)
    for i in numba.prange(n):
        for k in range(K):
            row = i * K + k
            V = _draw_point(Z[row], seed, codes[i], K, k, d, q, boundaries, L, l, r, U)
            mult[row] = _phi(V, phi_tab, kmax, kappa)
    return Z, mult


@dual
def fused_image(phi, params, codes, ys, d, q, K, seed, reads, p_in_s, boundaries, L, l, r, U, phi_tab, kmax,
                kappa):  # pragma: no cover
    """phi_B(x, y) = (1/K) sum_k phi(z_k(x), y phi_D(sum_j N2(z_kj)), params) for a Numba query phi.

    The same draws as :func:`cell_draws`, consumed in place (no (n K, d) array); for q = 2 and a
    query that declares the coordinates it reads (``reads``), unread coordinates only get their N2
    (:func:`_draw_point_reads`). Returns the values
    and the first (row, value) where phi left [-1, 1] or was NaN (row -1 if none).
    """
    n = codes.shape[0]
    out = np.empty(n, dtype=np.float64)
    bad_row = np.full(n, -1, dtype=np.int64)
    bad_val = np.zeros(n, dtype=np.float64)
    reads_all = True
    for j in range(d):
        if reads[j] == 0:
            reads_all = False
    for i in numba.prange(n):
        z = np.empty(d, dtype=np.float64)
        acc = 0.0
        for k in range(K):
            if q == 2 and not reads_all:
                V = _draw_point_reads(z, reads, p_in_s, seed, codes[i], K, k, d, q, boundaries, L, l, r, U)
            else:
                V = _draw_point(z, seed, codes[i], K, k, d, q, boundaries, L, l, r, U)
            val = phi(z, ys[i] * _phi(V, phi_tab, kmax, kappa), params)
            if not (val >= -1.0 and val <= 1.0):
                if bad_row[i] < 0:
                    bad_row[i] = i
                    bad_val[i] = val
                val = 0.0
            acc += val
        out[i] = acc / K
    first = -1
    first_val = 0.0
    for i in range(n):
        if bad_row[i] >= 0:
            first = bad_row[i]
            first_val = bad_val[i]
            break
    return out, first, first_val
