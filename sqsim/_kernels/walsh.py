"""Fast Walsh-Hadamard transform (unnormalised), cache blocked, in place.

$\\hat a(S) = \\sum_c a_c (-1)^{|S \\cap c|}$ (docs/theory/sq-model.md, section sq-fourier).
Two passes over memory: the low ``block_bits`` stages inside contiguous blocks (cache
resident; the first three stages fused into 8-point transforms, then radix-4 stages), and
the high stages on tiles of ``TILE`` adjacent columns gathered into a private buffer, where
they are the same radix-4 stages with stride TILE. Works for float64 (exact sums of integers
below 2^53) and for uint64 (arithmetic modulo 2^64, used for query keys).
"""

from __future__ import annotations

import numba
import numpy as np

from . import dual

TILE = 16
#: block of the in-cache stages: 2^12 float64 = 32 KiB (measured best at d = 24 on 2 cores)
BLOCK_BITS = 12


@numba.njit(inline="always", cache=True)
def _stages(a, base, length, h):  # pragma: no cover
    """Butterfly stages h, 2h, ... < length on a[base:base+length] (radix 4, then radix 2).

    The inner loops run over slice views, which LLVM vectorises (index arithmetic on one
    array with a runtime stride defeats its alias analysis).
    """
    while 4 * h <= length:
        for i in range(base, base + length, 4 * h):
            x0 = a[i : i + h]
            x1 = a[i + h : i + 2 * h]
            x2 = a[i + 2 * h : i + 3 * h]
            x3 = a[i + 3 * h : i + 4 * h]
            for k in range(h):
                a0 = x0[k]
                a1 = x1[k]
                a2 = x2[k]
                a3 = x3[k]
                b0 = a0 + a1
                b1 = a0 - a1
                b2 = a2 + a3
                b3 = a2 - a3
                x0[k] = b0 + b2
                x1[k] = b1 + b3
                x2[k] = b0 - b2
                x3[k] = b1 - b3
        h *= 4
    if 2 * h <= length:
        for i in range(base, base + length, 2 * h):
            x0 = a[i : i + h]
            x1 = a[i + h : i + 2 * h]
            for k in range(h):
                u = x0[k]
                v = x1[k]
                x0[k] = u + v
                x1[k] = u - v


@numba.njit(inline="always", cache=True)
def _radix8(a, i):  # pragma: no cover
    a0 = a[i]
    a1 = a[i + 1]
    a2 = a[i + 2]
    a3 = a[i + 3]
    a4 = a[i + 4]
    a5 = a[i + 5]
    a6 = a[i + 6]
    a7 = a[i + 7]
    b0 = a0 + a1
    b1 = a0 - a1
    b2 = a2 + a3
    b3 = a2 - a3
    b4 = a4 + a5
    b5 = a4 - a5
    b6 = a6 + a7
    b7 = a6 - a7
    c0 = b0 + b2
    c2 = b0 - b2
    c1 = b1 + b3
    c3 = b1 - b3
    c4 = b4 + b6
    c6 = b4 - b6
    c5 = b5 + b7
    c7 = b5 - b7
    a[i] = c0 + c4
    a[i + 4] = c0 - c4
    a[i + 1] = c1 + c5
    a[i + 5] = c1 - c5
    a[i + 2] = c2 + c6
    a[i + 6] = c2 - c6
    a[i + 3] = c3 + c7
    a[i + 7] = c3 - c7


@dual
def fwht_inplace(a, block_bits):  # pragma: no cover
    """Transform ``a`` (length 2^d) in place and return it; ``block_bits`` sets the cache block."""
    n = a.shape[0]
    bsize = min(n, 1 << block_bits)
    nblocks = n // bsize
    for b in numba.prange(nblocks):
        base = b * bsize
        if bsize >= 8:
            for i in range(base, base + bsize, 8):
                _radix8(a, i)
            _stages(a, base, bsize, 8)
        else:
            _stages(a, base, bsize, 1)
    if nblocks > 1:
        tile = min(TILE, bsize)
        ntiles = bsize // tile
        for t in numba.prange(ntiles):
            buf = np.empty(nblocks * tile, dtype=a.dtype)
            col0 = t * tile
            for i in range(nblocks):
                for k in range(tile):
                    buf[i * tile + k] = a[i * bsize + col0 + k]
            _stages(buf, 0, nblocks * tile, tile)
            for i in range(nblocks):
                for k in range(tile):
                    a[i * bsize + col0 + k] = buf[i * tile + k]
    return a
