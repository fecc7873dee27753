"""Row statistics of the correlation matrix of a character family, without storing N x N.

For characters chi_S on the cube with Fourier coefficients e(U) = E_x[(-1)^{U.x}] of the input
law, every correlation sqsim.dimension computes has the form

$$\\chi(S, T) = A + B (e_S + e_T) + C e_{S \\oplus T} + D e_S e_T$$

(docs/theory/dimension.md, section "Character families"). Let Z be the support of e (Z = {0}
for the uniform cube). In row S every column T with T not in Z and S xor T not in Z has the same
entry A + B e_S; only the at most 2 |Z| "special" columns differ. The kernel therefore computes,
per row and in O(|Z| + K) work, the K largest |chi| (ties: lower column index first), the row sum
of |chi|, the diagonal and the largest off-diagonal |chi|: what the SDA row bound and the
SQ-dimension shortcut need. Its numpy twin is the dense path of ``sqsim.dimension._correlations``
(the full matrix, then ``RowStatistics.from_rows``).
"""

from __future__ import annotations

import numba
import numpy as np

from . import dual


@dual
def character_row_stats(codes, index_of, zcodes, e, A, B, C, D, top_vals, top_idx, row_sums, diag,
                        max_off):  # pragma: no cover
    """Fill the per-row statistics; ``index_of[c]`` is the member index of code c (or -1), ``zcodes``
    the support of ``e``. ``top_vals``/``top_idx`` have shape (N, K), sorted decreasingly."""
    N = codes.shape[0]
    K = top_vals.shape[1]
    nz = zcodes.shape[0]
    for i in numba.prange(N):
        ci = codes[i]
        ei = e[ci]
        spec = np.empty(2 * nz, dtype=np.int64)
        ns = 0
        for z in range(nz):
            for cand in (index_of[zcodes[z]], index_of[ci ^ zcodes[z]]):
                if cand >= 0:
                    dup = False
                    for t in range(ns):
                        if spec[t] == cand:
                            dup = True
                            break
                    if not dup:
                        spec[ns] = cand
                        ns += 1
        spec = np.sort(spec[:ns])
        base = abs(A + B * ei)
        # candidates: the special columns and the first K ordinary ones (all at |base|)
        cv = np.empty(ns + K, dtype=np.float64)
        cj = np.empty(ns + K, dtype=np.int64)
        s = 0.0
        mo = 0.0
        for t in range(ns):
            j = spec[t]
            ej = e[codes[j]]
            v = A + B * (ei + ej) + C * e[ci ^ codes[j]] + D * ei * ej
            if j == i:
                diag[i] = v
            elif abs(v) > mo:
                mo = abs(v)
            cv[t] = abs(v)
            cj[t] = j
            s += abs(v)
        n = ns
        t = 0
        j = 0
        while n < ns + K and j < N:
            if t < ns and spec[t] == j:
                t += 1
            else:
                cv[n] = base
                cj[n] = j
                n += 1
            j += 1
        ordinary = N - ns  # every ordinary column differs from i (e(0) = 1, so i is special)
        s += ordinary * base
        if ordinary > 0 and base > mo:
            mo = base
        # sort the candidates by index, then stably by decreasing value: ties keep the lower index first
        by_j = np.argsort(cj[:n], kind="mergesort")
        vals_by_j = cv[:n][by_j]
        js = cj[:n][by_j]
        order = np.argsort(-vals_by_j, kind="mergesort")
        for k in range(min(K, n)):
            top_vals[i, k] = vals_by_j[order[k]]
            top_idx[i, k] = js[order[k]]
        row_sums[i] = s
        max_off[i] = mo
    return top_vals

