"""sqsim.nn and the sgd-mlp learner: models, losses, counting, seeds, batched training, sealing, the missing extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import learners
from sqsim import BooleanCube, ExampleOracle, Gaussian, InvalidParameterError, SealError, SQSimError
from sqsim.concepts import NaturalWeightsNetwork, Parity

jax = pytest.importorskip("jax")
pytest.importorskip("optax")

from sqsim.nn import LOSSES, MLP, MissingExtraError, require_jax, to_pm1  # noqa: E402

#: small, fast settings (n = 8, k = 2 parities are learnt in a few hundred steps)
FAST = dict(width=64, steps=3000, eval_every=50, holdout=300, lr=0.1)


def parity_oracle(seed, d=8, support=(0, 3), budget=None):
    return ExampleOracle(BooleanCube(d), Parity(d, list(support)), seed=seed, budget=budget)


# ---------------------------------------------------------------------------- models and losses
def test_mlp_shapes_params_and_bias_off():
    m = MLP(5, (7, 3))
    p = m.init(0)
    assert [W.shape for W, _ in p] == [(5, 7), (7, 3), (3, 1)]
    assert m.n_params == 5 * 7 + 7 + 7 * 3 + 3 + 3 + 1
    X = np.random.default_rng(0).standard_normal((4, 5))
    nb = MLP(5, (7,), bias=False)
    # jitted: one compilation each instead of one per operation (the same function, a faster test)
    apply_m, apply_nb = jax.jit(m.apply), jax.jit(nb.apply)
    assert apply_m(p, X).shape == (4,)
    q = nb.init(1)
    assert nb.n_params == 5 * 7 + 7
    # biases are ignored without bias: changing them changes nothing, and their gradient is exactly zero
    q2 = [(W, b + 3.0) for W, b in q]
    np.testing.assert_array_equal(np.asarray(apply_nb(q, X)), np.asarray(apply_nb(q2, X)))
    g = jax.jit(jax.grad(lambda ps: nb.apply(ps, X).sum()))(q)
    assert all(float(np.abs(np.asarray(b)).max()) == 0.0 for _, b in g)
    # the forward pass is ReLU hidden layers and a linear output (written out), and apply_numpy is its twin
    h = np.maximum(X @ np.asarray(p[0][0]) + np.asarray(p[0][1]), 0)
    h = np.maximum(h @ np.asarray(p[1][0]) + np.asarray(p[1][1]), 0)
    ref = (h @ np.asarray(p[2][0]) + np.asarray(p[2][1]))[:, 0]
    np.testing.assert_allclose(np.asarray(apply_m(p, X)), ref, rtol=1e-5, atol=1e-6)
    for model, apply, ps in ((m, apply_m, p), (nb, apply_nb, q2)):
        np.testing.assert_allclose(model.apply_numpy(ps, X), np.asarray(apply(ps, X)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("init, var", [("he", 2.0 / 400), ("lecun", 1.0 / 400), ("normal", 1.0)])
def test_mlp_initialisation_variance(init, var):
    W = np.asarray(MLP(400, (500,), init=init).init(3)[0][0])
    assert abs(W.var() / var - 1) < 0.02  # 2e5 entries: the relative sd of the variance is 0.3 %


def test_losses_match_their_formulas():
    pred = np.linspace(-3, 3, 13)
    for y in (-1.0, 1.0):
        np.testing.assert_allclose(np.asarray(LOSSES["square"](pred, y)), 0.5 * (pred - y) ** 2, rtol=1e-6)
        np.testing.assert_allclose(np.asarray(LOSSES["hinge"](pred, y)), np.maximum(0, 1 - y * pred), rtol=1e-6)
        np.testing.assert_allclose(np.asarray(LOSSES["logistic"](pred, y)), np.log1p(np.exp(-y * pred)), rtol=1e-5)
    assert to_pm1(np.array([0, 1])).tolist() == [1, -1]


def test_mlp_bad_parameters_name_themselves():
    with pytest.raises(InvalidParameterError, match="'widths' parameter of MLP"):
        MLP(3, (0,))
    with pytest.raises(InvalidParameterError, match="'init' parameter of MLP"):
        MLP(3, init="xavier")
    with pytest.raises(InvalidParameterError, match="'lr' parameter of SGDMLP.*Got -1"):
        learners.make("sgd-mlp", lr=-1)
    with pytest.raises(InvalidParameterError, match="'loss' parameter of SGDMLP"):
        learners.make("sgd-mlp", task="regression", loss="hinge")


# ---------------------------------------------------------------------------- the learner
def test_sgd_mlp_learns_a_parity_and_counts_every_example():
    oracle = parity_oracle(1)
    res = learners.make("sgd-mlp", seed=0, **FAST).learn(oracle)
    det = res.details
    assert res.success and det["stop"] == "target" and det["heldout_accuracy"] == 1.0
    # every example: the held-out set, then batch * steps training examples, nothing else
    assert oracle.ledger.total == res.queries == det["examples"] == 300 + 32 * det["steps"]
    assert {r.kind for r in oracle.ledger} == {"example"}
    assert len(det["curve_step"]) == len(det["curve_loss"]) == len(det["curve_distance"]) == det["steps"] // 50
    assert det["curve_distance"][-1] > det["curve_distance"][0] > 0  # hidden progress: the weights move
    assert set(np.unique(res.hypothesis(np.eye(8, dtype=np.int64)))) <= {0, 1}


def test_fixed_training_set_draws_once():
    oracle = parity_oracle(2)
    res = learners.make("sgd-mlp", seed=0, train_size=2000, **FAST).learn(oracle)
    assert oracle.ledger.total == res.queries == 300 + 2000
    assert [r.extra["count"] for r in oracle.ledger] == [300, 2000]
    assert res.details["training"] == "fixed" and res.details["steps"] > 2000 // 32  # several epochs


def test_budget_stops_training_without_overdrawing():
    # the full parity of {0,1}^8 stays near chance for 150 steps (it needs about 1000), so the budget stops it;
    # FAST's own program (compiled once for the file)
    oracle = parity_oracle(3, support=range(8), budget=300 + 32 * 50 * 3 + 10)
    res = learners.make("sgd-mlp", seed=0, **FAST).learn(oracle)
    assert max(res.details["curve_heldout"]) < 0.9
    assert res.details["stop"] == "budget" and res.details["steps"] == 150
    assert oracle.ledger.total == 300 + 32 * 150


def test_same_seed_same_run_other_seed_other_network():
    X = np.random.default_rng(0).integers(0, 2, size=(200, 8))
    runs = []
    for seed in (5, 5, 6):
        o = parity_oracle(4)
        r = learners.make("sgd-mlp", seed=seed, **{**FAST, "steps": 100}).learn(o)
        runs.append((o.ledger.fingerprint(), r.hypothesis.scores(X)))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.allclose(runs[0][1], runs[2][1])


def test_learn_many_equals_separate_learns():
    learner = learners.make("sgd-mlp", seed=0, **FAST)
    X = np.random.default_rng(1).integers(0, 2, size=(256, 8))
    seeds = [10, 11, 12]
    many = learner.learn_many([parity_oracle(s, support=(0, 1 + s)) for s in range(3)], seeds=seeds)
    for s, r in enumerate(many):
        o = parity_oracle(s, support=(0, 1 + s))
        one = learners.make("sgd-mlp", seed=seeds[s], **FAST).learn(o)
        assert r.details["ledger_total"] == o.ledger.total
        assert r.details["steps"] == one.details["steps"]
        assert r.success == one.success
        # bit-identical (docs/theory/sgd.md, section sgd-batched)
        np.testing.assert_array_equal(r.hypothesis.scores(X), one.hypothesis.scores(X))
        assert r.details["curve_heldout"] == one.details["curve_heldout"]
    # the default: every member uses the learner's seed, as learn(oracle) would (3 members: the same program)
    os_ = [parity_oracle(7), parity_oracle(8), parity_oracle(9)]
    fps = [r.details["ledger_total"] for r in learner.learn_many(os_)]
    singles = [parity_oracle(7), parity_oracle(8), parity_oracle(9)]
    for o in singles:
        learner.learn(o)
    assert [o.ledger.fingerprint() for o in os_] == [o.ledger.fingerprint() for o in singles]
    assert fps == [o.ledger.total for o in singles]


def test_learn_many_uses_only_sealed_handles(monkeypatch):
    from learners.sgd import SGDMLP
    from sqsim.oracles import OracleHandle

    seen = []
    real = SGDMLP._train

    def spy(self, members):
        for m in members:
            seen.append(m.handle)
            assert type(m.handle) is OracleHandle
            with pytest.raises(SealError):
                m.handle._target  # noqa: B018
            with pytest.raises(SealError):
                m.handle.ask(None)
        return real(self, members)

    monkeypatch.setattr(SGDMLP, "_train", spy)
    learner = learners.make("sgd-mlp", seed=0, **{**FAST, "steps": 50})
    learner.learn_many([parity_oracle(0), parity_oracle(1), parity_oracle(3)])
    learner.learn(parity_oracle(2))
    assert len(seen) == 4
    for h in seen:  # closed after the run
        with pytest.raises(SealError, match="run has ended"):
            h.draw(1)
    o = parity_oracle(0)
    with pytest.raises(SealError):
        learner.learn_many([OracleHandle(o)])
    with pytest.raises(InvalidParameterError, match="distinct oracles"):
        learner.learn_many([o, o])
    with pytest.raises(InvalidParameterError, match="one domain"):
        learner.learn_many([o, parity_oracle(1, d=9)])
    with pytest.raises(InvalidParameterError, match="'seeds' parameter"):
        learner.learn_many([o], seeds=[1, 2])


def test_regression_target_natural_weights():
    W = np.array([[1.0, -0.5], [0.3, 0.8], [-0.6, 0.2]])
    oracle = ExampleOracle(Gaussian(3), NaturalWeightsNetwork(W, clip=False), seed=0)
    res = learners.make("sgd-mlp", seed=0, width=32, lr=0.02, steps=4000, eval_every=100, holdout=500,
                        target_relative_error=0.01).learn(oracle)
    det = res.details
    assert det["task"] == "regression" and det["loss"] == "square" and det["inputs"] == "raw"
    assert det["heldout_relative_error"] <= 0.01 and res.success
    assert oracle.ledger.total == 500 + 32 * det["steps"]


def test_lifted_parity_student_has_two_hidden_layers():
    from sqsim.lift import CompressedLift, LiftedConcept

    target = LiftedConcept(CompressedLift(d=3, q=2, delta=0.1), Parity(3, [0, 2]))
    oracle = ExampleOracle(Gaussian(3), target, seed=0)
    res = learners.make("sgd-mlp", seed=0, depth=2, width=32, steps=200, eval_every=100, holdout=200).learn(oracle)
    assert res.details["task"] == "regression" and res.details["n_params"] == 3 * 32 + 32 + 32 * 32 + 32 + 33
    assert oracle.ledger.total == 200 + 32 * res.details["steps"]


# ---------------------------------------------------------------------------- without the nn extra
def test_missing_jax_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'sqsim\[nn\]'") as info:
        require_jax("the test")
    assert isinstance(info.value, ImportError) and isinstance(info.value, SQSimError)
    with pytest.raises(MissingExtraError, match=r"sqsim\[nn\]"):
        learners.make("sgd-mlp", seed=0, **{**FAST, "steps": 50}).learn(parity_oracle(0))
    with pytest.raises(ImportError, match=r"sqsim\[nn\]"):
        MLP(3).init(0)


def test_sqsim_imports_without_jax_and_never_imports_it_eagerly():
    code = textwrap.dedent("""
        import sys
        import sqsim, sqsim.nn, learners, sqsim.experiments.paper
        assert "jax" not in sys.modules and "optax" not in sys.modules, "jax imported eagerly"
        sys.modules["jax"] = None
        sys.modules["optax"] = None
        from sqsim import BooleanCube, ExampleOracle
        from sqsim.concepts import Parity
        assert "sgd-mlp" in learners.available()
        try:
            learners.make("sgd-mlp", seed=0).learn(ExampleOracle(BooleanCube(4), Parity(4, [0]), seed=0))
        except ImportError as exc:
            print("ERR", exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ERR" in out.stdout and "pip install 'sqsim[nn]'" in out.stdout


def test_bench_entry_checks_the_numpy_step_against_the_program():
    from sqsim._bench import _numpy_sgd_step, bench_sgd_mlp

    r = bench_sgd_mlp(6, 16, 8, 10, 2)  # asserts internally that one numpy step equals the program's step
    assert r["unit"] == "steps/s" and r["value"] > 0 and r["reference_value"] > 0
    # the numpy step is a descent step on the hinge loss of its batch (a check independent of JAX)
    rng = np.random.default_rng(0)
    p = [(rng.standard_normal((6, 16)) * 0.5, np.zeros(16)), (rng.standard_normal((16, 1)) * 0.25, np.zeros(1))]
    X, y = 1.0 - 2.0 * rng.integers(0, 2, size=(64, 6)), 1.0 - 2.0 * rng.integers(0, 2, size=64)

    def hinge(ps):
        h = np.maximum(X @ ps[0][0] + ps[0][1], 0)
        return np.maximum(0, 1 - y * (h @ ps[1][0] + ps[1][1])[:, 0]).mean()

    assert hinge(_numpy_sgd_step(p, X, y, 1e-3)) < hinge(p)


# ---------------------------------------------------------------------------- sweeps
def _sgd_sweep(path):
    # FAST's program on {0,1}^8 (compiled once for the file); two groups of seed cells that differ in a
    # learner parameter that does not change the compiled program
    params = {**FAST, "steps": 300}
    return {"name": "sgd-small", "seed": 3, "seeds": 3, "tau": 0.1, "results": str(path),
            "grid": [{"learner": {"name": "sgd-mlp", **params, "target_accuracy": acc},
                      "family": {"name": "sparse-parity", "k": 2}, "d": [8]} for acc in (1.0, 0.99)]
            + [{"learner": "gf2-elimination", "family": "parity", "d": [5]}]}


def test_sweep_batches_seed_cells_through_learn_many(tmp_path, monkeypatch):
    from learners.sgd import SGDMLP
    from sqsim import experiments
    from sqsim.experiments._config import load_config
    from sqsim.experiments._runner import run_cell, seed_groups

    cells = load_config(_sgd_sweep(tmp_path / "x.jsonl")).cells
    groups = seed_groups(cells)
    sizes = sorted((g[0]["learner"], g[0]["d"], g[0]["params"].get("target_accuracy"), len(g)) for g in groups)
    assert sizes == [("gf2-elimination", 5, None, 1)] * 3 + [("sgd-mlp", 8, 0.99, 3), ("sgd-mlp", 8, 1.0, 3)]
    calls = []
    real = SGDMLP.learn_many
    monkeypatch.setattr(SGDMLP, "learn_many", lambda self, o, **kw: calls.append(len(o)) or real(self, o, **kw))
    report = experiments.run(_sgd_sweep(tmp_path / "batched.jsonl"), progress=False)
    assert calls == [3, 3] and report.errors == 0
    for rec in report.records:  # the same lines as the cells run one by one
        alone = run_cell({k: v for k, v in rec.items() if k in cells[0]})
        assert rec["ledger_fingerprint"] == alone["ledger_fingerprint"]
        assert (rec["queries"], rec["success"], rec["target"]) == (alone["queries"], alone["success"], alone["target"])
        if rec["learner"] == "sgd-mlp":
            assert rec["details"]["batched"] == 3 and rec["details"]["steps"] == alone["details"]["steps"]


def test_readme_sgd_example_runs(capsys):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = text.split("## Gradient-trained networks")[1].split("```py\n")[1].split("```")[0]
    ns: dict = {}
    exec(compile(block, "README-sgd", "exec"), ns)  # our own README, not a user file
    assert all(r.success for r in ns["results"])
    assert [o.ledger.total for o in ns["oracles"]] == [1000 + 32 * r.details["steps"] for r in ns["results"]]


def test_sgd_parity_is_registered_and_its_fit_recovers_an_exponent():
    from sqsim.experiments import paper
    from sqsim.experiments._sgd import fit_exponent

    assert "sgd-parity" in paper.EXPERIMENTS
    ns = np.array([10, 20, 40, 80] * 5)
    exact = fit_exponent(ns, 3.0 * ns**2.5)
    assert abs(exact["exponent"] - 2.5) < 1e-9 and exact["ci"][1] - exact["ci"][0] < 1e-6
    # with log-normal noise the 95 % interval covers the true exponent in about 95 % of the trials
    rng = np.random.default_rng(0)
    cover = [lo <= 2.5 <= hi for lo, hi in (fit_exponent(ns, 3.0 * ns**2.5 * np.exp(0.3 * rng.standard_normal(ns.size)))
                                            ["ci"] for _ in range(400))]
    assert 0.91 <= np.mean(cover) <= 0.98
    assert fit_exponent([10, 10], [5, 6])["exponent"] is None
