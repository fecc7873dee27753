"""Paper experiments: one function per experiment, registered by name for ``sqsim run NAME``.

Every function takes the output directory and keyword options (``quick``, ``workers``,
``scheduler``, ``resume``, ``progress``, ``seed``), writes its results file (JSON lines) and its
plot (PNG and SVG) there, and returns ``{"results": path, "plots": [paths], ...}``.

Add an experiment with the decorator; the command line picks it up::

    @experiment("vw-vs-lifted")
    def vw_vs_lifted(out_dir, *, quick=False, workers=1, scheduler=None, resume=False, progress=None, seed=0):
        '''One line: what it reproduces (paper, theorem or figure).'''
        ...
        return {"results": results_path, "plots": plot(results_path, out_dir).files}

Registered: ``parity-queries``, ``lifted-parities``, ``gadget-masses``, ``vw-vs-lifted`` (the
Vempala-Wilmes cheat on a non-degenerate class and on lifted parities), ``shamir-figure2``
(Sha18 Figure 2 and the Theorem 7 gradient variance), ``sgd-parity``, ``sgd-lifted`` and
``sq-dimension`` (certified SDA lower bounds versus d beside measured counts).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .._files import replace_lines
from .._validation import Options, check_param

__all__ = ["EXPERIMENTS", "experiment", "figure2_loss", "gadget_masses", "lifted_parities", "parity_queries",
           "run_experiment", "shamir_figure2", "vw_vs_lifted"]

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
    plots = plot(report.path, out).files  # plot returns the figures; .files the PNG and SVG written
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
    """Parity queries versus d against the exact-identification lower bound of the null adversary.

    Against the null adversary every SQ learner needs ceil((2^d - 2) / (ceil(1/tau^2) - 1)) queries to
    identify a parity exactly (each answer rules out fewer than 1/tau^2 parities, by Parseval:
    docs/theory/bounds.md, section bounds-parity; not the weak-learning bound of Blum et al. 1994 and Kearns 1998,
    which is stated through the SQ dimension); brute force needs 2^(d-1) on average, a
    cheating learner needs one query when the oracle answers exactly, and Gaussian elimination
    (not an SQ algorithm) about d examples. Grid: d = 4..20 (quick 4..10), tau = 0.1, exact and
    adversarial answers, 9 random parities per d (quick 3). Characters are answered from the target's
    Walsh spectrum (computed once per oracle), so a brute-force query costs microseconds at every d and a
    d = 20 cell (2^19 queries on average) about ten seconds.
    """
    out = Path(out_dir)
    ds = list(range(4, 11 if quick else 21, 2))
    config = {"name": "parity-queries", "seed": seed, "results": str(out / "parity-queries.jsonl"),
              "grid": [{"learner": name, "family": "parity", "d": ds, "tau": 0.1,
                        "strategy": ["exact", "adversarial"], "seeds": 3 if quick else 9}
                       for name in _available(PARITY_QUERY_LEARNERS)]}
    return _sweep(config, out, workers=workers, scheduler=scheduler, resume=resume, progress=progress)


#: Gaussian tolerance of lifted-parities: below P[f^Delta != 0] / 2, which falls from 0.0304 (d = 4) to 0.0278
#: (d = 20) for delta = 1/d, D = d (the certified law of V, docs/theory/lifted-images.md)
LIFTED_TAU = 0.025


@experiment("lifted-parities")
def lifted_parities(out_dir, *, quick=False, workers=1, scheduler=None, resume=False, progress=None, seed=0):
    """Lifted parities through the Theorem 3.2 adapter (Chen, Gollakota, Klivans, Meka 2022, Thms 2.3 and 3.2).

    The compressed lift turns each parity on {0,1}^d into a two-hidden-layer ReLU network on
    N(0, I_d); LiftedOracle answers each Gaussian query at tolerance tau with one Boolean query at
    tau / 2, so a Gaussian SQ learner's count follows the Boolean one. Grid: lifted-parity-brute-force
    at Gaussian tau = 0.025 (below P[f^Delta != 0] / 2, delta = 1/d) on d = 3..16 (quick 3..6), adversarial
    oracle, 3 seeds, and beside it parity-brute-force on the same parities with the same seeds at the
    Boolean tolerance 0.0125: the paired counts are equal, cell for cell. Every lifted query is a
    LiftedCharacter with an exact Boolean image (docs/theory/lifted-images.md), so a query costs well
    under a millisecond at d = 16 instead of an inner Monte Carlo.
    """
    out = Path(out_dir)
    ds = list(range(3, 7 if quick else 17))
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
    """P(G) and P(f^Delta != 0) of the compressed lift, exact and by sampling (CGKM22 Eqs. (4)-(8); docs/theory/lift.md, section lift-good-region).

    For q = 2, D = 2 and a parity with |S| = 2: P(G) = (1 - 2 delta)^(d-1) P(N2(z) in (rho/2, rho))
    (``lift.good_region_mass()``) and P(f^Delta != 0) (``lift.nonzero_mass(f)``), against Monte Carlo
    frequencies on 4e5 Gaussian points (1e5 with quick), for d in {4, 10} and delta in {1e-3, 1e-2, 0.1}
    (the table of docs/theory/lift.md, section lift-good-region). ``workers``, ``scheduler`` and ``resume`` are accepted and unused (seconds of work).
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
    results = _write_rows(rows, out / "gadget-masses.jsonl")
    table = ["d  delta   P(G) exact   P(G) MC      z     P(f!=0) exact  P(f!=0) MC     z"]
    for r in rows:
        table.append(f"{r['d']:<2} {r['delta']:<6g} {r['P_G_exact']:11.3e} {r['P_G_mc']:10.3e} {r['P_G_z']:6.2f}"
                     f"  {r['P_nonzero_exact']:13.3e} {r['P_nonzero_mc']:11.3e} {r['P_nonzero_z']:6.2f}")
    text = "\n".join(table)
    params = (f"CompressedLift(d, q = 2, delta, D = 2) of the parity S = {{0, 1}} (|S| = 2 <= D); rho = lift.rho; "
              f"exact: lift.good_region_mass(), lift.nonzero_mass(f); MC: {n} Gaussian samples per row, root seed "
              f"{seed}; z = (MC - exact) / standard error.")
    print(text + "\n" + params)
    (out / "summary.txt").write_text(text + "\n\n" + params + "\n")
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
                         f"lift.nonzero_mass(f); Monte Carlo on {n:.0e} N(0, I_d) points per point (docs/theory/lift.md).",
             fontsize=7.5)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return _save(fig, out, "gadget_masses")



def _write_rows(rows, results: Path) -> Path:
    return replace_lines(results, (json.dumps(row, sort_keys=True) for row in rows))


def _save(fig, out: Path, stem: str) -> list[Path]:
    import matplotlib.pyplot as plt

    written = []
    for fmt in ("png", "svg"):
        p = out / f"{stem}.{fmt}"
        fig.savefig(p, dpi=130 if fmt == "png" else None)
        written.append(p)
    plt.close(fig)
    return written


def figure2_loss(W: np.ndarray, w_star) -> np.ndarray:
    """Sha18 Eq. (2) in closed form (Sha18 Section 4.1) at the rows of W (shape (n, 2)):
    F(w) = 1 + exp(-8 pi^2 |w|^2)/2 + exp(-8 pi^2 |w*|^2)/2 - exp(-2 pi^2 |w - w*|^2) - exp(-2 pi^2 |w + w*|^2)."""
    W = np.asarray(W, dtype=np.float64)
    ws = np.asarray(w_star, dtype=np.float64)
    p2 = math.pi**2
    return (1 + 0.5 * np.exp(-8 * p2 * (W**2).sum(1)) + 0.5 * math.exp(-8 * p2 * float(ws @ ws))
            - np.exp(-2 * p2 * ((W - ws) ** 2).sum(1)) - np.exp(-2 * p2 * ((W + ws) ** 2).sum(1)))


@experiment("shamir-figure2")
def shamir_figure2(out_dir, *, quick=False, workers=1, scheduler=None, resume=False, progress=None, seed=0):
    """Shamir 2018 Figure 2 and Theorem 7: the loss surface of Eq. (2) and the gradient variance over w*.

    (a) F(w) = E_{x ~ N(0, I_2)}[(cos(2 pi <w, x>) - cos(2 pi <w*, x>))^2] for w* = (2, 2) on
    [-3, 3]^2: the closed form of Sha18 Eq. (2) (through ``sqsim.gradients``) against the simulator's
    Monte Carlo estimate at 25 grid points with a Hoeffding 99.9 % interval (range [0, 4]), the
    three critical points (max 1.5 at 0, minima 0 at +-w*) and the plateau |F - 1| away from them.
    (b) Var_{w*} grad F_{w*}(v) for the cos model at random v, w* uniform on the sphere of radius 2r,
    d in {40, 100, 400} (Theorem 7 needs d >= 40), r in {0.1, 0.15, 0.25, 0.5}, against Theorem 7's bound
    40 G_v (exp(-d/20) + sum_n eps(n r)) (Sha18 Theorem 7, Lemma 17's constants with the factor 2 of the squared loss).
    ``workers``, ``scheduler`` and ``resume`` are accepted and unused (seconds of work).
    """
    from ..concepts import PeriodicNeuron, PeriodicNeurons
    from ..gradients import CosineModel, gradient_variance, population_gradient, population_loss

    out = Path(out_dir)
    w_star = np.array([2.0, 2.0])
    side = 61 if quick else 121
    g = np.linspace(-3, 3, side)
    G1, G2 = np.meshgrid(g, g)
    grid = np.column_stack([G1.ravel(), G2.ravel()])
    F = figure2_loss(grid, w_star)
    model, target = CosineModel(2), PeriodicNeuron(w_star)
    step = max(1, len(F) // 50)
    formula_gap = float(np.max(np.abs(F[::step] - [population_loss(model, w, target) for w in grid[::step]])))
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7, 2018)))
    n_mc = 50_000 if quick else 400_000
    delta = 1e-3
    half = 4 * math.sqrt(math.log(2 / delta) / (2 * n_mc))  # Hoeffding, values in [0, 4]
    rows = []
    checks = [np.zeros(2), w_star, -w_star, np.array([0.3, -0.1]), np.array([1.95, 2.05]), np.array([1.0, 2.0])]
    probe = np.vstack(checks + [rng.uniform(-3, 3, size=2) for _ in range(25 - len(checks))])
    for w in probe:
        X = rng.standard_normal((n_mc, 2))
        mc = float(np.mean((np.cos(2 * np.pi * X @ w) - np.cos(2 * np.pi * X @ w_star)) ** 2))
        closed = float(figure2_loss(w[None, :], w_star)[0])
        rows.append({"schema": 1, "experiment": "shamir-figure2", "part": "surface", "w": w.tolist(),
                     "F_closed": closed, "F_mc": mc, "mc_samples": n_mc, "hoeffding_halfwidth": half,
                     "failure_probability": delta, "inside": abs(mc - closed) <= half,
                     "grad_norm": float(np.linalg.norm(population_gradient(model, w, target)))})
    dist = np.min(np.stack([np.linalg.norm(grid - c, axis=1) for c in (np.zeros(2), w_star, -w_star)]), axis=0)
    plateau = float(np.max(np.abs(F[dist >= 1] - 1)))
    summary = {"schema": 1, "experiment": "shamir-figure2", "part": "critical-points", "F_at_0": float(F.max()),
               "argmax": grid[int(np.argmax(F))].tolist(), "F_min": float(F.min()),
               "argmin": grid[int(np.argmin(F))].tolist(), "plateau_max_deviation": plateau, "grid": side,
               "gap_to_sqsim_gradients": formula_gap}
    rows.append(summary)
    var_rows = []
    for d in (40, 100) if quick else (40, 100, 400):  # Theorem 7's constants need d >= c1 = 40
        m = CosineModel(d)
        for r in (0.1, 0.15, 0.25, 0.5):
            v = m.init(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(d, int(1000 * r)))), 0.3)
            rep = gradient_variance(m, v, PeriodicNeurons(d, r), samples=50 if quick else 200,
                                    seed=np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(d, int(1000 * r), 1))))
            var_rows.append({"schema": 1, "experiment": "shamir-figure2", "part": "variance", "d": d, "r": r,
                             **rep, "exp_16pi2r2": math.exp(-16 * math.pi**2 * r * r)})
    rows += var_rows
    results = _write_rows(rows, out / "shamir-figure2.jsonl")
    lines = [f"Eq. (2), w* = (2, 2): max F = {summary['F_at_0']:.6f} at {summary['argmax']}, min F = "
             f"{summary['F_min']:.3g} at {summary['argmin']}; |F - 1| <= {plateau:.2e} at distance >= 1 from 0, +-w*",
             f"simulator vs closed form: {sum(r['inside'] for r in rows if r.get('part') == 'surface')} of "
             f"{sum(1 for r in rows if r.get('part') == 'surface')} points inside the Hoeffding interval "
             f"+-{half:.4f} ({n_mc} samples, failure probability {delta} each)",
             "", " d     r     Var_w* grad F      Thm 7 bound   exp(-16 pi^2 r^2)"]
    for r in var_rows:
        lines.append(f"{r['d']:>3} {r['r']:>5}  {r['variance']:14.3e}  {r['bound']:12.3e}  {r['exp_16pi2r2']:14.3e}")
    text = "\n".join(lines)
    print(text)
    (out / "summary.txt").write_text(text + "\n")
    return {"results": results, "plots": _plot_figure2(G1, G2, F.reshape(G1.shape), rows, var_rows, w_star, out),
            "rows": rows, "table": text}


def _plot_figure2(G1, G2, F, rows, var_rows, w_star, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.9))
    ax = axes[0]
    cs = ax.contourf(G1, G2, F, levels=np.linspace(0, 1.5, 31), cmap="viridis")
    fig.colorbar(cs, ax=ax, label="F(w)")
    ax.plot([0, w_star[0], -w_star[0]], [0, w_star[1], -w_star[1]], "r+", ms=12, mew=2, label="critical points")
    ax.set_xlabel("w_1")
    ax.set_ylabel("w_2")
    ax.set_title("Sha18 Fig. 2: F(w) of Eq. (2), w* = (2, 2)", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax = axes[1]
    surf = [r for r in rows if r.get("part") == "surface"]
    x = np.array([r["F_closed"] for r in surf])
    ax.errorbar(x, [r["F_mc"] for r in surf], yerr=[r["hoeffding_halfwidth"] for r in surf], fmt="o", ms=4,
                capsize=3, label="simulator (Monte Carlo) +- Hoeffding 99.9 %")
    ax.plot([0, 1.6], [0, 1.6], "k--", lw=1, label="closed form (Sha18 Eq. (2))")
    ax.set_xlabel("F(w), closed form")
    ax.set_ylabel("F(w), Monte Carlo")
    ax.set_title("Simulator against the closed form at 25 points", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    ax = axes[2]
    for d in sorted({r["d"] for r in var_rows}):
        rs = [r for r in var_rows if r["d"] == d]
        line, = ax.plot([r["r"] for r in rs], [max(r["variance"], 1e-300) for r in rs], "o-", label=f"measured, d = {d}")
        ax.plot([r["r"] for r in rs], [r["bound"] for r in rs], "--", color=line.get_color(),
                label=f"Theorem 7 bound, d = {d}")
    ax.set_yscale("log")
    ax.set_xlabel("r (|w*| = 2r)")
    ax.set_ylabel("Var over w* of grad F(v)")
    ax.set_title("Gradient variance over w* (cos model) vs Theorem 7", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    fig.text(0.01, 0.01, "Shamir 2018: Eq. (2) with x ~ N(0, I_2); variance over 200 targets w* uniform on the sphere "
                         "of radius 2r (50 with quick), exact gradients from sqsim.gradients; bound with c2 = 40, "
                         "c3 = 1/20 (Sha18 Theorem 7).", fontsize=7.5)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return _save(fig, out, "shamir_figure2")


@experiment("vw-vs-lifted")
def vw_vs_lifted(out_dir, *, quick=False, workers=1, scheduler=None, resume=False, progress=None, seed=0):
    """The Vempala-Wilmes cheat (VW19 Proposition 4.1) on a non-degenerate class and on lifted parities.

    For class sizes N = 2^k, k = 4..10 (quick 4..7): the unclipped natural-weights networks of DV20 on
    N(0, I_10) (members agree only where every unit is off, about 2^-8 of the mass) and the lifted
    parities of CGKM22 on N(0, I_k) (all members are 0 outside a set of mass P[f^Delta != 0] ~ 0.08).
    vw-cheat asks log2 N label-equality queries at tolerance 1/3 and identifies the natural-weights
    member every time; on lifted parities every half that holds a member answers near +1, so it fails.
    Beside the counts: the measured agreement mass max P[f_i = f_j] of each class. 4 targets per
    (class, N) (quick 2). ``workers``, ``scheduler`` and ``resume`` are accepted and unused.
    """
    import learners

    from .._oracles import SQOracle
    from .._domains import Gaussian
    from ..concepts import NaturalWeights, Parity
    from ..lift import CompressedLift

    out = Path(out_dir)
    ks = range(4, 8 if quick else 11)
    n_targets = 2 if quick else 4
    rows = []
    for k in ks:
        N = 2**k
        nw = NaturalWeights(10, 8, clip=False, members=N, seed=seed)
        lift = CompressedLift(k, q=2, delta=0.1)
        lifted = [lift.lift(Parity(k, [j for j in range(k) if (c >> j) & 1])) for c in range(N)]
        classes = {"natural-weights": (list(nw), Gaussian(10)), "lifted-parities": (lifted, Gaussian(k))}
        for cname, (members, dom) in classes.items():
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k, list(classes).index(cname))))
            Z = dom.sample(20_000, rng)
            vals = np.stack([np.asarray(f(Z), dtype=np.float64) for f in members[: min(N, 16)]])
            agree = max(float(np.mean(np.abs(vals[i] - vals[j]) <= 1e-9 * (1 + np.abs(vals[i]))))
                        for i in range(len(vals)) for j in range(i))
            for t in range(n_targets):
                idx = int(rng.integers(0, N))
                o = SQOracle(dom, members[idx], 1 / 3, seed=int(rng.integers(0, 2**31)))
                res = learners.make("vw-cheat", family=members).learn(o)
                rows.append({"schema": 1, "experiment": "vw-vs-lifted", "class": cname, "N": N, "log2N": k,
                             "target_index": idx, "found_index": res.details["index"], "queries": res.queries,
                             "success": res.success, "agreement_mass": agree, "tau": 1 / 3, "seed": seed})
    results = _write_rows(rows, out / "vw-vs-lifted.jsonl")
    lines = ["class              N     queries  successes  max P[f_i = f_j]"]
    for cname in ("natural-weights", "lifted-parities"):
        for k in ks:
            rs = [r for r in rows if r["class"] == cname and r["log2N"] == k]
            lines.append(f"{cname:<17} {2**k:>5}  {np.median([r['queries'] for r in rs]):>8.0f}  "
                         f"{sum(r['success'] for r in rs):>4}/{len(rs):<4}  {rs[0]['agreement_mass']:15.3e}")
    text = "\n".join(lines)
    print(text)
    (out / "summary.txt").write_text(text + "\n")
    return {"results": results, "plots": _plot_vw(rows, out), "rows": rows, "table": text}


def _plot_vw(rows, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for cname, marker in (("natural-weights", "o"), ("lifted-parities", "s")):
        rs = [r for r in rows if r["class"] == cname]
        ks = sorted({r["log2N"] for r in rs})
        axes[0].plot(ks, [np.median([r["queries"] for r in rs if r["log2N"] == k]) for k in ks], marker + "-",
                     label=f"vw-cheat queries, {cname}")
        axes[1].plot(ks, [np.mean([r["success"] for r in rs if r["log2N"] == k]) for k in ks], marker + "-",
                     label=cname)
    ks = sorted({r["log2N"] for r in rows})
    axes[0].plot(ks, ks, "k--", lw=1, label="log2 N (Prop. 4.1)")
    axes[0].set_xlabel("log2 N (class size)")
    axes[0].set_ylabel("queries")
    axes[0].legend(fontsize=8)
    axes[0].grid(True, alpha=0.3)
    axes[1].set_ylim(-0.05, 1.05)
    axes[1].set_xlabel("log2 N (class size)")
    axes[1].set_ylabel("fraction of targets identified")
    axes[1].legend(fontsize=8)
    axes[1].grid(True, alpha=0.3)
    fig.suptitle("Vempala-Wilmes cheat: a non-degenerate class vs lifted parities (tolerance 1/3)", fontsize=10)
    fig.text(0.01, 0.01, "Natural weights: DV20 unclipped sum of 8 ReLUs on N(0, I_10); lifted parities: "
                         "CompressedLift(k, q = 2, delta = 0.1) on N(0, I_k).", fontsize=7.5)
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    return _save(fig, out, "vw_vs_lifted")


from . import _sgd  # noqa: E402,F401 - registers sgd-parity (imports no JAX until it runs)
from . import _sgd_lifted  # noqa: E402,F401 - registers sgd-lifted
from . import _dimension  # noqa: F401  (registers "sq-dimension")
