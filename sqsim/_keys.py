"""Query keys (docs/theory/contracts.md, section contracts-query-identity).

On enumerable finite domains the key hashes the query's values on the whole domain for
every label value v of the target:

    H = sum_{v, c} 2 index_mix(v N + c) value_mix(bits(phi(x_c, v)))   (mod 2^64)

with ``v`` the index of the label value, N the domain size, index_mix and value_mix the
splitmix64 finaliser on salted inputs (salted so that index 0 and the value 0.0, whose bit
pattern 0 is a fixed point of mix64, still count), and bits the IEEE-754 pattern (with -0.0
folded into 0.0). The sum is order-independent, so
chunked Python passes, the fused Numba pass and the closed form of characters and label characters
(lookups in the integer Walsh-Hadamard transform of the index weights, computed once per domain size;
docs/theory/structured-queries.md) all give the same H for the same values: renaming or re-wrapping
a query does not buy fresh noise.
Elsewhere the key hashes the values on the fixed probe set (256 points, target-independent probe
labels), never the name or the code. Keys only decide which answers repeat: the oracle re-checks a repeated answer
against the new query's band, so even a key collision never yields an answer outside it.
"""

from __future__ import annotations

import hashlib
import struct

import numpy as np

from ._kernels.bits import value_mix_np

MASK = (1 << 64) - 1
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_VALUE_SALT = 0xD1B54A32D192ED03
_DOUBLE = struct.Struct("<d")
_UINT = struct.Struct("<Q")


def value_hash(x: float) -> int:
    """value_mix(bits(x)) for one float, -0.0 folded into 0.0 (a Python twin of the kernels' value_mix)."""
    z = _UINT.unpack(_DOUBLE.pack(float(x) + 0.0))[0] ^ _VALUE_SALT
    z = ((z ^ (z >> 30)) * _M1) & MASK
    z = ((z ^ (z >> 27)) * _M2) & MASK
    return z ^ (z >> 31)


G_PLUS = int(value_mix_np(np.array([1.0]).view(np.uint64))[0])
G_MINUS = int(value_mix_np(np.array([-1.0]).view(np.uint64))[0])


def two_value_hash(P, Q, g_plus, g_minus) -> int:
    """H of a two-valued table val_{v,c} = a_v if chi_S(c) = +1 else b_v (docs/theory/structured-queries.md).

    From P_v = sum_c K_{v,c} and Q_v = sum_c K_{v,c} chi_S(c) (mod 2^64; K the index weights) and
    g_plus[v] = value_hash(a_v), g_minus[v] = value_hash(b_v): since sum_c 2 K [chi = +1] = P + Q and
    sum_c 2 K [chi = -1] = P - Q, H = sum_v g_plus (P + Q) + g_minus (P - Q) mod 2^64.
    """
    h = 0
    for p, q, gp, gm in zip(P, Q, g_plus, g_minus):
        h += gp * (p + q) + gm * (p - q)
    return h & MASK


def character_hash(P: list[int], Q: list[int], signs: list[int]) -> int:
    """H of a +-1 table val_{v,c} = s_v (-1)^{|S & c|} from P_v = sum_c K and Q_v = sum_c K chi."""
    return two_value_hash(P, Q, [G_PLUS if s > 0 else G_MINUS for s in signs],
                          [G_MINUS if s > 0 else G_PLUS for s in signs])


def label_character_hash(P, Q, weights) -> int:
    """H of val_{v,c} = w_v chi_S(c) (a LabelCharacter's table, w_v its weight at label value v)."""
    return two_value_hash(P, Q, [value_hash(w) for w in weights], [value_hash(-w) for w in weights])


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


def finalizer(context: str):
    """``finalize`` with ``context`` fixed: a function h -> key (the context's hash state is computed once)."""
    base = hashlib.blake2b(digest_size=16)
    base.update(context.encode())
    copy = base.copy

    def fin(h: int) -> str:
        b = copy()
        b.update(h.to_bytes(8, "little"))
        return b.hexdigest()

    return fin


def code_fingerprint(fn) -> str:
    """The function's bytecode and constants (so two lambdas with different bodies differ)."""
    fn = getattr(fn, "py_func", fn)
    code = getattr(fn, "__code__", None)
    if code is None:
        return type(fn).__qualname__
    return hashlib.blake2b(code.co_code + repr(code.co_consts).encode(), digest_size=8).hexdigest()


def probe_key(context: str, values: np.ndarray) -> str:
    """The key of a query on a Monte Carlo domain: a hash of its values on the fixed probe set only."""
    return probe_keyer(context)(np.ascontiguousarray(values, dtype=np.float64))


def probe_keyer(context: str):
    """``probe_key`` with ``context`` fixed: a function of the probe values (a C-contiguous float64 array, or
    any C-contiguous array holding the same 8-byte patterns, e.g. their uint64 view) -> key.

    The hash input is the same bytes, context, a zero byte, then the values' native bytes (``tobytes()``),
    fed without a copy; the context's part of the hash state is computed once.
    """
    base = hashlib.blake2b(digest_size=16)
    base.update(context.encode())
    base.update(b"\0")
    copy = base.copy

    def key(values: np.ndarray) -> str:
        b = copy()
        b.update(values)
        return b.hexdigest()

    return key


def alternative(key: str, attempt: int) -> str:
    """The ``attempt``-th deterministic next key for a query whose key collided with a different query's.

    Derived from the key and a counter only, never from a truth (keys must carry no target information).
    """
    b = hashlib.blake2b(digest_size=16)
    b.update(key.encode())
    b.update(b"\0alternative\0")
    b.update(int(attempt).to_bytes(2, "little"))
    return b.hexdigest()
