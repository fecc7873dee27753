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
import gc
import importlib
import multiprocessing as mp
import os
import pickle
import resource
import signal
import sys
import tempfile
import threading
import time
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
    LabelCharacter,
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


def _serialize_lifted(query):
    """Specs of the structured lifted queries (sqsim.lift), or None for any other object."""
    from ..lift._queries import LiftedCharacter, LiftedCharacterBatch, ThresholdQuery

    t = type(query)
    if t is LiftedCharacterBatch:
        return {"type": "LiftedCharacterBatch", "d": query.d, "supports": [list(m.support) for m in query.members],
                "weights": [float(w) for w in query.weights], "max_size": query.max_size}
    if t is LiftedCharacter:
        return {"type": "LiftedCharacter", "d": query.d, "support": list(query.support),
                "weights": [float(w) for w in query.weights], "name": str(query.name)}
    if t is ThresholdQuery or t is RemoteThresholdQuery:
        if t is RemoteThresholdQuery:
            return dict(query.spec)
        try:
            psi = serialize_query(Query(query.psi, name=f"{query.name}.psi"))
        except QueryContractError:
            raise QueryContractError(
                f"Query {query.name!r} cannot cross the process boundary under isolation='process': its psi "
                f"{_fn_label(query.psi)!r} is not importable by name. To make it importable, define psi at module "
                f"level in an importable module, e.g. mypkg/queries.py, and pass parameters through "
                f"functools.partial(psi, ...).") from None
        return {"type": "ThresholdQuery", "psi": psi, "q": query.q, "events": query.events,
                "reads": None if query.reads is None else [int(j) for j in query.reads], "name": str(query.name),
                "kind": query.kind}
    return None


def serialize_query(query) -> dict:
    """The query (or CharacterBatch) as JSON-safe data; :class:`QueryContractError` if it cannot cross."""
    lifted = _serialize_lifted(query)
    if lifted is not None:
        return lifted
    t = type(query)
    if t is CharacterBatch:
        return {"type": "CharacterBatch", "d": query.d, "supports": [list(m.support) for m in query.members],
                "max_size": query.max_size}
    if t is Character:
        return {"type": "Character", "d": query.d, "support": list(query.support), "name": str(query.name)}
    if t is LabelCharacter:
        return {"type": "LabelCharacter", "d": query.d, "support": list(query.support),
                "weights": [float(w) for w in query.weights], "name": str(query.name)}
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
            "kind": query.kind, "reads": None if query.reads is None else [int(j) for j in query.reads]}
    if partial is not None:
        spec["partial"] = partial
    if t is CorrelationalQuery:
        spec["labels"] = query.labels
    if t is NumbaQuery:
        spec["params"] = [float(v) for v in query.params]
    return spec


def _fn_label(fn) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__


def deserialize_query(spec):
    """In the oracle process: structured specs become the real objects, the others a :class:`RemoteQuery`."""
    try:
        t = spec["type"]
        if t == "Character":
            return Character(spec["d"], spec["support"], spec["name"])
        if t == "LabelCharacter":
            return LabelCharacter(spec["d"], spec["support"], spec["weights"], spec["name"])
        if t == "ZqCharacter":
            return ZqCharacter(spec["d"], spec["q"], spec["s"], spec["name"], labels=spec["labels"])
        if t == "CharacterBatch":
            batch = CharacterBatch(spec["d"], supports=spec["supports"])
            batch.max_size = spec.get("max_size")
            return batch
        if t in ("LiftedCharacter", "LiftedCharacterBatch"):
            from ..lift._queries import LiftedCharacter, LiftedCharacterBatch

            if t == "LiftedCharacter":
                return LiftedCharacter(spec["d"], spec["support"], spec["weights"], spec["name"])
            batch = LiftedCharacterBatch(spec["d"], supports=spec["supports"], weights=spec["weights"])
            batch.max_size = spec.get("max_size")
            return batch
        if t == "ThresholdQuery":
            return RemoteThresholdQuery(spec)
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


_PR_SET_DUMPABLE, _PR_SET_CHILD_SUBREAPER, _PR_SET_NO_NEW_PRIVS = 4, 36, 38
_CLONE_NEWIPC = 0x08000000
#: shared writable mappings a clean evaluator has (multiprocessing/forkserver make none here: checked
#: against /proc/self/smaps of an evaluator that imported nothing); matched by path prefix
_SHARED_ALLOWED = ()


def _make_guard():
    """(check, sandbox, reap): closures over primitives captured *now*, before any learner code runs.

    Called first thing in an evaluator entry point. Learner module top-level code that runs later
    (the import) may rebind ``_sandbox``, ``os.chroot``, ``resource.setrlimit``, builtins and so on;
    none of it changes these closures. Also sets no-new-privs and makes the evaluator a child
    subreaper, so a process forked during the import and orphaned is reparented to the evaluator
    (and seen by ``check`` and killed by ``reap``).
    """
    _os, _res, _sig, _sys, _gc = os, resource, signal, sys, gc
    getpid, listdir, os_open, os_read, os_close, dup, dup2 = (_os.getpid, _os.listdir, _os.open, _os.read,
                                                             _os.close, _os.dup, _os.dup2)
    kill, waitpid, o_rdonly = _os.kill, _os.waitpid, _os.O_RDONLY
    geteuid, mkdir, chdir, rmdir, chroot = _os.geteuid, _os.mkdir, _os.chdir, _os.rmdir, _os.chroot
    setgroups, setgid, setuid, urandom, exit_now = _os.setgroups, _os.setgid, _os.setuid, _os.urandom, _os._exit
    setrlimit, getrlimit, r_fsize, r_nofile = _res.setrlimit, _res.getrlimit, _res.RLIMIT_FSIZE, _res.RLIMIT_NOFILE
    signal_, valid_signals, setitimer, alarm = _sig.signal, _sig.valid_signals, _sig.setitimer, _sig.alarm
    sig_dfl, sig_ign, sigxfsz, sigkill, sigstop = _sig.SIG_DFL, _sig.SIG_IGN, _sig.SIGXFSZ, _sig.SIGKILL, _sig.SIGSTOP
    sigkill_uncatchable = (_sig.SIGKILL, _sig.SIGSTOP)
    itimers = (_sig.ITIMER_REAL, _sig.ITIMER_VIRTUAL, _sig.ITIMER_PROF)
    settrace, setprofile, gc_disable, gc_callbacks = _sys.settrace, _sys.setprofile, _gc.disable, _gc.callbacks
    conn_cls, tmp = Connection, tempfile.gettempdir()  # gettempdir writes a probe file: before RLIMIT_FSIZE
    b_int, b_len, b_str, b_set, b_sorted = int, len, str, set, sorted
    os_error, base_exc = OSError, BaseException
    linux = _sys.platform.startswith("linux")
    prctl = unshare = None
    if linux:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            prctl, unshare = libc.prctl, libc.unshare
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            prctl = unshare = None
    allowed = tuple(_SHARED_ALLOWED)
    if prctl is not None:
        prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

    def read(path):
        fd = os_open(path, o_rdonly)
        try:
            chunks = []
            while True:
                chunk = os_read(fd, 1 << 16)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        finally:
            os_close(fd)

    def children():
        me = b_str(getpid())
        pids = b_set()
        for tid in listdir(f"/proc/{me}/task"):
            for pid in read(f"/proc/{me}/task/{tid}/children").split():
                pids.add(b_int(pid))
        return pids

    def quiet():
        """No learner code may run from here on: no signal handler, timer, trace, profile or gc callback."""
        for t in itimers:
            setitimer(t, 0)
        alarm(0)
        for s in valid_signals():
            if s not in sigkill_uncatchable:
                try:
                    signal_(s, sig_dfl)
                except (os_error, ValueError, RuntimeError):
                    pass
        settrace(None)
        setprofile(None)
        gc_disable()
        del gc_callbacks[:]

    def check():
        """None if the process is clean (one thread, no child, no shared writable mapping), else why not."""
        quiet()
        if not linux:
            return None
        me = b_str(getpid())
        if b_len(listdir(f"/proc/{me}/task")) != 1:
            return "threads"
        if children():
            return "children"
        try:
            text, smaps = read(f"/proc/{me}/smaps"), True
        except os_error:  # pragma: no cover - no smaps: the permissions field of maps
            text, smaps = read(f"/proc/{me}/maps"), False
        head = None
        for line in text.split(b"\n"):
            fields = line.split()
            if not fields:
                continue
            if b"-" in fields[0] and b_len(fields) >= 5 and b_len(fields[1]) == 4:  # a mapping's first line
                head = fields
                perms = fields[1]
                if not smaps and perms[3:4] == b"s" and perms[1:2] == b"w":
                    path = fields[5].decode(errors="replace") if b_len(fields) > 5 else ""
                    if not path.startswith(allowed) or not allowed:
                        return "shared"
            elif smaps and fields[0] == b"VmFlags:" and head is not None:
                flags = fields[1:]
                # shared and writable, or shared and may become writable (mprotect): a channel out
                if b"sh" in flags and (b"wr" in flags or b"mw" in flags):
                    path = head[5].decode(errors="replace") if b_len(head) > 5 else ""
                    if not allowed or not path.startswith(allowed):
                        return "shared"
        return None

    def reap():
        """Kill every descendant (orphans are reparented to this subreaper) until none is left."""
        if not linux:
            return
        for _ in range(1000):
            try:
                pids = children()
            except os_error:
                return
            if not pids:
                return
            for pid in b_sorted(pids):
                try:
                    kill(pid, sigstop)
                except os_error:
                    pass
            for pid in b_sorted(pids):
                try:
                    kill(pid, sigkill)
                except os_error:
                    pass
            for pid in b_sorted(pids):
                try:
                    waitpid(pid, 0)
                except os_error:
                    pass

    def sandbox(conn) -> Connection:
        """No writes, no new descriptors, no memory reads; as root an empty, undeletable root, uid 65534
        and a fresh IPC namespace (no SysV shared memory, semaphores or message queues of others)."""
        signal_(sigxfsz, sig_ign)  # a write fails with EFBIG instead of killing
        setrlimit(r_fsize, (0, 0))
        fd = dup(conn.fileno())
        conn.close()
        dup2(fd, 0)
        fds = [b_int(f) for f in listdir("/proc/self/fd")] if linux else range(1, 4096)
        for f in fds:
            if f != 0:
                try:
                    os_close(f)
                except os_error:
                    pass
        if prctl is not None:
            prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
        if geteuid() == 0:
            if unshare is not None and unshare(_CLONE_NEWIPC) != 0:
                raise os_error("unshare(CLONE_NEWIPC)")
            root = f"{tmp}/sqsim-eval-{urandom(8).hex()}"
            mkdir(root, 0o700)
            chdir(root)
            rmdir(root)  # a deleted directory: nothing can be created in it, not even by root
            chroot(".")
            chdir("/")
            setgroups([])
            setgid(65534)
            setuid(65534)
        setrlimit(r_nofile, (1, 1))
        if getrlimit(r_fsize) != (0, 0) or getrlimit(r_nofile) != (1, 1):
            raise os_error("rlimits")
        return conn_cls(0)

    def refuse(conn, code):
        """Send the fixed failure code, kill every descendant and exit; no data is ever read."""
        reap()
        try:
            conn.send_bytes(b"E" + code.encode())
        except base_exc:
            pass
        exit_now(0)

    return check, sandbox, reap, refuse


def _sandbox(conn) -> Connection:
    """The sandbox with primitives captured at this call (see :func:`_make_guard`)."""
    return _make_guard()[1](conn)


_FAILURES = {"prepare": "could not be prepared in its evaluator (importing or compiling its function failed)",
             "import": "could not be evaluated: importing its modules in its evaluator failed",
             "load": "could not be evaluated: unpickling it in its evaluator failed",
             "sandbox": "could not be evaluated: the evaluator sandbox failed",
             "threads": "was refused: its evaluator had more than one thread after importing its modules",
             "children": "was refused: its evaluator had a child process after importing its modules",
             "shared": "was refused: its evaluator had a shared writable memory mapping after importing its modules",
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
    """The sandboxed request loop: ``compute(message)`` gives a real array, sent back as raw bytes.

    Starts with the ready reply ``R``: the oracle process sends no data before it.
    """
    conn.send_bytes(b"R")
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
        return CorrelationalQuery(fn, spec["name"], labels=spec["labels"], reads=spec.get("reads"))
    if spec["type"] == "Query":
        return Query(fn, spec["name"], kind=spec["kind"], reads=spec.get("reads"))
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


def _enter(conn, failure, guard):
    """After the learner's imports: refuse (no data ever read) if unclean, else sandbox; the live channel."""
    check, sandbox, _reap, refuse = guard
    try:
        unclean = check()
    except BaseException:
        unclean = "sandbox"
    if unclean is not None:
        refuse(conn, unclean)
    try:
        return sandbox(conn)
    except BaseException:  # never evaluate outside the sandbox
        refuse(conn, "sandbox")


def _start():
    """First thing in an evaluator: its own process group, then the guard (before any learner code)."""
    try:
        os.setsid()
    except OSError:  # pragma: no cover - already a group leader
        pass
    return _make_guard()


def _query_main(conn, spec, x_kind):
    guard = _start()  # captured before the learner's module runs (it may rebind anything of ours)
    failure = query = None
    try:
        query = _prepare(spec, x_kind)
    except BaseException:
        failure = "prepare"
    conn = _enter(conn, failure, guard)

    def compute(message):
        X, y, boolean_labels = message
        if isinstance(query, NumbaQuery) and (X.dtype.kind == "f") != (x_kind == "f"):
            raise _Fail("dtype")
        return query._raw(X, y, boolean_labels)

    _serve(conn, failure, compute)


def _hypothesis_main(conn, modules):
    guard = _start()
    failure = None
    try:
        for name in modules:
            importlib.import_module(name)
    except BaseException:
        failure = "import"
    conn = _enter(conn, failure, guard)

    def compute(message):
        data, X = message
        try:
            hypothesis = pickle.loads(data)  # learner code, inside the sandbox
        except BaseException:
            raise _Fail("load") from None
        return hypothesis(X)

    _serve(conn, failure, compute)


def _descendants(pid):
    """Every descendant of ``pid`` (through /proc/<pid>/task/*/children), stopped as found."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    kids = [int(c) for c in f.read().split()]
            except (OSError, ValueError):
                continue
            for c in kids:
                if c not in found:
                    try:
                        os.kill(c, signal.SIGSTOP)  # it cannot fork any more meanwhile
                    except OSError:
                        pass
                    found.append(c)
                    todo.append(c)
    return found


class _Evaluator:
    """One evaluator process (``main(conn, *args)``), started at construction, killed by :meth:`close`."""

    def __init__(self, main, args, what):
        ctx = _forkserver()
        self.what = what  # "Query 'name'" or "The hypothesis ...": names it in errors
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=main, args=(child, *args), daemon=True)
        self.ready, self.refused = False, None
        _LOCAL.no_main = True
        try:
            self.proc.start()
        finally:
            _LOCAL.no_main = False
            child.close()

    def evaluate(self, message, X):
        """(values, None) or (None, the failure in words); IsolationError after EVALUATOR_TIMEOUT seconds."""
        limit = float(EVALUATOR_TIMEOUT)
        deadline = time.monotonic() + limit
        if self.refused is not None:
            return None, _failure_words(self.refused, X)
        try:
            if not self.ready:  # no data before the evaluator is clean and sandboxed
                reply = self._receive(deadline, limit)
                if reply != b"R":
                    self.refused = reply[1:].decode(errors="replace") if reply[:1] == b"E" else ""
                    self.close()
                    return None, _failure_words(self.refused, X)
                self.ready = True
        except (EOFError, OSError):
            return None, _FAILURES["died"]
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        sender = threading.Thread(target=self._send, args=(data,), daemon=True)  # a stuck evaluator cannot block us
        sender.start()
        try:
            reply = self._receive(deadline, limit)
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

    def _receive(self, deadline, limit):
        if not self.conn.poll(max(0.0, deadline - time.monotonic())):
            self.close()
            raise IsolationError(f"{self.what} did not answer within {limit:g} s under isolation='process'; "
                                 f"its evaluator process was killed.")
        return self.conn.recv_bytes()

    def _send(self, data):
        try:
            self.conn.send_bytes(data)
        except (OSError, ValueError):  # killed or closed meanwhile
            pass

    def close(self):
        """Kill the evaluator, its process group and every descendant (even one that left the group)."""
        self.conn.close()
        pid = self.proc.pid
        if pid is not None and self.proc.exitcode is None:
            try:
                os.kill(pid, signal.SIGSTOP)
            except OSError:
                pass
            victims = _descendants(pid)
            try:
                os.killpg(pid, signal.SIGKILL)  # the evaluator called setsid: its group id is its pid
            except OSError:
                pass
            for p in [pid, *victims]:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
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
        return type(self)(self.spec)

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


def _remote_threshold_class():
    from ..lift._queries import ThresholdQuery

    class RemoteThresholdQuery(ThresholdQuery, RemoteQuery):
        """A learner's ThresholdQuery in the oracle process: psi runs in its own sandboxed evaluator.

        A RemoteQuery (so the isolation layer closes its evaluator and withholds errors raised while it
        ran) whose values are the ThresholdQuery's, psi(thres_q(z), e(l)), with psi a remote plain query.
        """

        def __init__(self, spec):
            try:
                psi_spec = spec["psi"]
                ok = (type(psi_spec) is dict and psi_spec.get("type") == "Query" and spec.get("kind") in ("sq", "csq")
                      and isinstance(spec.get("name"), str) and spec.get("events") in ("nonzero", "sign")
                      and type(spec.get("q")) is int and spec["q"] >= 2)
            except (KeyError, TypeError, AttributeError):
                ok = False
            if not ok:
                raise IsolationError(f"A query spec from the learner process is malformed: {spec!r:.200}")
            self._psi_remote = RemoteQuery(psi_spec)
            self.spec, self.labels, self._evaluator = dict(spec), None, None
            self.params = np.zeros(0)
            ThresholdQuery.__init__(self, self._psi_call, spec["q"], events=spec["events"], reads=spec.get("reads"),
                                    name=spec["name"], kind=spec["kind"])

        def _psi_call(self, X, e):
            return self._psi_remote.values(np.ascontiguousarray(X, dtype=np.int64), e, False)

        def _raw(self, X, y, boolean_labels):
            return self._eval(X, y)

        @property
        def qualname(self) -> str:
            return self.spec["psi"]["qualname"]

        def close(self):
            remote = self.__dict__.get("_psi_remote")
            if remote is not None:
                remote.close()

    RemoteThresholdQuery.__module__, RemoteThresholdQuery.__qualname__ = __name__, "RemoteThresholdQuery"
    return RemoteThresholdQuery


RemoteThresholdQuery = _remote_threshold_class()
