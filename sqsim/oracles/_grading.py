"""Grading: the framework's verdict on a hypothesis, after the learner returned (docs/theory/contracts.md, section contracts-grading).

Graders are held by oracles privately and called only by :meth:`sqsim.Learner.learn`; they are not
queries and are never recorded. A learner's handle has no path to them.

- finite enumerable domains: success iff the hypothesis equals the target on every point;
- version space: the target is revealed among the survivors *avoiding* the hypothesis whenever a
  different survivor exists, then compared on every point;
- beyond the enumeration guard: structural comparison (parities by support) or agreement on fresh
  points; real-valued targets need the one-sided upper bound of E[(clip(h) - f)^2] <= 0.25 E[f^2];
- weak predictors (Theorem 3.2's B~) succeed iff their advantage is positive at 4 standard errors.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from .._random import derived_rng
from .._strategies import mean_upper_bound

GRADE_POINTS = 100_000


class Grader(Protocol):
    def grade(self, hypothesis) -> dict: ...

    def target(self, avoid=None): ...


def grade_real(h: np.ndarray, y: np.ndarray, label_range, delta: float = 1e-3, eps_rel: float = 0.25) -> dict:
    """Success iff a (1 - delta) upper bound on E[(clip(h) - f)^2] is at most eps_rel E[f^2] (docs/theory/contracts.md, section contracts-grading).

    h is clipped into the label range [lo, hi] so that the squared error lies in [0, (hi - lo)^2];
    the bound is the smaller of Hoeffding's and the empirical Bernstein bound.
    """
    lo, hi = float(label_range[0]), float(label_range[1])
    err = (np.clip(h, lo, hi) - y) ** 2
    bound = mean_upper_bound(err, (hi - lo) ** 2, delta)
    energy = float(np.mean(y**2))
    return {"success": bool(bound <= eps_rel * energy), "loss_upper_bound": bound, "target_energy": energy,
            "points": int(y.shape[0]), "failure_probability": delta}


def grade_structural(hypothesis, target) -> dict | None:
    """Beyond the enumeration guard, finite classes are compared structurally (docs/theory/contracts.md, section contracts-grading).

    Two parities are equal iff their supports are; returns None when no structural comparison applies.
    """
    from ..concepts import Parity

    if isinstance(hypothesis, Parity) and isinstance(target, Parity) and hypothesis.d == target.d:
        return {"success": tuple(hypothesis.support) == tuple(target.support), "compared": "support"}
    return None


def _mismatches(h, y) -> int:
    return int(np.count_nonzero(np.abs(h - y) > 1e-9 * (1.0 + np.abs(y))))


def _is_weak(hypothesis) -> bool:
    """Only the framework's own weak predictor gets the weak-learning grade (a flag on any other object
    would hand that object the target)."""
    from ..adapter import WeakPredictor

    return type(hypothesis) is WeakPredictor


def _weak(hypothesis, concept) -> dict:
    """B~'s advantage, computed by framework code on a lift rebuilt (and so re-validated) from its public
    parameters: the learner's hypothesis only ever sees Gaussian points, never the concept."""
    from ..adapter import WeakPredictor
    from ..lift import CompressedLift

    from .._errors import InvalidParameterError

    lift = hypothesis.lift
    try:
        fresh = CompressedLift(d=int(lift.d), q=int(lift.q), delta=float(lift.delta), D=int(lift.D))
    except (InvalidParameterError, TypeError, ValueError) as exc:
        return {"success": False, "reason": f"invalid weak predictor: {exc}"}
    rep = WeakPredictor(hypothesis.hypothesis, fresh).advantage(concept)
    if not 0.0 <= rep["p_good"] <= 1.0 or not rep["stderr"] >= 0.0:  # pragma: no cover - defensive
        return {"success": False, "reason": "invalid weak predictor", **rep}
    return {"success": bool(rep["advantage"] - 4 * rep["stderr"] > 0), **rep}


class TargetGrader:
    """Grading against one hidden target on a domain (enumerated table, structure, or fresh points)."""

    def __init__(self, domain, target, entropy: int, *, table=None, boolean_labels=None):
        self.domain, self._target, self._entropy = domain, target, entropy
        self._table, self._boolean = table, boolean_labels

    def target(self, avoid=None):
        return self._target.concept

    def grade(self, hypothesis, n: int = GRADE_POINTS) -> dict:
        if hypothesis is None:
            return {"success": False, "reason": "no hypothesis"}
        if _is_weak(hypothesis):
            return _weak(hypothesis, self.target())
        if self._table is not None:
            mismatches = 0
            for codes, X in self.domain.chunks():
                mismatches += _mismatches(np.asarray(hypothesis(X), dtype=np.float64).reshape(-1), self._table[codes])
            return {"success": mismatches == 0, "mismatches": mismatches, "points": self.domain.size}
        structural = grade_structural(hypothesis, self.target())
        if structural is not None:
            return structural
        X = self.domain._sample(n, derived_rng(self._entropy, "grade"))
        y = self._target.labels(X)
        h = np.asarray(hypothesis(X), dtype=np.float64).reshape(-1)
        if self._boolean:
            mismatches = int(np.count_nonzero(h != y))
            return {"success": mismatches == 0, "mismatches": mismatches, "points": n}
        rng_ = self._target.attribute("range")
        return grade_real(h, y, (float(y.min()), float(y.max())) if rng_ is None else tuple(rng_))


class VersionSpaceGrader:
    """Reveal the target among the survivors, avoiding the hypothesis, and compare on every point."""

    def __init__(self, engine):
        self._engine = engine

    def target(self, avoid=None):
        return self._engine.reveal(avoid)

    def grade(self, hypothesis, n: int = GRADE_POINTS) -> dict:
        if hypothesis is None:
            return {"success": False, "reason": "no hypothesis"}
        if _is_weak(hypothesis):
            return _weak(hypothesis, self.target())
        eng = self._engine
        target = eng.reveal(avoid=hypothesis)
        pts = eng.domain.enumerate()
        h = np.asarray(hypothesis(pts), dtype=np.float64).reshape(-1)
        y = np.asarray(target(pts), dtype=np.float64)
        m = _mismatches(h, y)
        return {"success": m == 0, "mismatches": m, "points": eng.domain.size,
                "survivors": int(eng.alive.sum()), "revealed": repr(target)}


def target_grader(domain, target, entropy: int) -> TargetGrader:
    """The grader an exact SQ oracle on ``target`` (a HiddenTarget) would have, without building the oracle:
    the label table on enumerable domains, else the label type (example and gradient oracles use it)."""
    if domain.finite and domain.enumerable:
        from ._enumerated import LabelTable

        table = LabelTable(domain, target, 1)
        return TargetGrader(domain, target, entropy, table=table.y, boolean_labels=table.boolean)
    from ._probes import labels_are_boolean

    return TargetGrader(domain, target, entropy, boolean_labels=labels_are_boolean(domain, target, entropy))


def grader_for(oracle):
    """The grader of a STAT/VSTAT oracle, chosen from its truth engine."""
    from ._vspace import VersionSpaceEngine

    eng = oracle._engine
    if isinstance(eng, VersionSpaceEngine):
        return VersionSpaceGrader(eng)
    table = eng.table.y if getattr(eng, "table", None) is not None else None
    return TargetGrader(oracle.domain, oracle._target, oracle._entropy, table=table,
                        boolean_labels=eng.boolean_labels)


def grade(oracle, hypothesis) -> dict:
    """The framework's grade of ``hypothesis`` against ``oracle``'s target (used by Learner.learn only)."""
    grader = getattr(oracle, "_grader", None)
    if grader is None:
        from .._errors import InvalidParameterError

        raise InvalidParameterError(f"The 'oracle' parameter of Learner.learn must be an sqsim oracle with a grader. "
                                    f"Got {type(oracle).__name__} instead.")
    return grader.grade(hypothesis)
