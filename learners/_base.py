"""The learner protocol (DESIGN.md section 3, Learners) and the registry."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from sqsim import InvalidParameterError

ENTRY_POINT_GROUP = "sqsim.learners"
_REGISTRY: dict[str, type] = {}


@dataclass
class LearnResult:
    """What :meth:`Learner.learn` returns.

    Attributes
    ----------
    hypothesis : callable or None
        A predictor on batches.
    success : bool
        Judged by the framework after the learner returned (not by the learner).
    queries : int
        The oracle's ledger total after learning.
    details : dict
        Learner-specific statistics plus the grading report under ``"grade"``.
    """

    hypothesis: Any
    success: bool
    queries: int
    details: dict = field(default_factory=dict)


class Learner:
    """Base class: subclasses implement ``_learn(oracle) -> (hypothesis, details)``.

    ``learn`` is a final template method: it runs ``_learn``, then grades the hypothesis through
    the oracle's private grading hook (not a query, not in the ledger).
    """

    name = "learner"

    def learn(self, oracle) -> LearnResult:
        start = len(oracle.ledger)
        t0 = time.perf_counter()
        hypothesis, details = self._learn(oracle)
        details = dict(details)
        details["seconds"] = time.perf_counter() - t0
        details["grade"] = oracle._grade(hypothesis)
        return LearnResult(hypothesis, bool(details["grade"]["success"]), oracle.ledger.total,
                           {**details, "queries_this_run": len(oracle.ledger) - start})

    def _learn(self, oracle):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


def register(name: str):
    """Class decorator adding a learner to the registry under ``name``."""

    def deco(cls):
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _entry_points() -> dict[str, type]:
    found = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            found[ep.name] = ep.load()
        except Exception as exc:  # a broken plug-in warns, it does not break sqsim
            warnings.warn(f"learner plug-in {ep.name!r} failed to load: {exc}", RuntimeWarning, stacklevel=2)
    return found


def available() -> list[str]:
    """Names of every registered learner (built-ins and entry-point plug-ins), sorted."""
    return sorted({**_entry_points(), **_REGISTRY})


def make(name: str, **params) -> Learner:
    """Instantiate the learner registered as ``name`` with keyword ``params``."""
    classes = {**_entry_points(), **_REGISTRY}
    if name not in classes:
        raise InvalidParameterError(
            f"The 'name' parameter of learners.make must be a str among {sorted(classes)}. Got {name!r} instead."
        )
    return classes[name](**params)
