"""Fast Walsh-Hadamard transform (unnormalised), cache blocked, in place.

$\\hat a(S) = \\sum_c a_c (-1)^{|S \\cap c|}$ (MATH.md section 1, "Fourier on the cube").
Two passes over memory: the low ``block_bits`` stages inside contiguous blocks (L1/L2
resident), then the high stages on tiles of ``TILE`` adjacent columns gathered into a
private buffer. Works for float64 (exact sums of integers below 2^53) and for uint64
(arithmetic modulo 2^64, used for query keys).
"""

from __future__ import annotations

import numba
import numpy as np

TILE = 8


@numba.njit(parallel=True, cache=True)
def fwht_inplace(a, block_bits):  # pragma: no cover
    n = a.shape[0]
    bsize = min(n, 1 << block_bits)
    nblocks = n // bsize
    for b in numba.prange(nblocks):
        base = b * bsize
        h = 1
        while h < bsize:
            for i in range(base, base + bsize, 2 * h):
                for j in range(i, i + h):
                    u = a[j]
                    v = a[j + h]
                    a[j] = u + v
                    a[j + h] = u - v
            h *= 2
    if nblocks > 1:
        tile = min(TILE, bsize)
        ntiles = bsize // tile
        for t in numba.prange(ntiles):
            buf = np.empty((nblocks, tile), dtype=a.dtype)
            col0 = t * tile
            for i in range(nblocks):
                for k in range(tile):
                    buf[i, k] = a[i * bsize + col0 + k]
            h = 1
            while h < nblocks:
                for i in range(0, nblocks, 2 * h):
                    for j in range(i, i + h):
                        for k in range(tile):
                            u = buf[j, k]
                            v = buf[j + h, k]
                            buf[j, k] = u + v
                            buf[j + h, k] = u - v
                h *= 2
            for i in range(nblocks):
                for k in range(tile):
                    a[i * bsize + col0 + k] = buf[i, k]
    return a
