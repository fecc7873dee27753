"""``sqsim run sgd-parity``: SGD on a ReLU network learns sparse parities from examples (Barak et al. 2022).

Steps (and examples) until 95 % held-out accuracy versus n for k = 2 and 3, several seeds per n, with the
fitted exponent of steps ~ n^b and its confidence interval; the hidden-progress curve (held-out accuracy,
loss and ||w_t - w_0||) of one run; and the acceptance checks of the issue: (n, k) = (20, 3) on 5 seeds
within a stated step budget, n = 50 with the same settings and budget, and ``learn_many`` over 8 seeds
against 8 sequential runs (speed ratio, identical ledgers). Theory: ``docs/theory/sgd.md``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from .._random import derived_seed
from .paper import _save, _write_rows, experiment

__all__ = ["SGD_SETTINGS", "ACCEPTANCE_BUDGET", "fit_exponent", "parity_runs", "sgd_parity"]

#: the network and optimiser of every run (Barak et al.'s setting at a smaller width)
SGD_SETTINGS = dict(width=256, depth=1, loss="hinge", optimizer="sgd", lr=0.1, batch=32, holdout=1000,
                    eval_every=25, target_accuracy=0.95)
#: the step budget of the acceptance checks at (n, k) = (20, 3) and (50, 3)
ACCEPTANCE_BUDGET = 2500
#: largest number of steps of a run of the scaling sweep
SWEEP_BUDGET = 100_000


def parity_runs(n: int, k: int, seeds: int, root: int, *, steps: int, **overrides) -> list:
    """``seeds`` runs of sgd-mlp on random k-sparse parities of {0,1}^n, trained at once by ``learn_many``.

    Run i has its own parity, oracle and learner seed, all derived from (root, n, k, i). Returns the
    (oracle, LearnResult) pairs.
    """
    import learners
    from .. import BooleanCube, ExampleOracle
    from ..concepts import Parity

    oracles = []
    for i in range(seeds):
        rng = np.random.default_rng(derived_seed(root, "sgd-parity", "target", n, k, i))
        support = sorted(int(j) for j in rng.choice(n, size=k, replace=False))
        oracles.append(ExampleOracle(BooleanCube(n), Parity(n, support),
                                     seed=derived_seed(root, "sgd-parity", "oracle", n, k, i)))
    learner = learners.make("sgd-mlp", **{**SGD_SETTINGS, "steps": steps, **overrides})
    results = learner.learn_many(oracles, seeds=[derived_seed(root, "sgd-parity", "learner", n, k, i)
                                                 for i in range(seeds)])
    return list(zip(oracles, results))


def _row(n, k, i, oracle, res, experiment_part) -> dict:
    det = res.details
    return {"part": experiment_part, "n": n, "k": k, "seed_index": i, "steps": det["steps"],
            "steps_to_target": det["steps_to_target"], "examples": oracle.ledger.total, "stop": det["stop"],
            "heldout_accuracy": det["heldout_accuracy"], "success": bool(res.success),
            "ledger_fingerprint": oracle.ledger.fingerprint(), "seconds": det["seconds"] / det["batched"]}


def fit_exponent(ns, steps, level: float = 0.95) -> dict:
    """Least-squares fit of log steps = a + b log n with a ``level`` confidence interval for b (t quantile)."""
    from scipy import stats

    x, y = np.log(np.asarray(ns, dtype=np.float64)), np.log(np.asarray(steps, dtype=np.float64))
    if len(set(x.tolist())) < 2:
        return {"exponent": None, "ci": None, "points": int(x.size)}
    fit = stats.linregress(x, y)
    half = stats.t.ppf(0.5 + level / 2, x.size - 2) * fit.stderr if x.size > 2 else math.inf
    return {"exponent": float(fit.slope), "ci": [float(fit.slope - half), float(fit.slope + half)],
            "level": level, "intercept": float(fit.intercept), "points": int(x.size)}


def _vmap_check(root: int, seeds: int, n: int, k: int, steps: int) -> dict:
    """learn_many over ``seeds`` oracles vs as many sequential learn calls: wall times and identical ledgers."""
    import learners
    from .. import BooleanCube, ExampleOracle
    from ..concepts import Parity

    def oracles():
        return [ExampleOracle(BooleanCube(n), Parity(n, list(range(k))), seed=derived_seed(root, "vmap", i))
                for i in range(seeds)]

    lseeds = [derived_seed(root, "vmap-learner", i) for i in range(seeds)]
    params = {**SGD_SETTINGS, "steps": steps, "target_accuracy": 1.0}
    learners.make("sgd-mlp", **params).learn_many(oracles()[:1], seeds=lseeds[:1])  # compile both shapes first
    learners.make("sgd-mlp", **params).learn_many(oracles(), seeds=lseeds)
    batched = oracles()
    many = learners.make("sgd-mlp", **params).learn_many(batched, seeds=lseeds)
    single = oracles()
    ones = [learners.make("sgd-mlp", seed=s, **params).learn(o) for s, o in zip(lseeds, single)]
    # training time only (details["seconds"] excludes the framework's grading in both paths)
    t_many = many[0].details["seconds"]
    t_ones = sum(r.details["seconds"] for r in ones)
    X = np.random.default_rng(0).integers(0, 2, size=(4096, n))
    diff = max(float(np.max(np.abs(a.hypothesis.scores(X) - b.hypothesis.scores(X)))) for a, b in zip(many, ones))
    return {"seeds": seeds, "n": n, "k": k, "steps": steps, "batched_seconds": t_many, "sequential_seconds": t_ones,
            "ratio": t_ones / t_many,
            "same_fingerprints": [o.ledger.fingerprint() for o in batched] == [o.ledger.fingerprint() for o in single],
            "same_steps": [r.details["steps"] for r in many] == [r.details["steps"] for r in ones],
            "max_score_difference": diff}


@experiment("sgd-parity")
def sgd_parity(out_dir, *, quick=False, workers=1, scheduler=None, resume=False, progress=None, seed=0):
    """SGD learns sparse parities near n^O(k) steps (Barak, Edelman, Goel, Kakade, Malach, Zhang 2022).

    A one-hidden-layer ReLU network of width 256 (hinge loss, SGD, lr 0.1, batch 32, inputs in {-1, +1})
    is trained online on fresh examples through an ExampleOracle until 95 % accuracy on 1000 held-out
    points. Grid: k = 2 on n = 10..160, k = 3 on n = 10..70, 5 seeds (quick: n = 8..16, 2 seeds), all the
    seeds of an (n, k) trained at once by ``learn_many``. Writes the runs (JSON lines), the fitted exponent of
    steps ~ n^b per k with its 95 % interval, the plot (steps and examples vs n; the hidden-progress curve of
    one run) and the acceptance checks. ``workers``/``scheduler``/``resume`` are accepted for the common
    signature; the runs are batched in this process.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    out = Path(out_dir)
    grid = {2: [8, 12, 16], 3: [8, 12, 16]} if quick else {2: [10, 20, 40, 80, 160], 3: [10, 20, 30, 50, 70]}
    seeds = 2 if quick else 5
    rows, curves = [], {}
    for k, ns in grid.items():
        for n in ns:
            for i, (oracle, res) in enumerate(parity_runs(n, k, seeds, seed, steps=SWEEP_BUDGET)):
                rows.append(_row(n, k, i, oracle, res, "scaling"))
                curves[(n, k, i)] = res.details
    fits = {}
    for k, ns in grid.items():
        pts = [(r["n"], r["steps_to_target"]) for r in rows if r["k"] == k and r["steps_to_target"]]
        fits[k] = {"steps": fit_exponent(*zip(*pts)) if pts else None,
                   "examples": fit_exponent([n for n, _ in pts], [s * SGD_SETTINGS["batch"] for _, s in pts])
                   if pts else None,
                   "reached": len(pts), "runs": sum(r["k"] == k for r in rows)}
    # acceptance: (20, 3) and (50, 3) with one stated budget; learn_many vs sequential runs
    acc_n = (8, 16) if quick else (20, 50)
    acceptance = {"budget_steps": ACCEPTANCE_BUDGET, "settings": SGD_SETTINGS, "runs": {}}
    for n in acc_n:
        runs = parity_runs(n, 3, 5, seed + 1, steps=ACCEPTANCE_BUDGET)
        for i, (oracle, res) in enumerate(runs):
            rows.append(_row(n, 3, i, oracle, res, "acceptance"))
        acceptance["runs"][n] = {"heldout_accuracy": [r.details["heldout_accuracy"] for _, r in runs],
                                 "steps_to_target": [r.details["steps_to_target"] for _, r in runs],
                                 "seconds_each": [r.details["seconds"] / r.details["batched"] for _, r in runs],
                                 "framework_success": [bool(r.success) for _, r in runs]}
    acceptance["vmap"] = _vmap_check(seed, 8, 12 if quick else 20, 3, 200 if quick else 1000)
    results = _write_rows(rows, out / "sgd-parity.jsonl")
    show = max((key for key in curves if key[1] == 3), key=lambda key: (key[0], -key[2]))
    plots = _plot(rows, fits, curves[show], show, out)
    summary = _summary(rows, fits, acceptance, show)
    print(summary)
    (out / "summary.txt").write_text(summary + "\n")
    return {"results": results, "plots": plots, "fits": fits, "acceptance": acceptance, "summary": summary}


def _summary(rows, fits, acceptance, show) -> str:
    lines = ["sgd-parity: steps to 95 % held-out accuracy (width 256, hinge, SGD lr 0.1, batch 32, online)",
             "k   n   median steps  median examples  reached  framework success"]
    for k in sorted({r["k"] for r in rows if r["part"] == "scaling"}):
        for n in sorted({r["n"] for r in rows if r["k"] == k and r["part"] == "scaling"}):
            rs = [r for r in rows if r["k"] == k and r["n"] == n and r["part"] == "scaling"]
            st = [r["steps_to_target"] for r in rs if r["steps_to_target"]]
            med = f"{np.median(st):.0f}" if st else "-"
            exm = f"{np.median([r['examples'] for r in rs]):.0f}"
            lines.append(f"{k}  {n:>3}  {med:>12}  {exm:>15}  {len(st)}/{len(rs)}  "
                         f"{sum(r['success'] for r in rs)}/{len(rs)}")
    for k, f in fits.items():
        s = f["steps"]
        if s and s["exponent"] is not None:
            lines.append(f"k = {k}: steps ~ n^{s['exponent']:.2f}, 95 % CI [{s['ci'][0]:.2f}, {s['ci'][1]:.2f}] "
                         f"({s['points']} runs)")
    b = acceptance["budget_steps"]
    for n, a in acceptance["runs"].items():
        accs = ", ".join(f"{x:.3f}" for x in a["heldout_accuracy"])
        lines.append(f"acceptance (n, k) = ({n}, 3), budget {b} steps: held-out accuracy [{accs}], steps to 95 % "
                     f"{a['steps_to_target']}, {max(a['seconds_each']):.1f} s each at most")
    v = acceptance["vmap"]
    lines.append(f"learn_many over {v['seeds']} seeds (n = {v['n']}, {v['steps']} steps): {v['batched_seconds']:.2f} s vs "
                 f"{v['sequential_seconds']:.2f} s sequential (ratio {v['ratio']:.2f}); same ledgers "
                 f"{v['same_fingerprints']}, same steps {v['same_steps']}, max |score difference| "
                 f"{v['max_score_difference']:.2e}")
    lines.append(f"hidden-progress curve: n = {show[0]}, k = {show[1]}, seed {show[2]}")
    return "\n".join(lines)


def _plot(rows, fits, curve, show, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    for k, marker in ((2, "o"), (3, "s")):
        rs = [r for r in rows if r["k"] == k and r["part"] == "scaling" and r["steps_to_target"]]
        if not rs:
            continue
        ns = np.array([r["n"] for r in rs])
        for ax, key, scale in ((axes[0], "steps_to_target", 1), (axes[1], "steps_to_target", 32)):
            ax.loglog(ns, np.array([r[key] for r in rs]) * scale, marker, alpha=0.5, label=f"k = {k} runs")
            f = fits[k]["steps"]
            if f and f["exponent"] is not None:
                grid = np.geomspace(ns.min(), ns.max(), 50)
                ax.loglog(grid, scale * np.exp(f["intercept"]) * grid ** f["exponent"], "-",
                          label=f"k = {k}: n^{f['exponent']:.2f} [{f['ci'][0]:.2f}, {f['ci'][1]:.2f}]")
    for ax, label in ((axes[0], "SGD steps to 95 % held-out accuracy"), (axes[1], "examples (batch 32)")):
        ax.set_xlabel("n")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    ax = axes[2]
    ax.plot(curve["curve_step"], curve["curve_heldout"], label="held-out accuracy")
    ax.plot(curve["curve_step"], np.minimum(curve["curve_loss"], 2.0), label="training hinge loss")
    ax.set_xlabel("SGD step")
    ax2 = ax.twinx()
    ax2.plot(curve["curve_step"], curve["curve_distance"], "k--", label="||w_t - w_0||")
    ax2.set_ylabel("||w_t - w_0||")
    ax.set_title(f"hidden progress, n = {show[0]}, k = {show[1]}", fontsize=9)
    ax.legend(fontsize=8, loc="center left")
    ax2.legend(fontsize=8, loc="lower right")
    fig.suptitle("SGD on sparse parities from examples (Barak et al. 2022): a width-256 ReLU network", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return _save(fig, out, "sgd_parity")
