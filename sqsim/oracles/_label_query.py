"""Label queries to a DV-lifted concept, one Boolean label query per point (Theorem 5.1; docs/theory/lift.md, section lift-label-queries)."""

from __future__ import annotations

import time

import numpy as np

from .._domains import Gaussian
from .._errors import InvalidParameterError
from .._ledger import Ledger
from .._validation import Interval, NoneOk, check_param, show
from ._evaluation import count_record
from ._seal import Sealed

__all__ = ["LabelQueryOracle"]


class LabelQueryOracle(Sealed):
    """Label queries to a DV-lifted concept, simulated with one Boolean label query each (Theorem 5.1).

    ``label(Z)`` answers relu(f(thres_q(z)) - M sum_j N2(z_j)) (thres_q = sign for q = 2) by asking
    the Boolean concept f at thres_q(z) once per point: equal to f^DV(z) everywhere (docs/theory/lift.md, section lift-label-queries).
    Every point is counted in the ledger (kind "label", one record per call with ``count`` points).

    Parameters
    ----------
    lifted_concept : DVLiftedConcept
    budget : int, optional
        Maximum number of label queries.
    """

    oracle_kind = "label"

    def __init__(self, lifted_concept, budget=None):
        from ..lift._dv import DVLiftedConcept

        if not isinstance(lifted_concept, DVLiftedConcept):
            raise InvalidParameterError(
                f"The 'lifted_concept' parameter of LabelQueryOracle must be a DVLift-ed concept. "
                f"Got {show(lifted_concept)} instead."
            )
        check_param("budget", budget, [Interval(int, 0, None), NoneOk], "LabelQueryOracle")
        self._g = lifted_concept
        self.ledger = Ledger(budget)
        self.d = lifted_concept.d
        self.domain = Gaussian(self.d)
        self._seal()

    def label(self, Z) -> np.ndarray:
        Z = np.asarray(Z, dtype=np.float64)
        if Z.ndim == 1:
            Z = Z[None, :]
        if Z.ndim != 2 or Z.shape[1] != self.d:
            raise InvalidParameterError(
                f"The 'Z' parameter of LabelQueryOracle.label must be an array of shape (n, {self.d}). "
                f"Got shape {Z.shape} instead."
            )
        n = Z.shape[0]
        self.ledger.check_budget(n, "label query")
        t0 = time.perf_counter()
        i = self._g.lift.intervals
        X = i.thres(Z)
        y = np.asarray(self._g.concept(X), dtype=np.float64)  # the Boolean label queries, one per point
        out = np.maximum(y - self._g.M * i.n2(Z).sum(axis=1), 0.0)
        self.ledger.append(**count_record("label", n, "exact", name="label"), seconds=time.perf_counter() - t0)
        return out


LabelQueryOracle.__module__ = "sqsim.lift"  # where users import it from
