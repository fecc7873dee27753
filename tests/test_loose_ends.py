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
