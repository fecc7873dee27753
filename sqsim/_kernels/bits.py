"""Bit helpers and the 64-bit mixing function behind query keys."""

from __future__ import annotations

import numba
import numpy as np

M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)
S30 = np.uint64(30)
S27 = np.uint64(27)
S31 = np.uint64(31)
ONE = np.uint64(1)


@numba.njit(inline="always", cache=True)
def parity64(x):  # pragma: no cover - tested through .py_func and the numpy twin
    """Parity of the number of set bits of a non-negative int64 (0 or 1)."""
    x ^= x >> 32
    x ^= x >> 16
    x ^= x >> 8
    x ^= x >> 4
    x ^= x >> 2
    x ^= x >> 1
    return x & 1


@numba.njit(inline="always", cache=True)
def mix64(z):  # pragma: no cover
    """The splitmix64 finaliser on a uint64 (a bijection with good avalanche)."""
    z = (z ^ (z >> S30)) * M1
    z = (z ^ (z >> S27)) * M2
    return z ^ (z >> S31)


#: salts so that neither index 0 nor the value 0.0 (bit pattern 0, a fixed point of mix64) hashes to 0
INDEX_SALT = np.uint64(0x9E3779B97F4A7C15)
VALUE_SALT = np.uint64(0xD1B54A32D192ED03)


@numba.njit(inline="always", cache=True)
def index_mix(i):  # pragma: no cover
    """The key-hash weight of flat index i (v N + c): mix64(i + INDEX_SALT)."""
    return mix64(i + INDEX_SALT)


@numba.njit(inline="always", cache=True)
def value_mix(bits):  # pragma: no cover
    """The key-hash image of a value's IEEE-754 bit pattern: mix64(bits ^ VALUE_SALT)."""
    return mix64(bits ^ VALUE_SALT)


def index_mix_np(i: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return mix64_np(np.asarray(i, dtype=np.uint64) + INDEX_SALT)


def value_mix_np(bits: np.ndarray) -> np.ndarray:
    return mix64_np(np.asarray(bits, dtype=np.uint64) ^ VALUE_SALT)


def mix64_np(z: np.ndarray) -> np.ndarray:
    """numpy twin of :func:`mix64` (uint64 arithmetic wraps modulo 2^64)."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> S30)) * M1
        z = (z ^ (z >> S27)) * M2
    return z ^ (z >> S31)


def parity_np(x: np.ndarray) -> np.ndarray:
    """numpy twin of :func:`parity64` for int64 arrays."""
    x = np.asarray(x, dtype=np.int64).copy()
    for s in (32, 16, 8, 4, 2, 1):
        x ^= x >> s
    return x & 1


P1 = np.uint64(0x5555555555555555)
P2 = np.uint64(0x3333333333333333)
P4 = np.uint64(0x0F0F0F0F0F0F0F0F)
H01 = np.uint64(0x0101010101010101)


@numba.njit(inline="always", cache=True)
def popcount64(x):  # pragma: no cover
    """Number of set bits of a uint64 (SWAR; LLVM turns it into popcnt where available)."""
    x = x - ((x >> np.uint64(1)) & P1)
    x = (x & P2) + ((x >> np.uint64(2)) & P2)
    x = (x + (x >> np.uint64(4))) & P4
    return (x * H01) >> np.uint64(56)


def pack_bits(y: np.ndarray) -> np.ndarray:
    """Pack 0/1 labels y_c into uint64 words (bit l of word w is y_{64 w + l})."""
    bits = np.packbits(np.asarray(y, dtype=np.uint8), bitorder="little")
    pad = (-bits.shape[0]) % 8
    if pad:
        bits = np.concatenate([bits, np.zeros(pad, dtype=np.uint8)])
    return bits.view(np.uint64).copy()
