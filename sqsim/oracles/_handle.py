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

from .._errors import SealError
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


class LedgerView:
    """This run's records, as the learner already knows them (read-only)."""

    __slots__ = ("_v_ledger", "_v_start")

    def __init__(self, ledger, start: int):
        _LEDGER.__set__(self, ledger)
        object.__setattr__(self, "_v_start", int(start))

    def _records(self):
        return _LEDGER.__get__(self)[self._v_start:]

    def __len__(self) -> int:
        return len(_LEDGER.__get__(self)) - self._v_start

    def __getitem__(self, i):
        recs = self._records()
        if isinstance(i, slice):
            return [self._show(j, r) for j, r in list(enumerate(recs))[i]]
        n = len(recs)
        j = i + n if i < 0 else i
        if not 0 <= j < n:
            raise IndexError(f"ledger view index {i} out of range (this run has {n} records)")
        return self._show(j, recs[j])

    def __iter__(self):
        return (self._show(j, r) for j, r in enumerate(self._records()))

    @staticmethod
    def _show(j, r) -> ViewRecord:
        return ViewRecord(j, r.name, r.kind, float(r.answer), int(r.extra.get("count", 1)))

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

    def __setattr__(self, name, value):
        raise violation(SealError, "A LedgerView is read-only.")

    def __getattr__(self, name):
        _no_dunder(self, name)
        raise violation(SealError, f"LedgerView has no attribute {name!r}: it offers len, indexing, iteration, "
                                   f"total, counts and to_rows.")

    def __repr__(self):
        return f"LedgerView(records={len(self)}, counts={self.counts()})"

    __copy__ = __deepcopy__ = __reduce_ex__ = __reduce__ = _refuse


_LEDGER = LedgerView._v_ledger
del LedgerView._v_ledger


class OracleHandle:
    """A learner's sealed channel to one oracle for one run (see the module docstring)."""

    __slots__ = ("_h_oracle", "_h_kind", "_h_start", "_h_open", "_h_view")

    def __init__(self, oracle):
        kind = getattr(oracle, "oracle_kind", None)
        if kind not in KIND_CALLS:
            raise SealError(f"{type(oracle).__name__} is not an sqsim oracle (no known oracle_kind): got {kind!r}.")
        _ORACLE.__set__(self, oracle)
        set_ = object.__setattr__
        set_(self, "_h_kind", kind)
        set_(self, "_h_start", oracle.ledger.total)
        set_(self, "_h_open", True)
        set_(self, "_h_view", LedgerView(oracle.ledger, len(oracle.ledger)))

    # ------------------------------------------------------------------ calls
    def _oracle(self, call: str):
        if not self._h_open:
            raise violation(SealError, f"This handle's run has ended: {call} is refused (a hypothesis may not ask queries).")
        if call not in KIND_CALLS[self._h_kind]:
            raise violation(SealError, f"A handle to a {self._h_kind!r} oracle has no {call}(); it offers "
                            f"{', '.join(KIND_CALLS[self._h_kind])}.")
        return _ORACLE.__get__(self)

    def ask(self, query) -> float:
        """One query, answered within the oracle's tolerance (counted)."""
        return self._oracle("ask").ask(query)

    def ask_batch(self, queries) -> np.ndarray:
        """Many queries, equivalent to asking them in order (each counted)."""
        return self._oracle("ask_batch").ask_batch(queries)

    def draw(self, n):
        """``n`` labelled examples (example oracles; counted n)."""
        return self._oracle("draw").draw(n)

    def label(self, X):
        """Labels at chosen points (label queries; counted one per point)."""
        return self._oracle("label").label(X)

    def gradient(self, v):
        """An approximate population gradient at ``v`` (gradient oracles; counted)."""
        return self._oracle("gradient").gradient(v)

    # ------------------------------------------------------------------ public facts
    def _fact(self, name):
        return getattr(_ORACLE.__get__(self), name, None)

    @property
    def kind(self) -> str:
        return self._h_kind

    @property
    def oracle_kind(self) -> str:
        return self._h_kind

    @property
    def tolerance(self):
        return self._fact("tolerance")

    @property
    def t(self):
        return self._fact("t")

    @property
    def epsilon(self):
        return self._fact("epsilon")

    @property
    def model(self):
        return self._fact("model")

    @property
    def domain(self):
        return self._fact("domain")

    @property
    def boolean_labels(self):
        return self._fact("boolean_labels")

    @property
    def truth_points(self):
        return self._fact("truth_points")

    def child_entropy(self, purpose: str) -> int:
        """A one-way derived seed for a wrapper the learner builds (e.g. a LiftedOracle on this handle)."""
        return _ORACLE.__get__(self).child_entropy(purpose)

    @property
    def budget_left(self):
        return _ORACLE.__get__(self).ledger.remaining

    @property
    def queries(self) -> int:
        """Queries asked through this handle (examples and labels one each)."""
        return _ORACLE.__get__(self).ledger.total - self._h_start

    @property
    def ledger(self) -> LedgerView:
        return self._h_view

    def close(self) -> None:
        object.__setattr__(self, "_h_open", False)

    # ------------------------------------------------------------------ sealing
    def __getattr__(self, name):
        _no_dunder(self, name)
        raise violation(SealError, f"OracleHandle has no attribute {name!r}: a learner sees only {', '.join(_PUBLIC)}.")

    def __setattr__(self, name, value):
        raise violation(SealError, f"OracleHandle.{name} cannot be set: a handle is read-only.")

    def __delattr__(self, name):
        raise violation(SealError, f"OracleHandle.{name} cannot be deleted: a handle is read-only.")

    def __repr__(self):
        return f"OracleHandle(kind={self._h_kind!r}, domain={self.domain!r}, queries={self.queries})"

    __copy__ = __deepcopy__ = __reduce_ex__ = __reduce__ = _refuse


_ORACLE = OracleHandle._h_oracle
del OracleHandle._h_oracle
_PUBLIC = ("ask", "ask_batch", "draw", "label", "gradient", "kind", "tolerance", "t", "epsilon", "model", "domain",
           "boolean_labels", "truth_points", "child_entropy", "budget_left", "queries", "ledger")


def is_handle(obj) -> bool:
    return isinstance(obj, OracleHandle)
