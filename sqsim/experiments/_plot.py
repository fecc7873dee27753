"""Plots of results files: queries versus d, medians with interquartile bands, theory curves.

One figure per target family (and family parameters). Each (learner + parameters, strategy) is a
series: the median over seeds at each d with the band between the 25th and 75th percentiles. The
theory curves come from :mod:`sqsim.bounds`:

- the SQ lower bound ceil(tau^2 (N - 1)) for the class searched (N = 2^d - 1 parities, or C(d, k)
  k-sparse ones; docs/theory/bounds.md, section bounds-parity), at each Boolean tolerance in the figure;
- brute force 2^(d-1) (``bounds.brute_force_expected``) for full parity classes;
- the low-degree count sum_{i <= k} C(d, i) (``bounds.low_degree_queries``) for each low-degree k;
- d for Gaussian elimination on examples.

Lifted families are drawn against the Boolean dimension: the Gaussian tolerance tau becomes the
Boolean tolerance tau / 2 in the adapter (Theorem 3.2), so the lower bound is drawn at tau / 2, and
Boolean cells of the same class at that tolerance are drawn beside the lifted ones.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections import defaultdict
from pathlib import Path

import numpy as np

from .. import bounds
from .._errors import InvalidParameterError
from ._config import canonical
from ._runner import read_results

__all__ = ["plot", "series", "theory_curves"]

_ELIMINATION = ("gf2-elimination",)


def _fam_label(name: str, params: dict) -> str:
    extra = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
    return f"{name} ({extra})" if extra else name


def _learner_label(rec: dict) -> str:
    params = rec.get("params") or {}
    extra = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
    return f"{rec['learner']}({extra})" if extra else rec["learner"]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def _boolean_tau(rec: dict):
    tau = rec.get("tau")
    if tau is None:
        return None
    return tau / 2 if rec.get("oracle") == "lifted" else tau


def series(records: list[dict]) -> dict:
    """{(learner label, strategy, tau): {d: [queries over seeds]}} for records without errors."""
    out: dict = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r.get("error") is None and r.get("queries") is not None:
            out[(_learner_label(r), r["strategy"], r.get("tau"))][int(r["d"])].append(int(r["queries"]))
    return out


def _base_class(name: str, params: dict) -> tuple:
    k = params.get("k")
    return ("parity", None) if k is None else ("sparse-parity", int(k))


def theory_curves(records: list[dict], ds: np.ndarray, base: tuple) -> list[tuple[str, np.ndarray]]:
    """(label, values at ds) for the theory curves that apply to these records."""
    curves = []
    kind, k = base
    taus = sorted({t for t in (_boolean_tau(r) for r in records) if t is not None})
    for tau in taus:
        if kind == "parity":
            vals = [bounds.parity_sq_lower_bound(int(d), float(tau)) for d in ds]
            label = f"SQ lower bound ceil(tau^2 (2^d - 2)), tau = {tau:g}"
        else:
            vals = [bounds.class_sq_lower_bound(math.comb(int(d), k), float(tau)) for d in ds]
            label = f"SQ lower bound ceil(tau^2 (C(d,{k}) - 1)), tau = {tau:g}"
        curves.append((label, np.maximum(np.asarray(vals, dtype=float), 1.0)))
    if kind == "parity" and any("brute-force" in r["learner"] for r in records):
        curves.append(("brute force 2^(d-1)", np.array([bounds.brute_force_expected(int(d)) for d in ds])))
    ks = sorted({int(r["params"]["k"]) for r in records if r["learner"] == "low-degree" and "k" in r["params"]})
    for kk in ks:
        curves.append((f"low degree (LMN) sum_(i<={kk}) C(d, i)",
                       np.array([bounds.low_degree_queries(int(d), kk) for d in ds], dtype=float)))
    if any(r["learner"] in _ELIMINATION or r.get("oracle") == "example" for r in records):
        curves.append(("d (Gaussian elimination on examples)", ds.astype(float)))
    return curves


#: theory curve styles by the first word of the label: (grey level, line style)
_THEORY_STYLE = {
    "SQ": ("0.0", "--"),
    "brute": ("0.35", (0, (1, 1.5))),
    "low": ("0.25", "-."),
    "d": ("0.55", (0, (7, 2))),
}


def dgrid_of(ds_all) -> np.ndarray:
    return np.arange(ds_all[0], ds_all[-1] + 1)


def _draw_panel(ax, recs: list[dict], extra: list[dict], base: tuple, lifted: bool):
    from matplotlib.ticker import FuncFormatter

    allrecs = recs + extra
    ds_all = sorted({int(r["d"]) for r in allrecs})
    groups = series(recs)
    multi_tau = len({key[2] for key in groups} - {None}) > 1
    markers = "osD^vP*Xh"
    ordered = sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0])))
    width = 0.07 * (len(dgrid_of(ds_all)) > 1)  # dodge: series with equal counts stay visible side by side
    for n, (key, by_d) in enumerate(ordered):
        lab, strategy, tau = key
        ds = np.array(sorted(by_d))
        x = ds + width * (n - (len(ordered) - 1) / 2)
        q = [np.percentile(by_d[d], [25, 50, 75]) for d in ds]
        lo, med, hi = (np.array([x[i] for x in q]) for i in range(3))
        cells = [r for r in recs if (_learner_label(r), r["strategy"], r.get("tau")) == key]
        rate = sum(bool(r["success"]) for r in cells) / max(1, len(cells))
        name = f"{lab} [{strategy}" + (f", tau={tau:g}" if multi_tau and tau is not None else "") + "]"
        if lifted:
            name = f"{lab} via LiftedOracle [{strategy}, Gaussian tau={tau:g}]"
        line, = ax.plot(x, np.maximum(med, 0.8), marker=markers[n % len(markers)], lw=1.8, ms=5,
                        mfc="none" if rate < 0.5 else None,  # hollow: the learner mostly failed
                        label=f"{name}: median, success {rate:.0%}")
        ax.fill_between(x, np.maximum(lo, 0.8), np.maximum(hi, 0.8), color=line.get_color(), alpha=0.18, lw=0)
        xs = np.concatenate([np.full(len(by_d[d]), xi) for d, xi in zip(ds, x)])
        ys = np.concatenate([by_d[d] for d in ds])
        ax.scatter(xs, np.maximum(ys, 0.8), s=9, color=line.get_color(), alpha=0.35, lw=0)
    for n, (key, by_d) in enumerate(sorted(series(extra).items(), key=lambda kv: tuple(map(str, kv[0])))):
        lab, strategy, tau = key
        ds = np.array(sorted(by_d))
        med = np.array([np.median(by_d[d]) for d in ds])
        ax.plot(ds, np.maximum(med, 0.8), ls=":", marker="x", ms=6, lw=1.4,
                label=f"Boolean {lab} [{strategy}, tau={tau:g}]: median")
    dgrid = dgrid_of(ds_all)
    for label, vals in theory_curves(allrecs, dgrid, base):
        color, ls = _THEORY_STYLE.get(label.split(" ")[0], ("0.4", (0, (3, 1, 1, 1, 1, 1))))
        ax.plot(dgrid, vals, color=color, ls=ls, lw=1.4, zorder=3, label=f"theory: {label}")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xticks(dgrid if len(dgrid) <= 20 else dgrid[:: math.ceil(len(dgrid) / 20)])
    ax.set_xlabel("Boolean dimension d (lifted to N(0, I_d))" if lifted else "dimension d")
    ax.set_ylabel("queries (examples for example oracles)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left", framealpha=0.9)


def plot(results_path, out_dir, *, formats=("png", "svg")) -> list[Path]:
    """Draw every family of a results file; returns the written files (PNG and SVG per family).

    Parameters
    ----------
    results_path : path
        A results file written by :func:`sqsim.experiments.run`.
    out_dir : path
        Created if needed; files are named ``queries_vs_d_<family>.png`` / ``.svg``.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    records = read_results(results_path)
    if not records:
        raise InvalidParameterError(f"The 'results_path' parameter of sqsim.experiments.plot must be a results "
                                    f"file with at least one cell. Got {str(results_path)!r} (empty) instead.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    panels: dict = defaultdict(list)
    for r in records:
        panels[(r["family"], canonical(r.get("family_params") or {}))].append(r)
    written = []
    for (fam, fp), recs in sorted(panels.items()):
        params = recs[0].get("family_params") or {}
        lifted = any(r.get("oracle") == "lifted" for r in recs)
        base = _base_class(fam, params)
        extra = []
        if lifted:  # Boolean cells of the same class at the adapter's Boolean tolerance, at the same d
            btaus = {_boolean_tau(r) for r in recs}
            dset = {r["d"] for r in recs}
            extra = [r for r in records if r.get("oracle") != "lifted" and r["d"] in dset and r.get("tau") in btaus
                     and _base_class(r["family"], r.get("family_params") or {}) == base]
        fig, ax = plt.subplots(figsize=(9, 6.2))
        _draw_panel(ax, recs, extra, base, lifted)
        label = _fam_label(fam, params)
        exps = sorted({r.get("experiment", "") for r in recs})
        ax.set_title(f"Queries to learn {label} versus dimension ({', '.join(exps)})", fontsize=11)
        seeds = sorted({r["seed_index"] for r in recs})
        taus = sorted({r["tau"] for r in recs if r.get("tau") is not None})
        roots = sorted({r["seeds"]["root"] for r in recs})
        caption = (f"{len(recs)} cells; {len(seeds)} seeds per point; root seed {', '.join(map(str, roots))}; "
                   f"tau = {', '.join(f'{t:g}' for t in taus) or 'n/a'}; strategies "
                   f"{', '.join(sorted({r['strategy'] for r in recs}))}. Lines: median over seeds; bands: "
                   f"interquartile range; dots: single cells; hollow markers: success below 50%; grey: theory from sqsim.bounds.")
        if lifted:
            deltas = sorted({(r.get("target") or {}).get("delta") for r in recs} - {None})
            caption += (f" Gaussian tolerance tau through LiftedOracle (CGKM22 Thm 3.2) over a Boolean oracle at "
                        f"tau/2; CompressedLift q=2, delta = {', '.join(f'{x:.3g}' for x in deltas)}; curves "
                        f"against the Boolean dimension.")
        fig.text(0.01, 0.01, "\n".join(textwrap.wrap(caption, 150)), fontsize=7.5, va="bottom")
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        stem = out / f"queries_vs_d_{_slug(label)}"
        for fmt in formats:
            path = stem.with_suffix(f".{fmt}")
            fig.savefig(path, dpi=130 if fmt == "png" else None)
            written.append(path)
        plt.close(fig)
    return written
