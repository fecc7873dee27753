"""The learner protocol (DESIGN.md section 3, Learners): LearnResult and the Learner template.

It lives in the library so that sqsim's own learners (the Theorem 3.2 reduction) and the
``learners`` package share it; ``learners`` re-exports both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ._errors import InvalidParameterError
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
        The oracle's ledger total after learning.
    details : dict
        Learner-specific statistics plus the grading report under ``"grade"``.
    """

    hypothesis: Any
    success: bool
    queries: int
    details: dict = field(default_factory=dict)


@export
class Learner:
    """Base class: subclasses implement ``_learn(oracle) -> (hypothesis, details)``.

    ``learn`` is a final template method: it runs ``_learn``, then grades the hypothesis through
    the oracle's private grading hook (not a query, not in the ledger).
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

    def learn(self, oracle) -> LearnResult:
        self.check_oracle(oracle)
        start = oracle.ledger.total
        t0 = time.perf_counter()
        hypothesis, details = self._learn(oracle)
        details = dict(details)
        details["seconds"] = time.perf_counter() - t0
        details["grade"] = oracle._grade(hypothesis)
        return LearnResult(hypothesis, bool(details["grade"]["success"]), oracle.ledger.total,
                           {**details, "queries_this_run": oracle.ledger.total - start})

    def _learn(self, oracle):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"
