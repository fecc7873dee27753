"""Sweeps, results files and plots (docs/tutorials/dask.md).

>>> from sqsim import experiments
>>> report = experiments.run({"learner": "parity-brute-force", "d": [4, 6], "tau": 0.1,
...                           "strategy": ["exact", "adversarial"], "seeds": 3,
...                           "results": "parity.jsonl"})               # doctest: +SKIP
>>> figs = experiments.plot("parity.jsonl", "plots/")                   # doctest: +SKIP
>>> figs = experiments.plot("parity.jsonl", curves=["brute_force_expected", lambda d: d ** 2],
...                         select={"strategy": "adversarial"})          # doctest: +SKIP

- :func:`run` runs a grid over (learner + parameters, target family, d, tau, answer strategy,
  seed index), serially or on a Dask cluster, appending one JSON line per cell to a results file
  (flushed and fsynced as each cell finishes; ``resume=True`` continues a killed sweep).
- :func:`plot` draws queries versus d with medians, their spread over seeds (interquartile bands
  from 5 seeds, range bars below) and the theory curves of :mod:`sqsim.bounds`; it returns the
  figures (a dict panel name -> Figure), writes PNG and SVG when given an output directory, and
  takes your own theory curves (``curves=``), a row filter (``select=``) and an Axes (``ax=``).
- :func:`load_config` parses and validates a configuration (TOML file or dict) without running it.
- :mod:`sqsim.experiments.paper` holds one function per paper experiment (``sqsim run NAME``).

Results lines (schema 1) hold ``schema``, ``cell`` (the cell id), ``experiment``, the grid
coordinates ``learner``, ``params``, ``family``, ``family_params``, ``d``, ``tau``, ``strategy``,
``seed_index``, ``budget``, the derived ``seeds`` (root, target, oracle, learner), ``oracle`` (the
oracle plan), ``target``, ``queries``, ``success``, ``ledger_fingerprint``, a JSON-safe ``details``
summary, ``error`` (None unless the learner raised) and, for lifted cells, ``boolean_queries`` and
``boolean_ledger_fingerprint``; wall-clock measurements live under ``timing`` only.
"""

from ._config import SCHEMA_VERSION, STRATEGIES, Experiment, load_config
from ._families import FAMILIES
from ._plot import Figures, plot
from ._runner import SweepInterrupted, SweepReport, read_results, run, run_cell, strip_timing

__all__ = [
    "FAMILIES",
    "SCHEMA_VERSION",
    "STRATEGIES",
    "Experiment",
    "Figures",
    "SweepInterrupted",
    "SweepReport",
    "load_config",
    "paper",
    "plot",
    "read_results",
    "run",
    "run_cell",
    "strip_timing",
]


def __getattr__(name):
    if name == "paper":  # imported on first use (it pulls in the plotting code and the learners)
        import importlib

        return importlib.import_module(".paper", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
