"""The autodiff gradient oracle (sqsim.nn.JaxModel in ApproxGradientOracle) and the sq-gd learner."""

import math
import sys

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("optax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import learners  # noqa: E402
import learners.sqgd  # noqa: E402, F401  (registers sq-gd until learners/__init__ imports it)
from sqsim import (ApproxGradientOracle, BooleanCube, CosineModel, ExactStrategy, Gaussian,  # noqa: E402
                   InvalidParameterError, LinearModel, NoisyStrategy, NullAdversary, OneHiddenReLU, SealError,
                   StrategyContractError)
from sqsim.concepts import Parity, PeriodicNeuron, PeriodicNeurons, ReLUNetwork  # noqa: E402
from sqsim.gradients import population_gradient, population_loss  # noqa: E402
from sqsim.nn import MLP, MissingExtraError  # noqa: E402
from sqsim.nn._gradient import JaxModel, mc_gradient_error, mc_gradient_samples  # noqa: E402


def relu_target(d, seed, k=2):
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((d, k))
    return ReLUNetwork([U, rng.standard_normal((k, 1))], [np.zeros(k), np.zeros(1)])


def planted_neuron(d, seed):
    w = np.random.default_rng(seed).standard_normal(d)
    w /= np.linalg.norm(w)
    return ReLUNetwork([w[:, None], np.ones((1, 1))], [np.zeros(1), np.zeros(1)])


def cube_relu_gradient(m, v, X, y):
    """The squared-loss gradient of OneHiddenReLU averaged over the rows of X, written out in numpy."""
    a, W = m.split(v)
    pre = X @ W.T
    r = 2 * (np.maximum(pre, 0) @ a - y)
    ga = (r[:, None] * np.maximum(pre, 0)).mean(0)
    gW = np.stack([a[i] * ((r * (pre[:, i] > 0))[:, None] * X).mean(0) for i in range(m.width)])
    return np.concatenate([ga, gW.ravel()])


def test_autodiff_equals_the_closed_forms_in_float64():
    """jax.grad of each closed-form loss equals its hand-derived gradient, and the autodiff model's per-example
    gradients under Gauss-Hermite quadrature (d = 2) or cube enumeration equal the closed forms (1e-10 rel)."""
    rng = np.random.default_rng(0)
    d = 4
    cos_t = PeriodicNeuron(rng.standard_normal(d) * 0.2)
    with jax.enable_x64(True):
        for model, target, scale in ((OneHiddenReLU(d, 3), relu_target(d, 1), 1.0), (CosineModel(d), cos_t, 0.3),
                                     (LinearModel(d), relu_target(d, 2), 1.0), (LinearModel(d), cos_t, 1.0)):
            grad = jax.jit(jax.grad(lambda u: model.loss_formula(u, target, jnp)))  # one compilation per pair
            for _ in range(3):
                v = model.init(rng) * scale
                auto = np.asarray(grad(jnp.asarray(v)))
                closed = population_gradient(model, v, target)
                assert np.linalg.norm(auto - closed) <= 1e-10 * np.linalg.norm(closed)
                assert float(model.loss_formula(v, target)) == pytest.approx(population_loss(model, v, target),
                                                                              rel=1e-12, abs=1e-14)
    # per-example autodiff of the models themselves, integrated exactly enough: 80 x 80 Gauss-Hermite nodes
    x, w = np.polynomial.hermite_e.hermegauss(80)
    X = np.array(np.meshgrid(x, x)).reshape(2, -1).T
    W = np.outer(w, w).ravel() / w.sum() ** 2
    t2 = PeriodicNeuron(rng.standard_normal(2) * 0.2)
    for model in (CosineModel(2), LinearModel(2)):
        v = rng.standard_normal(2) * 0.25
        s = JaxModel(model).expectation(v, X, t2(X), W)
        g = population_gradient(model, v, t2)
        assert np.linalg.norm(s["raw"] - g) <= 1e-10 * np.linalg.norm(g)
        assert s["loss"] == pytest.approx(population_loss(model, v, t2), rel=1e-10)
    # the ReLU model on a cube (its kinks rule out quadrature): against the gradient written out in numpy
    m, cube = OneHiddenReLU(6, 3), BooleanCube(6)
    Xc = cube.enumerate().astype(float)
    f = relu_target(6, 3)
    o = ApproxGradientOracle(cube, f, JaxModel(m), 1e-3, seed=0)
    for _ in range(3):
        v = m.init(rng)
        ref = cube_relu_gradient(m, v, Xc, f(Xc))
        assert np.linalg.norm(o.gradient(v) - ref) <= 1e-10 * np.linalg.norm(ref)
    assert not jax.config.jax_enable_x64  # scoped: nothing leaked


class Halfway:
    """A user strategy object: half-way to the null gradient, inside the ball."""

    name = "halfway"

    def answer(self, ctx):
        null = ctx.null()
        diff = null - ctx.truth
        n = np.linalg.norm(diff)
        return ctx.truth + (diff * min(1.0, 0.5 * ctx.radius / n) if n > 0 else 0.0)


STRATEGIES = ["exact", "noisy", "adversarial", ExactStrategy(), NoisyStrategy(), NullAdversary(), Halfway(),
              lambda g, null, radius, rng: g + radius * 0.9 * rng.standard_normal(g.shape[0]) / math.sqrt(g.shape[0] * 4)]


@pytest.mark.parametrize("answers", STRATEGIES, ids=lambda a: a if isinstance(a, str) else type(a).__name__)
def test_every_strategy_answers_within_epsilon_of_the_population_gradient(answers):
    # exact truth: the cube, the ReLU model checked against its numpy gradient
    d, eps = 5, 0.05
    m, cube = OneHiddenReLU(d, 2), BooleanCube(d)
    f = relu_target(d, 4)
    X = cube.enumerate().astype(float)
    o = ApproxGradientOracle(cube, f, JaxModel(m), eps, answers=answers, seed=2)
    rng = np.random.default_rng(1)
    for _ in range(4):
        v = m.init(rng)
        a = o.gradient(v)
        assert np.linalg.norm(a - cube_relu_gradient(m, v, X, f(X))) <= eps * (1 + 1e-9)
        assert np.array_equal(a, o.gradient(v))  # a fixed vector per query point
    assert all(r.extra["sq_scale"] > 0 and r.extra["source"] == "enumerated" for r in o.ledger)
    # Monte Carlo truth on a Gaussian: the linear model against a cos neuron, whose closed form is the reference;
    # the clip (40) leaves a clipped mass below 1e-6 here, so the clipped gradient is the true one to 1e-4
    d, eps, clip = 3, 4.0, 40.0
    t = PeriodicNeuron([0.1, -0.2, 0.15])
    og = ApproxGradientOracle(Gaussian(d), t, JaxModel(LinearModel(d)), eps, answers=answers, seed=3, clip=clip)
    for _ in range(2):
        v = rng.standard_normal(d) * 0.3
        a = og.gradient(v)
        rec = og.ledger.records[-1]
        assert np.linalg.norm(a - population_gradient(LinearModel(d), v, t)) <= eps
        assert rec.truth_error == pytest.approx(mc_gradient_error(rec.extra["truth_samples"], clip, 1e-6))
        assert rec.truth_error <= eps / 4 and rec.failure_probability == 1e-6 and rec.extra["clip"] == clip
        assert rec.extra["distance"] <= eps - rec.truth_error + 1e-12


def test_the_oracle_rejects_strategies_that_break_the_band():
    d = 4
    o_args = (BooleanCube(d), Parity(d, [0, 1]), JaxModel(MLP(d, (4,))), 0.1)
    v = JaxModel(MLP(d, (4,))).init(np.random.default_rng(0))

    class Outside:
        def answer(self, ctx):
            return ctx.truth + 2 * ctx.radius / math.sqrt(ctx.truth.shape[0])

    for bad in (Outside(), lambda g, null, r, rng: g + r, lambda g, null, r, rng: g[:-1],
                lambda g, null, r, rng: g * np.nan):
        o = ApproxGradientOracle(*o_args, answers=bad, seed=0)
        with pytest.raises(StrategyContractError, match="epsilon = 0.1"):
            o.gradient(v)
        # refused after the truth was computed: recorded and counted (docs/theory/gradients.md, section
        # approximate-gradient-oracle), with no answer
        assert o.ledger.total == 1 and o.ledger.records[0].extra["refused"] == "StrategyContractError"
        assert math.isnan(o.ledger.records[0].answer)
    # bad configurations say which parameter and value
    with pytest.raises(InvalidParameterError, match="The 'clip' parameter of ApproxGradientOracle must be given"):
        ApproxGradientOracle(Gaussian(d), lambda Z: Z[:, 0], JaxModel(MLP(d, (4,))), 0.1)
    with pytest.raises(InvalidParameterError, match="The 'truth_samples' parameter .* Got 10 instead"):
        ApproxGradientOracle(Gaussian(d), lambda Z: Z[:, 0], JaxModel(MLP(d, (4,))), 0.1, clip=1.0, truth_samples=10)
    with pytest.raises(InvalidParameterError, match="The 'domain' parameter .* at most 20"):
        ApproxGradientOracle(BooleanCube(21), Parity(21, [0]), JaxModel(MLP(21, (2,))), 0.1)
    with pytest.raises(InvalidParameterError, match="The 'loss' parameter of ApproxGradientOracle must be 'square'"):
        ApproxGradientOracle(Gaussian(d), planted_neuron(d, 0), LinearModel(d), 0.1, clip=1.0)
    with pytest.raises(InvalidParameterError, match="The 'model' parameter of ApproxGradientOracle must act on d=4"):
        ApproxGradientOracle(BooleanCube(d), Parity(d, [0]), JaxModel(MLP(5, (2,))), 0.1)
    with pytest.raises(InvalidParameterError, match="The 'model' parameter of JaxModel"):
        JaxModel(object())


def test_monte_carlo_bound_holds_on_worst_case_vectors():
    """P[|mean - mu| > e(n, delta)] <= delta for vectors of norm <= C (two-point and spherical laws), and
    mc_gradient_samples inverts mc_gradient_error."""
    rng = np.random.default_rng(5)
    C, n, delta, reps = 3.0, 50, 0.2, 2000
    e = mc_gradient_error(n, C, delta)
    # +-C e_1 (the one-dimensional worst case) and uniform on the sphere of radius C in R^10
    signs = rng.choice([-1.0, 1.0], size=(reps, n)) * C
    assert np.mean(np.abs(signs.mean(1)) > e) <= delta
    S = rng.standard_normal((reps, n, 10))
    S *= C / np.linalg.norm(S, axis=2, keepdims=True)
    dev = np.linalg.norm(S.mean(1), axis=1)
    assert np.mean(dev > e) <= delta and np.quantile(dev, 0.5) > e / 10  # not vacuous by orders of magnitude
    for err in (0.5, 0.01, 3.0):
        k = mc_gradient_samples(err, C, 1e-6)
        assert mc_gradient_error(k, C, 1e-6) <= err < mc_gradient_error(max(1, k - 1), C, 1e-6) or k == 1


def test_sq_gd_reproduces_noisy_gd():
    """The same iterates, float for float, on noisy-gd's tests: equal parameters and equal ledger fingerprints."""
    d = 20
    t = planted_neuron(d, 7)
    for answers in ("exact", "noisy"):
        out = []
        for name, kw in (("noisy-gd", {"width": 4}), ("sq-gd", {})):
            o = ApproxGradientOracle(Gaussian(d), t, OneHiddenReLU(d, 4), 0.01, answers=answers, seed=1)
            r = learners.make(name, steps=400, seed=3, **kw).learn(o)
            out.append((r, o.ledger.fingerprint()))
        (a, fa), (b, fb) = out
        assert b.details["grade"]["population_loss"] <= 0.01 and b.success and b.queries == 400
        assert fa == fb and np.array_equal(a.hypothesis.v, b.hypothesis.v)
    t = PeriodicNeurons(d, 1.0).sample(0)
    for answers in ("exact", "adversarial"):
        out = []
        for name, kw in (("noisy-gd", {"model": "cosine"}), ("sq-gd", {})):
            o = ApproxGradientOracle(Gaussian(d), t, CosineModel(d), 0.01, answers=answers, seed=0)
            r = learners.make(name, steps=100, lr=0.01, seed=0, **kw).learn(o)
            out.append((r.details["grade"]["population_loss"], o.ledger.fingerprint(), r.hypothesis.v))
        assert out[0][0] == out[1][0] > 0.99 and out[0][1] == out[1][1] and np.array_equal(out[0][2], out[1][2])
    o = ApproxGradientOracle(Gaussian(5), planted_neuron(5, 0), OneHiddenReLU(5, 4), 0.01, seed=0)
    r = learners.make("sq-gd", lr=5.0, steps=2000, seed=0).learn(o)
    assert r.details["diverged"] and not r.success and r.queries < 2000


def test_sq_gd_on_a_network_is_reproducible_and_sealed():
    d = 6
    f = Parity(d, [0, 1])

    def run(seed, oracle_seed=0, answers="noisy"):
        o = ApproxGradientOracle(BooleanCube(d), f, JaxModel(MLP(d, (16,)), inputs="pm1"), 0.05, answers=answers,
                                 seed=oracle_seed)
        r = learners.make("sq-gd", steps=30, lr=0.05, optimizer="adam", seed=seed).learn(o)
        return r, o.ledger.fingerprint()

    (r1, f1), (r2, f2), (_, f3) = run(0), run(0), run(1)
    assert f1 == f2 != f3 and np.array_equal(r1.hypothesis.v, r2.hypothesis.v)
    assert r1.queries == 30 and r1.details["sq_equivalent"] == 30 * r1.details["n_params"]
    assert r1.details["grade"]["population_loss"] < population_loss_at_init(d, f)

    class Peeks(learners.sqgd.SQGD):
        def _learn(self, oracle):
            for name in ("_target", "_source", "_grader", "ledger_records"):
                with pytest.raises(SealError):
                    getattr(oracle, name)
            # the public model holds no path to the target
            assert not any(x is f for x in vars(oracle.model).values())
            return super()._learn(oracle)

    o = ApproxGradientOracle(BooleanCube(d), f, JaxModel(MLP(d, (4,))), 0.1, seed=0)
    r = Peeks(steps=3, seed=0).learn(o)
    assert r.queries == 3 == len(o.ledger)


def population_loss_at_init(d, f):
    """E[(f_v0 - y)^2] of sq-gd's starting network (seed 0), by enumeration."""
    jm = JaxModel(MLP(d, (16,)), inputs="pm1")
    v0 = jm.init(np.random.default_rng(0))
    X = BooleanCube(d).enumerate().astype(float)
    return float(np.mean((jm(v0, X) - f(X)) ** 2))


def test_a_clear_error_without_the_nn_extra(monkeypatch):
    o = ApproxGradientOracle(Gaussian(3), planted_neuron(3, 0), LinearModel(3), 0.1, seed=0)
    learner = learners.make("sq-gd", steps=2)  # making it needs no JAX
    monkeypatch.setitem(sys.modules, "jax", None)
    monkeypatch.setitem(sys.modules, "optax", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'sqsim\[nn\]'"):
        learner.learn(o)
    with pytest.raises(MissingExtraError, match=r"sqsim\[nn\]"):
        JaxModel(LinearModel(3))
    assert len(o.ledger) == 0


def test_smooth_gradient_noise_is_uniform_in_the_ball_and_lipschitz():
    """docs/theory/gradients.md, section smooth-gradient-noise: u(v) is uniform in the r-ball for each v (over
    seeds: (|u| / r)^P ~ U(0, 1), mean direction ~ 0) and |u(v) - u(v')| <= lipschitz(r) |v - v'|."""
    from scipy import stats

    from sqsim._random import derived_rng
    from sqsim.oracles._gradient import SmoothBallNoise, ball_map, ball_map_lipschitz

    P, r = 5, 0.3
    v = np.linspace(-1.0, 1.0, P)
    U = np.array([SmoothBallNoise(derived_rng(s, "t"), P)(v, r) for s in range(2000)])
    radii = np.linalg.norm(U, axis=1)
    assert radii.max() <= r
    assert stats.kstest((radii / r) ** P, "uniform").pvalue > 1e-3
    assert np.linalg.norm(U.mean(axis=0)) < 4 * r / np.sqrt(2000)
    # the radial map's Lipschitz constant (limit at 0, below sqrt(e / P)) bounds random pairs
    rng = np.random.default_rng(0)
    for n in (1, 3, 40):
        L = ball_map_lipschitz(n)
        assert L <= math.sqrt(math.e / n)
        z, w = rng.standard_normal((2, 500, n)) * rng.choice([0.01, 1.0, 10.0], size=(2, 500, 1))
        ratio = max(np.linalg.norm(ball_map(a, 1.0) - ball_map(b, 1.0)) / np.linalg.norm(a - b) for a, b in zip(z, w))
        assert ratio <= L * (1 + 1e-6)
    noise = SmoothBallNoise(derived_rng(7, "t"), P)
    Lv = noise.lipschitz(r)
    for scale in (1e-9, 1e-3, 1.0):
        a, b = v + scale * rng.standard_normal((2, 200, P))
        worst = max(np.linalg.norm(noise(x, r) - noise(y, r)) / np.linalg.norm(x - y) for x, y in zip(a, b))
        assert worst <= Lv
