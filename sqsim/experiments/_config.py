"""Sweep configurations: parsing (TOML or dict), validation before any cell runs, cells and their seeds.

A configuration is a grid (or a list of grids) over learner (name + parameters), target family,
dimension d, tolerance tau, answer strategy and seed index::

    name = "parity-queries"      # names the results file and the plot captions
    seed = 0                     # the root seed: one numpy SeedSequence for the whole sweep
    seeds = 5                    # seed indices per grid point
    results = "parity-queries.jsonl"
    isolation = "none"           # or "process": each learner runs in its own spawned process
    curves = ["brute_force_expected", "mypackage.theory:my_bound"]  # extra plot curves (optional)

    [[grid]]                     # any number of grids; top-level grid keys are their defaults
    learner = ["parity-brute-force", {name = "low-degree", k = 2}]
    family = ["parity"]          # or {name = "sparse-parity", k = 2}, {name = "lifted-parity", delta = 0.1}
    d = [4, 6, 8]
    tau = [0.1]
    strategy = ["exact", "adversarial"]

Every cell's seeds come from ``SeedSequence(seed, spawn_key=hash(cell identity))``: they depend on
what the cell *is*, not on its position in the grid, so one root seed reproduces every cell bit for
bit on one worker or many, and adding grid points leaves the other cells unchanged. The target and
learner seeds depend only on (the Boolean class, d, seed index): every learner and strategy at the
same grid point faces the same target with the same learner seed (a paired design); the oracle
seed depends on the whole cell.

``isolation`` (``"none"``, the default, or ``"process"``) is passed to every cell's
``Learner.learn``; it is recorded in each cell but is not part of its identity, so a sweep gives
the same cell ids, seeds and results with either setting.

``curves`` (optional) lists extra theory curves for the plots: names of :mod:`sqsim.bounds`
functions or importable ``"module:function"`` references (imported with :mod:`importlib`, never
evaluated), or a table label -> name / reference. They are resolved when the config is loaded
(a bad reference fails before any cell runs) and kept in :attr:`Experiment.curves` for
``sqsim.experiments.plot(..., curves=experiment.curves)``; they are not part of any cell.

An unknown key, learner name or learner parameter is an error that suggests the closest valid
ones ("did you mean").
"""

from __future__ import annotations

import hashlib
import inspect
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._errors import InvalidParameterError
from .._random import stable_words
from .._validation import Interval, NoneOk, Options, check_param, closest_names, show
from ._families import make_family, spec_name_params

__all__ = ["SCHEMA_VERSION", "STRATEGIES", "Experiment", "load_config"]

#: version of the results-file line format
SCHEMA_VERSION = 1
#: answer strategies a sweep may use (SQOracle's strategies)
STRATEGIES = ("exact", "sampled", "noisy", "rounded", "adversarial", "version-space")
#: the strategy recorded for learners that use an example oracle (no answers to choose)
EXAMPLES = "examples"
#: oracle kinds the runner can build, per domain
SUPPORTED_KINDS = ("sq", "vstat", "example")

GRID_KEYS = ("learner", "family", "d", "tau", "strategy", "seeds", "budget")
TOP_KEYS = ("name", "description", "seed", "results", "progress", "isolation", "curves", "grid") + GRID_KEYS
#: how each cell's learner runs (Learner.learn's ``isolation``); not part of a cell's identity
ISOLATION = ("none", "process")
CALLER = "the sweep config"


def did_you_mean(word, options) -> str:
    """`` (did you mean 'x'?)`` naming the options closest to ``word`` (:func:`~sqsim._validation.closest_names`), or ``""``."""
    close = closest_names(word, options)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


def _where(i: int | None) -> str:
    return CALLER if i is None else f"{CALLER} (grid {i})"


def _as_list(value, key: str, where: str) -> list:
    if isinstance(value, list):
        if not value:
            raise InvalidParameterError(f"The {key!r} parameter of {where} must be a non-empty list. Got [] instead.")
        return value
    return [value]


# ---------------------------------------------------------------------- learners
class _LearnerClasses(Mapping):
    """Learner classes by name, looked up lazily: listing the names imports no plug-in, and
    ``classes[name]`` imports only the plug-in asked for."""

    def __init__(self, caller: str):
        import learners  # the application layer; the library modules never import learners

        self._learners = learners
        self._names = learners.available()
        self._caller = caller

    def __getitem__(self, name):
        if name not in self._names:
            raise KeyError(name)
        return self._learners.get_class(name, caller=self._caller)

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def learner_classes(caller: str = CALLER) -> Mapping:
    """Registered learner classes by name (built-ins and entry-point plug-ins, loaded on access)."""
    return _LearnerClasses(caller)


def learner_class(name: str, caller: str = CALLER) -> type:
    """The class of one learner (only that plug-in, if it is one, is imported)."""
    import learners

    return learners.get_class(name, caller=caller)


def init_parameters(cls) -> tuple[dict, bool]:
    """(keyword parameters of ``cls.__init__`` by name, whether it takes ``**kwargs``)."""
    if cls.__init__ is object.__init__:  # no __init__ of its own: no parameters at all
        return {}, False
    sig = inspect.signature(cls.__init__)
    params = {n: p for n, p in sig.parameters.items() if n != "self" and p.kind not in
              (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)}
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    return params, var_kw


@dataclass(frozen=True)
class Plan:
    """How a cell is run: the oracle built for the learner and the parameters the runner supplies."""

    oracle: str  # "sq", "vstat", "example" or "lifted" (LiftedOracle over a Boolean SQOracle at tau/2)
    pass_seed: bool
    pass_lift: bool


def plan_for(cls, name: str, family, where: str) -> Plan:
    """Pick the oracle from the learner's declared ``oracle_kinds`` and ``domains``."""
    kinds = tuple(getattr(cls, "oracle_kinds", ("sq",)))
    domains = tuple(getattr(cls, "domains", ("boolean",)))
    params, var_kw = init_parameters(cls)
    pass_seed = "seed" in params or var_kw
    pass_lift = family.kind == "lifted" and ("lift" in params or var_kw)
    if family.kind == "lifted" and "gaussian" in domains and "sq" in kinds:
        return Plan("lifted", pass_seed, pass_lift)
    if "boolean" in domains:
        for kind in kinds:  # the learner's own order of preference
            if kind in SUPPORTED_KINDS:
                return Plan(kind, pass_seed, pass_lift)
    raise InvalidParameterError(
        f"The 'learner' parameter of {where} must be a learner that runs on {family.label()} (a Boolean learner "
        f"with an oracle kind among {list(SUPPORTED_KINDS)}, or for lifted families a Gaussian SQ learner). "
        f"Got {name!r} (oracle kinds {list(kinds)}, domains {list(domains)}) instead."
    )


def _check_required(cls, name: str, params: dict, plan: Plan, where: str) -> None:
    """Every parameter without a default must come from the config (or be the seed / lift the sweep supplies)."""
    accepted, _ = init_parameters(cls)
    supplied = set(params) | ({"seed"} if plan.pass_seed else set()) | ({"lift"} if plan.pass_lift else set())
    for key, p in accepted.items():
        if p.default is inspect.Parameter.empty and key not in supplied:
            what = ("a lifted family supplies it" if key == "lift" else "it has no default")
            raise InvalidParameterError(
                f"The {key!r} parameter of learner {name!r} ({where}) must be given ({what}). Got nothing instead."
            )


def _check_learner(spec, where: str):
    name, params = spec_name_params(spec, "learner", where)
    classes = learner_classes(where)
    if name not in classes:
        raise InvalidParameterError(
            f"The 'learner' parameter of {where} must be a str among {sorted(classes)}. Got {name!r} instead"
            f"{did_you_mean(name, classes)}."
        )
    cls = classes[name]
    accepted, var_kw = init_parameters(cls)
    caller = f"learner {name!r} ({where})"
    for key, value in params.items():
        if key in ("seed", "lift"):
            raise InvalidParameterError(
                f"The {key!r} parameter of {caller} must be left to the sweep (it derives seeds from the root seed "
                f"and builds lifts from the family). Got {key} = {show(value)} instead."
            )
        if key not in accepted and not var_kw:
            valid = sorted(k for k in accepted if k not in ("seed", "lift"))
            raise InvalidParameterError(
                f"The {key!r} parameter of {caller} must be one of its keyword parameters "
                f"{valid}. Got {key} = {show(value)} instead{did_you_mean(key, valid)}."
            )
        if not _json_safe(value):
            raise InvalidParameterError(
                f"The {key!r} parameter of {caller} must be a number, string, boolean, or a list or table of them. "
                f"Got {key} = {show(value)} instead."
            )
    return name, params, cls


def _json_safe(value) -> bool:
    if isinstance(value, (str, bool, int)) or value is None:
        return True
    if isinstance(value, float):
        return np.isfinite(value)
    if isinstance(value, list):
        return all(_json_safe(v) for v in value)
    if isinstance(value, dict):  # e.g. learner_params of the reduction learner (a TOML inline table)
        return all(isinstance(k, str) and _json_safe(v) for k, v in value.items())
    return False


# ---------------------------------------------------------------------- seeds
def derive_seed(root: int, *parts) -> int:
    """A 64-bit seed: ``SeedSequence(root, spawn_key=stable_words(*parts))`` (identity, not position)."""
    ss = np.random.SeedSequence(root, spawn_key=tuple(stable_words(*parts)))
    return int(ss.generate_state(1, np.uint64)[0])


def canonical(identity: dict) -> str:
    return json.dumps(identity, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------- the experiment
@dataclass
class Experiment:
    """A validated sweep: its name, root seed, results path and cells (JSON-safe dicts).

    Build one with :func:`load_config` (a dict, a TOML path or an Experiment); every check runs
    there, before any cell.
    """

    name: str
    seed: int
    results: Path
    progress: bool | None
    cells: list = field(default_factory=list)
    description: str = ""
    config: dict = field(default_factory=dict)
    isolation: str = "none"
    #: the config's ``curves`` (names / references, or a dict label -> one), checked: for plot(curves=...)
    curves: list | dict = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.cells)


def load_config(config, *, results=None) -> Experiment:
    """Parse and validate a sweep configuration (dict, path to a TOML file, or Experiment).

    Raises :class:`sqsim.InvalidParameterError` naming the offending key and value for unknown
    keys, learners, families or strategies, d < 1, tau outside (0, 1], unreadable or invalid
    files, and any cell whose oracle or learner cannot be built; nothing is written.
    """
    if isinstance(config, Experiment):
        if results is not None:
            config.results = Path(results)
        return config
    default_name = "sweep"
    if isinstance(config, (str, Path)):
        path = Path(config)
        try:
            text = path.read_bytes().decode("utf-8")
            data = tomllib.loads(text)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InvalidParameterError(
                f"The 'config' parameter of sqsim.experiments.run must be a readable TOML file or a dict. "
                f"Got {str(path)!r} instead ({type(exc).__name__}: {exc})."
            ) from exc
        default_name = path.stem
    elif isinstance(config, dict):
        data = config
    else:
        raise InvalidParameterError(
            f"The 'config' parameter of sqsim.experiments.run must be a dict, a path to a TOML file or an "
            f"Experiment. Got {show(config)} instead."
        )
    return _build(data, default_name, results)


def _build(data: dict, default_name: str, results) -> Experiment:
    for key, value in data.items():
        if key not in TOP_KEYS:
            raise InvalidParameterError(
                f"The {key!r} parameter of {CALLER} must be one of the known keys {sorted(TOP_KEYS)}. "
                f"Got {key} = {show(value)} instead{did_you_mean(key, TOP_KEYS)}."
            )
    name = check_param("name", data.get("name", default_name), _NonEmptyStr(), CALLER)
    check_param("description", data.get("description", ""), _Str(), CALLER)
    root = check_param("seed", data.get("seed", 0), Interval(int, 0, None), CALLER)
    check_param("progress", data.get("progress"), [Options((True, False)), NoneOk], CALLER)
    isolation = check_param("isolation", data.get("isolation", "none"), Options(ISOLATION), CALLER)
    curves = _check_curves(data.get("curves", []))
    out = results if results is not None else data.get("results", f"{name}.jsonl")
    check_param("results", out, [_NonEmptyStr(), _PathLike()], CALLER)
    if Path(out).is_dir():
        raise InvalidParameterError(f"The 'results' parameter of {CALLER} must name a file, not a directory. "
                                    f"Got {str(out)!r} instead.")
    defaults = {k: data[k] for k in GRID_KEYS if k in data}
    grids = data.get("grid")
    if grids is None:
        grids = [{}]
    elif isinstance(grids, dict):
        grids = [grids]
    elif not isinstance(grids, list) or not grids or not all(isinstance(g, dict) for g in grids):
        raise InvalidParameterError(
            f"The 'grid' parameter of {CALLER} must be a table or a non-empty list of tables. "
            f"Got {show(grids)} instead."
        )
    cells: dict[str, dict] = {}
    for gi, grid in enumerate(grids):
        where = _where(gi if len(grids) > 1 or "grid" in data else None)
        for key, value in grid.items():
            if key not in GRID_KEYS:
                raise InvalidParameterError(
                    f"The {key!r} parameter of {where} must be one of the grid keys {sorted(GRID_KEYS)}. "
                    f"Got {key} = {show(value)} instead{did_you_mean(key, GRID_KEYS)}."
                )
        g = {**defaults, **grid}
        for key in ("learner", "d", "tau"):
            if key not in g:
                raise InvalidParameterError(
                    f"The {key!r} parameter of {where} must be given. Got nothing instead."
                )
        for c in _grid_cells(g, where, int(root), str(name)):
            c["isolation"] = isolation  # how the cell runs, not what it is: neither its id nor its seeds
            cells.setdefault(c["cell"], c)
    progress = data.get("progress")
    return Experiment(str(name), int(root), Path(out), progress, list(cells.values()),
                      data.get("description", ""), dict(data), isolation, curves)


def _check_curves(curves):
    """The config's ``curves``: a name / ``"module:function"`` reference, a list of them or a table
    label -> one; each resolved now (imported, never evaluated) so a bad one fails before any cell."""
    from ._curves import resolve_curves

    if isinstance(curves, str):
        curves = [curves]
    entries = list(curves.values()) if isinstance(curves, dict) else curves
    if not isinstance(entries, list) or not all(isinstance(c, str) for c in entries):
        raise InvalidParameterError(
            f"The 'curves' parameter of {CALLER} must be a list of names of sqsim.bounds functions or "
            f"'module:function' references (str), or a table label -> one. Got {show(curves)} instead."
        )
    resolve_curves(curves, CALLER)
    return dict(curves) if isinstance(curves, dict) else list(curves)


class _NonEmptyStr:
    def holds(self, value) -> bool:
        return isinstance(value, str) and bool(value.strip())

    def __str__(self) -> str:
        return "a non-empty str"


class _Str:
    def holds(self, value) -> bool:
        return isinstance(value, str)

    def __str__(self) -> str:
        return "a str"


class _PathLike:
    def holds(self, value) -> bool:
        return isinstance(value, Path)

    def __str__(self) -> str:
        return "a path"


def _grid_cells(g: dict, where: str, root: int, name: str) -> list[dict]:
    learners_ = [_check_learner(s, where) for s in _as_list(g["learner"], "learner", where)]
    families = [make_family(s, where) for s in _as_list(g.get("family", "parity"), "family", where)]
    ds = _as_list(g["d"], "d", where)
    for d in ds:
        check_param("d", d, Interval(int, 1, 62), where)
    taus = _as_list(g["tau"], "tau", where)
    for tau in taus:
        check_param("tau", tau, Interval(float, 0, 1, closed="right"), where)
    strategies = _as_list(g.get("strategy", "adversarial"), "strategy", where)
    for s in strategies:
        check_param("strategy", s, Options(STRATEGIES), where)
    seeds = check_param("seeds", g.get("seeds", 1), Interval(int, 1, None), where)
    budget = check_param("budget", g.get("budget"), [Interval(int, 0, None), NoneOk], where)

    out = []
    from ._runner import preflight

    for d in sorted({int(x) for x in ds}):
        for fam in families:
            fam.check_d(d, where)
            for tau in sorted({float(t) for t in taus}):
                for lname, lparams, cls in learners_:
                    plan = plan_for(cls, lname, fam, where)
                    _check_required(cls, lname, lparams, plan, where)
                    if plan.oracle == "lifted":
                        fam.check_tau(d, tau, where)
                    if plan.oracle == "example":
                        combos = [(None, EXAMPLES)]  # no tolerance, no answers to choose
                    else:
                        combos = [(tau, s) for s in dict.fromkeys(strategies)]
                    for ctau, strategy in combos:
                        if strategy == "version-space" and plan.oracle not in ("sq", "lifted"):
                            raise InvalidParameterError(
                                f"The 'strategy' parameter of {where} must not be 'version-space' for learner "
                                f"{lname!r} (oracle kind {plan.oracle!r}). Got 'version-space' instead."
                            )
                        for i in range(int(seeds)):
                            identity = {"learner": lname, "params": lparams, "family": fam.name,
                                        "family_params": fam.params, "d": d, "tau": ctau, "strategy": strategy,
                                        "seed_index": i, "budget": budget}
                            out.append(_cell(identity, fam, root, name, plan))
                        preflight(out[-1], where)
    return out


def _cell(identity: dict, fam, root: int, name: str, plan: Plan) -> dict:
    text = canonical(identity)
    cid = hashlib.blake2b(f"{root}|{text}".encode(), digest_size=8).hexdigest()
    key = fam.target_key()
    d, i = identity["d"], identity["seed_index"]
    seeds = {
        "root": root,
        "target": derive_seed(root, "target", *key, d, i),
        "learner": derive_seed(root, "learner", *key, d, i),
        "oracle": derive_seed(root, "oracle", text),
    }
    return {"schema": SCHEMA_VERSION, "cell": cid, "experiment": name, **identity, "seeds": seeds,
            "oracle": plan.oracle}
