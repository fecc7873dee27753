"""The fixed probe set: 256 points from SeedSequence(oracle seed, "probe") and a label set that does not
depend on the target (docs/theory/contracts.md, section contracts-query-identity).

Monte Carlo keys hash a query's values on every (probe point, probe label) pair, and the smooth noise
of the "noisy" strategy is a function of the same vector. Because the probe labels are fixed (0 and 1
for Boolean targets, five values spread over the declared label range otherwise), comparing two keys
tells a learner nothing about the target's labels.
"""

from __future__ import annotations

import numpy as np

from .._random import derived_rng

PROBE_POINTS = 256
#: numpy >= 2.0 counts bits in one pass; older numpy uses the shift-xor parity
_POPCOUNT = getattr(np, "bitwise_count", None)
#: (-1)^k for popcounts k = 0..64 (a character's sign at a probe point)
_SIGN_TABLE = np.array([(-1.0) ** k for k in range(65)])


class ProbeSet:
    """Probe points X (PROBE_POINTS x d) and probe labels; ``values(query)`` evaluates every pair."""

    def __init__(self, domain, entropy: int, boolean_labels: bool, label_range=None):
        rng = derived_rng(entropy, "probe")
        self.X = domain._sample(PROBE_POINTS, rng)
        if boolean_labels:
            self.labels = np.array([0.0, 1.0])
        else:
            lo, hi = (-1.0, 1.0) if label_range is None else (float(label_range[0]), float(label_range[1]))
            self.labels = np.linspace(lo, hi, 5)
        self.boolean_labels = bool(boolean_labels)
        self._Xs = np.concatenate([self.X] * len(self.labels))
        self._ys = np.repeat(self.labels, PROBE_POINTS)
        self._signs = 1.0 - 2.0 * self.labels
        self._codes = None

    def values(self, query, binary: bool = False) -> np.ndarray:
        """phi(x_p, l) for every probe label l and probe point x_p (label-major order)."""
        return query.values(self._Xs, self._ys, self.boolean_labels, binary=binary)

    def _chi(self, code: int) -> np.ndarray:
        """chi_S at every probe point (float64 +-1), S the support with code ``code``."""
        from .._kernels.bits import parity_np

        if self._codes is None:
            weights = np.int64(1) << np.arange(self.X.shape[1], dtype=np.int64)
            self._codes = (self.X.astype(np.int64) * weights).sum(axis=1)
        masked = self._codes & np.int64(code)
        bits = _POPCOUNT(masked) & 1 if _POPCOUNT is not None else parity_np(masked)
        return 1.0 - 2.0 * bits

    def character_values(self, code: int) -> np.ndarray:
        """The same vector for the character correlation (1 - 2l) chi_S(x), from its structure."""
        return (self._signs[:, None] * self._chi(code)[None, :]).reshape(-1)

    def character_vector(self, code: int) -> np.ndarray:
        """:meth:`character_values` for Boolean probe labels (0, 1) in fewer steps: (chi, -chi) from a
        table lookup of the popcounts (numpy >= 2; older numpy: :meth:`character_values`)."""
        if _POPCOUNT is None or self._codes is None:
            if _POPCOUNT is None:
                return self.character_values(code)
            self._chi(0)  # builds the probe codes
        chi = _SIGN_TABLE.take(_POPCOUNT(self._codes & code))
        return np.concatenate((chi, -chi))

    def label_character_values(self, code: int, weights) -> np.ndarray:
        """The same vector for a label character w_l chi_S(x) (Boolean probe labels 0 and 1)."""
        if _POPCOUNT is None or len(self.labels) != 2:
            w = np.array([weights[int(v)] for v in self.labels], dtype=np.float64)
            return (w[:, None] * self._chi(code)[None, :]).reshape(-1)
        if self._codes is None:
            self._chi(0)  # builds the probe codes
        chi = _SIGN_TABLE.take(_POPCOUNT(self._codes & code))
        return np.concatenate((weights[0] * chi, weights[1] * chi))


def labels_are_boolean(domain, target, entropy: int) -> bool:
    """Whether a target sampled (not enumerated) has labels in {0, 1}: its ``boolean`` flag if it declares
    one, else its labels at the probe points."""
    flag = target.attribute("boolean")
    if flag is not None:
        return bool(flag)
    y = target.labels(ProbeSet(domain, entropy, True).X)
    return bool(((y == 0.0) | (y == 1.0)).all())
