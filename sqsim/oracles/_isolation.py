"""Process isolation: ``learner.learn(oracle, isolation="process")`` (DESIGN.md section 4, Isolation).

* The **oracle process** (the caller) holds the target and the real handle; the first
  :func:`run_isolated` makes it non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``, Linux), so a
  same-user process cannot read its memory through ``/proc`` or ptrace.
* The **learner process** is started with ``spawn`` (a fresh interpreter, never a fork holding the
  target). It runs ``learner._learn(RemoteHandle)``; each request is data (query specs, numbers,
  arrays) that the oracle process unpickles with a restricted unpickler and serves with the handle.
* One **evaluator process per query** (:class:`RemoteQuery`) is forked from a ``forkserver`` (a fresh
  interpreter with numpy and sqsim preloaded; the oracle's main script is not re-imported). It
  imports the query's function before any data arrives, then sandboxes itself: ``RLIMIT_FSIZE = 0``,
  every descriptor closed but the channel (moved to fd 0) and ``RLIMIT_NOFILE = 1`` (no file, socket
  or pipe can be opened), non-dumpable, and as root a chroot into an empty directory deleted
  beforehand (nothing can be created in it) and uid/gid 65534 (no capabilities). It only receives
  (X, y, boolean_labels) and sends values as raw bytes (never unpickled).

Structured queries (Character, ZqCharacter, CharacterBatch) cross as parameters and are rebuilt
as the real, trusted objects; Query, CorrelationalQuery and NumbaQuery cross as their function's
import path; anything else is refused with :class:`QueryContractError`. The learner's hypothesis
and details come back through a restricted unpickler: only classes of builtins (set, frozenset,
complex, slice, range, bytearray, bytes), collections, numpy, sqsim, learners and the learner's own
module, plus numpy's array reconstructors; no other callable. **The hypothesis must be built from
sqsim/learners/numpy objects** (or classes of the learner's module); anything else, and anything
that cannot be pickled (a lambda), raises :class:`IsolationError`.

Channels that remain, and why:

* **Timing and resource usage.** The learner sees how long each answer takes and can watch CPU,
  memory or disk load; an evaluator can make its run time or load depend on the labels it sees.
* **Failures.** Whether a query failed, and a coarse kind (the builtin exception type, out of
  range, wrong shape) reach the learner as :class:`QueryRangeError`: a few bits per query. Exception
  messages and the oracle's details (offending value, point, label) are withheld for such queries.
* **Public configuration.** The learner process can read its configuration, its seed and the disk;
  if it knows how the target was built it can rebuild it: isolation hides the target object, not
  public configuration. ``spawn`` re-imports the parent's main script as ``__mp_main__`` (so
  learners defined there work): build oracles under ``if __name__ == "__main__":``.
* **The learner process is not sandboxed.** Its network sockets are not closed, it can open new
  ones, write files and start processes; only evaluators are write- and descriptor-limited. As
  root with CAP_SYS_PTRACE it could still read the non-dumpable oracle process.
* **Evaluators when not root** (no chroot, no uid switch) can create empty directories, rename or
  delete files they may write, and signal same-user processes: names and signals are channels.
* **Hypothesis code.** Classes of the learner's own module are trusted: their ``__setstate__`` runs
  when the hypothesis is unpickled and their ``__call__`` when it is graded, in the oracle process.
"""

from __future__ import annotations

import builtins
import ctypes
import importlib
import io
import multiprocessing as mp
import os
import pickle
import resource
import signal
import sys
import tempfile
import threading
import traceback
import types
from multiprocessing import spawn as mp_spawn
from multiprocessing.connection import Connection, wait

import numpy as np

from .. import _errors
from .._errors import InvalidParameterError, IsolationError, QueryContractError, QueryRangeError, SealError, SQSimError
from .._queries import LABEL_MODES, Character, CharacterBatch, CorrelationalQuery, NumbaQuery, Query, ZqCharacter

__all__ = ["serialize_query", "deserialize_query", "RemoteQuery", "RemoteHandle", "LedgerView", "run_isolated"]

_PLAIN = {"Query": Query, "CorrelationalQuery": CorrelationalQuery, "NumbaQuery": NumbaQuery}
_HOWTO = ("define fn at module level in an importable module, e.g. mypkg/queries.py, and pass parameters "
          "through NumbaQuery params=...")
HYPOTHESIS_RULE = ("under isolation='process' the hypothesis and details must be built from sqsim/learners/numpy "
                   "objects (or classes of the learner's own module) and plain Python data")


def _nondumpable() -> None:
    """prctl(PR_SET_DUMPABLE, 0) on Linux: same-user processes can no longer read this one's memory."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            pass


def _sqsim_error_name(exc) -> str:
    return next(c.__name__ for c in type(exc).__mro__ if getattr(_errors, c.__name__, None) is c)


# ----------------------------------------------------------------------------- query specs
def _import_path(fn):
    """(module, qualname) if importing ``fn`` by its own names gives it back, else None."""
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
    """The query (or CharacterBatch) as JSON-safe data; :class:`QueryContractError` if it cannot cross."""
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
        raise QueryContractError(f"Query {query.name!r} cannot cross the process boundary under isolation='process': "
                                 f"{why}. To make it importable, {_HOWTO} (with Query, CorrelationalQuery or "
                                 f"NumbaQuery, not a subclass).")
    spec = {"type": t.__name__, "module": path[0], "qualname": path[1], "name": str(query.name),
            "kind": query.kind, "reads": None}
    if t is CorrelationalQuery:
        spec["labels"] = query.labels
    if t is NumbaQuery:
        spec["params"] = [float(v) for v in query.params]
        spec["reads"] = None if query.reads is None else [int(j) for j in query.reads]
    return spec


def deserialize_query(spec):
    """In the oracle process: structured specs become the real objects, the others a :class:`RemoteQuery`."""
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
    except (KeyError, TypeError, AttributeError) as exc:
        raise IsolationError(f"A query spec from the learner process is malformed ({exc!r}): {spec!r:.200}") from None
    raise IsolationError(f"A query spec from the learner process has an unknown type: {spec!r:.200}")


# ----------------------------------------------------------------------------- evaluator process
_FORKSERVER = None
_LOCAL = threading.local()


def _forkserver():
    """The forkserver context; children started under ``_LOCAL.no_main`` skip the parent's main script."""
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
        _FORKSERVER = mp.get_context("forkserver")
        _FORKSERVER.set_forkserver_preload(["numpy", "sqsim"])
    return _FORKSERVER


def _prepare(spec, x_kind) -> Query:
    """Import the function and build the in-evaluator twin: the real sqsim class (same values bit for bit)."""
    fn = importlib.import_module(spec["module"])
    for part in spec["qualname"].split("."):
        fn = getattr(fn, part)
    if spec["type"] == "CorrelationalQuery":
        return CorrelationalQuery(fn, spec["name"], labels=spec["labels"])
    if spec["type"] == "Query":
        return Query(fn, spec["name"], kind=spec["kind"])
    query = NumbaQuery(fn, spec["name"], params=spec["params"], kind=spec["kind"], reads=spec["reads"])
    from numba import typeof, types  # compile now: in the sandbox numba can neither read nor import

    from .._queries import _numba_rows
    xt = types.float64 if x_kind == "f" else types.int64
    _numba_rows.compile((typeof(fn), xt[:, ::1], types.float64[::1], types.float64[::1]))
    return query


def _sandbox(conn) -> Connection:
    """No writes, no new descriptors, no memory reads; as root an empty, undeletable root and uid 65534."""
    tmp = tempfile.gettempdir()  # before RLIMIT_FSIZE: gettempdir writes a probe file
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write fails with EFBIG instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    dup = os.dup(conn.fileno())
    conn.close()
    os.dup2(dup, 0)
    fds = [int(f) for f in os.listdir("/proc/self/fd")] if os.path.isdir("/proc/self/fd") else range(1, 4096)
    for fd in fds:
        if fd != 0:
            try:
                os.close(fd)
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
    return Connection(0)


_FAILURES = {"prepare": "could not be prepared in its evaluator (importing or compiling its function failed)",
             "sandbox": "could not be evaluated: the evaluator sandbox failed",
             "dtype": "could not be evaluated: its kernel was compiled for points of another dtype",
             "g": "returned g of the wrong shape", "real": "must return real numbers", "died": "could not be evaluated: its evaluator process died"}


def _failure_words(code: str, X) -> str:
    """Fixed words for a failure code: an evaluator that saw labels cannot choose the message's text."""
    exc = getattr(builtins, code[6:], None) if code.startswith("raise:") else None
    if isinstance(exc, type) and issubclass(exc, BaseException):
        return f"raised {exc.__name__} (called on X of shape {X.shape}); its message is withheld under isolation='process'"
    return _FAILURES.get(code, "could not be evaluated: its evaluator sent a malformed reply")


def _evaluator_main(conn, spec, x_kind):
    failure = query = None
    try:
        query = _prepare(spec, x_kind)
    except BaseException:
        failure = "prepare"
    try:
        conn = _sandbox(conn)
    except BaseException:  # never evaluate outside the sandbox
        failure = failure or "sandbox"
    while True:
        try:
            X, y, boolean_labels = conn.recv()
        except BaseException:
            os._exit(0)
        if failure is None and isinstance(query, NumbaQuery) and (X.dtype.kind == "f") != (x_kind == "f"):
            failure = "dtype"
        try:
            if failure is not None:
                raise RuntimeError(failure)
            vals = np.asarray(query._raw(X, y, boolean_labels))
            if vals.dtype.kind not in "biufc":
                raise TypeError("real")
            conn.send_bytes(f"V{vals.dtype.str}|{','.join(map(str, vals.shape))}|".encode()
                            + np.ascontiguousarray(vals).tobytes())
        except BaseException as exc:
            code = failure or ("g" if isinstance(exc, QueryRangeError) else "real" if exc.args == ("real",)
                               else f"raise:{type(exc).__name__}" if type(exc).__module__ == "builtins" else "")
            conn.send_bytes(b"E" + code.encode())


class _Evaluator:
    """One evaluator process for one query: started on demand, killed by :meth:`close`."""

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
        """(values, None) or (None, the failure in words)."""
        try:
            self.conn.send((X, y, bool(boolean_labels)))
            reply = self.conn.recv_bytes()
        except (EOFError, OSError):
            return None, _FAILURES["died"]
        if reply[:1] != b"V":
            return None, _failure_words(reply[1:].decode(errors="replace"), X)
        try:
            dt, shape, data = reply[1:].split(b"|", 2)
            dtype, shape = np.dtype(dt.decode()), tuple(int(s) for s in shape.decode().split(",") if s)
            if dtype.kind not in "biufc" or dtype.hasobject:
                raise ValueError(dtype)
            return np.frombuffer(data, dtype=dtype).reshape(shape).copy(), None
        except (ValueError, TypeError):
            return None, _failure_words("", X)

    def close(self):
        self.conn.close()
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)


class RemoteQuery(Query):
    """A learner's query in the oracle process, evaluated in its own sandboxed evaluator process.

    The evaluator starts at the first evaluation, serves only this object's further evaluations
    (the chunks of one query) and is killed by :meth:`close` (idempotent; also a context manager).
    """

    structured = False

    def __init__(self, spec):
        if not all(isinstance(spec.get(k), str) for k in ("module", "qualname", "name")) \
                or spec.get("kind") not in ("sq", "csq") \
                or (spec["type"] == "CorrelationalQuery" and spec.get("labels") not in LABEL_MODES):
            raise IsolationError(f"A query spec from the learner process is malformed: {spec!r:.200}")
        super().__init__(_never_called, spec["name"], kind=spec["kind"])
        self.spec, self.labels, self._evaluator = dict(spec), spec.get("labels"), None
        self.reads = None if spec.get("reads") is None else tuple(int(j) for j in spec["reads"])
        self.params = np.asarray(spec.get("params", ()), dtype=np.float64)

    @property
    def qualname(self) -> str:
        return self.spec["qualname"]

    def _raw(self, X, y, boolean_labels):
        if self._evaluator is None:
            self._evaluator = _Evaluator(self.spec, np.asarray(X).dtype.kind)
        vals, failure = self._evaluator.evaluate(X, y, boolean_labels)
        if failure is None:
            return vals
        exc = QueryRangeError(f"Query {self.name!r} {failure}.")
        exc.sqsim_withheld = True  # fixed words: safe to pass on to the learner
        raise exc

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


def _never_called(X, y):  # pragma: no cover - a RemoteQuery is evaluated through _raw
    raise IsolationError("A RemoteQuery is evaluated in its evaluator process, not called.")


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


def _child_main(conn, learner_bytes, static):
    _nondumpable()
    try:
        hypothesis, details = pickle.loads(learner_bytes)._learn(RemoteHandle(conn, static))
        try:
            msg = ("done", pickle.dumps((hypothesis, details)))
        except Exception as exc:
            msg = ("fail", ("IsolationError", f"The hypothesis or details could not be pickled "
                                              f"({type(exc).__name__}: {exc}); {HYPOTHESIS_RULE}.", ""))
    except SQSimError as exc:
        msg = ("fail", (_sqsim_error_name(exc), str(exc), traceback.format_exc()))
    except BaseException as exc:
        msg = ("fail", (None, f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    conn.send_bytes(pickle.dumps(msg))
    conn.close()


# ----------------------------------------------------------------------------- oracle process
_SAFE_BUILTINS = frozenset({"set", "frozenset", "complex", "slice", "range", "bytearray", "bytes"})
_NUMPY_CTORS = frozenset({"_reconstruct", "scalar", "_frombuffer", "__generator_ctor", "__bit_generator_ctor",
                          "__randomstate_ctor"})
_BLOCKED = ("numpy.lib.npyio", "numpy.lib._npyio", "numpy.lib._datasource", "numpy.lib.format", "numpy.distutils",
            "numpy.f2py", "numpy.testing", "numpy.ctypeslib")


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only classes of allowed, already imported modules, and numpy's array reconstructors."""

    def __init__(self, data, modules):
        super().__init__(io.BytesIO(data))
        self._modules = tuple(modules)

    def find_class(self, module, name):
        allowed = module in sys.modules and not module.startswith(_BLOCKED) and (
            (module == "builtins" and name in _SAFE_BUILTINS) or module == "collections"
            or module in self._modules or module.split(".")[0] in self._modules)
        obj = sys.modules[module] if allowed else None
        for part in name.split(".") if allowed else ():
            obj = getattr(obj, part, None)
        if allowed and (isinstance(obj, type) and not issubclass(obj, np.memmap)
                        or module.startswith("numpy") and name in _NUMPY_CTORS and callable(obj)):
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
            secret = isinstance(exc, QueryRangeError) and remote and not getattr(exc, "sqsim_withheld", False)
            return pickle.dumps(("err", (_sqsim_error_name(exc), _withheld(str(exc), remote) if secret else str(exc))))
        except Exception as exc:
            name = type(exc).__name__ if type(exc).__module__ == "builtins" else "IsolationError"
            return pickle.dumps(("err", (name, f"{type(exc).__name__}: {exc}")))
        finally:
            for q in remote:
                q.close()

    def serve(self, conn, proc):
        """Answer requests until the learner process reports; returns its final (status, payload)."""
        while True:
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


_DUMPABLE_OFF = []


def run_isolated(learner, handle):
    """Run ``learner._learn`` in a spawned learner process that reaches ``handle`` only through a channel.

    Returns ``(hypothesis, details)``. Errors escaping ``_learn`` come back as the same sqsim error
    class, anything else as :class:`IsolationError` with the learner process's traceback; a learner
    process that dies (killed, segfault) gives :class:`IsolationError` with its exit code.
    """
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
    proc.start()
    child.close()
    try:
        status, payload = _HandleServer(handle).serve(conn, proc)
    finally:
        conn.close()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join()
    if status == "fail":
        name, message, tb = payload if isinstance(payload, tuple) and len(payload) == 3 else (None, repr(payload), "")
        if name is not None:
            raise _error_class(name, builtin=False)(str(message))
        raise IsolationError(f"The learner raised {message}\nLearner-process traceback:\n{tb}")
    result = _loads(payload, ("numpy", "sqsim", "learners", type(learner).__module__))
    if not (isinstance(result, tuple) and len(result) == 2):
        raise IsolationError(f"The learner's _learn must return (hypothesis, details). Got {type(result).__name__}.")
    return result
