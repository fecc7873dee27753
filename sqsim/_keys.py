"""Query keys (DESIGN.md section 3, "Query identity").

On enumerable finite domains the key hashes the query's values on the whole domain for
every label value v of the target:

    H = sum_{v, c} 2 mix64(v N + c) mix64(bits(phi(x_c, v)))   (mod 2^64)

with ``v`` the index of the label value, N the domain size, mix64 the splitmix64 finaliser
and bits the IEEE-754 pattern (with -0.0 folded into 0.0). The sum is order-independent, so
chunked Python passes, the fused Numba pass and the closed form of characters (one
compute-only kernel pass, or one integer Walsh-Hadamard transform for a whole batch) all give
the same H for the same values: renaming or re-wrapping a query does not buy fresh noise.
Elsewhere the key hashes the name, the qualified name and the values on 256 probe points.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ._kernels.bits import mix64_np

G_PLUS = int(mix64_np(np.array([1.0]).view(np.uint64))[0])
G_MINUS = int(mix64_np(np.array([-1.0]).view(np.uint64))[0])
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


def finalize(context: str, h: int) -> str:
    """The key string of a value hash ``h`` on an oracle ``context``."""
    b = hashlib.blake2b(digest_size=16)
    b.update(context.encode())
    b.update(int(h).to_bytes(8, "little"))
    return b.hexdigest()


def probe_key(context: str, name: str, qualname: str, values: np.ndarray) -> str:
    b = hashlib.blake2b(digest_size=16)
    for part in (context, name, qualname):
        b.update(part.encode())
        b.update(b"\0")
    b.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return b.hexdigest()
