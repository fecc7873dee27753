"""One text formatter for results: the table the CLI prints and ``summary.txt`` holds.

One block per target family: a row per (learner, strategy, tau) with the median query count at
each d (success count at the end), then the theory rows of :mod:`sqsim.bounds` for that family.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ._config import canonical

__all__ = ["format_table"]


def _params(p: dict) -> str:
    return "" if not p else "(" + ", ".join(f"{k}={v}" for k, v in sorted(p.items())) + ")"


def _num(x: float) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "-"
    return f"{x:.0f}" if float(x).is_integer() or abs(x) >= 100 else f"{x:.1f}"


def format_table(records: list[dict]) -> str:
    """Median queries per (family, learner, strategy, tau) and d, with the theory rows beneath."""
    from ._plot import _base_class, theory_curves

    panels = defaultdict(list)
    for r in records:
        panels[(r["family"], canonical(r.get("family_params") or {}))].append(r)
    blocks = []
    for (fam, _), recs in sorted(panels.items(), key=lambda kv: (kv[0][0] == "lifted-parity", kv[0])):
        fp = recs[0].get("family_params") or {}
        ds = sorted({int(r["d"]) for r in recs})
        rows = defaultdict(list)
        for r in recs:
            rows[(r["learner"] + _params(r.get("params") or {}), r["strategy"], r.get("tau"))].append(r)
        theory = [("theory: " + label, vals) for label, vals in theory_curves(recs, np.array(ds), _base_class(fam, fp))]
        width = max([len(f"{k[0]} [{k[1]}{'' if k[2] is None else f', tau={k[2]:g}'}]") for k in rows]
                    + [len(label) for label, _ in theory])
        head = f"{'':<{width}} " + " ".join(f"{'d=' + str(d):>7}" for d in ds) + "  success"
        lines = [f"{fam}{_params(fp)}" + ("  (Gaussian tau through LiftedOracle; Boolean tau/2)"
                                          if any(r.get("oracle") == "lifted" for r in recs) else ""), head]
        for key in sorted(rows, key=lambda k: (k[0], k[1], -1 if k[2] is None else k[2])):
            name, strategy, tau = key
            cells = rows[key]
            meds = []
            for d in ds:
                q = [r["queries"] for r in cells if r["d"] == d and r.get("queries") is not None
                     and r.get("error") is None]
                meds.append(float(np.median(q)) if q else None)
            ok = sum(bool(r["success"]) for r in cells)
            errs = sum(r.get("error") is not None for r in cells)
            label = f"{name} [{strategy}{'' if tau is None else f', tau={tau:g}'}]"
            lines.append(f"{label:<{width}} " + " ".join(f"{_num(m):>7}" for m in meds)
                         + f"  {ok}/{len(cells)}" + (f" ({errs} raised)" if errs else ""))
        for label, vals in theory:
            lines.append(f"{label:<{width}} " + " ".join(f"{_num(v):>7}" for v in vals))
        blocks.append("\n".join(lines))
    return "Median queries (examples for example oracles) over seeds\n\n" + "\n\n".join(blocks)
