"""The version-space adversary for finite classes (docs/theory/version-space.md).

It keeps the set V of members consistent with every answer so far. For a query it computes
the true answer v_c of every member (for parities all 2^d at once from one Walsh-Hadamard
transform, M1: E[phi(x, chi_S(x))] = E[phi(x,0)] + E[g] - g^(S) with g = (phi(x,1) - phi(x,0))/2),
answers the centre of the window of width 2 tau that holds the most survivors, and keeps those.
When the learner stops, :meth:`SQOracle.reveal` draws the target from the survivors and
re-checks every recorded answer against it.
"""

from __future__ import annotations

import numpy as np

from ._errors import InvalidParameterError
from ._export import export
from ._kernels import pick
from ._kernels import walsh as kwalsh
from ._strategies import AnswerStrategy

#: largest members x points table for families without a fast transform
MAX_TABLE = 2**26


@export
class VersionSpaceStrategy(AnswerStrategy):
    """Answer so as to keep the most members of a finite class consistent (docs/theory/version-space.md, section version-space-rule).

    Use it as ``SQOracle(domain, family, tau, answers="version-space", seed=...)`` with a finite
    family (e.g. ``Parities(d)``) instead of a target. The survivor count after each query is
    recorded in the ledger (``extra["survivors"]``); by Parseval fewer than 1/tau^2 + 1
    parities are eliminated per query, which is the SQ-dimension lower bound in action.
    """

    name = "version-space"

    @staticmethod
    def choose(values: np.ndarray, tau: float) -> float:
        """The centre of a window [v_i, v_i + 2 tau] holding the most of ``values`` (first such window)."""
        v = np.sort(values)
        right = np.searchsorted(v, v + 2.0 * tau, side="right")
        counts = right - np.arange(v.shape[0])
        i = int(np.argmax(counts))
        return float((v[i] + v[right[i] - 1]) / 2.0)

    def answer(self, ctx):  # pragma: no cover - the oracle calls choose() directly
        raise InvalidParameterError(
            "The 'answers' parameter 'version-space' needs a finite family as the oracle's target; "
            "pass answers='version-space' to SQOracle(domain, family, tolerance)."
        )


class VersionSpace:
    """Survivors of a finite family and the per-member truths of a query."""

    def __init__(self, family, domain):
        from .concepts import Parities

        self.family = family
        self.domain = domain
        self.size = len(family)
        self.alive = np.ones(self.size, dtype=bool)
        self._parities = isinstance(family, Parities)
        if self._parities:
            self._codes = family.codes()
            self.label_values = np.array([0.0, 1.0])
        else:
            N = domain.size
            if self.size * N > MAX_TABLE:
                raise InvalidParameterError(
                    f"The 'target' parameter of SQOracle must be a family whose members x points table fits "
                    f"{MAX_TABLE} entries for the version-space strategy. Got {self.size} members on {N} points instead."
                )
            tables = np.stack([family.label_table(i) for i in range(self.size)])
            self.label_values, idx = np.unique(tables, return_inverse=True)
            self._lidx = idx.reshape(tables.shape).astype(np.int32)

    @property
    def boolean(self) -> bool:
        return bool(np.all((self.label_values == 0.0) | (self.label_values == 1.0)))

    def truths(self, tables: np.ndarray) -> np.ndarray:
        """E[phi(x, f_c(x))] for every member c, from the value tables phi(x, v) (shape (V, N))."""
        N = tables.shape[1]
        if self._parities:
            t0, t1 = tables[0], tables[1]
            g = (t1 - t0) / 2.0
            ghat = pick(kwalsh.fwht_inplace, N)(g.copy(), kwalsh.BLOCK_BITS) / N
            return np.mean(t0) + np.mean(g) - ghat[self._codes]  # (M1)
        cols = np.arange(N)
        return np.array([tables[self._lidx[m], cols].mean() for m in range(self.size)])

    def equal_members(self, h: np.ndarray) -> np.ndarray:
        """Boolean mask of the members whose table equals h on the whole domain.

        Parities: h equals chi_S iff h is 0/1 valued and sum_c (1 - 2h_c)(-1)^{S.c} = N, so one
        Walsh-Hadamard transform answers every member at once (instead of members x points work).
        """
        N = self.domain.size
        if self._parities:
            if not np.all((h == 0.0) | (h == 1.0)):
                return np.zeros(self.size, dtype=bool)
            spec = pick(kwalsh.fwht_inplace, N)(1.0 - 2.0 * h, kwalsh.BLOCK_BITS)
            return spec[self._codes] == N
        return np.array([np.array_equal(self.member_table(i), h) for i in range(self.size)])

    def member_table(self, i: int) -> np.ndarray:
        if self._parities:
            return self.label_values[self._lidx_parity(i)]
        return self.label_values[self._lidx[i]]

    def _lidx_parity(self, i):
        from ._kernels.bits import parity_np

        return parity_np(np.arange(self.domain.size, dtype=np.int64) & int(self._codes[i]))
