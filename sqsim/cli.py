"""The ``sqsim`` command line (also ``python -m sqsim``).

Subcommands
-----------
demo
    A parity experiment with no arguments: queries of brute-force search versus d against the
    exact and the adversarial oracle, next to the SQ lower bound and 2^(d-1). Writes
    ``sqsim-demo/results.jsonl`` and prints a table.
bench
    Runs the kernel benchmarks (``benchmarks/run_benchmarks.py`` logic) and prints ratios
    against in-run numpy references.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

SCHEMA_VERSION = 1


def _demo(args) -> int:
    import learners  # the application layer may use learners; the library never does

    from . import BooleanCube, SQOracle, bounds
    from .concepts import Parity

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    tmp = results.with_name(results.name + ".tmp")
    tau = args.tau
    dims = list(range(args.d_min, args.d_max + 1, 2))
    rows = []
    t_start = time.perf_counter()
    import numpy as np

    with open(tmp, "w") as fh:
        for d in dims:
            for strategy in ("exact", "adversarial"):
                counts = []
                for i in range(args.seeds):
                    # the same targets and orders for both strategies: a paired comparison
                    cell_seq = np.random.SeedSequence(args.seed, spawn_key=(d, i))
                    s_target, s_oracle, s_learner = (int(c.generate_state(1)[0]) for c in cell_seq.spawn(3))
                    rng = np.random.default_rng(s_target)
                    code = int(rng.integers(1, 2**d))
                    f = Parity(d, [j for j in range(d) if (code >> j) & 1])
                    oracle = SQOracle(BooleanCube(d), f, tau, answers=strategy, seed=s_oracle)
                    res = learners.make("parity-brute-force", seed=s_learner).learn(oracle)
                    rec = {"schema": SCHEMA_VERSION, "learner": "parity-brute-force", "d": d, "tau": tau,
                           "strategy": strategy, "queries": res.queries, "success": res.success,
                           "target_support": list(f.support), "seed": [s_target, s_oracle, s_learner],
                           "ledger_fingerprint": oracle.ledger.fingerprint()}
                    fh.write(json.dumps(rec) + "\n")
                    counts.append(res.queries)
                rows.append((d, strategy, statistics.median(counts), bounds.parity_sq_lower_bound(d, tau),
                             bounds.brute_force_expected(d), len(counts)))
    tmp.replace(results)
    print(f"Parity learning by brute force (tau = {tau}, {args.seeds} random targets per cell)")
    print(f"{'d':>3} {'strategy':>12} {'median queries':>15} {'SQ lower bound':>15} {'2^(d-1)':>9}")
    for d, strategy, med, lb, bf, _ in rows:
        print(f"{d:>3} {strategy:>12} {med:>15.1f} {lb:>15d} {bf:>9.0f}")
    print(f"\nwrote {results} ({len(dims) * 2 * args.seeds} cells, {time.perf_counter() - t_start:.1f} s)")
    return 0


def _bench(args) -> int:
    from ._bench import run_all

    return run_all(quick=args.quick, as_json=args.json)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sqsim", description="Run statistical-query learning experiments.")
    sub = p.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the parity demo experiment and print a table")
    demo.add_argument("--out", default="sqsim-demo", help="output directory (default: sqsim-demo)")
    demo.add_argument("--tau", type=float, default=0.1, help="oracle tolerance (default: 0.1)")
    demo.add_argument("--d-min", type=int, default=4, help="smallest dimension (default: 4)")
    demo.add_argument("--d-max", type=int, default=14, help="largest dimension (default: 14)")
    demo.add_argument("--seeds", type=int, default=5, help="random targets per cell (default: 5)")
    demo.add_argument("--seed", type=int, default=0, help="root seed (default: 0)")
    demo.set_defaults(func=_demo)
    bench = sub.add_parser("bench", help="run the kernel benchmarks (ratios against in-run references)")
    bench.add_argument("--quick", action="store_true", help="smaller sizes, under 2 minutes")
    bench.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    bench.set_defaults(func=_bench)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        if not 0 < args.tau < 0.5:
            parser.error(f"argument --tau must lie in (0, 0.5) for brute-force parity search; got {args.tau}")
        if not 1 <= args.d_min <= args.d_max <= 20:
            parser.error(f"arguments --d-min/--d-max must satisfy 1 <= d-min <= d-max <= 20; got "
                         f"{args.d_min}, {args.d_max}")
        if args.seeds < 1:
            parser.error(f"argument --seeds must be >= 1; got {args.seeds}")
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
