"""The oracle template (the AALpy pattern): one place validates, evaluates, answers, checks and records.

``ask``/``ask_batch``: check every query and the budget, let the truth engine (chosen once at
construction: enumerated, version space or Monte Carlo) evaluate each query, let the strategy choose an
answer inside the band, verify the choice, and commit records through the answer cache. Nothing else
writes to the ledger; a failure at any step leaves the ledger as it was.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from .._domains import Domain, FiniteDomain
from .._errors import InvalidParameterError, OracleStateError, SQSimWarning
from .._ledger import Ledger
from .._queries import Character, CharacterBatch, LabelCharacter, Query
from .._random import derived_seed, root_entropy
from .._strategies import (
    ANSWER_STRATEGIES,
    AnswerStrategy,
    ExactStrategy,
    NullAdversary,
    SampledStrategy,
    hoeffding_samples,
)
from .._validation import Callable, InstanceOf, Interval, NoneOk, Options, check_param, show
from .._version_space import VersionSpaceStrategy
from ..concepts._families import FiniteFamily
from . import _violations
from ._answering import answer_fast, answer_with_strategy, check_query, fast_strategy
from ._cache import AnswerCache
from ._enumerated import EnumeratedEngine
from ._montecarlo import MonteCarloEngine
from ._seal import Sealed
from ._target import HiddenTarget
from ._vspace import VersionSpaceEngine

ANSWER_STRATEGIES.setdefault("version-space", VersionSpaceStrategy)

TRUTH_MODES = ("auto", "exact", "monte-carlo")
#: the largest number of examples a Monte Carlo truth or the sampled strategy may draw per query
DEFAULT_MAX_SAMPLES = 10**9


class BaseOracle(Sealed):
    """Shared template of the STAT and VSTAT oracles (subclasses define the band)."""

    _caller = "SQOracle"
    binary_queries = False
    oracle_kind = "sq"

    # ------------------------------------------------------------------ construction
    def _setup(self, domain, target, answers, seed, budget, truth, truth_samples, failure_probability,
               max_label_values, max_samples):
        c = self._caller
        version_space = validate_config(c, self.binary_queries, domain, target, answers, budget, truth,
                                        truth_samples, failure_probability, max_label_values, max_samples)
        self.domain = domain
        self.strategy = ANSWER_STRATEGIES[answers]() if isinstance(answers, str) else answers
        self.failure_probability = float(failure_probability)
        self.max_label_values = int(max_label_values)
        self.max_samples = int(max_samples)
        self._entropy = root_entropy(seed, c)
        self.ledger = Ledger(budget)
        self._cache = AnswerCache(self.ledger)
        self._truth_samples = truth_samples
        self._target = None if version_space else HiddenTarget(target, c)
        if version_space:
            self._engine = VersionSpaceEngine(domain, target, tolerance=self.tolerance, entropy=self._entropy)
        elif domain.finite and truth != "monte-carlo" and domain.enumerable:
            self._engine = EnumeratedEngine(domain, self._target, max_label_values=self.max_label_values,
                                            binary=self.binary_queries, entropy=self._entropy)
        else:
            self._check_samples(self._truth_n(), "Monte Carlo truths")
            self._engine = MonteCarloEngine(domain, self._target, binary=self.binary_queries, entropy=self._entropy,
                                            n=self._truth_n(), failure_probability=self.failure_probability,
                                            value_range=self._value_range(), max_label_values=self.max_label_values)
        self._noise_features: dict[int, np.ndarray] = {}
        self._noise_sums: dict[int, float] = {}
        #: "exact" answers whose truths are Monte Carlo estimates: warned about once, at the first such truth
        self._estimated_exact = (EstimatedExactNotice(self) if isinstance(self.strategy, ExactStrategy)
                                 and isinstance(self._engine, MonteCarloEngine) and domain.finite else None)
        #: the built-in strategy answered inline (None: through AnswerContext), and whether Character and
        #: LabelCharacter queries take the lookup path of ``ask`` (docs/theory/structured-queries.md)
        self._fast_kind = None if version_space else fast_strategy(self.strategy)
        self._structured = (type(self._engine) in (EnumeratedEngine, MonteCarloEngine)
                            and self._engine.structured)
        self._d = domain.d
        table = getattr(self._engine, "table", None)
        if (isinstance(self.strategy, NullAdversary) and not version_space and self.exact
                and table.values is None):
            raise InvalidParameterError(
                f"The 'max_label_values' parameter of {c} must be at least the number of distinct labels of the "
                f"target ({table.distinct}) for the 'adversarial' strategy (the null distribution is "
                f"the label marginal). Got {self.max_label_values} instead."
            )
        if isinstance(self.strategy, SampledStrategy):
            self._check_samples(self.sample_size(self.strategy.delta), "the 'sampled' strategy")
        from ._grading import grader_for

        self._grader = grader_for(self)

    def _check_samples(self, n: int, what: str) -> None:
        if n > self.max_samples:
            name, value = ("tolerance", self.tolerance) if self.tolerance is not None else ("t", self.t)
            raise InvalidParameterError(
                f"The {name!r} parameter of {self._caller} must let {what} use at most max_samples={self.max_samples} "
                f"examples per query (it needs {n:.3g}; loosen {name} or raise max_samples). Got {value!r} instead."
            )

    def _value_range(self) -> float:
        return 1.0 if self.binary_queries else 2.0

    def _truth_n(self) -> int:
        if self._truth_samples is not None:
            return int(self._truth_samples)
        return hoeffding_samples(self._truth_target_error(), self.failure_probability, self._value_range())

    # ------------------------------------------------------------------ public accessors
    @property
    def exact(self) -> bool:
        """True when the engine enumerates the domain (every truth exact), False for a Monte Carlo engine.

        Engine-level: a Monte Carlo oracle still answers junta queries exactly (docs/theory/juntas.md,
        section juntas-exact); per-query exactness is in each record's ``truth_error``,
        ``failure_probability`` and ``extra["truth_path"]``.
        """
        return self._engine.exact

    @property
    def boolean_labels(self) -> bool:
        """Whether the target's labels lie in {0, 1} (public: the label space of the class)."""
        return self._engine.boolean_labels

    @property
    def truth_points(self) -> int:
        """How many points a truth averages over: the domain size (exact) or the Monte Carlo sample size."""
        return self._engine.truth_points if not isinstance(self._engine, VersionSpaceEngine) else self.domain.size

    @property
    def seed_entropy(self) -> int:
        """The root entropy every stream of this oracle derives from (never shown to learners)."""
        return self._entropy

    def child_entropy(self, purpose: str) -> int:
        """A one-way derived seed for a wrapper's own streams (the adapter's inner draws): reveals nothing of
        the oracle's noise or samples."""
        return derived_seed(self._entropy, "child", str(purpose))

    @property
    def survivors(self) -> int:
        """Number of family members consistent with every answer so far (version-space strategy)."""
        return int(self._require_version_space("survivors").alive.sum())

    def _require_version_space(self, what):
        if not isinstance(self._engine, VersionSpaceEngine):
            raise OracleStateError(f"{what} belongs to the version-space strategy; this oracle answers with "
                                   f"{self.strategy!r}.")
        return self._engine

    def reveal(self, avoid=None):
        """Draw the target from the survivors (with the oracle's seed) and re-check every answer.

        Parameters
        ----------
        avoid : callable, optional
            A hypothesis: the target is drawn among survivors that differ from it somewhere on
            the domain whenever one exists (so a learner that stopped early is graded honestly).

        Every recorded answer is re-evaluated exactly against the drawn target (an independent
        code path from the one that chose the answers); a violation raises
        :class:`StrategyContractError`. The first call fixes the target; later calls return it,
        and asking further queries raises. Learners never reach this method: grading calls it with the
        learner's hypothesis as ``avoid``.
        """
        return self._require_version_space("reveal()").reveal(avoid)

    # ------------------------------------------------------------------ answering
    def _check_query(self, query, caller="ask"):
        check_query(self, query, caller)

    def _answer(self, query, ev) -> dict:
        if self._estimated_exact is not None and ev.failure_probability > 0:  # a Monte Carlo truth, not a junta's
            self._estimated_exact.warn(ev)
        kind = self._fast_kind
        return answer_with_strategy(self, query, ev) if kind is None else answer_fast(self, query, ev, kind)

    def _sampler(self):
        return self._engine.sampler

    def _valid_for(self, a: float, ev, alive) -> bool:
        if ev.member_truths is not None:
            return self._engine.valid_for(a, ev, alive)
        lo, hi, _ = self._band(ev)
        return lo <= a <= hi

    def ask(self, query: Query) -> float:
        """Answer one query: a float within the oracle's band of E[phi(x, f(x))].

        Repeating a query (same key) returns the same answer and is recorded again with
        ``cached=True``. Raises :class:`QueryBudgetExceeded` before answering when the budget
        is spent, :class:`QueryRangeError` for a bad query and :class:`QueryContractError` for a query
        that is not pointwise; none of them changes the ledger.
        """
        t = type(query)
        if (t is Character or t is LabelCharacter) and self._structured and query.d == self._d:
            return self._ask_structured(query)
        self._check_query(query)
        return float(self._run([query])[0])

    def _ask_structured(self, query) -> float:
        """``_run([query])`` for a Character or LabelCharacter on a structured engine, without the batch
        staging: the same evaluation, cache resolution, answer, checks and record."""
        led = self.ledger
        if led.budget is not None:
            led.check_budget(1)
        t0 = time.perf_counter()
        eng = self._engine
        ev = eng.character(query) if type(query) is Character else eng.label_character(query)
        cache = self._cache
        prior = cache.first(ev.key)
        if prior is None:
            if _violations.active() and ev.noise_vector is not None:
                _violations.note_query(self, query.name, ev.key, ev.noise_vector)
            rec = self._answer(query, ev)
            rec["_digest"] = ev.truth
        elif prior[1] == ev.truth:  # a repeat (digest: the truth)
            rec = dict(name=query.name, kind=query.kind, key=ev.key, extra={})
        else:  # the same key for a different truth: the general path resolves the collision
            return float(self._run([query])[0])
        return float(cache.commit(rec, time.perf_counter() - t0))

    def ask_batch(self, queries) -> np.ndarray:
        """Answer many queries; equivalent to asking them in order (same answers, same records).

        ``queries`` is a sequence of queries and :class:`CharacterBatch` objects, or one
        CharacterBatch (answered by one Walsh-Hadamard transform, one record per member). The
        whole batch's budget is checked first; the batch is atomic: if any query is bad, nothing
        is recorded. A batch's time is shared equally by its records (``seconds``).
        """
        if isinstance(queries, Query) or not hasattr(queries, "__iter__"):
            raise InvalidParameterError(
                f"The 'queries' parameter of {self._caller}.ask_batch must be a sequence of queries or a "
                f"CharacterBatch. Got {show(queries)} instead (use ask for one query)."
            )
        items = [queries] if isinstance(queries, CharacterBatch) else list(queries)
        return self._run(items)

    def _run(self, items) -> np.ndarray:
        flat = [m for it in items for m in (it.members if isinstance(it, CharacterBatch) else [it])]
        for m in flat:
            self._check_query(m, "ask_batch")
        self.ledger.check_budget(len(flat))
        t0 = time.perf_counter()
        eng = self._engine
        vs = eng if isinstance(eng, VersionSpaceEngine) else None
        evals = []
        for it in items:
            if isinstance(it, CharacterBatch):
                evals.extend(eng.evaluate_batch(it) if vs is None and not self.binary_queries
                             else [eng.evaluate(m) for m in it.members])
            else:
                evals.append(eng.evaluate(it))
        # answer in order without committing, so a failing strategy leaves the ledger intact
        staged: list[dict] = []
        seen: dict[str, dict] = {}
        alive = None if vs is None else vs.alive
        for q, ev in zip(flat, evals):
            key, prior, collided = self._cache.resolve(ev, seen, lambda a, ev=ev: self._valid_for(a, ev, alive))
            ev.key = key
            extra = {"key_collision": True} if collided else {}
            if prior is not None:
                if alive is not None:  # a repeated answer eliminates nobody
                    extra.update(survivors=int(alive.sum()), eliminated=0)
                staged.append(dict(name=q.name, kind=q.kind, key=key, extra=extra))
                continue
            if _violations.active() and ev.noise_vector is not None:
                _violations.note_query(self, q.name, key, ev.noise_vector)
            if vs is not None:
                rec, alive = vs.answer(q, ev, alive)
            else:
                rec = self._answer(q, ev)
            rec["extra"].update(extra)
            rec["_digest"] = ev.digest()
            seen[key] = rec
            staged.append(rec)
        seconds = (time.perf_counter() - t0) / max(1, len(flat))
        answers = []
        for q, rec in zip(flat, staged):
            if vs is not None and rec["key"] not in self._cache:
                vs.asked.append((q, rec["answer"]))
            answers.append(self._cache.commit(rec, seconds))
        if vs is not None:
            vs.vs.alive = alive
        return np.array(answers, dtype=np.float64)

    # ------------------------------------------------------------------ subclass hooks
    def _band(self, ev):  # pragma: no cover - abstract
        raise NotImplementedError

    def _grid(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample_size(self, delta: float) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _truth_target_error(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        return (f"{type(self).__name__}({self.domain!r}, {self._band_repr()}, answers={self.strategy!r}, "
                f"queries={len(self.ledger)})")


class EstimatedExactNotice:
    """The one warning of an ``answers="exact"`` oracle above the enumeration guard: its truths are Monte
    Carlo estimates, so its "exact" answers are exact only up to their recorded bound.

    Issued at the first truth that is really estimated (a junta query on a target that declares its
    support gets an exact truth beyond the guard, docs/theory/juntas.md, and warns nothing), once per oracle.
    """

    __slots__ = ("caller", "domain", "done")

    def __init__(self, oracle):
        self.caller, self.domain, self.done = oracle._caller, oracle.domain, False

    def warn(self, ev) -> None:
        if self.done:
            return
        self.done = True
        n = ev.extra.get("truth_samples") if ev.extra else None
        on = f" on n = {n} samples" if n is not None else ""
        dom = self.domain
        warnings.warn(
            f"{self.caller}(answers='exact') on {dom!r}: the domain has {dom.size:.3g} points, above the enumeration "
            f"guard max_enumeration={dom.max_enumeration}, so truths are Monte Carlo estimates{on}, within "
            f"{ev.truth_error:.3g} of the expectation with probability 1 - {ev.failure_probability:g}; 'exact' "
            f"answers are exact only up to that bound (recorded per query as truth_error and failure_probability). "
            f"Queries that declare their reads on a target that declares its support get exact junta truths "
            f"(docs/theory/juntas.md).",
            SQSimWarning, stacklevel=5)


def validate_config(c: str, binary_queries: bool, domain, target, answers, budget, truth, truth_samples,
                    failure_probability, max_label_values, max_samples) -> bool:
    """Check an SQ/VSTAT oracle's parameters (one message format); return whether it is a version space."""
    check_param("domain", domain, InstanceOf(Domain, "a sqsim domain (BooleanCube, ZqCube or Gaussian)"), c)
    check_param("answers", answers, [Options(tuple(sorted(set(ANSWER_STRATEGIES)))),
                                     InstanceOf(AnswerStrategy, "an AnswerStrategy instance")], c)
    version_space = answers == "version-space" or isinstance(answers, VersionSpaceStrategy)
    if version_space:
        if binary_queries:
            raise InvalidParameterError(
                f"The 'answers' parameter of {c} must not be 'version-space' (STAT oracles only). Got {show(answers)} instead."
            )
        check_param("target", target, InstanceOf(FiniteFamily, "a finite concept family (e.g. Parities(d)) "
                                                               "with answers='version-space'"), c)
        if target.domain != domain:
            raise InvalidParameterError(
                f"The 'target' parameter of {c} must be a family over {domain!r}. Got one over {target.domain!r} instead."
            )
    else:
        check_param("target", target, Callable, c)
    check_param("budget", budget, [Interval(int, 0, None), NoneOk], c)
    check_param("truth", truth, Options(TRUTH_MODES), c)
    check_param("truth_samples", truth_samples, [Interval(int, 1, None), NoneOk], c)
    check_param("failure_probability", failure_probability, Interval(float, 0, 1, closed="neither"), c)
    check_param("max_label_values", max_label_values, Interval(int, 1, 2**15), c)
    check_param("max_samples", max_samples, Interval(int, 1, None), c)
    td = getattr(target, "d", None)
    if isinstance(td, (int, np.integer)) and int(td) != domain.d:
        raise InvalidParameterError(
            f"The 'target' parameter of {c} must act on the domain's dimension d={domain.d}. "
            f"Got a target with d={td} instead."
        )
    if truth == "exact" and isinstance(domain, FiniteDomain):
        domain.check_enumerable("exact truths (truth='exact')")
    if truth == "exact" and not domain.finite:
        raise InvalidParameterError(
            f"The 'truth' parameter of {c} must be 'auto' or 'monte-carlo' on {domain!r} "
            f"(no exact expectations under a continuous distribution). Got 'exact' instead."
        )
    return version_space
