"""Importable query functions and learners for tests/test_isolation.py (process isolation)."""

from __future__ import annotations

import gc
import os
import sys

import numba
import numpy as np

from sqsim import Character, QueryBudgetExceeded
from sqsim._learning import Learner

COUNTER = 0


def corr_x0(X, y):
    return (1.0 - 2.0 * y) * (1.0 - 2.0 * X[:, 0])


def smooth(X, y):
    return np.tanh(0.3 * X.sum(axis=1) - 0.7 * y) / 1.5


def g_mix(X):
    return np.cos(X.sum(axis=1) * 0.37)


@numba.njit(cache=True)
def nb_phi(x, y, params):  # pragma: no cover - compiled
    s = 0.0
    for j in range(x.shape[0]):
        s += params[0] * x[j]
    return np.sin(s + params[1] * y)


def write_file(X, y):
    """Tries to leave a file behind with the labels it saw."""
    with open(os.environ.get("SQSIM_ISOLATION_PROBE", "/tmp/sqsim-isolation-probe"), "w") as fh:
        fh.write(repr(y.tolist()))
    return np.zeros(X.shape[0])


def make_dir(X, y):
    os.mkdir(os.environ.get("SQSIM_ISOLATION_PROBE", "/tmp/sqsim-isolation-probe") + ".d")
    return np.zeros(X.shape[0])


def open_socket(X, y):
    import socket

    socket.socket().close()
    return np.zeros(X.shape[0])


def counting(X, y):
    """Module-level state: answers COUNTER / 10 after incrementing it (0.1 when the state is fresh)."""
    global COUNTER
    COUNTER += 1
    return np.full(X.shape[0], COUNTER / 10.0)


def bad_range(X, y):
    raise ValueError(f"labels: {y.tolist()}")


class BudgetLearner(Learner):
    """Asks characters until the budget runs out, catches QueryBudgetExceeded and reports what it saw."""

    def _learn(self, oracle):
        d, asked = oracle.domain.d, 0
        try:
            for code in range(1, 2**d):
                oracle.ask(Character(d, [j for j in range(d) if code >> j & 1]))
                asked += 1
        except QueryBudgetExceeded as exc:
            return None, {"asked": asked, "caught": str(exc), "budget_left": oracle.budget_left,
                          "ledger": len(oracle.ledger), "queries": oracle.queries}
        return None, {"asked": asked, "caught": None}


class HostileLearner(Learner):
    """Walks every frame and every object in its process looking for the oracle or the target."""

    def _learn(self, oracle):
        from sqsim import SQOracle
        from sqsim.concepts import Parity

        found = []
        frame = sys._getframe()
        while frame is not None:
            found += [k for k, v in {**frame.f_locals, **frame.f_globals}.items() if isinstance(v, (SQOracle, Parity))]
            frame = frame.f_back
        found += [type(o).__name__ for o in gc.get_objects() if isinstance(o, (SQOracle, Parity))]
        for name in ("_oracle", "oracle", "_handle", "_target"):
            try:
                found.append(repr(object.__getattribute__(oracle, name)))
            except AttributeError:
                pass
        if found:
            return Parity(oracle.domain.d, [0, 2]), {"found": found}
        return None, {"found": found}


class LambdaLearner(Learner):
    def _learn(self, oracle):
        return (lambda X: X[:, 0]), {}


class FractionLearner(Learner):
    """A hypothesis of a class outside the allow-list (pickles fine, refused by the oracle process)."""

    def _learn(self, oracle):
        import fractions

        return fractions.Fraction(1, 3), {}


class OwnHypothesis:
    def __init__(self, j):
        self.j = j

    def __call__(self, X):
        return X[:, self.j]


class OwnClassLearner(Learner):
    def _learn(self, oracle):
        return OwnHypothesis(1), {"w": np.arange(3), "s": {1, 2}}


class SuicideLearner(Learner):
    def _learn(self, oracle):
        os.kill(os.getpid(), 9)


class CrashLearner(Learner):
    def _learn(self, oracle):
        return 1 / 0


class InvalidLearner(Learner):
    def _learn(self, oracle):
        from sqsim import InvalidParameterError

        raise InvalidParameterError("The 'x' parameter of InvalidLearner must be sane. Got 3 instead.")


def out_of_range(X, y):
    """Returns an out-of-range value that encodes the first labels (an oracle error message would carry it)."""
    vals = np.zeros(X.shape[0])
    vals[0] = 2.0 + float(np.dot(y[:8], 2.0 ** -np.arange(1, 9)))
    return vals


def sandbox_facts(X, y):
    """[euid / 1e5, whether /tmp or this file is visible, whether /proc is, RLIMIT_FSIZE, RLIMIT_NOFILE / 10]."""
    import resource

    facts = [os.geteuid() / 1e5, float(os.path.exists("/tmp") or os.path.exists(__file__)), float(os.path.exists("/proc/self")),
             float(resource.getrlimit(resource.RLIMIT_FSIZE)[0]), resource.getrlimit(resource.RLIMIT_NOFILE)[0] / 10]
    return np.array((facts + [0.0] * X.shape[0])[: X.shape[0]])


class TrivialLearner(Learner):
    def _learn(self, oracle):
        return None, {"tolerance": oracle.tolerance, "domain": repr(oracle.domain), "kind": oracle.kind,
                      "entropy": oracle.child_entropy("x"), "ledger": len(oracle.ledger)}


class OutOfRangeLearner(Learner):
    def _learn(self, oracle):
        from sqsim import Query, QueryRangeError

        try:
            oracle.ask(Query(out_of_range))
        except QueryRangeError as exc:
            return None, {"message": str(exc)}
        return None, {"message": None}


def forge_reply(X, y):
    """Writes its own failure frame on the channel (fd 0), trying to put the labels into the error message."""
    import struct

    payload = b"E" + ("leak " + "".join(str(int(v)) for v in y[:16])).encode()
    os.write(0, struct.pack("!i", len(payload)) + payload)
    return np.zeros(X.shape[0])


def sleepy(X, y):
    import time

    time.sleep(5)
    return np.zeros(X.shape[0])


def partial_fn(w, idx, shift, X, y, *, flip=False, tag="a", extra=None, pair=(1, 2.5), items=(0.5,), c=None):
    """For functools.partial(partial_fn, w, idx, shift, ...): checks the rebuilt argument types, then mixes them in."""
    if not (w.dtype == np.float64 and idx.dtype == np.int64 and type(pair) is tuple and type(items) is list):
        raise TypeError("arguments rebuilt with the wrong types")
    v = np.tanh(X[:, idx] @ w + shift + 0.1 * sum(pair) + 0.01 * len(tag) + 0.01 * sum(items) - 0.3 * y)
    if extra is not None:
        v = v * 0.5
    if c is not None:
        v = v * float(c)
    return -v / 2 if flip else v / 2


def partial_g(k, X, *, scale):
    return np.cos(X[:, k] * scale)


# ----------------------------------------------------------------------------- untrusted hypotheses
GC_CALLS = 0  # incremented by GcWalker.__call__ in whichever process runs it
SETSTATE_CALLS = 0


class GcWalker:
    """A hypothesis that walks every object of its process for the oracle or the target; zeros if none."""

    def __init__(self):
        self.seen = 0

    def __setstate__(self, state):
        global SETSTATE_CALLS
        SETSTATE_CALLS += 1
        self.__dict__.update(state)

    def __call__(self, X):
        global GC_CALLS
        from sqsim import SQOracle
        from sqsim.concepts import Parity

        GC_CALLS += 1
        targets = [o for o in gc.get_objects() if isinstance(o, (SQOracle, Parity))]
        if targets:
            return np.asarray(targets[0](X), dtype=np.float64) if isinstance(targets[0], Parity) else np.ones(len(X))
        return np.zeros(X.shape[0])


class GcLearner(Learner):
    def _learn(self, oracle):
        return GcWalker(), {"w": np.arange(2), "own": OwnHypothesis(2), "nested": [OwnHypothesis(0), 1.5],
                            "fn": lambda x: x}


class RaisingHypothesis:
    def __call__(self, X):
        return 1 / 0


class SleepyHypothesis:
    def __call__(self, X):
        import time

        time.sleep(5)
        return np.zeros(X.shape[0])


class SleepyQueryLearner(Learner):
    def _learn(self, oracle):
        from sqsim import Query

        return None, {"value": oracle.ask(Query(sleepy))}


class SleepyLearner(Learner):
    def _learn(self, oracle):
        import time

        time.sleep(60)
        return None, {}

