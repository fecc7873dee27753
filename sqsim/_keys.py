"""Query keys (DESIGN.md section 3, "Query identity").

On enumerable finite domains the key hashes the query's values on the whole domain for
every label value v of the target:

    H = sum_{v, c} 2 index_mix(v N + c) value_mix(bits(phi(x_c, v)))   (mod 2^64)

with ``v`` the index of the label value, N the domain size, index_mix and value_mix the
splitmix64 finaliser on salted inputs (salted so that index 0 and the value 0.0, whose bit
pattern 0 is a fixed point of mix64, still count), and bits the IEEE-754 pattern (with -0.0
folded into 0.0). The sum is order-independent, so
chunked Python passes, the fused Numba pass and the closed form of characters (one
compute-only kernel pass, or one integer Walsh-Hadamard transform for a whole batch) all give
the same H for the same values: renaming or re-wrapping a query does not buy fresh noise.
Elsewhere the key hashes the values on the fixed probe set (256 points, target-independent probe
labels), never the name or the code. Keys only decide which answers repeat: the oracle re-checks a repeated answer
against the new query's band, so even a key collision never yields an answer outside it.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ._kernels.bits import value_mix_np

G_PLUS = int(value_mix_np(np.array([1.0]).view(np.uint64))[0])
G_MINUS = int(value_mix_np(np.array([-1.0]).view(np.uint64))[0])
MASK = (1 << 64) - 1


def character_hash(P: list[int], Q: list[int], signs: list[int]) -> int:
    """H of a +-1 table val_{v,c} = s_v (-1)^{|S & c|} from P_v = sum_c K and Q_v = sum_c K chi."""
    h = 0
    for p, q, s in zip(P, Q, signs):
        # sum_c 2 K [s chi = +1] = P + s Q and sum_c 2 K [s chi = -1] = P - s Q
        plus = (p + s * q) & MASK
        minus = (p - s * q) & MASK
        h += G_PLUS * plus + G_MINUS * minus
    return h & MASK


def label_hash(values: np.ndarray, vi: int, n: int, codes: np.ndarray) -> int:
    """The part of H contributed by phi(x_c, label v_vi) at the given codes (a Python int, not reduced)."""
    from ._kernels.reference import key_hash_terms_np

    return int(key_hash_terms_np(values, np.uint64(vi) * np.uint64(n) + np.asarray(codes).astype(np.uint64)))


def finalize(context: str, h: int) -> str:
    """The key string of a value hash ``h`` on an oracle ``context``."""
    b = hashlib.blake2b(digest_size=16)
    b.update(context.encode())
    b.update(int(h).to_bytes(8, "little"))
    return b.hexdigest()


def code_fingerprint(fn) -> str:
    """The function's bytecode and constants (so two lambdas with different bodies differ)."""
    fn = getattr(fn, "py_func", fn)
    code = getattr(fn, "__code__", None)
    if code is None:
        return type(fn).__qualname__
    return hashlib.blake2b(code.co_code + repr(code.co_consts).encode(), digest_size=8).hexdigest()


def probe_key(context: str, values: np.ndarray) -> str:
    """The key of a query on a Monte Carlo domain: a hash of its values on the fixed probe set only."""
    b = hashlib.blake2b(digest_size=16)
    b.update(context.encode())
    b.update(b"\0")
    b.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return b.hexdigest()


def alternative(key: str, attempt: int) -> str:
    """The ``attempt``-th deterministic next key for a query whose key collided with a different query's.

    Derived from the key and a counter only, never from a truth (keys must carry no target information).
    """
    b = hashlib.blake2b(digest_size=16)
    b.update(key.encode())
    b.update(b"\0alternative\0")
    b.update(int(attempt).to_bytes(2, "little"))
    return b.hexdigest()
