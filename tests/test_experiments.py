"""sqsim.experiments: validation before any cell, identity-derived seeds, SIGKILL + resume,
1 worker versus a 2-process Dask cluster, medians between the bounds, plots, demo, paper runs."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import learners
from sqsim import InvalidParameterError, bounds, experiments
from sqsim.experiments import paper
from sqsim.experiments._demo import demo

ROOT = Path(__file__).resolve().parent.parent


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def _by_cell(records):
    out = {}
    for r in records:
        assert r["cell"] not in out, f"cell {r['cell']} written twice"
        out[r["cell"]] = experiments.strip_timing(r)
    return out


def _small_config(results, **extra):
    grid = [
        {"learner": "parity-brute-force", "family": "parity", "d": [4, 6, 8, 10], "strategy": ["exact", "adversarial"]},
        {"learner": {"name": "low-degree", "k": 2}, "family": {"name": "sparse-parity", "k": 2}, "d": [4, 6, 8, 10]},
        {"learner": "gf2-elimination", "family": "parity", "d": [4, 6, 8, 10]},
        {"learner": "lifted-parity-brute-force", "family": "lifted-parity", "d": [3], "tau": 0.028, "seeds": 1},
    ]
    return {"name": "small", "seed": 11, "seeds": 5, "tau": 0.1, "results": str(results), "grid": grid, **extra}


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory):
    path = tmp_path_factory.mktemp("small") / "small.jsonl"
    report = experiments.run(_small_config(path), progress=False)
    return report


# ---------------------------------------------------------------------- validation
BAD = [
    ("unknown learner", {"learner": "no-such-learner"}, ["'learner'", "no-such-learner"]),
    ("d below 1", {"d": [4, 0]}, ["'d'", "0"]),
    ("tau above 1", {"tau": 1.5}, ["'tau'", "1.5"]),
    ("tau zero", {"tau": 0.0}, ["'tau'", "0.0"]),
    ("unknown key", {"colour": "blue"}, ["'colour'", "blue"]),
    ("unknown strategy", {"strategy": ["exact", "sneaky"]}, ["'strategy'", "sneaky"]),
    ("unknown family", {"family": "hexagons"}, ["'family'", "hexagons"]),
    ("unknown learner parameter", {"learner": {"name": "parity-brute-force", "k": 3}}, ["'k'", "3"]),
    ("bad learner parameter value", {"learner": {"name": "low-degree", "k": -1}}, ["'k'", "-1"]),
    ("lifted tau above the signal budget", {"learner": "lifted-parity-brute-force", "family": "lifted-parity",
                                             "d": [3], "tau": 0.2}, ["'tau'", "0.2"]),
    ("Gaussian learner on a Boolean family", {"learner": "lifted-parity-brute-force"},
     ["'learner'", "lifted-parity-brute-force"]),
    ("seeds zero", {"seeds": 0}, ["'seeds'", "0"]),
    ("missing required learner parameter", {"learner": "vw-cheat"}, ["'family'", "vw-cheat", "nothing"]),
]


@pytest.mark.parametrize("case, change, needles", BAD, ids=[b[0] for b in BAD])
def test_bad_config_raises_before_any_cell(tmp_path, case, change, needles):
    results = tmp_path / "r.jsonl"
    # the bad grid point comes last: a runner that started cells before validating would write lines
    config = {"seed": 1, "results": str(results), "grid": [
        {"learner": "parity-brute-force", "d": [4, 5], "tau": 0.1},
        {"learner": "parity-brute-force", "d": [4], "tau": 0.1, **change},
    ]}
    with pytest.raises(InvalidParameterError) as info:
        experiments.run(config, progress=False)
    msg = str(info.value)
    for needle in needles:
        assert needle in msg, msg
    assert "must" in msg and "Got" in msg and "instead" in msg
    assert not results.exists() or results.read_text() == ""


def test_bad_files_raise_with_the_path(tmp_path):
    missing = tmp_path / "missing.toml"
    with pytest.raises(InvalidParameterError, match="'config'") as info:
        experiments.run(missing)
    assert str(missing) in str(info.value)
    broken = tmp_path / "broken.toml"
    broken.write_text('learner = "parity-brute-force"\nd = [4, \n')
    with pytest.raises(ValueError, match="'config'") as info:  # InvalidParameterError is a ValueError
        experiments.run(broken)
    assert str(broken) in str(info.value) and "TOML" in str(info.value)
    not_utf8 = tmp_path / "bin.toml"
    not_utf8.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InvalidParameterError, match="'config'"):
        experiments.load_config(not_utf8)


def test_cli_sweep_reports_bad_config(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f'results = "{tmp_path / "out.jsonl"}"\nlearner = "parity-brute-force"\nd = [4]\ntau = 2.0\n')
    r = subprocess.run([sys.executable, "-m", "sqsim", "sweep", str(cfg)], capture_output=True, text=True, check=False,
                       env=_env(), timeout=120)
    assert r.returncode == 2 and "'tau'" in r.stderr and "2.0" in r.stderr, r.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_existing_results_need_resume_or_overwrite(tmp_path):
    results = tmp_path / "r.jsonl"
    cfg = {"learner": "parity-brute-force", "d": [4], "tau": 0.1, "results": str(results)}
    experiments.run(cfg)
    before = results.read_text()
    with pytest.raises(InvalidParameterError, match="resume"):
        experiments.run(cfg)
    assert results.read_text() == before
    # resuming with a different root seed: the file holds cells this sweep does not define
    with pytest.raises(InvalidParameterError, match="same sweep"):
        experiments.run({**cfg, "seed": 5}, resume=True)
    assert results.read_text() == before
    assert experiments.run(cfg, resume=True).ran == 0
    assert experiments.run(cfg, overwrite=True).ran == 1 and results.read_text().count("\n") == 1


# ---------------------------------------------------------------------- seeds
def test_cell_seeds_come_from_identity_not_position():
    a = experiments.load_config({"seed": 3, "seeds": 2, "learner": ["parity-brute-force"], "d": [4, 6],
                                 "tau": 0.1, "strategy": ["exact", "adversarial"]})
    b = experiments.load_config({"seed": 3, "seeds": 4, "learner": ["low-degree", "parity-brute-force"],
                                 "d": [8, 6, 4], "tau": [0.2, 0.1], "strategy": ["noisy", "adversarial", "exact"]})
    cells_b = {c["cell"]: c for c in b.cells}
    assert len(a.cells) == 8 and all(c["cell"] in cells_b and cells_b[c["cell"]] == c for c in a.cells)
    c = experiments.load_config({"seed": 4, "seeds": 2, "learner": ["parity-brute-force"], "d": [4, 6],
                                 "tau": 0.1, "strategy": ["exact", "adversarial"]})
    assert not {x["cell"] for x in a.cells} & {x["cell"] for x in c.cells}
    # paired design: every strategy at the same (d, seed index) hides the same target
    for cell in a.cells:
        twin = [x for x in a.cells if x["d"] == cell["d"] and x["seed_index"] == cell["seed_index"]]
        assert len({x["seeds"]["target"] for x in twin}) == 1 and len({x["seeds"]["oracle"] for x in twin}) == 2


# ---------------------------------------------------------------------- bounds
def test_medians_lie_between_lower_and_upper_bounds(small_sweep):
    recs = small_sweep.records
    assert small_sweep.errors == 0 and all(r["success"] for r in recs)
    checked = 0
    for (learner, strategy, d), qs in _groups(recs).items():
        med = float(np.median(qs))
        r = next(x for x in recs if (x["learner"], x["strategy"], x["d"]) == (learner, strategy, d))
        if learner == "parity-brute-force":
            lo, hi = bounds.parity_sq_lower_bound(d, r["tau"]), 2**d - 1
        elif learner == "low-degree":
            lo, hi = bounds.class_sq_lower_bound(math.comb(d, 2), r["tau"]), bounds.low_degree_queries(d, 2)
        elif learner == "gf2-elimination":
            lo, hi = d, 4 * d + 64  # rank d needs d equations; the learner's cap
        else:  # lifted-parity-brute-force: the Boolean bound at tau / 2, against the Boolean dimension
            lo, hi = bounds.parity_sq_lower_bound(d, r["tau"] / 2), 2**d - 1
        assert lo <= med <= hi, (learner, strategy, d, lo, med, hi)
        checked += 1
    assert checked == 4 * 2 + 4 + 4 + 1
    # brute force: the count is the rank of S* in the learner's order, independent of the strategy
    bf = [r for r in recs if r["learner"] == "parity-brute-force"]
    pairs = {}
    for r in bf:
        pairs.setdefault((r["d"], r["seed_index"]), set()).add(r["queries"])
    assert all(len(v) == 1 for v in pairs.values())


def _groups(recs):
    out = {}
    for r in recs:
        out.setdefault((r["learner"], r["strategy"], r["d"]), []).append(r["queries"])
    return out


def test_results_lines_carry_the_schema(small_sweep):
    lines = small_sweep.path.read_text().splitlines()
    assert len(lines) == small_sweep.cells == len(small_sweep.records)
    for line in lines:
        rec = json.loads(line)
        assert rec["schema"] == experiments.SCHEMA_VERSION
        for key in ("cell", "learner", "params", "family", "family_params", "d", "tau", "strategy", "seed_index",
                    "seeds", "queries", "success", "ledger_fingerprint", "details", "error", "timing"):
            assert key in rec, key
        assert set(rec["seeds"]) == {"root", "target", "oracle", "learner"} and rec["seeds"]["root"] == 11
        assert "seconds" not in json.dumps(rec["details"])  # timings live under "timing" only
        if rec["oracle"] == "lifted":
            assert rec["boolean_queries"] == rec["queries"]  # one Boolean query per Gaussian query
        if rec["learner"] == "gf2-elimination":
            assert rec["strategy"] == "examples" and rec["tau"] is None


# ---------------------------------------------------------------------- Dask
def test_two_dask_workers_give_identical_results(small_sweep, tmp_path):
    report = experiments.run(_small_config(tmp_path / "dask.jsonl"), workers=2, progress=False)
    assert report.ran == small_sweep.cells
    lines = [json.loads(x) for x in (tmp_path / "dask.jsonl").read_text().splitlines()]
    assert _by_cell(lines) == _by_cell(small_sweep.records)
    assert len({r["timing"]["pid"] for r in lines}) == 2  # really two worker processes


def test_an_existing_scheduler_gives_identical_results(small_sweep, tmp_path):
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        report = experiments.run(_small_config(tmp_path / "sched.jsonl"), scheduler=cluster.scheduler_address,
                                 progress=False)
    assert report.ran == small_sweep.cells
    lines = [json.loads(x) for x in (tmp_path / "sched.jsonl").read_text().splitlines()]
    assert _by_cell(lines) == _by_cell(small_sweep.records)
    assert {r["timing"]["pid"] for r in lines} != {os.getpid()}  # the cells ran in the cluster's worker


# ---------------------------------------------------------------------- SIGKILL and resume
KILL_TOML = """
name = "kill"
seed = 5
seeds = 6
results = "{results}"
learner = "parity-brute-force"
d = [11, 12, 13]
tau = 0.1
strategy = ["exact", "adversarial"]
"""


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    results = tmp_path / "killed.jsonl"
    cfg = tmp_path / "kill.toml"
    cfg.write_text(KILL_TOML.format(results=results))
    proc = subprocess.Popen([sys.executable, "-m", "sqsim", "sweep", str(cfg), "--quiet", "--no-progress"],
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if results.exists() and results.read_bytes().count(b"\n") >= 6:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the sweep finished before it could be killed: " + proc.stderr.read().decode()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = results.read_bytes()
    killed = killed[: killed.rfind(b"\n") + 1]  # the finished cells (a kill mid-write may leave a partial line)
    n_done = killed.count(b"\n")
    assert 6 <= n_done < 36
    # a kill in the middle of a write leaves a truncated last line: resume must cut it
    with open(results, "ab") as fh:
        fh.write(b'{"schema": 1, "cell": "0123456789abcdef", "learner": "parity-br')
    r = subprocess.run([sys.executable, "-m", "sqsim", "sweep", str(cfg), "--resume", "--quiet", "--no-progress"],
                       env=_env(), capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    assert f"{n_done} already done" in r.stdout
    resumed = results.read_text()
    assert resumed.startswith(killed.decode())  # finished cells kept byte for byte
    reference = experiments.run(cfg, results=tmp_path / "reference.jsonl", progress=False)
    got = _by_cell(json.loads(x) for x in resumed.splitlines())
    assert len(resumed.splitlines()) == 36 and got == _by_cell(reference.records)


# ---------------------------------------------------------------------- plots
def test_plot_writes_png_and_svg(small_sweep, tmp_path):
    written = experiments.plot(small_sweep.path, tmp_path / "plots").files  # plot returns the figures
    names = sorted(p.name for p in written)
    assert names == sorted(f"queries_vs_d_{s}.{e}" for s in ("parity", "sparse-parity-k-2", "lifted-parity")
                           for e in ("png", "svg"))
    for p in written:
        data = p.read_bytes()
        if p.suffix == ".png":
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
        else:
            text = data.decode()
            assert "<svg" in text
            for label in ("dimension d", "queries", "theory", "median"):
                assert label in text, (p.name, label)
            # the caption names an interquartile band only where one is drawn with width: >= 5 seeds at a point
            # (the lifted cell has 1) and counts that vary (low-degree asks sum_(i<=k) C(d, i) queries every time)
            assert ("interquartile" in text) == (p.stem == "queries_vs_d_parity"), p.name
    svg = (tmp_path / "plots" / "queries_vs_d_parity.svg").read_text()
    assert "SQ lower bound" in svg and "brute force 2^(d-1)" in svg and "Gaussian elimination" in svg
    assert "sum_(i&lt;=2) C(d, i)" in (tmp_path / "plots" / "queries_vs_d_sparse-parity-k-2.svg").read_text()


def test_cli_plot(small_sweep, tmp_path):
    r = subprocess.run([sys.executable, "-m", "sqsim", "plot", str(small_sweep.path), "--out", str(tmp_path)],
                       capture_output=True, text=True, env=_env(), timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "queries_vs_d_parity.png").exists() and (tmp_path / "queries_vs_d_parity.svg").exists()


# ---------------------------------------------------------------------- demo and paper experiments
def test_demo_function_writes_everything(tmp_path):
    printed = []
    out = demo(tmp_path / "demo", d_max=6, seeds=2, lifted_d_max=3, lifted_seeds=1, progress=False,
               echo=printed.append)
    recs = [json.loads(x) for x in out["results"].read_text().splitlines()]
    names = {r["learner"] for r in recs}
    assert {"parity-brute-force", "lifted-parity-brute-force"} <= names
    for optional in ("low-degree", "gf2-elimination"):
        assert (optional in names) == (optional in learners.available())
    for r in recs:  # the exact-answer cheat is the one learner the adversary defeats
        assert r["success"] == (not (r["learner"] == "exact-cheat" and r["strategy"] == "adversarial")), r
    assert {r["strategy"] for r in recs} >= {"exact", "adversarial"}
    assert {p.suffix for p in out["plots"]} == {".png", ".svg"}
    summary = out["summary"].read_text()
    assert "Median queries" in summary and "theory: SQ lower bound" in summary and str(out["results"]) in summary
    assert str(out["summary"]) in "\n".join(printed)


def test_paper_registry_and_gadget_masses(tmp_path):
    assert {"parity-queries", "lifted-parities", "gadget-masses"} <= set(paper.EXPERIMENTS)
    for fn in paper.EXPERIMENTS.values():
        assert fn.__doc__ and len(fn.__doc__.split()) > 20
    out = paper.run_experiment("gadget-masses", tmp_path, quick=True)
    rows = [json.loads(x) for x in out["results"].read_text().splitlines()]
    assert len(rows) == 6
    for r in rows:
        for key in ("P_G", "P_nonzero"):
            # exact against 1e5 samples: |z| < 5 fails with probability < 1e-5 per comparison
            assert abs(r[f"{key}_z"]) < 5, r
        assert r["P_G_exact"] < r["P_nonzero_exact"]
    assert {p.suffix for p in out["plots"]} == {".png", ".svg"}


def test_lifted_parities_follow_the_boolean_counts(tmp_path):
    out = paper.run_experiment("lifted-parities", tmp_path, quick=True, progress=False)
    recs = out["report"].records
    lifted = {(r["d"], r["seed_index"]): r for r in recs if r["oracle"] == "lifted"}
    boolean = {(r["d"], r["seed_index"]): r for r in recs if r["oracle"] == "sq"}
    assert lifted.keys() == boolean.keys() and len(lifted) == 8  # quick: d = 3..6, 2 seeds
    for key, r in lifted.items():
        assert r["success"] and boolean[key]["success"]
        assert r["target"]["support"] == boolean[key]["target"]["support"]
        assert r["queries"] == boolean[key]["queries"] == r["boolean_queries"], key
    assert any(p.name == "queries_vs_d_lifted-parity.png" for p in out["plots"])


def test_shamir_figure2(tmp_path):
    out = paper.run_experiment("shamir-figure2", tmp_path, quick=True)
    rows = [json.loads(x) for x in out["results"].read_text().splitlines()]
    crit = next(r for r in rows if r["part"] == "critical-points")
    assert crit["F_at_0"] == pytest.approx(1.5) and crit["argmax"] == [0.0, 0.0]
    assert abs(crit["F_min"]) < 1e-12 and sorted(map(abs, crit["argmin"])) == [2.0, 2.0]
    assert crit["plateau_max_deviation"] < 3e-9  # Sha18 Eq. (2) in closed form: |F - 1| <= about 3e-9 at distance >= 1
    assert crit["gap_to_sqsim_gradients"] < 1e-12
    surface = [r for r in rows if r["part"] == "surface"]
    assert len(surface) == 25
    # 25 Hoeffding intervals at failure probability 1e-3 each: all inside except with probability < 2.5 %
    assert sum(not r["inside"] for r in surface) <= 1
    var = [r for r in rows if r["part"] == "variance"]
    assert var and all(0 <= r["variance"] <= r["bound"] for r in var)
    for d in {r["d"] for r in var}:  # the variance falls with r, as exp(-Omega(r^2))
        v = [r["variance"] for r in sorted((r for r in var if r["d"] == d), key=lambda r: r["r"])]
        assert v[-1] < 1e-6 * v[0]
    assert {p.suffix for p in out["plots"]} == {".png", ".svg"}


def test_vw_vs_lifted(tmp_path):
    out = paper.run_experiment("vw-vs-lifted", tmp_path, quick=True)
    rows = [json.loads(x) for x in out["results"].read_text().splitlines()]
    nw = [r for r in rows if r["class"] == "natural-weights"]
    lifted = [r for r in rows if r["class"] == "lifted-parities"]
    assert all(r["success"] and r["queries"] == r["log2N"] for r in nw)
    assert all(r["queries"] == r["log2N"] and r["found_index"] == 0 for r in lifted)
    # the cheat finds member 0 of the lifted class whatever the target: right only when the target is 0
    assert all(r["success"] == (r["target_index"] == 0) for r in lifted)
    assert max(r["agreement_mass"] for r in nw) < 0.01 < 0.5 < min(r["agreement_mass"] for r in lifted)


def test_results_path_that_is_a_directory_is_refused(tmp_path):
    from sqsim.experiments import load_config

    with pytest.raises(InvalidParameterError, match="The 'results' parameter .* must name a file"):
        load_config({"results": str(tmp_path), "grid": [{"learner": "parity-brute-force", "d": [4]}]})


def test_resume_can_retry_cells_that_raised(tmp_path):
    """A cell whose learner raised is recorded with its error; resume + retry_errors runs it again, once."""
    from learners._base import _REGISTRY, register
    from sqsim._learning import Learner

    state = {"fail": True}

    @register("flaky-test-learner")
    class Flaky(Learner):
        def __init__(self, *, seed=None):
            self.seed = seed

        def _learn(self, oracle):
            if state["fail"] and oracle.domain.d == 6:
                raise RuntimeError("worker lost")
            return learners.make("parity-brute-force", seed=self.seed)._learn(oracle)

    try:
        cfg = {"name": "flaky", "seed": 3, "seeds": 2, "tau": 0.1, "results": str(tmp_path / "flaky.jsonl"),
               "grid": [{"learner": "flaky-test-learner", "family": "parity", "d": [4, 6, 8]}]}
        first = experiments.run(cfg, progress=False)
        assert first.errors == 2 and all("worker lost" in r["error"] for r in first.records if r["d"] == 6)
        with pytest.raises(InvalidParameterError, match="The 'retry_errors' parameter"):
            experiments.run(cfg, retry_errors=True, progress=False)
        assert experiments.run(cfg, resume=True, progress=False).ran == 0  # plain resume keeps failed cells
        state["fail"] = False
        again = experiments.run(cfg, resume=True, retry_errors=True, progress=False)
        assert again.ran == 2 and again.errors == 0
        lines = [json.loads(x) for x in (tmp_path / "flaky.jsonl").read_text().splitlines()]
        clean = experiments.run({**cfg, "results": str(tmp_path / "clean.jsonl")}, progress=False)
        assert _by_cell(lines) == _by_cell(clean.records)  # each cell once, as an uninterrupted run
    finally:
        _REGISTRY.pop("flaky-test-learner", None)


def test_resume_accepts_every_line_a_sweep_wrote(small_sweep):
    """The schema check on resume passes every kind of line (SQ, example oracle with tau null, lifted)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = experiments.run(_small_config(small_sweep.path), resume=True, progress=False)
    assert again.ran == 0 and again.skipped == small_sweep.cells
    assert {r["oracle"] for r in again.records} >= {"sq", "example", "lifted"}
