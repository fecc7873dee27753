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
