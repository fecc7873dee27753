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
from ._validation import show


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
    """Base class of every learner: subclasses implement ``_learn(handle) -> (hypothesis, details)``.

    :meth:`learn` is a final template method: it hands ``_learn`` a sealed handle to the oracle, closes
    the handle when ``_learn`` returns, grades the hypothesis through the oracle's private grader (not a
    query, not in the ledger) and returns a :class:`LearnResult`. Override ``_learn`` only.
    :meth:`learn_many` is its batched twin over the optional hook ``_learn_many(handles, seeds)``; defining
    ``learn_many`` in a subclass raises TypeError.

    Notes
    -----
    **What _learn receives.**
    A sealed :class:`~sqsim.OracleHandle`, never the oracle. It offers

    - the calls of the oracle's kind: ``ask(query)`` (a float) and ``ask_batch(queries)`` (an array;
      a :class:`~sqsim.CharacterBatch` counts one query per member) for SQ and VSTAT oracles,
      ``draw(n)`` for an :class:`~sqsim.ExampleOracle`, ``gradient(...)`` for an
      :class:`~sqsim.ApproxGradientOracle`, ``label(...)`` for label oracles;
    - public facts: ``kind`` (``"sq"``, ``"vstat"``, ``"example"``, ``"gradient"``, ``"label"``),
      ``tolerance`` (``t`` for VSTAT, ``epsilon`` and ``model`` for gradients), ``domain``,
      ``budget_left`` (None without a budget) and ``queries`` (this run's count so far);
    - ``ledger``: a :class:`~sqsim.LedgerView` of this run's records with index, name, kind, answer
      and count only (no truths, errors, band flags, keys, strategies or timings).

    No attribute of a handle reaches the oracle, the target, the grader or the strategy; copying or
    pickling it raises :class:`~sqsim.SealError`, and it refuses calls once ``_learn`` has returned.
    The class attributes ``oracle_kinds`` and ``domains`` declare what the learner accepts: another
    oracle kind or domain is refused with :class:`~sqsim.InvalidParameterError` before any query.

    **What a hypothesis must be.**
    ``_learn`` returns ``(hypothesis, details)``. The hypothesis is a callable on batches: on the
    Boolean cube it maps an int array of shape (n, d) to labels of shape (n,) (0/1 for Boolean
    targets); on Gaussian domains a float array of shape (n, d) to real values of shape (n,). It may
    be None (the run then fails). Prefer sqsim's building blocks (concepts such as
    :class:`~sqsim.concepts.Parity`, lifts, gradient models, numpy arrays): under
    ``isolation="process"`` anything else comes back as an opaque proxy evaluated in a sandbox.
    ``details`` is a dict of the learner's own statistics; the framework adds ``grade``,
    ``ledger_total``, ``queries_this_run``, ``seconds`` and ``isolation``. Success is decided by the
    framework (exact agreement for finite classes, a relative squared-error test for real-valued
    targets), never by the learner.

    **Seeds.**
    Every random choice of a learner comes from its own ``seed`` parameter (``int``,
    ``numpy.random.Generator`` or None for fresh entropy), turned into a generator with
    ``sqsim._random.check_rng``; never from global state. The same learner seed and the same oracle
    seed give the same ledger (equal fingerprints), hypothesis and count.

    **Budgets.**
    Budgets belong to the oracle (``SQOracle(..., budget=N)``). A query or batch that would exceed it
    raises :class:`~sqsim.QueryBudgetExceeded` before it is answered and nothing is recorded; a learner
    may read ``handle.budget_left`` and stop early. ``LearnResult.queries`` counts this run's queries
    (examples and labels one each); an oracle reused across runs keeps its total in
    ``details["ledger_total"]``.

    **What a learner may read.**
    Only the handle's public names above, its own parameters and what its answers told it. It may not
    reach the target (the ``oracle-only`` check), read oracle internals, truths or keys, mutate or copy
    the handle, average repeated queries for fresh noise, or ask queries that are not pointwise (a
    query whose value on a row depends on the rest of the batch raises
    :class:`~sqsim.QueryContractError`). ``sqsim.testing.check_learner`` yields one named check per
    rule. Hyper-parameters are keyword-only and stored unchanged by ``__init__``, so that
    ``learners.make(name, **params)`` builds any learner.
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
        self._refuse_handle(oracle, "learn")
        if isolation not in (None, "none", "process"):
            raise InvalidParameterError(f"The 'isolation' parameter of {type(self).__name__}.learn must be a str "
                                        f"among ['none', 'process'] or None. Got {isolation!r} instead.")
        self.check_oracle(oracle)
        handle = _open_handles([oracle])[0]
        t0 = time.perf_counter()
        try:
            if isolation == "process":
                from .oracles._isolation import run_isolated

                hypothesis, details = run_isolated(self, handle)
            else:
                hypothesis, details = self._learn(handle)
        finally:
            handle.close()
        return _finish(oracle, handle, hypothesis, details, time.perf_counter() - t0, isolation=isolation or "none")

    def learn_many(self, oracles, seeds=None) -> list:
        """Run one learner on several oracles at once and grade every hypothesis (a final template method).

        Like :meth:`learn`, member by member: each oracle is reached only through its own sealed handle
        (all closed when the hook returns), each hypothesis is graded through its oracle's private grader
        and ``queries`` counts what went through that member's handle. The work is the subclass hook
        ``_learn_many(handles, seeds) -> [(hypothesis, details), ...]`` (one pair per handle, in order);
        ``seeds`` is None (every member uses the learner's own seed) or a list of one seed per oracle.
        Subclasses cannot override ``learn_many`` (defining it raises TypeError); a learner without the hook
        has no ``learn_many`` of its own (it raises :class:`~sqsim.InvalidParameterError`).

        Parameters
        ----------
        oracles : list of distinct sqsim oracles
        seeds : list or None, default None

        Returns
        -------
        list of LearnResult
            One per oracle. ``details["seconds"]`` is the wall time of the whole batch and
            ``details["batched"]`` its size.

        Notes
        -----
        **Members are not isolated from each other.** The hook holds every member's handle at once, so
        in one process nothing stops it from building member i's hypothesis from member j's examples
        (pooling: each result would then look cheaper than it was). A direct call is the caller's own
        choice. Where this matters the framework refuses to trust it: the sweep runner batches only hooks
        the library vetted (:func:`batch_vetted`: exact class, exact hook), and for any other hook each
        member is charged the queries of the whole batch (``queries`` = the sum over all handles,
        ``details["queries_this_run"]`` its own handle's count, ``details["queries_pooled"]`` = True);
        see docs/theory/sgd.md, section sgd-batched.
        """
        caller = f"{type(self).__name__}.learn_many"
        if getattr(type(self), "_learn_many", None) is None:
            raise InvalidParameterError(f"The 'learner' parameter of Learner.learn_many must implement the _learn_many "
                                        f"hook. Got {type(self).__name__}, which has none, instead (use learn).")
        if not isinstance(oracles, (list, tuple)) or not oracles:
            raise InvalidParameterError(f"The 'oracles' parameter of {caller} must be a non-empty list of oracles. "
                                        f"Got {show(oracles)} instead.")
        for o in oracles:
            self._refuse_handle(o, "learn_many")
            self.check_oracle(o)
        if len({id(o) for o in oracles}) != len(oracles):
            raise InvalidParameterError(f"The 'oracles' parameter of {caller} must hold distinct oracles (each run is "
                                        f"counted on its own ledger). Got the same oracle twice instead.")
        if seeds is not None and (not isinstance(seeds, (list, tuple)) or len(seeds) != len(oracles)):
            raise InvalidParameterError(f"The 'seeds' parameter of {caller} must be a list of one seed per oracle "
                                        f"({len(oracles)}) or None. Got {show(seeds)} instead.")
        handles = _open_handles(oracles)
        t0 = time.perf_counter()
        try:
            outs = list(self._learn_many(handles, None if seeds is None else list(seeds)))
        finally:
            for h in handles:
                h.close()
        seconds = time.perf_counter() - t0
        if len(outs) != len(handles):
            raise InvalidParameterError(f"The '_learn_many' hook of {caller} must return one (hypothesis, details) "
                                        f"pair per oracle ({len(handles)}). Got {len(outs)} instead.")
        pooled = None if batch_vetted(type(self)) else sum(h.queries for h in handles)
        return [_finish(o, h, hypothesis, details, seconds, isolation="none", batched=len(oracles), charged=pooled)
                for o, h, (hypothesis, details) in zip(oracles, handles, outs)]

    #: the batch hook: ``_learn_many(handles, seeds) -> [(hypothesis, details), ...]`` (None: no batching)
    _learn_many = None

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "learn_many" in cls.__dict__:
            raise TypeError(f"{cls.__qualname__} defines learn_many, a final template method of Learner (it opens "
                            f"the sealed handles, grades and counts): implement the hook _learn_many(handles, seeds) "
                            f"instead.")

    def _refuse_handle(self, oracle, method: str) -> None:
        """Refuse a handle where an oracle is due: grading belongs to the framework."""
        from .oracles._handle import is_handle

        if is_handle(oracle):
            from .oracles._violations import violation

            raise violation(SealError, f"{type(self).__name__}.{method} takes an oracle, not a handle: inside _learn, "
                            f"run another learner with its _learn(handle); grading belongs to the framework.")

    def _learn(self, oracle):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


def _open_handles(oracles) -> list:
    """One sealed handle per oracle (what ``_learn`` / ``_learn_many`` receive)."""
    from .oracles._handle import OracleHandle

    return [OracleHandle(o) for o in oracles]


def _finish(oracle, handle, hypothesis, details, seconds: float, *, isolation: str, batched: int | None = None,
            charged: int | None = None) -> LearnResult:
    """The LearnResult of one closed handle: the framework's grade and this run's count (shared by learn and
    learn_many). ``charged`` (an unvetted batch) replaces the handle's count by the whole batch's."""
    from .oracles._grading import grade

    details = dict(details)
    details["seconds"] = seconds
    details["isolation"] = isolation
    if batched is not None:
        details["batched"] = batched
    details["grade"] = grade(oracle, hypothesis)
    details["ledger_total"] = oracle.ledger.total
    details["queries_this_run"] = handle.queries
    queries = handle.queries
    if charged is not None:
        details["queries_pooled"] = True
        queries = charged
    return LearnResult(hypothesis, bool(details["grade"]["success"]), queries, details)


#: exact class -> the ``_learn_many`` function vetted for the sweep runner (the library's own learners only)
_VETTED_BATCH_HOOKS: dict = {}


def vet_batch_hook(cls):
    """Class decorator (the library's own learners only): ``cls._learn_many`` keeps each member's hypothesis to
    its own handle's data, so the sweep runner may batch it. Vets ``cls`` exactly (not its subclasses)."""
    _VETTED_BATCH_HOOKS[cls] = cls.__dict__["_learn_many"]
    return cls


def batch_vetted(cls) -> bool:
    """Whether ``cls`` is exactly a vetted class whose ``_learn_many`` is exactly the vetted function: a subclass
    (which may override the hook or what it calls) or a replaced hook is not vetted."""
    hook = _VETTED_BATCH_HOOKS.get(cls) if isinstance(cls, type) else None
    return hook is not None and cls.__dict__.get("_learn_many") is hook
