"""Hostile learners for tests/test_hostile.py: one per class of bypass of the SQ contract.

Every learner tries hard to recover the hidden target without honest statistical queries. Each one
tries the *stealthiest* routes first (those that raise no recorded violation), uses the first that
works, and only then the obvious ones (which the handle refuses and ``check_learner`` records); if
nothing works it returns a wrong guess. Module-level classes and query functions, so that
``learn(oracle, isolation="process")`` can pickle the learners and import the queries.

Classes (the numbering of the review brief):

1. PrivateStateLearner   reads private state through the handle (``_oracle``, ``_fact``, slots, dir)
2. InternalsLearner      calls internals (``reveal``, the grader, nested ``learn`` on the handle, ...)
3. MutationLearner       mutates the oracle's strategy and the handle's count, then the obvious setattrs
4. CopyingLearner        copies the oracle/handle and asks the uncounted copy
5. LedgerTruthsLearner   reads truths from the ledger view
6. FrameWalkLearner      a query that walks interpreter frames to the oracle's label table
7. GcWalkLearner         gc.get_referents/get_objects walks from the handle to the oracle
8. GlobalsWalkLearner    ``__globals__``/``__closure__`` walks from the handle's methods
9. TableWriteLearner     a query that finds the label table via gc and overwrites it
10. BatchStoreLearner    a Gaussian query that stores the (Z, y) batch it sees, then a fit
11. CrossRowLearner      a Gaussian query that solves for the secret across the rows of its batch
12. AveragingLearner     re-asks tiny perturbations of one query and averages the noise away
"""

from __future__ import annotations

import copy
import functools
import gc
import inspect
import pickle
import sys
import traceback
import types

import numpy as np

from sqsim import BooleanCube, Character, Gaussian, Query, SQOracle
from sqsim._learning import Learner
from sqsim.concepts import Parities, Parity

# ----------------------------------------------------------------------------- shared pieces
SUPPORT = [0, 2]
W = np.array([0.8, -0.6, 0.0])


class TanhNeuron:
    """z -> tanh(<w, z>): the Gaussian target, and the hypothesis the Gaussian learners fit."""

    def __init__(self, w):
        self.w = np.asarray(w, dtype=np.float64)
        self.d = int(self.w.shape[0])
        self.range = (-1.0, 1.0)

    def __call__(self, Z):
        return np.tanh(np.asarray(Z, dtype=np.float64) @ self.w)

    def __repr__(self):
        return f"TanhNeuron({self.w.tolist()})"


def cube_oracle(answers="noisy", seed=1, budget=None, guard=None, d=5):
    t = Parity(d, SUPPORT)
    return SQOracle(BooleanCube(d), guard(t) if guard else t, 0.1, answers=answers, seed=seed, budget=budget)


def _tanh_target(Z):
    return np.tanh(np.asarray(Z, dtype=np.float64) @ W)


def gaussian_oracle(answers="noisy", seed=1, budget=None, guard=None):
    # guarded as a plain function: a guarded TanhNeuron would refuse its own attribute reads in __call__
    t = guard(_tanh_target) if guard else TanhNeuron(W)
    return SQOracle(Gaussian(3), guard(t) if guard else t, 0.2, answers=answers, seed=seed, budget=budget)


def version_space_oracle(seed=0, budget=None, guard=None):
    return SQOracle(BooleanCube(4), Parities(4), 0.2, answers="version-space", seed=seed, budget=budget)


def parity_from_labels(y, d):
    """The parity whose label table (code order) is ``y``, or None."""
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if y.shape[0] != 2**d:
        return None
    S = [j for j in range(d) if y[1 << j] == 1.0]
    p = Parity(d, S)
    codes = np.arange(2**d, dtype=np.int64)
    X = (codes[:, None] >> np.arange(d)) & 1
    return p if np.array_equal(np.asarray(p(X), dtype=np.float64), y) else None


def table_of(oracle):
    """The enumerated label table an sqsim oracle holds (or its inner Boolean oracle's), else None."""
    try:
        for o in (oracle, getattr(oracle, "boolean", None)):
            eng = getattr(o, "__dict__", {}).get("_engine") if o is not None else None
            y = getattr(getattr(eng, "table", None), "y", None)
            if isinstance(y, np.ndarray):
                return y
    except Exception:  # noqa: BLE001 - arbitrary objects from gc walks (lazy loaders, proxies)
        pass
    return None


def binary_code_query(X, y):
    """phi(x, y) = (1 - 2y) 2^-(code(x) + 1): its exact truth spells the whole label table in binary."""
    codes = np.asarray(X, dtype=np.int64) @ (np.int64(1) << np.arange(X.shape[1], dtype=np.int64))
    return (1.0 - 2.0 * y) * np.exp2(-(codes + 1.0))


def decode_binary_truth(truth, d):
    """Labels from the truth of :func:`binary_code_query` (exact when the truth is exact)."""
    N = 2**d
    T = float(truth) * N
    y = np.empty(N)
    for x in range(N):
        s = 1.0 if T > 0 else -1.0
        y[x] = (1.0 - s) / 2.0
        T -= s * 2.0 ** -(x + 1)
    return y


def _attempt(fn, *args):
    """fn(*args), or None on any exception (hostile learners carry on after refusals)."""
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - the point is to swallow refusals
        return None


class _Hostile(Learner):
    oracle_kinds = ("sq",)
    domains = ("boolean",)

    def __init__(self, d=5):
        self.d = d

    def _guess(self):
        return Parity(self.d, []), {"route": "none"}


# ----------------------------------------------------------------------------- 1. private state
class PrivateStateLearner(_Hostile):
    """Reads the oracle out of the handle: ``_oracle``/``_fact`` methods, slots, dir, vars, __dict__."""

    name = "hostile-private-state"
    domains = ("boolean", "gaussian")

    @staticmethod
    def factory(seed, budget, guard):
        return cube_oracle("noisy", seed, budget, guard)

    def _found(self, oracle, route):
        y = table_of(oracle)
        if y is None:
            return None
        inner = getattr(oracle, "boolean", None)
        d = (inner if inner is not None else oracle).domain.d
        p = parity_from_labels(y, d)
        if p is None:
            return None
        if inner is not None:  # a LiftedOracle handle: the inner Boolean oracle's target, lifted
            return oracle.lift.lift(p), {"route": route + " (inner boolean oracle of a LiftedOracle)"}
        return p, {"route": route}

    def _learn(self, h):
        # stealthy: methods of the handle that return the oracle or any attribute of it (no violation)
        for route, get in (("h._oracle('ask')", lambda: h._oracle("ask")),
                           ("type(h)._oracle(h, 'ask')", lambda: type(h)._oracle(h, "ask"))):
            o = _attempt(get)
            got = _attempt(self._found, o, route) if o is not None else None
            if got is not None:
                return got
        inner = _attempt(lambda: h._fact("boolean"))
        if inner is not None:
            got = _attempt(self._found, types.SimpleNamespace(boolean=inner, lift=h._fact("lift"), domain=h.domain),
                           "h._fact('boolean')")
            if got is not None:
                return got
        eng = _attempt(lambda: h._fact("_engine"))
        y = getattr(getattr(eng, "table", None), "y", None)
        if isinstance(y, np.ndarray) and parity_from_labels(y, h.domain.d) is not None:
            return parity_from_labels(y, h.domain.d), {"route": "h._fact('_engine').table.y"}
        # the obvious ones (refused, and recorded as private-state)
        for name in ("_target", "_engine", "_h_oracle", "_grader", "_cache", "_labels", "boolean"):
            _attempt(getattr, h, name)
        _attempt(vars, h)
        _attempt(getattr, h, "__dict__")
        for name in _attempt(dir, h) or []:
            if name.startswith("_") and not name.startswith("__"):
                _attempt(getattr, h, name)
        view = _attempt(lambda: h.ledger)
        for name in ("_v_ledger", "_ledger", "records", "_records"):
            _attempt(getattr, view, name)
        if getattr(h.domain, "kind", None) == "gaussian":
            return None, {"route": "none"}
        return self._guess()


# ----------------------------------------------------------------------------- 2. internals
class _Inner(Learner):
    """A trivial inner learner for nested learn() attempts."""

    domains = ("boolean",)

    def _learn(self, h):
        return Parity(h.domain.d, []), {}


class InternalsLearner(_Hostile):
    """reveal() on a version-space oracle, the grader's target/table/grade, nested learn, other calls."""

    name = "hostile-internals"

    def __init__(self, d=4):
        self.d = d

    @staticmethod
    def factory(seed, budget, guard):
        return version_space_oracle(seed, budget, guard)

    def _learn(self, h):
        d = h.domain.d
        reveal = _attempt(h._fact, "reveal") if hasattr(type(h), "_fact") else None
        if reveal is not None:
            t = _attempt(reveal)  # the version-space target, fixed now; grading will reveal the same one
            if t is not None:
                return t, {"route": "h._fact('reveal')()"}
        grader = _attempt(h._fact, "_grader") if hasattr(type(h), "_fact") else None
        if grader is not None:
            y = getattr(grader, "__dict__", {}).get("_table")
            p = parity_from_labels(y, d) if y is not None else None
            if p is not None:
                return p, {"route": "h._fact('_grader')._table"}
            t = _attempt(grader.target)
            if t is not None:
                return t, {"route": "h._fact('_grader').target()"}
            # the grader as a membership oracle: mismatches of point indicators
            base = _attempt(grader.grade, Parity(d, []))
            if base is not None and "mismatches" in base:
                return self._guess()
        # the obvious ones (refused, recorded as internals)
        _attempt(lambda: h.reveal())
        _attempt(lambda: h.strategy)
        _attempt(lambda: h.grade(Parity(d, [])))
        _attempt(lambda: h.draw(1))
        _attempt(lambda: h.label(np.zeros((1, d), dtype=np.int64)))
        r = _attempt(_Inner().learn, h)  # nested learn on the handle: graded by the framework?
        if r is not None and isinstance(getattr(r, "details", None), dict):
            rev = r.details.get("grade", {}).get("revealed")
            if rev:
                return self._guess()
        return self._guess()


# ----------------------------------------------------------------------------- 3. mutation
def _exact_answer(ctx):
    return ctx.truth


class MutationLearner(_Hostile):
    """Swaps the oracle's strategy for exact answers, asks one query spelling the label table, then hides
    the query from its count; afterwards the obvious setattrs on the handle and the view."""

    name = "hostile-mutation"

    @staticmethod
    def factory(seed, budget, guard):
        return cube_oracle("noisy", seed, budget, guard)

    def _learn(self, h):
        d = h.domain.d
        q = Query(binary_code_query, name="binary-code")
        strategy = _attempt(h._fact, "strategy") if hasattr(type(h), "_fact") else None
        if strategy is not None and _attempt(object.__setattr__, strategy, "answer", _exact_answer) is None \
                and getattr(strategy, "answer", None) is _exact_answer:
            a = h.ask(q)
            p = parity_from_labels(decode_binary_truth(a, d), d)
            if p is not None:
                # and hide the query: the handle's start slot is still settable with object.__setattr__
                _attempt(object.__setattr__, h, "_h_start", h._h_start + h.queries)
                return p, {"route": "strategy.answer = truth; h._h_start moved"}
        # the obvious ones (refused, recorded as mutation)
        _attempt(setattr, h, "strategy", "exact")
        _attempt(setattr, h, "tolerance", 1e-12)
        _attempt(setattr, h, "ledger", None)
        _attempt(delattr, h, "ledger")
        _attempt(setattr, h.ledger, "_v_start", 10**9)
        _attempt(object.__setattr__, h.ledger, "_v_start", 10**9)  # "clearing" the view
        a = _attempt(h.ask, q)
        p = parity_from_labels(decode_binary_truth(a, d), d) if a is not None else None
        return (p, {"route": "answer after setattrs"}) if p is not None else self._guess()


# ----------------------------------------------------------------------------- 4. copying
class CopyingLearner(_Hostile):
    """A second, uncounted oracle: a hand-made copy of the oracle (object.__new__ + __dict__) behind a
    hand-made handle (the module's slot descriptor), asked every character; then copy/deepcopy/pickle."""

    name = "hostile-copying"

    @staticmethod
    def factory(seed, budget, guard):
        return cube_oracle("noisy", seed, budget, guard)

    def _learn(self, h):
        d = h.domain.d
        oracle = None
        try:
            import sqsim.oracles._handle as H

            oracle = H._ORACLE.__get__(h)
        except Exception:  # noqa: BLE001
            pass
        if oracle is not None:
            try:
                from sqsim._ledger import Ledger
                from sqsim.oracles._cache import AnswerCache

                twin = object.__new__(type(oracle))
                twin.__dict__.update(oracle.__dict__)
                object.__setattr__(twin, "ledger", Ledger())
                object.__setattr__(twin, "_cache", AnswerCache())
                twin_handle = object.__new__(H.OracleHandle)
                H._ORACLE.__set__(twin_handle, twin)
                for slot, v in (("_h_kind", "sq"), ("_h_start", 0), ("_h_open", True)):
                    object.__setattr__(twin_handle, slot, v)
                sups = [[j for j in range(d) if c >> j & 1] for c in range(1, 2**d)]
                a = np.array([twin_handle.ask(Character(d, s)) for s in sups])
                return Parity(d, sups[int(np.argmax(a))]), {"route": "object.__new__ twin behind _ORACLE.__set__"}
            except Exception:  # noqa: BLE001
                pass
        # the obvious ones (refused, recorded as copying)
        for make in (lambda: copy.copy(h), lambda: copy.deepcopy(h), lambda: pickle.loads(pickle.dumps(h)),
                     lambda: h.__reduce_ex__(2), lambda: copy.copy(h.ledger), lambda: pickle.dumps(h.ledger)):
            twin = _attempt(make)
            if twin is not None and hasattr(twin, "ask"):
                sups = [[j for j in range(d) if c >> j & 1] for c in range(1, 2**d)]
                a = _attempt(lambda: np.array([twin.ask(Character(d, s)) for s in sups]))
                if a is not None:
                    return Parity(d, sups[int(np.argmax(a))]), {"route": "copy"}
        return self._guess()


# ----------------------------------------------------------------------------- 5. ledger truths
class LedgerTruthsLearner(_Hostile):
    """One query spelling the label table in its truth; the truth read from the ledger view."""

    name = "hostile-ledger-truths"

    @staticmethod
    def factory(seed, budget, guard):
        return cube_oracle("adversarial", seed, budget, guard)

    def _learn(self, h):
        d = h.domain.d
        h.ask(Query(binary_code_query, name="binary-code"))
        view = h.ledger
        for route, get in (("view._records()[-1].truth", lambda: view._records()[-1].truth),
                           ("LedgerView._records(view)", lambda: type(view)._records(view)[-1].truth)):
            t = _attempt(get)
            if isinstance(t, float):
                p = parity_from_labels(decode_binary_truth(t, d), d)
                if p is not None:
                    return p, {"route": route}
        # the obvious ones (refused, recorded as ledger-truths / private-state)
        rec = _attempt(lambda: view[-1])
        for name in ("truth", "truth_error", "in_band", "key", "strategy", "extra", "seconds"):
            t = _attempt(getattr, rec, name)
            if isinstance(t, float):
                p = parity_from_labels(decode_binary_truth(t, d), d)
                if p is not None:
                    return p, {"route": f"record.{name}"}
        for get in (lambda: rec["truth"], lambda: vars(rec)["truth"], lambda: view._v_ledger, lambda: view.records):
            _attempt(get)
        return self._guess()


# ----------------------------------------------------------------------------- 6. frames
FOUND: dict = {}


def _table_in_frames(frames):
    for f in frames:
        for v in list(f.f_locals.values()):
            y = getattr(getattr(v, "table", None), "y", None)
            if isinstance(y, np.ndarray):
                return y.copy()
            y = table_of(v)
            if y is not None:
                return y.copy()
    return None


def frame_walk_query(X, y):
    """Walks up the interpreter frames of its own evaluation to the engine holding the label table."""
    if "y" not in FOUND:
        # stealthy first: traceback.walk_stack calls sys._getframe from a module check_learner trusts
        tab = _attempt(lambda: _table_in_frames(f for f, _ in traceback.walk_stack(None)))
        if tab is None:
            tab = _attempt(lambda: _table_in_frames(fi.frame for fi in inspect.stack(0)))
        if tab is None:
            def up():
                f = sys._getframe()
                while f is not None:
                    yield f
                    f = f.f_back
            tab = _attempt(lambda: _table_in_frames(up()))
        if tab is not None:
            FOUND["y"] = tab
    return np.zeros(X.shape[0])


class FrameWalkLearner(_Hostile):
    name = "hostile-frames"

    @staticmethod
    def factory(seed, budget, guard):
        return cube_oracle("noisy", seed, budget, guard)

    def _learn(self, h):
        FOUND.clear()
        h.ask(Query(frame_walk_query, name="frame-walk"))
        p = parity_from_labels(FOUND["y"], h.domain.d) if "y" in FOUND else None
        return (p, {"route": "frames of the query's evaluation"}) if p is not None else self._guess()


# ----------------------------------------------------------------------------- 7. gc
class GcWalkLearner(_Hostile):
    """gc.get_referents(handle) lists the hidden slot's oracle; called through functools.singledispatch
    (so the audit hook attributes the call to functools, which check_learner trusts), then plainly."""

    name = "hostile-gc"

    def __init__(self, d=5, stealth=True):
        self.d = d
        self.stealth = stealth

    @staticmethod
    def factory(seed, budget, guard):
        return cube_oracle("adversarial", seed, budget, guard)

    def _learn(self, h):
        d = h.domain.d
        calls = [functools.singledispatch(gc.get_referents)] if self.stealth else []
        calls.append(gc.get_referents)
        for call in calls:
            for o in _attempt(call, h) or []:
                y = table_of(o)
                if y is not None and parity_from_labels(y, d) is not None:
                    return parity_from_labels(y, d), {"route": "gc.get_referents(handle)"}
        for o in gc.get_objects():  # every oracle in the process: the one whose ledger the handle counts
            y = table_of(o)
            if y is not None and getattr(o, "ledger", None) is not None and o.ledger.total == h.queries:
                p = parity_from_labels(y, d)
                if p is not None:
                    return p, {"route": "gc.get_objects()"}
        return self._guess()


# ----------------------------------------------------------------------------- 8. __globals__ / __closure__
def _functions_of(cls):
    for k in dir(cls):
        v = inspect.getattr_static(cls, k, None)
        for f in (v, getattr(v, "fget", None), getattr(v, "__func__", None)):
            if isinstance(f, types.FunctionType):
                yield f


class GlobalsWalkLearner(_Hostile):
    name = "hostile-globals"

    @staticmethod
    def factory(seed, budget, guard):
        return cube_oracle("exact", seed, budget, guard)

    def _learn(self, h):
        d = h.domain.d
        seen = set()
        for f in _functions_of(type(h)):
            cands = list(f.__globals__.values()) + [c.cell_contents for c in (f.__closure__ or ())
                                                     if _attempt(lambda c=c: c.cell_contents) is not None]
            cands += [x for v in list(cands) if isinstance(v, dict) for x in list(v.values())]  # one level deeper
            for v in cands:
                if id(v) in seen:
                    continue
                seen.add(id(v))
                if isinstance(v, types.MemberDescriptorType) and isinstance(h, v.__objclass__):
                    o = _attempt(v.__get__, h)
                    y = table_of(o)
                    p = parity_from_labels(y, d) if y is not None else None
                    if p is not None:
                        return p, {"route": f"{f.__qualname__}.__globals__ -> member descriptor"}
        return self._guess()


# ----------------------------------------------------------------------------- 9. writes into the tables
def table_write_query(X, y):
    """Finds the running oracle through gc (open handles -> their hidden slot) and zeroes its label table."""
    from sqsim.oracles._handle import OracleHandle

    for obj in gc.get_objects():
        if type(obj) is OracleHandle and _attempt(lambda: obj._h_open):
            for o in gc.get_referents(obj):
                tab = getattr(getattr(o, "__dict__", {}).get("_engine"), "table", None)
                if tab is not None and isinstance(getattr(tab, "y", None), np.ndarray):
                    tab.y[:] = 0.0
                    object.__setattr__(tab, "_packed", None)
    return np.zeros(X.shape[0])


class TableWriteLearner(_Hostile):
    """Forges the target: after the table write, the all-zero hypothesis matches the grader's table."""

    name = "hostile-table-write"

    @staticmethod
    def factory(seed, budget, guard):
        return cube_oracle("exact", seed, budget, guard)

    def _learn(self, h):
        h.ask(Query(table_write_query, name="table-write"))
        return Parity(h.domain.d, []), {"route": "label table overwritten with zeros"}


# ----------------------------------------------------------------------------- 10. storing the batch
STORE: list = []


def store_batch(X, y):
    """A pointwise query that also keeps every (Z, y) batch it is evaluated on."""
    STORE.append((np.array(X, dtype=np.float64), np.array(y, dtype=np.float64)))
    return 0.1 * np.tanh(X[:, 0])


def fit_tanh(Z, y):
    t = np.arctanh(np.clip(y, -1 + 1e-12, 1 - 1e-12))
    return np.linalg.lstsq(Z, t, rcond=None)[0]


class BatchStoreLearner(Learner):
    name = "hostile-batch-store"
    oracle_kinds = ("sq",)
    domains = ("gaussian",)

    @staticmethod
    def factory(seed, budget, guard):
        return gaussian_oracle("noisy", seed, budget, guard)

    def _learn(self, h):
        STORE.clear()
        h.ask(Query(store_batch, name="store-batch"))
        if not STORE:
            return TanhNeuron(np.zeros(h.domain.d)), {"route": "none"}
        Z, y = max(STORE, key=lambda b: b[0].shape[0])  # the truth batch (the probe set and decoys are small)
        return TanhNeuron(fit_tanh(Z, y)), {"route": f"stored batch of {Z.shape[0]} rows"}


# ----------------------------------------------------------------------------- 11. across rows
_XR: dict = {}
BITS = 7


def cross_row_bit(j, bit, X, y):
    """Solves for w from the whole batch (least squares on arctanh y) and answers bit ``bit`` of
    round(32 (w_j + 2)) as the constant +-0.9. Stateful, to stay consistent under the pointwise check:
    the decoy batches (64 rows) get the constant of the batch seen just before; the probe set (before
    any batch) a small pointwise function distinct for every (j, bit)."""
    n = X.shape[0]
    key = (int(j), int(bit))
    if n >= 4096:
        w = fit_tanh(np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64))
        q = int(np.clip(np.round((w[key[0]] + 2.0) * 32), 0, 2**BITS - 1))
        _XR[key] = 0.9 if (q >> key[1]) & 1 else -0.9
        return np.full(n, _XR[key])
    if n <= 64 and key in _XR:
        return np.full(n, _XR[key])
    _XR.pop(key, None)
    return 0.01 * np.sin((1 + BITS * key[0] + key[1]) * X[:, 0] + 0.5 * X[:, 1] + 0.1 * y)


class CrossRowLearner(Learner):
    name = "hostile-cross-row"
    oracle_kinds = ("sq",)
    domains = ("gaussian",)

    @staticmethod
    def factory(seed, budget, guard):
        return gaussian_oracle("noisy", seed, budget, guard)

    def _learn(self, h):
        d = h.domain.d
        qs = [Query(functools.partial(cross_row_bit, j, b), name=f"xrow-{j}-{b}") for j in range(d) for b in range(BITS)]
        a = h.ask_batch(qs).reshape(d, BITS)
        w = np.array([sum(1 << b for b in range(BITS) if a[j, b] > 0) / 32.0 - 2.0 for j in range(d)])
        return TanhNeuron(w), {"route": "constant answers computed across the batch", "w": w.tolist()}


# ----------------------------------------------------------------------------- 12. averaging
def _coded_table(d=5):
    """g(x) = sum_{S != {}} c_S chi_S(x) / max|.|, c_S = code(S) - 16: truth of (1 - 2y) g for a parity
    target chi_T is c_T / M, candidates 1/M = 1/240 apart (well inside the tolerance)."""
    N = 2**d
    codes = np.arange(N)
    chi = np.array([[1 - 2 * (bin(S & x).count("1") % 2) for x in codes] for S in range(N)], dtype=np.float64)
    c = np.array([0.0] + [S - 16.0 for S in range(1, N)])
    g = c @ chi
    M = float(np.abs(g).max()) * (1 + 1e-6)
    return g / M, c / M


CODED_G, CODED_TRUTHS = _coded_table()


def coded_query(scale, shift, X, y):
    codes = np.asarray(X, dtype=np.int64) @ (np.int64(1) << np.arange(X.shape[1], dtype=np.int64))
    return scale * (1.0 - 2.0 * y) * CODED_G[codes] + shift


def gaussian_base_query(scale, shift, X, y):
    return scale * 0.5 * np.tanh(X[:, 0]) * y + shift


class AveragingLearner(_Hostile):
    """Asks one query and K copies scaled by (1 - k 1e-9) (mode "scale") or shifted by k 1e-12 (mode
    "shift"), undoes the perturbation and averages, then decodes the target among 31 candidates spaced
    1/240 apart (a single answer, off by up to the tolerance 0.1, cannot tell them apart)."""

    name = "hostile-averaging"

    def __init__(self, d=5, K=2000, mode="scale"):
        self.d, self.K, self.mode = d, K, mode

    @staticmethod
    def factory(seed, budget, guard):
        return cube_oracle("noisy", seed, budget, guard)

    def perturbed(self, fn=coded_query):
        ks = np.arange(self.K + 1)
        if self.mode == "scale":
            pars = [(1.0 - k * 1e-9, 0.0) for k in ks]
        else:
            pars = [(1.0 - 1e-6, k * 1e-12) for k in ks]
        qs = [Query(functools.partial(fn, s, t), name=f"avg-{k}") for k, (s, t) in zip(ks, pars)]
        return qs, pars

    @staticmethod
    def undo(answers, pars):
        return np.array([(a - t) / s for a, (s, t) in zip(answers, pars)])

    def _learn(self, h):
        qs, pars = self.perturbed()
        est = self.undo(h.ask_batch(qs), pars)
        m = float(est.mean())
        S = int(np.argmin(np.abs(CODED_TRUTHS[1:] - m))) + 1
        sup = [j for j in range(self.d) if S >> j & 1]
        return Parity(self.d, sup), {"route": f"mean of {len(qs)} re-askings", "single": float(est[0]), "mean": m}


class RescalingLearner(_Hostile):
    """Asks one query and its copy scaled by 1/2 and solves the two answers for the truth: if the noise did
    not scale with the query (A(a phi) = a t + N, the same N), t = (A(phi) - A(phi / 2)) / (1 - 1/2) exactly;
    then decodes the target among 31 candidates spaced 1/240 apart (as :class:`AveragingLearner`)."""

    name = "hostile-rescaling"

    def __init__(self, d=5, scales=(1.0, 0.5)):
        self.d, self.scales = d, scales

    @staticmethod
    def factory(seed, budget, guard):
        return cube_oracle("noisy", seed, budget, guard)

    def solve(self, answers):
        (a, b), (A, B) = self.scales, answers
        return float((A - B) / (a - b))

    def _learn(self, h):
        qs = [Query(functools.partial(coded_query, a, 0.0), name=f"scaled-{a}") for a in self.scales]
        t = self.solve(h.ask_batch(qs))
        S = int(np.argmin(np.abs(CODED_TRUTHS[1:] - t))) + 1
        sup = [j for j in range(self.d) if S >> j & 1]
        return Parity(self.d, sup), {"route": "two scales of one query, solved for the truth", "solved": t}


HOSTILE = {
    "1-private-state": PrivateStateLearner,
    "2-internals": InternalsLearner,
    "3-mutation": MutationLearner,
    "4-copying": CopyingLearner,
    "5-ledger-truths": LedgerTruthsLearner,
    "6-frames": FrameWalkLearner,
    "7-gc": GcWalkLearner,
    "8-globals": GlobalsWalkLearner,
    "9-table-write": TableWriteLearner,
    "10-batch-store": BatchStoreLearner,
    "11-cross-row": CrossRowLearner,
    "12-averaging": AveragingLearner,
    "13-rescaling": RescalingLearner,
}


# ----------------------------------------------------------------------------- 12b. averaging by zero-mean mixtures
_MIX = np.array([np.random.default_rng(k).permutation(np.repeat([-1.0, 1.0], 16)) for k in range(2001)])


def mixed_coded_query(k, X, y):
    """((1 - 2y) g(x) + h_k(x)) / 2 with h_k a balanced +-1 function of x: E[h_k] = 0 exactly on the cube, so
    the truth is always half that of :func:`coded_query`, but the probe vectors differ (fresh noise)."""
    codes = np.asarray(X, dtype=np.int64) @ (np.int64(1) << np.arange(X.shape[1], dtype=np.int64))
    return 0.5 * ((1.0 - 2.0 * y) * CODED_G[codes] + _MIX[int(k)][codes])


# ============================================================================= gradient oracles
# Hostile learners against ApproxGradientOracle (the hostile review of the autodiff gradient oracle).
GRADIENT_SUPPORT = [1, 4, 6]


def gradient_cube_oracle(answers="adversarial", seed=0, budget=None, guard=None, d=8, dtype="float64"):
    from sqsim import ApproxGradientOracle
    from sqsim.nn import MLP, JaxModel

    return ApproxGradientOracle(BooleanCube(d), Parity(d, GRADIENT_SUPPORT), JaxModel(MLP(d, (8,)), dtype=dtype,
                                                                                          inputs="pm1"),
                                0.05, answers=answers, seed=seed, budget=budget)


def gradient_gaussian_oracle(answers="adversarial", seed=0, budget=None, guard=None):
    from sqsim import ApproxGradientOracle, OneHiddenReLU
    from sqsim.concepts import ReLUNetwork

    neuron = ReLUNetwork([np.array([[0.6], [-0.8], [0.0], [0.0]]), np.ones((1, 1))], [np.zeros(1), np.zeros(1)])
    return ApproxGradientOracle(Gaussian(4), neuron, OneHiddenReLU(4, 2), 0.05, answers=answers, seed=seed,
                                budget=budget)


def _parity_from_table(X, y, d):
    s = 1.0 - 2.0 * np.asarray(y, dtype=np.float64)
    X = np.asarray(X)

    def corr(m):
        cols = [j for j in range(d) if m >> j & 1]
        return abs(float(np.mean(s * (1 - 2 * (X[:, cols].sum(1) % 2)))))
    best = max(range(1, 2**d), key=corr)
    return Parity(d, [j for j in range(d) if best >> j & 1])


class _GradientHostile(Learner):
    oracle_kinds = ("gradient",)
    domains = ("boolean", "gaussian")
    width = 2  # check_learner's default problem

    def _guess(self, h):
        return Parity(h.domain.d, []) if h.domain.kind == "boolean" else None


class ModelPatchLearner(_GradientHostile):
    """A2: patches the model the handle shows so that the oracle's next truth hands the spy the label table
    (JaxModel: ``expectation``) or the target (closed-form: ``_parts``): first stealthily through
    ``vars(model)`` (no refusal), then the compiled-function cache, then plain setattr (refused)."""

    def _learn(self, h):
        m, stolen = h.model, {}
        jax_model = hasattr(m, "expectation")
        name = "expectation" if jax_model else "_parts"
        real = getattr(type(m), name)

        def spy(*args):
            if jax_model:
                stolen.setdefault("Xy", (np.array(args[1]), np.array(args[2])))
            else:
                stolen.setdefault("target", args[1])
            return real(m, *args)

        routes = [("vars(model)", lambda: vars(m).__setitem__(name, spy)),
                  ("model._compiled", lambda: vars(m)["_compiled"].update(
                      square=lambda v, X, y, w, c: (stolen.setdefault("Xy", (np.array(X), np.array(y))), 1 / 0))),
                  ("setattr", lambda: setattr(m, name, spy))]
        route = "none"
        for label, patch in routes:
            _attempt(patch)
            _attempt(h.gradient, m.init(np.random.default_rng(h.queries)))
            if stolen:
                route = label
                break
        if "Xy" in stolen:
            X, y = stolen["Xy"]
            return _parity_from_table(X, y, h.domain.d), {"route": route}
        if "target" in stolen:
            return stolen["target"], {"route": route}
        return self._guess(h) or m.hypothesis(m.init(np.random.default_rng(0))), {"route": route}


class BandBreakLearner(_GradientHostile):
    """A2: shifts the oracle's 'truth' by patching ``vars(model)['expectation']``; succeeds (``details``
    carries the answer) if the answer then lies outside epsilon of the real gradient."""

    def _learn(self, h):
        m = h.model
        real = type(m).expectation

        def spy(*args):
            out = real(m, *args)
            out["clipped"] = out["clipped"] + 10.0 / np.sqrt(out["clipped"].size)  # a shift of norm 10
            return out
        vars(m)["expectation"] = spy
        v = m.init(np.random.default_rng(0))
        a = h.gradient(v)
        del vars(m)["expectation"]
        return m.hypothesis(v), {"answer": a, "v": v}


class SpikeModel:
    """f_v(x) = v_0 C 1[x = x*] on {0,1}^d (C = 1.5e308, x* = e_j for j = round(v_1)): its squared-loss gradient
    2 (f - y) C 1[x = x*] overflows at x* exactly when y(x*) = 0 if f(x*) = 0.9 (A7)."""

    C = 1.5e308

    def __init__(self, d):
        self.d = d

    def init(self, key):
        import jax.numpy as jnp

        return jnp.zeros(2)

    def apply(self, params, X):
        import jax.numpy as jnp

        j = jnp.round(params[1])
        at = jnp.all(X == jnp.where(jnp.arange(self.d) == j, 1.0, 0.0), axis=1)
        return jnp.where(at, params[0] * self.C, 0.0)


def spike_oracle(answers="noisy", seed=0, budget=None, guard=None, d=8):
    from sqsim import ApproxGradientOracle
    from sqsim.nn import JaxModel

    return ApproxGradientOracle(BooleanCube(d), Parity(d, GRADIENT_SUPPORT), JaxModel(SpikeModel(d)), 0.1,
                                answers=answers, seed=seed, budget=budget)


class RefusalBitsLearner(_GradientHostile):
    """A7: asks at v = (0.9 / C, j) for every j: the truth is non-finite (refused) iff y(e_j) = 0, so if
    refusals were free and the run went on, the refusals alone would spell the parity's support."""

    def _learn(self, h):
        d, support, refused = h.domain.d, [], 0
        for j in range(d):
            try:
                h.gradient(np.array([0.9 / SpikeModel.C, float(j)]))
                support.append(j)
            except Exception:  # noqa: BLE001 - a refusal is the bit
                refused += 1
        return Parity(d, support), {"route": "refusals", "refused": refused}


class GradientAveragingLearner(_GradientHostile):
    """A3: K re-asks at v + 1e-13 N(0, I) under answers="noisy"; ``details`` holds one answer and the mean."""

    def __init__(self, K=400):
        self.K = K

    def _learn(self, h):
        v = h.model.init(np.random.default_rng(0))
        rng = np.random.default_rng(1)
        one = h.gradient(v)
        mean = np.mean([h.gradient(v + 1e-13 * rng.standard_normal(v.shape)) for _ in range(self.K)], axis=0)
        return h.model.hypothesis(v), {"one": one, "mean": mean, "v": v}


def _oracle_in_traceback(exc):
    """The first frame local of a caught exception's traceback chain (causes and contexts too) that is an
    sqsim oracle, its ledger or its target, else None."""
    from sqsim._ledger import Ledger

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            for value in tb.tb_frame.f_locals.values():
                if hasattr(value, "oracle_kind") and not type(value).__name__.endswith("Handle") \
                        or isinstance(value, (Ledger, Parity)):
                    return value
            tb = tb.tb_next
        exc = exc.__cause__ or exc.__context__
    return None


class TracebackLearner(Learner):
    """A10: provokes a refusal through every call of the handle and walks each caught exception's traceback
    to a frame holding the oracle."""

    oracle_kinds = ("gradient", "sq", "example")
    domains = ("boolean",)

    def _learn(self, h):
        calls = {"gradient": [lambda: h.gradient(np.zeros(3))],
                 "sq": [lambda: h.ask("not a query"), lambda: h.ask_batch(["not a query"])],
                 "example": [lambda: h.draw(-1), lambda: h.label("not points")]}[h.kind]
        found = []
        for call in calls:
            try:
                call()
            except Exception as exc:  # noqa: BLE001
                hit = _oracle_in_traceback(exc)
                if hit is not None:
                    found.append(type(hit).__name__)
        return Parity(h.domain.d, []), {"route": found}
