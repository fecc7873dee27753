"""Paper experiments: one function per experiment, registered by name for ``sqsim run NAME``.

Every function takes the output directory and keyword options (``quick``, ``workers``,
``scheduler``, ``resume``, ``progress``, ``seed``), writes its results file (JSON lines) and its
plot (PNG and SVG) there, and returns ``{"results": path, "plots": [paths], ...}``.

Add an experiment with the decorator; the command line picks it up::

    @experiment("vw-vs-lifted")
    def vw_vs_lifted(out_dir, *, quick=False, workers=1, scheduler=None, resume=False, progress=None, seed=0):
        '''One line: what it reproduces (paper, theorem or figure).'''
        ...
        return {"results": results_path, "plots": plot(results_path, out_dir)}

Registered now: ``parity-queries``, ``lifted-parities``, ``gadget-masses``. Planned names:
``vw-vs-lifted`` (the Vempala-Wilmes cheat against lifted parities) and ``shamir-figure2``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from .._validation import Options, check_param

__all__ = ["EXPERIMENTS", "experiment", "gadget_masses", "lifted_parities", "parity_queries", "run_experiment"]

#: name -> experiment function (``sqsim run NAME``)
EXPERIMENTS: dict = {}


def experiment(name: str):
    """Register an experiment function under ``name`` (kebab case)."""

    def deco(fn):
        EXPERIMENTS[name] = fn
        fn.experiment_name = name
        return fn

    return deco


def run_experiment(name: str, out_dir=None, **options) -> dict:
    """Run the experiment registered as ``name`` into ``out_dir`` (default ``sqsim-paper/NAME``)."""
    check_param("name", name, Options(tuple(EXPERIMENTS)), "sqsim.experiments.paper.run_experiment")
    out = Path(out_dir) if out_dir is not None else Path("sqsim-paper") / name
    out.mkdir(parents=True, exist_ok=True)
    return EXPERIMENTS[name](out, **options)


def _available(names):
    import learners

    have = set(learners.available())
    return [n for n in names if (n if isinstance(n, str) else n["name"]) in have]


def _sweep(config: dict, out: Path, *, workers, scheduler, resume, progress) -> dict:
    from ._plot import plot
    from ._report import format_table
    from ._runner import run

    report = run(config, workers=workers, scheduler=scheduler, resume=resume, overwrite=not resume,
                 progress=progress)
    plots = plot(report.path, out)
    table = format_table(report.records)
    print(table)
    (out / "summary.txt").write_text(table + "\n")
    return {"results": report.path, "plots": plots, "report": report, "table": table}


#: SQ learners compared in parity-queries (one line each; unregistered ones are skipped)
PARITY_QUERY_LEARNERS = [
    "parity-brute-force",
    "exact-cheat",  # one query with exact answers; the adversary is what makes the bound real
    "gf2-elimination",  # examples, not queries: about d
]


@experiment("parity-queries")
def parity_queries(out_dir, *, quick=False, workers=1, scheduler=None, resume=False, progress=None, seed=0):
    """Parity queries versus d against the SQ lower bound (Kearns 1998; Blum, Furst, Jackson, Kearns, Mansour, Rudich 1994).

    Against the null adversary every SQ learner needs ceil(tau^2 (2^d - 2)) queries to identify a
    parity (MATH.md M2; BFJ+94's SQ-dimension bound); brute force needs 2^(d-1) on average, a
    cheating learner needs one query when the oracle answers exactly, and Gaussian elimination
    (not an SQ algorithm) about d examples. Grid: d = 4..14 (quick 4..10), tau = 0.1, exact and
    adversarial answers, 9 random parities per d (quick 3). (Brute force at d = 16 costs about a minute
    per cell here: 1.4 ms per query over 2^16 points.)
    """
    out = Path(out_dir)
    ds = list(range(4, 11 if quick else 15, 2))
    config = {"name": "parity-queries", "seed": seed, "results": str(out / "parity-queries.jsonl"),
              "grid": [{"learner": name, "family": "parity", "d": ds, "tau": 0.1,
                        "strategy": ["exact", "adversarial"], "seeds": 3 if quick else 9}
                       for name in _available(PARITY_QUERY_LEARNERS)]}
    return _sweep(config, out, workers=workers, scheduler=scheduler, resume=resume, progress=progress)


#: Gaussian tolerance of lifted-parities: below P[f^Delta != 0] / 2 ~ 0.0294 (delta = 1/d, d <= 8)
LIFTED_TAU = 0.028


@experiment("lifted-parities")
def lifted_parities(out_dir, *, quick=False, workers=1, scheduler=None, resume=False, progress=None, seed=0):
    """Lifted parities through the Theorem 3.2 adapter (Chen, Gollakota, Klivans, Meka 2022, Thms 2.3 and 3.2).

    The compressed lift turns each parity on {0,1}^d into a two-hidden-layer ReLU network on
    N(0, I_d); LiftedOracle answers each Gaussian query at tolerance tau with one Boolean query at
    tau / 2, so a Gaussian SQ learner's count follows the Boolean one. Grid: lifted-parity-brute-force
    at Gaussian tau = 0.028 (below P[f^Delta != 0] / 2, delta = 1/d) on d = 3..6 (quick 3..4), adversarial
    oracle, and beside it parity-brute-force on the same parities with the same seeds at the Boolean
    tolerance 0.014: the paired counts are equal, cell for cell.
    """
    out = Path(out_dir)
    ds = list(range(3, 5 if quick else 7))
    seeds = 2 if quick else 3
    config = {"name": "lifted-parities", "seed": seed, "results": str(out / "lifted-parities.jsonl"),
              "strategy": "adversarial", "seeds": seeds, "d": ds,
              "grid": [{"learner": "lifted-parity-brute-force", "family": "lifted-parity", "tau": LIFTED_TAU},
                       {"learner": "parity-brute-force", "family": "parity", "tau": LIFTED_TAU / 2}]}
    res = _sweep(config, out, workers=workers, scheduler=scheduler, resume=resume, progress=progress)
    pairs = {}
    for r in res["report"].records:
        pairs.setdefault((r["d"], r["seed_index"]), {})["lifted" if r["oracle"] == "lifted" else "boolean"] = r
    lines = ["d  seed  lifted queries  Boolean queries  same target"]
    for (d, i), p in sorted(pairs.items()):
        lq, bq = p.get("lifted", {}).get("queries"), p.get("boolean", {}).get("queries")
        same = (p.get("lifted", {}).get("target") or {}).get("support") == (p.get("boolean", {}).get("target")
                                                                             or {}).get("support")
        lines.append(f"{d:<2} {i:>4}  {lq!s:>14}  {bq!s:>15}  {same}")
    text = "\n".join(lines)
    print(text)
    with open(out / "summary.txt", "a") as fh:
        fh.write("\n" + text + "\n")
    res["pairs"] = text
    return res


@experiment("gadget-masses")
def gadget_masses(out_dir, *, quick=False, workers=1, scheduler=None, resume=False, progress=None, seed=0):
    """P(G) and P(f^Delta != 0) of the compressed lift, exact and by sampling (CGKM22 Eqs. (4)-(8); MATH.md 3.3).

    For q = 2, D = 2 and a parity with |S| = 2: P(G) = (1 - 2 delta)^(d-1) P(N2(z) in (rho/2, rho))
    (``lift.good_region_mass()``) and P(f^Delta != 0) (``lift.nonzero_mass(f)``), against Monte Carlo
    frequencies on 4e5 Gaussian points (1e5 with quick), for d in {4, 10} and delta in {1e-3, 1e-2, 0.1}
    (MATH.md 3.3's table). ``workers``, ``scheduler`` and ``resume`` are accepted and unused (seconds of work).
    """
    from .._random import stable_words
    from ..concepts import Parity
    from ..lift import CompressedLift

    out = Path(out_dir)
    n = 100_000 if quick else 400_000
    rows = []
    for d in (4, 10):
        for delta in (1e-3, 1e-2, 0.1):
            lift = CompressedLift(d, q=2, delta=delta, D=2)
            f = Parity(d, [0, 1])
            g = lift.lift(f)
            ss = np.random.SeedSequence(seed, spawn_key=tuple(stable_words("gadget-masses", d, repr(delta))))
            rng = np.random.default_rng(ss)
            hits_g = hits_nz = 0
            for start in range(0, n, 100_000):
                Z = rng.standard_normal((min(100_000, n - start), d))
                hits_g += int(np.count_nonzero(lift.in_good_region(Z)))
                hits_nz += int(np.count_nonzero(g(Z) != 0))
            row = {"schema": 1, "experiment": "gadget-masses", "d": d, "delta": delta, "D": 2, "support": [0, 1],
                   "samples": n, "seed": seed, "rho": float(lift.rho),
                   "P_G_exact": float(lift.good_region_mass()), "P_G_mc": hits_g / n,
                   "P_nonzero_exact": float(lift.nonzero_mass(f)), "P_nonzero_mc": hits_nz / n}
            for key in ("P_G", "P_nonzero"):
                p = row[f"{key}_exact"]
                se = math.sqrt(max(p * (1 - p), 1e-300) / n)
                row[f"{key}_stderr"] = se
                row[f"{key}_z"] = (row[f"{key}_mc"] - p) / se
            rows.append(row)
    results = out / "gadget-masses.jsonl"
    tmp = results.with_name(results.name + ".tmp")
    with open(tmp, "w") as fh:
        for row in rows:
            fh.write(json.dumps(row, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(results)
    table = ["d  delta   P(G) exact   P(G) MC      z     P(f!=0) exact  P(f!=0) MC     z"]
    for r in rows:
        table.append(f"{r['d']:<2} {r['delta']:<6g} {r['P_G_exact']:11.3e} {r['P_G_mc']:10.3e} {r['P_G_z']:6.2f}"
                     f"  {r['P_nonzero_exact']:13.3e} {r['P_nonzero_mc']:11.3e} {r['P_nonzero_z']:6.2f}")
    text = "\n".join(table)
    print(text)
    (out / "summary.txt").write_text(text + f"\n\n{n} Gaussian samples per row, root seed {seed}.\n")
    return {"results": results, "plots": _plot_masses(rows, out, n), "rows": rows, "table": text}


def _plot_masses(rows, out: Path, n: int) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    for ax, key, title in ((axes[0], "P_G", "P(G), the good region of Eq. (8)"),
                           (axes[1], "P_nonzero", "P(f^Delta != 0), the signal budget")):
        for n_, d in enumerate(sorted({r["d"] for r in rows})):
            rs = sorted((r for r in rows if r["d"] == d), key=lambda r: r["delta"])
            x = np.array([r["delta"] for r in rs])
            line, = ax.plot(x, [r[f"{key}_exact"] for r in rs], lw=1.6, label=f"exact, d = {d}")
            ax.errorbar(x * (1.06 if n_ else 0.94), [r[f"{key}_mc"] for r in rs],
                        yerr=[2 * r[f"{key}_stderr"] for r in rs], fmt="o", ms=4, capsize=3,
                        color=line.get_color(), label=f"Monte Carlo +- 2 s.e., d = {d}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("delta = P[z in R] (interval mass)")
        ax.set_ylabel("probability")
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.text(0.01, 0.01, f"CompressedLift q = 2, D = 2, target parity S = {{0, 1}}; exact: lift.good_region_mass(), "
                         f"lift.nonzero_mass(f); Monte Carlo on {n:.0e} N(0, I_d) points per point (MATH.md 3.3).",
             fontsize=7.5)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    written = []
    for fmt in ("png", "svg"):
        p = out / f"gadget_masses.{fmt}"
        fig.savefig(p, dpi=130 if fmt == "png" else None)
        written.append(p)
    plt.close(fig)
    return written

