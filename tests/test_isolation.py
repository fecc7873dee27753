"""Process isolation (sqsim.oracles._isolation; docs/theory/contracts.md, section contracts-isolation)."""

from __future__ import annotations

import functools
import json
import os
import pickle
import time

import numpy as np
import pytest

import learners
from sqsim import (
    BooleanCube,
    Character,
    CharacterBatch,
    CorrelationalQuery,
    InvalidParameterError,
    NumbaQuery,
    Query,
    QueryContractError,
    QueryRangeError,
    SQOracle,
    ZqCharacter,
)
from sqsim._errors import IsolationError
from sqsim.concepts import Parity
from sqsim.oracles import _sandbox
from sqsim.oracles._isolation import (
    IsolatedHypothesis,
    LedgerView,
    RemoteQuery,
    _pickle_globals,
    _receive,
    deserialize_query,
    run_isolated,
    serialize_query,
)

from . import isolation_helpers as H

X6 = np.random.default_rng(3).integers(0, 2, (64, 6)).astype(np.int64)
Y6 = (X6[:, 1] ^ X6[:, 4]).astype(np.float64)


class FakeHandle:
    """The handle the core gives learners, reduced to what an SQ learner needs, around a real SQOracle."""

    def __init__(self, oracle):
        self._oracle = oracle

    kind = "sq"
    tolerance = property(lambda self: self._oracle.tolerance)
    domain = property(lambda self: self._oracle.domain)
    boolean_labels = property(lambda self: self._oracle.boolean_labels)
    budget_left = property(lambda self: self._oracle.ledger.remaining)
    queries = property(lambda self: self._oracle.ledger.total)

    @property
    def ledger(self):
        rows = self._oracle.ledger.to_dicts()
        return type("Rows", (), {"to_rows": staticmethod(lambda: rows)})()

    def ask(self, query):
        return self._oracle.ask(query)

    def ask_batch(self, queries):
        return self._oracle.ask_batch(queries)

    def child_entropy(self, purpose):
        return 12345


def oracle(budget=None):
    return SQOracle(BooleanCube(5), Parity(5, [0, 2]), 0.1, answers="exact", seed=1, budget=budget)


# ----------------------------------------------------------------------------- specs
@pytest.mark.parametrize("query", [
    Character(6, [0, 3, 5]), Character(6, [], name="const"), ZqCharacter(4, 5, [1, 7, 0, 3], labels="real"),
    ZqCharacter(3, 3, [2, 1, 1], name="zq"),
])
def test_structured_queries_round_trip(query):
    spec = serialize_query(query)
    assert json.loads(json.dumps(spec)) == spec
    back = deserialize_query(spec)
    assert type(back) is type(query) and back.name == query.name and back.kind == query.kind
    for attr in ("d", "support", "code", "q", "labels"):
        assert getattr(back, attr, None) == getattr(query, attr, None)
    if isinstance(query, ZqCharacter):
        assert np.array_equal(back.s, query.s)
        Xq = np.random.default_rng(0).integers(0, query.q, (40, query.d))
        yq = np.random.default_rng(1).uniform(-1, 1, 40)
        assert np.array_equal(back.values(Xq, yq, False), query.values(Xq, yq, False))


@pytest.mark.parametrize("batch", [CharacterBatch(5, 2), CharacterBatch(6, supports=[[0], [1, 4], []])])
def test_character_batch_round_trip(batch):
    spec = serialize_query(batch)
    assert json.loads(json.dumps(spec)) == spec
    back = deserialize_query(spec)
    assert type(back) is CharacterBatch and back.d == batch.d and back.max_size == batch.max_size
    assert np.array_equal(back.codes, batch.codes) and [m.name for m in back] == [m.name for m in batch]


def test_importable_query_specs():
    spec = serialize_query(NumbaQuery(H.nb_phi, "nb", params=[0.5, 2], reads=[0, 1]))
    assert spec == {"type": "NumbaQuery", "module": "tests.isolation_helpers", "qualname": "nb_phi", "name": "nb",
                    "kind": "sq", "params": [0.5, 2.0], "reads": [0, 1]}
    spec = serialize_query(CorrelationalQuery(H.g_mix, labels="boolean"))
    assert spec["labels"] == "boolean" and spec["kind"] == "csq" and spec["qualname"] == "g_mix"
    remote = deserialize_query(spec)
    assert isinstance(remote, RemoteQuery) and remote.structured is False
    assert (remote.name, remote.kind, remote.qualname) == ("g_mix", "csq", "g_mix")
    remote.close()
    remote.close()  # idempotent, and never started an evaluator


@pytest.mark.parametrize("make", [
    lambda: Query(lambda X, y: y, name="lam"),
    lambda: Query(_closure(), name="closure"),
    lambda: Query(H.OwnHypothesis(0).__call__, name="bound"),
    lambda: type("Mine", (Query,), {})(H.corr_x0, name="subclass"),
])
def test_non_importable_queries_are_refused(make):
    query = make()
    with pytest.raises(QueryContractError) as err:
        serialize_query(query)
    msg = str(err.value)
    assert repr(query.name) in msg
    assert "define fn at module level in an importable module, e.g. mypkg/queries.py" in msg
    assert "NumbaQuery params=" in msg


def _closure():
    k = 0.5
    return lambda X, y: k * y


def test_not_a_query_is_an_invalid_parameter():
    with pytest.raises(InvalidParameterError):
        serialize_query("chi{0}")


# ----------------------------------------------------------------------------- evaluator
@pytest.mark.parametrize("query", [
    Query(H.smooth, "smooth"), Query(H.corr_x0),
    CorrelationalQuery(H.g_mix), CorrelationalQuery(H.g_mix, labels="real"),
    NumbaQuery(H.nb_phi, params=[0.3, 1.1]),
])
def test_remote_values_equal_in_process_values_bit_for_bit(query):
    for data in (((X6, Y6), (X6[:7], 1.0 - Y6[:7])), ((X6.astype(np.float64) * 0.7, Y6 * 0.3),)):
        with deserialize_query(serialize_query(query)) as remote:  # one evaluator serves every chunk
            for boolean in (True, False):
                for X, y in data:
                    a, b = remote.values(X, y, boolean), query.values(X, y, boolean)
                    assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_remote_query_in_an_exact_oracle_gives_the_same_answer_and_key():
    o1, o2 = oracle(), oracle()
    q = CorrelationalQuery(H.g_mix)
    with deserialize_query(serialize_query(q)) as remote:
        assert o1.ask(remote) == o2.ask(q)
    assert o1.ledger[0].key == o2.ledger[0].key and o1.ledger[0].truth == o2.ledger[0].truth


@pytest.mark.parametrize("fn", [H.write_file, H.make_dir, H.open_socket])
def test_evaluator_cannot_write_create_or_connect(fn, tmp_path, monkeypatch):
    probe = tmp_path / "probe"
    monkeypatch.setenv("SQSIM_ISOLATION_PROBE", str(probe))
    with deserialize_query(serialize_query(Query(fn))) as remote:
        with pytest.raises(QueryRangeError, match=repr(fn.__name__)) as err:
            remote.values(X6, Y6)
    assert "withheld" in str(err.value) and "[" not in str(err.value).split("raised")[1]
    assert list(tmp_path.iterdir()) == []


def test_evaluator_error_messages_do_not_carry_labels():
    with deserialize_query(serialize_query(Query(H.bad_range))) as remote:
        with pytest.raises(QueryRangeError) as err:
            remote.values(X6, Y6)
    assert "ValueError" in str(err.value) and "labels" not in str(err.value)


def test_each_remote_query_sees_fresh_module_state():
    q = Query(H.counting)
    seen = []
    for _ in range(3):
        with deserialize_query(serialize_query(q)) as remote:
            seen.append(remote.values(X6[:4], Y6[:4])[0])
            seen.append(remote.values(X6[:4], Y6[:4])[0])  # the same query object reuses its evaluator
    assert seen == [0.1, 0.2] * 3


def test_per_query_evaluator_start_cost():
    for query in (Query(H.smooth), NumbaQuery(H.nb_phi, params=[0.3, 1.1])):
        with deserialize_query(serialize_query(query)) as warm:
            warm.values(X6, Y6)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            with deserialize_query(serialize_query(query)) as remote:
                remote.values(X6, Y6)
            times.append(time.perf_counter() - t0)
        print(f"\nper-query evaluator start ({type(query).__name__}): {1e3 * min(times):.1f} ms "
              f"(min of 3; median {1e3 * sorted(times)[1]:.1f} ms)")


# ----------------------------------------------------------------------------- learner process
def test_run_isolated_parity_brute_force():
    o = oracle()
    t0 = time.perf_counter()
    hypothesis, details = run_isolated(learners.make("parity-brute-force", seed=0), FakeHandle(o))
    print(f"\nrun_isolated parity-brute-force d=5: {time.perf_counter() - t0:.2f} s for {details['rank']} queries")
    assert isinstance(hypothesis, Parity) and hypothesis.support == (0, 2)
    assert o.ledger.total == details["rank"] == len(o.ledger)


def test_learner_catches_budget_exceeded():
    o = oracle(budget=4)
    hypothesis, details = run_isolated(H.BudgetLearner(), FakeHandle(o))
    assert hypothesis is None and details["asked"] == 4
    assert "would exceed the budget of 4" in details["caught"]
    assert (details["budget_left"], details["ledger"], details["queries"]) == (0, 4, 4)


def test_hostile_learner_finds_nothing():
    o = oracle()
    hypothesis, details = run_isolated(H.HostileLearner(), FakeHandle(o))
    assert hypothesis is None and details == {"found": []}
    assert len(o.ledger) == 0  # and it asked nothing: no success to grade


def test_own_class_hypothesis_is_evaluated_in_a_sandbox():
    hypothesis, details = run_isolated(H.OwnClassLearner(), FakeHandle(oracle()))
    assert type(hypothesis) is IsolatedHypothesis and "tests.isolation_helpers.OwnHypothesis" in repr(hypothesis)
    assert hypothesis.modules == ("tests.isolation_helpers",)
    out = hypothesis(X6)
    assert out.dtype == np.float64 and out.shape == (64,) and np.array_equal(out, X6[:, 1])
    assert np.array_equal(details["w"], np.arange(3)) and details["s"] == {1, 2}  # trusted details: unpickled


def test_untrusted_hypothesis_never_runs_in_the_oracle_process():
    o = oracle()
    hypothesis, details = run_isolated(H.GcLearner(), FakeHandle(o))
    assert type(hypothesis) is IsolatedHypothesis and "GcWalker" in repr(hypothesis)
    assert np.array_equal(hypothesis(X6[:, :5]), np.zeros(64))  # its evaluator holds no oracle and no Parity
    assert H.GC_CALLS == 0 and H.SETSTATE_CALLS == 0  # neither unpickled nor called here
    assert np.array_equal(details["w"], np.arange(2)) and details["nested"][1] == 1.5
    assert all(isinstance(v, str) and "OwnHypothesis" in v for v in (details["own"], details["nested"][0]))
    assert isinstance(details["fn"], str) and "lambda" in details["fn"]  # unpicklable: its repr


def test_untrusted_hypothesis_graded_through_learn():
    o = oracle()
    result = H.GcLearner().learn(o, isolation="process")
    assert type(result.hypothesis) is IsolatedHypothesis and result.success is False
    assert H.GC_CALLS == 0 and H.SETSTATE_CALLS == 0


def test_isolated_hypothesis_per_call_cost_and_fresh_state():
    hypothesis = _roundtrip(H.GcWalker())  # what run_isolated does with the learner process's pickles
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        hypothesis(X6)
        times.append(time.perf_counter() - t0)
    print(f"\nIsolatedHypothesis call (fresh evaluator each, 64 points): {1e3 * min(times):.1f} ms (min of 3; "
          f"median {1e3 * sorted(times)[1]:.1f} ms)")
    with pytest.raises(IsolationError, match="can only be called on a numeric batch"):
        hypothesis(np.array([[object()]]))


@pytest.mark.parametrize("hypothesis, text", [
    (H.RaisingHypothesis(), "RaisingHypothesis raised ZeroDivisionError"),
    (__import__("fractions").Fraction(1, 3), "Fraction raised TypeError"),  # not callable
    (H.OwnHypothesis(9), "raised IndexError"),
])
def test_failing_isolated_hypotheses(hypothesis, text):
    h = _roundtrip(hypothesis)
    assert type(h) is IsolatedHypothesis
    with pytest.raises(IsolationError, match=text):
        h(X6)


def test_trusted_hypotheses_come_back_unpickled():
    for hypothesis in (Parity(5, [1, 3]), np.arange(4.0), None, {"a": (1, 2.5)}, [1, "x"]):
        h = _roundtrip(hypothesis)
        assert type(h) is type(hypothesis) and repr(h) == repr(hypothesis)
    assert type(_roundtrip([Parity(5, [1]), H.OwnHypothesis(1)])) is IsolatedHypothesis  # one untrusted part


def _roundtrip(obj):
    """The hypothesis run_isolated returns for what a learner process sends (without spawning one)."""
    return _receive((pickle.dumps(obj), f"{type(obj).__module__}.{type(obj).__qualname__}", pickle.dumps({})))[0]


def test_pickle_globals_are_read_statically():
    for protocol in (0, 2, 4, 5):
        found = _pickle_globals(pickle.dumps([H.OwnHypothesis(1), np.arange(2), {1}], protocol=protocol))
        assert ("tests.isolation_helpers", "OwnHypothesis") in found and None not in found
        assert any(m.startswith("numpy") for m, _ in found)
    assert _pickle_globals(pickle.dumps((1, "a", b"b"))) == []
    assert None in _pickle_globals(b"\x80\x05garbage")


def test_foreign_hypotheses_are_refused():
    with pytest.raises(IsolationError) as err:
        run_isolated(H.LambdaLearner(), FakeHandle(oracle()))
    assert "could not be pickled" in str(err.value) and "the hypothesis must be picklable" in str(err.value)


def test_learner_errors_come_back():
    with pytest.raises(InvalidParameterError, match="must be sane"):
        run_isolated(H.InvalidLearner(), FakeHandle(oracle()))
    with pytest.raises(IsolationError, match="ZeroDivisionError") as err:
        run_isolated(H.CrashLearner(), FakeHandle(oracle()))
    assert "Traceback" in str(err.value) and "return 1 / 0" in str(err.value)


def test_killed_learner_process():
    with pytest.raises(IsolationError, match="exit code -9"):
        run_isolated(H.SuicideLearner(), FakeHandle(oracle()))


def test_learner_holding_the_oracle_is_refused():
    o = oracle()
    learner = H.CrashLearner()
    learner.saved = o
    with pytest.raises(IsolationError, match="holds the oracle"):
        run_isolated(learner, FakeHandle(o))


def test_ledger_view_is_read_only():
    view = LedgerView([{"name": "a", "extra": {}}, {"name": "b", "extra": {"count": 3}}])
    assert len(view) == 2 and view[1]["name"] == "b" and view.total == 4 and [r["name"] for r in view] == ["a", "b"]
    with pytest.raises(TypeError):
        view[0]["name"] = "x"
    with pytest.raises(TypeError):
        view[0] = {}


def test_evaluator_sandbox_facts():
    with deserialize_query(serialize_query(Query(H.sandbox_facts))) as remote:
        facts = remote.values(X6[:5], Y6[:5]).tolist()
    if os.geteuid() == 0:  # chroot into a deleted empty directory, then uid 65534
        assert facts[:3] == [0.65534, 0.0, 0.0]
    assert facts[3:] == [0.0, 0.1]  # RLIMIT_FSIZE = 0, RLIMIT_NOFILE = 1


def test_oracle_error_details_do_not_reach_the_learner():
    o = oracle()
    hypothesis, details = run_isolated(H.OutOfRangeLearner(), FakeHandle(o))
    assert "out of range" in details["message"] and "withheld" in details["message"]
    assert "x=" not in details["message"] and "y=" not in details["message"] and "2." not in details["message"]
    assert len(o.ledger) == 0


def test_spawn_cost_static_facts_and_non_dumpable_parent():
    import ctypes

    t0 = time.perf_counter()
    _, details = run_isolated(H.TrivialLearner(), FakeHandle(oracle()))
    print(f"\nper-learner spawn cost (run_isolated of a learner that asks nothing): {time.perf_counter() - t0:.2f} s")
    assert details == {"tolerance": 0.1, "domain": repr(BooleanCube(5)), "kind": "sq", "entropy": 12345, "ledger": 0}
    assert ctypes.CDLL(None).prctl(3, 0, 0, 0, 0) == 0  # PR_GET_DUMPABLE: the oracle process is non-dumpable


def test_evaluator_cannot_choose_the_error_text():
    with deserialize_query(serialize_query(Query(H.forge_reply))) as remote:
        with pytest.raises(QueryRangeError) as err:
            remote.values(X6, Y6)
    assert "leak" not in str(err.value) and "malformed reply" in str(err.value)


# ----------------------------------------------------------------------------- functools.partial queries
W = np.array([0.3, -0.2, 0.45])
IDX = np.array([0, 2, 5])


@pytest.mark.parametrize("query", [
    Query(functools.partial(H.partial_fn, W, IDX, 0.1, flip=True, tag="xyz", pair=(2, -1.5), items=[0.25, 1])),
    Query(functools.partial(H.partial_fn, W, IDX, -0.2, items=[0.5], extra=None, c=np.float32(0.75)), name="p"),
    Query(functools.partial(H.partial_fn, W, IDX, 0.0, items=[], extra="on"), kind="csq"),
    CorrelationalQuery(functools.partial(H.partial_g, 3, scale=0.37), labels="real"),
])
def test_partial_queries_equal_in_process_values(query):
    spec = serialize_query(query)
    assert json.loads(json.dumps(spec)) == spec and spec["module"] == "tests.isolation_helpers"
    assert "partial" in spec
    with deserialize_query(spec) as remote:
        for X, y in ((X6, Y6), (X6[:9].astype(np.float64) * 0.7, Y6[:9] * 0.3)):
            a, b = remote.values(X, y, True), query.values(X, y, True)
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_partial_arguments_round_trip_with_dtype_and_shape():
    for arg in (np.arange(6, dtype=np.int64).reshape(2, 3), np.zeros((0, 2)), np.array([True, False]),
                np.float32(0.5), np.array(3.25), [1, (2.5, None, "s")], np.arange(3, dtype=np.uint8)):
        back = _sandbox.decode_arg(json.loads(json.dumps(_sandbox.encode_arg(arg))))
        assert type(back) is type(arg) and np.array_equal(np.asarray(back, dtype=object), np.asarray(arg, dtype=object))
        if isinstance(arg, (np.ndarray, np.generic)):
            assert back.dtype == arg.dtype and back.shape == arg.shape


@pytest.mark.parametrize("make, text", [
    (lambda: Query(functools.partial(H.partial_fn, {"w": 1})), "partial is a dict"),
    (lambda: Query(functools.partial(H.partial_fn, np.array(["a"]))), "partial is a ndarray"),
    (lambda: Query(functools.partial(lambda X, y, a: y, 1)), "is not importable by name"),
])
def test_partial_queries_that_cannot_cross(make, text):
    with pytest.raises(QueryContractError, match=text):
        serialize_query(make())


# ----------------------------------------------------------------------------- timeouts
def test_evaluator_timeout_kills_and_names_the_query(monkeypatch):
    monkeypatch.setattr(_sandbox, "EVALUATOR_TIMEOUT", 1)
    remote = deserialize_query(serialize_query(Query(H.sleepy)))
    t0 = time.perf_counter()
    with pytest.raises(IsolationError, match="Query 'sleepy' did not answer within 1 s") as err:
        remote.values(X6, Y6)
    assert time.perf_counter() - t0 < 4 and "killed" in str(err.value)
    assert remote._evaluator is None
    h = _roundtrip(H.SleepyHypothesis())
    with pytest.raises(IsolationError, match="SleepyHypothesis did not answer within 1 s"):
        h(X6)
    o = oracle()
    with pytest.raises(IsolationError, match="Query 'sleepy' did not answer within 1 s"):  # through the oracle
        run_isolated(H.SleepyQueryLearner(), FakeHandle(o))
    assert len(o.ledger) == 0


def test_learner_timeout_kills_and_names_the_learner():
    t0 = time.perf_counter()
    with pytest.raises(IsolationError, match="The learner SleepyLearner did not return within 3 s"):
        run_isolated(H.SleepyLearner(), FakeHandle(oracle()), timeout=3)
    assert time.perf_counter() - t0 < 8
    for bad in (0, -1, "5", True):
        with pytest.raises(InvalidParameterError, match="'timeout' parameter of run_isolated"):
            run_isolated(H.TrivialLearner(), FakeHandle(oracle()), timeout=bad)


# ----------------------------------------------------------------------------- learner code at import time
def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_query_module_that_disarms_the_sandbox_at_import_still_cannot_write():
    import shutil

    from . import evil_import_patch as E

    shutil.rmtree(E.LEAK, ignore_errors=True)
    with deserialize_query(serialize_query(Query(E.store_batch, name="store"))) as remote:
        with pytest.raises(QueryRangeError, match="withheld"):
            remote.values(X6, Y6)
        facts = deserialize_query(serialize_query(Query(H.sandbox_facts)))
        assert facts.values(X6[:5], Y6[:5]).tolist()[3:] == [0.0, 0.1]
        facts.close()
    assert not os.path.exists(E.LEAK)


def test_query_module_that_maps_shared_memory_and_forks_at_import_is_refused():
    import glob
    import shutil

    from . import evil_import_fork as E

    shutil.rmtree(E.LEAK, ignore_errors=True)
    remote = deserialize_query(serialize_query(Query(E.store_batch, name="store")))
    with pytest.raises(QueryRangeError) as info:
        remote.values(X6, Y6)
    assert str(info.value) == ("Query 'store' was refused: its evaluator had a child process after importing its "
                               "modules.")
    remote.close()
    time.sleep(0.5)
    pids = [int(open(f).read()) for f in glob.glob(f"{E.LEAK}/*.helper") + glob.glob(f"{E.LEAK}/*.grandchild")]
    assert pids  # the import did run and fork
    assert not any(_alive(p) for p in pids)
    assert not os.path.exists(f"{E.LEAK}/rows.bin")
    shutil.rmtree(E.LEAK, ignore_errors=True)


def test_evaluator_guard_refuses_threads_children_and_shared_mappings():
    """The guard runs in a clean process like an evaluator's (a fork of the test process would inherit
    whatever shared memory earlier tests' Dask clusters and semaphores left mapped)."""
    from tests import guard_probe

    ctx = _sandbox._forkserver()  # the evaluators' own forkserver, without the parent's main script

    def probe(kind):
        a, b = ctx.Pipe()
        p = ctx.Process(target=guard_probe.guard_probe, args=(kind, b))
        _sandbox._LOCAL.no_main = True
        try:
            p.start()
        finally:
            _sandbox._LOCAL.no_main = False
        why = a.recv()
        p.join(10)
        return why

    assert probe("none") is None
    assert probe("thread") == "threads"
    assert probe("child") == "children"
    assert probe("shared") == "shared"
    assert probe("shared-readonly") == "shared"  # could be mprotect'ed writable
    assert probe("private") is None
