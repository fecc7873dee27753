"""Queries versus d for every registered learner that can run on parities (reuses sqsim.experiments).

    PYTHONPATH=. python benchmarks/query_counts.py [--out DIR] [--d-max 12] [--seeds 5] [--workers N]
                                                   [--quick] [--resume]

Boolean learners run on random parities (d = 4, 6, ..., d-max) against the exact and the
adversarial oracle; example-oracle learners draw examples; Gaussian SQ learners run on lifted
parities through LiftedOracle (d = 3..lifted-d-max, Gaussian tau 0.025). Learners that cannot run on
parities (gradient oracles, required parameters the benchmark cannot guess) are listed with the
reason. Writes DIR/query_counts.jsonl, the plots (PNG and SVG) and DIR/summary.txt.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

#: learners whose defaults do not fit parities: name -> (learner params, family)
KNOWN = {
    "low-degree": ({"k": 2}, {"name": "sparse-parity", "k": 2}),  # LMN finds |S| <= k
}
#: Gaussian tolerance on lifted parities (below P[f^Delta != 0] / 2 >= 0.0278 for delta = 1/d, d <= 20)
LIFTED_TAU = 0.025


def build_config(out: Path, *, d_max=12, seeds=5, lifted_d_max=12, tau=0.1, seed=0):
    """(sweep config, {learner: reason skipped}) over every registered learner that runs on parities."""
    import learners
    from sqsim import InvalidParameterError
    from sqsim.experiments import load_config

    grids, skipped = [], {}
    for name in learners.available():
        params, family = KNOWN.get(name, ({}, "parity"))
        spec = {"name": name, **params} if params else name
        boolean = {"learner": spec, "family": family, "d": list(range(4, d_max + 1, 2)), "tau": tau,
                   "strategy": ["exact", "adversarial"], "seeds": seeds}
        lifted = {"learner": spec, "family": "lifted-parity", "d": list(range(3, lifted_d_max + 1)),
                  "tau": LIFTED_TAU, "strategy": "adversarial", "seeds": max(1, seeds // 2)}
        reasons = []
        for grid in (boolean, lifted):
            probe = {**grid, "d": grid["d"][:1], "seeds": 1}  # validate one small grid point first
            try:
                load_config({"results": str(out / "probe.jsonl"), "grid": [probe]})
            except InvalidParameterError as exc:
                reasons.append(str(exc).split(". Got")[0])
                continue
            grids.append(grid)
            break
        else:
            skipped[name] = reasons[-1]
    config = {"name": "query-counts", "seed": seed, "results": str(out / "query_counts.jsonl"), "grid": grids}
    return config, skipped


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="benchmarks/query-counts", help="output directory")
    p.add_argument("--d-max", type=int, default=12, help="largest Boolean d (default 12)")
    p.add_argument("--lifted-d-max", type=int, default=12, help="largest d of lifted parities (default 12)")
    p.add_argument("--seeds", type=int, default=5, help="random targets per grid point (default 5)")
    p.add_argument("--seed", type=int, default=0, help="root seed")
    p.add_argument("--workers", type=int, default=1, help="Dask worker processes (default 1: serial)")
    p.add_argument("--quick", action="store_true", help="d <= 8, 2 seeds, lifted d = 3")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    args = p.parse_args(argv)

    from sqsim import experiments
    from sqsim.experiments._report import format_table

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        args.d_max, args.seeds, args.lifted_d_max = min(args.d_max, 8), 2, 3
    config, skipped = build_config(out, d_max=args.d_max, seeds=args.seeds, lifted_d_max=args.lifted_d_max,
                                   seed=args.seed)
    report = experiments.run(config, workers=args.workers, resume=args.resume, overwrite=not args.resume)
    plots = experiments.plot(report.path, out).files
    text = format_table(report.records)
    if skipped:
        text += "\n\nNot run on parities:\n" + "\n".join(f"  {k}: {v}" for k, v in skipped.items())
    text += f"\n\n{report.cells} cells, {report.errors} raised errors, {report.seconds:.1f} s. Results: {report.path}"
    (out / "summary.txt").write_text(text + "\n")
    print(text)
    for path in plots:
        print(f"plot: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
