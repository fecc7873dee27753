"""Process isolation: ``learner.learn(oracle, isolation="process")`` (DESIGN.md section 4, Isolation).

Three kinds of process take part:

* the **oracle process** (the caller) holds the target and the real handle. When
  :func:`run_isolated` is first called it makes itself non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``,
  Linux), so a same-user process cannot read its memory through ``/proc`` or ptrace.
* the **learner process**, started with the ``spawn`` context (a fresh interpreter, never a fork of
  the oracle process), runs ``learner._learn(RemoteHandle)``. It holds the pickled learner and a
  channel; every request on the channel is data (query specs, integers, arrays).
* one **evaluator process per query** (:class:`RemoteQuery`), forked from a ``forkserver`` whose
  server is a fresh interpreter with numpy and sqsim preloaded. It imports the query's function
  (before any data arrives), then sandboxes itself: ``RLIMIT_FSIZE = 0``, every inherited file
  descriptor closed but the channel (moved to fd 0) and ``RLIMIT_NOFILE = 1`` (no new file,
  socket or pipe can be opened), non-dumpable, and when root: chroot into a fresh empty directory
  that is deleted before the chroot (nothing can be created in it) and a switch to uid/gid 65534
  (no capabilities: it cannot signal or ptrace the other processes). It then only receives
  (X, y, boolean_labels) and returns values. Values come back as raw bytes, never unpickled.

Structured sqsim queries (:class:`Character`, :class:`ZqCharacter`, :class:`CharacterBatch`)
cross as parameters and are rebuilt as the real objects (trusted code, evaluated by the oracle).
Query, CorrelationalQuery and NumbaQuery cross as the import path of their function; anything
else is refused with :class:`QueryContractError`.

The hypothesis and details come back pickled and are unpickled by a restricted unpickler: only
classes from builtins (set, frozenset, complex, slice, range, bytearray), collections, numpy,
sqsim, learners and the learner's own module, plus numpy's array reconstructors, are accepted.
The hypothesis must be built from sqsim/learners/numpy objects (and the learner module's own
classes); anything else, and anything that cannot be pickled (a lambda), raises
:class:`IsolationError`.

Channels that remain under this mode, and why:

* **Timing and resource usage.** The learner sees how long each answer takes and can watch CPU,
  memory or disk load; an evaluator can make its run time or load depend on the labels it sees.
* **Failures.** Whether a query's evaluation failed, and the kind of failure, reach the learner
  (a :class:`QueryRangeError`). The evaluator's own exception messages are withheld (only the
  builtin exception type is named); messages of the oracle's own checks are passed on as they
  are, and they name the offending value, point and label.
* **Public configuration.** The learner process can read its configuration, its seed and
  anything on disk; if it knows how the target was built it can rebuild it. Isolation hides the
  target object, not public configuration. A spawned process also re-imports the parent's main
  script as ``__mp_main__``: build oracles under ``if __name__ == "__main__":``.
* **The learner process is not sandboxed.** It keeps its network sockets and can open new ones,
  write files and start processes; only evaluators are write- and descriptor-limited. When it
  runs as root with CAP_SYS_PTRACE it can still read the non-dumpable oracle process.
* **Evaluators when not root.** Without the chroot they can create empty directories, rename or
  delete files they may write, and signal same-user processes (names and signals are channels).
* **Hypothesis code.** Classes of the learner's own module are trusted: their ``__setstate__``
  runs when the hypothesis is unpickled and their ``__call__`` when it is graded, both in the
  oracle process.
"""

from __future__ import annotations

import builtins
import ctypes
import importlib
import io
import multiprocessing as mp
import os
import pickle
import re
import resource
import signal
import sys
import tempfile
import threading
import traceback
import types
from multiprocessing import spawn as mp_spawn
from multiprocessing.connection import wait

import numpy as np

from .. import _errors
from .._errors import (IsolationError, InvalidParameterError, QueryContractError, QueryRangeError, SealError,
                       SQSimError)
from .._queries import LABEL_MODES, Character, CharacterBatch, CorrelationalQuery, NumbaQuery, Query, ZqCharacter

__all__ = ["serialize_query", "deserialize_query", "RemoteQuery", "RemoteHandle", "LedgerView", "run_isolated"]

_PLAIN = {"Query": Query, "CorrelationalQuery": CorrelationalQuery, "NumbaQuery": NumbaQuery}
_HOWTO = ("define fn at module level in an importable module, e.g. mypkg/queries.py, and pass parameters "
          "through NumbaQuery params=...")
HYPOTHESIS_RULE = ("under isolation='process' the hypothesis and details must be built from sqsim/learners/numpy "
                   "objects (or classes of the learner's own module) and plain Python data")


def _nondumpable() -> None:
    """prctl(PR_SET_DUMPABLE, 0): same-user processes can no longer read this one's memory (Linux)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            pass


# ----------------------------------------------------------------------------- query specs
def _import_path(fn):
    """(module, qualname) if ``fn`` is reachable by import under its own name, else None."""
    base = getattr(fn, "py_func", fn)
    module, qual = getattr(base, "__module__", None), getattr(base, "__qualname__", None)
    if not (isinstance(module, str) and isinstance(qual, str)) or module in ("__main__", "__mp_main__") \
            or "<locals>" in qual or "<lambda>" in qual:
        return None
    try:
        obj = importlib.import_module(module)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except Exception:
        return None
    same = obj is fn or (hasattr(fn, "py_func") and getattr(obj, "py_func", None) is fn.py_func)
    return (module, qual) if same else None


def serialize_query(query) -> dict:
    """The query (or CharacterBatch) as JSON-safe data, or :class:`QueryContractError` if it cannot cross."""
    t = type(query)
    if t is CharacterBatch:
        return {"type": "CharacterBatch", "d": query.d, "supports": [list(m.support) for m in query.members],
                "max_size": query.max_size}
    if t is Character:
        return {"type": "Character", "d": query.d, "support": list(query.support), "name": str(query.name)}
    if t is ZqCharacter:
        return {"type": "ZqCharacter", "d": query.d, "q": query.q, "s": [int(v) for v in query.s],
                "name": str(query.name), "labels": query.labels}
    if not isinstance(query, Query):
        raise InvalidParameterError(f"The 'query' parameter of ask must be a sqsim Query. Got {query!r} instead.")
    path = _import_path(query.fn) if t in _PLAIN.values() else None
    if path is None:
        why = (f"its function {query.qualname!r} is not importable by name" if t in _PLAIN.values()
               else f"{t.__module__}.{t.__qualname__} is not a sqsim query class")
        raise QueryContractError(
            f"Query {query.name!r} cannot cross the process boundary under isolation='process': {why}. To make it "
            f"importable, {_HOWTO} (use Query, CorrelationalQuery or NumbaQuery, not a subclass)."
        )
    spec = {"type": t.__name__, "module": path[0], "qualname": path[1], "name": str(query.name),
            "kind": query.kind, "reads": None}
    if t is CorrelationalQuery:
        spec["labels"] = query.labels
    if t is NumbaQuery:
        spec["params"] = [float(v) for v in query.params]
        spec["reads"] = None if query.reads is None else [int(j) for j in query.reads]
    return spec


def deserialize_query(spec):
    """Rebuild a spec in the oracle process: structured queries as themselves, others as :class:`RemoteQuery`."""
    try:
        t = spec["type"]
        if t == "Character":
            return Character(spec["d"], spec["support"], spec["name"])
        if t == "ZqCharacter":
            return ZqCharacter(spec["d"], spec["q"], spec["s"], spec["name"], labels=spec["labels"])
        if t == "CharacterBatch":
            batch = CharacterBatch(spec["d"], supports=spec["supports"])
            batch.max_size = spec.get("max_size")
            return batch
        if t in _PLAIN:
            return RemoteQuery(spec)
    except (KeyError, TypeError) as exc:
        raise IsolationError(f"A query spec from the learner process is malformed ({exc!r}): {spec!r:.200}") from None
    raise IsolationError(f"A query spec from the learner process has an unknown type: {spec!r:.200}")


def _local_query(spec) -> Query:
    """The in-evaluator twin of a spec: the real sqsim class around the imported function."""
    fn = importlib.import_module(spec["module"])
    for part in spec["qualname"].split("."):
        fn = getattr(fn, part)
    cls = _PLAIN[spec["type"]]
    if cls is CorrelationalQuery:
        return CorrelationalQuery(fn, spec["name"], labels=spec["labels"])
    if cls is NumbaQuery:
        return NumbaQuery(fn, spec["name"], params=spec["params"], kind=spec["kind"], reads=spec["reads"])
    return Query(fn, spec["name"], kind=spec["kind"])


# ----------------------------------------------------------------------------- evaluator
_FORKSERVER = None
_LOCAL = threading.local()


def _forkserver():
    """The forkserver context; its children skip re-importing the oracle's main script (unlike spawn)."""
    global _FORKSERVER
    if _FORKSERVER is None:
        orig = mp_spawn.get_preparation_data

        def preparation_data(name):
            data = orig(name)
            if getattr(_LOCAL, "no_main", False):
                data.pop("init_main_from_path", None)
                data.pop("init_main_from_name", None)
            return data

        mp_spawn.get_preparation_data = preparation_data
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["numpy", "sqsim"])
        _FORKSERVER = ctx
    return _FORKSERVER


def _sandbox(conn):
    """Limit the evaluator to computing: no writes, no new descriptors, no memory reads, an empty root."""
    tmp = tempfile.gettempdir()  # before RLIMIT_FSIZE: gettempdir writes a probe file
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write fails with EFBIG instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    dup = os.dup(conn.fileno())
    conn.close()
    os.dup2(dup, 0)  # the channel becomes fd 0, the only descriptor left
    for other in [int(f) for f in os.listdir("/proc/self/fd")] if os.path.isdir("/proc/self/fd") else range(1, 4096):
        if other != 0:
            try:
                os.close(other)
            except OSError:
                pass
    _nondumpable()
    if os.geteuid() == 0:
        root = tempfile.mkdtemp(prefix="sqsim-eval-", dir=tmp)
        os.chdir(root)
        os.rmdir(root)  # a deleted directory: nothing can be created in it, not even by root
        os.chroot(".")
        os.chdir("/")
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1, 1))
    return mp.connection.Connection(0)


def _evaluator_main(conn, spec, x_kind):
    failure = None
    try:
        query = _local_query(spec)
        if isinstance(query, NumbaQuery):  # compile now: after the sandbox numba cannot read its files
            from numba import typeof, types

            from .._queries import _numba_rows
            xt = types.float64 if x_kind == "f" else types.int64
            _numba_rows.compile((typeof(query.fn), xt[:, ::1], types.float64[::1], types.float64[::1]))
    except BaseException as exc:
        failure = f"R{type(exc).__name__} while importing its function in the evaluator: {exc}"
    try:
        conn = _sandbox(conn)
    except BaseException as exc:  # never evaluate outside the sandbox
        failure = failure or f"RIsolationError: the evaluator sandbox failed ({exc})"
    while True:
        try:
            X, y, boolean_labels = conn.recv()
        except BaseException:
            os._exit(0)
        if failure is None and isinstance(query, NumbaQuery) and (np.asarray(X).dtype.kind == "f") != (x_kind == "f"):
            failure = "Rno compiled kernel for points of another dtype than its first batch"
        if failure is not None:
            conn.send_bytes(failure.encode())
            continue
        try:
            vals = np.asarray(query._raw(X, y, boolean_labels))
            if vals.dtype.kind not in "biufc":
                msg = f"Rmust return real numbers. Got dtype {vals.dtype} instead."
                conn.send_bytes(msg.encode())
            else:
                head = f"V{vals.dtype.str}|{','.join(map(str, vals.shape))}|".encode()
                conn.send_bytes(head + np.ascontiguousarray(vals).tobytes())
        except QueryRangeError as exc:
            conn.send_bytes(f"Q{exc}".encode())
        except BaseException as exc:
            kind = type(exc).__name__ if type(exc).__module__ == "builtins" else "an exception"
            conn.send_bytes(f"R{kind} (called on X of shape {X.shape}); its message is withheld under "
                            f"isolation='process'".encode())


class _Evaluator:
    """One evaluator process, started for one query; killed by :meth:`close`."""

    def __init__(self, spec, x_kind):
        ctx = _forkserver()
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_evaluator_main, args=(child, spec, x_kind), daemon=True)
        _LOCAL.no_main = True
        try:
            self.proc.start()
        finally:
            _LOCAL.no_main = False
            child.close()

    def evaluate(self, X, y, boolean_labels):
        """(values, None) or (None, error text)."""
        try:
            self.conn.send((X, y, bool(boolean_labels)))
            reply = self.conn.recv_bytes()
        except (EOFError, OSError):
            return None, "Rits evaluator process died (it crashed or exited)"
        tag, body = reply[:1], reply[1:]
        if tag != b"V":
            return None, reply.decode(errors="replace")
        try:
            dt, shape, data = body.split(b"|", 2)
            dtype = np.dtype(dt.decode())
            shape = tuple(int(s) for s in shape.decode().split(",") if s)
            if dtype.kind not in "biufc" or dtype.hasobject:
                raise ValueError(dtype)
            return np.frombuffer(data, dtype=dtype).reshape(shape).copy(), None
        except (ValueError, TypeError):
            return None, "Rits evaluator sent malformed values"

    def close(self):
        self.conn.close()
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)


class RemoteQuery(Query):
    """A learner's query rebuilt in the oracle process from its spec, evaluated in a sandboxed evaluator.

    The evaluator starts at the first evaluation, serves only this object's further evaluations
    (the chunks of one query) and is killed by :meth:`close` (idempotent; also a context manager).
    """

    structured = False

    def __init__(self, spec):
        bad = (not all(isinstance(spec.get(k), str) for k in ("module", "qualname", "name"))
               or spec.get("kind") not in ("sq", "csq")
               or (spec["type"] == "CorrelationalQuery" and spec.get("labels") not in LABEL_MODES))
        if bad:
            raise IsolationError(f"A query spec from the learner process is malformed: {spec!r:.200}")
        super().__init__(_never_called, spec["name"], kind=spec["kind"])
        self.spec = dict(spec)
        self.labels = spec.get("labels")
        self.reads = None if spec.get("reads") is None else tuple(int(j) for j in spec["reads"])
        self.params = np.asarray(spec.get("params", ()), dtype=np.float64)
        self._evaluator = None

    @property
    def qualname(self) -> str:
        return self.spec["qualname"]

    def _raw(self, X, y, boolean_labels):
        if self._evaluator is None:
            self._evaluator = _Evaluator(self.spec, np.asarray(X).dtype.kind)
        vals, err = self._evaluator.evaluate(X, y, boolean_labels)
        if err is None:
            return vals
        tag, text = err[:1], err[1:]
        raise QueryRangeError(text if tag == "Q" else f"Query {self.name!r} raised {text}.")

    def close(self):
        ev, self._evaluator = self._evaluator, None
        if ev is not None:
            ev.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def _never_called(X, y):  # pragma: no cover - RemoteQuery evaluates through _raw
    raise IsolationError("A RemoteQuery is evaluated in its evaluator process, not called.")


# ----------------------------------------------------------------------------- learner process
_STATIC = ("kind", "oracle_kind", "tolerance", "t", "epsilon", "domain", "model", "boolean_labels", "truth_points")


def _error_class(name, builtin=True):
    """The sqsim error class (or, if ``builtin``, builtin exception class) called ``name``; else IsolationError."""
    cls = getattr(_errors, str(name), None) or (getattr(builtins, str(name), None) if builtin else None)
    return cls if isinstance(cls, type) and issubclass(cls, Exception) else IsolationError


class LedgerView:
    """A read-only, list-like copy of the oracle's ledger rows (plain dicts) at the time it was asked."""

    def __init__(self, rows):
        self._rows = tuple(types.MappingProxyType(dict(r)) for r in rows)

    def __len__(self):
        return len(self._rows)

    def __getitem__(self, i):
        return self._rows[i]

    def __iter__(self):
        return iter(self._rows)

    @property
    def total(self) -> int:
        return sum(int(dict(r.get("extra") or {}).get("count", 1)) for r in self._rows)

    def to_rows(self) -> list:
        return [dict(r) for r in self._rows]

    def __repr__(self):
        return f"LedgerView(records={len(self)})"


class RemoteHandle:
    """The learner's handle in the learner process: every call is a data request to the oracle process."""

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
            specs = serialize_query(queries)
        elif hasattr(queries, "__iter__"):
            specs = [serialize_query(q) for q in queries]
        else:
            raise InvalidParameterError(f"The 'queries' parameter of ask_batch must be a sequence of queries or a "
                                        f"CharacterBatch. Got {queries!r} instead.")
        return np.asarray(self._call("ask_batch", specs), dtype=np.float64)

    def draw(self, n):
        return self._call("draw", n)

    def label(self, X):
        return self._call("label", np.asarray(X))

    def gradient(self, v):
        return self._call("gradient", np.asarray(v))

    def child_entropy(self, purpose) -> int:
        return self._call("child_entropy", purpose)

    budget_left = property(lambda self: self._call("budget_left"))
    queries = property(lambda self: self._call("queries"))
    ledger = property(lambda self: LedgerView(self._call("ledger")))

    def __reduce_ex__(self, protocol):
        raise SealError("A RemoteHandle cannot be pickled or copied.")

    def __repr__(self):
        return f"RemoteHandle(kind={self._static.get('kind')!r}, domain={self._static.get('domain')!r})"


for _name in _STATIC:
    setattr(RemoteHandle, _name, property(lambda self, _n=_name: self._static.get(_n)))


def _child_main(conn, learner_bytes, static):
    _nondumpable()
    try:
        learner = pickle.loads(learner_bytes)
        hypothesis, details = learner._learn(RemoteHandle(conn, static))
        try:
            msg = ("done", pickle.dumps((hypothesis, details)))
        except Exception as exc:
            msg = ("fail", ("IsolationError", f"The hypothesis or details could not be pickled "
                                              f"({type(exc).__name__}: {exc}); {HYPOTHESIS_RULE}.", ""))
    except SQSimError as exc:
        name = next(c.__name__ for c in type(exc).__mro__ if getattr(_errors, c.__name__, None) is c)
        msg = ("fail", (name, str(exc), traceback.format_exc()))
    except BaseException as exc:
        msg = ("fail", (None, f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    conn.send_bytes(pickle.dumps(msg))
    conn.close()


# ----------------------------------------------------------------------------- oracle process
_SAFE_BUILTINS = frozenset({"set", "frozenset", "complex", "slice", "range", "bytearray", "bytes"})
_NUMPY_CTORS = frozenset({"_reconstruct", "scalar", "_frombuffer", "__generator_ctor", "__bit_generator_ctor",
                          "__randomstate_ctor"})
_BLOCKED = re.compile(r"^numpy\.(lib\.(_?npyio|_datasource|format)|distutils|f2py|testing|ctypeslib)")


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only classes of allowed, already imported modules (and numpy's array reconstructors)."""

    def __init__(self, data, modules=()):
        super().__init__(io.BytesIO(data))
        self._modules = tuple(modules)

    def find_class(self, module, name):
        top = module.split(".")[0]
        allowed = module in sys.modules and not _BLOCKED.match(module) and (
            (module == "builtins" and name in _SAFE_BUILTINS) or module == "collections"
            or top in self._modules or module in self._modules)
        obj = sys.modules.get(module) if allowed else None
        for part in name.split(".") if allowed else ():
            obj = getattr(obj, part, None)
        if allowed and (isinstance(obj, type) and not issubclass(obj, np.memmap)
                        or (top == "numpy" and name in _NUMPY_CTORS and callable(obj))):
            return obj
        raise IsolationError(f"The learner process sent {module}.{name}, which the oracle process refuses to "
                             f"unpickle: {HYPOTHESIS_RULE}.")


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
    except ImportError:  # pragma: no cover - the sealed oracles are not there
        return ()
    return (Sealed, OracleHandle)


class _GuardPickler(pickle.Pickler):
    """Pickles the learner for the learner process, refusing the oracle and the handle."""

    def __init__(self, file, handle):
        super().__init__(file)
        self._handle = handle

    def reducer_override(self, obj):
        if obj is self._handle or isinstance(obj, _sealed_types()):
            raise IsolationError("The learner holds the oracle or its handle; under isolation='process' a learner "
                                 "must reach the oracle only through the handle passed to _learn.")
        return NotImplemented


_FAILURES = (("withheld under isolation", None), ("must return values", "returned a value out of range"),
             ("must return an array of shape", "returned the wrong shape"),
             ("must return real numbers", "returned values that are not real"))


def _withheld(message, remote):
    """A QueryRangeError message without the values, points and labels it names (they come from the target)."""
    for pattern, what in _FAILURES:
        if pattern in message:
            if what is None:
                return message
            break
    else:
        what = "failed"
    names = ", ".join(repr(q.name) for q in remote)
    return (f"Query {names} {what}; the oracle's details (values, points, labels) are withheld under "
            f"isolation='process' because they are computed from the target. Run without isolation to debug it.")


class _HandleServer:
    """Serves the learner process's requests with the real handle."""

    def __init__(self, handle):
        self.handle = handle

    def reply(self, op, args):
        h = self.handle
        remote = []
        try:
            if op in ("ask", "ask_batch"):
                spec = args[0]
                qs = deserialize_query(spec) if isinstance(spec, dict) else [deserialize_query(s) for s in spec]
                remote = [q for q in (qs if isinstance(qs, list) else [qs]) if isinstance(q, RemoteQuery)]
                value = h.ask(qs) if op == "ask" else h.ask_batch(qs)
            elif op in ("draw", "label", "gradient", "child_entropy"):
                value = getattr(h, op)(*args)
            elif op == "ledger":
                value = h.ledger.to_rows()
            elif op in ("budget_left", "queries"):
                value = getattr(h, op)
            else:
                raise IsolationError(f"Unknown request {op!r} from the learner process.")
            return pickle.dumps(("ok", value))
        except SQSimError as exc:
            name = next(c.__name__ for c in type(exc).__mro__ if getattr(_errors, c.__name__, None) is c)
            msg = _withheld(str(exc), remote) if isinstance(exc, QueryRangeError) and remote else str(exc)
            return pickle.dumps(("err", (name, msg)))
        except Exception as exc:
            name = type(exc).__name__ if type(exc).__module__ == "builtins" else "IsolationError"
            return pickle.dumps(("err", (name, f"{type(exc).__name__}: {exc}")))
        finally:
            for q in remote:
                q.close()

    def serve(self, conn, proc):
        """Answer requests until the learner process reports; returns its final message."""
        while True:
            wait([conn, proc.sentinel])
            if not conn.poll():
                proc.join(5)
                raise IsolationError(f"The learner process died with exit code {proc.exitcode} before returning.")
            try:
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


_DUMPABLE_OFF = False


def run_isolated(learner, handle):
    """Run ``learner._learn`` in a spawned learner process that reaches ``handle`` only through a channel.

    Returns ``(hypothesis, details)``. Errors escaping ``_learn`` come back as the same sqsim
    error class, anything else as :class:`IsolationError` with the learner's traceback; a learner
    process that dies gives :class:`IsolationError` with its exit code.
    """
    global _DUMPABLE_OFF
    if not _DUMPABLE_OFF:
        _nondumpable()
        _DUMPABLE_OFF = True
    buf = io.BytesIO()
    try:
        _GuardPickler(buf, handle).dump(learner)
    except IsolationError:
        raise
    except Exception as exc:
        raise IsolationError(f"The learner {type(learner).__name__} cannot be pickled for the learner process "
                             f"({type(exc).__name__}: {exc}).") from None
    static = {name: getattr(handle, name, None) for name in _STATIC}
    ctx = mp.get_context("spawn")
    conn, child = ctx.Pipe()
    proc = ctx.Process(target=_child_main, args=(child, buf.getvalue(), static), daemon=True)
    proc.start()
    child.close()
    try:
        status, args = _HandleServer(handle).serve(conn, proc)
    finally:
        conn.close()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join()
    if status == "fail":
        name, message, tb = args if isinstance(args, tuple) and len(args) == 3 else (None, repr(args), "")
        if name is not None:
            raise _error_class(name, builtin=False)(str(message))
        raise IsolationError(f"The learner raised {message}\nLearner-process traceback:\n{tb}")
    mods = ("numpy", "sqsim", "learners", type(learner).__module__)
    result = _loads(args, mods)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise IsolationError(f"The learner's _learn must return (hypothesis, details). Got {type(result).__name__}.")
    return result
