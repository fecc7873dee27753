"""``sqsim run sgd-lifted``: gradient training on lifted parities versus d, from examples and from SQ gradients.

For each d: the lifted parity g = lift(chi_S) on N(0, I_d) (CompressedLift(d, q=2, delta=1/d), S the first
min(3, d) coordinates) and the same d's Boolean parity chi_S on {0,1}^d, each learned by

- ``sgd-mlp`` from examples (a two-hidden-layer ReLU student, the target's own architecture; online SGD on
  the square loss for g, the hinge loss on +-1 inputs for chi_S), several seeds;
- ``sq-gd`` through :class:`~sqsim.ApproxGradientOracle` on a :class:`sqsim.nn.JaxModel` of the same
  network (clipped Monte Carlo gradients; docs/theory/gradients.md, section monte-carlo-bound), against
  the "exact" and the "adversarial" gradient strategies.

Reported per run: the loss relative to the best constant predictor, E[(h - y)^2] / Var(y) on fresh points
(1 = no better than a constant; an evaluation by the experiment, not a query), and for chi_S the held-out
accuracy. Theory: docs/theory/gradients.md, section sgd-lifted.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .._random import derived_seed
from .paper import _save, _write_rows, experiment

__all__ = ["sgd_lifted", "relative_loss"]

#: sq-gd's initial parameters are He's times this (outputs scale as its cube: about Var(g) at the start)
SQ_INIT_SCALE = 0.1


def relative_loss(h, X, y) -> float:
    """E[(h(X) - y)^2] / Var(y): the loss relative to the best constant predictor (the mean of y)."""
    scores = h.scores(X) if hasattr(h, "scores") else h(X)
    return float(np.mean((np.asarray(scores, dtype=np.float64) - y) ** 2) / np.var(y))


def _settings(quick: bool) -> dict:
    if quick:
        return dict(ds=(3, 4), seeds=2, width=32, sgd_steps=1500, sq_steps=12, n_eval=20_000, epsilon=0.05,
                    clip=0.25)
    return dict(ds=(3, 4, 5, 6, 8), seeds=3, width=64, sgd_steps=20_000, sq_steps=100, n_eval=100_000,
                epsilon=0.05, clip=0.25)


@experiment("sgd-lifted")
def sgd_lifted(out_dir, *, quick=False, workers=1, scheduler=None, resume=False, progress=None, seed=0):
    """SGD from examples and SQ gradient descent on lifted parities versus d, with the Boolean parity for contrast.

    ``workers``, ``scheduler`` and ``resume`` are accepted and unused (the runs share one process's
    compiled programs).
    """
    import learners
    import learners.sqgd  # noqa: F401 - registers sq-gd
    from .. import ApproxGradientOracle, BooleanCube, ExampleOracle, Gaussian
    from ..concepts import Parity
    from ..lift import CompressedLift
    from ..nn import MLP
    from ..nn._gradient import JaxModel

    cfg = _settings(quick)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    width = cfg["width"]
    sgd_params = dict(width=width, depth=2, optimizer="sgd", lr=0.05, batch=32, steps=cfg["sgd_steps"],
                      eval_every=250, holdout=1000)
    for d in cfg["ds"]:
        S = list(range(min(3, d)))
        f = Parity(d, S)
        lift = CompressedLift(d=d, q=2, delta=1.0 / d)
        g = lift.lift(f)
        eval_rng = np.random.default_rng(derived_seed(seed, "sgd-lifted", "eval", d))
        Z = eval_rng.standard_normal((cfg["n_eval"], d))
        yz = g(Z)
        Xb = BooleanCube(d).enumerate() if d <= 16 else BooleanCube(d).sample(cfg["n_eval"], eval_rng)
        yb = f(Xb)
        base = {"schema": 1, "experiment": "sgd-lifted", "d": d, "support": S, "var_g": float(np.var(yz)),
                "nonzero_mass": float(lift.nonzero_mass())}
        for s in range(cfg["seeds"]):
            for target, domain, kind in ((g, Gaussian(d), "lifted"), (f, BooleanCube(d), "boolean")):
                o = ExampleOracle(domain, target, seed=derived_seed(seed, "sgd-lifted", kind, d, s))
                params = dict(sgd_params, loss="square" if kind == "lifted" else "hinge")
                t0 = time.perf_counter()
                r = learners.make("sgd-mlp", seed=derived_seed(seed, "sgd-lifted", "learner", d, s), **params).learn(o)
                row = dict(base, part="sgd", target=kind, seed=s, steps=int(r.details.get("steps", 0)),
                           examples=int(r.queries), seconds=time.perf_counter() - t0, success=bool(r.success))
                if kind == "lifted":
                    row["relative_loss"] = relative_loss(r.hypothesis, Z, yz)
                else:
                    row["relative_loss"] = relative_loss(r.hypothesis, Xb, 1.0 - 2.0 * yb)
                    row["accuracy"] = float(np.mean(r.hypothesis(Xb) == yb))
                rows.append(row)
                if progress:
                    progress(row)
        # SQ gradient descent on the lifted parity, against an honest and an adversarial gradient oracle
        for answers in ("exact", "adversarial"):
            model = JaxModel(MLP(d, (width, width)), dtype="float32")
            o = ApproxGradientOracle(Gaussian(d), g, model, cfg["epsilon"], answers=answers,
                                     seed=derived_seed(seed, "sgd-lifted", "sq", d), clip=cfg["clip"])
            t0 = time.perf_counter()
            r = learners.make("sq-gd", steps=cfg["sq_steps"], lr=0.05, optimizer="adam", init_scale=SQ_INIT_SCALE,
                              seed=derived_seed(seed, "sgd-lifted", "sq-learner", d)).learn(o)
            recs = o.ledger.records
            init = model.hypothesis(model.init(np.random.default_rng(derived_seed(seed, "sgd-lifted", "sq-learner",
                                                                                   d)), SQ_INIT_SCALE))
            rows.append(dict(base, part="sq-gd", target="lifted", strategy=answers, steps=len(recs),
                             sq_equivalent=o.sq_equivalent, relative_loss=relative_loss(r.hypothesis, Z, yz),
                             relative_loss_init=relative_loss(init, Z, yz), epsilon=cfg["epsilon"],
                             clip=cfg["clip"], truth_samples=recs[0].extra["truth_samples"],
                             truth_error=recs[0].truth_error,
                             clipped_mass_max=max(rec.extra["clipped_mass"] for rec in recs),
                             final_gradient_norm=r.details["final_gradient_norm"],
                             seconds=time.perf_counter() - t0))
            if progress:
                progress(rows[-1])
    results = _write_rows(rows, out / "sgd-lifted.jsonl")
    text = _table(rows)
    print(text)
    (out / "summary.txt").write_text(text + "\n")
    return {"results": results, "plots": _plot(rows, out), "rows": rows, "table": text}


def _table(rows) -> str:
    lines = ["relative loss E[(h - y)^2] / Var(y) on fresh points (1 = the best constant predictor)",
             " d   SGD lifted (median)   SGD Boolean (median, accuracy)   SQ-GD exact   SQ-GD adversarial"]
    for d in sorted({r["d"] for r in rows}):
        def pick(**kw):
            return [r for r in rows if r["d"] == d and all(r.get(k) == v for k, v in kw.items())]

        lif = np.median([r["relative_loss"] for r in pick(part="sgd", target="lifted")])
        boo = pick(part="sgd", target="boolean")
        ex, ad = pick(part="sq-gd", strategy="exact"), pick(part="sq-gd", strategy="adversarial")
        lines.append(f"{d:>2}   {lif:19.4f}   {np.median([r['relative_loss'] for r in boo]):12.4f} "
                     f"({np.median([r['accuracy'] for r in boo]):.3f})            "
                     f"{ex[0]['relative_loss']:11.4f}   {ad[0]['relative_loss']:17.4f}")
    return "\n".join(lines)


def _plot(rows, out: Path) -> list:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ds = sorted({r["d"] for r in rows})
    series = (("SGD, lifted parity", dict(part="sgd", target="lifted")),
              ("SGD, Boolean parity", dict(part="sgd", target="boolean")),
              ("SQ-GD exact, lifted", dict(part="sq-gd", strategy="exact")),
              ("SQ-GD adversarial, lifted", dict(part="sq-gd", strategy="adversarial")))
    for label, kw in series:
        ys = [np.median([r["relative_loss"] for r in rows if r["d"] == d and all(r.get(k) == v for k, v in kw.items())])
              for d in ds]
        ax.plot(ds, ys, marker="o", label=label)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("d")
    ax.set_ylabel("loss / best constant's loss")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.set_title("Gradient training on lifted parities (sqsim run sgd-lifted)", fontsize=9)
    return _save(fig, out, "sgd-lifted")
