"""Pure numpy twins of every kernel (used by the tests and as benchmark references)."""

from __future__ import annotations

import numpy as np

from .bits import index_mix_np, parity_np, value_mix_np


def character_sum_np(support: int, labels: np.ndarray) -> int:
    """sum_c (1 - 2 y_c) (-1)^{|S & c|} for 0/1 labels y (twin of cube.character_sum)."""
    codes = np.arange(labels.shape[0], dtype=np.int64)
    signs = 1 - 2 * parity_np(codes & support)
    return int(np.sum((1 - 2 * labels.astype(np.int64)) * signs))


def fwht_np(a: np.ndarray) -> np.ndarray:
    """Unnormalised Walsh-Hadamard transform by reshaping (returns a new array)."""
    a = np.array(a, copy=True)
    n = a.shape[0]
    h = 1
    with np.errstate(over="ignore"):
        while h < n:
            v = a.reshape(-1, 2, h)
            x, y = v[:, 0, :].copy(), v[:, 1, :].copy()
            v[:, 0, :] = x + y
            v[:, 1, :] = x - y
            h *= 2
    return a


def key_hash_terms_np(values: np.ndarray, flat_index: np.ndarray) -> np.uint64:
    """sum 2 index_mix(index) value_mix(bits(value)) mod 2^64: the query-key hash of sqsim._keys."""
    vals = np.ascontiguousarray(values, dtype=np.float64) + 0.0
    bits = vals.view(np.uint64)
    with np.errstate(over="ignore"):
        terms = np.uint64(2) * index_mix_np(flat_index) * value_mix_np(bits)
        return np.uint64(np.sum(terms, dtype=np.uint64))


def network_forward_np(X: np.ndarray, weights, biases) -> np.ndarray:
    """numpy twin of network.network_forward: ReLU on hidden layers, linear output."""
    h = np.asarray(X, dtype=np.float64)
    for i, (W, b) in enumerate(zip(weights, biases)):
        h = h @ W + b
        if i < len(weights) - 1:
            h = np.maximum(h, 0.0)
    return h


def cell_draws_np(codes, d, q, K, seed, lift):
    """numpy twin of adapter.cell_draws (the same counter-based streams, vectorised over all draws)."""
    from .bits import mix64_np

    codes = np.asarray(codes, dtype=np.int64)
    n = codes.shape[0]
    gold = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        sc_point = mix64_np(np.uint64(seed) ^ mix64_np(codes.astype(np.uint64) + gold))
        sc = np.repeat(sc_point, K * d)
        k = np.tile(np.repeat(np.arange(K, dtype=np.uint64), d), n)
        j = np.tile(np.arange(d, dtype=np.uint64), n * K)
        base = k * np.uint64(d) + j
    cells = (codes[:, None] // (q ** np.arange(d, dtype=np.int64))[None, :]) % q
    cell = np.repeat(cells, K, axis=0).reshape(-1)

    def normal(s, counter, sine=False):
        with np.errstate(over="ignore"):
            a = mix64_np(s ^ (counter * gold))
            b = mix64_np(a ^ gold)
        u1 = ((a >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0**-53
        u2 = (b >> np.uint64(11)).astype(np.float64) * 2.0**-53
        trig = np.sin if sine else np.cos
        return np.sqrt(-2.0 * np.log(u1)) * trig(2.0 * np.pi * u2)

    if q == 2:
        odd = (j % np.uint64(2)) == 1
        pair_base = np.where(odd, base - np.uint64(1), base)  # coordinate 2i + 1 uses 2i's pair (sine)
        g = np.abs(np.where(odd, normal(sc, pair_base, sine=True), normal(sc, pair_base)))
        z = np.where(cell == 1, g, -g)
    else:
        edges = np.concatenate([[-np.inf], lift.boundaries, [np.inf]])
        lo, hi = edges[cell], edges[cell + 1]
        z = normal(sc, base)
        t = np.zeros_like(base)
        bad = ~((z >= lo) & (z < hi))
        while bad.any():
            t[bad] += np.uint64(1)
            with np.errstate(over="ignore"):
                z[bad] = normal(mix64_np(sc[bad] + t[bad]), base[bad])
            bad = ~((z >= lo) & (z < hi))
    Z = z.reshape(n * K, d)
    mult = lift.phi(lift.n2(Z).sum(axis=1))
    return Z, mult
