"""Target families of a sweep: how a cell's target is drawn from its target seed.

Every family draws a Boolean parity from the cell's *target seed*; the lifted family then lifts it
with a :class:`~sqsim.lift.CompressedLift`. The target seed depends only on (the family's Boolean
class, d, seed index), so ``parity`` and ``lifted-parity`` cells at the same d and seed index hide
the same parity (a paired design: the lifted count can be read beside the Boolean one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._errors import InvalidParameterError
from .._validation import Interval, NoneOk, check_param, show


@dataclass(frozen=True)
class Target:
    """What a cell learns: the Boolean parity, its lift (lifted families) and a JSON summary."""

    concept: object  # the concept the oracle hides (the Boolean parity for every family here)
    lift: object | None  # CompressedLift for lifted families
    family: object | None  # the FiniteFamily for the version-space strategy
    summary: dict


class Family:
    """Base class of target families; subclasses set ``name``, ``kind`` and the parameter constraints."""

    name = "family"
    #: "boolean" (an oracle over {0,1}^d) or "lifted" (Gaussian learners go through LiftedOracle)
    kind = "boolean"
    #: parameter name -> constraints (sqsim._validation), for validation before any cell runs
    constraints: ClassVar[dict] = {}
    required: ClassVar[tuple] = ()

    def __init__(self, params: dict, where: str):
        caller = f"target family {self.name!r} ({where})"
        for key, value in params.items():
            if key not in self.constraints:
                raise InvalidParameterError(
                    f"The {key!r} parameter of {caller} must be one of its parameters {sorted(self.constraints)}. "
                    f"Got {key} = {show(value)} instead."
                )
            check_param(key, value, self.constraints[key], caller)
        for key in self.required:
            if key not in params:
                raise InvalidParameterError(
                    f"The {key!r} parameter of {caller} must be given ({self.constraints[key][0]}). "
                    f"Got nothing instead."
                )
        self.params = dict(params)
        self.caller = caller

    # ------------------------------------------------------------------ identity
    def target_key(self) -> tuple:
        """The Boolean class the target is drawn from (shared by a family and its lift)."""
        k = self.params.get("k")
        return ("parity",) if k is None else ("sparse-parity", int(k))

    def label(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.name} ({extra})" if extra else self.name

    def check_d(self, d: int, where: str) -> None:
        k = self.params.get("k")
        if k is not None and k > d:
            raise InvalidParameterError(
                f"The 'd' parameter of {where} must be at least the family's k = {k} ({self.label()}). "
                f"Got {d} instead."
            )

    def check_tau(self, d: int, tau: float, where: str) -> None:
        """Family-level checks on the tolerance (the lifted signal budget)."""

    def n_candidates(self, d: int) -> int:
        """Size of the Boolean class searched (for the SQ lower bound)."""
        k = self.params.get("k")
        return 2**d - 1 if k is None else math.comb(d, int(k))

    # ------------------------------------------------------------------ drawing
    def _support(self, d: int, rng: np.random.Generator) -> list[int]:
        k = self.params.get("k")
        if k is None:
            code = int(rng.integers(1, 2**d))  # uniform over the 2^d - 1 nonempty supports
            return [j for j in range(d) if (code >> j) & 1]
        return sorted(int(j) for j in rng.choice(d, size=int(k), replace=False))

    def finite_family(self, d: int):
        from ..concepts import Parities, SparseParities

        k = self.params.get("k")
        return Parities(d) if k is None else SparseParities(d, int(k))

    def make(self, d: int, seed: int, *, version_space: bool = False) -> Target:
        from ..concepts import Parity

        support = self._support(d, np.random.default_rng(seed))
        f = Parity(d, support)
        return Target(f, None, self.finite_family(d) if version_space else None,
                      {"support": None if version_space else support})


class ParityFamily(Family):
    """``parity``: S uniform over the 2^d - 1 nonempty subsets of [d]."""

    name = "parity"
    constraints: ClassVar[dict] = {}


class SparseParityFamily(Family):
    """``sparse-parity``: |S| = k exactly, S uniform among the C(d, k) such sets (parameter ``k``)."""

    name = "sparse-parity"
    constraints: ClassVar[dict] = {"k": [Interval(int, 1, 62)]}
    required: ClassVar[tuple] = ("k",)


class LiftedParityFamily(Family):
    """``lifted-parity``: the compressed lift (CGKM22 Theorem 2.3) of a random parity.

    Parameters: ``delta`` (P[z in R], default 1/d, docs/theory/adapter.md, section adapter-signal-budget), ``D``
    (default d), ``k`` (optional: lift a k-sparse parity) and ``inner_failure_probability`` of the
    adapter (default 1e-6). Gaussian learners see it through ``LiftedOracle`` over a Boolean
    ``SQOracle`` at tolerance tau / 2, so the Gaussian tolerance is tau.
    """

    name = "lifted-parity"
    kind = "lifted"
    constraints: ClassVar[dict] = {
        "delta": [Interval(float, 0, 0.5, closed="neither"), NoneOk],
        "D": [Interval(int, 1, None), NoneOk],
        "k": [Interval(int, 1, 62)],
        "inner_failure_probability": [Interval(float, 0, 1, closed="neither")],
    }

    def delta(self, d: int) -> float:
        delta = self.params.get("delta")
        if delta is not None:
            return float(delta)
        return 1.0 / d if d >= 3 else 0.25  # delta must stay below 1/2

    def make_lift(self, d: int):
        from ..lift import CompressedLift

        return CompressedLift(d, q=2, delta=self.delta(d), D=self.params.get("D"))

    def check_tau(self, d: int, tau: float, where: str) -> None:
        signal = self.make_lift(d).nonzero_mass()
        if not tau < signal / 2:
            raise InvalidParameterError(
                f"The 'tau' parameter of {where} must be below P[f^Delta != 0] / 2 = {signal / 2:.4g} for "
                f"{self.label()} at d = {d} (docs/theory/adapter.md, section adapter-signal-budget: above it every Gaussian query is blind). "
                f"Got {tau!r} instead."
            )

    def make(self, d: int, seed: int, *, version_space: bool = False) -> Target:
        t = super().make(d, seed, version_space=version_space)
        lift = self.make_lift(d)
        return Target(t.concept, lift, t.family,
                      {**t.summary, "delta": lift.delta, "D": lift.D})


FAMILIES: dict[str, type[Family]] = {
    "parity": ParityFamily,
    "sparse-parity": SparseParityFamily,
    "lifted-parity": LiftedParityFamily,
}


def make_family(spec, where: str) -> Family:
    """A family from a name or a table {name = ..., **params}."""
    name, params = spec_name_params(spec, "family", where)
    if name not in FAMILIES:
        raise InvalidParameterError(
            f"The 'family' parameter of {where} must be a str among {sorted(FAMILIES)}. Got {name!r} instead."
        )
    return FAMILIES[name](params, where)


def spec_name_params(spec, key: str, where: str) -> tuple[str, dict]:
    """Split a ``"name"`` or ``{name = "...", ...}`` entry into (name, params)."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, dict) and isinstance(spec.get("name"), str):
        params = {k: v for k, v in spec.items() if k != "name"}
        return spec["name"], params
    raise InvalidParameterError(
        f"The {key!r} parameter of {where} must be a name or a table with a 'name' key. Got {show(spec)} instead."
    )
