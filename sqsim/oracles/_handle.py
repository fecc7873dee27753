"""What a learner can see: the sealed :class:`OracleHandle` and its :class:`LedgerView`.

``Learner.learn(oracle)`` hands ``_learn`` a handle, never the oracle. A handle offers the calls of its
oracle's kind (``ask``/``ask_batch`` for SQ oracles, ``draw``/``label`` for example oracles,
``gradient`` for gradient oracles) and public facts: ``kind``, ``tolerance`` (``t`` for VSTAT,
``epsilon`` and ``model`` for gradients), ``domain``, ``budget_left``, ``queries`` (asked through this
handle) and ``ledger``, a view of this run's records showing only index, name, kind, answer and count:
never truths, truth errors, in-band flags, samples, timings, keys or strategy state.

No attribute of a handle or of its view refers to the oracle: the reference sits in a slot whose
descriptor is removed from the class, so ``vars``, ``__dict__``, ``dir`` and attribute reads find
nothing; copying, deep-copying and pickling raise :class:`SealError`; after ``learn`` returns, the handle
is closed. Interpreter-level introspection (frames, ``gc``, function ``__globals__``/``__closure__``,
``ctypes``) can still reach objects in the same process: ``isolation="process"`` closes those routes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._errors import QueryContractError, SealError
from ._violations import violation

KIND_CALLS = {"sq": ("ask", "ask_batch"), "vstat": ("ask", "ask_batch"), "example": ("draw", "label"),
              "gradient": ("gradient",), "label": ("label",)}


def _no_dunder(obj, name):
    """Protocol probes (``__array__``, ``_repr_html_``-style dunders) are plain misses, not violations."""
    if name.startswith("__") and name.endswith("__"):
        raise AttributeError(f"{type(obj).__name__} has no attribute {name!r}")


def _refuse(self, *args):
    raise violation(SealError, f"A {type(self).__name__} cannot be copied or pickled: it is a learner's only channel to "
                    f"its oracle, and a copy would be a second, uncounted one.")


@dataclass(frozen=True)
class ViewRecord:
    """One record as its learner may see it (no truth, error, band flag, key, strategy or timing)."""

    index: int
    name: str
    kind: str
    answer: float
    count: int

    def __getattr__(self, name):
        _no_dunder(self, name)
        raise violation(SealError, f"A learner's ledger record has no {name!r}: it shows index, name, kind, "
                                   f"answer and count only.")


class SealedSurface:
    """The sealing every learner-facing object shares: public names only, read-only, never copied or pickled.

    Subclasses set ``_SEAL_PUBLIC`` (the names a learner may read) and ``_SEAL_NAME`` (shown in messages),
    and keep their state in ``__slots__`` whose descriptors are removed from the class (``_SLOT``).
    """

    __slots__ = ()
    _SEAL_PUBLIC: frozenset = frozenset()
    _SEAL_NAME = "OracleHandle"

    def __getattribute__(self, name):
        public = type(self)._SEAL_PUBLIC  # a class lookup: never through this method
        if name in public or (name.startswith("__") and name.endswith("__")):
            return object.__getattribute__(self, name)
        category = "private" if name.startswith("_") else "public"
        raise violation(SealError, f"{type(self)._SEAL_NAME} has no attribute {name!r} ({category} names outside "
                                   f"{', '.join(sorted(public))} are refused).")

    def __getattr__(self, name):
        _no_dunder(self, name)
        raise violation(SealError, f"{type(self)._SEAL_NAME} has no attribute {name!r}: a learner sees only "
                                   f"{', '.join(sorted(type(self)._SEAL_PUBLIC))}.")

    def __setattr__(self, name, value):
        raise violation(SealError, f"{type(self)._SEAL_NAME}.{name} cannot be set: it is read-only.")

    def __delattr__(self, name):
        raise violation(SealError, f"{type(self)._SEAL_NAME}.{name} cannot be deleted: it is read-only.")

    __copy__ = __deepcopy__ = __reduce_ex__ = __reduce__ = _refuse


# --------------------------------------------------------------------------- the ledger view
_VIEW_PUBLIC = frozenset({"total", "counts", "to_rows"})


def _view_span(view):
    """(the ledger, the first index of this run, this run's number of records)."""
    led = _V_LEDGER(view)
    start = _V_START(view)
    return led, start, len(led) - start


def _show(led, start: int, j: int) -> ViewRecord:
    name, kind, answer, count = led._view_row(start + j)
    return ViewRecord(j, name, kind, float(answer), count)


class LedgerView(SealedSurface):
    """This run's records, as the learner already knows them (read-only)."""

    __slots__ = ("v_ledger", "v_start")

    def __init__(self, ledger, start: int):
        _SLOT["v_ledger"].__set__(self, ledger)
        _SLOT["v_start"].__set__(self, int(start))

    def __len__(self) -> int:
        return _view_span(self)[2]

    def __getitem__(self, i):
        led, start, n = _view_span(self)
        if isinstance(i, slice):
            return [_show(led, start, j) for j in range(*i.indices(n))]
        j = i + n if i < 0 else i
        if not 0 <= j < n:
            raise IndexError(f"ledger view index {i} out of range (this run has {n} records)")
        return _show(led, start, j)

    def __iter__(self):
        led, start, n = _view_span(self)
        return (_show(led, start, j) for j in range(n))

    @property
    def total(self) -> int:
        """Queries of this run (examples and labels one each)."""
        return sum(r.count for r in self)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self:
            out[r.kind] = out.get(r.kind, 0) + 1
        return out

    def to_rows(self) -> list[dict]:
        """Plain dicts (index, name, kind, answer, count): what crosses a process boundary."""
        return [dict(index=r.index, name=r.name, kind=r.kind, answer=r.answer, count=r.count) for r in self]

    _SEAL_PUBLIC, _SEAL_NAME = _VIEW_PUBLIC, "LedgerView"

    def __repr__(self):
        return f"LedgerView(records={len(self)}, counts={self.counts()})"


# --------------------------------------------------------------------------- the handle
_PUBLIC = frozenset({"ask", "ask_batch", "draw", "label", "gradient", "kind", "oracle_kind", "tolerance", "t",
                     "epsilon", "model", "domain", "boolean_labels", "truth_points", "child_entropy", "budget_left",
                     "queries", "ledger", "close"})


def _oracle_for(h, call: str):
    """The oracle behind ``h`` for an offered call (refused after the run and for calls of another kind)."""
    kind = _SLOT["h_kind"].__get__(h)
    if not _SLOT["h_open"].__get__(h):
        raise violation(SealError, f"This handle's run has ended: {call} is refused (a hypothesis may not ask queries).")
    if call not in KIND_CALLS[kind]:
        raise violation(SealError, f"A handle to a {kind!r} oracle has no {call}(); it offers "
                                   f"{', '.join(KIND_CALLS[kind])}.")
    return _SLOT["h_oracle"].__get__(h)


def _bare(h, exc: BaseException, counted: bool) -> BaseException:
    """``exc`` ready to re-raise to the learner: with no traceback and no chained exceptions, so no frame of the
    oracle (whose locals hold the target) travels with it. A refusal that depends on the target ends the run:
    a QueryContractError (whether a query is pointwise can depend on the labels) or a refusal the oracle
    counted (a gradient query refused after its truth was computed); each would otherwise be one free bit, so
    closing the handle caps that channel at one bit per run. Refusals of the learner's input alone (a bad
    shape, an exhausted budget) are uncounted and leave the handle open."""
    if counted or isinstance(exc, QueryContractError):
        _SLOT["h_open"].__set__(h, False)
    exc.__cause__ = exc.__context__ = None
    exc.__suppress_context__ = True
    return exc.with_traceback(None)


def _served(h, call: str, *args):
    """``oracle.<call>(*args)`` for an offered call; a refusal comes back bare (see :func:`_bare`)."""
    failure = _serve(h, call, args)
    if isinstance(failure, _Failure):
        exc, counted = failure.exc, failure.counted
        del failure
        raise _bare(h, exc, counted)
    return failure


class _Failure:
    """A refusal caught in :func:`_serve`, carried out of its frame (which holds the oracle)."""

    __slots__ = ("counted", "exc")

    def __init__(self, exc, counted):
        self.exc, self.counted = exc, counted


def _serve(h, call, args):
    oracle = _oracle_for(h, call)
    led = oracle.ledger
    before = len(led)
    try:
        return getattr(oracle, call)(*args)
    except Exception as exc:  # noqa: BLE001 - every refusal is re-raised, bare, by _served
        return _Failure(exc.with_traceback(None), len(led) != before)


def _fact(h, name: str):
    return getattr(_SLOT["h_oracle"].__get__(h), name, None)


class OracleHandle(SealedSurface):
    """A learner's sealed channel to one oracle for one run (see the module docstring)."""

    __slots__ = ("h_oracle", "h_kind", "h_start", "h_open", "h_view")

    def __init__(self, oracle):
        kind = getattr(oracle, "oracle_kind", None)
        if kind not in KIND_CALLS:
            raise SealError(f"{type(oracle).__name__} is not an sqsim oracle (no known oracle_kind): got {kind!r}.")
        for name, value in (("h_oracle", oracle), ("h_kind", kind), ("h_start", oracle.ledger.total),
                            ("h_open", True), ("h_view", LedgerView(oracle.ledger, len(oracle.ledger)))):
            _SLOT[name].__set__(self, value)

    # ------------------------------------------------------------------ calls
    def ask(self, query) -> float:
        """One query, answered within the oracle's tolerance (counted)."""
        if not (_H_OPEN(self) and _H_KIND(self) in _ASKING):
            return _served(self, "ask", query)
        oracle = _H_ORACLE(self)
        try:
            return oracle.ask(query)
        except Exception as exc:  # noqa: BLE001 - re-raised bare, without the oracle's frames
            failure = exc.with_traceback(None)
        del oracle
        raise _bare(self, failure, False)

    def ask_batch(self, queries) -> np.ndarray:
        """Many queries, equivalent to asking them in order (each counted)."""
        return _served(self, "ask_batch", queries)

    def draw(self, n):
        """``n`` labelled examples (example oracles; counted n)."""
        return _served(self, "draw", n)

    def label(self, X):
        """Labels at chosen points (label queries; counted one per point)."""
        return _served(self, "label", X)

    def gradient(self, v):
        """An approximate population gradient at ``v`` (gradient oracles; counted). A refusal the oracle
        counted (its truth at v was not finite, or the answer left the band) closes the handle."""
        return _served(self, "gradient", v)

    # ------------------------------------------------------------------ public facts
    @property
    def kind(self) -> str:
        return _SLOT["h_kind"].__get__(self)

    @property
    def oracle_kind(self) -> str:
        return _SLOT["h_kind"].__get__(self)

    @property
    def tolerance(self):
        return _fact(self, "tolerance")

    @property
    def t(self):
        return _fact(self, "t")

    @property
    def epsilon(self):
        return _fact(self, "epsilon")

    @property
    def model(self):
        return _fact(self, "model")

    @property
    def domain(self):
        return _fact(self, "domain")

    @property
    def boolean_labels(self):
        return _fact(self, "boolean_labels")

    @property
    def truth_points(self):
        return _fact(self, "truth_points")

    def child_entropy(self, purpose: str) -> int:
        """A one-way derived seed for a wrapper the learner builds (e.g. a LiftedOracle on this handle)."""
        return _SLOT["h_oracle"].__get__(self).child_entropy(purpose)

    @property
    def budget_left(self):
        return _SLOT["h_oracle"].__get__(self).ledger.remaining

    @property
    def queries(self) -> int:
        """Queries asked through this handle (examples and labels one each)."""
        return _SLOT["h_oracle"].__get__(self).ledger.total - _SLOT["h_start"].__get__(self)

    @property
    def ledger(self) -> LedgerView:
        return _SLOT["h_view"].__get__(self)

    def close(self) -> None:
        """End the run: every further call is refused."""
        _SLOT["h_open"].__set__(self, False)

    _SEAL_PUBLIC, _SEAL_NAME = _PUBLIC, "OracleHandle"

    def __repr__(self):
        return f"OracleHandle(kind={self.kind!r}, domain={self.domain!r}, queries={self.queries})"


#: the slot descriptors, removed from the classes: no attribute of a handle or view reaches their contents
_SLOT = {}
for _cls, _names in ((LedgerView, ("v_ledger", "v_start")),
                     (OracleHandle, ("h_oracle", "h_kind", "h_start", "h_open", "h_view"))):
    for _n in _names:
        _SLOT[_n] = _cls.__dict__[_n]
        delattr(_cls, _n)
del _cls, _names, _n
#: bound slot readers (the hot path of ask and of the ledger view)
_H_ORACLE, _H_OPEN, _H_KIND = (_SLOT[n].__get__ for n in ("h_oracle", "h_open", "h_kind"))
_V_LEDGER, _V_START = (_SLOT[n].__get__ for n in ("v_ledger", "v_start"))
_ASKING = frozenset(k for k, calls in KIND_CALLS.items() if "ask" in calls)


def is_handle(obj) -> bool:
    return isinstance(obj, OracleHandle)
