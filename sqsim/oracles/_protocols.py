"""Structural types of the oracle layer (``typing.Protocol``): what each role must offer."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class SQAnswering(Protocol):
    """An SQ oracle as wrappers (the adapter) and handles use it: public accessors and counted calls."""

    oracle_kind: str
    domain: object
    tolerance: float | None
    ledger: object

    def ask(self, query) -> float: ...

    def ask_batch(self, queries) -> np.ndarray: ...

    def child_entropy(self, purpose: str) -> int: ...


@runtime_checkable
class TruthEngine(Protocol):
    """Chosen once at construction: enumerated, version space or Monte Carlo truths."""

    exact: bool
    boolean_labels: bool
    context: str

    def evaluate(self, query): ...

    def evaluate_batch(self, batch) -> list: ...


@runtime_checkable
class Grader(Protocol):
    """The framework's verdict on a hypothesis (never reachable from a learner's handle)."""

    def grade(self, hypothesis) -> dict: ...

    def target(self, avoid=None): ...
