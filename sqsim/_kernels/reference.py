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


def ziggurat_np(key, base, t, signed):
    """numpy twin of adapter._ziggurat, vectorised: (g, next t) for arrays of keys, positions and word
    counters (uint64); each round redraws only the still-rejected entries, so every entry consumes
    exactly the words the kernel consumes."""
    from .adapter import GOLD, LAYER_MASK, SIGN_BIT, STRIDE, ZIG_DF, ZIG_F, ZIG_R, ZIG_X, ZIG_XS
    from .bits import mix64_np

    key = np.asarray(key, dtype=np.uint64)
    base = np.asarray(base, dtype=np.uint64)
    t = np.array(t, dtype=np.uint64, copy=True)
    g = np.empty(key.shape[0], dtype=np.float64)
    neg = np.zeros(key.shape[0], dtype=bool)

    def word(idx):
        with np.errstate(over="ignore"):
            w = mix64_np(key[idx] + (base[idx] + t[idx] * STRIDE) * GOLD)
        t[idx] += np.uint64(1)
        return w

    def u53(w):
        return (w >> np.uint64(11)).astype(np.float64) * 2.0**-53

    todo = np.arange(key.shape[0])
    while todo.size:
        w = word(todo)
        i = (w & LAYER_MASK).astype(np.intp)
        x = (w >> np.uint64(11)).astype(np.float64) * ZIG_XS[i]
        done = x < ZIG_X[i + 1]
        tail = np.flatnonzero(~done & (i == 0))
        if tail.size:  # Marsaglia's tail method until every tail entry accepts
            xt = np.empty(tail.size)
            left = np.arange(tail.size)
            while left.size:
                a = word(todo[tail[left]])
                b = word(todo[tail[left]])
                xa = -np.log(u53(a) + 2.0**-53) / ZIG_R
                yb = -np.log(u53(b) + 2.0**-53)
                ok = yb + yb > xa * xa
                xt[left[ok]] = xa[ok]
                left = left[~ok]
            x[tail] = ZIG_R + xt
            done[tail] = True
        wedge = np.flatnonzero(~done)
        if wedge.size:
            iw = i[wedge]
            y = ZIG_F[iw] + u53(word(todo[wedge])) * ZIG_DF[iw]
            done[wedge] = y < np.exp(-0.5 * x[wedge] * x[wedge])
        fin = todo[done]
        g[fin] = x[done]
        neg[fin] = (w[done] & SIGN_BIT) != 0
        todo = todo[~done]
    if signed:
        g = np.where(neg, -g, g)
    return g, t


def cell_draws_np(codes, d, q, K, seed, lift):
    """numpy twin of adapter.cell_draws (the same counter-based streams and ziggurat, vectorised)."""
    from .adapter import GOLD
    from .bits import mix64_np

    codes = np.asarray(codes, dtype=np.int64)
    n = codes.shape[0]
    with np.errstate(over="ignore"):
        key_point = mix64_np(np.uint64(seed) ^ mix64_np(codes.astype(np.uint64) + GOLD))
        key = np.repeat(key_point, K * d)
        k = np.tile(np.repeat(np.arange(K, dtype=np.uint64), d), n)
        j = np.tile(np.arange(d, dtype=np.uint64), n * K)
        base = k * np.uint64(d) + j
    cells = (codes[:, None] // (q ** np.arange(d, dtype=np.int64))[None, :]) % q
    cell = np.repeat(cells, K, axis=0).reshape(-1)
    t = np.zeros_like(base)
    if q == 2:
        g, _ = ziggurat_np(key, base, t, False)
        z = np.where(cell == 1, g, -g)
    else:
        edges = np.concatenate([[-np.inf], lift.boundaries, [np.inf]])
        lo, hi = edges[cell], edges[cell + 1]
        z = np.empty(base.shape[0])
        todo = np.arange(base.shape[0])
        while todo.size:  # redraw (at the next words) until the draw lands in its cell
            g, t[todo] = ziggurat_np(key[todo], base[todo], t[todo], True)
            ok = (g >= lo[todo]) & (g < hi[todo])
            z[todo[ok]] = g[ok]
            todo = todo[~ok]
    Z = z.reshape(n * K, d)
    mult = lift.phi(lift.n2(Z).sum(axis=1))
    return Z, mult


def cell_draws_block_np(codes, d, q, k0, K, seed, lift):
    """numpy twin of adapter.cell_draws_block: the inner draws k0 .. k0 + K - 1 of every point."""
    Z, mult = cell_draws_np(codes, d, q, k0 + K, seed, lift)
    n = np.asarray(codes).shape[0]
    rows = (np.arange(n)[:, None] * (k0 + K) + k0 + np.arange(K)[None, :]).reshape(-1)
    return Z[rows], mult[rows]


def pilot_draws_np(n, d, seed, lift):
    """numpy twin of adapter.pilot_draws: signed ziggurat draws at positions i d + j of the stream of the
    point code 2^64 - 1, and phi_D(sum_j N2(z_j))."""
    from .adapter import GOLD
    from .bits import mix64_np

    with np.errstate(over="ignore"):
        key = mix64_np(np.uint64(seed) ^ mix64_np(np.uint64(2**64 - 1) + GOLD))
    base = np.arange(n * d, dtype=np.uint64)
    g, _ = ziggurat_np(np.full(n * d, key, dtype=np.uint64), base, np.zeros(n * d, dtype=np.uint64), True)
    Z = g.reshape(n, d)
    return Z, lift.phi(lift.n2(Z).sum(axis=1))


def fused_image_labels_np(phi_rows, codes, Y, d, q, K, seed, lift, reads=None):
    """numpy twin of adapter.fused_image_labels for a vectorised query phi_rows(Z, y): the draws of
    cell_draws_np (unread coordinates NaN for q = 2), out[i, m] = mean_k phi(z_k(x_i), Y[i, m] mult_k)."""
    Z, mult = cell_draws_np(codes, d, q, K, seed, lift)
    if reads is not None and q == 2:
        Z = Z.copy()
        Z[:, np.asarray(reads) == 0] = np.nan
    Y = np.asarray(Y, dtype=np.float64)
    out = np.empty(Y.shape)
    for m in range(Y.shape[1]):
        out[:, m] = np.asarray(phi_rows(Z, np.repeat(Y[:, m], K) * mult)).reshape(-1, K).mean(axis=1)
    return out


def pilot_pairs_np(n, d, seed, tied, lift):
    """numpy twin of adapter.pilot_pairs (q = 2)."""
    from .adapter import GOLD
    from .bits import mix64_np

    def key(code):
        with np.errstate(over="ignore"):
            return mix64_np(np.uint64(seed) ^ mix64_np(np.uint64(code) + GOLD))

    ka, kb, kc = key(2**64 - 1), key(2**64 - 2), key(2**64 - 3)
    base = np.arange(n * d, dtype=np.uint64)
    zeros = np.zeros(n * d, dtype=np.uint64)
    a, _ = ziggurat_np(np.full(n * d, ka, dtype=np.uint64), base, zeros, False)
    b, _ = ziggurat_np(np.full(n * d, kb, dtype=np.uint64), base, zeros, False)
    with np.errstate(over="ignore"):
        s1 = (mix64_np(kc + base * GOLD) & np.uint64(1)).astype(bool)
        s2 = (mix64_np(kc + (np.uint64(n * d) + base) * GOLD) & np.uint64(1)).astype(bool)
    t = np.tile(np.asarray(tied, dtype=bool), n)
    Z1 = np.where(s1, -a, a).reshape(n, d)
    Z2 = np.where(np.where(t, s1, s2), -b, b).reshape(n, d)
    return Z1, Z2, lift.phi(lift.n2(Z1).sum(axis=1)), lift.phi(lift.n2(Z2).sum(axis=1))


def encode_codes_np(X, q):
    """numpy twin of adapter.encode_codes."""
    X = np.asarray(X, dtype=np.int64)
    return (X * q ** np.arange(X.shape[1], dtype=np.int64)).sum(axis=1)
