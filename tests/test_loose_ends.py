"""Loose ends: resume validates every record, dead schedulers fail fast, learners.make checks its
parameters, absurd domain sizes are refused, lazy entry-point plug-ins, process isolation in sweeps."""

import time

import pytest

from sqsim import BooleanCube, Gaussian, InvalidParameterError, ZqCube


# ---------------------------------------------------------------------- absurd domain sizes
@pytest.mark.parametrize("make, needles", [
    (lambda: Gaussian(10**9), ["'d' parameter of Gaussian", "[1, 65536]", "1000000000"]),
    (lambda: BooleanCube(10**9), ["'d' parameter of BooleanCube", "[1, 4096]", "1000000000"]),
    (lambda: ZqCube(10**6, 10**6), ["'d' parameter of ZqCube", "[1, 61]", "1000000"]),
    (lambda: ZqCube(40, 3), ["'d' parameter of ZqCube", "2^62", "d <= 39 for q=3"]),
    (lambda: ZqCube(2, 10**300), ["'q' parameter of ZqCube", "4611686018427387903"]),
], ids=["gaussian", "boolean-cube", "zq-cube", "zq-cube-codes", "zq-cube-q"])
def test_absurd_domain_sizes_are_refused_with_the_limit(make, needles):
    t0 = time.perf_counter()
    with pytest.raises(InvalidParameterError) as info:
        make()
    assert time.perf_counter() - t0 < 0.5  # refused up front, no giant power or allocation
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))


def test_largest_allowed_domains_still_build():
    from sqsim._domains import MAX_GAUSSIAN_D

    assert Gaussian(MAX_GAUSSIAN_D).d == 2**16
    assert ZqCube(39, 3).size == 3**39 and ZqCube(61, 2).size == 2**61


# ---------------------------------------------------------------------- learners.make parameters
def test_make_refuses_unknown_parameters_before_construction():
    import learners
    from learners._base import _REGISTRY, register
    from sqsim._learning import Learner

    built = []

    @register("loose-ends-probe")
    class Probe(Learner):
        def __init__(self, *, k=1, seed=None):
            built.append(k)
            self.k, self.seed = k, seed

        def _learn(self, oracle):  # pragma: no cover - never run
            raise AssertionError

    try:
        with pytest.raises(InvalidParameterError) as info:
            learners.make("loose-ends-probe", k=2, unknown=3)
        msg = str(info.value)
        assert msg.startswith("The 'unknown' parameter of learner 'loose-ends-probe' (learners.make) must be one "
                              "of its parameters ['k', 'seed']. Got unknown=3 instead."), msg
        assert built == []  # refused before __init__ ran
        assert learners.make("loose-ends-probe", k=2).k == 2 and built == [2]
    finally:
        _REGISTRY.pop("loose-ends-probe", None)
    with pytest.raises(InvalidParameterError, match=r"The 'colour' parameter of learner 'parity-brute-force' "
                                                    r"\(learners.make\) must be one of its parameters \[.*'seed'"):
        learners.make("parity-brute-force", colour="blue")
    with pytest.raises(InvalidParameterError, match=r"The 'family' parameter of learner 'vw-cheat' .* must be "
                                                    r"given .* Got nothing instead"):
        learners.make("vw-cheat")


# ---------------------------------------------------------------------- lazy entry-point plug-ins
class FakeDist:
    def __init__(self, name):
        self.name = name
        self.metadata = {"Name": name}


class FakeEntryPoint:
    """Stands in for importlib.metadata.EntryPoint; counts loads."""

    def __init__(self, name, value, dist, obj=None, error=None):
        self.name, self.value, self.group, self.dist = name, value, "sqsim.learners", FakeDist(dist)
        self.obj, self.error, self.loads = obj, error, 0

    def load(self):
        self.loads += 1
        if self.error is not None:
            raise self.error
        return self.obj


@pytest.fixture
def fake_plugins(monkeypatch):
    from importlib import metadata

    from sqsim._learning import Learner

    class PluginLearner(Learner):
        def __init__(self, *, seed=None):
            self.seed = seed

        def _learn(self, oracle):  # pragma: no cover - never run
            raise AssertionError

    eps = {
        "good": FakeEntryPoint("plugin-good", "goodpkg:PluginLearner", "goodpkg-dist", obj=PluginLearner),
        "broken": FakeEntryPoint("plugin-broken", "brokenpkg:Nope", "brokenpkg-dist",
                                 error=ImportError("No module named 'brokenpkg'")),
        "shadow": FakeEntryPoint("parity-brute-force", "evilpkg:Parity", "evilpkg-dist", obj=PluginLearner),
    }
    real = metadata.entry_points

    def entry_points(**kw):
        if kw.get("group") == "sqsim.learners":
            return list(eps.values())
        return real(**kw)

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    return eps, PluginLearner


def test_plugins_are_listed_without_loading_and_loaded_one_at_a_time(fake_plugins):
    import learners

    eps, cls = fake_plugins
    with pytest.warns(RuntimeWarning, match="'parity-brute-force' is ambiguous.*evilpkg-dist"):
        names = learners.available()
    assert {"plugin-good", "plugin-broken", "parity-brute-force", "low-degree"} <= set(names)
    assert names.count("parity-brute-force") == 1
    assert [ep.loads for ep in eps.values()] == [0, 0, 0]  # listing imports nothing

    assert learners.get_class("plugin-good") is cls
    assert isinstance(learners.make("plugin-good", seed=1), cls)
    assert learners.get_class("low-degree") is learners.LowDegree  # built-ins load no plug-in
    assert [ep.loads for ep in eps.values()] == [2, 0, 0]  # only the one asked for

    with pytest.raises(InvalidParameterError, match=r"'plugin-broken', whose plug-in plugin-broken = brokenpkg:Nope "
                                                    r"\(distribution 'brokenpkg-dist'\) failed to load \(ImportError"):
        learners.make("plugin-broken")


def test_a_plugin_may_not_shadow_a_built_in(fake_plugins):
    import learners

    eps, _ = fake_plugins
    for fn in (learners.get_class, learners.make):
        with pytest.raises(InvalidParameterError) as info:
            fn("parity-brute-force")
        msg = str(info.value)
        assert "must name exactly one learner" in msg and "built-in" in msg, msg
        assert "evilpkg:Parity (distribution 'evilpkg-dist')" in msg, msg
    assert eps["shadow"].loads == 0


def test_sweep_configs_load_only_the_plugins_they_name(fake_plugins, tmp_path):
    import warnings

    from sqsim.experiments import load_config

    eps, _ = fake_plugins
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the shadowing plug-in's warning
        exp = load_config({"results": str(tmp_path / "r.jsonl"), "tau": 0.1,
                           "grid": [{"learner": "low-degree", "d": [4]}]})
        assert len(exp) == 1
        with pytest.raises(InvalidParameterError, match="evilpkg-dist"):
            load_config({"results": str(tmp_path / "r.jsonl"), "tau": 0.1,
                         "grid": [{"learner": "parity-brute-force", "d": [4]}]})
    assert [ep.loads for ep in eps.values()] == [0, 0, 0]


# ---------------------------------------------------------------------- resume checks every line
def _tiny(results, **extra):
    return {"name": "tiny", "seed": 4, "seeds": 2, "tau": 0.1, "results": str(results), "learner": "parity-brute-force",
            "d": [4, 5], "strategy": ["exact"], **extra}


def _lines(path):
    import json

    return [json.loads(x) for x in path.read_text().splitlines()]


def _rewrite_line(path, n, change):
    import json

    lines = path.read_text().splitlines()
    rec = json.loads(lines[n - 1])
    change(rec)
    lines[n - 1] = json.dumps(rec, sort_keys=True)
    path.write_text("\n".join(lines) + "\n")


def _same_cells(a, b):
    from sqsim import experiments

    strip = [{c["cell"]: experiments.strip_timing(c) for c in recs} for recs in (a, b)]
    assert len(strip[0]) == len(a) and len(strip[1]) == len(b), "a cell written twice"
    assert strip[0] == strip[1]


def test_resume_reruns_a_line_with_missing_fields(tmp_path):
    from sqsim import experiments
    from sqsim.experiments._runner import ResultsWarning

    path = tmp_path / "tiny.jsonl"
    clean = experiments.run(_tiny(path), progress=False)
    assert clean.ran == 4
    _rewrite_line(path, 2, lambda r: [r.pop(k) for k in ("success", "queries")])
    with pytest.warns(ResultsWarning, match=r"line 2 \(cell [0-9a-f]+\) lacks the fields \['queries', 'success'\]"):
        again = experiments.run(_tiny(path), resume=True, progress=False)
    assert again.ran == 1 and again.skipped == 3
    _same_cells(_lines(path), clean.records)  # each cell once, as the uninterrupted run wrote it
    assert not list(tmp_path.glob("*.tmp"))


def test_cli_resume_reruns_a_line_with_missing_fields(tmp_path, capsys):
    from sqsim import cli, experiments

    path = tmp_path / "tiny.jsonl"
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(f'seed = 4\nseeds = 2\ntau = 0.1\nresults = "{path}"\nlearner = "parity-brute-force"\n'
                   f'd = [4, 5]\nstrategy = ["exact"]\n')
    assert cli.main(["sweep", str(cfg), "--no-progress", "--quiet"]) == 0
    before = _lines(path)
    _rewrite_line(path, 3, lambda r: r.pop("ledger_fingerprint"))
    capsys.readouterr()
    assert cli.main(["sweep", str(cfg), "--resume", "--no-progress", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "sqsim sweep: warning:" in err and "line 3" in err and "ledger_fingerprint" in err, err
    _same_cells(_lines(path), before)
    assert experiments.run(str(cfg), resume=True, progress=False).ran == 0


@pytest.mark.parametrize("field, value", [("queries", 3.5), ("queries", "twelve"), ("success", "yes"),
                                          ("d", 7)])
def test_resume_refuses_a_field_of_the_wrong_type(tmp_path, field, value):
    from sqsim import experiments

    path = tmp_path / "tiny.jsonl"
    experiments.run(_tiny(path), progress=False)
    _rewrite_line(path, 3, lambda r: r.__setitem__(field, value))
    text = path.read_text()
    with pytest.raises(InvalidParameterError) as info:
        experiments.run(_tiny(path), resume=True, progress=False)
    msg = str(info.value)
    assert msg.startswith("The 'results' parameter of sqsim.experiments.run must ")
    for needle in (repr(str(path)), "line 3", f"{field} = {value!r}"):
        assert needle in msg, (needle, msg)
    assert path.read_text() == text  # nothing touched


def test_cli_resume_names_the_line_of_a_non_integer_queries_field(tmp_path, capsys):
    from sqsim import cli, experiments

    path = tmp_path / "tiny.jsonl"
    experiments.run(_tiny(path), progress=False)
    _rewrite_line(path, 1, lambda r: r.__setitem__("queries", "twelve"))
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(f'seed = 4\nseeds = 2\ntau = 0.1\nresults = "{path}"\nlearner = "parity-brute-force"\n'
                   f'd = [4, 5]\nstrategy = ["exact"]\n')
    capsys.readouterr()
    assert cli.main(["sweep", str(cfg), "--resume", "--no-progress", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sqsim sweep: error: The 'results' parameter"), err
    assert "line 1" in err and "queries = 'twelve'" in err and "Traceback" not in err, err


# ---------------------------------------------------------------------- dead schedulers
def _dead_address():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"


def test_a_dead_scheduler_fails_fast_and_leaves_no_file(tmp_path, capsys):
    from sqsim import cli, experiments

    address = _dead_address()
    path = tmp_path / "sub" / "tiny.jsonl"
    t0 = time.perf_counter()
    with pytest.raises(InvalidParameterError) as info:
        experiments.run(_tiny(path), scheduler=address, progress=False)
    assert time.perf_counter() - t0 < 15
    msg = str(info.value)
    assert msg.startswith("The 'scheduler' parameter of sqsim.experiments.run must be the address of a running "
                          f"Dask scheduler. Got {address!r}, where none answered within 5 s"), msg
    assert not path.exists() and not path.parent.exists()

    cfg = tmp_path / "tiny.toml"
    out = tmp_path / "cli.jsonl"
    cfg.write_text(f'seed = 4\ntau = 0.1\nresults = "{out}"\nlearner = "parity-brute-force"\nd = [4]\n')
    capsys.readouterr()
    assert cli.main(["sweep", str(cfg), "--scheduler", address, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sqsim sweep: error: The 'scheduler' parameter") and address in err, err
    assert not out.exists()


# ---------------------------------------------------------------------- isolation = "process"
def test_isolation_is_validated_and_not_part_of_the_cell_identity(tmp_path):
    from sqsim.experiments import load_config

    with pytest.raises(InvalidParameterError, match=r"The 'isolation' parameter of the sweep config must be a str "
                                                    r"among \{'none', 'process'\}. Got 'thread' instead."):
        load_config(_tiny(tmp_path / "a.jsonl", isolation="thread"))
    plain = load_config(_tiny(tmp_path / "a.jsonl"))
    iso = load_config(_tiny(tmp_path / "a.jsonl", isolation="process"))
    assert plain.isolation == "none" and iso.isolation == "process"
    assert [c["isolation"] for c in plain.cells] == ["none"] * 4 and [c["isolation"] for c in iso.cells] == ["process"] * 4
    strip = [[{k: v for k, v in c.items() if k != "isolation"} for c in e.cells] for e in (plain, iso)]
    assert strip[0] == strip[1]  # same cell ids, same seeds


def test_run_cell_passes_the_isolation_to_learn(tmp_path):
    import learners
    from learners._base import _REGISTRY, register
    from sqsim import experiments
    from sqsim._learning import Learner

    calls = []

    @register("loose-ends-isolation-probe")
    class Probe(Learner):
        def __init__(self, *, seed=None):
            self.seed = seed

        def learn(self, oracle, **kw):
            calls.append(kw)
            return learners.make("parity-brute-force", seed=self.seed).learn(oracle)

    try:
        cfg = {**_tiny(tmp_path / "none.jsonl"), "learner": "loose-ends-isolation-probe"}
        plain = experiments.run(cfg, progress=False)
        assert calls == [{}] * 4  # "none": learn(oracle), exactly as before the keyword existed
        calls.clear()
        iso = experiments.run({**cfg, "isolation": "process", "results": str(tmp_path / "iso.jsonl")}, progress=False)
        assert calls == [{"isolation": "process"}] * 4
    finally:
        _REGISTRY.pop("loose-ends-isolation-probe", None)
    assert [r["isolation"] for r in iso.records] == ["process"] * 4
    drop = ("isolation", "timing")
    assert ([{k: v for k, v in r.items() if k not in drop} for r in plain.records]
            == [{k: v for k, v in r.items() if k not in drop} for r in iso.records])


def _start_spawn_child(_=None):
    """Inside a task: start a spawn child (what isolation="process" does) and report how it went."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    try:
        p = ctx.Process(target=time.sleep, args=(0,))
        p.start()
    except AssertionError as exc:  # "daemonic processes are not allowed to have children"
        return multiprocessing.current_process().daemon, str(exc)
    p.join(30)
    return multiprocessing.current_process().daemon, p.exitcode


def test_local_clusters_for_process_isolation_have_non_daemonic_workers():
    from dask.distributed import Client

    from sqsim.experiments._runner import _local_cluster

    with _local_cluster(2, "process") as cluster, Client(cluster) as client:
        out = client.gather(client.map(_start_spawn_child, range(2), pure=False))
    assert out == [(False, 0), (False, 0)]
    with _local_cluster(1, "none") as cluster, Client(cluster) as client:  # the default: daemonic, no children
        assert client.submit(_start_spawn_child, pure=False).result() == (
            True, "daemonic processes are not allowed to have children")


def test_process_isolation_refuses_a_cluster_of_daemonic_workers(tmp_path):
    from dask.distributed import LocalCluster

    from sqsim import experiments

    path = tmp_path / "tiny.jsonl"
    refused = pytest.raises(InvalidParameterError, match=r"The 'isolation' parameter of the sweep config must be "
                                                         r"'none' on a cluster whose workers are daemonic.*"
                                                         r"DASK_DISTRIBUTED__WORKER__DAEMON=False.*--no-nanny")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, refused:
        experiments.run(_tiny(path, isolation="process"), scheduler=cluster.scheduler_address, progress=False)
    assert not path.exists()


def test_a_sweep_under_process_isolation_on_two_dask_workers_equals_the_plain_sweep(tmp_path):
    """isolation = "process" end to end: real learners in spawned processes inside non-daemonic Dask workers."""
    from sqsim import experiments

    cfg = {**_tiny(tmp_path / "plain.jsonl"), "learner": ["parity-brute-force", {"name": "low-degree", "k": 2}]}
    plain = experiments.run(cfg, progress=False)
    iso = experiments.run({**cfg, "isolation": "process", "results": str(tmp_path / "iso.jsonl")}, workers=2,
                          progress=False)
    drop = ("isolation", "timing")

    def norm(records):
        out = {}
        for r in records:
            r = {k: v for k, v in r.items() if k not in drop}
            r["details"] = {k: v for k, v in r.get("details", {}).items() if k not in ("isolation", "seconds")}
            out[r["cell"]] = r
        return out

    assert plain.ran == iso.ran == 8
    assert all(r["error"] is None for r in iso.records) and sum(r["success"] for r in iso.records) >= 6
    assert norm(iso.records) == norm(plain.records)
    assert {r["isolation"] for r in iso.records} == {"process"}
