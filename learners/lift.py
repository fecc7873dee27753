"""Lifting Boolean SQ learners to the lifted class (the upper-bound side; docs/theory/lifting-learners.md).

For q = 2 the lifted target is f^Delta(z) = f(thres_2(z)) phi_D(V), V = sum_j N2(z_j), and the event
E = [phi_D(V) != 0] is independent of x = thres_2(z) (N2 is even, the sign of a Gaussian coordinate is
independent of its magnitude). So the Gaussian query phi(z, l) = psi(thres_2(z), 1[l != 0]) satisfies

    E_z[phi(z, f^Delta(z))] = A0 + c (E_x[psi(x, f(x))] - A0),   A0 = E_x psi(x, 0),  c = P[E]

(docs/theory/lifting-learners.md, section lifting-identity). :func:`lift_learner` runs any Boolean SQ learner
against a Gaussian oracle on the lifted class by translating each Boolean query psi into that phi and each
Gaussian answer a into the Boolean answer b = A0 + (a - A0) / c^, within the implied tolerance
(tau + (c_hi - c_lo)) / c^ (c^ the midpoint of the certified interval [c_lo, c_hi]; section
lifting-tolerance).
"""

from __future__ import annotations

import functools

import numpy as np

from sqsim import (
    BooleanCube,
    Character,
    CharacterBatch,
    CorrelationalQuery,
    InvalidParameterError,
    NumbaQuery,
    Query,
)
from sqsim._errors import QueryContractError, SealError
from sqsim._learning import Learner
from sqsim._queries import LabelCharacter, _numba_rows
from sqsim._validation import Interval, check_param, show
from sqsim.lift import CompressedLift
from sqsim.oracles._handle import SealedSurface, ViewRecord
from sqsim.oracles._violations import violation

from ._base import register
from .boolean import LowDegree

__all__ = ["MAX_READS", "LiftedHypothesis", "LiftedLearner", "LiftedLowDegree", "lift_learner"]

#: a query's declared reads R are enumerated (2^|R| rows) to compute A0 = E_x psi(x, 0) exactly
MAX_READS = 20

_HOW = ("Liftable Boolean queries are Character, LabelCharacter, CharacterBatch (A0 is known in closed form), "
        "or a Query, CorrelationalQuery or NumbaQuery that declares reads=... with at most "
        f"{MAX_READS} coordinates (A0 = E_x psi(x, 0) is an enumeration over the coordinates it reads)")


# --------------------------------------------------------------------------- the lifted hypothesis
class LiftedHypothesis:
    """z -> h(thres_2(z)) phi_D(sum_j N2(z_j)): the lift of a Boolean hypothesis h in closed form.

    The same formula as :meth:`CompressedLift.lift` (docs/theory/lifting-learners.md, section
    lifting-hypothesis), for hypotheses that are not compressible (Definition 2.1) or whose compressed form needs
    a larger D than the lift's.
    """

    def __init__(self, hypothesis, lift: CompressedLift):
        self.hypothesis = hypothesis
        self.lift = lift
        self.d = lift.d

    def __call__(self, Z) -> np.ndarray:
        X, phi = self.lift.features(Z)
        return np.asarray(self.hypothesis(X), dtype=np.float64).reshape(-1) * phi

    def __repr__(self):
        return f"LiftedHypothesis({self.hypothesis!r}, {self.lift!r})"


def lift_hypothesis(hypothesis, lift: CompressedLift):
    """``lift.lift(h)`` when h is compressible with this lift's D, else a :class:`LiftedHypothesis`."""
    if hypothesis is None:
        return None
    if getattr(hypothesis, "compressed", None) is not None and getattr(hypothesis, "d", None) == lift.d:
        try:
            return lift.lift(hypothesis)
        except InvalidParameterError:  # D too small for this hypothesis: the closed form needs no D
            pass
    return LiftedHypothesis(hypothesis, lift)


# --------------------------------------------------------------------------- psi of a reads-declaring query
def _psi_correlational(X, e, g, boolean):
    """(1 - 2e) g(X) (Boolean labels) or e g(X) (real labels): a CorrelationalQuery's psi."""
    e = np.asarray(e, dtype=np.float64)
    return (1.0 - 2.0 * e if boolean else e) * np.asarray(g(X), dtype=np.float64)


def _psi_numba(X, e, fn, params):
    """A NumbaQuery's psi, row by row in its compiled function."""
    return _numba_rows(fn, np.ascontiguousarray(X, dtype=np.int64), np.ascontiguousarray(e, dtype=np.float64), params)


def _psi_of(query):
    """psi(X, e) = the Boolean query at labels e in {0, 1}, as a function ThresholdQuery can call."""
    t = type(query)
    if t is CorrelationalQuery:
        return functools.partial(_psi_correlational, g=query.fn, boolean=query.labels != "real")
    if t is NumbaQuery:
        return functools.partial(_psi_numba, fn=query.fn, params=query.params)
    return query.fn  # a plain Query: fn(X, y) with y = e is the Boolean query itself


def _a0_by_enumeration(query, d: int) -> float:
    """A0 = E_x psi(x, 0) over x_R in {0, 1}^R (2^|R| rows); unread coordinates at 0 and, as a check, at 1."""
    R = list(query.reads)
    codes = np.arange(1 << len(R), dtype=np.int64)
    bits = ((codes[:, None] >> np.arange(len(R), dtype=np.int64)) & 1).astype(np.int64)
    means = []
    for fill in (0, 1):
        X = np.full((len(codes), d), fill, dtype=np.int64)
        X[:, R] = bits
        means.append(float(query.values(X, np.zeros(len(codes)), True).mean()))
    if means[0] != means[1]:
        raise QueryContractError(
            f"The 'query' parameter of LiftedLearner (Boolean view) must read only its declared coordinates "
            f"{tuple(R)}: query {query.name!r} changes when unread coordinates change (A0 {means[0]!r} with them at "
            f"0, {means[1]!r} at 1). Declare every coordinate it reads."
        )
    return means[0]


# --------------------------------------------------------------------------- the Boolean view
_VIEW_PUBLIC = frozenset({"ask", "ask_batch", "kind", "oracle_kind", "tolerance", "domain", "boolean_labels",
                          "truth_points", "child_entropy", "budget_left", "queries", "ledger", "close"})
_LEDGER_PUBLIC = frozenset({"total", "counts", "to_rows"})


def _records(view) -> list:
    return _SLOT["bl_records"].__get__(view)


class BooleanLedgerView(SealedSurface):
    """The Boolean view's records (index, name, kind, Boolean answer, count), as its learner knows them."""

    __slots__ = ("bl_records",)

    def __init__(self, records: list):
        _SLOT["bl_records"].__set__(self, records)

    def __len__(self):
        return len(_records(self))

    def __getitem__(self, i):
        return _records(self)[i]

    def __iter__(self):
        return iter(list(_records(self)))

    @property
    def total(self) -> int:
        return sum(r.count for r in _records(self))

    def counts(self) -> dict:
        out: dict = {}
        for r in _records(self):
            out[r.kind] = out.get(r.kind, 0) + 1
        return out

    def to_rows(self) -> list:
        return [{"index": r.index, "name": r.name, "kind": r.kind, "answer": r.answer, "count": r.count}
                for r in _records(self)]

    _SEAL_PUBLIC, _SEAL_NAME = _LEDGER_PUBLIC, "LedgerView"

    def __repr__(self):
        return f"LedgerView(records={len(self)}, counts={self.counts()})"


def _get(view, name):
    return _SLOT[name].__get__(view)


def _check_d(view, qd) -> None:
    d = _get(view, "v_lift").d
    if qd != d:
        raise InvalidParameterError(f"The 'query' parameter of LiftedLearner (Boolean view) must act on d = {d} "
                                    f"coordinates. Got a query on d = {qd} instead.")


def _translate(view, query):
    """(the Gaussian query, A0) for one Boolean query; refused with the how-to otherwise."""
    from sqsim.lift import LiftedCharacter, ThresholdQuery

    d = _get(view, "v_lift").d
    t = type(query)
    if t is Character:
        _check_d(view, query.d)
        return LiftedCharacter(d, query.support, weights=(1.0, -1.0)), float(not query.support)
    if t is LabelCharacter:
        _check_d(view, query.d)
        w0, w1 = query.weights
        return LiftedCharacter(d, query.support, weights=(w0, w1)), w0 * float(not query.support)
    if t in (Query, CorrelationalQuery, NumbaQuery):
        reads = query.reads
        if reads is None or len(reads) > MAX_READS or (reads and max(reads) >= d):
            why = ("declares no reads" if reads is None else
                   f"reads {len(reads)} > {MAX_READS} coordinates" if len(reads) > MAX_READS else
                   f"reads coordinates outside [0, {d - 1}]")
            raise InvalidParameterError(
                f"The 'query' parameter of LiftedLearner (Boolean view) must be liftable. Got {query!r}, which "
                f"{why}, instead. {_HOW}.")
        a0 = _a0_by_enumeration(query, d)
        return ThresholdQuery(_psi_of(query), q=2, events="nonzero", reads=reads, name=f"lift[{query.name}]",
                              kind=query.kind), a0
    raise InvalidParameterError(
        f"The 'query' parameter of LiftedLearner (Boolean view) must be liftable. Got {show(query)} instead. {_HOW}.")


def _answer(view, boolean_queries, gaussian_answers, a0) -> np.ndarray:
    """b = A0 + (a - A0) / c^, clipped into [-1, 1] (every Boolean truth lies there); recorded."""
    a = np.asarray(gaussian_answers, dtype=np.float64)
    a0 = np.asarray(a0, dtype=np.float64)
    b = np.clip(a0 + (a - a0) / _get(view, "v_c"), -1.0, 1.0)
    recs = _records(_get(view, "v_ledger"))
    for q, v in zip(boolean_queries, b):
        recs.append(ViewRecord(len(recs), str(q.name), str(q.kind), float(v), 1))
    _get(view, "v_a0").extend(a0.tolist())
    _get(view, "v_gauss").extend(a.tolist())
    return b


def _gaussian(view):
    if not _get(view, "v_open"):
        raise violation(SealError, "This handle's run has ended: asking is refused (a hypothesis may not ask queries).")
    return _get(view, "v_handle")


class BooleanView(SealedSurface):
    """A Boolean SQ handle in front of a Gaussian handle on the lifted class (docs/theory/lifting-learners.md).

    It offers what a Boolean SQ learner may use of a handle: ``ask``, ``ask_batch``, ``kind`` "sq",
    ``domain`` = BooleanCube(d), ``tolerance`` = the implied Boolean tolerance, ``boolean_labels`` True,
    ``budget_left``, ``queries``, ``ledger`` (the Boolean answers) and ``child_entropy``. Every Boolean query
    becomes one Gaussian query, asked through the Gaussian handle (counted there, once). Sealed like a handle:
    public names only, read-only, not copyable.
    """

    __slots__ = ("v_a0", "v_c", "v_gauss", "v_handle", "v_ledger", "v_lift", "v_open", "v_start", "v_tol")

    def __init__(self, handle, lift: CompressedLift, c_hat: float, tolerance: float):
        for name, value in (("v_handle", handle), ("v_lift", lift), ("v_c", float(c_hat)),
                            ("v_tol", float(tolerance)), ("v_start", int(handle.queries)),
                            ("v_ledger", BooleanLedgerView([])), ("v_open", True), ("v_a0", []), ("v_gauss", [])):
            _SLOT[name].__set__(self, value)

    # ------------------------------------------------------------------ calls
    def ask(self, query) -> float:
        """One Boolean query = one Gaussian query; the answer is within ``tolerance`` of the Boolean truth."""
        if isinstance(query, CharacterBatch):
            raise InvalidParameterError(f"The 'query' parameter of ask must be one query. Got {show(query)} instead "
                                        f"(use ask_batch for a batch).")
        return float(self.ask_batch([query])[0])

    def ask_batch(self, queries) -> np.ndarray:
        """Many Boolean queries as one Gaussian batch (a CharacterBatch becomes one LiftedCharacterBatch)."""
        from sqsim.lift import LiftedCharacterBatch

        if isinstance(queries, CharacterBatch):
            _check_d(self, queries.d)
            members = list(queries.members)
            batch = LiftedCharacterBatch(queries.d, supports=[m.support for m in members], weights=(1.0, -1.0))
            answers = _gaussian(self).ask_batch(batch)
            return _answer(self, members, answers, [float(not m.support) for m in members])
        if isinstance(queries, Query) or not hasattr(queries, "__iter__"):
            raise InvalidParameterError(f"The 'queries' parameter of ask_batch must be a sequence of queries or a "
                                        f"CharacterBatch. Got {show(queries)} instead (use ask for one query).")
        members = list(queries)
        pairs = [_translate(self, q) for q in members]  # every query is checked before anything is asked
        answers = _gaussian(self).ask_batch([g for g, _ in pairs]) if pairs else np.zeros(0)
        return _answer(self, members, answers, [a for _, a in pairs])

    # ------------------------------------------------------------------ public facts
    @property
    def kind(self) -> str:
        return "sq"

    @property
    def oracle_kind(self) -> str:
        return "sq"

    @property
    def tolerance(self) -> float:
        return _get(self, "v_tol")

    @property
    def domain(self):
        return BooleanCube(_get(self, "v_lift").d)

    @property
    def boolean_labels(self) -> bool:
        return True

    @property
    def truth_points(self):
        return None

    def child_entropy(self, purpose: str) -> int:
        """A derived seed (the Gaussian handle's, for a purpose of this view)."""
        return _get(self, "v_handle").child_entropy(f"boolean-view|{purpose}")

    @property
    def budget_left(self):
        return _get(self, "v_handle").budget_left

    @property
    def queries(self) -> int:
        """Boolean queries asked through this view (= Gaussian queries it asked)."""
        return int(_get(self, "v_handle").queries) - _get(self, "v_start")

    @property
    def ledger(self) -> BooleanLedgerView:
        return _get(self, "v_ledger")

    def close(self) -> None:
        """End the run: every further call is refused."""
        _SLOT["v_open"].__set__(self, False)

    _SEAL_PUBLIC, _SEAL_NAME = _VIEW_PUBLIC, "OracleHandle"

    def __repr__(self):
        return f"BooleanView(domain={self.domain!r}, tolerance={self.tolerance:.4g}, queries={self.queries})"


#: the slot descriptors, removed from the classes (as for sqsim's handles): no attribute reaches their contents
_SLOT: dict = {}
for _cls in (BooleanLedgerView, BooleanView):
    for _n in _cls.__slots__:
        _SLOT[_n] = _cls.__dict__[_n]
        delattr(_cls, _n)
del _cls, _n


# --------------------------------------------------------------------------- the lifted learner
def implied_tolerance(tau: float, c_interval) -> tuple[float, float]:
    """(c^, the implied Boolean tolerance (tau + c_hi - c_lo) / c^) with c^ the midpoint of [c_lo, c_hi].

    |b - E_x psi(x, f(x))| <= (tau + 2 eps_c) / c^ with eps_c = (c_hi - c_lo) / 2, since |E psi - A0| <= 2
    (docs/theory/lifting-learners.md, section lifting-tolerance); the midpoint minimises the bound.
    """
    lo, hi = float(c_interval[0]), float(c_interval[1])
    c_hat = 0.5 * (lo + hi)
    return c_hat, (float(tau) + (hi - lo)) / c_hat


class LiftedLearner(Learner):
    """A Boolean SQ learner run against a Gaussian oracle on the lifted class (docs/theory/lifting-learners.md).

    ``_learn(handle)`` builds a :class:`BooleanView` of the Gaussian handle and runs the Boolean learner's
    ``_learn`` on it. Each Boolean query psi becomes the Gaussian query phi(z, l) = psi(thres_2(z), 1[l != 0])
    (structured ones as :class:`~sqsim.lift.LiftedCharacter` or one :class:`~sqsim.lift.LiftedCharacterBatch`,
    reads-declaring ones as a :class:`~sqsim.lift.ThresholdQuery`), each Gaussian answer a becomes
    b = A0 + (a - A0) / c^, and the Boolean learner sees the tolerance (tau + c_hi - c_lo) / c^ with
    [c_lo, c_hi] the certified interval of c = P[phi_D(V) != 0]. Refused before any query when that
    tolerance is at least 1. The hypothesis is the lift of the Boolean learner's
    (:meth:`CompressedLift.lift` when it is compressible, else :class:`LiftedHypothesis`), graded by the
    framework like any lifted hypothesis.

    Parameters
    ----------
    boolean_learner : Learner
        Any Boolean SQ learner (``oracle_kinds`` containing "sq", ``domains`` containing "boolean").
    lift : CompressedLift
        With q = 2 (the identity needs V independent of thres_2(z)).

    Examples
    --------
    >>> import learners
    >>> from sqsim.lift import CompressedLift
    >>> L = learners.lift_learner(learners.LowDegree(k=2), CompressedLift(8, q=2, delta=1 / 8, D=2))
    >>> L.domains
    ('gaussian',)
    """

    domains = ("gaussian",)

    def __init__(self, boolean_learner, lift):
        if not (isinstance(boolean_learner, Learner) and "sq" in getattr(boolean_learner, "oracle_kinds", ())
                and "boolean" in getattr(boolean_learner, "domains", ())):
            raise InvalidParameterError(f"The 'boolean_learner' parameter of lift_learner must be a Boolean SQ "
                                        f"Learner (oracle kind 'sq' over a 'boolean' domain). Got "
                                        f"{show(boolean_learner)} instead.")
        if not isinstance(lift, CompressedLift) or lift.q != 2:
            raise InvalidParameterError(f"The 'lift' parameter of lift_learner must be a CompressedLift with q = 2 "
                                        f"(the identity needs V independent of thres_2(z)). Got {show(lift)} instead.")
        self.boolean_learner, self.lift = boolean_learner, lift

    @property
    def isolation_capable(self):
        return getattr(self.boolean_learner, "isolation_capable", True)

    def _c_interval(self):
        lift = self.lift
        interval = getattr(lift, "phi_nonzero_interval", None)
        if interval is None:  # pragma: no cover - until the certified interval exists
            c = lift.phi_nonzero_probability()
            return (c, c)
        lo, hi = interval()
        return (float(lo), float(hi))

    def _learn(self, oracle):
        lift, d = self.lift, self.lift.d
        who = type(self).__name__
        dom = oracle.domain
        if getattr(dom, "kind", None) != "gaussian" or getattr(dom, "d", None) != d:
            raise InvalidParameterError(f"The 'oracle' parameter of {who}.learn must be over Gaussian({d}) (the lift's "
                                        f"dimension). Got {dom!r} instead.")
        tau = getattr(oracle, "tolerance", None)
        lo, hi = self._c_interval()
        check_param("tolerance", tau, Interval(float, 0, 1, closed="right"), f"{who}.learn (the oracle's)")
        c_hat, implied = implied_tolerance(tau, (lo, hi))
        if not implied < 1.0:
            raise InvalidParameterError(
                f"The 'oracle' parameter of {who}.learn must have a tolerance that leaves the Boolean learner a "
                f"tolerance below 1: tau = {tau:.4g} and c = P[phi_D(V) != 0] in [{lo:.6g}, {hi:.6g}] give "
                f"(tau + c_hi - c_lo) / c^ = {implied:.4g} (docs/theory/lifting-learners.md). Choose tau < "
                f"{c_hat - (hi - lo):.4g} (or a larger delta, e.g. delta ~ 1/d). Got tolerance {tau!r} instead.")
        view = BooleanView(oracle, lift, c_hat, implied)
        try:
            h, inner = self.boolean_learner._learn(view)
        finally:
            view.close()
        details = {"boolean": dict(inner), "boolean_learner": type(self.boolean_learner).__name__,
                   "c": c_hat, "c_interval": (lo, hi), "gaussian_tolerance": float(tau),
                   "implied_tolerance": implied, "boolean_answers": [r.answer for r in view.ledger],
                   "gaussian_answers": list(_get(view, "v_gauss")), "a0": list(_get(view, "v_a0")),
                   "boolean_queries": view.queries,
                   "boolean_hypothesis": h}
        return lift_hypothesis(h, lift), details

    def __repr__(self):
        return f"{type(self).__name__}(boolean_learner={self.boolean_learner!r}, lift={self.lift!r})"


def lift_learner(boolean_learner, lift) -> LiftedLearner:
    """Run ``boolean_learner`` against a Gaussian oracle on the lifted class (see :class:`LiftedLearner`)."""
    return LiftedLearner(boolean_learner, lift)


@register("lifted-low-degree")
class LiftedLowDegree(LiftedLearner):
    """``lift_learner(LowDegree(k), lift)``: the low-degree algorithm on lifted targets (one Gaussian batch).

    It asks sum_{i <= k} C(d, i) lifted characters as one LiftedCharacterBatch; against a lifted parity of
    size <= k it identifies the support when the implied tolerance (tau + c_hi - c_lo) / c^ is below 1/2
    (docs/theory/lifting-learners.md, section lifting-low-degree).

    Parameters
    ----------
    k : int, default 2
    lift : CompressedLift (q = 2)
    """

    def __init__(self, *, k=2, lift):
        check_param("k", k, Interval(int, 0, None), "LiftedLowDegree")
        super().__init__(LowDegree(k=k), lift)
        self.k = int(k)

    def __repr__(self):
        return f"LiftedLowDegree(k={self.k}, lift={self.lift!r})"
