"""Running a sweep: one pure function per cell, serial or on Dask, results appended cell by cell.

Each cell is a JSON-safe dict (its identity, its derived seeds, its oracle plan); :func:`run_cell`
turns it into one results line. Lines are written by the calling process only, each with one
``write`` followed by ``flush`` and ``fsync``, so a sweep killed at any moment (SIGKILL included)
keeps every finished cell; ``resume=True`` drops a truncated last line, checks every line against
the results schema (a line missing fields is run again, with a :class:`ResultsWarning`; a field of
the wrong type is an error naming the file, the line and the field) and runs only the cells whose
id has no complete line yet; lines are removed by an atomic rewrite, so no cell is ever written twice.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as _dt
import json
import logging
import math
import os
import re
import signal
import socket
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._errors import InvalidParameterError
from .._files import replace_lines
from .._validation import Interval, NoneOk, check_param, show
from ._config import SCHEMA_VERSION, Experiment, learner_class, load_config, plan_for
from ._families import make_family

__all__ = ["PROGRESS_LOG_INTERVAL", "SCHEDULER_TIMEOUT", "TIMING_KEY", "ResultsWarning", "SweepInterrupted",
           "SweepReport", "command_line", "read_results", "run", "run_cell", "strip_timing"]

#: the one key of a results line that holds wall-clock measurements (never compared)
TIMING_KEY = "timing"
#: seconds to wait for a Dask scheduler given by address before giving up
SCHEDULER_TIMEOUT = 5.0
#: seconds between progress lines when stderr is not a terminal (logs, CI, nohup)
PROGRESS_LOG_INTERVAL = 5.0
#: what makes a cell, as the config derives it; a results line must repeat these values exactly
IDENTITY_FIELDS = ("learner", "params", "family", "family_params", "d", "tau", "strategy", "seed_index", "budget",
                   "seeds", "oracle")
#: what every finished line holds besides its identity (lifted cells also LIFTED_FIELDS)
OUTCOME_FIELDS = ("schema", "experiment", "target", "queries", "success", "ledger_fingerprint", "details", "error")
LIFTED_FIELDS = ("boolean_tau", "boolean_queries", "boolean_ledger_fingerprint")


class ResultsWarning(UserWarning):
    """A results line could not be trusted as a finished cell (e.g. fields missing) and is run again."""


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped a sweep. Every saved line is complete; ``resume=True`` continues it.

    Attributes
    ----------
    path : Path
        The results file.
    saved : int
        Cells whose lines are in the file (finished before the interrupt, this run or earlier ones).
    cells : int
        Cells of the whole sweep.
    """

    def __init__(self, path, saved: int, cells: int):
        super().__init__(f"sweep interrupted: {saved} of {cells} cells saved in {path}")
        self.path, self.saved, self.cells = Path(path), int(saved), int(cells)


#: the command-line command running a sweep ("sqsim sweep"), or None from Python: errors name its flags
_COMMAND = contextvars.ContextVar("sqsim_command", default=None)


@contextlib.contextmanager
def command_line(command: str):
    """Within this block, errors of :func:`run` name ``command``'s flags (``--resume``) instead of the Python
    keywords (``resume=True``); the ``sqsim`` command line wraps its calls in it."""
    token = _COMMAND.set(command)
    try:
        yield
    finally:
        _COMMAND.reset(token)


def _option(name: str) -> str:
    """The start of an error about option ``name``, as the caller spelled it."""
    cmd = _COMMAND.get()
    if cmd is None:
        return f"The {name!r} parameter of sqsim.experiments.run"
    return f"The --{name.replace('_', '-')} option of {cmd}"


def _setting(name: str, value: bool = True) -> str:
    """``resume=True`` in Python, ``--resume`` (or "no --resume") on the command line."""
    cmd = _COMMAND.get()
    if cmd is None:
        return f"{name}={value!r}"
    flag = "--" + name.replace("_", "-")
    return flag if value else f"no {flag}"


class _DeferredInterrupt:
    """Holds Ctrl-C while a results line is written and counted, then raises it: a saved line is always whole
    and the saved count is exact. (Only in the main thread, and only over Python's default handler.)"""

    __slots__ = ("pending", "previous")

    def __enter__(self):
        self.pending, self.previous = False, None
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self.previous = signal.signal(signal.SIGINT, self._hold)
        return self

    def _hold(self, signum, frame):
        self.pending = True

    def __exit__(self, exc_type, exc, tb):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        if self.pending and exc_type is None:
            raise KeyboardInterrupt
        return False
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


def _check_result(res, oracle) -> None:
    """A cell's LearnResult must be the framework's: graded (``details["grade"]``, whose verdict is
    ``success``) and counting exactly what the cell's fresh oracle recorded (a learner overriding ``learn``
    cannot write its own outcome)."""
    from .. import LearnResult, SealError
    from ..oracles._violations import violation

    details = getattr(res, "details", None)
    grade = details.get("grade") if isinstance(details, dict) else None
    if not isinstance(res, LearnResult) or not isinstance(grade, dict) or "success" not in grade:
        raise violation(SealError, f"the learner returned {show(res)[:120]}, not a LearnResult graded by the "
                                   f"framework (no details['grade'])")
    if bool(res.success) != bool(grade["success"]):
        raise violation(SealError, f"the learner's result says success={res.success!r} but its grade says "
                                   f"{grade['success']!r}")
    total = int(oracle.ledger.total)
    if not isinstance(res.queries, (int, np.integer)) or int(res.queries) != total:
        raise violation(SealError, f"the learner's result counts {res.queries!r} queries but the cell's oracle "
                                   f"recorded {total}")


def run_cell(spec: dict, _done=None) -> dict:
    """Run one cell and return its results line (a dict). Never raises for a failing learner:
    the error is recorded in ``error`` with ``success = False`` and ``queries`` = the oracle's ledger total.
    The result must be the framework's (:func:`_check_result`). ``_done`` = (learner, oracle, boolean,
    target, result or the batch's exception) of a cell already run by :func:`run_cells` (only the line is
    built)."""
    t0 = time.perf_counter()
    rec = {k: v for k, v in spec.items()}
    rec["schema"] = SCHEMA_VERSION
    error = None
    details, dtiming = {}, {}
    oracle = boolean = None
    try:
        learner, oracle, boolean, target = build(spec) if _done is None else _done[:4]
        rec["target"] = target.summary
        if _done is not None:
            res = _done[4]
            if isinstance(res, BaseException):  # the failed batch this cell's oracle was part of
                raise res
        elif spec.get("isolation", "none") == "none":
            res = learner.learn(oracle)
        else:
            res = learner.learn(oracle, isolation=spec["isolation"])
        _check_result(res, oracle)
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


def _batchable(spec: dict) -> bool:
    """Whether a cell may share one learn_many call with the cells that differ from it only in seed: only a
    learner whose exact class and ``_learn_many`` hook the library vetted (members cannot be isolated from
    each other in one process, so an arbitrary hook could pool their examples; docs/theory/sgd.md, section
    sgd-batched), without process isolation, on example oracles."""
    from .._learning import batch_vetted

    cls = learner_class(spec["learner"], "the sweep cell")
    return batch_vetted(cls) and spec.get("isolation", "none") == "none" and spec.get("oracle") == "example"


def seed_groups(todo: list) -> list[list]:
    """The cells in groups that differ only in seed (``seed_index`` and the seeds derived from it) when
    their learner is batchable (:func:`_batchable`; one compiled program per group); every other cell alone."""
    groups: dict[str, list] = {}
    for spec in todo:
        key = spec["cell"]
        if _batchable(spec):
            key = json.dumps({k: spec[k] for k in IDENTITY_FIELDS if k not in ("seed_index", "seeds")},
                             sort_keys=True, default=repr)
        groups.setdefault(key, []).append(spec)
    return list(groups.values())


def _untouched(built: list) -> bool:
    """Whether no oracle of a batch (nor any Boolean oracle under a lift) has recorded anything yet."""
    return all(len(o.ledger) == 0 for b in built for o in (b[1], b[2]) if o is not None)


def run_cells(specs: list) -> list[dict]:
    """The results lines of a group of :func:`seed_groups`: one ``learner.learn_many`` call (each cell's
    learner seed, each cell's own oracle and ledger), the same lines as :func:`run_cell` cell by cell.

    If the batch fails before any oracle recorded anything, each cell runs alone. Once the learner has seen
    data it never gets the same seeds on a fresh oracle again: every cell's line records the batch's error,
    its batch oracle's ledger fingerprint and ``queries`` = that ledger's total."""
    if len(specs) == 1:
        return [run_cell(specs[0])]
    built = []
    try:
        for spec in specs:
            built.append(build(spec))
        results = built[0][0].learn_many([b[1] for b in built], seeds=[spec["seeds"]["learner"] for spec in specs])
        if len(results) != len(specs):
            raise InvalidParameterError(f"The 'oracles' parameter of learn_many must get one result per oracle "
                                        f"({len(specs)}). Got {len(results)} instead.")
    except Exception as exc:  # noqa: BLE001 - recorded in the lines, the sweep goes on
        if len(built) < len(specs) or _untouched(built):
            return [run_cell(spec) for spec in specs]
        return [run_cell(spec, (*b, exc)) for spec, b in zip(specs, built)]
    return [run_cell(spec, (*b, r)) for spec, b, r in zip(specs, built, results)]


def strip_timing(rec: dict) -> dict:
    """A results line without its timing fields (what "identical results" compares)."""
    return {k: v for k, v in rec.items() if k != TIMING_KEY}


# ---------------------------------------------------------------------- the results file
def _scan(path: Path, repair: bool) -> list[dict]:
    """Parse a results file; a truncated last line (no newline, e.g. a kill mid-write) is dropped
    (and cut from the file when ``repair``); any other bad line raises."""
    return [rec for _, rec in _scan_lines(path, repair)]


def _scan_lines(path: Path, repair: bool) -> list[tuple[int, dict]]:
    """(line number, record) of every line of a results file, as :func:`_scan`."""
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
        if not isinstance(rec, dict) or not isinstance(rec.get("cell"), str):
            raise InvalidParameterError(
                f"The 'results' parameter of sqsim.experiments must be a sqsim results file (one cell per line). "
                f"Got {str(path)!r} whose line {n} is {show(rec)} instead."
            )
        records.append((n, rec))
    if repair and end < len(data):
        with open(path, "r+b") as fh:
            fh.truncate(end)
            fh.flush()
            os.fsync(fh.fileno())
    return records


def _is_count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


#: field -> (what it must be, test); checked on every line that has the field
_FIELD_TYPES = {
    "schema": (f"the int {SCHEMA_VERSION}", lambda v, r: type(v) is int and v == SCHEMA_VERSION),
    "experiment": ("a str", lambda v, r: isinstance(v, str)),
    "queries": ("an int >= 0 (null only on a line with an error)",
                lambda v, r: _is_count(v) or (v is None and r.get("error") is not None)),
    "boolean_queries": ("an int >= 0 (null only on a line with an error)",
                        lambda v, r: _is_count(v) or (v is None and r.get("error") is not None)),
    "success": ("a bool", lambda v, r: isinstance(v, bool)),
    "error": ("a str or null", lambda v, r: v is None or isinstance(v, str)),
    "details": ("an object", lambda v, r: isinstance(v, dict)),
    "target": ("an object or null", lambda v, r: v is None or isinstance(v, dict)),
    "ledger_fingerprint": ("a str or null", lambda v, r: v is None or isinstance(v, str)),
    "boolean_ledger_fingerprint": ("a str or null", lambda v, r: v is None or isinstance(v, str)),
    "boolean_tau": ("a number", lambda v, r: isinstance(v, (int, float)) and not isinstance(v, bool)),
}


def _check_record(path: Path, n: int, rec: dict, spec: dict) -> list[str]:
    """The fields missing from line ``n`` (a complete line gives []); a field of the wrong type, or an
    identity field that differs from the config's cell, raises :class:`InvalidParameterError`."""
    required = IDENTITY_FIELDS + OUTCOME_FIELDS + (LIFTED_FIELDS if spec.get("oracle") == "lifted" else ())
    for key, (what, ok) in _FIELD_TYPES.items():
        if key in rec and not ok(rec[key], rec):
            raise InvalidParameterError(
                f"The 'results' parameter of sqsim.experiments.run must be a results file whose {key!r} fields are "
                f"{what}. Got {str(path)!r} whose line {n} (cell {rec['cell']}) has {key} = {show(rec[key])} "
                f"instead."
            )
    for key in IDENTITY_FIELDS:
        if key in rec and rec[key] != spec[key]:
            raise InvalidParameterError(
                f"The 'results' parameter of sqsim.experiments.run must repeat each cell's identity. Got "
                f"{str(path)!r} whose line {n} (cell {rec['cell']}) has {key} = {show(rec[key])}, where the config's "
                f"cell has {show(spec[key])}, instead."
            )
    return [k for k in required if k not in rec]


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
    #: the config's ``curves`` (Experiment.curves), for ``plot(report.path, out, curves=report.curves)``
    curves: list | dict = field(default_factory=list, repr=False)

    def __fspath__(self):
        return str(self.path)


class _LogProgress:
    """Progress for streams that are not terminals: one plain line every ``interval`` seconds (no carriage
    returns), and a last line at the end if any was written. The part of the tqdm API the sweep uses."""

    def __init__(self, name: str, total: int, initial: int, stream, interval: float):
        self.name, self.total, self.n, self.stream = name, int(total), int(initial), stream
        self.interval, self.queries = float(interval), 0
        self.start, self.first = time.monotonic(), int(initial)
        self.last, self.shown = self.start, None

    def set_postfix(self, queries=0, refresh=False):
        self.queries = queries

    def update(self, n=1):
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self._line(now)

    def _line(self, now):
        elapsed = now - self.start
        done = self.n - self.first
        left = "" if done <= 0 or self.n >= self.total else \
            f", about {_duration(elapsed / done * (self.total - self.n))} left"
        pct = 100.0 * self.n / self.total if self.total else 100.0
        print(f"{self.name}: {self.n}/{self.total} cells ({pct:.0f}%), {self.queries} queries, "
              f"{_duration(elapsed)} elapsed{left}", file=self.stream, flush=True)
        self.last, self.shown = now, self.n

    def close(self):
        if self.shown is not None and self.shown != self.n:
            self._line(time.monotonic())


def _duration(seconds: float) -> str:
    s = round(seconds)
    if s < 120:
        return f"{s} s"
    return f"{s // 60} min {s % 60:02d} s" if s < 7200 else f"{s // 3600} h {s // 60 % 60:02d} min"


def _progress(exp: Experiment, progress, total: int, initial: int):
    """The progress reporter: None when off; a tqdm bar on a terminal; plain lines every
    PROGRESS_LOG_INTERVAL seconds otherwise (logs, CI, nohup). ``progress``: False off, True or None
    (the config's ``progress``, else on) on."""
    show = exp.progress if progress is None else progress
    if show is False:
        return None
    stream = sys.stderr
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        tty = False
    if not tty:
        return _LogProgress(exp.name, total, initial, stream, PROGRESS_LOG_INTERVAL)
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is in the [all] extra
        return _LogProgress(exp.name, total, initial, stream, PROGRESS_LOG_INTERVAL)
    return tqdm(total=total, initial=initial, unit="cell", desc=exp.name, dynamic_ncols=True, smoothing=0.1,
                file=stream)


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
        Address of a running Dask scheduler (``tcp://host:8786``) to use instead. If no scheduler
        answers within ``SCHEDULER_TIMEOUT`` (5 s), :class:`~sqsim.InvalidParameterError` names the
        address, before the results file is created or touched.
    resume : bool, default False
        Continue an existing results file: a truncated last line is cut, finished cells are skipped.
        Every line is checked first: a line of a cell of this sweep that lacks fields of the results
        schema is not a finished cell: it is run again (with a :class:`ResultsWarning`) and its old
        line removed by an atomic rewrite; a field of the wrong type (say a non-integer ``queries``)
        or an identity field that differs from the config is an :class:`~sqsim.InvalidParameterError`
        naming the file, the line and the field.
    overwrite : bool, default False
        Replace an existing results file (without ``resume`` or ``overwrite`` a non-empty file is refused).
    retry_errors : bool, default False
        With ``resume``: cells recorded with an ``error`` (a learner or a worker that raised) are run
        again; their old lines are removed first by an atomic rewrite of the file, so each cell
        still appears once.
    progress : bool, optional
        Progress on stderr (cells, queries asked, time left): a tqdm bar when stderr is a terminal, else
        one plain line every ``PROGRESS_LOG_INTERVAL`` (5) seconds, so logs show it too. False turns it
        off; default: the config's ``progress``, else on.
    results : path, optional
        Overrides the config's ``results``.
    on_record : callable, optional
        Called with each record as soon as it is written.

    Returns
    -------
    SweepReport
        ``path``, ``cells``, ``ran``, ``skipped``, ``errors``, ``seconds`` and ``records`` (every
        cell of the grid read back, in grid order).

    Raises
    ------
    SweepInterrupted
        On Ctrl-C (a ``KeyboardInterrupt``): it carries the results ``path`` and how many cells are
        ``saved`` of all ``cells``. A line being written when the signal came is finished first, so the
        file holds whole lines only and ``resume=True`` continues it.

    Notes
    -----
    With ``isolation = "process"`` in the config every learner runs in a spawned child process of
    the process running its cell. Dask's nanny starts worker processes as daemons, and daemonic
    processes may not have children, so the local cluster of ``workers > 1`` is started with
    non-daemonic workers (``dask.config.set({"distributed.worker.daemon": False})`` around its
    creation). On an existing cluster (``scheduler``) start the workers either with
    ``DASK_DISTRIBUTED__WORKER__DAEMON=False dask worker ADDRESS`` or without a nanny,
    ``dask worker --no-nanny ADDRESS``; a sweep with ``isolation = "process"`` checks the workers
    first and refuses daemonic ones with an error that says so.
    """
    exp = load_config(config, results=results)
    check_param("workers", workers, Interval(int, 1, None), "sqsim.experiments.run")
    check_param("scheduler", scheduler, [_Address(), NoneOk], "sqsim.experiments.run")
    check_param("resume", resume, _Bool(), "sqsim.experiments.run")
    check_param("overwrite", overwrite, _Bool(), "sqsim.experiments.run")
    check_param("retry_errors", retry_errors, _Bool(), "sqsim.experiments.run")
    if retry_errors and not resume:
        raise InvalidParameterError(f"{_option('retry_errors')} must come with {_setting('resume')} (it retries the "
                                    f"failed cells of an existing file). Got {_setting('retry_errors')}, "
                                    f"{_setting('resume', False)} instead.")
    path = Path(exp.results)
    existed = path.exists()
    wanted = {c["cell"]: c for c in exp.cells}
    done: dict[str, dict] = {}
    drop = []  # cells whose lines are removed before they run again
    if existed and path.stat().st_size > 0:
        if resume:
            seen = set()
            for n, rec in _scan_lines(path, repair=False):
                cid = rec["cell"]
                if cid not in wanted:
                    seeds = rec.get("seeds") if isinstance(rec.get("seeds"), dict) else {}
                    raise InvalidParameterError(
                        f"{_option('resume')} must continue the same sweep. Got a results "
                        f"file {str(path)!r} holding cell {cid} ({rec.get('learner')}, d={rec.get('d')}, root "
                        f"seed {seeds.get('root')}) that this config does not define instead."
                    )
                if cid in seen:
                    raise InvalidParameterError(f"The 'results' parameter of sqsim.experiments.run must hold each cell "
                                                f"once. Got {str(path)!r} with cell {cid} twice instead.")
                seen.add(cid)
                missing = _check_record(path, n, rec, wanted[cid])
                if missing:
                    warnings.warn(f"{path}: line {n} (cell {cid}) lacks the fields {missing} of a finished cell; "
                                  f"the cell runs again and its line is replaced", ResultsWarning, stacklevel=2)
                    drop.append(cid)
                    continue
                done[cid] = rec
            if retry_errors:
                failed = [c for c, r in done.items() if r.get("error") is not None]
                for c in failed:
                    del done[c]
                drop += failed
        elif not overwrite:
            where = "sqsim.experiments.run" if _COMMAND.get() is None else _COMMAND.get()
            raise InvalidParameterError(
                f"The 'results' parameter of {where} must be a new or empty file (pass {_setting('resume')} to "
                f"continue it or {_setting('overwrite')} to replace it). Got {str(path)!r}, which holds results, "
                f"instead."
            )
    todo = [c for c in exp.cells if c["cell"] not in done]
    # connect first: a dead scheduler fails within SCHEDULER_TIMEOUT, before the file is created or touched
    pool = _connect(workers, scheduler, exp.isolation) if todo and (workers > 1 or scheduler is not None) else None
    t0 = time.perf_counter()
    ran = errors = 0
    new: dict[str, dict] = {}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = _Writer(path)
        try:
            if resume:
                _scan(path, repair=True)  # under the lock: cut a truncated last line
                if drop:
                    writer = _rewrite(path, writer, list(done.values()))
            elif overwrite:
                writer.fh.truncate(0)
            bar = _progress(exp, progress, len(exp.cells), len(done))
            asked = sum(int(r.get("queries") or 0) for r in done.values())

            def record(rec):
                nonlocal ran, errors, asked
                with _DeferredInterrupt():  # Ctrl-C waits until the line is written and counted
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
                if pool is not None:
                    _run_dask(todo, pool[0], record)
                else:
                    for group in seed_groups(todo):
                        for rec in run_cells(group):
                            record(rec)
            finally:
                if bar is not None:
                    bar.close()
        finally:
            writer.close()
    except BaseException as exc:
        if not existed and not new:  # nothing written: leave no empty results file behind
            try:
                if path.stat().st_size == 0:
                    path.unlink()
            except OSError:
                pass
        if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, SweepInterrupted):
            raise SweepInterrupted(path, len(done) + len(new), len(exp.cells)) from exc
        raise
    finally:
        if pool is not None:
            _disconnect(*pool)
    allrecs = {**done, **new}
    return SweepReport(path, len(exp.cells), ran, len(done), errors, time.perf_counter() - t0,
                       [allrecs[c["cell"]] for c in exp.cells if c["cell"] in allrecs], exp.curves)


def _rewrite(path: Path, writer: _Writer, records: list) -> _Writer:
    """Atomically replace the results file by ``records`` (same lines, same order); return a writer on it."""
    replace_lines(path, (json.dumps(rec, sort_keys=True, allow_nan=False) for rec in records))
    writer.close()
    return _Writer(path)


def _local_cluster(workers: int, isolation: str = "none"):
    """A LocalCluster of ``workers`` one-thread processes; non-daemonic workers for ``isolation="process"``
    (a daemonic process may not start the learner's child process)."""
    import dask
    from dask.distributed import LocalCluster

    # workers start by spawn (Dask's default, pinned: JAX, used by the sgd-mlp learner, is not fork-safe)
    settings = {"distributed.worker.multiprocessing-method": "spawn"}
    if isolation == "process":
        settings["distributed.worker.daemon"] = False
    with dask.config.set(settings):  # read by the nannies as they start their workers, inside the constructor
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                            silence_logs=logging.ERROR, env=_worker_env())


def _daemonic() -> bool:
    """Run on a worker: whether it is a daemonic process (then it cannot start child processes)."""
    import multiprocessing

    return bool(multiprocessing.current_process().daemon)


def _connect(workers: int, scheduler, isolation: str):
    """(client, local cluster or None); a scheduler address that does not answer is a clear error."""
    from dask.distributed import Client

    cluster = None
    if scheduler is None:
        cluster = _local_cluster(workers, isolation)
        try:
            client = Client(cluster)
        except BaseException:
            cluster.close()
            raise
    else:
        try:
            client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise InvalidParameterError(
                f"The 'scheduler' parameter of sqsim.experiments.run must be the address of a running Dask "
                f"scheduler. Got {scheduler!r}, where none answered within {SCHEDULER_TIMEOUT:g} s "
                f"({type(exc).__name__}: {_ADDRESS.sub('', str(exc))[:200]}), instead."
            ) from exc
    if isolation == "process":
        try:
            daemonic = sorted(w for w, d in client.run(_daemonic).items() if d)
        except BaseException:
            _disconnect(client, cluster)
            raise
        if daemonic:
            _disconnect(client, cluster)
            raise InvalidParameterError(
                f"The 'isolation' parameter of the sweep config must be 'none' on a cluster whose workers are daemonic "
                f"processes (they cannot start a learner's process). Got 'process' with scheduler {scheduler!r}, "
                f"whose workers {daemonic} are daemonic, instead (start the workers with "
                f"DASK_DISTRIBUTED__WORKER__DAEMON=False dask worker ADDRESS, or dask worker --no-nanny ADDRESS)."
            )
    return client, cluster


def _disconnect(client, cluster) -> None:
    client.close()
    if cluster is not None:
        cluster.close()


def _run_dask(todo, client, record) -> None:
    from dask.distributed import as_completed

    # largest expected cost first (the cost of a cell grows with d): the longest cells start at once, the short
    # ones fill the gaps, so one late large cell does not set the makespan (results are written as they finish)
    groups = sorted(seed_groups(todo), key=lambda g: -int(g[0]["d"]))
    futures = client.map(run_cells, groups, key=[f"sqsim-cell-{g[0]['cell']}" for g in groups], pure=False)
    for fut in as_completed(futures):
        for rec in fut.result():
            record(rec)


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

