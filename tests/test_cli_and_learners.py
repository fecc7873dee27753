import json
from sqsim.oracles._grading import grade
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import learners
from sqsim import BooleanCube, Character, SQOracle
from sqsim.concepts import Parity

ROOT = Path(__file__).resolve().parent.parent


def _env():
    """The checkout first on PYTHONPATH, so subprocesses (and their cwd elsewhere) import this sqsim."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


@pytest.mark.parametrize("answers", ["exact", "adversarial", "noisy", "rounded"])
def test_brute_force_count_equals_rank(answers):
    d = 8
    for seed in range(5):
        code = int(np.random.default_rng(seed).integers(1, 2**d))
        f = Parity(d, [j for j in range(d) if (code >> j) & 1])
        o = SQOracle(BooleanCube(d), f, 0.1, answers=answers, seed=seed)
        res = learners.make("parity-brute-force", seed=seed).learn(o)
        order = np.random.default_rng(seed).permutation(np.arange(1, 2**d))
        rank = int(np.flatnonzero(order == code)[0]) + 1
        assert res.success and res.hypothesis == f
        assert res.queries == rank == len(o.ledger) == res.details["rank"]
        assert res.details["grade"]["mismatches"] == 0


def test_grading_is_not_a_query():
    o = SQOracle(BooleanCube(5), Parity(5, [1]), 0.1, seed=0)
    o.ask(Character(5, [1]))
    g = grade(o, Parity(5, [2]))
    assert not g["success"] and g["mismatches"] == 16 and len(o.ledger) == 1


def test_cli_demo_runs_with_no_arguments(tmp_path):
    """The real `sqsim demo`: no arguments, writes sqsim-demo/ in the working directory and says where."""
    r = subprocess.run([sys.executable, "-m", "sqsim", "demo"], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path, env=_env(), check=False)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "sqsim-demo"
    assert "Median queries" in r.stdout and "adversarial" in r.stdout and "theory: SQ lower bound" in r.stdout
    assert "sqsim-demo/results.jsonl" in r.stdout and "sqsim-demo/summary.txt" in r.stdout
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert {x["schema"] for x in lines} == {1} and all(x["error"] is None for x in lines)
    parity = [x for x in lines if x["family"] == "parity"]
    assert max(x["d"] for x in parity) >= 14 and {x["strategy"] for x in parity} >= {"exact", "adversarial"}
    lifted = [x for x in lines if x["family"] == "lifted-parity"]
    assert lifted and all(x["success"] and x["oracle"] == "lifted" for x in lifted)
    # every learner that can succeed does; the exact-answer cheat fails exactly against the adversary
    for x in lines:
        assert x["success"] == (not (x["learner"] == "exact-cheat" and x["strategy"] == "adversarial")), x
    for name in ("queries_vs_d_parity", "queries_vs_d_lifted-parity"):
        assert (out / f"{name}.png").stat().st_size > 20_000 and (out / f"{name}.svg").exists()
    assert "Median queries" in (out / "summary.txt").read_text()


def test_cli_rejects_bad_arguments():
    r = subprocess.run([sys.executable, "-m", "sqsim", "demo", "--tau", "0.7"], capture_output=True, text=True,
                       env=_env(), check=False)
    assert r.returncode == 2 and "--tau" in r.stderr and "0.7" in r.stderr
    r = subprocess.run([sys.executable, "-m", "sqsim", "sweep", "cfg.toml", "--workers", "0"], capture_output=True,
                       text=True, env=_env(), check=False)
    assert r.returncode == 2 and "--workers" in r.stderr and "0" in r.stderr
    r = subprocess.run([sys.executable, "-m", "sqsim", "run", "no-such-experiment"], capture_output=True, text=True,
                       env=_env(), check=False)
    assert r.returncode == 2 and "no-such-experiment" in r.stderr and "parity-queries" in r.stderr


def test_cli_help_documents_every_command():
    r = subprocess.run([sys.executable, "-m", "sqsim", "--help"], capture_output=True, text=True, env=_env(),
                       check=False)
    assert r.returncode == 0
    for word in ("demo", "sweep", "plot", "run", "bench", "--workers", "--resume", "--scheduler", "python -m sqsim"):
        assert word in r.stdout, word
    r = subprocess.run([sys.executable, "-m", "sqsim", "sweep", "--help"], capture_output=True, text=True,
                       env=_env(), check=False)
    for word in ("[[grid]]", "learner", "family", "strategy", "seeds", "--resume", "--scheduler", "ADDRESS",
                 "lifted-parity", "LiftedOracle"):
        assert word in r.stdout, word
    r = subprocess.run([sys.executable, "-m", "sqsim", "run", "--list"], capture_output=True, text=True,
                       env=_env(), check=False)
    assert r.returncode == 0
    for name in ("parity-queries", "lifted-parities", "gadget-masses"):
        assert name in r.stdout


def test_bench_json_reports_required_names():
    """Structure only: the numbers themselves are reported, never asserted (no timing in tests); --smoke runs
    every benchmark at a tiny size (`sqsim bench --json --quick` is the measured run)."""
    r = subprocess.run([sys.executable, "-m", "sqsim", "bench", "--json", "--smoke"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    for name in ("cube_expectation_d24", "fwht_d24", "fwht_d20", "cube_expectation_d16", "network_d32",
                 "lifted_closed_form_d16", "lifted_network_d16", "adapter_d16", "sq_query_overhead",
                 "lifted_query_structured_d16", "lifted_query_generic_d16", "sgd_mlp_steps", "sda_parities_d16"):
        assert set(data[name]) == {"value", "unit", "reference_value", "ratio"}
        assert data[name]["value"] > 0 and data[name]["reference_value"] > 0
