"""sqsim.experiments.plot: user curves (callables, sqsim.bounds names, module:function references),
select, ax=, the band / range rule, y-label wording, log ticks, the bound-provider hook, and the
config's curves and did-you-mean messages."""

import math
import sys

import numpy as np
import pytest
from matplotlib.collections import LineCollection, PathCollection, PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from sqsim import InvalidParameterError, bounds, experiments
from sqsim.experiments import _plot


def _row(learner, d, seed_index, queries, *, strategy="adversarial", tau=0.1, family="parity", family_params=None,
         oracle="sq", params=None, success=True):
    return {"schema": 1, "cell": f"{learner}-{strategy}-{d}-{seed_index}", "experiment": "unit", "learner": learner,
            "params": params or {}, "family": family, "family_params": family_params or {}, "d": d,
            "tau": None if oracle == "example" else tau, "strategy": "examples" if oracle == "example" else strategy,
            "seed_index": seed_index, "budget": None, "seeds": {"root": 7}, "oracle": oracle, "target": {},
            "queries": queries, "success": success, "error": None, "details": {}}


def _rows(learner="parity-brute-force", seeds=5, ds=(4, 5, 6, 7), scale=1, **kw):
    """Queries 2^(d-1) + s (s = 0..seeds-1) times ``scale``: distinct values, so every range is non-empty."""
    return [_row(learner, d, s, scale * (2 ** (d - 1) + s), **kw) for d in ds for s in range(seeds)]


def _lines(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def twice_d(d):
    return 2.0 * d


def test_user_curve_bound_name_and_select_are_drawn(tmp_path):
    rows = (_rows(strategy="adversarial") + _rows(strategy="exact")
            + _rows("gf2-elimination", seeds=3, oracle="example"))
    figs = experiments.plot(rows, tmp_path, curves=[twice_d, ("half cube", lambda d: 2**d / 2),
                                                    "parity_sq_lower_bound"],
                            select={"strategy": "adversarial"})
    assert list(figs) == ["parity"] and isinstance(figs["parity"], Figure)
    ax = figs.axes["parity"]
    lines = _lines(ax)
    series = [k for k in lines if "median" in k]
    assert series == ["parity-brute-force [adversarial]: median, success 100%"]  # select dropped exact and gf2
    ds = np.arange(4, 8)
    np.testing.assert_array_equal(lines["curve: twice_d"].get_xdata(), ds)
    np.testing.assert_allclose(lines["curve: twice_d"].get_ydata(), 2.0 * ds)
    np.testing.assert_allclose(lines["curve: half cube"].get_ydata(), 2.0 ** ds / 2)
    sq = lines["curve: parity_sq_lower_bound(tau=0.1)"].get_ydata()
    np.testing.assert_allclose(sq, [bounds.parity_sq_lower_bound(int(d), 0.1) for d in ds])
    # the series line is the median of the rows' queries (2^(d-1) + 0..4 has median 2^(d-1) + 2)
    np.testing.assert_allclose(lines[series[0]].get_ydata(), 2.0 ** (ds - 1) + 2)
    assert ax.get_ylabel() == "queries"  # the example oracle was selected away
    assert "Gaussian elimination" not in " ".join(lines)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "curve: twice_d" in legend and "curve: half cube" in legend
    assert sorted(p.name for p in figs.files) == ["queries_vs_d_parity.png", "queries_vs_d_parity.svg"]
    assert (tmp_path / "queries_vs_d_parity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "user curves" in figs.captions["parity"] and "curve: twice_d" in (tmp_path / "queries_vs_d_parity.svg"
                                                                             ).read_text()


def test_select_callable_lists_and_dotted_fields():
    rows = _rows() + _rows("low-degree", params={"k": 2}, seeds=2) + _rows("low-degree", params={"k": 3}, seeds=2)
    figs = experiments.plot(rows, select=lambda r: r["d"] >= 5)
    for line in figs.axes["parity"].get_lines():
        assert min(line.get_xdata()) >= 5 - 0.5, line.get_label()
    figs = experiments.plot(rows, select={"params.k": [3], "d": [4, 6]})
    series = [k for k in _lines(figs.axes["parity"]) if "median" in k]
    assert series == ["low-degree(k=3) [adversarial]: median, success 100%"]
    theory = [k for k in _lines(figs.axes["parity"]) if k.startswith("theory: low degree")]
    assert theory == ["theory: low degree (LMN) sum_(i<=3) C(d, i)"]
    with pytest.raises(InvalidParameterError, match=r"'select'.*'strategi'.*did you mean 'strategy'"):
        experiments.plot(rows, select={"strategi": "exact"})
    with pytest.raises(InvalidParameterError, match=r"'select'.*keeps none"):
        experiments.plot(rows, select={"strategy": "exact"})
    with pytest.raises(InvalidParameterError, match=r"'select'.*dict field -> value"):
        experiments.plot(rows, select="exact")


def test_ax_is_drawn_into_and_one_panel_is_required():
    fig = Figure()
    ax = fig.subplots()
    rows = _rows() + _rows(family="sparse-parity", family_params={"k": 2}, seeds=2, ds=(4, 5))
    figs = experiments.plot(rows, select={"family": "parity"}, ax=ax, curves=twice_d)
    assert figs["parity"] is fig and figs.axes["parity"] is ax and figs.files == []
    assert "curve: twice_d" in _lines(ax) and ax.get_yscale() == "log"
    assert fig.texts == []  # no caption drawn on the user's figure; it is returned instead
    assert "median over seeds" in figs.captions["parity"]
    with pytest.raises(InvalidParameterError, match=r"'ax'.*one panel.*2 panels \(parity, sparse-parity-k-2\)"):
        experiments.plot(rows, ax=Figure().subplots())
    with pytest.raises(InvalidParameterError, match="'ax'"):
        experiments.plot(rows, ax="axes")


def _labelled(ax, kind):
    return [c for c in ax.collections if c.get_label().startswith(kind)]


def test_band_only_with_five_seeds_else_range_bars():
    rows = _rows("parity-brute-force", seeds=5) + _rows("low-degree", params={"k": 2}, seeds=3, scale=3) \
        + _rows("exact-cheat", seeds=1, scale=5)
    figs = experiments.plot(rows)
    ax = figs.axes["parity"]
    lines = _lines(ax)
    bands = _labelled(ax, "_band")
    assert [c.get_label() for c in bands] == ["_band parity-brute-force [adversarial]"]
    assert isinstance(bands[0], PolyCollection)
    # the band spans the 25th..75th percentiles of 2^(d-1) + {0..4}: 2^(d-1) + 1 .. 2^(d-1) + 3
    ys = bands[0].get_paths()[0].vertices[:, 1]
    assert min(ys) == pytest.approx(2**3 + 1) and max(ys) == pytest.approx(2**6 + 3)
    bars = [c for c in ax.containers if c.get_label().startswith("_range")]
    assert [c.get_label() for c in bars] == ["_range low-degree(k=2) [adversarial]"]
    segs = bars[0].lines[2][0].get_segments()  # min..max of 3 * (2^(d-1) + {0, 1, 2}) at each d
    assert [(s[0][1], s[1][1]) for s in segs] == [(3 * 2 ** (d - 1), 3 * (2 ** (d - 1) + 2)) for d in (4, 5, 6, 7)]
    # colours: band edge, bars and dots take their line's colour
    bf = lines["parity-brute-force [adversarial]: median, success 100%"]
    ld = lines["low-degree(k=2) [adversarial]: median, success 100%"]
    assert to_rgb(bands[0].get_edgecolor()[0]) == to_rgb(bf.get_color())
    assert to_rgb(bars[0].lines[2][0].get_color()[0]) == to_rgb(ld.get_color())
    for c in _labelled(ax, "_cells"):
        assert isinstance(c, PathCollection)
        owner = lines[c.get_label()[len("_cells "):] + ": median, success 100%"]
        assert to_rgb(c.get_facecolor()[0]) == to_rgb(owner.get_color())
    # one seed: the point only (no band, no bars); the caption names what is drawn
    assert not any("exact-cheat" in c.get_label() for c in bands + bars)
    cap = figs.captions["parity"]
    assert "interquartile range (points with >= 5 seeds)" in cap and "range over seeds (points with 2-4 seeds)" in cap
    # theory curves are black / grey, as the caption says
    assert "black and grey lines (theory:)" in cap
    for label, line in lines.items():
        if label.startswith("theory:"):
            r, g, b = to_rgb(line.get_color())
            assert r == g == b, label
    only_few = experiments.plot(_rows(seeds=4)).axes["parity"]
    assert _labelled(only_few, "_band") == [] and "interquartile" not in experiments.plot(_rows(seeds=4)).captions[
        "parity"]


def test_a_lone_point_with_five_seeds_still_gets_its_band():
    rows = [_row("parity-brute-force", 6, s, 30 + s) for s in range(5)]
    ax = experiments.plot(rows).axes["parity"]
    bands = _labelled(ax, "_band")
    assert any(isinstance(c, LineCollection) for c in bands)
    seg = next(c for c in bands if isinstance(c, LineCollection)).get_segments()[0]
    assert (seg[0][1], seg[1][1]) == (31, 33)


def test_y_label_mentions_examples_only_with_an_example_oracle():
    plain = experiments.plot(_rows()).axes["parity"]
    assert plain.get_ylabel() == "queries"
    mixed = experiments.plot(_rows() + _rows("gf2-elimination", seeds=2, oracle="example")).axes["parity"]
    assert mixed.get_ylabel() == "queries (examples for gf2-elimination)"
    assert "theory: d (Gaussian elimination on examples)" in _lines(mixed)


def _visible_ticks(ax):
    lo, hi = ax.get_ylim()
    fmt = ax.yaxis.get_major_formatter()
    return [(v, fmt(v)) for v in ax.yaxis.get_majorticklocs() if lo <= v <= hi]


def test_log_axis_ticks_are_readable():
    # one decade and a bit (3..40): labelled ticks at 1-2-3-5 or denser
    small = [_row("low-degree", d, s, 3 + 9 * (d - 4) + s, params={"k": 1}) for d in (4, 5, 6, 7) for s in range(5)]
    ax = experiments.plot(small, select={"learner": "low-degree"}).axes["parity"]
    ticks = _visible_ticks(ax)
    values = [v for v, _ in ticks]
    assert len(ticks) >= 5, ticks
    assert {5.0, 10.0, 20.0} <= set(values) and all(label for _, label in ticks)
    assert [label for v, label in ticks if v in (5.0, 10.0, 20.0)] == ["5", "10", "20"]
    assert len(ax.yaxis.get_minorticklocs()) > len(values)  # unlabelled minor ticks between
    # many decades: powers of ten, each labelled, compactly
    wide = [_row("parity-brute-force", d, s, 2 ** (d - 1) + s) for d in range(2, 22, 3) for s in range(5)]
    ticks = _visible_ticks(experiments.plot(wide).axes["parity"])
    assert len(ticks) >= 5 and ("1e6", "1e6") in [(f"{v:.0e}".replace("e+0", "e"), lab) for v, lab in ticks]


def test_bound_providers_are_drawn_dashed(monkeypatch):
    seen = []

    def fake_sd_bound(rows):
        seen.append({(r["family"], r["d"]) for r in rows})
        ds = sorted({r["d"] for r in rows})
        return [("fake SD bound", ds, [d / 2 for d in ds])]

    monkeypatch.setattr(_plot, "BOUND_PROVIDERS", [fake_sd_bound])
    rows = _rows() + _rows(family="sparse-parity", family_params={"k": 2}, ds=(4, 5), seeds=2)
    figs = experiments.plot(rows)
    assert seen == [{("parity", d) for d in (4, 5, 6, 7)}, {("sparse-parity", d) for d in (4, 5)}]  # panel rows
    for name, ds in (("parity", [4, 5, 6, 7]), ("sparse-parity-k-2", [4, 5])):
        line = _lines(figs.axes[name])["bound: fake SD bound"]
        assert line.get_linestyle() == "--"
        np.testing.assert_allclose(line.get_xdata(), ds)
        np.testing.assert_allclose(line.get_ydata(), np.array(ds) / 2)
        assert "bounds computed from the results" in figs.captions[name]
    monkeypatch.setattr(_plot, "BOUND_PROVIDERS", [lambda rows: [("bad", [4, 5], [1.0])]])
    with pytest.raises(InvalidParameterError, match="bound provider.*2 d values and 1 values"):
        experiments.plot(rows)


def test_curve_errors_name_the_valid_ones():
    rows = _rows()
    with pytest.raises(InvalidParameterError, match=r"'curves'.*brute_force_expected.*parity_sq_lower_bound.*"
                                                    r"Got 'brute_force_expectd'.*did you mean 'brute_force_expected'"):
        experiments.plot(rows, curves="brute_force_expectd")
    with pytest.raises(InvalidParameterError, match="'curves'.*hoeffding_samples"):
        experiments.plot(rows, curves="hoeffding_samples")  # not a curve in d
    with pytest.raises(InvalidParameterError, match=r"'curves'.*drawn on no panel"):
        experiments.plot(rows, curves="low_degree_queries")  # k: no row says what it is
    with pytest.raises(InvalidParameterError, match="distinct labels"):
        experiments.plot(rows, curves=[twice_d, twice_d])
    with pytest.raises(InvalidParameterError, match="'curves'"):
        experiments.plot(rows, curves=[3])
    lam = experiments.plot(rows, curves=[lambda d: d, lambda d: d + 1]).axes["parity"]
    assert {"curve: user curve 1", "curve: user curve 2"} <= set(_lines(lam))

    def broken(d):
        raise ZeroDivisionError("oops")

    with pytest.raises(ZeroDivisionError) as info:
        experiments.plot(rows, curves=broken)
    assert "curve 'broken' at d = 4" in "".join(info.value.__notes__)


CURVE_MODULE = '''
def cube(d):
    return float(d) ** 3


def lower_with_k(d, k):
    return float(d) * k


NOT_A_FUNCTION = 3
'''


def test_config_curves_by_name_and_module_function(tmp_path, monkeypatch):
    (tmp_path / "my_theory_curves.py").write_text(CURVE_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    base = {"learner": "parity-brute-force", "d": [4], "tau": 0.1, "results": str(tmp_path / "r.jsonl")}
    exp = experiments.load_config({**base, "curves": ["brute_force_expected", "my_theory_curves:cube",
                                                      "my_theory_curves:lower_with_k"]})
    assert exp.curves == ["brute_force_expected", "my_theory_curves:cube", "my_theory_curves:lower_with_k"]
    rows = _rows() + _rows("low-degree", params={"k": 2}, seeds=2)
    lines = _lines(experiments.plot(rows, curves=exp.curves).axes["parity"])
    ds = np.arange(4, 8)
    np.testing.assert_allclose(lines["curve: my_theory_curves:cube"].get_ydata(), ds**3.0)
    np.testing.assert_allclose(lines["curve: my_theory_curves:lower_with_k(k=2)"].get_ydata(), 2.0 * ds)
    np.testing.assert_allclose(lines["curve: brute_force_expected"].get_ydata(), 2.0 ** (ds - 1))
    table = experiments.load_config({**base, "curves": {"cubic": "my_theory_curves:cube"}})
    assert "curve: cubic" in _lines(experiments.plot(rows, curves=table.curves).axes["parity"])
    assert "my_theory_curves" in sys.modules  # imported, not evaluated

    BAD = [
        ("brute_force_expectd", "did you mean 'brute_force_expected'"),
        ("no_such_module_xyz:f", "module 'no_such_module_xyz' cannot be imported"),
        ("my_theory_curves:cub", "has no attribute 'cub'.*did you mean 'cube'"),
        ("my_theory_curves:NOT_A_FUNCTION", "is a int, not a function"),
        ("os:system('echo hi')", "expected 'package.module:function'"),
        ("__import__('os').getcwd()", "a name among"),
    ]
    for ref, needle in BAD:
        with pytest.raises(InvalidParameterError, match=r"The 'curves' parameter of the sweep config.*" + needle):
            experiments.load_config({**base, "curves": [ref]})
    with pytest.raises(InvalidParameterError, match="'curves'.*list of names"):
        experiments.load_config({**base, "curves": [3]})
    assert not (tmp_path / "r.jsonl").exists()


def test_config_file_curves(tmp_path, monkeypatch):
    (tmp_path / "my_toml_curves.py").write_text(CURVE_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'results = "{tmp_path / "r.jsonl"}"\nlearner = "parity-brute-force"\nd = [4]\ntau = 0.1\n'
                   f'curves = ["parity_sq_lower_bound", "my_toml_curves:cube"]\n')
    assert experiments.load_config(cfg).curves == ["parity_sq_lower_bound", "my_toml_curves:cube"]


@pytest.mark.parametrize("config, needle", [
    ({"seedz": 3}, r"'seedz'.*did you mean 'seed' or 'seeds'\?"),
    ({"curve": ["brute_force_expected"]}, r"'curve'.*did you mean 'curves'\?"),
    ({"grid": [{"learner": "parity-brute-force", "d": [4], "tau": 0.1, "strategies": ["exact"]}]},
     r"'strategies'.*grid keys.*did you mean 'strategy'\?"),
    ({"learner": "parity-brute-forse"}, r"'learner'.*did you mean 'parity-brute-force'"),
    ({"learner": {"name": "low-degree", "kk": 2}}, r"'kk'.*did you mean 'k'\?"),
], ids=["top key", "curves key", "grid key", "learner name", "learner parameter"])
def test_unknown_config_keys_suggest_the_closest(config, needle):
    base = {"learner": "parity-brute-force", "d": [4], "tau": 0.1}
    with pytest.raises(InvalidParameterError, match=needle) as info:
        experiments.load_config({**base, **config})
    assert "must" in str(info.value) and "Got" in str(info.value)
    with pytest.raises(InvalidParameterError) as info:
        experiments.load_config({**base, "zzzzzz": 1})
    assert "did you mean" not in str(info.value)  # nothing close: no suggestion


def test_results_file_plot_writes_nothing_without_out_dir(tmp_path):
    path = tmp_path / "r.jsonl"
    report = experiments.run({"learner": "parity-brute-force", "d": [4, 5], "tau": 0.1, "seeds": 2,
                              "strategy": ["exact", "adversarial"], "results": str(path)}, progress=False)
    import matplotlib
    import matplotlib.pyplot as plt

    backend, open_figures = matplotlib.get_backend(), plt.get_fignums()
    before = sorted(tmp_path.iterdir())
    figs = experiments.plot(path, curves="brute_force_expected")
    assert sorted(tmp_path.iterdir()) == before and figs.files == []
    # the user's session is left alone: same backend, no pyplot figure left open
    assert matplotlib.get_backend() == backend and plt.get_fignums() == open_figures
    again = experiments.plot(report.records)  # loaded rows give the same figure
    assert sorted(_lines(figs.axes["parity"])) == sorted(set(_lines(again.axes["parity"])) | {
        "curve: brute_force_expected"})
    written = experiments.plot(path, tmp_path / "plots")  # the positional call of DESIGN section 3
    assert [p.name for p in written.files] == ["queries_vs_d_parity.png", "queries_vs_d_parity.svg"]
    with pytest.raises(InvalidParameterError, match="'results'.*results rows"):
        experiments.plot([{"d": 4}])
    with pytest.raises(InvalidParameterError, match="'results'.*empty"):
        experiments.plot([])


def test_bound_curves_take_the_class_size_and_the_boolean_tolerance():
    sparse = _rows("low-degree", params={"k": 2}, family="sparse-parity", family_params={"k": 2}, seeds=2, tau=0.3)
    lines = _lines(experiments.plot(sparse, curves="class_sq_lower_bound").axes["sparse-parity-k-2"])
    ds = range(4, 8)
    np.testing.assert_allclose(lines["curve: class_sq_lower_bound(tau=0.3)"].get_ydata(),
                               [bounds.class_sq_lower_bound(math.comb(d, 2), 0.3) for d in ds])
    # a lifted cell at Gaussian tau answers through a Boolean oracle at tau / 2 (Theorem 3.2)
    lifted = _rows("lifted-parity-brute-force", family="lifted-parity", oracle="lifted", seeds=2, tau=0.5)
    lines = _lines(experiments.plot(lifted, curves="parity_sq_lower_bound").axes["lifted-parity"])
    np.testing.assert_allclose(lines["curve: parity_sq_lower_bound(tau=0.25)"].get_ydata(),
                               [bounds.parity_sq_lower_bound(d, 0.25) for d in ds])


def test_certified_sda_bound_is_drawn_and_cached(tmp_path):
    """Sweep plots draw sqsim.dimension's certified lower bound per (family, d, tau), cached as JSON beside
    the results file; redrawing reads the cache; certified=False leaves it out; example rows get none."""
    from sqsim.dimension import sweep_bound

    ds = (6, 8, 10)
    rows = _rows(ds=ds) + _rows("gf2-elimination", seeds=3, ds=ds, oracle="example")
    results = tmp_path / "results.jsonl"
    import json

    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    experiments.plot(results)  # without out_dir: drawn, nothing written
    assert not (tmp_path / "bounds-cache").exists()
    lines = _lines(experiments.plot(results, tmp_path / "plots").axes["parity"])
    bound = [k for k in lines if k.startswith("bound: certified SDA")]
    assert bound == ["bound: certified SDA (STAT, FGRVX17), tau=0.1"]
    expected = [sweep_bound("parity", d, 0.1, None)["lower"] for d in ds]
    assert expected[-1] > 0  # d = 10 at tau = 0.1 certifies a positive count
    y = lines[bound[0]].get_ydata()
    np.testing.assert_array_equal(lines[bound[0]].get_xdata(), ds)
    np.testing.assert_array_equal(np.nan_to_num(y), expected)  # bounds of 0 are left out (nan)
    cache = sorted((tmp_path / "bounds-cache").glob("*.json"))
    assert len(cache) == len(ds)
    stamps = [p.stat().st_mtime_ns for p in cache]
    experiments.plot(results, tmp_path / "plots")
    assert [p.stat().st_mtime_ns for p in cache] == stamps  # read, not recomputed
    off = _lines(experiments.plot(results, certified=False).axes["parity"])
    assert not [k for k in off if k.startswith("bound:")]
    with pytest.raises(InvalidParameterError, match="'certified'"):
        experiments.plot(results, certified="yes")
