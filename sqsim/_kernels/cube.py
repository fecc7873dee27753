"""Exact expectations over {0,1}^d and Z_q^d on integer codes (docs/theory/contracts.md, section contracts-performance).

A point x of {0,1}^d is the integer code c = sum_j x_j 2^j; a point of Z_q^d is
c = sum_j x_j q^j. Nothing here materialises the 2^d x d bit matrix.

Sums are returned unnormalised (divide by the domain size for an expectation).
"""

from __future__ import annotations

import numba
import numpy as np

from . import dual

from .bits import index_mix, parity64, popcount64, value_mix

ZERO_U = np.uint64(0)
TWO_U = np.uint64(2)


@dual
def character_sum(support, words, n):  # pragma: no cover
    r"""$\sum_{c < n} (1 - 2 y_c) (-1)^{|S \cap c|}$ for 0/1 labels packed in uint64 ``words``.

    (1 - 2y)(-1)^{S.c} = (-1)^{y XOR parity(S & c)}, so each word of 64 consecutive codes costs
    one XOR with the sign pattern of its codes and one popcount: the pattern of the low six
    bits is one 64-bit mask, and the high bits of the word's first code flip it or not.
    Exact (integer arithmetic); n = 2^d, any d >= 0.
    """
    nwords = words.shape[0]
    low = ZERO_U
    for l in range(64):
        if parity64(support & l) == 1:
            low |= np.uint64(1) << np.uint64(l)
    valid = ~ZERO_U if n >= 64 else (np.uint64(1) << np.uint64(n)) - np.uint64(1)
    ones = ~ZERO_U
    mism = 0
    for w in numba.prange(nwords):
        pattern = low
        if parity64(support & (w * 64)) == 1:
            pattern = pattern ^ ones
        mism += popcount64((words[w] ^ pattern) & valid)
    return n - 2 * mism


@dual(cache=False)  # takes the query's function: see dual()
def fused_query_pass(phi, params, d, q, label_index, label_values, block):  # pragma: no cover
    """One pass of a Numba query ``phi(x, y, params) -> float`` over every point of Z_q^d.

    ``x`` is an int64 digit buffer of length d (bits for q = 2), ``y`` a float label.
    For each label value v it accumulates sum_x phi(x, v) (the null pieces), the truth
    sum_x phi(x, f(x)) (``label_index`` selects f(x)), and the key hash
    sum_{v, c} 2 index_mix(v N + c) value_mix(bits(phi(x_c, v))) mod 2^64 (see ``sqsim._keys``).
    Sums are compensated (Kahan) inside each block and returned per block, so the caller can
    add the blocks exactly (math.fsum): the truth's rounding error stays a few ulps.
    The first value outside [-1, 1] or NaN is reported through (index, value).
    Returns (truth_parts, null_parts, hash, first_bad_index, first_bad_value).
    """
    n = label_index.shape[0]
    nv = label_values.shape[0]
    nblocks = (n + block - 1) // block
    null_part = np.zeros((nblocks, nv), dtype=np.float64)
    truth_part = np.zeros(nblocks, dtype=np.float64)
    hash_part = np.zeros(nblocks, dtype=np.uint64)
    bad_index = np.full(nblocks, -1, dtype=np.int64)
    bad_value = np.zeros(nblocks, dtype=np.float64)
    nu = np.uint64(n)
    for b in numba.prange(nblocks):
        start = b * block
        stop = min(n, start + block)
        x = np.zeros(d, dtype=np.int64)
        rem = start
        for j in range(d):
            x[j] = rem % q
            rem //= q
        fbuf = np.zeros(1, dtype=np.float64)
        ubuf = fbuf.view(np.uint64)
        nsum = np.zeros(nv, dtype=np.float64)
        ncomp = np.zeros(nv, dtype=np.float64)
        h = ZERO_U
        tsum = 0.0
        tcomp = 0.0
        for c in range(start, stop):
            li = label_index[c]
            for vi in range(nv):
                val = phi(x, label_values[vi], params)
                if not (val >= -1.0 and val <= 1.0):
                    if bad_index[b] < 0:
                        bad_index[b] = c
                        bad_value[b] = val
                    val = 0.0
                yk = val - ncomp[vi]  # Kahan: no fastmath, so LLVM keeps the compensation
                tk = nsum[vi] + yk
                ncomp[vi] = (tk - nsum[vi]) - yk
                nsum[vi] = tk
                if vi == li:
                    yt = val - tcomp
                    tt = tsum + yt
                    tcomp = (tt - tsum) - yt
                    tsum = tt
                fbuf[0] = val + 0.0
                h += TWO_U * index_mix(np.uint64(vi) * nu + np.uint64(c)) * value_mix(ubuf[0])
            # odometer increment
            j = 0
            while j < d:
                x[j] += 1
                if x[j] < q:
                    break
                x[j] = 0
                j += 1
        truth_part[b] = tsum
        for vi in range(nv):
            null_part[b, vi] = nsum[vi]
        hash_part[b] = h
    h = ZERO_U
    first_bad = -1
    first_val = 0.0
    for b in range(nblocks):
        h += hash_part[b]
        if first_bad < 0 and bad_index[b] >= 0:
            first_bad = bad_index[b]
            first_val = bad_value[b]
    return truth_part, null_part, h, first_bad, first_val


@dual
def character_key_sum(support, vi, n, block_bits):  # pragma: no cover
    """sum_c K_c (-1)^{|S & c|} modulo 2^64, K_c = index_mix(vi n + c) (the key of a character query).

    With these K_c, the key hash of sqsim._keys restricted to a +-1 table
    val_c = s (-1)^{|S & c|} is G+ (P + s Q) + G- (P - s Q) with P = sum_c K_c and
    Q = this sum, so a character's key costs one compute-only pass (no table in memory).
    """
    bsize = min(1 << block_bits, n)
    nblocks = n // bsize
    partial = np.zeros(nblocks, dtype=np.uint64)
    off = np.uint64(vi) * np.uint64(n)
    for b in numba.prange(nblocks):
        acc = ZERO_U
        base = b * bsize
        for l in range(bsize):
            c = base + l
            k = index_mix(off + np.uint64(c))
            if parity64(support & c) == 0:
                acc += k
            else:
                acc -= k
        partial[b] = acc
    total = ZERO_U
    for b in range(nblocks):
        total += partial[b]
    return total


@dual
def key_table(vi, n):  # pragma: no cover
    """index_mix(vi n + c) for every code c (input of the batch key transform)."""
    out = np.empty(n, dtype=np.uint64)
    off = np.uint64(vi) * np.uint64(n)
    for c in numba.prange(n):
        out[c] = index_mix(off + np.uint64(c))
    return out
