"""The rough edges a new user hit (issue 16, item 3): each test here failed before its fix."""

import importlib
import json
import os
import pkgutil
import pydoc
import re
import shlex
import signal
import subprocess
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import learners
import sqsim
from sqsim import (
    BooleanCube,
    Character,
    CorrelationalQuery,
    Gaussian,
    InvalidParameterError,
    Ledger,
    Query,
    QueryRangeError,
    SQOracle,
    cli,
    experiments,
)
from sqsim.concepts import Parity

ROOT = Path(__file__).resolve().parent.parent


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


TINY_TOML = """
name = "tiny"
seed = 4
seeds = 2
results = "{results}"
learner = "parity-brute-force"
d = [4, 5]
tau = 0.1
strategy = ["exact", "adversarial"]
"""


def _tiny_config(tmp_path, name="tiny.toml"):
    results = tmp_path / (Path(name).stem + ".jsonl")
    cfg = tmp_path / name
    cfg.write_text(TINY_TOML.format(results=results))
    return cfg, results


def _complete_lines(path: Path) -> list[dict]:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), "a results line was cut"
    return [json.loads(x) for x in data.splitlines()]


# ---------------------------------------------------------------------- Ctrl-C during a sweep
def test_ctrl_c_in_a_cell_saves_finished_cells_and_prints_the_resume_command(tmp_path, monkeypatch, capsys):
    from sqsim.experiments import _runner

    cfg, results = _tiny_config(tmp_path)
    real = _runner.run_cell
    calls = []

    def interrupted_cell(spec):  # the user presses Ctrl-C while the third cell runs
        calls.append(spec["cell"])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(spec)

    monkeypatch.setattr(_runner, "run_cell", interrupted_cell)
    argv = ["sweep", str(cfg), "--quiet", "--progress", "never"]
    assert cli.main(argv) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    saved = _complete_lines(results)
    assert len(saved) == 2
    assert f"2 of 8 cells saved in {results}" in err
    command = shlex.join(["sqsim"] + argv + ["--resume"])
    assert f"continue with: {command}" in err
    monkeypatch.setattr(_runner, "run_cell", real)
    assert cli.main(shlex.split(command)[1:]) == 0
    out = capsys.readouterr().out
    assert "6 run, 2 already done" in out
    lines = _complete_lines(results)
    assert len(lines) == 8 and len({r["cell"] for r in lines}) == 8 and lines[:2] == saved


def test_sigint_to_the_command_line_exits_130_without_a_traceback(tmp_path):
    results = tmp_path / "slow.jsonl"
    cfg = tmp_path / "slow.toml"
    # 12 cells at d = 8 take milliseconds, the 12 at d = 18 seconds each: the signal lands in a d = 18 cell
    cfg.write_text(TINY_TOML.format(results=results).replace("d = [4, 5]", "d = [8, 18]").replace("seeds = 2",
                                                                                                 "seeds = 6"))
    argv = [sys.executable, "-m", "sqsim", "sweep", str(cfg), "--quiet"]
    proc = subprocess.Popen(argv, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if results.exists() and results.read_bytes().count(b"\n") >= 12:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the sweep finished before it could be interrupted: " + proc.stderr.read()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    saved = _complete_lines(results)
    assert 12 <= len(saved) < 24
    assert re.search(rf"\b{len(saved)} of 24 cells saved in {re.escape(str(results))}", err), err
    assert "continue with: " + shlex.join(argv + ["--resume"]) in err


# ---------------------------------------------------------------------- command-line errors name flags
def test_command_line_errors_name_flags_not_keywords(tmp_path, capsys):
    cfg, results = _tiny_config(tmp_path)
    assert cli.main(["sweep", str(cfg), "--quiet", "--progress", "never"]) == 0
    capsys.readouterr()
    assert cli.main(["sweep", str(cfg), "--quiet", "--progress", "never"]) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "--overwrite" in err
    assert "resume=True" not in err and "overwrite=True" not in err
    # another sweep's results file: the flag is named
    other = tmp_path / "other.toml"
    other.write_text(TINY_TOML.format(results=results).replace("seed = 4", "seed = 5"))
    assert cli.main(["sweep", str(other), "--resume", "--quiet", "--progress", "never"]) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "'resume' parameter" not in err
    # the Python API keeps naming its keywords
    with pytest.raises(InvalidParameterError, match=r"resume=True .* overwrite=True"):
        experiments.run(str(cfg), progress=False)


# ---------------------------------------------------------------------- LearnResult.queries
def test_learn_result_counts_this_run_on_a_reused_oracle():
    o = SQOracle(BooleanCube(6), Parity(6, [1, 4]), 0.1, answers="adversarial", seed=0)
    first = learners.make("low-degree", k=2).learn(o)
    second = learners.make("parity-brute-force", seed=3).learn(o)
    assert first.queries == 22 and second.queries == o.ledger.total - 22 > 0
    assert second.details["ledger_total"] == o.ledger.total == first.queries + second.queries
    assert "this run" in learners.Learner.learn.__doc__ and "ledger_total" in sqsim.LearnResult.__doc__


# ---------------------------------------------------------------------- exact answers beyond the guard
def test_exact_answers_beyond_the_enumeration_guard_warn_once_with_their_bound():
    from sqsim import SQSimWarning

    d = 30
    xor = lambda X: X[:, 0] ^ X[:, 1]  # declares no support: Monte Carlo truths
    o = SQOracle(BooleanCube(d), xor, 0.1, answers="exact", seed=1)
    q = Query(lambda X, y: (1 - 2 * y) * (1 - 2 * X[:, 2]), name="corr-x2")
    with pytest.warns(SQSimWarning, match="Monte Carlo") as caught:
        o.ask(q)
    (w,) = [c for c in caught if issubclass(c.category, SQSimWarning)]
    rec = o.ledger[-1]
    assert rec.truth_error > 0 and f"{rec.truth_error:.3g}" in str(w.message)
    assert f"{rec.failure_probability:g}" in str(w.message) and "enumeration guard" in str(w.message)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SQSimWarning)
        o.ask(Query(lambda X, y: (1 - 2 * y) * (1 - 2 * X[:, 3]), name="corr-x3"))  # once per oracle
        # exact truths need no warning: a junta beyond the guard, a cube within it, and other strategies
        big = SQOracle(BooleanCube(d), Parity(d, [3, 4]), 0.1, answers="exact", seed=1)
        big.ask(Query(lambda X, y: (1 - 2 * y) * (1 - 2 * (X[:, 3] ^ X[:, 4])), reads=[3, 4]))
        assert big.ledger[-1].extra["truth_path"] == "junta"
        SQOracle(BooleanCube(8), xor, 0.1, answers="exact").ask(q)
        SQOracle(BooleanCube(d), xor, 0.1, answers="noisy", seed=2).ask(q)


# ---------------------------------------------------------------------- real labels under a CSQ
def test_real_labels_outside_the_unit_interval_blame_the_labels():
    o = SQOracle(Gaussian(3), lambda Z: 2.0 * np.tanh(Z[:, 0]), 0.1, answers="exact", seed=0)
    with pytest.raises(QueryRangeError) as info:
        o.ask(CorrelationalQuery(lambda Z: np.sign(Z[:, 0]), name="sign-z0"))
    msg = str(info.value)
    assert "label" in msg and "[-1, 1]" in msg and "np.clip(y, -1, 1)" in msg and "sign-z0" in msg
    assert len(o.ledger) == 0
    # within [-1, 1] nothing changes, and a query whose own values leave [-1, 1] is still blamed itself
    ok = SQOracle(Gaussian(3), lambda Z: np.tanh(Z[:, 0]), 0.1, answers="exact", seed=0)
    assert abs(ok.ask(CorrelationalQuery(lambda Z: np.sign(Z[:, 0])))) <= 1
    with pytest.raises(QueryRangeError, match=r"must return values in \[-1, 1\]"):
        ok.ask(CorrelationalQuery(lambda Z: 3.0 + 0 * Z[:, 0], name="too-big"))


# ---------------------------------------------------------------------- learner names
def test_unknown_learner_names_suggest_the_closest():
    with pytest.raises(InvalidParameterError, match=r"Did you mean 'parity-brute-force'"):
        learners.make("parity-brute-forse")
    with pytest.raises(InvalidParameterError, match=r"Did you mean 'low-degree'"):
        learners.make("low_degree")
    with pytest.raises(InvalidParameterError) as info:
        learners.make("zzzz")
    assert "Did you mean" not in str(info.value) and "parity-brute-force" in str(info.value)


# ---------------------------------------------------------------------- ledger CSV and pandas
def _mixed_ledger():
    o = SQOracle(BooleanCube(6), Parity(6, [0, 5]), 0.1, answers="noisy", seed=3)
    o.ask(Character(6, [0, 5]))
    o.ask(Query(lambda X, y: (1 - 2 * y) * (1 - 2 * X[:, 0]), name='a "quoted", name'))
    o.ask(Character(6, [0, 5]))  # cached repeat
    e = sqsim.ExampleOracle(BooleanCube(6), Parity(6, [0, 5]), seed=1)
    e.draw(5)
    return o.ledger, e.ledger


def test_ledger_csv_round_trip_keeps_the_fingerprint(tmp_path):
    for i, led in enumerate(_mixed_ledger()):
        path = tmp_path / f"ledger{i}.csv"
        led.to_csv(path)
        back = Ledger.from_csv(path)
        assert back.fingerprint() == led.fingerprint()
        assert back.total == led.total and back.counts() == led.counts()
        assert [r.seconds for r in back] == [r.seconds for r in led]
    bad = tmp_path / "bad.csv"
    bad.write_text("index,name\n0,x\n")
    with pytest.raises(InvalidParameterError, match="'path' parameter of Ledger.from_csv"):
        Ledger.from_csv(bad)


def test_ledger_to_pandas():
    pd = pytest.importorskip("pandas")
    led, _ = _mixed_ledger()
    df = led.to_pandas()
    assert isinstance(df, pd.DataFrame) and len(df) == len(led)
    assert list(df["answer"]) == [r.answer for r in led] and list(df["index"]) == list(range(len(led)))


def test_ledger_to_pandas_without_pandas_says_how_to_get_it(monkeypatch):
    led, _ = _mixed_ledger()
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    with pytest.raises(ImportError, match="pip install pandas") as info:
        led.to_pandas()
    assert isinstance(info.value, sqsim.SQSimError)


# ---------------------------------------------------------------------- the learner contract in help()
def test_help_learner_documents_the_contract():
    text = pydoc.render_doc(sqsim.Learner, renderer=pydoc.plaintext)
    for heading in ("What _learn receives", "What a hypothesis must be", "Seeds", "Budgets", "What a learner may read"):
        assert heading in text, heading
    for name in ("ask_batch", "tolerance", "domain", "kind", "budget_left", "ledger", "QueryBudgetExceeded",
                 "seed", "LearnResult", "SealError"):
        assert name in text, name


# ---------------------------------------------------------------------- __all__
def _public_modules():
    names = []
    for pkg in (sqsim, learners):
        names.append(pkg.__name__)
        for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if not any(part.startswith("_") for part in m.name.split(".")[1:]):
                names.append(m.name)
    return names


@pytest.mark.parametrize("name", _public_modules())
def test_public_modules_declare_all_and_export_only_their_own_names(name):
    mod = importlib.import_module(name)
    assert isinstance(getattr(mod, "__all__", None), list), f"{name} declares no __all__"
    names = mod.__all__
    assert len(set(names)) == len(names)
    missing = [n for n in names if not hasattr(mod, n)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"
    ns = {}
    exec(f"from {name} import *", ns)  # noqa: S102 - the statement under test
    ns.pop("__builtins__", None)
    assert set(ns) == set(names)
    package = hasattr(mod, "__path__")
    for n in names:
        assert not n.startswith("_"), n
        obj = getattr(mod, n)
        origin = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", None)
        if not isinstance(obj, (type, types.FunctionType, types.ModuleType)) or origin is None:
            continue  # constants: defined here
        if package:  # a package re-exports its own (private) modules' names
            assert origin.split(".")[0] in ("sqsim", "learners"), (name, n, origin)
        else:  # a module exports what it defines, none of its imports
            assert origin == name, (name, n, origin)


# ---------------------------------------------------------------------- progress
def test_progress_reports_lines_in_non_interactive_logs(tmp_path, monkeypatch, capsys):
    from sqsim.experiments import _runner

    monkeypatch.setattr(_runner, "PROGRESS_LOG_INTERVAL", 0.0)  # a line per cell instead of every few seconds
    cfg, _ = _tiny_config(tmp_path)
    experiments.run(str(cfg))  # stderr is captured: not a terminal
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith("tiny: ")]
    assert len(lines) >= 8 and "\r" not in err
    assert lines[-1].startswith("tiny: 8/8 cells") and "queries" in lines[-1]


@pytest.mark.parametrize("choice, shown", [("never", False), ("always", True), ("auto", True)])
def test_cli_progress_choices(tmp_path, monkeypatch, capsys, choice, shown):
    from sqsim.experiments import _runner

    monkeypatch.setattr(_runner, "PROGRESS_LOG_INTERVAL", 0.0)
    cfg, _ = _tiny_config(tmp_path)
    assert cli.main(["sweep", str(cfg), "--quiet", "--progress", choice]) == 0
    err = capsys.readouterr().err
    assert ("tiny: 8/8 cells" in err) is shown, err
    assert cli.main(["sweep", str(cfg), "--quiet", "--overwrite", "--no-progress"]) == 0  # the old spelling
    assert "tiny: " not in capsys.readouterr().err


# ---------------------------------------------------------------------- summaries state their parameters
def test_gadget_masses_summary_names_its_parameters(tmp_path):
    from sqsim.experiments import paper

    out = paper.gadget_masses(tmp_path, quick=True)
    text = (tmp_path / "summary.txt").read_text()
    assert "D = 2" in text and "S = {0, 1}" in text and "q = 2" in text
    assert text.startswith(out["table"].splitlines()[0])
    assert "100000 Gaussian samples per row" in text and "root seed 0" in text


# ---------------------------------------------------------------------- README performance sentences
def test_readme_performance_sentences_are_measured_and_state_their_conditions():
    readme = (ROOT / "README.md").read_text()
    demo = re.search(r"`sqsim demo` \(([^)]*)\)", readme)
    assert demo and "measured" in demo.group(1) and "loaded" in demo.group(1) and "2-core" in demo.group(1)
    numba = re.search(r"Queries given as Numba functions.*?\n\n", readme, re.DOTALL).group(0)
    assert "d = 12" in numba and "measured" in numba.lower() and "tens of times" not in numba
    assert "ceil(tau^2 (2^d - 2))" not in readme  # the bound's formula is the tight one now


def test_replace_lines_is_whole_or_nothing(tmp_path):
    """sqsim._files.replace_lines (results files, bound caches): a failure mid-write keeps the old file and
    leaves no temporary file; a success replaces it whole."""
    from sqsim._files import replace_lines

    path = tmp_path / "r.jsonl"
    path.write_text("old\n")

    def lines():
        yield "new 1"
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="mid-write"):
        replace_lines(path, lines())
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl"]
    assert replace_lines(path, ["a", "b"]) == path and path.read_text() == "a\nb\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl"]
