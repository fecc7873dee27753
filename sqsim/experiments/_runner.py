"""Running a sweep: one pure function per cell, serial or on Dask, results appended cell by cell.

Each cell is a JSON-safe dict (its identity, its derived seeds, its oracle plan); :func:`run_cell`
turns it into one results line. Lines are written by the calling process only, each with one
``write`` followed by ``flush`` and ``fsync``, so a sweep killed at any moment (SIGKILL included)
keeps every finished cell; ``resume=True`` drops a truncated last line and runs only the cells
whose id is not in the file yet, so no cell is ever written twice.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import re
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._errors import InvalidParameterError
from .._validation import Interval, NoneOk, check_param, show
from ._config import SCHEMA_VERSION, Experiment, learner_class, load_config, plan_for
from ._families import make_family

__all__ = ["TIMING_KEY", "SweepReport", "read_results", "run", "run_cell", "strip_timing"]

#: the one key of a results line that holds wall-clock measurements (never compared)
TIMING_KEY = "timing"
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


# ---------------------------------------------------------------------- building a cell
def build(spec: dict):
    """(learner, oracle, boolean oracle or None, Target) for a cell spec."""
    from .. import BooleanCube, SQOracle, VSTATOracle

    fam = make_family({"name": spec["family"], **spec["family_params"]}, "the sweep cell")
    cls = learner_class(spec["learner"], "the sweep cell")
    plan = plan_for(cls, spec["learner"], fam, "the sweep cell")
    d, tau, strategy, budget = spec["d"], spec["tau"], spec["strategy"], spec.get("budget")
    seeds = spec["seeds"]
    vs = strategy == "version-space"
    target = fam.make(d, seeds["target"], version_space=vs)
    kw = dict(spec["params"])
    if plan.pass_seed:
        kw["seed"] = seeds["learner"]
    if plan.pass_lift:
        kw["lift"] = target.lift
    learner = cls(**kw)  # the class learners.make(name) would build
    dom = BooleanCube(d)
    hidden = target.family if vs else target.concept
    boolean = None
    if plan.oracle == "lifted":
        from ..adapter import LiftedOracle

        boolean = SQOracle(dom, hidden, tau / 2, answers=strategy, seed=seeds["oracle"], budget=budget)
        extra = {}
        if "inner_failure_probability" in spec["family_params"]:
            extra["inner_failure_probability"] = spec["family_params"]["inner_failure_probability"]
        oracle = LiftedOracle(boolean, target.lift, **extra)
    elif plan.oracle == "sq":
        oracle = SQOracle(dom, hidden, tau, answers=strategy, seed=seeds["oracle"], budget=budget)
    elif plan.oracle == "vstat":
        oracle = VSTATOracle(dom, hidden, 1.0 / tau**2, answers=strategy, seed=seeds["oracle"], budget=budget)
    else:  # "example"
        from .. import ExampleOracle

        oracle = ExampleOracle(dom, target.concept, seed=seeds["oracle"], budget=budget)
    return learner, oracle, boolean, target


def preflight(spec: dict, where: str) -> None:
    """Build one cell's target, oracle and learner (no query is asked): errors surface before any cell runs."""
    try:
        build(spec)
    except (InvalidParameterError, TypeError, ValueError) as exc:  # e.g. a learner missing a required parameter
        coords = ", ".join(f"{k}={spec[k]!r}" for k in ("learner", "params", "family", "d", "tau", "strategy"))
        raise InvalidParameterError(f"{exc} [{where}: {coords}]") from exc


# ---------------------------------------------------------------------- one cell
def _jsonable(v, depth: int = 0):
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or isinstance(v, (bool, int, str)):
        return v if not isinstance(v, str) else _ADDRESS.sub("", v)[:200]
    if isinstance(v, float):
        return v if math.isfinite(v) else repr(v)
    if isinstance(v, (list, tuple, np.ndarray)):
        items = list(v.tolist() if isinstance(v, np.ndarray) else v)
        if len(items) <= 32 and all(x is None or isinstance(x, (bool, int, float, str, np.generic)) for x in items):
            return [_jsonable(x) for x in items]
        return {"length": len(items)}
    if isinstance(v, dict) and depth == 0:
        return {str(k): _jsonable(x, 1) for k, x in v.items() if not _is_timing(str(k))}
    return _ADDRESS.sub("", repr(v))[:200]


def _is_timing(key: str) -> bool:
    return key == "seconds" or key.endswith("_seconds") or key in ("time", "elapsed")


def summarize_details(details: dict) -> tuple[dict, dict]:
    """(a small JSON-safe summary without timings, the timing entries)."""
    summary, timing = {}, {}
    for k, v in details.items():
        if _is_timing(str(k)):
            timing[str(k)] = _jsonable(v)
        else:
            summary[str(k)] = _jsonable(v)
    return summary, timing


def run_cell(spec: dict) -> dict:
    """Run one cell and return its results line (a dict). Never raises for a failing learner:
    the error is recorded in ``error`` with ``success = False``."""
    t0 = time.perf_counter()
    rec = {k: v for k, v in spec.items()}
    rec["schema"] = SCHEMA_VERSION
    error = None
    details, dtiming = {}, {}
    oracle = boolean = None
    try:
        learner, oracle, boolean, target = build(spec)
        rec["target"] = target.summary
        res = learner.learn(oracle)
        success, details = bool(res.success), res.details
        queries = int(res.queries)
    except Exception as exc:  # noqa: BLE001 - recorded in the line, the sweep goes on
        error = f"{type(exc).__name__}: {_ADDRESS.sub('', str(exc))}"[:500]
        success = False
        queries = None if oracle is None else int(oracle.ledger.total)
        rec.setdefault("target", None)
    details, dtiming = summarize_details(details)
    rec.update({
        "queries": queries,
        "success": success,
        "ledger_fingerprint": None if oracle is None else oracle.ledger.fingerprint(),
        "details": details,
        "error": error,
    })
    if spec.get("oracle") == "lifted":
        rec["boolean_tau"] = spec["tau"] / 2
        rec["boolean_queries"] = None if boolean is None else int(boolean.ledger.total)
        rec["boolean_ledger_fingerprint"] = None if boolean is None else boolean.ledger.fingerprint()
    rec[TIMING_KEY] = {
        "seconds": time.perf_counter() - t0,
        **{f"details.{k}": v for k, v in dtiming.items()},
        "finished": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds"),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    return rec


def strip_timing(rec: dict) -> dict:
    """A results line without its timing fields (what "identical results" compares)."""
    return {k: v for k, v in rec.items() if k != TIMING_KEY}


# ---------------------------------------------------------------------- the results file
def _scan(path: Path, repair: bool) -> list[dict]:
    """Parse a results file; a truncated last line (no newline, e.g. a kill mid-write) is dropped
    (and cut from the file when ``repair``); any other bad line raises."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1  # everything after the last newline is an unfinished write
    records = []
    for n, line in enumerate(data[:end].split(b"\n")[:-1], start=1):
        if not line.strip(b"\x00 \t\r"):
            continue
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidParameterError(
                f"The 'results' parameter of sqsim.experiments must be a JSON-lines results file. Got {str(path)!r} "
                f"with an unreadable line {n} ({exc}) instead."
            ) from exc
        if not isinstance(rec, dict) or "cell" not in rec:
            raise InvalidParameterError(
                f"The 'results' parameter of sqsim.experiments must be a sqsim results file (one cell per line). "
                f"Got {str(path)!r} whose line {n} is {show(rec)} instead."
            )
        records.append(rec)
    if repair and end < len(data):
        with open(path, "r+b") as fh:
            fh.truncate(end)
            fh.flush()
            os.fsync(fh.fileno())
    return records


def read_results(path) -> list[dict]:
    """The records of a results file (a truncated last line is skipped, the file left as it is)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidParameterError(f"The 'results_path' parameter of sqsim.experiments must be an existing "
                                    f"results file. Got {str(path)!r} instead.")
    return _scan(path, repair=False)


class _Writer:
    """Appends one line per record with a single write, then flush and fsync; holds an exclusive lock."""

    def __init__(self, path: Path):
        self.path = path
        self.fh = open(path, "ab")  # noqa: SIM115 - held for the whole sweep, closed by close()
        try:
            import fcntl

            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX
            pass
        except OSError as exc:
            self.fh.close()
            raise InvalidParameterError(
                f"The 'results' parameter of the sweep config must be a file no other sweep is writing. "
                f"Got {str(path)!r}, which is locked ({exc}) instead."
            ) from exc

    def write(self, rec: dict) -> None:
        line = (json.dumps(rec, sort_keys=True, allow_nan=False) + "\n").encode()
        self.fh.write(line)
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self):
        self.fh.close()


# ---------------------------------------------------------------------- run
@dataclass
class SweepReport:
    """What :func:`run` did: the results path, cell counts and the records of this sweep (grid order)."""

    path: Path
    cells: int
    ran: int
    skipped: int
    errors: int
    seconds: float
    records: list = field(default_factory=list, repr=False)

    def __fspath__(self):
        return str(self.path)


def _progress(exp: Experiment, progress, total: int, initial: int):
    show_bar = exp.progress if progress is None else progress
    if show_bar is None:
        show_bar = sys.stderr.isatty()
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is in the [all] extra
        return None
    return tqdm(total=total, initial=initial, unit="cell", desc=exp.name, disable=not show_bar,
                dynamic_ncols=True, smoothing=0.1)


def _worker_env() -> dict:
    """PYTHONPATH for local Dask workers: the directories holding sqsim and learners come first."""
    import learners
    import sqsim

    roots = [str(Path(m.__file__).resolve().parent.parent) for m in (sqsim, learners)]
    old = os.environ.get("PYTHONPATH", "")
    parts = list(dict.fromkeys(roots + [p for p in old.split(os.pathsep) if p]))
    return {"PYTHONPATH": os.pathsep.join(parts)}


def run(config, workers=1, scheduler=None, resume=False, *, overwrite=False, retry_errors=False, progress=None,
        results=None, on_record=None) -> SweepReport:
    """Run a sweep and append one JSON line per cell to its results file.

    Parameters
    ----------
    config : dict, path to a TOML file, or Experiment
        The grid (see :mod:`sqsim.experiments`); validated completely before any cell runs.
    workers : int, default 1
        1 runs the cells serially in this process; N > 1 starts a local Dask cluster of N worker
        processes with one thread each.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``) to use instead.
    resume : bool, default False
        Continue an existing results file: a truncated last line is cut, finished cells are skipped.
    overwrite : bool, default False
        Replace an existing results file (without ``resume`` or ``overwrite`` a non-empty file is refused).
    retry_errors : bool, default False
        With ``resume``: cells recorded with an ``error`` (a learner or a worker that raised) are run
        again; their old lines are removed first by an atomic rewrite of the file, so each cell
        still appears once.
    progress : bool, optional
        tqdm progress bar (cells, queries asked, time left); default: the config's ``progress``, else
        shown only when stderr is a terminal.
    results : path, optional
        Overrides the config's ``results``.
    on_record : callable, optional
        Called with each record as soon as it is written.

    Returns
    -------
    SweepReport
        ``path``, ``cells``, ``ran``, ``skipped``, ``errors``, ``seconds`` and ``records`` (every
        cell of the grid read back, in grid order).
    """
    exp = load_config(config, results=results)
    check_param("workers", workers, Interval(int, 1, None), "sqsim.experiments.run")
    check_param("scheduler", scheduler, [_Address(), NoneOk], "sqsim.experiments.run")
    check_param("resume", resume, _Bool(), "sqsim.experiments.run")
    check_param("overwrite", overwrite, _Bool(), "sqsim.experiments.run")
    check_param("retry_errors", retry_errors, _Bool(), "sqsim.experiments.run")
    if retry_errors and not resume:
        raise InvalidParameterError("The 'retry_errors' parameter of sqsim.experiments.run must come with "
                                    "resume=True (it retries the failed cells of an existing file). Got "
                                    "retry_errors=True, resume=False instead.")
    path = Path(exp.results)
    wanted = {c["cell"] for c in exp.cells}
    done: dict[str, dict] = {}
    if path.exists() and path.stat().st_size > 0:
        if resume:
            for rec in _scan(path, repair=False):
                if rec["cell"] not in wanted:
                    raise InvalidParameterError(
                        f"The 'resume' parameter of sqsim.experiments.run must continue the same sweep. Got a results "
                        f"file {str(path)!r} holding cell {rec['cell']} ({rec.get('learner')}, d={rec.get('d')}, root "
                        f"seed {rec.get('seeds', {}).get('root')}) that this config does not define instead."
                    )
                if rec["cell"] in done:
                    raise InvalidParameterError(f"The 'results' parameter of sqsim.experiments.run must hold each cell "
                                                f"once. Got {str(path)!r} with cell {rec['cell']} twice instead.")
                done[rec["cell"]] = rec
        elif not overwrite:
            raise InvalidParameterError(
                f"The 'results' parameter of sqsim.experiments.run must be a new or empty file (pass resume=True to "
                f"continue it or overwrite=True to replace it). Got {str(path)!r}, which holds results, instead."
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = _Writer(path)
    t0 = time.perf_counter()
    ran = errors = 0
    new: dict[str, dict] = {}
    try:
        if resume:
            _scan(path, repair=True)  # under the lock: cut a truncated last line
            failed = [c for c, r in done.items() if r.get("error") is not None] if retry_errors else []
            if failed:
                for c in failed:
                    del done[c]
                writer = _rewrite(path, writer, [done[c] for c in done])
        elif overwrite:
            writer.fh.truncate(0)
        todo = [c for c in exp.cells if c["cell"] not in done]
        bar = _progress(exp, progress, len(exp.cells), len(done))
        asked = sum(int(r.get("queries") or 0) for r in done.values())

        def record(rec):
            nonlocal ran, errors, asked
            writer.write(rec)
            new[rec["cell"]] = rec
            ran += 1
            errors += rec.get("error") is not None
            asked += int(rec.get("queries") or 0)
            if bar is not None:
                bar.set_postfix(queries=asked, refresh=False)
                bar.update(1)
            if on_record is not None:
                on_record(rec)

        try:
            if todo and (workers > 1 or scheduler is not None):
                _run_dask(todo, workers, scheduler, record)
            else:
                for spec in todo:
                    record(run_cell(spec))
        finally:
            if bar is not None:
                bar.close()
    finally:
        writer.close()
    allrecs = {**done, **new}
    return SweepReport(path, len(exp.cells), ran, len(done), errors, time.perf_counter() - t0,
                       [allrecs[c["cell"]] for c in exp.cells if c["cell"] in allrecs])


def _rewrite(path: Path, writer: _Writer, records: list) -> _Writer:
    """Atomically replace the results file by ``records`` (same lines, same order); return a writer on it."""
    tmp = path.with_name(path.name + ".retry.tmp")
    with open(tmp, "wb") as fh:
        for rec in records:
            fh.write((json.dumps(rec, sort_keys=True, allow_nan=False) + "\n").encode())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)  # a kill before this line leaves the old file whole, after it the new one
    writer.close()
    return _Writer(path)


def _run_dask(todo, workers, scheduler, record) -> None:
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR, env=_worker_env())
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        futures = client.map(run_cell, todo, key=[f"sqsim-cell-{c['cell']}" for c in todo], pure=False)
        for fut in as_completed(futures):
            record(fut.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


class _Bool:
    def holds(self, value) -> bool:
        return isinstance(value, (bool, np.bool_))

    def __str__(self) -> str:
        return "a bool"


class _Address:
    def holds(self, value) -> bool:
        return isinstance(value, str) and bool(value.strip())

    def __str__(self) -> str:
        return "a Dask scheduler address (str)"

