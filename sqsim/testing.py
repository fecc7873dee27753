"""Contract checks for learners, usable by plug-in authors and by sqsim's own suite (docs/theory/contracts.md, section contracts-checks).

>>> import learners
>>> from sqsim.testing import check_learner
>>> for name, check in check_learner(learners.make("low-degree", k=1)):
...     check()

Each yielded check raises ``AssertionError`` naming the violated contract:

- ``result``: ``learn`` returns a :class:`LearnResult` whose ``queries`` equals the ledger total
  and whose ``details`` carry the framework's grade;
- ``deterministic``: the same seeds give the same ledger fingerprint, success and count;
- ``budget``: with a budget below what the learner used, it stops with
  :class:`QueryBudgetExceeded` (or succeeds within it) and the ledger never exceeds the budget;
- ``oracle-only``: the target is called only from sqsim's oracles (a learner that calls the
  target itself fails);
- ``params-untouched``: ``learn`` leaves the learner's public parameters alone;
- ``kind-mismatch``: an oracle of a kind the learner does not declare is refused before any query.

One check per class of bypass of the SQ contract (each fails a learner that *tries* it, even if the
learner catches the refusal and carries on; see ``sqsim.oracles._violations``):

- ``private-state``: reading private state through the handle or its ledger view (``_target``,
  label tables, ``__dict__``-style reads of names a handle does not offer);
- ``internals``: calling what a learner is not offered (``reveal``, ``strategy``, grading, nested
  ``learn`` on a handle, calls of another oracle kind, using the handle after the run);
- ``mutation``: setting or deleting attributes of the handle or the view (strategy, ledger, ...);
- ``copying``: copying, deep-copying or pickling the handle or the view;
- ``ledger-truths``: reading truths, errors, band flags, keys, strategies or timings from the view;
- ``pointwise``: a query whose values on a row depend on the rest of the batch;
- ``no-averaging``: an affine copy or a tiny perturbation of an earlier query (noise averaging);
- ``interpreter-level``: frames (``sys._getframe``, ``inspect``), ``gc`` walks, traceback/generator
  frame reads, ``ctypes`` and trace hooks from learner code (audit hooks, PEP 578);
- ``isolation-consistent``: ``learn(oracle, isolation="process")`` gives the same ledger fingerprint,
  success and count as the in-process run (every bypass that process isolation closes shows up here:
  queries that store their batch, writes into the oracle's tables, ``__globals__``/``__closure__``
  walks). Learners that declare ``isolation_capable = False`` (their queries cannot cross a process
  boundary) fail this check with that reason instead of silently passing.
"""

from __future__ import annotations

import copy
import sys
import types

import numpy as np

from ._domains import BooleanCube, Gaussian
from ._errors import InvalidParameterError, QueryBudgetExceeded
from ._learning import LearnResult

__all__ = ["check_learner", "guarded"]


def _from_sqsim(depth: int) -> str | None:
    """The calling module's name if it is not part of sqsim, else None."""
    caller = sys._getframe(depth + 1).f_globals.get("__name__", "")
    return None if caller == "sqsim" or caller.startswith("sqsim.") else caller


class _Guard:
    """Which oracles may use a guarded target (set once the oracle under test exists)."""

    def __init__(self):
        self.owners: list = []

    def check(self, what: str, depth: int):
        """``what`` happened ``depth`` frames above this call: allowed only inside sqsim, within an owner."""
        outside = _from_sqsim(depth + 1)
        if outside is not None:
            raise AssertionError(f"the target's {what} from {outside!r}: a learner may touch the target only "
                                 f"through its oracle")
        if not self.owners:
            return
        f = sys._getframe(depth + 1)
        while f is not None:
            me = f.f_locals.get("self")
            if me is not None and (any(me is o for o in self.owners) or _is_grader(me)):
                return
            f = f.f_back
        raise AssertionError(f"the target's {what} by an oracle the learner was not given: a learner may touch "
                             f"the target only through its oracle")


def _is_grader(obj) -> bool:
    """The framework's graders (they run after the learner returned, on the oracle's own target)."""
    return type(obj).__module__.startswith("sqsim.oracles.") and type(obj).__name__.endswith("Grader")


def guarded(target, guard: _Guard | None = None):
    """A copy of ``target`` that only its oracle may use (``check_learner``'s oracle-only check).

    Calls must come from inside sqsim and, once ``guard.owners`` is set, from within one of those
    oracles (so a learner that hands the target to an oracle of its own is caught); attribute reads
    (``.support``, ...) must come from inside sqsim. Keeps the target's class (oracles still
    recognise parities and networks); plain functions are wrapped.
    """
    guard = guard if guard is not None else _Guard()
    if isinstance(target, types.FunctionType) or not hasattr(target, "__dict__"):
        def fn(X):
            guard.check("call", 1)
            return target(X)

        return fn

    base = type(target)

    class Guarded(base):
        def __call__(self, X):
            guard.check("call", 1)
            return base.__call__(self, X)

        def __getattribute__(self, name):
            if not name.startswith("__"):
                guard.check(f"attribute {name!r} read", 1)
            return base.__getattribute__(self, name)

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{base.__name__}"
    g = object.__new__(Guarded)
    object.__getattribute__(g, "__dict__").update(target.__dict__)
    return g


def _default_oracle_factory(learner):
    """A small problem for the learner's declared kinds: parities on the cube, a neuron for gradients."""
    from ._example import ExampleOracle
    from ._oracles import SQOracle
    from .concepts import Parity, ReLUNetwork

    kinds, domains = learner.oracle_kinds, learner.domains
    if "boolean" in domains and "sq" in kinds:
        return lambda seed, budget, guard: SQOracle(BooleanCube(5), guard(Parity(5, [0, 2])), 0.1, answers="exact",
                                                    seed=seed, budget=budget)
    if "boolean" in domains and "example" in kinds:
        return lambda seed, budget, guard: ExampleOracle(BooleanCube(8), guard(Parity(8, [1, 5])), seed=seed,
                                                         budget=budget)
    if "gaussian" in domains and "gradient" in kinds:
        from .gradients import MODELS, ApproxGradientOracle

        d = 4
        w = np.array([0.6, -0.8, 0.0, 0.0])
        neuron = ReLUNetwork([w[:, None], np.ones((1, 1))], [np.zeros(1), np.zeros(1)])
        name = getattr(learner, "model", "relu")
        model = MODELS[name](d, learner.width) if name == "relu" else MODELS[name](d)
        return lambda seed, budget, guard: ApproxGradientOracle(Gaussian(d), guard(neuron), model, 0.05, seed=seed,
                                                                budget=budget)
    raise InvalidParameterError(
        f"The 'make_oracle' parameter of check_learner must be given for {type(learner).__name__} (kinds "
        f"{list(kinds)}, domains {list(domains)}): no default problem. Got None instead."
    )


# ---------------------------------------------------------------------- interpreter-level routes
_AUDIT: list[list[str]] = []
_AUDIT_INSTALLED = False
#: modules whose own use of frames, gc or ctypes is not the learner's (logging finds its caller, numba's
#: compiler calls llvmlite through ctypes, ...)
_TRUSTED = ("sqsim", "logging", "warnings", "numba", "llvmlite", "numpy", "scipy", "dask", "distributed", "tqdm",
            "importlib", "typing", "multiprocessing", "concurrent", "threading", "pytest", "_pytest", "pluggy",
            "hypothesis", "collections", "contextlib", "functools", "unittest", "traceback", "linecache",
            "tokenize", "pdb", "bdb", "cProfile", "profile", "coverage", "doctest", "copy", "pickle", "abc",
            "dataclasses", "enum", "re", "weakref", "tempfile", "os", "subprocess", "selectors", "socket",
            "asyncio", "tornado", "cloudpickle", "msgpack", "zict", "psutil", "toolz", "fsspec")
_FRAME_ATTRS = {"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back", "f_locals", "f_globals", "gi_code",
                "__code__"}
_SKIP = ("inspect",)


def _caller_module() -> str:
    """The module to blame for an audited event: walking up from the event, library frames are passed
    over until an sqsim frame (the framework's own use: "") or a frame of other code (blamed) is found, so
    ``traceback.walk_stack``, ``logging.currentframe`` or ``functools`` wrappers called by a learner are
    still the learner's."""
    f = sys._getframe(2)
    while f is not None:
        name = f.f_globals.get("__name__", "") or ""
        if name != __name__:
            top = name.split(".")[0]
            if top == "sqsim":
                return ""
            if top not in _TRUSTED and not name.startswith(_SKIP):
                return name
        f = f.f_back
    return ""


def _audit_hook(event, args):
    if not _AUDIT or getattr(_audit_hook, "busy", False):
        return
    interesting = (event in ("sys._getframe", "sys._current_frames", "gc.get_objects", "gc.get_referrers",
                             "gc.get_referents", "sys.settrace", "sys.setprofile", "sys._getframemodulename")
                   or event.startswith("ctypes.")
                   or (event == "object.__getattr__" and len(args) > 1 and args[1] in _FRAME_ATTRS))
    if not interesting:
        return
    _audit_hook.busy = True
    try:
        mod = _caller_module()
    finally:
        _audit_hook.busy = False
    if mod:
        for rec in _AUDIT:
            rec.append(f"{event} from {mod!r}")


def _recording_audit():
    """Context manager collecting interpreter-level events raised by non-library code."""
    global _AUDIT_INSTALLED
    from .oracles._violations import collecting

    if not _AUDIT_INSTALLED:
        sys.addaudithook(_audit_hook)  # audit hooks cannot be removed: inactive unless a check records
        _AUDIT_INSTALLED = True
    return collecting(_AUDIT)


_CATEGORIES = {
    "private-state": ("has no attribute '_",),
    "internals": ("OracleHandle has no attribute", "LedgerView has no attribute", "oracle has no",
                  "run has ended", "takes an oracle, not a handle"),
    "mutation": ("cannot be set", "cannot be deleted", "is read-only"),
    "copying": ("cannot be copied or pickled",),
    "ledger-truths": ("ledger record has no",),
    "pointwise": ("must be a fixed function of one",),
    "no-averaging": ("averaging:",),
}


def _category(message: str) -> str | None:
    for name in ("ledger-truths", "private-state", "copying", "mutation", "pointwise", "no-averaging", "internals"):
        if any(p in message for p in _CATEGORIES[name]):
            return name
    return None


def _public(learner) -> dict:
    return {k: v for k, v in vars(learner).items() if not k.startswith("_")}


def _clone(learner):
    return copy.deepcopy(learner)


def check_learner(learner, make_oracle=None):
    """Yield ``(name, check)`` pairs for ``learner``; call each ``check()`` (see the module docstring).

    Parameters
    ----------
    learner : Learner
    make_oracle : callable ``(seed, budget, guard) -> oracle``, optional
        Builds a fresh oracle for a problem the learner can attempt; ``guard`` must be applied to
        the target (``guard(target)``). Defaults exist for Boolean SQ, example and gradient learners.
    """
    make = make_oracle if make_oracle is not None else _default_oracle_factory(learner)
    plain = lambda t: t  # noqa: E731

    def result():
        o = make(1, None, plain)
        r = _clone(learner).learn(o)
        assert isinstance(r, LearnResult), f"learn returned {type(r).__name__}, not LearnResult"
        assert isinstance(r.success, bool) and isinstance(r.details, dict) and "grade" in r.details
        assert r.queries == o.ledger.total, f"queries {r.queries} != ledger total {o.ledger.total}"

    def deterministic():
        a, b = make(7, None, plain), make(7, None, plain)
        ra, rb = _clone(learner).learn(a), _clone(learner).learn(b)
        assert a.ledger.fingerprint() == b.ledger.fingerprint(), "same seeds gave different ledgers"
        assert (ra.success, ra.queries) == (rb.success, rb.queries)

    def budget():
        used = _clone(learner).learn(make(2, None, plain)).queries
        cap = used // 2
        o = make(2, cap, plain)
        try:
            _clone(learner).learn(o)
        except QueryBudgetExceeded:
            pass
        assert o.ledger.total <= cap, f"ledger total {o.ledger.total} exceeds the budget {cap}"

    def oracle_only():
        guard = _Guard()
        o = make(3, None, lambda t: guarded(t, guard))
        guard.owners = [o, *(x for x in (getattr(o, "boolean", None),) if x is not None)]
        _clone(learner).learn(o)

    def params_untouched():
        L = _clone(learner)
        before = repr(_public(L))
        L.learn(make(4, None, plain))
        assert repr(_public(L)) == before, "learn changed the learner's public parameters"

    def kind_mismatch():
        from ._example import ExampleOracle
        from ._oracles import SQOracle
        from .concepts import Parity

        other = (ExampleOracle(BooleanCube(4), Parity(4, [0])) if "example" not in learner.oracle_kinds
                 else SQOracle(BooleanCube(4), Parity(4, [0]), 0.1))
        try:
            _clone(learner).learn(other)
        except InvalidParameterError as exc:
            assert "oracle" in str(exc)
        else:
            raise AssertionError("an oracle of an undeclared kind was accepted")
        assert other.ledger.total == 0

    state: dict = {}

    def recorded_run():
        """One guarded run with every violation and interpreter-level event recorded (shared by the checks)."""
        if "run" not in state:
            from .oracles._violations import recording

            with recording() as seen, _recording_audit() as audit:
                try:
                    _clone(learner).learn(make(5, None, plain))
                    error = None
                except Exception as exc:  # a learner that provoked a refusal may well fail: that is recorded
                    error = f"{type(exc).__name__}: {exc}"
            state["run"] = (list(seen), list(audit), error)
        return state["run"]

    def category_check(name):
        def check():
            seen, _, error = recorded_run()
            hits = [m for m in seen if _category(m) == name]
            assert not hits, f"{name}: the learner tried a bypass of the SQ contract: {hits[0]}" + (
                f" ({len(hits)} attempts)" if len(hits) > 1 else "")
        return check

    def interpreter_level():
        _, audit, _ = recorded_run()
        assert not audit, f"interpreter-level: the learner used {audit[0]} ({len(audit)} events)"

    def isolation_consistent():
        if not getattr(learner, "isolation_capable", True):
            raise AssertionError(f"isolation-consistent: {type(learner).__name__} declares isolation_capable = False "
                                 f"(its queries cannot cross a process boundary)")
        a, b = make(6, None, plain), make(6, None, plain)
        ra = _clone(learner).learn(a)
        rb = _clone(learner).learn(b, isolation="process")
        assert (ra.success, ra.queries) == (rb.success, rb.queries), (
            f"isolation-consistent: in-process (success {ra.success}, {ra.queries} queries) differs from "
            f"isolation='process' (success {rb.success}, {rb.queries} queries)")
        assert a.ledger.fingerprint() == b.ledger.fingerprint(), "isolation-consistent: the ledgers differ"

    yield "result", result
    yield "deterministic", deterministic
    yield "budget", budget
    yield "oracle-only", oracle_only
    yield "params-untouched", params_untouched
    yield "kind-mismatch", kind_mismatch
    for name in ("private-state", "internals", "mutation", "copying", "ledger-truths", "pointwise", "no-averaging"):
        yield name, category_check(name)
    yield "interpreter-level", interpreter_level
    yield "isolation-consistent", isolation_consistent
