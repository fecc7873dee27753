"""sweep_bound (cached certified SDA bounds of sweep families) and ``sqsim run sq-dimension``."""

from __future__ import annotations

import json
import math

import pytest

from sqsim import InvalidParameterError
from sqsim.dimension import _sweep, orthonormal_sda, stat_gamma
from sqsim.dimension._sweep import sweep_bound


@pytest.mark.parametrize("spec,N", [("parity", lambda d: 2**d - 1),
                                    ({"name": "sparse-parity", "k": 2}, lambda d: math.comb(d, 2)),
                                    ({"name": "sparse-parity", "k": 3}, lambda d: math.comb(d, 3))])
def test_boolean_bounds_equal_the_orthonormal_closed_form(tmp_path, spec, N):
    for d in (4, 7, 10):
        for tau in (0.05, 0.1, 0.3):
            b = sweep_bound(spec, d, tau, tmp_path)
            closed = orthonormal_sda(N(d), stat_gamma(tau))
            assert b["method"] == "matrix" and b["N"] == N(d)
            assert b["lower"] == b["upper"] == b["sda_lower"] == closed
            assert b["gamma"] == stat_gamma(tau) and b["oracle"] == "stat" and "Theorem 3.7" in b["theorem"]


def test_closed_form_beyond_the_matrix_cap_agrees_with_the_matrix_below_it(tmp_path, monkeypatch):
    exact = {d: sweep_bound({"name": "lifted-parity"}, d, 0.025, None) for d in (6, 10)}
    monkeypatch.setattr(_sweep, "MATRIX_MAX_N", 1)  # force the closed form
    for d, m in exact.items():
        c = sweep_bound({"name": "lifted-parity"}, d, 0.025, None)
        assert c["method"] == "closed form"
        # both certified; the closed form uses the structure chi = c delta, so it is at least as tight
        assert m["lower"] <= c["lower"] <= c["upper"] and c["lower"] <= m["upper"] + 1
    b = sweep_bound("parity", 12, 0.1, None)
    assert b["lower"] == orthonormal_sda(2**12 - 1, stat_gamma(0.1))
    big = sweep_bound("parity", 30, 0.1, None)
    assert big["lower"] == math.ceil((2**30 - 1) / (math.ceil(1 / stat_gamma(0.1)) - 1)) - 1


def test_lifted_bound_grows_with_d_and_vstat_uses_the_runner_t(tmp_path):
    lows = [sweep_bound({"name": "lifted-parity"}, d, 0.025, tmp_path)["lower"] for d in (10, 12)]
    assert lows[1] >= 3 * lows[0] >= 3
    v = sweep_bound("parity", 8, 0.1, tmp_path, oracle="vstat")
    assert v["oracle"] == "vstat" and v["vstat_t"] == pytest.approx(100.0)
    assert v["gamma"] == pytest.approx(1 / 300)
    row = {"family": "sparse-parity", "family_params": {"k": 2}, "d": 8, "tau": 0.1, "oracle": "sq"}
    assert sweep_bound(row, 8, 0.1, tmp_path, oracle=row["oracle"])["N"] == 28


def test_cache_is_json_read_once_validated_and_replaced(tmp_path, monkeypatch):
    first = sweep_bound("parity", 6, 0.2, tmp_path)
    files = list(tmp_path.glob("sda-bound-parity-d6-*.json"))
    assert len(files) == 1 and not list(tmp_path.glob("*.tmp"))
    assert json.loads(files[0].read_text()) == first

    def boom(*a, **k):
        raise AssertionError("recomputed")

    real = _sweep._compute
    monkeypatch.setattr(_sweep, "_compute", boom)
    assert sweep_bound("parity", 6, 0.2, tmp_path) == first  # served from the file
    for bad in ("{not json", json.dumps({**first, "d": 7}), json.dumps({**first, "lower": -1}),
                json.dumps({k: v for k, v in first.items() if k != "theorem"}), json.dumps({**first, "schema": 0})):
        files[0].write_text(bad)
        with pytest.raises(AssertionError, match="recomputed"):
            sweep_bound("parity", 6, 0.2, tmp_path)
    monkeypatch.setattr(_sweep, "_compute", real)
    assert sweep_bound("parity", 6, 0.2, tmp_path) == first
    assert json.loads(files[0].read_text()) == first  # replaced by a valid file
    assert sweep_bound("parity", 6, 0.3, tmp_path) != first  # one file per (family, d, tau)
    assert len(list(tmp_path.glob("*.json"))) == 2


def test_families_it_cannot_bound_and_bad_input(tmp_path):
    assert sweep_bound({"name": "mystery"}, 6, 0.1, tmp_path) is None
    assert sweep_bound("parity", 6, 0.1, tmp_path, oracle="example") is None
    with pytest.raises(InvalidParameterError, match="'tolerance'"):
        sweep_bound("parity", 6, 1.5, tmp_path)
    with pytest.raises(InvalidParameterError, match="'d'"):
        sweep_bound("parity", 0, 0.1, tmp_path)
    with pytest.raises(InvalidParameterError, match="'oracle'"):
        sweep_bound("parity", 6, 0.1, tmp_path, oracle="csq")
    with pytest.raises(InvalidParameterError, match="'k'"):
        sweep_bound({"name": "sparse-parity", "k": 0}, 6, 0.1, tmp_path)
    with pytest.raises(InvalidParameterError, match="'d'"):
        sweep_bound({"name": "sparse-parity", "k": 5}, 3, 0.1, tmp_path)


def test_sq_dimension_experiment_quick(tmp_path):
    from sqsim.experiments.paper import EXPERIMENTS, run_experiment

    assert "sq-dimension" in EXPERIMENTS
    res = run_experiment("sq-dimension", tmp_path, quick=True, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "sq-dimension.jsonl").read_text().splitlines()]
    bounds = [r for r in rows if r["part"] == "bound"]
    measured = [r for r in rows if r["part"] == "measured"]
    assert {b["family"] for b in bounds} == {"parity", "sparse-parity-k2", "sparse-parity-k3", "lifted-parity",
                                             "lifted-parity-csq", "lwr", "natural-weights"}
    for b in bounds:
        assert b["lower"] is None or b["sda_upper"] is None or b["lower"] <= b["sda_upper"]
        if b["closed_form"] is not None:
            assert b["lower"] == b["closed_form"]
    assert all(m["median_above_bound"] for m in measured)
    vs = [m for m in measured if m["strategy"] == "version-space" and m["learner"] == "parity-brute-force"]
    assert vs and all(m["median"] == 2 ** m["d"] - 1 for m in vs)  # the adversary's realised count
    lifted = [m for m in measured if m["family"] == "lifted-parity"]
    assert lifted and all(m["successes"] == m["cells"] for m in lifted)
    assert (tmp_path / "bounds.csv").read_text().startswith("family,d,N,kind")
    assert all(p.exists() for p in res["plots"]) and (tmp_path / "summary.txt").exists()
    assert list((tmp_path / "bounds-cache").glob("*.json"))
