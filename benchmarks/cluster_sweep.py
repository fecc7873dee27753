"""The lifted sweep at d = 17..20 on a Dask cluster: makespan and queries/s at 1 and N workers.

lifted-parity-brute-force through the Theorem 3.2 adapter (docs/theory/lifted-images.md: every
query is a structured LiftedCharacter with an exact Boolean image) against the adversarial Boolean
oracle, delta = 1/d, Gaussian tolerance LIFTED_TAU. The same config runs once in this process
(``workers=1``) and once on a cluster, and the script prints the makespan, queries/s and the parallel
efficiency T1 / (N T_N); for the cluster run also the work efficiency (sum of cell times / (N makespan))
and the largest cell, which bounds the makespan from below. The two runs' results are compared cell for
cell (same fingerprints), so the cluster run is checked, not only timed::

    python benchmarks/cluster_sweep.py                       # 1 worker, then a LocalCluster of 2 (6 seeds)
    python benchmarks/cluster_sweep.py --workers 4 --seeds 12
    python benchmarks/cluster_sweep.py --scheduler tcp://host:8786 --workers 8   # an existing cluster

With ``--scheduler`` the N-worker run goes to that scheduler (start its workers with
``DASK_DISTRIBUTED__WORKER__DAEMON=False dask worker tcp://host:8786``); ``--workers`` is then only
used for the efficiency figure (the number of worker processes you started).

A cell's cost is the rank of its target's support (uniform over 2^d), so few cells balance badly: measured
here (2 cores, quiet) 3 seeds (12 cells) gave efficiency 0.76 (the largest cell was half the makespan),
6 seeds (24 cells) 0.88 with a work efficiency of 0.99 (834 s in process, 475 s on 2 workers).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from sqsim.experiments import run
from sqsim.experiments.paper import LIFTED_TAU


def config(ds, seeds, results, seed=0) -> dict:
    return {"name": "lifted-cluster", "seed": seed, "results": str(results), "strategy": "adversarial",
            "seeds": seeds, "d": list(ds),
            "grid": [{"learner": "lifted-parity-brute-force", "family": "lifted-parity", "tau": LIFTED_TAU}]}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d-min", type=int, default=17)
    ap.add_argument("--d-max", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scheduler", default=None)
    ap.add_argument("--skip-serial", action="store_true", help="only the cluster run (no efficiency figure)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    ds = range(args.d_min, args.d_max + 1)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = [] if args.skip_serial else [("serial", 1, None)]
        runs.append(("cluster", args.workers, args.scheduler))
        fingerprints = {}
        for label, workers, scheduler in runs:
            path = Path(tmp) / f"{label}.jsonl"
            report = run(config(ds, args.seeds, path), workers=workers if scheduler is None else 1,
                         scheduler=scheduler, overwrite=True, progress=False)
            queries = sum(int(r["queries"] or 0) for r in report.records)
            ok = sum(bool(r["success"]) for r in report.records)
            fingerprints[label] = {r["cell"]: r["ledger_fingerprint"] for r in report.records}
            cell_s = [float(r["timing"]["seconds"]) for r in report.records]
            out[label] = {"workers": workers, "scheduler": scheduler, "cells": report.cells, "succeeded": ok,
                          "errors": report.errors, "queries": queries, "makespan_s": round(report.seconds, 2),
                          "queries_per_s": round(queries / report.seconds, 1),
                          "cell_seconds_sum": round(sum(cell_s), 2), "largest_cell_s": round(max(cell_s), 2),
                          # work / (N makespan): the share of the N workers' time spent in cells
                          "work_efficiency": round(sum(cell_s) / (args.workers * report.seconds), 3)
                          if label == "cluster" else None}
        if "serial" in out:
            out["efficiency"] = round(out["serial"]["makespan_s"] / (args.workers * out["cluster"]["makespan_s"]), 3)
            out["same_results"] = fingerprints["serial"] == fingerprints["cluster"]
    if args.json:
        print(json.dumps(out))
    else:
        for label in ("serial", "cluster"):
            if label in out:
                r = out[label]
                print(f"{label:8s} workers={r['workers']} cells={r['cells']} ok={r['succeeded']} "
                      f"queries={r['queries']} makespan={r['makespan_s']} s  {r['queries_per_s']} queries/s  "
                      f"largest cell {r['largest_cell_s']} s  work efficiency {r['work_efficiency']}")
        if "efficiency" in out:
            print(f"efficiency T1/(N TN) = {out['efficiency']}  same results: {out['same_results']}")
    return out


if __name__ == "__main__":
    main()
