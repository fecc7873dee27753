"""Cell-conditioned Gaussian draws for the Theorem 3.2 adapter (docs/theory/inner-budgets.md), one compiled pass.

For Boolean (or Z_q) point codes c and inner draws k = 0..K-1, coordinate j of z_k(x) is drawn
from N(0, 1) conditioned on the cell I_{x_j}: for q = 2 as sign(x_j) |g| with |g| a half-normal
draw, for q >= 3 by rejection (g redrawn until it lands in the cell). Every g comes from a
1024-layer ziggurat (Marsaglia & Tsang 2000, with Doornik's 2005 fix: the layer index and the
uniform come from disjoint bits) driven by counter-based splitmix64 words, so the draws are a
fixed function of (seed, c, k, j) whatever the batch, thread count or order. The kernel also
returns phi_D(sum_j N2(z_j)), the label multiplier of Eq. (7).

Stream layout. Point code c under seed s has the key  key = mix64(s ^ mix64(c + GOLD)); its words
are the splitmix64 outputs  W(p) = mix64(key + p GOLD)  at positions p (mod 2^64). Coordinate j of
inner draw k owns the positions  p = (k d + j) + 2^40 t,  t = 0, 1, 2, ..., and consumes them in
order, one word per t:

* a ziggurat attempt takes one word w: bits 0-9 pick the layer i, bit 10 is the sign (signed draws
  only), bits 11-63 are the 53-bit uniform u (x = u X_i);
* a wedge test (x between X_{i+1} and X_i, i >= 1) takes the next word for its uniform;
* a tail draw (layer 0, x >= R) takes two words per attempt (Marsaglia 1964: x = -log(u1) / R,
  y = -log(u2), accept when 2 y > x^2, return R + x);
* for q >= 3, a draw that misses the cell is followed by a fresh ziggurat draw at the next t.

GOLD is odd, so p -> key + p GOLD is a bijection and mix64 is one: distinct positions give
distinct words. Positions are distinct for distinct (k, j, t) while K d <= 2^40 (checked) and
t < 2^24 (reaching 2^24 words would take millions of consecutive rejections), so no two
(k, j, attempt) of one point share random bits; distinct points have distinct keys up to a 64-bit
hash coincidence of mix64.

The ziggurat's tables (:func:`ziggurat_tables`) are computed once at import by the standard
recurrence, with R found so that the top layer closes at f(0) = 1; every layer then has area V to
about 2e-13 relative (tested), so the law of g is N(0, 1) up to a total variation of about 2e-13.
With 1024 layers 99.57 % of the draws take one word and a compare; the other 0.43 % (wedges, the
tail) cost an exp or two logs.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from . import dual
from .bits import mix64
from .lift import _n2, _phi

INV53 = 1.0 / 9007199254740992.0  # 2^-53
GOLD = np.uint64(0x9E3779B97F4A7C15)
S11 = np.uint64(11)
ZERO = np.uint64(0)
ONE = np.uint64(1)
TWO = np.uint64(2)
#: position stride between the successive words t of one coordinate (K d must stay below it)
STRIDE_BITS = 40
STRIDE = np.uint64(1 << STRIDE_BITS)
LAYER_MASK = np.uint64(1023)
SIGN_BIT = np.uint64(1024)

ZIG_LAYERS = 1024
#: points per parallel task of :func:`fused_image` (its scratch buffers are allocated once per task)
CHUNK = 64


def _layers(r, n, dt):
    """(residual, V, [X_1 .. X_{n-1}]) of the ziggurat recurrence from the base edge r in the arithmetic
    dt (float or np.longdouble); residual = V / X_{n-1} - (1 - f(X_{n-1})) is 0 when the top layer
    closes at f(0) = 1 and positive when r is too small (1.0 if the layers overshoot the top).

    f(X_{i+1}) = V / X_i + f(X_i) is followed directly while f < 1/2 and through c = 1 - f above, so
    that neither branch loses digits to cancellation."""
    if dt is float:
        exp, log, log1p, expm1, sqrt = math.exp, math.log, math.log1p, math.expm1, math.sqrt
    else:
        exp, log, log1p, expm1, sqrt = np.exp, np.log, np.log1p, np.expm1, np.sqrt
    half, one, two = dt(0.5), dt(1), dt(2)
    fx = exp(-half * r * r)
    # the base layer: the box [0, r] x [0, f(r)] and the tail beyond r (its mass in double precision)
    v = r * fx + dt(math.sqrt(math.pi / 2) * math.erfc(float(r) / math.sqrt(2)))
    xs = [r]
    x = r
    cx = None
    for _ in range(n - 2):
        if cx is None:
            fx = v / x + fx
            if fx < half:
                x = sqrt(-two * log(fx))
                xs.append(x)
                continue
            cx = one - fx  # exact for fx in [1/2, 1]
        else:
            cx = cx - v / x
        if not cx > 0:
            return 1.0, v, None
        x = sqrt(-two * log1p(-cx))
        xs.append(x)
    return v / x + expm1(-half * x * x), v, xs


def ziggurat_tables(n: int = ZIG_LAYERS):
    """(R, V, X, F) of an n-layer ziggurat for f(x) = exp(-x^2 / 2) on [0, inf), as doubles.

    X[1] = R > X[2] > ... > X[n-1] > X[n] = 0 are the layer edges and F[i] = f(X[i]); layer i >= 1
    is the box [0, X[i]] x [F[i], F[i+1]] and layer 0 the base [0, R] x [0, f(R)] plus the tail
    beyond R, all of area V; X[0] = V / f(R) is the base's virtual width (F[0] = 0 is unused). R
    solves V / X[n-1] + f(X[n-1]) = 1 (the top layer closes at f(0) = 1): bisection in doubles, then
    false position in extended precision (np.longdouble, where the platform has it), so the tables are
    the rounded values of the exact recurrence; each layer's area is then V to about 2e-13 relative,
    the limit set by rounding the edges to doubles.
    """
    lo, hi = 1.0, 6.0
    while True:
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if _layers(mid, n, float)[0] > 0:
            lo = mid
        else:
            hi = mid
    ld = np.longdouble
    a, b = ld(lo), ld(hi)
    fa, fb = _layers(a, n, ld)[0], _layers(b, n, ld)[0]
    R = a if abs(fa) <= abs(fb) else b
    if fa > 0 > fb and fa < 1.0:
        for _ in range(8):  # Illinois false position inside the bracket [a, b]
            c = b - fb * (b - a) / (fb - fa)
            if not a < c < b:
                break
            fc = _layers(c, n, ld)[0]
            if fc == 0:
                a = b = c
                fa = fb = fc
                break
            if fc > 0:
                a, fa = c, fc
                fb = fb / 2
            else:
                b, fb = c, fc
                fa = fa / 2
        R = a if abs(_layers(a, n, ld)[0]) <= abs(_layers(b, n, ld)[0]) else b
    _, V, xs = _layers(R, n, ld)
    X = np.empty(n + 1)
    X[1:n] = np.array(xs, dtype=ld).astype(np.float64)
    X[n] = 0.0
    R, V = float(R), float(V)
    X[0] = V / math.exp(-0.5 * R * R)
    F = np.exp(-0.5 * X.astype(ld) ** 2).astype(np.float64)
    F[0] = 0.0  # layer 0 has no wedge
    return R, V, X, F


ZIG_R, ZIG_V, ZIG_X, ZIG_F = ziggurat_tables()
#: x = (w >> 11) ZIG_XS[i] = u X[i] exactly (scaling by 2^-53 is exact)
ZIG_XS = np.ascontiguousarray(ZIG_X[:-1] * INV53)
#: wedge heights F[i+1] - F[i]
ZIG_DF = np.ascontiguousarray(ZIG_F[1:] - ZIG_F[:-1])


@numba.njit(inline="always", cache=True)
def _point_key(seed, c):  # pragma: no cover
    return mix64(seed ^ mix64(np.uint64(c) + GOLD))


@numba.njit(inline="always", cache=True)
def _word(key, base, t):  # pragma: no cover
    """The word at position base + 2^40 t of the stream ``key``."""
    return mix64(key + (base + t * STRIDE) * GOLD)


@numba.njit(inline="always", cache=True)
def _u53(w):  # pragma: no cover
    """The top 53 bits of w as a uniform in [0, 1)."""
    return float(np.int64(w >> S11)) * INV53


@numba.njit(inline="always", cache=True)
def _ziggurat(key, base, t, signed):  # pragma: no cover
    """(g, next t): g ~ N(0, 1) if ``signed`` else |N(0, 1)|, from the words t, t + 1, ... of
    position ``base`` (see the module docstring for which word serves what)."""
    while True:
        w = _word(key, base, t)
        t += ONE
        i = np.intp(w & LAYER_MASK)
        x = float(np.int64(w >> S11)) * ZIG_XS[i]
        if x < ZIG_X[i + 1]:  # inside the layer's core: accept (about 99.57 %)
            break
        if i == 0:  # the tail beyond R
            while True:
                a = _word(key, base, t)
                b = _word(key, base, t + ONE)
                t += TWO
                xt = -math.log(_u53(a) + INV53) / ZIG_R  # u in (0, 1]
                yt = -math.log(_u53(b) + INV53)
                if yt + yt > xt * xt:
                    break
            x = ZIG_R + xt
            break
        w2 = _word(key, base, t)
        t += ONE
        if ZIG_F[i] + _u53(w2) * ZIG_DF[i] < math.exp(-0.5 * x * x):  # under the curve in the wedge
            break
    if signed and (w & SIGN_BIT) != ZERO:
        x = -x
    return x, t


@numba.njit(inline="always", cache=True)
def _check_positions(K, d):  # pragma: no cover
    if np.int64(K) * np.int64(d) > np.int64(1) << STRIDE_BITS:
        raise ValueError("cell draws need K d <= 2^40 so that the streams of (k, j, attempt) stay disjoint")


@numba.njit(inline="always", cache=True)
def _cells(c, d, q, cells):  # pragma: no cover
    rem = c
    for j in range(d):
        cells[j] = rem % q
        rem //= q


@numba.njit(inline="always", cache=True)
def _halfnormals(GT, flag, key, k0, K, d):  # pragma: no cover
    """GT[j K + k] = |g| drawn at position (k0 + k) d + j of the stream ``key`` (inner draws k0 .. k0 + K - 1
    of one point, all d coordinates, stored coordinate-major). A branch-free pass, vectorised over k,
    takes every first ziggurat candidate (one word, two table gathers, a compare); the rare candidates
    outside their layer's core (about 0.43 %) are then redone by :func:`_ziggurat`, which starts from the
    same word, so every entry equals ``_ziggurat(key, (k0 + k) d + j, 0, False)``."""
    step = np.uint64(d) * GOLD  # position (k0 + k) d + j: state key + ((k0 + k) d + j) GOLD, an induction in k
    first = np.uint64(k0) * np.uint64(d)
    for j in range(d):
        o = j * K
        state = key + (first + np.uint64(j)) * GOLD
        for k in range(K):
            w = mix64(state)
            state += step
            i = np.intp(w & LAYER_MASK)
            x = float(np.int64(w >> S11)) * ZIG_XS[i]
            GT[o + k] = x
            flag[o + k] = x >= ZIG_X[i + 1]
    for j in range(d):
        o = j * K
        for k in range(K):
            if flag[o + k]:
                GT[o + k] = _ziggurat(key, np.uint64((k0 + k) * d + j), ZERO, False)[0]


@numba.njit(inline="always", cache=True)
def _n2_sums_q2(Vk, GT, K, d, U0, ramp):  # pragma: no cover
    """Vk[k] = sum_j N2(z_kj) in the order j = 0 .. d-1 (vectorised over k), with
    N2(z) = clip((U - |z|) / (U - r), 0, 1) for q = 2 (S = [-U, U], R = [-r, r]: exactly 1 on R, 0 off S)."""
    for k in range(K):
        Vk[k] = 0.0
    for j in range(d):
        o = j * K
        for k in range(K):
            Vk[k] += min(1.0, max(0.0, (U0 - GT[o + k]) / ramp))


@numba.njit(inline="always", cache=True)
def _signs_q2(c, d, reads, zmul):  # pragma: no cover
    """zmul[j] = +1 (x_j = 1), -1 (x_j = 0), or NaN when the query does not read coordinate j."""
    for j in range(d):
        s = 1.0 if (c >> j) & 1 else -1.0
        zmul[j] = s if reads[j] else np.nan


@numba.njit(inline="always", cache=True)
def _draw_point(z, key, cells, k, d, boundaries, L, l, r, U):  # pragma: no cover
    """q >= 3: fill z with the k-th inner draw z_k(x) of the point with stream ``key`` and cells
    ``cells`` (rejection into the cell, ziggurat normals); return sum_j N2(z_j)."""
    m = boundaries.shape[0]
    V = 0.0
    kd = np.uint64(k) * np.uint64(d)
    for j in range(d):
        base = kd + np.uint64(j)
        cell = cells[j]
        lo = -np.inf if cell == 0 else boundaries[cell - 1]
        hi = np.inf if cell == m else boundaries[cell]
        t = ZERO
        while True:
            zj, t = _ziggurat(key, base, t, True)
            if zj >= lo and zj < hi:
                break
        V += _n2(zj, L, l, r, U)
        z[j] = zj
    return V


@numba.njit(inline="always", cache=True)
def _cell_point(flat, mult, i, codes, d, q, k0, K, seed, boundaries, L, l, r, U, phi_tab, kmax, kappa):  # pragma: no cover
    """Rows i K .. i K + K - 1 of (flat, mult): the inner draws k0 .. k0 + K - 1 of point codes[i]."""
    key = _point_key(seed, codes[i])
    if q == 2:
        GT = np.empty(K * d, dtype=np.float64)
        flag = np.empty(K * d, dtype=np.uint8)
        zmul = np.empty(d, dtype=np.float64)
        Vk = np.empty(K, dtype=np.float64)
        every = np.ones(d, dtype=np.uint8)
        _halfnormals(GT, flag, key, k0, K, d)
        _n2_sums_q2(Vk, GT, K, d, U[0], U[0] - r[0])
        _signs_q2(codes[i], d, every, zmul)
        for k in range(K):
            row = i * K + k
            for j in range(d):
                flat[row * d + j] = GT[j * K + k] * zmul[j]
            mult[row] = _phi(Vk[k], phi_tab, kmax, kappa)
    else:
        cells = np.empty(d, dtype=np.int64)
        _cells(codes[i], d, q, cells)
        for k in range(K):
            row = i * K + k
            V = _draw_point(flat[row * d:(row + 1) * d], key, cells, k0 + k, d, boundaries, L, l, r, U)
            mult[row] = _phi(V, phi_tab, kmax, kappa)


@dual
def cell_draws(codes, d, q, K, seed, boundaries, L, l, r, U, phi_tab, kmax, kappa):  # pragma: no cover
    """(Z of shape (n K, d), mult of shape (n K,)): inner draws z_k(x) and phi_D(sum_j N2(z_kj))."""
    _check_positions(K, d)
    n = codes.shape[0]
    flat = np.empty(n * K * d, dtype=np.float64)
    mult = np.empty(n * K, dtype=np.float64)
    for i in numba.prange(n):
        _cell_point(flat, mult, i, codes, d, q, 0, K, seed, boundaries, L, l, r, U, phi_tab, kmax, kappa)
    return flat.reshape((n * K, d)), mult


@dual
def cell_draws_block(codes, d, q, k0, K, seed, boundaries, L, l, r, U, phi_tab, kmax, kappa):  # pragma: no cover
    """The inner draws k0 .. k0 + K - 1 of every point (rows of :func:`cell_draws` with K' >= k0 + K draws):
    lets a caller walk a large K in blocks of bounded memory."""
    _check_positions(k0 + K, d)
    n = codes.shape[0]
    flat = np.empty(n * K * d, dtype=np.float64)
    mult = np.empty(n * K, dtype=np.float64)
    for i in numba.prange(n):
        _cell_point(flat, mult, i, codes, d, q, k0, K, seed, boundaries, L, l, r, U, phi_tab, kmax, kappa)
    return flat.reshape((n * K, d)), mult


#: inner draws per task of the fused kernels (bounded scratch: KBLOCK d doubles per task)
KBLOCK = 4096


@numba.njit(inline="always", cache=True)
def _blocking(K):  # pragma: no cover
    """(block size, number of blocks) for K inner draws."""
    kb = K if K <= KBLOCK else KBLOCK
    return kb, (K + kb - 1) // kb if K > 0 else 1


@numba.njit(inline="always")
def _fused_chunk(ch, part, bad_row, bad_val, phi, params, codes, Y, d, q, K, seed, reads, boundaries, L, l, r, U,
                 phi_tab, kmax, kappa):  # pragma: no cover
    """One chunk of CHUNK tasks; task t is (point i = t // nb, block b = t % nb) and writes
    part[t, m] = sum over the draws k of block b of phi(z_k(x_i), Y[i, m] phi_D(V_k)), for every label
    column m (one set of draws serves every label)."""
    kb, nb = _blocking(K)
    n = codes.shape[0]
    nl = Y.shape[1]
    T = n * nb
    z = np.empty(d, dtype=np.float64)
    GT = np.empty(kb * d if q == 2 else 0, dtype=np.float64)
    flag = np.empty(kb * d if q == 2 else 0, dtype=np.uint8)
    zmul = np.empty(d, dtype=np.float64)
    Vk = np.empty(kb, dtype=np.float64)
    cells = np.empty(d, dtype=np.int64)
    U0 = U[0]
    ramp = U[0] - r[0]
    for t in range(ch * CHUNK, min(T, (ch + 1) * CHUNK)):
        i = t // nb
        k0 = (t % nb) * kb
        kn = min(kb, K - k0)
        key = _point_key(seed, codes[i])
        if q == 2:
            _halfnormals(GT, flag, key, k0, kn, d)
            _n2_sums_q2(Vk, GT, kn, d, U0, ramp)
            _signs_q2(codes[i], d, reads, zmul)
        else:
            _cells(codes[i], d, q, cells)
        for m in range(nl):
            part[t, m] = 0.0
        for k in range(kn):
            if q == 2:
                for j in range(d):
                    z[j] = GT[j * kn + k] * zmul[j]  # NaN for coordinates the query does not read
                V = Vk[k]
            else:
                V = _draw_point(z, key, cells, k0 + k, d, boundaries, L, l, r, U)
            pv = _phi(V, phi_tab, kmax, kappa)
            for m in range(nl):
                val = phi(z, Y[i, m] * pv, params)
                if not (val >= -1.0 and val <= 1.0):
                    if bad_row[t] < 0:
                        bad_row[t] = i
                        bad_val[t] = val
                    val = 0.0
                part[t, m] += val


@numba.njit(inline="always")
def _fused_reduce(part, bad_row, bad_val, n, nl, K):  # pragma: no cover
    """out[i, m] = (sum of point i's block sums, in block order) / K, and the first bad (point, value)."""
    kb, nb = _blocking(K)
    out = np.empty((n, nl), dtype=np.float64)
    for i in range(n):
        for m in range(nl):
            s = part[i * nb, m]
            for b in range(1, nb):
                s += part[i * nb + b, m]
            out[i, m] = s / K
    first = -1
    first_val = 0.0
    for t in range(bad_row.shape[0]):
        if bad_row[t] >= 0:
            first = bad_row[t]
            first_val = bad_val[t]
            break
    return out, first, first_val


@dual(cache=False)  # takes the query's function: see dual()
def fused_image_labels(phi, params, codes, Y, d, q, K, seed, reads, boundaries, L, l, r, U, phi_tab, kmax,
                       kappa):  # pragma: no cover
    """out[i, m] = (1/K) sum_k phi(z_k(x_i), Y[i, m] phi_D(sum_j N2(z_kj)), params) for a Numba query phi.

    The draws of :func:`cell_draws`, consumed in place, each draw serving every label column of Y (the
    oracle asks phi_B(x, v) for every label value v). K is walked in blocks of KBLOCK draws (one parallel
    task per (point, block); the block sums are added in block order, so the result does not depend on
    the thread count). For q = 2, coordinates with reads[j] = 0 are passed as NaN (their N2 still
    counts), so a query that reads more than it declared returns NaN. Returns (out, first bad point
    index or -1, its value): a value outside [-1, 1] or NaN.
    """
    _check_positions(K, d)
    n = codes.shape[0]
    kb, nb = _blocking(K)
    T = n * nb
    part = np.empty((T, Y.shape[1]), dtype=np.float64)
    bad_row = np.full(T, -1, dtype=np.int64)
    bad_val = np.zeros(T, dtype=np.float64)
    for ch in numba.prange((T + CHUNK - 1) // CHUNK):
        _fused_chunk(ch, part, bad_row, bad_val, phi, params, codes, Y, d, q, K, seed, reads, boundaries, L, l, r,
                     U, phi_tab, kmax, kappa)
    return _fused_reduce(part, bad_row, bad_val, n, Y.shape[1], K)


@dual(cache=False)  # takes the query's function: see dual()
def fused_image(phi, params, codes, ys, d, q, K, seed, reads, p_in_s, boundaries, L, l, r, U, phi_tab, kmax,
                kappa):  # pragma: no cover
    """phi_B(x, y) = (1/K) sum_k phi(z_k(x), y phi_D(sum_j N2(z_kj)), params) for a Numba query phi.

    :func:`fused_image_labels` with one label per point (``ys``). ``p_in_s`` (P[|g| < U]) is not
    needed by the ziggurat and kept for the caller's signature. Returns the values and the first
    (point, value) where phi left [-1, 1] or was NaN (point -1 if none).
    """
    _check_positions(K, d)
    n = codes.shape[0]
    kb, nb = _blocking(K)
    T = n * nb
    Y = ys.reshape((n, 1))
    part = np.empty((T, 1), dtype=np.float64)
    bad_row = np.full(T, -1, dtype=np.int64)
    bad_val = np.zeros(T, dtype=np.float64)
    for ch in numba.prange((T + CHUNK - 1) // CHUNK):
        _fused_chunk(ch, part, bad_row, bad_val, phi, params, codes, Y, d, q, K, seed, reads, boundaries, L, l, r,
                     U, phi_tab, kmax, kappa)
    out, first, first_val = _fused_reduce(part, bad_row, bad_val, n, 1, K)
    return out[:, 0], first, first_val


#: the point code whose stream the pilot uses: no Boolean point has it (codes are below 2^63)
PILOT_CODE = np.int64(-1)


@dual
def pilot_draws(n, d, seed, L, l, r, U, phi_tab, kmax, kappa):  # pragma: no cover
    """(Z of shape (n, d), mult of shape (n,)): n independent rows z ~ N(0, I_d) (unconditional) and
    phi_D(sum_j N2(z_j)), for the pilot of the variance-aware inner budget (docs/theory/inner-budgets.md).

    Entry (i, j) is the signed ziggurat draw at position i d + j of the stream of the point code
    2^64 - 1 (PILOT_CODE) under ``seed``: disjoint from every Boolean point's inner draws (their
    codes are below 2^63, so their stream keys differ; mix64 is a bijection)."""
    _check_positions(n, d)
    key = _point_key(seed, PILOT_CODE)
    Z = np.empty((n, d), dtype=np.float64)
    mult = np.empty(n, dtype=np.float64)
    for i in numba.prange(n):
        V = 0.0
        for j in range(d):
            g = _ziggurat(key, np.uint64(i * d + j), ZERO, True)[0]
            Z[i, j] = g
            V += _n2(g, L, l, r, U)
        mult[i] = _phi(V, phi_tab, kmax, kappa)
    return Z, mult


@dual
def pilot_pairs(n, d, seed, tied, U, r, phi_tab, kmax, kappa):  # pragma: no cover
    """q = 2: n independent pairs (z, z') with z ~ N(0, I_d) and z'_j in the cell of z_j where tied[j] = 1
    (z'_j ~ N(0, 1) independent of z elsewhere), and their multipliers phi_D(sum_j N2): the pilot of the
    variance-aware inner budget (docs/theory/inner-budgets.md).

    |z_ij| is the half-normal draw at position i d + j of the stream of point code 2^64 - 1 under
    ``seed``, |z'_ij| that of code 2^64 - 2 (the vectorised pass of the inner draws); the signs are bit 0
    of the words at positions i d + j (z) and n d + i d + j (z', untied coordinates) of code 2^64 - 3.
    No Boolean point has these codes (codes are below 2^63), so the pilot never shares a word with an
    inner draw."""
    _check_positions(2 * n, d)
    ka = _point_key(seed, np.int64(-1))
    kb = _point_key(seed, np.int64(-2))
    kc = _point_key(seed, np.int64(-3))
    G1 = np.empty(n * d, dtype=np.float64)
    G2 = np.empty(n * d, dtype=np.float64)
    flag = np.empty(n * d, dtype=np.uint8)
    _halfnormals(G1, flag, ka, 0, n, d)
    _halfnormals(G2, flag, kb, 0, n, d)
    Z1 = np.empty((n, d), dtype=np.float64)
    Z2 = np.empty((n, d), dtype=np.float64)
    m1 = np.empty(n, dtype=np.float64)
    m2 = np.empty(n, dtype=np.float64)
    U0 = U[0]
    ramp = U[0] - r[0]
    nd = np.uint64(n) * np.uint64(d)
    for i in numba.prange(n):
        V1 = 0.0
        V2 = 0.0
        for j in range(d):
            p = np.uint64(i * d + j)
            a = G1[j * n + i]
            b = G2[j * n + i]
            neg = (mix64(kc + p * GOLD) & ONE) != ZERO
            Z1[i, j] = -a if neg else a
            if tied[j] == 0:
                neg = (mix64(kc + (nd + p) * GOLD) & ONE) != ZERO
            Z2[i, j] = -b if neg else b
            V1 += min(1.0, max(0.0, (U0 - a) / ramp))
            V2 += min(1.0, max(0.0, (U0 - b) / ramp))
        m1[i] = _phi(V1, phi_tab, kmax, kappa)
        m2[i] = _phi(V2, phi_tab, kmax, kappa)
    return Z1, Z2, m1, m2


@dual
def encode_codes(X, q):  # pragma: no cover
    """Integer codes sum_j X[i, j] q^j of int64 points (the domain's encode, one pass)."""
    n, d = X.shape
    out = np.empty(n, dtype=np.int64)
    for i in numba.prange(n):
        c = np.int64(0)
        w = np.int64(1)
        for j in range(d):
            c += X[i, j] * w
            w *= q
        out[i] = c
    return out
