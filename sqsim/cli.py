"""The ``sqsim`` command line (also ``python -m sqsim``).

Subcommands
-----------
demo
    The main job with no arguments: parities over {0,1}^d (d = 4..14) for every registered demo
    learner against the exact and the adversarial oracle, and lifted parities through the
    Theorem 3.2 adapter (d = 3..5); prints a table and writes ``sqsim-demo/`` (results.jsonl,
    PNG and SVG plots, summary.txt).
sweep CONFIG.toml
    Runs a grid from a TOML file (``--workers N`` local Dask processes, ``--scheduler ADDRESS``
    an existing cluster, ``--resume`` continues a killed sweep). Ctrl-C keeps the finished cells,
    prints how many and the exact ``--resume`` command, and exits with status 130.
plot RESULTS
    Draws a results file: queries versus d with medians, interquartile bands and theory curves.
run NAME
    Reproduces one paper experiment (``sqsim run --list``).
bench
    Runs the kernel benchmarks and prints ratios against in-run numpy references.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import textwrap
from pathlib import Path

from ._errors import InvalidParameterError
from .experiments._demo import LIFTED_D_MAX

__all__ = ["CONFIG_HELP", "INTERRUPTED", "PROGRESS", "build_parser", "interrupted_message", "main", "resume_tokens"]

CONFIG_HELP = """\
A sweep config is a TOML file:

  name = "parity-queries"        # names the results file and the plot captions
  seed = 0                       # root seed: every cell's seeds derive from it and the cell's identity
  seeds = 5                      # random targets (seed indices) per grid point
  results = "parity-queries.jsonl"   # relative to the working directory (--out overrides)
  budget = 100000                # optional: per-cell query budget

  [[grid]]                       # one or more grids; top-level grid keys are their defaults
  learner = ["parity-brute-force", {name = "low-degree", k = 2}]
  family = ["parity"]            # "sparse-parity" (with k), "lifted-parity" (delta, D, k optional)
  d = [4, 6, 8, 10]
  tau = [0.1]
  strategy = ["exact", "adversarial"]   # also sampled, noisy, rounded, version-space

  isolation = "process"          # optional (top level): each learner in its own spawned process

The oracle follows the learner's declared oracle kinds: SQOracle for "sq", ExampleOracle for
"example"; Gaussian learners on lifted families get LiftedOracle over a Boolean SQOracle at tau/2.
Results: one JSON line per cell (schema 1), appended and fsynced as each cell finishes. --resume
checks every line: one missing fields is run again (with a warning), a field of the wrong type is
an error naming the file, the line and the field. With isolation = "process" on --scheduler, start
the workers non-daemonic: DASK_DISTRIBUTED__WORKER__DAEMON=False dask worker ADDRESS (or --no-nanny)."""


#: --progress choices and what they mean for sqsim.experiments.run's ``progress``
PROGRESS = {"auto": None, "always": True, "never": False}
#: the exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it
INTERRUPTED = 130


def _fail(cmd: str, exc: Exception) -> int:
    print(f"sqsim {cmd}: error: {exc}", file=sys.stderr)
    return 2


def _progress(args):
    """``progress`` for the experiments from --progress (and the older --no-progress)."""
    return False if args.no_progress else PROGRESS[args.progress]


def _demo(args) -> int:
    from .experiments._demo import demo

    try:
        demo(args.out, d_min=args.d_min, d_max=args.d_max, tau=args.tau, seeds=args.seeds, seed=args.seed,
             lifted=not args.no_lifted, lifted_d_max=args.lifted_d_max, workers=args.workers,
             progress=_progress(args))
    except InvalidParameterError as exc:
        return _fail("demo", exc)
    return 0


def _sweep(args) -> int:
    import warnings

    from . import experiments
    from .experiments._report import format_table
    from .experiments._runner import ResultsWarning, command_line

    with warnings.catch_warnings():  # restores showwarning afterwards
        plain = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, ResultsWarning):  # one line, like the errors
                print(f"sqsim sweep: warning: {message}", file=sys.stderr)
            else:
                plain(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        try:
            with command_line("sqsim sweep"):
                report = experiments.run(args.config, workers=args.workers, scheduler=args.scheduler,
                                         resume=args.resume or args.retry_errors, retry_errors=args.retry_errors,
                                         overwrite=args.overwrite, results=args.out, progress=_progress(args))
        except InvalidParameterError as exc:
            return _fail("sweep", exc)
    if not args.quiet:
        print(format_table(report.records))
    print(f"\n{report.cells} cells: {report.ran} run, {report.skipped} already done, {report.errors} raised errors "
          f"({report.seconds:.1f} s). Results: {report.path}")
    if args.plot is not None:
        for p in experiments.plot(report.path, args.plot, curves=report.curves).files:
            print(f"plot: {p}")
    return 0


def _plot(args) -> int:
    from . import experiments

    results = Path(args.results)
    out = Path(args.out) if args.out else results.with_name(results.stem + "-plots")
    try:
        written = experiments.plot(results, out, curves=args.curve)
    except InvalidParameterError as exc:
        return _fail("plot", exc)
    for p in written.files:
        print(f"plot: {p}")
    return 0


def _run(args) -> int:
    from .experiments import paper
    from .experiments._runner import command_line

    if args.list or args.name is None:
        for name, fn in paper.EXPERIMENTS.items():
            doc = (fn.__doc__ or "").strip().splitlines()[0]
            print(f"{name:<18} {doc}")
        return 0 if args.list else 2
    try:
        with command_line("sqsim run"):
            out = paper.run_experiment(args.name, out_dir=args.out, quick=args.quick, workers=args.workers,
                                       scheduler=args.scheduler, resume=args.resume, progress=_progress(args))
    except InvalidParameterError as exc:
        return _fail("run", exc)
    print(f"\n{args.name}: results {out['results']}")
    for p in out.get("plots", []):
        print(f"plot: {p}")
    return 0


def _bench(args) -> int:
    from ._bench import run_all

    return run_all(quick=args.quick, as_json=args.json, smoke=args.smoke)


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1; got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1; got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    from .experiments.paper import EXPERIMENTS

    p = argparse.ArgumentParser(
        prog="sqsim", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run statistical-query learning experiments: count the queries learners need versus d.",
        epilog=textwrap.dedent("""\
            examples:
              sqsim demo                                  # parities and lifted parities, writes sqsim-demo/
              sqsim sweep grid.toml --workers 2           # a TOML grid on a local 2-process Dask cluster
              sqsim sweep grid.toml --resume              # continue a killed sweep (finished cells kept)
              sqsim sweep grid.toml --scheduler tcp://host:8786
              sqsim plot grid.jsonl --out plots/          # PNG + SVG, medians, IQR bands, theory curves
              sqsim run parity-queries                    # one paper experiment (sqsim run --list)
              sqsim bench --json --quick                  # kernel speed ratios

            `python -m sqsim` is the same command. `sqsim sweep --help` describes the config file.
            Ctrl-C stops a sweep: its finished cells stay in the results file, and sqsim prints how many
            and the --resume command that continues it (exit status 130)."""))
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="parity and lifted-parity sweeps with defaults; writes sqsim-demo/",
                          description="Parities over {0,1}^d for every registered demo learner against the exact "
                                      "and the adversarial oracle, and lifted parities through the Theorem 3.2 "
                                      "adapter; prints a table and writes results.jsonl, PNG and SVG plots and "
                                      "summary.txt into the output directory (replacing an earlier demo there).")
    demo.add_argument("--out", default="sqsim-demo", help="output directory (default: sqsim-demo)")
    demo.add_argument("--tau", type=float, default=0.1, help="Boolean oracle tolerance (default: 0.1)")
    demo.add_argument("--d-min", type=int, default=4, help="smallest dimension (default: 4)")
    demo.add_argument("--d-max", type=int, default=14, help="largest dimension, step 2 from d-min (default: 14)")
    demo.add_argument("--seeds", type=int, default=5, help="random targets per grid point (default: 5)")
    demo.add_argument("--seed", type=int, default=0, help="root seed (default: 0)")
    demo.add_argument("--lifted-d-max", type=int, default=LIFTED_D_MAX,
                      help=f"largest d of the lifted sweep, from 3 (default: {LIFTED_D_MAX})")
    demo.add_argument("--no-lifted", action="store_true", help="skip the lifted-parity sweep")
    demo.add_argument("--workers", type=_positive_int, default=1, help="Dask worker processes (default: 1, serial)")
    demo.add_argument("--progress", choices=list(PROGRESS), default="auto",
                    help="progress on stderr, a bar on a terminal and a line every few seconds in logs: "
                         "auto (default: on unless a sweep config says progress = false), always, never")
    demo.add_argument("--no-progress", action="store_true", help="the same as --progress never")
    demo.set_defaults(func=_demo)

    sweep = sub.add_parser("sweep", help="run a grid from a TOML config (--workers, --scheduler, --resume)",
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           description="Run a sweep and append one JSON line per cell to its results file.",
                           epilog=CONFIG_HELP)
    sweep.add_argument("config", help="TOML config file")
    sweep.add_argument("--workers", type=_positive_int, default=1,
                       help="N > 1: a local Dask cluster of N processes, 1 thread each (default: 1, serial)")
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="use a running Dask scheduler, e.g. tcp://host:8786 (an error if none answers in 5 s)")
    sweep.add_argument("--resume", action="store_true",
                       help="continue the results file: repair a truncated last line, skip finished cells, "
                            "rerun cells whose lines lack fields")
    sweep.add_argument("--retry-errors", action="store_true",
                       help="resume, and run again the cells recorded with an error (their old lines are removed)")
    sweep.add_argument("--overwrite", action="store_true", help="replace an existing results file")
    sweep.add_argument("--out", metavar="RESULTS", help="results file (default: the config's 'results')")
    sweep.add_argument("--plot", metavar="DIR", help="also draw the plots into DIR")
    sweep.add_argument("--progress", choices=list(PROGRESS), default="auto",
                    help="progress on stderr, a bar on a terminal and a line every few seconds in logs: "
                         "auto (default: on unless a sweep config says progress = false), always, never")
    sweep.add_argument("--no-progress", action="store_true", help="the same as --progress never")
    sweep.add_argument("--quiet", action="store_true", help="no table, only the summary line")
    sweep.set_defaults(func=_sweep)

    plot = sub.add_parser("plot", help="draw a results file (PNG and SVG)",
                          description="Queries versus d on a log scale: one series per (learner, strategy) with "
                                      "the median and its spread over seeds (interquartile band from 5 seeds, "
                                      "range bars below), and the theory curves of "
                                      "sqsim.bounds (SQ lower bound, 2^(d-1), LMN, d); one figure per family.")
    plot.add_argument("results", help="results file (JSON lines)")
    plot.add_argument("--out", metavar="DIR", help="output directory (default: RESULTS-plots next to the file)")
    plot.add_argument("--curve", action="append", metavar="NAME",
                      help="extra theory curve: an sqsim.bounds function (e.g. brute_force_expected) or an importable "
                           "module:function; repeat for several")
    plot.set_defaults(func=_plot)

    runp = sub.add_parser("run", help="reproduce a paper experiment: " + ", ".join(EXPERIMENTS),
                          description="Reproduce one paper experiment (sqsim.experiments.paper): writes its "
                                      "results file and plot into --out (default: sqsim-paper/NAME).")
    runp.add_argument("name", nargs="?", choices=list(EXPERIMENTS), metavar="NAME",
                      help="one of: " + ", ".join(EXPERIMENTS))
    runp.add_argument("--list", action="store_true", help="list the experiments")
    runp.add_argument("--out", metavar="DIR", help="output directory (default: sqsim-paper/NAME)")
    runp.add_argument("--quick", action="store_true", help="smaller grid (seconds instead of minutes)")
    runp.add_argument("--workers", type=_positive_int, default=1, help="Dask worker processes (default: 1)")
    runp.add_argument("--scheduler", metavar="ADDRESS", help="use a running Dask scheduler")
    runp.add_argument("--resume", action="store_true", help="continue an interrupted run")
    runp.add_argument("--progress", choices=list(PROGRESS), default="auto",
                    help="progress on stderr, a bar on a terminal and a line every few seconds in logs: "
                         "auto (default: on unless a sweep config says progress = false), always, never")
    runp.add_argument("--no-progress", action="store_true", help="the same as --progress never")
    runp.set_defaults(func=_run)

    bench = sub.add_parser("bench", help="run the kernel benchmarks (ratios against in-run references)")
    bench.add_argument("--quick", action="store_true", help="smaller sizes, under 2 minutes")
    bench.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    bench.add_argument("--smoke", action="store_true",
                       help="tiny sizes, one repeat: checks that every benchmark runs (its numbers are not the named "
                            "sizes'; the test suite uses it)")
    bench.set_defaults(func=_bench)
    return p


def main(argv=None) -> int:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    Ctrl-C prints how many cells are saved and the command that continues the run (``--resume``), and
    returns 130 without a traceback.
    """
    tokens = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = None
    try:
        parser = build_parser()
        args = parser.parse_args(tokens)
        if args.command == "demo":
            if not 0 < args.tau < 0.5:
                parser.error(f"argument --tau must lie in (0, 0.5) for brute-force parity search; got {args.tau}")
            if not 1 <= args.d_min <= args.d_max <= 20:
                parser.error(f"arguments --d-min/--d-max must satisfy 1 <= d-min <= d-max <= 20; got "
                             f"{args.d_min}, {args.d_max}")
            if args.seeds < 1:
                parser.error(f"argument --seeds must be >= 1; got {args.seeds}")
            if args.seed < 0:
                parser.error(f"argument --seed must be >= 0; got {args.seed}")
            if not 3 <= args.lifted_d_max <= 20:
                parser.error(f"argument --lifted-d-max must lie in [3, 20]; got {args.lifted_d_max}")
        return args.func(args)
    except KeyboardInterrupt as exc:
        command = getattr(args, "command", None)
        for line in interrupted_message(exc, command, _program(argv is None), tokens):
            print(line, file=sys.stderr)
        return INTERRUPTED


def interrupted_message(exc: BaseException, command, program: list, tokens: list) -> list[str]:
    """What Ctrl-C prints: the cells saved (for a sweep) and the exact command that continues."""
    from .experiments._runner import SweepInterrupted

    who = "sqsim" if command is None else f"sqsim {command}"
    lines = []
    if isinstance(exc, SweepInterrupted):
        lines.append(f"{who}: interrupted: {exc.saved} of {exc.cells} cells saved in {exc.path} "
                     f"(every saved line is complete).")
    else:
        lines.append(f"{who}: interrupted.")
    if command in ("sweep", "run"):
        lines.append(f"{who}: continue with: {shlex.join(program + resume_tokens(tokens))}")
    elif command == "demo" and isinstance(exc, SweepInterrupted):
        lines.append(f"{who}: the demo starts afresh when run again: {shlex.join(program + tokens)}")
    return lines


def _is_flag(token: str, flag: str) -> bool:
    """Whether ``token`` spells ``flag``, abbreviations included (argparse accepts unique prefixes)."""
    return len(token) > 3 and flag.startswith(token)


def resume_tokens(tokens: list) -> list:
    """The arguments of the command that continues an interrupted one: ``--overwrite`` dropped (it would
    throw the saved cells away), ``--resume`` added unless ``--resume`` or ``--retry-errors`` is there."""
    out = [t for t in tokens if not _is_flag(t, "--overwrite")]
    if not any(_is_flag(t, "--resume") or _is_flag(t, "--retry-errors") for t in out):
        out.append("--resume")
    return out


def _program(from_shell: bool) -> list:
    """How the user started sqsim: ``python -m sqsim`` (the interpreter as typed) or the ``sqsim`` script."""
    if not from_shell:
        return ["sqsim"]
    argv0 = sys.argv[0] if sys.argv else "sqsim"
    if os.path.basename(argv0) == "__main__.py":  # python [options] -m sqsim
        orig = list(getattr(sys, "orig_argv", []))
        for i in range(len(orig) - 1):
            if orig[i] == "-m" and orig[i + 1] == "sqsim":
                return orig[:i + 2]
        return [os.path.basename(sys.executable) or "python", "-m", "sqsim"]
    name = os.path.basename(argv0)
    found = shutil.which(name)
    try:
        on_path = found is not None and os.path.samefile(found, argv0)
    except OSError:
        on_path = False
    return [name] if on_path else [argv0]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
