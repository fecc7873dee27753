"""The learner protocol (docs/theory/contracts.md, section contracts-learners): LearnResult and the Learner template.

It lives in the library so that sqsim's own learners (the Theorem 3.2 reduction) and the
``learners`` package share it; ``learners`` re-exports both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ._errors import InvalidParameterError, SealError
from ._export import export


@export
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
        The queries of this run (examples and labels one each); the oracle's ledger total is
        ``details["ledger_total"]``.
    details : dict
        Learner-specific statistics plus the grading report under ``"grade"``.
    """

    hypothesis: Any
    success: bool
    queries: int
    details: dict = field(default_factory=dict)


@export
class Learner:
    """Base class: subclasses implement ``_learn(handle) -> (hypothesis, details)``.

    ``learn`` is a final template method: it hands ``_learn`` a sealed handle to the oracle (what a
    learner may read: the calls of the oracle's kind, ``tolerance``, ``domain``, ``budget_left``,
    ``queries``, a ledger view without truths), then grades the hypothesis through the oracle's
    private grader (not a query, not in the ledger). A hypothesis is a callable on batches (for the
    Boolean cube, arrays of shape (n, d) to labels of shape (n,)). Seeds: every random choice of a
    learner comes from its ``seed`` parameter; budgets belong to the oracle (``QueryBudgetExceeded``).
    """

    name = "learner"
    #: oracle kinds this learner can use ("sq", "vstat", "example", "gradient", "label")
    oracle_kinds: tuple = ("sq",)
    #: domain kinds it can learn over ("boolean", "zq", "gaussian")
    domains: tuple = ("boolean",)

    def check_oracle(self, oracle) -> None:
        """Raise :class:`InvalidParameterError` unless the oracle's kind and domain are accepted."""
        kind = getattr(oracle, "oracle_kind", None)
        dom = getattr(getattr(oracle, "domain", None), "kind", None)
        if kind not in self.oracle_kinds or dom not in self.domains:
            raise InvalidParameterError(
                f"The 'oracle' parameter of {type(self).__name__}.learn must be an oracle of kind in "
                f"{list(self.oracle_kinds)} over a domain in {list(self.domains)}. Got {type(oracle).__name__} "
                f"(kind {kind!r}, domain {dom!r}) instead."
            )

    def learn(self, oracle, *, isolation=None) -> LearnResult:
        """Run the learner against ``oracle`` and grade its hypothesis (a final template method).

        ``_learn`` receives a sealed :class:`~sqsim.oracles.OracleHandle`, never the oracle: the calls of
        the oracle's kind, its tolerance, domain, budget left, queries so far and a ledger view without
        truths. Afterwards the handle is closed and the framework grades the hypothesis through the
        oracle's private grader (not a query, not in the ledger).

        Parameters
        ----------
        oracle : an sqsim oracle (SQOracle, VSTATOracle, ExampleOracle, ApproxGradientOracle, LiftedOracle)
        isolation : {None, "none", "process"}, default None
            ``"process"`` runs ``_learn`` in its own (spawned) process that holds only a channel to the
            oracle; queries cross as data and run in a fresh sandboxed evaluator each (see
            ``sqsim.oracles._isolation`` for what this closes and which channels remain).

        Returns
        -------
        LearnResult
            ``queries`` counts this run's queries (examples and labels one each);
            ``details["ledger_total"]`` is the oracle's ledger total.
        """
        from .oracles._grading import grade
        from .oracles._handle import OracleHandle, is_handle

        if is_handle(oracle):
            from .oracles._violations import violation

            raise violation(SealError, f"{type(self).__name__}.learn takes an oracle, not a handle: inside _learn, run another "
                            f"learner with its _learn(handle); grading belongs to the framework.")
        if isolation not in (None, "none", "process"):
            raise InvalidParameterError(f"The 'isolation' parameter of {type(self).__name__}.learn must be a str "
                                        f"among ['none', 'process'] or None. Got {isolation!r} instead.")
        self.check_oracle(oracle)
        handle = OracleHandle(oracle)
        t0 = time.perf_counter()
        try:
            if isolation == "process":
                from .oracles._isolation import run_isolated

                hypothesis, details = run_isolated(self, handle)
            else:
                hypothesis, details = self._learn(handle)
        finally:
            handle.close()
        details = dict(details)
        details["seconds"] = time.perf_counter() - t0
        details["isolation"] = isolation or "none"
        details["grade"] = grade(oracle, hypothesis)
        details["ledger_total"] = oracle.ledger.total
        details["queries_this_run"] = handle.queries
        return LearnResult(hypothesis, bool(details["grade"]["success"]), handle.queries, details)

    def _learn(self, oracle):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"
