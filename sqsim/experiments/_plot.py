"""Plots of results files: queries versus d per target family, with theory curves you can extend.

One figure (a *panel*) per target family and family parameters. Each (learner + parameters,
strategy) is a series: the median over seeds at each d, with its spread drawn according to the
number of seeds at that point:

- at least :data:`MIN_SEEDS_FOR_BAND` (5) seeds: a shaded band between the 25th and 75th percentiles;
- 2 to 4 seeds: an error bar over their range (minimum to maximum), since quartiles of so few
  points say little;
- always: every single cell as a faint dot.

A series' band, range bars and dots take its line's colour. The theory curves come from
:mod:`sqsim.bounds`, drawn in black and greys:

- the SQ lower bound for exact identification against the null adversary, ceil((N - 1) / m(tau))
  with m(tau) = ceil(1/tau^2) - 1, for the class searched (N = 2^d - 1 parities, or C(d, k)
  k-sparse ones; :func:`sqsim.bounds.parity_sq_lower_bound`, :func:`sqsim.bounds.class_sq_lower_bound`,
  docs/theory/bounds.md, section bounds-parity), at each Boolean tolerance in the figure (none at tau = 1, where
  no answer rules out a candidate);
- brute force 2^(d-1) (:func:`sqsim.bounds.brute_force_expected`) for full parity classes;
- the low-degree count sum_{i <= k} C(d, i) (:func:`sqsim.bounds.low_degree_queries`) for each low-degree k;
- d for Gaussian elimination on examples.

Lifted families are drawn against the Boolean dimension: the Gaussian tolerance tau becomes the
Boolean tolerance tau / 2 in the adapter (Theorem 3.2), so the lower bound is drawn at tau / 2, and
Boolean cells of the same class at that tolerance are drawn beside the lifted ones.

Extending a plot
----------------
- ``curves=``: your own theory curves (callables of d, names of :mod:`sqsim.bounds` functions,
  ``"module:function"`` references; see :mod:`sqsim.experiments._curves` for how their
  parameters are filled from the results), drawn as coloured dash-dotted lines labelled "curve: ...".
- ``select=``: which rows (hence series) to draw.
- ``ax=``: draw into your own Axes.
- :data:`BOUND_PROVIDERS`: a hook for bounds computed from the results themselves (for example a
  certified statistical-dimension bound per (family, d, tau)). Each provider is a callable
  ``provider(rows) -> [(label, d_values, values), ...]`` called with one panel's rows; every triple
  is drawn as a dashed coloured line labelled "bound: <label>". Append to the list to register one.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections import defaultdict
from collections.abc import Callable, Mapping
from os import PathLike
from pathlib import Path

import numpy as np

from .. import bounds
from .._errors import InvalidParameterError
from .._validation import show
from ._config import canonical, did_you_mean
from ._curves import evaluate, resolve_curves
from ._families import make_family
from ._runner import read_results

__all__ = ["BOUND_PROVIDERS", "CertifiedBound", "MIN_SEEDS_FOR_BAND", "Figures", "plot", "series", "theory_curves"]

CALLER = "sqsim.experiments.plot"
_ELIMINATION = ("gf2-elimination",)
#: fewest seeds at a point for an interquartile band; with fewer, an error bar over their range
MIN_SEEDS_FOR_BAND = 5
#: callables ``provider(rows) -> [(label, d_values, values), ...]`` whose curves every panel draws as
#: dashed lines ("bound: <label>"); called with the panel's rows (after ``select``)
BOUND_PROVIDERS: list[Callable] = []
#: the fields every row must hold to be drawn
_REQUIRED = ("family", "d", "learner", "strategy", "queries")
#: the smallest value drawn on the log axis (a count of 0 is drawn here)
_FLOOR = 0.8


class Figures(dict):
    """What :func:`plot` returns: panel name -> :class:`matplotlib.figure.Figure`, in drawing order.

    Panel names are the file stems without ``queries_vs_d_`` (``"parity"``, ``"sparse-parity-k-2"``,
    ``"lifted-parity"``). Besides the mapping:

    - ``files``: the files written (PNG and SVG per panel, in order; empty without ``out_dir``);
    - ``axes``: panel name -> the :class:`~matplotlib.axes.Axes` drawn into;
    - ``captions``: panel name -> the caption text (drawn under the figure unless ``ax`` was given).

    >>> figs = plot("parity.jsonl")                  # doctest: +SKIP
    >>> figs["parity"].savefig("parity.pdf")         # doctest: +SKIP
    """

    def __init__(self):
        super().__init__()
        self.files: list[Path] = []
        self.axes: dict = {}
        self.captions: dict[str, str] = {}


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
            label = f"SQ lower bound ceil((2^d - 2) / m(tau)), tau = {tau:g}"
        else:
            vals = [bounds.class_sq_lower_bound(math.comb(int(d), k), float(tau)) for d in ds]
            label = f"SQ lower bound ceil((C(d,{k}) - 1) / m(tau)), tau = {tau:g}"
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


#: theory curve styles by the first word of the label: (grey level, line style); all achromatic
_THEORY_STYLE = {
    "SQ": ("0.0", "--"),
    "brute": ("0.35", (0, (1, 1.5))),
    "low": ("0.25", "-."),
    "d": ("0.55", (0, (7, 2))),
}
_THEORY_DEFAULT = ("0.4", (0, (3, 1, 1, 1, 1, 1)))
#: user curves: coloured, dash-dotted; bound providers: coloured, dashed
_USER_STYLE = (0, (6, 2, 1.5, 2))
_PROVIDER_STYLE = "--"


def dgrid_of(ds_all) -> np.ndarray:
    return np.arange(ds_all[0], ds_all[-1] + 1)


# ---------------------------------------------------------------------- inputs
def _rows(results) -> list[dict]:
    """The rows of ``results``: a results path (JSON lines) or rows already loaded (dicts)."""
    if isinstance(results, (str, PathLike)):
        rows = read_results(results)
        what = repr(str(results))
    elif isinstance(results, Mapping) or not hasattr(results, "__iter__"):
        raise InvalidParameterError(f"The 'results' parameter of {CALLER} must be a results path or a list of "
                                    f"results rows (dicts). Got {show(results)} instead.")
    else:
        rows = list(results)
        what = "a list"
        for i, r in enumerate(rows):
            if not isinstance(r, Mapping):
                raise InvalidParameterError(f"The 'results' parameter of {CALLER} must hold results rows (dicts). "
                                            f"Got row {i} = {show(r)} instead.")
            missing = [k for k in _REQUIRED if k not in r]
            if missing:
                raise InvalidParameterError(f"The 'results' parameter of {CALLER} must hold results rows with the "
                                            f"fields {list(_REQUIRED)}. Got row {i} without {missing} instead.")
    if not rows:
        raise InvalidParameterError(f"The 'results' parameter of {CALLER} must be a results file or list with at "
                                    f"least one cell. Got {what} (empty) instead.")
    return rows


def _field(row: dict, name: str):
    """A row's value at ``name``; a dotted name reads into a dict field (``"params.k"``)."""
    value = row
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


_MISSING = object()


def _fields_of(rows: list[dict]) -> list[str]:
    names = set()
    for r in rows:
        for k, v in r.items():
            names.add(k)
            if isinstance(v, Mapping):
                names.update(f"{k}.{sub}" for sub in v)
    return sorted(names)


def _select(rows: list[dict], select) -> list[dict]:
    if select is None:
        return rows
    if callable(select):
        kept = [r for r in rows if select(r)]
    elif isinstance(select, Mapping):
        fields = _fields_of(rows)
        for name in select:
            if not isinstance(name, str) or name not in fields:
                raise InvalidParameterError(
                    f"The 'select' parameter of {CALLER} must name fields of the results rows (for example "
                    f"'learner', 'strategy', 'tau', 'd', 'params.k'). Got {name!r} instead{did_you_mean(name, fields)}."
                )
        wanted = {n: (list(v) if isinstance(v, (list, tuple, set, frozenset)) else [v]) for n, v in select.items()}
        kept = [r for r in rows if all(_field(r, n) in vs for n, vs in wanted.items())]
    else:
        raise InvalidParameterError(f"The 'select' parameter of {CALLER} must be a dict field -> value (or list of "
                                    f"values) or a callable on a row. Got {show(select)} instead.")
    if not kept:
        raise InvalidParameterError(f"The 'select' parameter of {CALLER} must keep at least one of the "
                                    f"{len(rows)} rows. Got {show(select)}, which keeps none, instead.")
    return kept


def _panels(rows: list[dict]) -> list[tuple[str, str, list[dict], list[dict]]]:
    """(panel name, family label, its rows, the Boolean rows drawn beside lifted ones) per panel."""
    groups: dict = defaultdict(list)
    for r in rows:
        groups[(r["family"], canonical(r.get("family_params") or {}))].append(r)
    out = []
    for (fam, _), recs in sorted(groups.items()):
        params = recs[0].get("family_params") or {}
        base = _base_class(fam, params)
        extra = []
        if any(r.get("oracle") == "lifted" for r in recs):  # Boolean cells of the class at the adapter's tau, same d
            btaus = {_boolean_tau(r) for r in recs}
            dset = {r["d"] for r in recs}
            extra = [r for r in rows if r.get("oracle") != "lifted" and r["d"] in dset and r.get("tau") in btaus
                     and _base_class(r["family"], r.get("family_params") or {}) == base]
        label = _fam_label(fam, params)
        out.append((_slug(label), label, recs, extra))
    return out


# ---------------------------------------------------------------------- drawing
class _Legend:
    """What a panel drew, for its caption (so the caption says only what is there, in the lines' colours)."""

    def __init__(self):
        self.band = self.bars = self.theory = self.user = self.provider = self.boolean = False


def _draw_series(ax, recs: list[dict], lifted: bool, drawn: _Legend) -> None:
    from matplotlib.colors import to_rgba

    groups = series(recs)
    multi_tau = len({key[2] for key in groups} - {None}) > 1
    markers = "osD^vP*Xh"
    ordered = sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0])))
    ds_all = sorted({int(r["d"]) for r in recs})
    width = 0.07 * (len(ds_all) > 1)  # dodge: series with equal counts stay visible side by side
    for n, (key, by_d) in enumerate(ordered):
        lab, strategy, tau = key
        ds = np.array(sorted(by_d))
        x = ds + width * (n - (len(ordered) - 1) / 2)
        counts = np.array([len(by_d[d]) for d in ds])
        q = np.array([np.percentile(by_d[d], [0, 25, 50, 75, 100]) for d in ds])
        lo_all, lo, med, hi, hi_all = (np.maximum(q[:, i], _FLOOR) for i in range(5))
        cells = [r for r in recs if (_learner_label(r), r["strategy"], r.get("tau")) == key]
        rate = sum(bool(r["success"]) for r in cells) / max(1, len(cells))
        name = f"{lab} [{strategy}" + (f", tau={tau:g}" if multi_tau and tau is not None else "") + "]"
        if lifted:
            name = f"{lab} via LiftedOracle [{strategy}, Gaussian tau={tau:g}]"
        line, = ax.plot(x, med, marker=markers[n % len(markers)], lw=1.8, ms=5,
                        mfc="none" if rate < 0.5 else None,  # hollow: the learner mostly failed
                        label=f"{name}: median, success {rate:.0%}")
        color = line.get_color()
        band = counts >= MIN_SEEDS_FOR_BAND
        if band.any():
            drawn.band |= bool((hi > lo)[band].any())
            # a light face with an edge in the line's colour: overlapping bands stay attributable to their lines
            ax.fill_between(x, lo, hi, where=band, facecolor=to_rgba(color, 0.13), edgecolor=to_rgba(color, 0.75),
                            lw=0.8, label=f"_band {name}")
            alone = band & ~(np.r_[False, band[:-1]] | np.r_[band[1:], False])  # no neighbour to fill a band to
            if alone.any():
                ax.vlines(x[alone], lo[alone], hi[alone], colors=[to_rgba(color, 0.3)], lw=7, label=f"_band {name}")
        bars = (counts >= 2) & ~band & (hi_all > lo_all)  # a range of zero length is just the point
        if bars.any():
            ax.errorbar(x[bars], med[bars], yerr=[med[bars] - lo_all[bars], hi_all[bars] - med[bars]], fmt="none",
                        ecolor=color, elinewidth=1.0, capsize=3, label=f"_range {name}")
            drawn.bars = True
        xs = np.concatenate([np.full(len(by_d[d]), xi) for d, xi in zip(ds, x)])
        ys = np.concatenate([by_d[d] for d in ds])
        ax.scatter(xs, np.maximum(ys, _FLOOR), s=9, color=color, alpha=0.35, lw=0, label=f"_cells {name}")


def _draw_boolean_beside(ax, extra: list[dict], drawn: _Legend) -> None:
    for key, by_d in sorted(series(extra).items(), key=lambda kv: tuple(map(str, kv[0]))):
        lab, strategy, tau = key
        ds = np.array(sorted(by_d))
        med = np.array([np.median(by_d[d]) for d in ds])
        ax.plot(ds, np.maximum(med, _FLOOR), ls=":", marker="x", ms=6, lw=1.4,
                label=f"Boolean {lab} [{strategy}, tau={tau:g}]: median")
        drawn.boolean = True


def _palette(name: str, n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps[name]
    return [cmap(i % cmap.N) for i in range(n)]


class CertifiedBound:
    """A bound provider: the certified statistical-dimension lower bound of each swept family.

    For every (family, oracle, tau) among a panel's SQ rows (example-oracle rows have no SQ bound) it
    draws :func:`sqsim.dimension.sweep_bound`'s certified ``lower`` versus d: the number of queries
    FGRVX17's SDA theorem guarantees at that tolerance (docs/theory/dimension.md and
    docs/theory/dimension-lifted.md). Points where the bound is 0 or unknown are left out. Bounds
    are computed once per (family, d, tau, oracle) and cached as JSON in ``cache_dir`` (None: no
    cache), so redrawing a results file costs nothing.
    """

    def __init__(self, cache_dir=None):
        self.cache_dir = None if cache_dir is None else Path(cache_dir)

    def __call__(self, rows: list[dict]) -> list[tuple]:
        from ..dimension import sweep_bound

        groups: dict[tuple, dict[int, dict]] = defaultdict(dict)
        for r in rows:
            if r.get("oracle") in (None, "example") or r.get("tau") is None:
                continue
            fam = (r["family"], canonical(r.get("family_params") or {}))
            groups[(fam, r["oracle"], float(r["tau"]))].setdefault(int(r["d"]), r)
        families = {key[0] for key in groups}
        out = []
        for (fam, oracle, tau), by_d in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
            ds = sorted(by_d)
            bounds_d = [sweep_bound(by_d[d], d, tau, self.cache_dir, oracle=oracle) for d in ds]
            if all(b is None for b in bounds_d):
                continue
            vals = [math.nan if b is None or not b["lower"] else float(b["lower"]) for b in bounds_d]
            theorem = next(b for b in bounds_d if b is not None)["oracle"].upper()
            label = (f"certified SDA ({theorem}, FGRVX17), tau={tau:g}"
                     + (f", {fam[0]}" if len(families) > 1 else ""))
            out.append((label, ds, vals))
        return out


def _draw_curves(ax, allrecs: list[dict], base: tuple, fam: str, curves: list, drawn: _Legend,
                 providers: list) -> set[str]:
    """Theory, user and provider curves; returns the labels of the user curves drawn."""
    dgrid = dgrid_of(sorted({int(r["d"]) for r in allrecs}))
    for label, vals in theory_curves(allrecs, dgrid, base):
        color, ls = _THEORY_STYLE.get(label.split(" ")[0], _THEORY_DEFAULT)
        ax.plot(dgrid, vals, color=color, ls=ls, lw=1.4, zorder=3, label=f"theory: {label}")
        drawn.theory = True
    user = []
    if curves:  # the family only says how many candidates it searches (a curve's n_candidates)
        family = make_family({"name": fam, **(allrecs[0].get("family_params") or {})}, CALLER)
        user = [(c, lv) for c in curves for lv in evaluate(c, allrecs, dgrid, family.n_candidates)]
    for color, (c, (label, vals)) in zip(_palette("Dark2", len(user)), user):
        ax.plot(dgrid, vals, color=color, ls=_USER_STYLE, lw=1.5, zorder=3, label=f"curve: {label}")
        drawn.user = True
    provided = []
    for provider in providers:
        for triple in provider(allrecs):
            label, ds, vals = triple
            ds, vals = np.asarray(ds, dtype=float), np.asarray(vals, dtype=float)
            if ds.shape != vals.shape or ds.ndim != 1:
                raise InvalidParameterError(
                    f"The bound provider {getattr(provider, '__name__', provider)!r} of {CALLER} must return "
                    f"(label, d_values, values) with as many values as d values. Got {len(ds)} d values and "
                    f"{vals.size} values for {label!r} instead.")
            provided.append((str(label), ds, vals))
    for color, (label, ds, vals) in zip(_palette("Set1", len(provided)), provided):
        ax.plot(ds, vals, color=color, ls=_PROVIDER_STYLE, lw=1.6, zorder=3, label=f"bound: {label}")
        drawn.provider = True
    return {c.label for c, _ in user}


def _tick_label(value: float, _pos=None) -> str:
    return f"{value:g}".replace("e+0", "e").replace("e+", "e")


def _log_ticks(ax) -> None:
    """Labelled ticks dense enough to read values: 1-2-3-...-9 within a decade, 1-2-3-5 over up to 2
    decades, 1-2-5 up to 3, 1-3 up to 5, powers of ten beyond; unlabelled minor ticks at 2..9."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    lo, hi = ax.get_ylim()
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else 1.0
    if decades <= 1.2:
        subs = tuple(range(1, 10))
    elif decades <= 2:
        subs = (1, 2, 3, 5)
    elif decades <= 3:
        subs = (1, 2, 5)
    elif decades <= 5:
        subs = (1, 3)
    else:
        subs = (1,)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs, numticks=15))
    ax.yaxis.set_major_formatter(FuncFormatter(_tick_label))
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=tuple(range(2, 10)), numticks=15))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(lo, hi)  # the locators above must not move the limits


def _ylabel(allrecs: list[dict]) -> str:
    examples = sorted({r["learner"] for r in allrecs if r.get("oracle") == "example"})
    return f"queries (examples for {', '.join(examples)})" if examples else "queries"


def _caption(recs: list[dict], lifted: bool, drawn: _Legend) -> str:
    seeds = defaultdict(set)
    for r in recs:
        seeds[(_learner_label(r), r["strategy"], r.get("tau"), r["d"])].add(r.get("seed_index"))
    per_point = sorted({len(s) for s in seeds.values()})
    spp = str(per_point[0]) if len(per_point) == 1 else f"{per_point[0]}-{per_point[-1]}"
    taus = sorted({r["tau"] for r in recs if r.get("tau") is not None})
    roots = sorted({str((r.get("seeds") or {}).get("root")) for r in recs if (r.get("seeds") or {}).get("root")
                    is not None})
    parts = [f"{len(recs)} cells; {spp} seeds per point"
             + (f"; root seed {', '.join(roots)}" if roots else "")
             + f"; tau = {', '.join(f'{t:g}' for t in taus) or 'n/a'}; strategies "
             + f"{', '.join(sorted({r['strategy'] for r in recs}))}.",
             "Coloured lines with markers: median over seeds (hollow markers: success below 50%)"]
    if drawn.band:
        parts.append(f"shaded bands edged in the line's colour: interquartile range (points with >= {MIN_SEEDS_FOR_BAND} "
                     f"seeds)")
    if drawn.bars:
        parts.append(f"error bars in the line's colour: range over seeds (points with 2-{MIN_SEEDS_FOR_BAND - 1} "
                     f"seeds)")
    parts.append("faint dots: single cells")
    if drawn.boolean:
        parts.append("dotted lines with x: Boolean learners at the adapter's tolerance tau/2")
    if drawn.theory:
        parts.append("black and grey lines (theory:): sqsim.bounds")
    if drawn.user:
        parts.append("coloured dash-dotted lines (curve:): user curves")
    if drawn.provider:
        parts.append("coloured dashed lines (bound:): bounds computed from the results")
    text = parts[0] + " " + "; ".join(parts[1:]) + "."
    if lifted:
        deltas = sorted({(r.get("target") or {}).get("delta") for r in recs} - {None})
        text += (" Gaussian tolerance tau through LiftedOracle (CGKM22 Thm 3.2) over a Boolean oracle at "
                 "tau/2; CompressedLift q=2" + (f", delta = {', '.join(f'{x:.3g}' for x in deltas)}" if deltas else "")
                 + "; curves against the Boolean dimension.")
    return text


def _draw_panel(ax, recs: list[dict], extra: list[dict], fam: str, label: str, curves: list,
                providers: list) -> tuple[str, set]:
    """Draw one panel into ``ax``; returns (its caption, the labels of the user curves drawn)."""
    params = recs[0].get("family_params") or {}
    lifted = any(r.get("oracle") == "lifted" for r in recs)
    allrecs = recs + extra
    drawn = _Legend()
    ax.set_yscale("log")
    _draw_series(ax, recs, lifted, drawn)
    _draw_boolean_beside(ax, extra, drawn)
    user = _draw_curves(ax, allrecs, _base_class(fam, params), fam, curves, drawn, providers)
    _log_ticks(ax)
    dgrid = dgrid_of(sorted({int(r["d"]) for r in allrecs}))
    ax.set_xticks(dgrid if len(dgrid) <= 20 else dgrid[:: math.ceil(len(dgrid) / 20)])
    ax.set_xlabel("Boolean dimension d (lifted to N(0, I_d))" if lifted else "dimension d")
    ax.set_ylabel(_ylabel(allrecs))
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)
    ax.legend(fontsize=7.5, loc="upper left", framealpha=0.9)
    exps = sorted({str(r.get("experiment", "")) for r in recs} - {""})
    ax.set_title(f"Queries to learn {label} versus dimension" + (f" ({', '.join(exps)})" if exps else ""),
                 fontsize=11)
    return _caption(recs, lifted, drawn), user


def plot(results, out_dir=None, *, curves=None, select=None, ax=None, formats=("png", "svg"),
         certified=True) -> Figures:
    """Draw queries versus d for every target family of a results file; return the figures.

    Parameters
    ----------
    results : path or list of dict
        A results file written by :func:`sqsim.experiments.run` (JSON lines), or its rows already
        loaded (for example ``sqsim.experiments.read_results(path)`` or ``report.records``).
    out_dir : path, optional
        If given, created if needed and every panel saved there as ``queries_vs_d_<panel>.png`` and
        ``.svg`` (listed in the result's ``files``). Nothing is written without it.
    curves : callable, str, (label, curve) pair, list or dict of them, optional
        Extra theory curves, drawn on every panel where their parameters are known:

        - a callable of d, labelled by its ``__name__`` (``"user curve N"`` for a lambda);
        - a ``(label, curve)`` pair, or a dict label -> curve, to choose the label;
        - the name of an :mod:`sqsim.bounds` function (for example ``"parity_sq_lower_bound"``,
          ``"low_degree_queries"``) or an importable ``"module:function"`` reference.

        A function's parameters other than d come from the results by name: ``tau`` takes each
        Boolean tolerance of the panel, ``n_candidates`` the size of the class searched, any other
        name the learner or family parameter of that name (``k``), else its default; one curve per
        combination. A top-level tuple is one ``(label, curve)`` pair; pass several curves as a list.
        An unknown name raises :class:`sqsim.InvalidParameterError` listing the valid ones.
    select : dict or callable, optional
        Which rows to draw (the others are left out of series, theory curves and captions):

        - a dict field -> value, or field -> list of values, every field must match; fields are
          those of the results rows (``"learner"``, ``"strategy"``, ``"tau"``, ``"d"``,
          ``"oracle"``...), dotted names read into tables (``"params.k"``, ``"family_params.k"``);
        - a callable ``row -> bool`` on a results row (a dict).
    ax : matplotlib.axes.Axes, optional
        Draw into this Axes (the selected rows must make one panel); no caption is drawn under a
        figure that is not ours (it is in the result's ``captions``).
    formats : tuple of str
        File formats written to ``out_dir``.
    certified : bool
        Draw the certified statistical-dimension lower bound of each swept family at each swept
        tolerance (:class:`CertifiedBound`; docs/theory/dimension.md). When ``out_dir`` is given the
        bounds are cached as JSON in ``bounds-cache/`` beside the results file (in ``out_dir`` when
        rows are given), so redrawing costs nothing; without ``out_dir`` nothing is written.

    Returns
    -------
    Figures
        A dict panel name -> :class:`matplotlib.figure.Figure` (one per target family and family
        parameters), with ``files``, ``axes`` and ``captions``. Figures are created without
        :mod:`matplotlib.pyplot` (no backend is changed, nothing is left open); save them with
        ``fig.savefig``, or pass ``ax`` from ``plt.subplots()`` to draw into a pyplot figure.

    Examples
    --------
    >>> from sqsim import experiments
    >>> def half_of_2_to_d(d):
    ...     return 2 ** d / 2
    >>> figs = experiments.plot("parity.jsonl", curves=[half_of_2_to_d, "parity_sq_lower_bound"],
    ...                         select={"strategy": "adversarial"})          # doctest: +SKIP
    >>> sorted(figs)                                                          # doctest: +SKIP
    ['parity']
    """
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    rows = _select(_rows(results), select)
    if not isinstance(certified, bool):
        raise InvalidParameterError(f"The 'certified' parameter of {CALLER} must be True or False. "
                                    f"Got {show(certified)} instead.")
    providers = list(BOUND_PROVIDERS)
    if certified:
        cache = None  # nothing is written without out_dir
        if out_dir is not None:
            folder = Path(results).parent if isinstance(results, (str, PathLike)) else Path(out_dir)
            cache = folder / "bounds-cache"
        providers.append(CertifiedBound(cache))
    resolved = resolve_curves(curves, CALLER)
    if ax is not None and not isinstance(ax, Axes):
        raise InvalidParameterError(f"The 'ax' parameter of {CALLER} must be a matplotlib Axes or None. "
                                    f"Got {show(ax)} instead.")
    panels = _panels(rows)
    if ax is not None and len(panels) > 1:
        raise InvalidParameterError(
            f"The 'ax' parameter of {CALLER} must be used with rows that make one panel (choose one with "
            f"select={{'family': ...}}). Got one Axes for {len(panels)} panels "
            f"({', '.join(p[0] for p in panels)}) instead.")
    figs = Figures()
    drawn_user: set[str] = set()
    for name, label, recs, extra in panels:
        if ax is None:
            fig = Figure(figsize=(9, 6.2))
            target = fig.subplots()
        else:
            fig, target = ax.figure, ax
        caption, user = _draw_panel(target, recs, extra, recs[0]["family"], label, resolved, providers)
        drawn_user |= user
        if ax is None:
            wrapped = textwrap.wrap(caption, 150)
            fig.text(0.01, 0.01, "\n".join(wrapped), fontsize=7.5, va="bottom", gid="caption")
            # keep the caption's lines (7.5 pt type, about 9.5 pt a line) clear of the x label
            fig.tight_layout(rect=(0, (9.5 * len(wrapped) + 10) / (72 * fig.get_figheight()), 1, 1))
        figs[name], figs.axes[name], figs.captions[name] = fig, target, caption
    missing = [c.spec for c in resolved if c.label not in drawn_user]
    if missing:
        raise InvalidParameterError(
            f"The 'curves' parameter of {CALLER} must name curves whose parameters the results supply. Got "
            f"{missing}, drawn on no panel (a required parameter has no value in the selected rows), instead.")
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name, fig in figs.items():
            for fmt in formats:
                path = out / f"queries_vs_d_{name}.{fmt}"
                fig.savefig(path, dpi=130 if fmt == "png" else None)
                figs.files.append(path)
    return figs
