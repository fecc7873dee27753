"""Query specs and sandboxed evaluator processes for process isolation (see :mod:`sqsim.oracles._isolation`).

:func:`serialize_query` / :func:`deserialize_query` turn a learner's query into JSON-safe data and
back (functools.partial arguments through :func:`encode_arg` / :func:`decode_arg`).

Every evaluator is forked from a ``forkserver`` (a fresh interpreter with numpy and sqsim
preloaded; the oracle's main script is not re-imported, so it never holds the target). It imports
what it needs first (the query's function, or the modules a hypothesis pickle names), then
sandboxes itself: ``RLIMIT_FSIZE = 0``, every descriptor closed but the channel (moved to fd 0) and
``RLIMIT_NOFILE = 1`` (no file, socket or pipe can be opened, no module can be imported any
more), non-dumpable, and as root a chroot into an empty directory deleted beforehand and uid/gid
65534. Only then does data arrive. Replies are raw bytes (``V`` + dtype, shape and buffer, or
``E`` + a fixed failure code), never unpickled, so an evaluator cannot choose any text the
oracle process shows.

* :class:`RemoteQuery`: one evaluator per query object (all chunks of one query), killed by ``close``.
* :class:`IsolatedHypothesis`: a learner's hypothesis of an untrusted class, kept as opaque pickle
  bytes; **each call starts a fresh evaluator** that unpickles it (inside the sandbox), calls it on
  X and is killed after the reply. Nothing of it runs in the oracle process and no state survives
  between calls.

Every request waits at most :data:`EVALUATOR_TIMEOUT` seconds (read at each request; the first
request of an evaluator includes its start: imports and, for NumbaQuery, compilation); an
evaluator that does not answer in time is killed and :class:`IsolationError` names the query or
the hypothesis.
"""

from __future__ import annotations

import builtins
import ctypes
import functools
import importlib
import multiprocessing as mp
import os
import pickle
import resource
import signal
import sys
import tempfile
import threading
from multiprocessing import spawn as mp_spawn
from multiprocessing.connection import Connection

import numpy as np

from .._errors import InvalidParameterError, IsolationError, QueryContractError, QueryRangeError
from .._queries import (
    LABEL_MODES,
    Character,
    CharacterBatch,
    CorrelationalQuery,
    NumbaQuery,
    Query,
    ZqCharacter,
)

#: seconds an evaluator may take to answer one request before it is killed
EVALUATOR_TIMEOUT = 60.0


def _nondumpable() -> None:
    """prctl(PR_SET_DUMPABLE, 0) on Linux: same-user processes can no longer read this one's memory."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            pass


# ----------------------------------------------------------------------------- partial arguments as data
ARG_RULE = ("ints, floats, bools, str, None, tuples or lists of those, numpy arrays or scalars of "
            "bool/int/uint/float dtype")


def encode_arg(v):
    """A functools.partial argument as JSON-safe data (arrays keep dtype and shape); TypeError otherwise."""
    if v is None or type(v) in (bool, int, float, str):
        return v
    if type(v) is list:
        return [encode_arg(x) for x in v]
    if type(v) is tuple:
        return {"tuple": [encode_arg(x) for x in v]}
    if (type(v) is np.ndarray or isinstance(v, np.generic)) and v.dtype.kind in "biuf":
        return {"array": np.asarray(v).tolist(), "dtype": v.dtype.str, "shape": list(np.shape(v)),
                "scalar": isinstance(v, np.generic)}
    raise TypeError(type(v).__name__)


def decode_arg(v):
    """The inverse of :func:`encode_arg` (arrays rebuilt with their dtype and shape); TypeError if malformed."""
    if v is None or type(v) in (bool, int, float, str):
        return v
    if type(v) is list:
        return [decode_arg(x) for x in v]
    if type(v) is dict and set(v) == {"tuple"} and type(v["tuple"]) is list:
        return tuple(decode_arg(x) for x in v["tuple"])
    if type(v) is dict and set(v) == {"array", "dtype", "shape", "scalar"} and type(v["dtype"]) is str:
        dtype = np.dtype(v["dtype"])
        if dtype.kind not in "biuf":
            raise TypeError(v["dtype"])
        a = np.array(v["array"], dtype=dtype).reshape(tuple(int(s) for s in v["shape"]))
        return a[()] if v["scalar"] is True else a
    raise TypeError(type(v).__name__)


def decode_partial(part) -> tuple:
    """(args, kwargs) of a spec's ``partial`` entry; TypeError if malformed."""
    if type(part) is not dict or set(part) != {"args", "kwargs"} or type(part["args"]) is not list \
            or type(part["kwargs"]) is not dict or not all(type(k) is str for k in part["kwargs"]):
        raise TypeError("partial")
    return [decode_arg(a) for a in part["args"]], {k: decode_arg(a) for k, a in part["kwargs"].items()}


_PLAIN = {"Query": Query, "CorrelationalQuery": CorrelationalQuery, "NumbaQuery": NumbaQuery}
_HOWTO = ("define fn at module level in an importable module, e.g. mypkg/queries.py, and pass parameters "
          "through NumbaQuery params=... or functools.partial(fn, ...)")

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


def _refuse(query, why):
    raise QueryContractError(f"Query {query.name!r} cannot cross the process boundary under isolation='process': "
                             f"{why}. To make it importable, {_HOWTO} (with Query, CorrelationalQuery or "
                             f"NumbaQuery, not a subclass).")


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
    if t not in _PLAIN.values():
        _refuse(query, f"{t.__module__}.{t.__qualname__} is not a sqsim query class")
    fn, partial = query.fn, None
    if type(fn) is functools.partial and t is not NumbaQuery:
        try:
            partial = {"args": [encode_arg(a) for a in fn.args], "kwargs": {k: encode_arg(a) for k, a in fn.keywords.items()}}
        except TypeError as exc:
            _refuse(query, f"an argument of its functools.partial is a {exc} (allowed: {ARG_RULE})")
        fn = fn.func
    path = _import_path(fn)
    if path is None:
        _refuse(query, f"its function {_fn_label(fn)!r} is not importable by name")
    spec = {"type": t.__name__, "module": path[0], "qualname": path[1], "name": str(query.name),
            "kind": query.kind, "reads": None}
    if partial is not None:
        spec["partial"] = partial
    if t is CorrelationalQuery:
        spec["labels"] = query.labels
    if t is NumbaQuery:
        spec["params"] = [float(v) for v in query.params]
        spec["reads"] = None if query.reads is None else [int(j) for j in query.reads]
    return spec


def _fn_label(fn) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__


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


# ----------------------------------------------------------------------------- the evaluator process
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
             "import": "could not be evaluated: importing its modules in its evaluator failed",
             "load": "could not be evaluated: unpickling it in its evaluator failed",
             "sandbox": "could not be evaluated: the evaluator sandbox failed",
             "dtype": "could not be evaluated: its kernel was compiled for points of another dtype",
             "g": "returned g of the wrong shape", "real": "must return real numbers",
             "died": "could not be evaluated: its evaluator process died"}


def _failure_words(code: str, X) -> str:
    """Fixed words for a failure code: an evaluator that saw labels cannot choose the message's text."""
    exc = getattr(builtins, code[6:], None) if code.startswith("raise:") else None
    if isinstance(exc, type) and issubclass(exc, BaseException):
        return f"raised {exc.__name__} (called on X of shape {X.shape}); its message is withheld under isolation='process'"
    return _FAILURES.get(code, "could not be evaluated: its evaluator sent a malformed reply")


class _Fail(Exception):
    """A failure with a fixed code (the only thing an evaluator's reply can say besides values)."""


def _serve(conn, failure, compute):
    """The sandboxed request loop: ``compute(message)`` gives a real array, sent back as raw bytes."""
    while True:
        try:
            message = conn.recv()
        except BaseException:
            os._exit(0)
        try:
            if failure is not None:
                raise _Fail(failure)
            vals = np.asarray(compute(message))
            if vals.dtype.kind not in "biufc":
                raise _Fail("real")
            conn.send_bytes(f"V{vals.dtype.str}|{','.join(map(str, vals.shape))}|".encode()
                            + np.ascontiguousarray(vals).tobytes())
        except BaseException as exc:
            code = exc.args[0] if isinstance(exc, _Fail) else "g" if isinstance(exc, QueryRangeError) \
                else f"raise:{type(exc).__name__}" if type(exc).__module__ == "builtins" else ""
            conn.send_bytes(b"E" + code.encode())


def _prepare(spec, x_kind) -> Query:
    """Import the function and build the in-evaluator twin: the real sqsim class (same values bit for bit)."""
    fn = importlib.import_module(spec["module"])
    for part in spec["qualname"].split("."):
        fn = getattr(fn, part)
    if "partial" in spec:
        args, kwargs = decode_partial(spec["partial"])
        fn = functools.partial(fn, *args, **kwargs)
    if spec["type"] == "CorrelationalQuery":
        return CorrelationalQuery(fn, spec["name"], labels=spec["labels"])
    if spec["type"] == "Query":
        return Query(fn, spec["name"], kind=spec["kind"])
    query = NumbaQuery(fn, spec["name"], params=spec["params"], kind=spec["kind"], reads=spec["reads"])
    from numba import typeof, types  # compile now: in the sandbox numba can neither read nor import

    from .._queries import _numba_rows
    cache = getattr(_numba_rows, "_cache", None)
    if callable(getattr(cache, "save_overload", None)):  # a shared on-disk index numba cannot rewrite: not fatal
        cache.save_overload = functools.partial(_save_quietly, cache.save_overload)
    xt = types.float64 if x_kind == "f" else types.int64
    _numba_rows.compile((typeof(fn), xt[:, ::1], types.float64[::1], types.float64[::1]))
    return query


def _save_quietly(save, *args):
    try:
        save(*args)
    except Exception:  # noqa: BLE001 - numba's cache index holds entries of other processes' dispatchers
        pass


def _query_main(conn, spec, x_kind):
    failure = query = None
    try:
        query = _prepare(spec, x_kind)
    except BaseException:
        failure = "prepare"
    try:
        conn = _sandbox(conn)
    except BaseException:  # never evaluate outside the sandbox
        failure = failure or "sandbox"

    def compute(message):
        X, y, boolean_labels = message
        if isinstance(query, NumbaQuery) and (X.dtype.kind == "f") != (x_kind == "f"):
            raise _Fail("dtype")
        return query._raw(X, y, boolean_labels)

    _serve(conn, failure, compute)


def _hypothesis_main(conn, modules):
    failure = None
    try:
        for name in modules:
            importlib.import_module(name)
    except BaseException:
        failure = "import"
    try:
        conn = _sandbox(conn)
    except BaseException:
        failure = failure or "sandbox"

    def compute(message):
        data, X = message
        try:
            hypothesis = pickle.loads(data)  # learner code, inside the sandbox
        except BaseException:
            raise _Fail("load") from None
        return hypothesis(X)

    _serve(conn, failure, compute)


class _Evaluator:
    """One evaluator process (``main(conn, *args)``), started at construction, killed by :meth:`close`."""

    def __init__(self, main, args, what):
        ctx = _forkserver()
        self.what = what  # "Query 'name'" or "The hypothesis ...": names it in errors
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=main, args=(child, *args), daemon=True)
        _LOCAL.no_main = True
        try:
            self.proc.start()
        finally:
            _LOCAL.no_main = False
            child.close()

    def evaluate(self, message, X):
        """(values, None) or (None, the failure in words); IsolationError after EVALUATOR_TIMEOUT seconds."""
        limit = float(EVALUATOR_TIMEOUT)
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        sender = threading.Thread(target=self._send, args=(data,), daemon=True)  # a stuck evaluator cannot block us
        sender.start()
        try:
            if not self.conn.poll(limit):
                self.close()
                raise IsolationError(f"{self.what} did not answer within {limit:g} s under isolation='process'; "
                                     f"its evaluator process was killed.")
            reply = self.conn.recv_bytes()
        except (EOFError, OSError):
            return None, _FAILURES["died"]
        finally:
            sender.join(1)
        if reply[:1] != b"V":
            return None, _failure_words(reply[1:].decode(errors="replace"), X)
        try:
            dt, shape, buf = reply[1:].split(b"|", 2)
            dtype, shape = np.dtype(dt.decode()), tuple(int(s) for s in shape.decode().split(",") if s)
            if dtype.kind not in "biufc" or dtype.hasobject:
                raise ValueError(dtype)
            return np.frombuffer(buf, dtype=dtype).reshape(shape).copy(), None
        except (ValueError, TypeError):
            return None, _failure_words("", X)

    def _send(self, data):
        try:
            self.conn.send_bytes(data)
        except (OSError, ValueError):  # killed or closed meanwhile
            pass

    def close(self):
        self.conn.close()
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)


class RemoteQuery(Query):
    """A learner's query in the oracle process, evaluated in its own sandboxed evaluator process.

    The evaluator starts at the first evaluation, serves only this object's further evaluations
    (the chunks of one query) and is killed by :meth:`close` (idempotent; also a context manager).
    An evaluator that does not answer within :data:`EVALUATOR_TIMEOUT` seconds is killed and
    ``values`` raises :class:`IsolationError` naming the query.
    """

    structured = False

    def __init__(self, spec):
        if not all(isinstance(spec.get(k), str) for k in ("module", "qualname", "name")) \
                or spec.get("kind") not in ("sq", "csq") \
                or (spec["type"] == "CorrelationalQuery" and spec.get("labels") not in LABEL_MODES):
            raise IsolationError(f"A query spec from the learner process is malformed: {spec!r:.200}")
        if "partial" in spec:
            try:
                if spec["type"] == "NumbaQuery":
                    raise TypeError(spec["type"])
                decode_partial(spec["partial"])
            except (TypeError, ValueError, OverflowError):
                raise IsolationError(f"A query spec from the learner process has malformed partial arguments: "
                                     f"{spec!r:.200}") from None
        super().__init__(_never_called, spec["name"], kind=spec["kind"])
        self.spec, self.labels, self._evaluator = dict(spec), spec.get("labels"), None
        self.reads = None if spec.get("reads") is None else tuple(int(j) for j in spec["reads"])
        self.params = np.asarray(spec.get("params", ()), dtype=np.float64)

    @property
    def qualname(self) -> str:
        return self.spec["qualname"]

    def values(self, X, y, boolean_labels=True, **kwargs):
        try:
            return super().values(X, y, boolean_labels, **kwargs)
        except QueryRangeError as exc:  # Query.values wraps errors of _raw; a timeout stays an IsolationError
            if isinstance(exc.__cause__, IsolationError):
                raise exc.__cause__ from None
            raise

    def _raw(self, X, y, boolean_labels):
        if self._evaluator is None:
            self._evaluator = _Evaluator(_query_main, (self.spec, np.asarray(X).dtype.kind), f"Query {self.name!r}")
        try:
            vals, failure = self._evaluator.evaluate((X, y, bool(boolean_labels)), X)
        except IsolationError:
            self._evaluator = None  # killed
            raise
        if failure is None:
            return vals
        exc = QueryRangeError(f"Query {self.name!r} {failure}.")
        exc.sqsim_withheld = True  # fixed words: safe to pass on to the learner
        raise exc

    def fresh(self) -> "RemoteQuery":
        """The same query in a new evaluator that has seen nothing (the pointwise check's decoy batches)."""
        return RemoteQuery(self.spec)

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


class IsolatedHypothesis:
    """A hypothesis of a class the oracle process does not trust, as opaque pickle bytes.

    ``h(X)`` starts a fresh sandboxed evaluator that imports ``modules`` (before sandboxing),
    unpickles the bytes and calls the hypothesis on X inside the sandbox, then is killed: nothing of
    the learner's code runs in this process and no state survives between calls. Returns the
    predictions as float64 of shape (n,); failures and timeouts raise :class:`IsolationError`.
    Only public, fixed attributes: ``class_name`` (as the learner process reported it), ``modules``
    and ``nbytes``; the grader sees a plain callable (no structural grading, no weak-predictor
    protocol).
    """

    __slots__ = ("_data", "class_name", "modules")

    def __init__(self, data: bytes, modules, class_name: str):
        self._data, self.modules, self.class_name = bytes(data), tuple(str(m) for m in modules), str(class_name)

    nbytes = property(lambda self: len(self._data))

    def __call__(self, X) -> np.ndarray:
        X = np.asarray(X)
        if X.dtype.kind not in "biuf" or X.ndim < 1:
            raise IsolationError(f"{self!r} can only be called on a numeric batch of points. Got dtype {X.dtype}, "
                                 f"shape {X.shape}.")
        what = f"The hypothesis {self.class_name}"
        ev = _Evaluator(_hypothesis_main, (self.modules,), what)
        try:
            vals, failure = ev.evaluate((self._data, X), X)
        finally:
            ev.close()
        n = X.shape[0]
        if failure is None and (vals.dtype.kind == "c" or vals.size != n):
            failure = (f"must return real predictions of size {n}" if vals.dtype.kind != "c"
                       else "must return real numbers") + f"; got dtype {vals.dtype}, shape {vals.shape}"
        if failure is not None:
            raise IsolationError(f"{what} {failure}.")
        return vals.astype(np.float64).reshape(n)

    def __repr__(self):
        return f"IsolatedHypothesis({self.class_name}, {self.nbytes} bytes)"
