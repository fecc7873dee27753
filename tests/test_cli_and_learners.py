import json
import subprocess
import sys

import numpy as np
import pytest

import learners
from sqsim import BooleanCube, Character, SQOracle
from sqsim.concepts import Parity


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
    g = o._grade(Parity(5, [2]))
    assert not g["success"] and g["mismatches"] == 16 and len(o.ledger) == 1


def test_cli_demo_writes_results(tmp_path):
    out = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "sqsim", "demo", "--out", str(out), "--d-max", "8", "--seeds", "2"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "median queries" in r.stdout and "adversarial" in r.stdout
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 3 * 2 * 2 and all(x["success"] for x in lines)
    assert {x["schema"] for x in lines} == {1}


def test_cli_rejects_bad_arguments():
    r = subprocess.run([sys.executable, "-m", "sqsim", "demo", "--tau", "0.7"], capture_output=True, text=True)
    assert r.returncode == 2 and "--tau" in r.stderr and "0.7" in r.stderr
    r = subprocess.run([sys.executable, "-m", "sqsim", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "demo" in r.stdout and "bench" in r.stdout


def test_bench_json_reports_required_names():
    """Structure only: the numbers themselves are reported, never asserted (no timing in tests)."""
    r = subprocess.run([sys.executable, "-m", "sqsim", "bench", "--json", "--quick"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    for name in ("cube_expectation_d24", "fwht_d24", "fwht_d20", "cube_expectation_d16", "network_d32",
                 "lifted_closed_form_d16", "lifted_network_d16", "adapter_d16"):
        assert set(data[name]) == {"value", "unit", "reference_value", "ratio"}
        assert data[name]["value"] > 0 and data[name]["reference_value"] > 0
