"""Evaluation of fully connected ReLU networks on batches, one compiled pass.

Parameters arrive flattened: ``sizes`` = (n_0, n_1, ..., n_L) and ``params`` the
concatenation, per layer l, of W_l (n_{l-1} x n_l, row major) then b_l (n_l). ReLU after
every layer but the last (the linear output). Rows are processed in parallel tiles with
private buffers, so no (n x width) intermediate is materialised.
"""

from __future__ import annotations

import numba
import numpy as np

from . import dual

COLS = 256


@dual
def network_forward(X, sizes, params, tile):  # pragma: no cover
    n = X.shape[0]
    L = sizes.shape[0] - 1
    width = 0
    for l in range(L + 1):
        width = max(width, sizes[l])
    out_dim = sizes[L]
    out = np.empty((n, out_dim), dtype=np.float64)
    offsets = np.zeros(L + 1, dtype=np.int64)
    for l in range(L):
        offsets[l + 1] = offsets[l] + sizes[l] * sizes[l + 1] + sizes[l + 1]
    ntiles = (n + tile - 1) // tile
    for c in numba.prange(ntiles):
        r0 = c * tile
        m = min(n, r0 + tile) - r0
        cur = np.empty((tile, width), dtype=np.float64)
        nxt = np.empty((tile, width), dtype=np.float64)
        for r in range(m):
            for k in range(sizes[0]):
                cur[r, k] = X[r0 + r, k]
        for l in range(L):
            n_in = sizes[l]
            n_out = sizes[l + 1]
            wbase = offsets[l]
            b = params[offsets[l] + n_in * n_out : offsets[l + 1]]
            if n_out == 1:  # a dot product (the usual scalar output layer)
                wcol = params[wbase : wbase + n_in]
                for r in range(m):
                    cr = cur[r]
                    acc1 = b[0]
                    for k in range(n_in):
                        acc1 += cr[k] * wcol[k]
                    nxt[r, 0] = acc1
            else:
                # blocks of COLS output units keep a (n_in x COLS) slice of W in cache across the tile's rows
                for j0 in range(0, n_out, COLS):
                    j1 = min(n_out, j0 + COLS)
                    for r in range(m):
                        acc = nxt[r, j0:j1]
                        acc[:] = b[j0:j1]
                        cr = cur[r]
                        for k in range(n_in):
                            xk = cr[k]
                            if l == 0 or xk != 0.0:  # hidden ReLU outputs are often 0: skip them
                                row = wbase + k * n_out  # a contiguous 1-D slice of params: vectorises
                                wk = params[row + j0 : row + j1]
                                for j in range(j1 - j0):
                                    acc[j] += xk * wk[j]
            if l < L - 1:
                for r in range(m):
                    for j in range(n_out):
                        v = nxt[r, j]
                        cur[r, j] = v if v > 0.0 else 0.0
            else:
                for r in range(m):
                    for j in range(n_out):
                        out[r0 + r, j] = nxt[r, j]
    return out
