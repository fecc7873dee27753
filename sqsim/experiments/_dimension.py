"""``sqsim run sq-dimension``: certified SQ lower bounds (SDA) versus d beside measured learner counts.

For parities, k-sparse parities (k = 2, 3), LWR (q = 3, p = 2), a finite natural-weights class (DV20) and
lifted parities (CGKM22), the statistical dimension with average correlation (FGRVX17) is computed by
:mod:`sqsim.dimension` as a certified interval, together with the query lower bound of FGRVX17 Theorem 3.7
at the class's tolerance; beside it, the medians of the learners that run on the class (a sweep through
:func:`sqsim.experiments.run`), and the version-space adversary's realised counts
(docs/theory/dimension-lifted.md, section "sq-dimension-experiment").
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import numpy as np

from .paper import _available, _save, _write_rows, experiment

#: the tolerance of the Boolean classes (parities, sparse parities, LWR, natural weights)
TAU = 0.1
#: the Gaussian tolerance of lifted parities (below P[f^Delta != 0] / 2, as in lifted-parities)
LIFTED_TAU = 0.025
#: lattice resolution of the law of V for the lifted CSQ rows (E[phi_D(V)^2]'s certified error falls like 1/G)
LIFTED_GRID = 16384
#: LWR moduli
LWR_Q, LWR_P = 3, 2
#: members of the natural-weights class and its hidden units
NW_MEMBERS, NW_UNITS = 32, 4
#: the bound columns of the CSV table
CSV_FIELDS = ("family", "d", "N", "kind", "oracle", "tolerance", "gamma", "sda_lower", "sda_upper", "lower",
              "upper", "abs_error", "method", "closed_form", "seconds")


def _grids(quick: bool) -> list[dict]:
    ds = [4, 6, 8] if quick else [4, 6, 8, 10, 12, 14]
    vs = [4, 6] if quick else [4, 6, 8, 10, 12]
    sp = [6, 8] if quick else [6, 8, 10, 12, 14]
    lifted = [4, 6] if quick else [4, 6, 8, 10]
    seeds = 3 if quick else 7
    grids = [{"learner": "parity-brute-force", "family": "parity", "d": ds, "tau": TAU, "strategy": "adversarial",
              "seeds": seeds},
             {"learner": ["parity-brute-force", "version-space-search"], "family": "parity", "d": vs, "tau": TAU,
              "strategy": "version-space", "seeds": 2}]
    for k in (2, 3):
        grids.append({"learner": {"name": "parity-brute-force", "max_size": k}, "family": {"name": "sparse-parity",
                      "k": k}, "d": sp, "tau": TAU, "strategy": "adversarial", "seeds": seeds})
    grids.append({"learner": "lifted-parity-brute-force", "family": "lifted-parity", "d": lifted, "tau": LIFTED_TAU,
                  "strategy": "adversarial", "seeds": 3})
    keep = []
    for g in grids:
        names = g["learner"] if isinstance(g["learner"], list) else [g["learner"]]
        names = _available(names)
        if names:
            keep.append({**g, "learner": names})
    return keep


def _bound_row(family: str, d: int, N: int, kind: str, b, matrix_error: float, seconds: float, *, closed=None,
               method="matrix", params=None) -> dict:
    s = b.sda
    return {"schema": 1, "experiment": "sq-dimension", "part": "bound", "family": family,
            "family_params": params or {}, "d": d, "N": N, "kind": kind, "oracle": b.oracle,
            "tolerance": b.tolerance, "gamma": b.gamma, "sda_lower": _finite(s.lower), "sda_upper": _finite(s.upper),
            "lower": _finite(b.lower), "upper": _finite(b.upper),
            "lower_is_infinite": isinstance(b.lower, float) and math.isinf(b.lower),
            "abs_error": matrix_error, "method": method,
            "closed_form": closed, "theorem": b.theorem, "timing": {"seconds": seconds}}


def _finite(v):
    return None if v is None or (isinstance(v, float) and math.isinf(v)) else int(v)


def _sweep_bound_row(family: str, spec, d: int, tau: float, cache: Path, closed=None) -> dict:
    from ..dimension._sweep import sweep_bound

    t0 = time.perf_counter()
    b = sweep_bound(spec, d, tau, cache)
    return {"schema": 1, "experiment": "sq-dimension", "part": "bound", "family": family,
            "family_params": b["family_params"], "d": d, "N": b["N"], "kind": b["kind"], "oracle": b["oracle"],
            "tolerance": tau, "gamma": b["gamma"], "sda_lower": b["sda_lower"], "sda_upper": b["sda_upper"],
            "lower": b["lower"], "upper": b["upper"], "abs_error": b["abs_error"], "method": b["method"],
            "closed_form": closed, "theorem": b["theorem"], "timing": {"seconds": time.perf_counter() - t0}}


def bound_rows(quick: bool, cache: Path, seed: int) -> list[dict]:
    """The certified bounds of every class (one row per class and d)."""
    from .. import Gaussian
    from ..concepts import LWRSecrets, NaturalWeights, Parity
    from ..dimension import orthonormal_sda, pairwise_correlations, sq_lower_bound
    from ..dimension._lifted import lifted_correlations
    from ._families import LiftedParityFamily

    rows = []
    for d in range(4, (10 if quick else 16) + 1, 2):
        N = 2**d - 1
        closed = orthonormal_sda(N, min(TAU / 6, TAU**2 / 3))
        rows.append(_sweep_bound_row("parity", "parity", d, TAU, cache, _finite(closed)))
    for k in (2, 3):
        for d in range(6, (8 if quick else 16) + 1, 2):
            closed = orthonormal_sda(math.comb(d, k), min(TAU / 6, TAU**2 / 3))
            rows.append(_sweep_bound_row(f"sparse-parity-k{k}", {"name": "sparse-parity", "k": k}, d, TAU, cache,
                                         _finite(closed)))
    for d in range(4, (6 if quick else 12) + 1, 2):
        rows.append(_sweep_bound_row("lifted-parity", "lifted-parity", d, LIFTED_TAU, cache))
    for d in range(4, (6 if quick else 10) + 1, 2):  # CSQ: E[(f_S - r)(f_T - r)] against the lifted null's mean r
        t0 = time.perf_counter()
        lift = LiftedParityFamily({}, "sq-dimension").make_lift(d)
        concepts = [Parity(d, [j for j in range(d) if (c >> j) & 1]) for c in range(1, 2**d)]
        m = lifted_correlations(lift, concepts, kind="csq", grid=LIFTED_GRID, where="sq-dimension")
        b = sq_lower_bound(m, tolerance=LIFTED_TAU)
        rows.append(_bound_row("lifted-parity-csq", d, m.N, "csq", b, m.abs_error, time.perf_counter() - t0,
                               params={"delta": lift.delta, "D": lift.D}))
    for d in range(2, (4 if quick else 6) + 1):
        t0 = time.perf_counter()
        fam = LWRSecrets(d, LWR_Q, LWR_P)
        m = pairwise_correlations(fam)
        b = sq_lower_bound(m, tolerance=TAU)
        rows.append(_bound_row("lwr", d, m.N, "sq", b, m.abs_error, time.perf_counter() - t0,
                               params={"q": LWR_Q, "p": LWR_P}))
    for n in ((4, 8) if quick else (4, 8, 12, 16)):
        t0 = time.perf_counter()
        fam = NaturalWeights(n, NW_UNITS, members=NW_MEMBERS, seed=seed)
        m = pairwise_correlations(fam, Gaussian(n), kind="csq", samples=4000 if quick else 40_000, seed=seed)
        b = sq_lower_bound(m, tolerance=TAU)
        rows.append(_bound_row("natural-weights", n, m.N, "csq", b, m.abs_error, time.perf_counter() - t0,
                               method="monte carlo", params={"m": NW_UNITS, "members": NW_MEMBERS,
                                                             "confidence": m.reference["confidence"]}))
    return rows


def _family_name(rec: dict) -> str:
    if rec["family"] == "sparse-parity":
        return f"sparse-parity-k{rec['family_params']['k']}"
    return rec["family"]


def measured_rows(records: list[dict], bounds: list[dict]) -> list[dict]:
    """Medians and quartiles of each (class, learner, strategy, d), beside the class's certified bound."""
    lower = {(r["family"], r["d"]): r["lower"] for r in bounds}
    groups: dict = {}
    for r in records:
        if r.get("error") is None and r.get("queries") is not None:
            key = (_family_name(r), r["learner"], r["strategy"], r["tau"], r["d"])
            groups.setdefault(key, []).append(r)
    out = []
    for (fam, learner, strategy, tau, d), recs in sorted(groups.items()):
        q = np.array([r["queries"] for r in recs], dtype=float)
        lb = lower.get((fam, d))
        med = float(np.median(q))
        out.append({"schema": 1, "experiment": "sq-dimension", "part": "measured", "family": fam, "d": d,
                    "learner": learner, "strategy": strategy, "tau": tau, "cells": len(recs),
                    "median": med, "q25": float(np.percentile(q, 25)), "q75": float(np.percentile(q, 75)),
                    "min": float(q.min()), "successes": sum(bool(r["success"]) for r in recs),
                    "certified_lower": lb, "median_above_bound": None if lb is None else bool(med >= lb)})
    return out


def _table(bounds: list[dict], measured: list[dict]) -> str:
    lines = ["class                d      N     kind  tol     gamma      SDA [lower, upper]   queries >=  "
             "closed form  measured medians (learner/strategy)"]
    for b in bounds:
        ms = [m for m in measured if m["family"] == b["family"] and m["d"] == b["d"]]
        meas = "; ".join(f"{m['learner']}/{m['strategy']} {m['median']:g}" for m in ms) or "-"
        sda = f"[{b['sda_lower']}, {b['sda_upper']}]"
        lines.append(f"{b['family']:<20} {b['d']:<3} {b['N']:>7}  {b['kind']:<4} {b['tolerance']:<6g} "
                     f"{b['gamma']:9.3e}  {sda:>19}  {b['lower']!s:>10}  {b['closed_form']!s:>11}  {meas}")
    return "\n".join(lines)


def _plot(bounds: list[dict], measured: list[dict], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    panels = [("parity", "Parities on {0,1}^d (2^d - 1 nonempty)"),
              ("sparse-parity-k2", "2-sparse parities"), ("sparse-parity-k3", "3-sparse parities"),
              ("lifted-parity", "Lifted parities on N(0, I_d): SQ (lifted null) and CSQ"),
              ("lwr", f"LWR on Z_{LWR_Q}^d, p = {LWR_P} (all q^d secrets)"),
              ("natural-weights", f"Natural weights (DV20), {NW_MEMBERS} members, CSQ, Monte Carlo")]
    fig, axes = plt.subplots(2, 3, figsize=(17, 9.5))
    for ax, (fam, title) in zip(axes.ravel(), panels):
        fams = [fam, "lifted-parity-csq"] if fam == "lifted-parity" else [fam]
        for f, style in zip(fams, ("-", "--")):
            bs = sorted((b for b in bounds if b["family"] == f), key=lambda b: b["d"])
            if not bs:
                continue
            ds = np.array([b["d"] for b in bs])
            # an infinite bound (no query at this tolerance tells the members apart) is not drawn
            lo = np.array([np.nan if b.get("lower_is_infinite") else max(b["lower"] or 0, 0.8) for b in bs],
                          dtype=float)
            up = np.array([max(b["sda_upper"] if b["sda_upper"] is not None else np.nan, 0.8) for b in bs],
                          dtype=float)
            kind = bs[0]["kind"].upper()
            only = " (correlational learners only)" if kind == "CSQ" else ""
            ax.plot(ds, lo, "k" + style, lw=1.8, marker="s", ms=4,
                    label=f"certified {kind} lower bound ({'correlational route' if kind == 'CSQ' else 'Thm 3.7'}), "
                          f"tol {bs[0]['tolerance']:g}{only}")
            ax.plot(ds, up, color="0.5", ls=style, lw=1, label=f"SDA upper (witness), {kind}")
            if any(b["closed_form"] is not None for b in bs):
                ax.plot(ds, [max(b["closed_form"] or 0, 0.8) for b in bs], "x", color="0.3", ms=7,
                        label="closed form ceil(N/(ceil(1/gamma)-1))-1")
        ms = [m for m in measured if m["family"] == fam]
        for n, key in enumerate(sorted({(m["learner"], m["strategy"]) for m in ms})):
            rs = sorted((m for m in ms if (m["learner"], m["strategy"]) == key), key=lambda m: m["d"])
            x = np.array([m["d"] for m in rs]) + 0.08 * (n - 1)
            line, = ax.plot(x, [max(m["median"], 0.8) for m in rs], marker="o", ms=4, lw=1.4,
                            label=f"{key[0]} [{key[1]}]: median")
            ax.fill_between(x, [max(m["q25"], 0.8) for m in rs], [max(m["q75"], 0.8) for m in rs],
                            color=line.get_color(), alpha=0.18, lw=0)
        ax.set_yscale("log")
        ax.set_xlabel("n (input dimension)" if fam == "natural-weights" else "d")
        ax.set_ylabel("queries")
        ax.set_title(title, fontsize=9.5)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6.5, loc="upper left")
    fig.suptitle("Certified SQ lower bounds from the statistical dimension (FGRVX17 SDA, Theorem 3.7) beside "
                 "measured counts", fontsize=11)
    fig.text(0.01, 0.01, f"STAT tolerance tau = {TAU} (lifted: Gaussian tau = {LIFTED_TAU}), gamma = min(tau/6, "
                         f"tau^2/3); bounds of 0 drawn at 0.8, infinite ones not drawn. Medians over seeds with interquartile bands. "
                         f"Natural weights: Monte Carlo correlations, simultaneous confidence 0.999.", fontsize=7.5)
    fig.tight_layout(rect=(0, 0.03, 1, 0.96))
    return _save(fig, out, "sq_dimension")


@experiment("sq-dimension")
def sq_dimension(out_dir, *, quick=False, workers=1, scheduler=None, resume=False, progress=None, seed=0):
    """Certified SDA lower bounds versus d beside measured counts (FGRVX17 Theorem 3.7; CGKM22; DV20).

    For parities (d = 4..16, quick 4..10), 2- and 3-sparse parities, lifted parities (SQ against the
    lifted null and CSQ, Gaussian tau = 0.025), LWR on Z_3^d (p = 2, all 3^d secrets) and a 32-member
    clipped natural-weights class (CSQ by Monte Carlo): the certified SDA interval of
    :func:`sqsim.dimension.sda` and the query lower bound of :func:`sqsim.dimension.sq_lower_bound` at
    tau = 0.1, with the orthonormal closed form where it applies. Beside them a sweep: parity-brute-force
    (adversarial, 7 seeds; quick 3), parity-brute-force and version-space-search against the version-space
    adversary (its realised count; 2 seeds, d <= 12), brute force restricted to |S| <= k on k-sparse
    targets, lifted-parity-brute-force through the adapter. Writes ``sq-dimension.jsonl`` (bounds and
    medians), ``bounds.csv``, the sweep's ``sq-dimension-sweep.jsonl``, ``sq_dimension.png``/``.svg`` and
    ``summary.txt``; bounds are cached in ``bounds-cache/`` (sweep_bound).
    """
    from ._runner import run

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = {"name": "sq-dimension", "seed": seed, "results": str(out / "sq-dimension-sweep.jsonl"),
              "grid": _grids(quick)}
    report = run(config, workers=workers, scheduler=scheduler, resume=resume, overwrite=not resume,
                 progress=progress)
    bounds = bound_rows(quick, out / "bounds-cache", seed)
    measured = measured_rows(report.records, bounds)
    results = _write_rows(bounds + measured, out / "sq-dimension.jsonl")
    with open(out / "bounds.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for b in bounds:
            w.writerow({**b, "seconds": f"{b['timing']['seconds']:.3f}"})
    text = _table(bounds, measured)
    below = [m for m in measured if m["median_above_bound"] is False]
    text += ("\n\nEvery median lies at or above the certified bound of its class." if not below else
             "\n\nMedians below the certified bound: " + ", ".join(f"{m['family']} d={m['d']} {m['learner']}"
                                                                   for m in below))
    print(text)
    (out / "summary.txt").write_text(text + "\n")
    return {"results": results, "plots": _plot(bounds, measured, out), "rows": bounds + measured, "table": text,
            "report": report, "sweep": report.path}
