"""``sqsim demo``: the main job with defaults and no configuration.

Parities over {0,1}^d against the exact and the adversarial oracle for every demo learner that
is registered, and lifted parities over N(0, I_d) through the Theorem 3.2 adapter, then the
table, the plots (PNG and SVG) and a short summary in ``sqsim-demo/``.
"""

from __future__ import annotations

import time
from pathlib import Path

from ._plot import plot
from ._report import format_table
from ._runner import run

__all__ = ["DEMO_LIFTED", "DEMO_PARITY", "demo", "demo_config"]

#: The demo's learners, one line each: (learner, target family). Lines whose learner is not
#: registered (``learners.available()``) are skipped, so adding a learner is adding a line.
DEMO_PARITY = [
    ("parity-brute-force", "parity"),
    ({"name": "low-degree", "k": 2}, {"name": "sparse-parity", "k": 2}),  # LMN needs |S| <= k
    ("gf2-elimination", "parity"),  # an example oracle: counts examples, not queries
    ("exact-cheat", "parity"),  # one query: right with exact answers, wrong against the adversary
]
#: Gaussian learners on lifted parities (through LiftedOracle). Each Gaussian query is one Boolean
#: query: a LiftedCharacter's exact Boolean image (docs/theory/lifted-images.md), well under 1 ms at d = 14.
DEMO_LIFTED = [
    ("lifted-parity-brute-force", "lifted-parity"),
]

#: Gaussian tolerance of the lifted sweep: below P[f^Delta != 0] / 2 (>= 0.0278 for delta = 1/d, d <= 20)
LIFTED_TAU = 0.025
#: largest Boolean dimension and seeds per dimension of the demo's lifted sweep
LIFTED_D_MAX, LIFTED_SEEDS = 14, 3


def demo_config(*, d_min=4, d_max=14, tau=0.1, seeds=5, seed=0, lifted=True, lifted_d_max=LIFTED_D_MAX,
                lifted_seeds=LIFTED_SEEDS,
                results="sqsim-demo/results.jsonl") -> tuple[dict, list[str]]:
    """(the demo's sweep config, the names of demo learners skipped because they are not registered)."""
    import learners

    available = set(learners.available())
    grids, skipped = [], []
    ds = list(range(d_min, d_max + 1, 2))
    for learner, family in DEMO_PARITY:
        name = learner if isinstance(learner, str) else learner["name"]
        if name not in available:
            skipped.append(name)
            continue
        grids.append({"learner": learner, "family": family, "d": ds, "tau": tau,
                      "strategy": ["exact", "adversarial"], "seeds": seeds})
    if lifted:
        for learner, family in DEMO_LIFTED:
            name = learner if isinstance(learner, str) else learner["name"]
            if name not in available:
                skipped.append(name)
                continue
            grids.append({"learner": learner, "family": family, "d": list(range(3, lifted_d_max + 1)),
                          "tau": LIFTED_TAU, "strategy": "adversarial", "seeds": lifted_seeds})
    return {"name": "sqsim-demo", "seed": seed, "results": str(results), "grid": grids}, skipped


def demo(out="sqsim-demo", *, d_min=4, d_max=14, tau=0.1, seeds=5, seed=0, lifted=True, lifted_d_max=LIFTED_D_MAX,
         lifted_seeds=LIFTED_SEEDS, workers=1, progress=None, echo=print) -> dict:
    """Run the demo into ``out`` (replacing an earlier demo there); returns what it wrote.

    Returns a dict with ``results`` (path), ``plots`` (paths), ``summary`` (path), ``report``
    (:class:`SweepReport`) and ``seconds``.
    """
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    config, skipped = demo_config(d_min=d_min, d_max=d_max, tau=tau, seeds=seeds, seed=seed, lifted=lifted,
                                  lifted_d_max=lifted_d_max, lifted_seeds=lifted_seeds, results=results)
    report = run(config, workers=workers, overwrite=True, progress=progress)
    plots = plot(results, out).files
    table = format_table(report.records)
    seconds = time.perf_counter() - t0
    lines = [
        "sqsim demo: queries needed to learn parities, versus the dimension d",
        "",
        f"Parities over {{0,1}}^d at tau = {tau}: exact and adversarial (null) oracles, {seeds} random targets per d;",
        f"lifted parities over N(0, I_d) through LiftedOracle at Gaussian tau = {LIFTED_TAU} (Boolean tau/2),"
        f" d = 3..{lifted_d_max}." if lifted else "lifted sweep: off.",
        "Against the adversarial oracle every SQ learner needs at least the 'SQ lower bound' row (docs/theory/bounds.md);",
        "brute force needs 2^(d-1) on average and its count (the rank of S* in its order) is the same",
        "with exact answers; the exact-answer cheat needs one query but only succeeds when answers are exact;",
        "an example-based learner (Gaussian elimination) needs about d examples.",
        "",
        table,
        "",
        f"{report.cells} cells ({report.errors} raised errors), root seed {seed}, {seconds:.1f} s.",
    ]
    if skipped:
        lines.append(f"Not registered, skipped: {', '.join(skipped)}.")
    lines += ["", f"results: {results}"] + [f"plot:    {p}" for p in plots]
    summary = out / "summary.txt"
    summary.write_text("\n".join(lines) + "\n")
    if echo is not None:
        echo("\n".join(lines))
        echo(f"summary: {summary}")
    return {"results": results, "plots": plots, "summary": summary, "report": report, "seconds": seconds}
