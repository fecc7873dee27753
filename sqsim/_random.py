"""Seeds and streams: one place turns ``seed`` into generators and derived streams.

``seed`` is always ``int | numpy.random.Generator | None`` (``None`` = fresh OS entropy).
Deterministic answers (noisy strategy, sampled strategy, Monte Carlo truths) draw from
streams derived from (the oracle's root entropy, a query key, a purpose), so that they are
pure functions of the seed and the query, independent of the order in which queries come.
"""

from __future__ import annotations

import hashlib
import numbers

import numpy as np

from ._errors import InvalidParameterError
from ._validation import show

__all__ = ["check_rng", "root_entropy", "derived_rng", "stable_words"]


def _check_seed(seed, caller: str, name: str = "seed"):
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_)):
        if int(seed) < 0:
            raise InvalidParameterError(
                f"The {name!r} parameter of {caller} must be a non-negative int, a numpy Generator "
                f"or None. Got {show(seed)} instead."
            )
        return int(seed)
    raise InvalidParameterError(
        f"The {name!r} parameter of {caller} must be a non-negative int, a numpy Generator or None. "
        f"Got {show(seed)} instead."
    )


def check_rng(seed, caller: str = "sqsim", name: str = "seed") -> np.random.Generator:
    """Normalise ``seed`` (int, Generator or None) into a :class:`numpy.random.Generator`.

    A Generator is used as is (shared with the caller, as numpy does); an int seeds a new one.
    """
    seed = _check_seed(seed, caller, name)
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def root_entropy(seed, caller: str = "sqsim", name: str = "seed") -> int:
    """A 128-bit integer that determines every derived stream of an object.

    An int seed maps to itself-derived entropy (reproducible); a Generator contributes one draw
    (so a run seeded by one Generator is reproducible too); ``None`` takes OS entropy.
    """
    seed = _check_seed(seed, caller, name)
    if seed is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(seed, np.random.Generator):
        hi, lo = seed.integers(0, 2**63, size=2, dtype=np.int64)
        return (int(hi) << 64) | int(lo)
    return int(seed)


def stable_words(*parts) -> list[int]:
    """Hash arbitrary str/int/bytes parts into four 32-bit words (a SeedSequence spawn key)."""
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        if isinstance(p, bytes):
            b = p
        elif isinstance(p, (int, np.integer)):
            b = int(p).to_bytes(32, "little", signed=True)
        else:
            b = str(p).encode()
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    d = h.digest()
    return [int.from_bytes(d[i : i + 4], "little") for i in range(0, 16, 4)]


def derived_rng(entropy: int, *parts) -> np.random.Generator:
    """A generator that is a pure function of ``entropy`` and ``parts`` (e.g. a query key)."""
    ss = np.random.SeedSequence(entropy, spawn_key=tuple(stable_words(*parts)))
    return np.random.Generator(np.random.PCG64(ss))


def derived_seed(entropy: int, *parts) -> int:
    """A one-way 63-bit seed derived from ``entropy`` and ``parts`` (a child stream's root)."""
    return int(derived_rng(entropy, *parts).integers(0, 2**63))
