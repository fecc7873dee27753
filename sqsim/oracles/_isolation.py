"""Process isolation: ``learner.learn(oracle, isolation="process")`` (docs/theory/contracts.md, section contracts-isolation).

* The **oracle process** (the caller) holds the target and the real handle; the first
  :func:`run_isolated` makes it non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``, Linux), so a
  same-user process cannot read its memory through ``/proc`` or ptrace.
* The **learner process** is started with ``spawn`` (a fresh interpreter, never a fork holding the
  target). It runs ``learner._learn(RemoteHandle)``; each request is data (query specs, numbers,
  arrays) that the oracle process unpickles with a restricted unpickler and serves with the handle.
  ``run_isolated(..., timeout=T)`` kills a learner process that has not returned after T seconds
  (checked while waiting for its requests; a request being served finishes first, and each
  evaluator request is itself bounded by ``_sandbox.EVALUATOR_TIMEOUT``); no limit by default.
* **Evaluator processes** (:mod:`sqsim.oracles._sandbox`): one per query (:class:`RemoteQuery`) and
  one per call of an untrusted hypothesis (:class:`IsolatedHypothesis`), forked from a forkserver
  and sandboxed before any data arrives; 60 s per request by default, then killed.

Structured queries (Character, ZqCharacter, CharacterBatch) cross as parameters and are rebuilt
as the real, trusted objects; Query, CorrelationalQuery and NumbaQuery cross as their function's
import path, and for Query and CorrelationalQuery also ``functools.partial(fn, *args, **kwargs)``
of an importable fn, the arguments as data (``_sandbox.ARG_RULE``; arrays as nested lists with
their dtype and shape, rebuilt in the evaluator). Anything else is refused with
:class:`QueryContractError`.

**Hypothesis and details.** The learner process pickles them separately. A pickle that names only
trusted globals (builtins ``set frozenset complex slice range bytearray bytes list dict tuple int
float str bool``, classes of collections, numpy, sqsim and learners, and numpy's array
reconstructors; all already imported here) is unpickled by the restricted unpickler and returned
as is (a sqsim Parity is graded structurally). A hypothesis naming anything else (say a class of
the learner's own module) is **never unpickled here**: it comes back as an
:class:`IsolatedHypothesis` holding the bytes, evaluated in a fresh sandboxed evaluator per call
(which imports the modules the pickle names, by name, before sandboxing: they must be importable,
not the main script). In details, the learner process replaces every value that is not trusted
(or cannot be pickled) by its ``repr`` string; details that still name an untrusted global are
refused. An unpicklable hypothesis (a lambda) raises :class:`IsolationError`.

Channels that remain, and why:

* **Timing and resource usage.** The learner sees how long each answer takes and can watch CPU,
  memory or disk load; an evaluator can make its run time or load depend on the labels it sees
  (up to timing out, which the learner sees as :class:`IsolationError`).
* **Failures.** Whether a query failed, and a coarse kind (the builtin exception type, out of
  range, wrong shape) reach the learner as :class:`QueryRangeError`: a few bits per query. Exception
  messages and the oracle's details (offending value, point, label) are withheld for such queries.
* **Public configuration.** The learner process can read its configuration, its seed and the disk;
  if it knows how the target was built it can rebuild it: isolation hides the target object, not
  public configuration. ``spawn`` re-imports the parent's main script as ``__mp_main__`` (so
  learners defined there work): build oracles under ``if __name__ == "__main__":``.
* **The learner process is not sandboxed.** Its network sockets are not closed, it can open new
  ones, write files and start processes; only evaluators are write- and descriptor-limited. As
  root with CAP_SYS_PTRACE it could still read the non-dumpable oracle process. Evaluators run the
  import of the learner's modules before sandboxing (they hold no target and no labels yet).
* **Evaluators when not root** (no chroot, no uid switch) can create empty directories, rename or
  delete files they may write, and signal same-user processes: names and signals are channels.
* **Trusted code.** sqsim, learners and numpy classes in the hypothesis are unpickled and called in
  the oracle process: a hypothesis built from them runs their code only.
"""

from __future__ import annotations

import builtins
import io
import multiprocessing as mp
import pickle
import pickletools
import sys
import time
import traceback
import types
from multiprocessing.connection import wait

import numpy as np

from .. import _errors
from .._errors import InvalidParameterError, IsolationError, QueryBudgetExceeded, SealError, SQSimError
from ._seal import Sealed
from .._queries import CharacterBatch, Query
from ._sandbox import IsolatedHypothesis, RemoteQuery, _nondumpable, deserialize_query, serialize_query

__all__ = [
    "IsolatedHypothesis",
    "LedgerView",
    "RemoteHandle",
    "RemoteQuery",
    "deserialize_query",
    "run_isolated",
    "serialize_query",
]

HYPOTHESIS_RULE = ("under isolation='process' the hypothesis must be picklable (a class of an importable module, "
                   "not a lambda or the main script) and details are built from sqsim/learners/numpy objects and "
                   "plain Python data")


def _sqsim_error_name(exc) -> str:
    return next(c.__name__ for c in type(exc).__mro__ if getattr(_errors, c.__name__, None) is c)


# ----------------------------------------------------------------------------- learner process
_STATIC = ("kind", "oracle_kind", "tolerance", "t", "epsilon", "domain", "model", "boolean_labels", "truth_points")


def _error_class(name, builtin=True):
    """The sqsim error class (or, if ``builtin``, builtin exception class) called ``name``; else IsolationError."""
    cls = getattr(_errors, str(name), None) or (getattr(builtins, str(name), None) if builtin else None)
    return cls if isinstance(cls, type) and issubclass(cls, Exception) else IsolationError


class LedgerView:
    """A read-only, list-like copy of the oracle's ledger rows (plain dicts) when it was asked for."""

    def __init__(self, rows):
        self._rows = tuple(types.MappingProxyType(dict(r)) for r in rows)

    __len__ = property(lambda self: self._rows.__len__)
    __getitem__ = property(lambda self: self._rows.__getitem__)
    __iter__ = property(lambda self: self._rows.__iter__)
    total = property(lambda self: sum(int(dict(r.get("extra") or {}).get("count", 1)) for r in self._rows))

    def to_rows(self) -> list:
        return [dict(r) for r in self._rows]

    def __repr__(self):
        return f"LedgerView(records={len(self)})"


class RemoteHandle:
    """The learner's handle inside the learner process: each call is a data request to the oracle process."""

    __slots__ = ("_conn", "_static")

    def __init__(self, conn, static):
        self._conn, self._static = conn, dict(static)

    def _call(self, op, *args):
        self._conn.send_bytes(pickle.dumps((op, args)))
        status, payload = pickle.loads(self._conn.recv_bytes())  # from the oracle process: trusted
        if status == "err":
            raise _error_class(payload[0])(payload[1])
        return payload

    def ask(self, query) -> float:
        return float(self._call("ask", serialize_query(query)))

    def ask_batch(self, queries) -> np.ndarray:
        if isinstance(queries, (Query, CharacterBatch)):
            specs = serialize_query(queries)  # the oracle refuses a lone Query with its own message
        elif hasattr(queries, "__iter__"):
            specs = [serialize_query(q) for q in queries]
        else:
            raise InvalidParameterError(f"The 'queries' parameter of ask_batch must be a sequence of queries or a "
                                        f"CharacterBatch. Got {queries!r} instead.")
        return np.asarray(self._call("ask_batch", specs), dtype=np.float64)

    draw = lambda self, n: self._call("draw", n)  # noqa: E731
    label = lambda self, X: self._call("label", np.asarray(X))  # noqa: E731
    gradient = lambda self, v: self._call("gradient", np.asarray(v))  # noqa: E731
    child_entropy = lambda self, purpose: self._call("child_entropy", purpose)  # noqa: E731
    budget_left = property(lambda self: self._call("budget_left"))
    queries = property(lambda self: self._call("queries"))
    ledger = property(lambda self: LedgerView(self._call("ledger")))

    def __reduce_ex__(self, protocol):
        raise SealError("A RemoteHandle cannot be pickled or copied.")

    def __repr__(self):
        return f"RemoteHandle(kind={self._static.get('kind')!r}, domain={self._static.get('domain')!r})"


for _name in _STATIC:
    setattr(RemoteHandle, _name, property(lambda self, _n=_name: self._static.get(_n)))


def _class_name(obj) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _plain(obj, depth=0):
    """Details with every value that is not trusted (or cannot be pickled) replaced by its repr string."""
    t = type(obj)
    if depth < 20 and t is dict:
        return {_plain(k, depth + 1): _plain(v, depth + 1) for k, v in obj.items()}
    if depth < 20 and t in (list, tuple, set, frozenset):
        return t(_plain(v, depth + 1) for v in obj)
    try:
        if all(g is not None and _trusted_global(*g, _RESULT_ROOTS) for g in _pickle_globals(pickle.dumps(obj))):
            return obj
    except Exception:
        pass
    try:
        return repr(obj)[:1000]
    except Exception:
        return f"<{_class_name(obj)} object>"


def _child_main(conn, learner_bytes, static):
    _nondumpable()
    try:
        hypothesis, details = pickle.loads(learner_bytes)._learn(RemoteHandle(conn, static))
        try:
            msg = ("done", (pickle.dumps(hypothesis), _class_name(hypothesis), pickle.dumps(_plain(details))))
        except Exception as exc:
            why = f"The hypothesis {_class_name(hypothesis)} could not be pickled ({type(exc).__name__}: {exc})"
            msg = ("fail", ("IsolationError", f"{why}; {HYPOTHESIS_RULE}.", ""))
    except SQSimError as exc:
        msg = ("fail", (_sqsim_error_name(exc), str(exc), traceback.format_exc()))
    except BaseException as exc:
        msg = ("fail", (None, f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    conn.send_bytes(pickle.dumps(msg))
    conn.close()


# ----------------------------------------------------------------------------- trust
_SAFE_BUILTINS = frozenset({"set", "frozenset", "complex", "slice", "range", "bytearray", "bytes", "list", "dict",
                            "tuple", "int", "float", "str", "bool"})
_NUMPY_CTORS = frozenset({"_reconstruct", "scalar", "_frombuffer", "__generator_ctor", "__bit_generator_ctor",
                          "__randomstate_ctor"})
_BLOCKED = ("numpy.lib.npyio", "numpy.lib._npyio", "numpy.lib._datasource", "numpy.lib.format", "numpy.distutils",
            "numpy.f2py", "numpy.testing", "numpy.ctypeslib")
_RESULT_ROOTS = ("numpy", "sqsim", "learners")


def _lookup(module, name):
    """``module.name`` of an already imported module, through __dict__ only (no module __getattr__ runs)."""
    obj = sys.modules.get(module)
    for part in name.split("."):
        obj = vars(obj).get(part) if hasattr(obj, "__dict__") else None
    return obj


_HYPOTHESIS_MODULES = ("sqsim.lift", "sqsim.concepts", "sqsim.gradients", "sqsim._domains")


def _is_hypothesis_part(module: str, obj) -> bool:
    """sqsim and learners classes a hypothesis may be built from: concepts, lifts (and their constants),
    domains, gradient models and hypotheses, the weak predictor, and the learners' own non-learner classes
    (HermitePolynomial, ...). Not oracles, ledgers, queries, experiments or anything else whose construction
    or call acts on the world."""
    if not isinstance(obj, type) or issubclass(obj, Sealed):
        return False
    from .. import _domains, adapter, gradients
    from .._learning import Learner

    if module.startswith(_HYPOTHESIS_MODULES) or obj is adapter.WeakPredictor:
        return True
    if module == "sqsim":  # exported names whose module reads "sqsim": only domains and gradient models
        return obj in {v for m in (_domains, gradients) for v in vars(m).values() if isinstance(v, type)}
    return module.split(".")[0] == "learners" and not issubclass(obj, Learner)


def _trusted_global(module, name, roots) -> bool:
    """A global the oracle process may unpickle: a class (or numpy reconstructor) of a trusted, imported module."""
    if not (isinstance(module, str) and isinstance(name, str)) or module not in sys.modules \
            or module.startswith(_BLOCKED):
        return False
    if module == "builtins":
        return name in _SAFE_BUILTINS
    if module != "collections" and module.split(".")[0] not in roots:
        return False
    obj = _lookup(module, name)
    if module.split(".")[0] in ("sqsim", "learners") and not _is_hypothesis_part(module, obj):
        return False
    if module.startswith("numpy"):
        # numpy: arrays, scalars and dtypes only (not, say, a test runner whose __call__ would run here)
        return (isinstance(obj, type) and issubclass(obj, (np.ndarray, np.generic, np.dtype))
                and not issubclass(obj, np.memmap)) or (name in _NUMPY_CTORS and callable(obj))
    return isinstance(obj, type)


_STRINGS = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"})
_MARK = pickletools.markobject


def _pickle_globals(data) -> list:
    """Every global a pickle names, as (module, name), read statically (nothing is unpickled).

    A stack machine over the opcodes tracking only strings; a global it cannot read (an extension
    code, a name not built from literal strings, a malformed pickle) is listed as None.
    """
    stack, memo, found, unknown = [], {}, [], object()
    try:
        for op, arg, _ in pickletools.genops(data):
            name = op.name
            if name in ("GLOBAL", "INST"):
                found.append(tuple(arg.split(" ", 1)))
            elif name == "STACK_GLOBAL":
                found.append((stack[-2], stack[-1]) if all(isinstance(v, str) for v in stack[-2:]) else None)
            elif name.startswith("EXT"):
                found.append(None)
            if name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo[arg])
            elif name == "DUP":
                stack.append(stack[-1])
            else:
                before = op.stack_before
                if _MARK in before:
                    cut = len(stack) - 1 - stack[::-1].index(_MARK) - before.index(_MARK)
                else:
                    cut = len(stack) - len(before)
                if cut < 0:
                    raise IndexError(name)
                del stack[cut:]
                stack += [_MARK if k is _MARK else arg if name in _STRINGS else unknown for k in op.stack_after]
    except Exception:
        found.append(None)
    return found


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only the globals :func:`_trusted_global` accepts."""

    def __init__(self, data, roots):
        super().__init__(io.BytesIO(data))
        self._roots = tuple(roots)

    def find_class(self, module, name):
        if _trusted_global(module, name, self._roots):
            return _lookup(module, name)
        raise IsolationError(f"The learner process sent {module}.{name}, which the oracle process refuses to "
                             f"unpickle: {HYPOTHESIS_RULE}.")


# ----------------------------------------------------------------------------- oracle process
def _loads(data, modules=("numpy",)):
    try:
        return _RestrictedUnpickler(data, modules).load()
    except IsolationError:
        raise
    except Exception as exc:
        raise IsolationError(f"The learner process sent data that cannot be unpickled ({exc!r}).") from None


def _sealed_types() -> tuple:
    try:
        from ._handle import OracleHandle
        from ._seal import Sealed
    except ImportError:  # pragma: no cover - without the sealed oracles
        return ()
    return (Sealed, OracleHandle)


class _GuardPickler(pickle.Pickler):
    """Pickles the learner for the learner process, refusing the oracle and the handle."""

    def __init__(self, file, handle):
        super().__init__(file)
        self._handle, self._sealed = handle, _sealed_types()

    def reducer_override(self, obj):
        if obj is self._handle or isinstance(obj, self._sealed):
            raise IsolationError("The learner holds the oracle or its handle; under isolation='process' a learner "
                                 "must reach the oracle only through the handle passed to _learn.")
        return NotImplemented


_WITHHELD = (("must return values", "returned a value out of range"),
             ("must return an array of shape", "returned the wrong shape"),
             ("must return real numbers", "returned values that are not real"))


def _withheld(message, remote) -> str:
    """A QueryRangeError message for the learner without the values, points and labels the oracle named."""
    what = next((w for pattern, w in _WITHHELD if pattern in message), "failed")
    return (f"Query {', '.join(repr(q.name) for q in remote)} {what}; the oracle's details (values, points, labels) "
            f"are withheld under isolation='process' because they are computed from the target.")


class _HandleServer:
    """Serves the learner process's requests with the real handle, one at a time."""

    def __init__(self, handle):
        self.handle = handle

    def reply(self, op, args) -> bytes:
        h, remote = self.handle, []
        try:
            if op in ("ask", "ask_batch"):
                qs = deserialize_query(args[0]) if isinstance(args[0], dict) else [deserialize_query(s) for s in args[0]]
                remote = [q for q in (qs if isinstance(qs, list) else [qs]) if isinstance(q, RemoteQuery)]
                value = h.ask(qs) if op == "ask" else h.ask_batch(qs)
            elif op in ("draw", "label", "gradient", "child_entropy"):
                value = getattr(h, op)(*args)
            elif op in ("budget_left", "queries", "ledger"):
                value = h.ledger.to_rows() if op == "ledger" else getattr(h, op)
            else:
                raise IsolationError(f"Unknown request {op!r} from the learner process.")
            return pickle.dumps(("ok", value))
        except SQSimError as exc:
            # every error raised while a learner's query ran may carry values computed from the target
            secret = (bool(remote) and not isinstance(exc, (QueryBudgetExceeded, SealError, IsolationError))
                      and not getattr(exc, "sqsim_withheld", False))
            return pickle.dumps(("err", (_sqsim_error_name(exc), _withheld(str(exc), remote) if secret else str(exc))))
        except Exception as exc:
            name = type(exc).__name__ if type(exc).__module__ == "builtins" else "IsolationError"
            return pickle.dumps(("err", (name, f"{type(exc).__name__}: {exc}")))
        finally:
            for q in remote:
                q.close()

    def serve(self, conn, proc, deadline=None):
        """Answer requests until the learner process reports; returns its final (status, payload).

        Returns ("timeout", None) once ``deadline`` (time.monotonic) passes without a report.
        """
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and (left <= 0 or not wait([conn, proc.sentinel], left)):
                return "timeout", None
            wait([conn, proc.sentinel])
            try:
                if not conn.poll():
                    raise EOFError
                data = conn.recv_bytes()
            except (EOFError, OSError):
                proc.join(5)
                raise IsolationError(f"The learner process died with exit code {proc.exitcode} before returning.")
            try:
                op, args = _loads(data)
            except (IsolationError, TypeError, ValueError) as exc:
                conn.send_bytes(pickle.dumps(("err", ("IsolationError", str(exc)))))
                continue
            if op in ("done", "fail"):
                return op, args
            conn.send_bytes(self.reply(op, args))


def _receive(payload):
    """(hypothesis, details) from the learner process's pickles: trusted ones unpickled, else an IsolatedHypothesis."""
    if not (isinstance(payload, tuple) and len(payload) == 3 and isinstance(payload[0], bytes)
            and isinstance(payload[1], str) and isinstance(payload[2], bytes)):
        raise IsolationError(f"The learner process sent a malformed result: {payload!r:.200}")
    data, class_name, details = payload
    found = _pickle_globals(data)
    if all(g is not None and _trusted_global(*g, _RESULT_ROOTS) for g in found):
        hypothesis = _loads(data, _RESULT_ROOTS)
    else:
        modules = sorted({g[0] for g in found if g is not None and g[0] != "builtins"})
        if any(not all(p.isidentifier() for p in m.split(".")) for m in modules) or {"__main__", "__mp_main__"} & set(modules):
            raise IsolationError(f"The hypothesis {class_name:.200} names a module that cannot be imported by name "
                                 f"({', '.join(modules)[:200]}): {HYPOTHESIS_RULE}.")
        hypothesis = IsolatedHypothesis(data, modules, class_name[:200])
    return hypothesis, _loads(details, _RESULT_ROOTS)


_DUMPABLE_OFF = []


def run_isolated(learner, handle, *, timeout=None):
    """Run ``learner._learn`` in a spawned learner process that reaches ``handle`` only through a channel.

    Returns ``(hypothesis, details)``: the hypothesis unpickled if it is built from trusted classes,
    else an :class:`IsolatedHypothesis` (see the module docstring). Errors escaping ``_learn`` come
    back as the same sqsim error class, anything else as :class:`IsolationError` with the learner
    process's traceback; a learner process that dies (killed, segfault) gives :class:`IsolationError`
    with its exit code, and one that has not returned after ``timeout`` seconds (None: no limit) is
    killed and gives :class:`IsolationError` naming the learner.
    """
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not timeout > 0):
        raise InvalidParameterError(f"The 'timeout' parameter of run_isolated must be a positive number of seconds "
                                    f"or None. Got {timeout!r} instead.")
    if not _DUMPABLE_OFF:
        _nondumpable()
        _DUMPABLE_OFF.append(True)
    buf = io.BytesIO()
    try:
        _GuardPickler(buf, handle).dump(learner)
    except IsolationError:
        raise
    except Exception as exc:
        raise IsolationError(f"The learner {type(learner).__name__} cannot be pickled for the learner process "
                             f"({type(exc).__name__}: {exc}).") from None
    ctx = mp.get_context("spawn")
    conn, child = ctx.Pipe()
    static = {name: getattr(handle, name, None) for name in _STATIC}
    proc = ctx.Process(target=_child_main, args=(child, buf.getvalue(), static), daemon=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    proc.start()
    child.close()
    status = None
    try:
        status, payload = _HandleServer(handle).serve(conn, proc, deadline)
    finally:
        conn.close()
        proc.join(0 if status == "timeout" else 5)
        if proc.is_alive():
            proc.kill()
            proc.join()
    if status == "timeout":
        raise IsolationError(f"The learner {type(learner).__name__} did not return within {timeout:g} s under "
                             f"isolation='process'; its process was killed.")
    if status == "fail":
        name, message, tb = payload if isinstance(payload, tuple) and len(payload) == 3 else (None, repr(payload), "")
        if name is not None:
            raise _error_class(name, builtin=False)(str(message))
        raise IsolationError(f"The learner raised {message}\nLearner-process traceback:\n{tb}")
    return _receive(payload)
