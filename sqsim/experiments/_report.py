"""One text formatter for results: the table the CLI prints and ``summary.txt`` holds."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from .. import bounds

__all__ = ["format_table", "reference_counts"]


def reference_counts(rec: dict) -> tuple[int | None, str]:
    """(SQ lower bound for the class searched at the Boolean tolerance, the learner's reference count and its name)."""
    d = int(rec["d"])
    fp = rec.get("family_params") or {}
    k = fp.get("k")
    tau = rec.get("tau")
    btau = None if tau is None else (tau / 2 if rec.get("oracle") == "lifted" else tau)
    if btau is None:
        lb = None
    elif k is None:
        lb = bounds.parity_sq_lower_bound(d, float(btau))
    else:
        lb = bounds.class_sq_lower_bound(math.comb(d, int(k)), float(btau))
    name = rec["learner"]
    if name == "low-degree" and "k" in (rec.get("params") or {}):
        kk = int(rec["params"]["k"])
        return lb, f"{bounds.low_degree_queries(d, kk)} (LMN, k={kk})"
    if rec.get("oracle") == "example":
        return lb, f"{d} (d)"
    if "brute-force" in name and k is None:
        return lb, f"{bounds.brute_force_expected(d):.0f} (2^(d-1))"
    return lb, ""


def format_table(records: list[dict]) -> str:
    """Median and interquartile range of the queries per (family, learner, strategy, tau, d)."""
    groups = defaultdict(list)
    for r in records:
        label = r["learner"] + ("" if not r.get("params") else
                                "(" + ", ".join(f"{k}={v}" for k, v in sorted(r["params"].items())) + ")")
        fam = r["family"] + ("" if not r.get("family_params") else
                             "(" + ", ".join(f"{k}={v}" for k, v in sorted(r["family_params"].items())) + ")")
        groups[(fam, label, r["strategy"], -1.0 if r.get("tau") is None else r["tau"], int(r["d"]))].append(r)
    head = (f"{'family':<18} {'learner':<26} {'strategy':<13} {'tau':>6} {'d':>3} {'median':>8} "
            f"{'IQR':>15} {'success':>8} {'SQ LB':>7}  reference")
    lines = [head, "-" * len(head)]
    for key in sorted(groups):
        fam, label, strategy, tau, d = key
        recs = groups[key]
        q = [r["queries"] for r in recs if r.get("queries") is not None and r.get("error") is None]
        ok = sum(bool(r["success"]) for r in recs)
        errs = sum(r.get("error") is not None for r in recs)
        if q:
            lo, med, hi = np.percentile(q, [25, 50, 75])
            med_s, iqr = f"{med:8.1f}", f"[{lo:.0f}, {hi:.0f}]"
        else:
            med_s, iqr = f"{'-':>8}", "-"
        lb, ref = reference_counts(recs[0])
        succ = f"{ok}/{len(recs)}" + (f" ({errs} err)" if errs else "")
        lines.append(f"{fam:<18} {label:<26} {strategy:<13} {'-' if tau < 0 else f'{tau:g}':>6} {d:>3} {med_s} "
                     f"{iqr:>15} {succ:>8} {'-' if lb is None else lb:>7}  {ref}")
    return "\n".join(lines)
