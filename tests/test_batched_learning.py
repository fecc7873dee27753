"""Batched learning (Learner.learn_many and the sweep's seed batches) against hostile learners defined here.

A1: learn_many is a final template (sealed handles, the framework's grade and count); the sweep batches only
vetted hooks and checks every result against the cell's ledger. A4: an unvetted hook that pools members'
examples is charged the whole batch and is never batched by the sweep. A6: a batched member is bit-identical
to its run alone, even when the stopping rule sits on a rounding edge. A9: a failed batch that drew data is
never rerun on fresh oracles with the same seeds.
"""

from __future__ import annotations

import numpy as np
import pytest

import learners
from learners._base import _REGISTRY, register
from sqsim import BooleanCube, ExampleOracle, Gaussian, InvalidParameterError, LearnResult, _learning
from sqsim._learning import Learner, batch_vetted
from sqsim.concepts import NaturalWeightsNetwork, Parity

jax = pytest.importorskip("jax")
pytest.importorskip("optax")

from learners.sgd import SGDMLP


def gf2_solve(X, y):
    """A solution S of <x, S> = y (mod 2) (Gaussian elimination), or None when underdetermined."""
    A = np.concatenate([np.asarray(X, dtype=np.uint8) % 2, np.asarray(y, dtype=np.uint8)[:, None] % 2], axis=1)
    n, d = A.shape[0], A.shape[1] - 1
    for c in range(d):  # a full-rank system: column c's pivot ends in row c
        r = next((i for i in range(c, n) if A[i, c]), None)
        if r is None:
            return None
        A[[c, r]] = A[[r, c]]
        for i in range(n):
            if i != c and A[i, c]:
                A[i] ^= A[c]
    return [c for c in range(d) if A[c, d]]


@pytest.fixture
def registered():
    """Register hostile learner classes for one test (removed afterwards)."""
    names = []

    def add(name, cls):
        register(name)(cls)
        names.append(name)
        return cls

    yield add
    for n in names:
        _REGISTRY.pop(n, None)


def _sweep(path, learner, seeds=3, d=12, k=3):
    return {"name": "hostile", "seed": 3, "seeds": seeds, "tau": 0.1, "results": str(path),
            "grid": [{"learner": learner, "family": {"name": "sparse-parity", "k": k}, "d": [d]}]}


# ---------------------------------------------------------------------------- A1: the framework owns batching
def test_learn_many_is_a_final_template():
    with pytest.raises(TypeError, match="learn_many, a final template"):
        class RawBatch(Learner):  # the review's learner: it would read o._target from the raw oracles
            oracle_kinds = ("example",)

            def learn_many(self, oracles, seeds=None):
                return [LearnResult(o._target.concept, True, 0, {}) for o in oracles]
    assert Learner.__dict__["learn_many"] is SGDMLP.learn_many


def test_learn_many_hands_sealed_handles_and_grades_every_member():
    from sqsim.oracles import OracleHandle

    seen = []

    class Claims(Learner):  # claims the empty parity, and says it succeeded
        oracle_kinds = ("example",)

        def __init__(self, *, seed=None):
            self.seed = seed

        def _learn_many(self, handles, seeds):
            seen.extend(handles)
            for h in handles:
                h.draw(3)
            return [(Parity(h.domain.d, []), {"success": True, "queries": 0}) for h in handles]

    oracles = [ExampleOracle(BooleanCube(6), Parity(6, [1, 2]), seed=s) for s in range(3)]
    res = Claims().learn_many(oracles)
    assert all(type(h) is OracleHandle for h in seen) and len(seen) == 3
    with pytest.raises(Exception, match="run has ended"):
        seen[0].draw(1)
    assert [r.success for r in res] == [False] * 3 and all("grade" in r.details for r in res)
    # not vetted: each member is charged the whole batch's draws; its own count stays in the details
    assert [r.queries for r in res] == [9] * 3
    assert [r.details["queries_this_run"] for r in res] == [o.ledger.total for o in oracles] == [3] * 3
    assert all(r.details["queries_pooled"] for r in res)
    with pytest.raises(InvalidParameterError, match="_learn_many"):
        learners.make("gf2-elimination").learn_many(oracles)


def test_only_the_exact_vetted_class_and_hook_are_batched():
    assert batch_vetted(SGDMLP)

    class Sub(SGDMLP):
        pass

    class OwnHook(SGDMLP):
        def _learn_many(self, handles, seeds):
            return super()._learn_many(handles, seeds)

    assert not batch_vetted(Sub) and not batch_vetted(OwnHook) and not batch_vetted(Learner)


def test_sweep_does_not_batch_an_unvetted_hook(tmp_path, registered):
    calls = []

    class Hooked(Learner):
        oracle_kinds = ("example",)

        def __init__(self, *, seed=None):
            self.seed = seed

        def _learn(self, h):
            h.draw(2)
            return Parity(h.domain.d, []), {}

        def _learn_many(self, handles, seeds):
            calls.append(len(handles))
            return [self._learn(h) for h in handles]

    registered("hostile-hooked", Hooked)
    from sqsim import experiments

    rep = experiments.run(_sweep(tmp_path / "r.jsonl", "hostile-hooked"), progress=False)
    assert calls == [] and len(rep.records) == 3
    assert all(r["queries"] == 2 and "grade" in r["details"] and r["error"] is None for r in rep.records)


def test_sweep_refuses_a_result_the_framework_did_not_grade_or_count(tmp_path, registered):
    from sqsim import experiments

    class Forger(Learner):  # overrides learn and writes its own outcome
        oracle_kinds = ("example",)
        mode = "ungraded"

        def __init__(self, *, seed=None):
            self.seed = seed

        def _learn(self, h):
            h.draw(5)
            return Parity(h.domain.d, []), {}

        def learn(self, oracle, **kw):
            if self.mode == "ungraded":
                return LearnResult(None, True, 0, {})
            res = super().learn(oracle, **kw)
            if self.mode == "success":
                res.success = True
            else:
                res.queries = 1
            return res

    registered("hostile-forger", Forger)
    for mode, why in (("ungraded", "not a LearnResult graded"), ("success", "grade says"),
                      ("queries", "recorded 5")):
        Forger.mode = mode
        rep = experiments.run(_sweep(tmp_path / f"{mode}.jsonl", "hostile-forger", seeds=1), progress=False)
        (rec,) = rep.records
        assert rec["success"] is False and why in rec["error"], (mode, rec["error"])
        assert rec["queries"] == (0 if mode == "ungraded" else 5)


# ---------------------------------------------------------------------------- A4: pooling
class PoolingSGD(SGDMLP):
    """Inherits sgd-mlp's hook but overrides what it calls: pools every member's examples."""

    def __init__(self, per_member=8, **kw):
        super().__init__(**kw)
        self.per_member = per_member

    def _train(self, members):
        d = members[0].handle.domain.d
        X, y = zip(*(m.handle.draw(self.per_member) for m in members))
        S = gf2_solve(np.concatenate(X), np.concatenate(y))
        return [(Parity(d, S if S is not None else []), {"pooled": True}) for _ in members]


def test_pooling_is_charged_the_whole_batch():
    f = Parity(16, [1, 4, 9, 13])
    oracles = [ExampleOracle(BooleanCube(16), f, seed=s) for s in range(4)]
    res = PoolingSGD(per_member=8, seed=0).learn_many(oracles)
    assert [o.ledger.total for o in oracles] == [8] * 4
    assert [r.queries for r in res] == [32] * 4  # 32 examples can identify the parity; 8 cannot
    assert [r.details["queries_this_run"] for r in res] == [8] * 4
    # the library's own class is vetted: its members are charged their own draws
    own = SGDMLP(width=8, steps=10, eval_every=10, holdout=10, seed=0).learn_many(
        [ExampleOracle(BooleanCube(6), Parity(6, [0]), seed=s) for s in range(2)])
    assert [r.queries for r in own] == [r.details["queries_this_run"] for r in own] == [10 + 320] * 2
    assert not any("queries_pooled" in r.details for r in own)


def test_sweep_never_batches_a_pooling_subclass(tmp_path, registered):
    registered("hostile-pooling", PoolingSGD)
    from sqsim import experiments

    rep = experiments.run(_sweep(tmp_path / "r.jsonl", {"name": "hostile-pooling", "per_member": 8}, d=16, k=4),
                          progress=False)
    assert [r["queries"] for r in rep.records] == [8] * 3
    assert not any(r["success"] for r in rep.records)  # alone, 8 examples do not pin a 16-bit parity
    assert not any("batched" in r["details"] for r in rep.records)


# ---------------------------------------------------------------------------- A9: a failed batch
STASH: dict = {}


class Stasher(Learner):
    """Batched: solves every member's parity from its own handle, stashes it under the first example, raises.
    Alone: one example finds the stashed answer (if the framework reran the same seeds on a fresh oracle)."""

    oracle_kinds = ("example",)
    draw_before_failing = True

    def __init__(self, *, seed=None):
        self.seed = seed

    def _learn_many(self, handles, seeds):
        if self.draw_before_failing:
            for h in handles:
                X0, y0 = h.draw(1)
                X, y = h.draw(20 * h.domain.d)
                STASH[X0.tobytes() + y0.tobytes()] = gf2_solve(X, y)
        raise RuntimeError("batch failed (on purpose)")

    def _learn(self, h):
        X0, y0 = h.draw(1)
        S = STASH.get(X0.tobytes() + y0.tobytes())
        return Parity(h.domain.d, S if S is not None else []), {"from_stash": S is not None}


def test_a_failed_batch_that_saw_data_is_not_rerun(tmp_path, registered, monkeypatch):
    registered("hostile-stash", Stasher)
    monkeypatch.setitem(_learning._VETTED_BATCH_HOOKS, Stasher, Stasher.__dict__["_learn_many"])  # as if vetted
    monkeypatch.setattr(Stasher, "draw_before_failing", True)
    STASH.clear()
    from sqsim import experiments
    from sqsim.experiments._config import load_config
    from sqsim.experiments._runner import build

    cfg = _sweep(tmp_path / "r.jsonl", "hostile-stash")
    rep = experiments.run(cfg, progress=False)
    assert len(STASH) == 3 and len(rep.records) == 3
    for rec, cell in zip(sorted(rep.records, key=lambda r: r["seed_index"]),
                         sorted(load_config(cfg).cells, key=lambda c: c["seed_index"])):
        assert rec["success"] is False and "batch failed" in rec["error"]
        assert rec["queries"] == 1 + 20 * 12 and "from_stash" not in rec["details"]
        o = build(cell)[1]  # the batch oracle's ledger: a fresh oracle with the cell's seed, drawn the same way
        o.draw(1), o.draw(20 * 12)
        assert rec["ledger_fingerprint"] == o.ledger.fingerprint()


def test_a_batch_that_fails_before_any_data_runs_cell_by_cell(tmp_path, registered, monkeypatch):
    registered("hostile-stash", Stasher)
    monkeypatch.setitem(_learning._VETTED_BATCH_HOOKS, Stasher, Stasher.__dict__["_learn_many"])
    monkeypatch.setattr(Stasher, "draw_before_failing", False)
    STASH.clear()
    from sqsim import experiments

    rep = experiments.run(_sweep(tmp_path / "r.jsonl", "hostile-stash"), progress=False)
    assert [(r["error"], r["queries"], r["details"]["from_stash"]) for r in rep.records] == [(None, 1, False)] * 3


# ---------------------------------------------------------------------------- A6: bit-identical members
W_NET = np.array([[1.0, -0.5], [0.3, 0.8], [-0.6, 0.2]])
A6 = {"width": 32, "lr": 0.02, "steps": 600, "eval_every": 50, "holdout": 500, "seed": 0}


def _gauss(s):
    return ExampleOracle(Gaussian(3), NaturalWeightsNetwork(W_NET, clip=False), seed=s)


def test_batched_member_is_bit_identical_to_its_run_alone():
    X = np.random.default_rng(0).standard_normal((200, 3))
    ref_o = _gauss(0)
    ref = learners.make("sgd-mlp", target_relative_error=0.0, **A6).learn(ref_o)
    curve = ref.details["curve_heldout"]
    for M in (2, 5):
        os_ = [_gauss(s) for s in range(M)]
        many = learners.make("sgd-mlp", target_relative_error=0.0, **A6).learn_many(os_)
        assert many[0].details["curve_heldout"] == curve  # exactly, not up to rounding
        np.testing.assert_array_equal(many[0].hypothesis.scores(X), ref.hypothesis.scores(X))
        assert os_[0].ledger.fingerprint() == ref_o.ledger.fingerprint()
    # the review's test: a threshold taken from the single run's own curve (a new low), where rounding between
    # batch widths decided whether the member stopped
    lows = [k for k in range(2, len(curve)) if curve[k] < min(curve[:k])][:3]
    assert lows
    for k in lows:
        thr = float(curve[k])
        o1 = _gauss(0)
        one = learners.make("sgd-mlp", target_relative_error=thr, **A6).learn(o1)
        assert one.details["steps"] == ref.details["curve_step"][k] and one.details["stop"] == "target"
        os_ = [_gauss(s) for s in range(4)]
        many = learners.make("sgd-mlp", target_relative_error=thr, **A6).learn_many(os_)
        assert (many[0].details["steps"], many[0].details["stop"]) == (one.details["steps"], "target")
        assert os_[0].ledger.fingerprint() == o1.ledger.fingerprint()
