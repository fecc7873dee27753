"""The approximate-gradient oracle (Shamir 2018, Definition 8): gradients within epsilon, every answer checked.

The truth comes from a source: closed forms (:mod:`sqsim.gradients`) or, for any JAX model
(:class:`sqsim.nn.JaxModel`), exact enumeration on cubes and clipped Monte Carlo on Gaussians
(:mod:`sqsim.nn._gradient`; docs/theory/gradients.md).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import math
import time
from dataclasses import dataclass
from typing import Callable as _Fn

import numpy as np
from scipy import stats

from .._domains import BooleanCube, Gaussian
from .._errors import InvalidParameterError, StrategyContractError
from .._export import export
from .._ledger import Ledger
from .._random import derived_rng, root_entropy
from .._strategies import AnswerStrategy, ExactStrategy, NoisyStrategy, NullAdversary
from .._validation import Callable, InstanceOf, Interval, NoneOk, Options, check_param, show
from ._evaluation import record
from ._seal import Sealed

__all__ = ["ApproxGradientOracle", "GradientContext", "GRADIENT_STRATEGIES", "INNER", "SmoothBallNoise", "ball_map",
           "ball_map_lipschitz", "NOISE_FEATURES", "NOISE_LENGTH"]


GRADIENT_STRATEGIES = ("exact", "noisy", "adversarial")
#: the built-in strategies answer within INNER * epsilon, clear of the check's float slack
INNER = 1.0 - 1e-9
#: the scalar strategy objects that name a built-in gradient strategy
_BUILTIN_OBJECTS = {ExactStrategy: "exact", NoisyStrategy: "noisy", NullAdversary: "adversarial"}


def _point_bytes(v: np.ndarray) -> bytes:
    """The query point's identity: -0.0 and 0.0 are one point (as in sqsim's SQ keys)."""
    return np.ascontiguousarray(v + 0.0).tobytes()


@export
@dataclass(frozen=True)
class GradientContext:
    """What a user gradient strategy (an object with ``answer(ctx) -> vector``) may use.

    Attributes
    ----------
    truth : ndarray
        The true population gradient (or its Monte Carlo estimate).
    null : callable
        ``null()``: the null gradient (labels independent of x; Sha18 Section 5.4's class average).
    radius : float
        The answer must lie within ``radius`` of ``truth``: epsilon minus the estimate's error bound.
    epsilon, truth_error : float
    rng : numpy Generator
        Fixed by (oracle seed, query point).
    """

    truth: np.ndarray
    null: _Fn
    radius: float
    epsilon: float
    truth_error: float
    rng: np.random.Generator


class _ClosedFormGradients:
    """Truth source of the closed-form models (exact; docs/theory/gradients.md, section closed-forms)."""

    def __init__(self, model, target):
        self.model, self.target = model, target

    def truth(self, v, rng):
        from ..nn._gradient import GradientTruth

        m = self.model
        with np.errstate(over="ignore", invalid="ignore"):
            loss, g, null = type(m)._parts(m, v, self.target)
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(null))):
            raise InvalidParameterError(f"The 'v' parameter of ApproxGradientOracle.gradient must keep the "
                                        f"population gradient finite. Got |v| = {np.linalg.norm(v):.3g} instead.")
        return GradientTruth(g, lambda: null, 0.0, 0.0, loss, {})


def _closed_form_copy(model):
    """The oracle's private copy of a closed-form model: rebuilt from its description (sqsim's own classes),
    else deep-copied."""
    from ..gradients import MODELS

    return type(model)._rebuilt(model) if type(model) in MODELS.values() else copy.deepcopy(model)


#: random Fourier frequencies of the smooth gradient noise (docs/theory/gradients.md, section smooth-gradient-noise)
NOISE_FEATURES = 64
#: the noise's length scale in parameter space: noise at v and v' has correlation about exp(-|v - v'|^2 / 2)
NOISE_LENGTH = 1.0


def ball_map(z: np.ndarray, radius: float) -> np.ndarray:
    """T(z) = radius rho(|z|) z / |z| with rho(s) = F(s^2)^(1/n), F the chi-square(n) distribution function:
    maps z ~ N(0, I_n) to the uniform law on the radius-ball (docs/theory/gradients.md, section smooth-gradient-noise)."""
    s = float(np.linalg.norm(z))
    if s == 0.0:
        return np.zeros_like(z)
    rho = math.exp(float(stats.chi2.logcdf(s * s, z.shape[0])) / z.shape[0])
    return z * (radius * rho / s)


@functools.lru_cache(maxsize=64)
def ball_map_lipschitz(n: int) -> float:
    """sup_s max(rho'(s), rho(s) / s): the Lipschitz constant of :func:`ball_map` with radius 1 (a radial map's
    Jacobian has eigenvalues rho' and rho / s), on a fine grid of s plus the limit at s -> 0,
    (2^(n/2) Gamma(n/2 + 1))^(-1/n) (docs/theory/gradients.md, section smooth-gradient-noise)."""
    at_zero = math.exp(-(0.5 * n * math.log(2.0) + math.lgamma(0.5 * n + 1.0)) / n)
    s = np.linspace(1e-4, math.sqrt(n) + 12.0, 200_001)
    with np.errstate(all="ignore"):
        logF = stats.chi2.logcdf(s * s, n)
        rho = np.exp(logF / n)
        drho = rho * 2.0 * s * np.exp(stats.chi2.logpdf(s * s, n) - logF) / n
    ok = np.isfinite(logF) & np.isfinite(drho)
    return float(max(at_zero, drho[ok].max(), (rho[ok] / s[ok]).max()))


class SmoothBallNoise:
    """The "noisy" gradient strategy's noise u(v) = T(G phi(v)), a smooth random function of v.

    phi(v) = (cos(Omega v / l), sin(Omega v / l)) / sqrt(m) is a unit vector of R^(2m) (m = NOISE_FEATURES
    random Fourier features, Omega m x n standard Gaussian, l = NOISE_LENGTH); G (n x 2m standard Gaussian)
    makes z = G phi(v) ~ N(0, I_n) for every v, and :func:`ball_map` makes u(v) uniform in the ball. Both
    matrices are fixed by the oracle's seed: |u(v) - u(v')| <= :meth:`lipschitz` (radius) |v - v'|
    (docs/theory/gradients.md, section smooth-gradient-noise).
    """

    def __init__(self, rng: np.random.Generator, n: int):
        self._omega = rng.standard_normal((NOISE_FEATURES, n))
        self._G = rng.standard_normal((n, 2 * NOISE_FEATURES))

    def features(self, v: np.ndarray) -> np.ndarray:
        theta = self._omega @ v / NOISE_LENGTH
        return np.concatenate([np.cos(theta), np.sin(theta)]) / math.sqrt(NOISE_FEATURES)

    def __call__(self, v: np.ndarray, radius: float) -> np.ndarray:
        return ball_map(self._G @ self.features(v), radius)

    def lipschitz(self, radius: float) -> float:
        """radius L_T(n) |G| |Omega| / (sqrt(m) l), operator norms: a Lipschitz constant of v -> u(v)."""
        return (radius * ball_map_lipschitz(self._G.shape[0]) * float(np.linalg.norm(self._G, 2))
                * float(np.linalg.norm(self._omega, 2)) / (math.sqrt(NOISE_FEATURES) * NOISE_LENGTH))


def _strategy(answers, c):
    """(the strategy: a built-in name, a callable or an object with answer(ctx), its recorded name)."""
    kind = _BUILTIN_OBJECTS.get(type(answers))
    if kind is not None and "answer" not in vars(answers):
        return kind, kind
    if not isinstance(answers, str) and callable(getattr(answers, "answer", None)):
        return answers, getattr(answers, "name", type(answers).__name__)
    check_param("answers", answers, [Options(GRADIENT_STRATEGIES), Callable], c)
    return answers, answers if isinstance(answers, str) else getattr(answers, "__name__", "custom")


@export
class ApproxGradientOracle(Sealed):
    """Answers gradient queries within epsilon of grad F(v) (Sha18 Definition 8; docs/theory/gradients.md).

    Parameters
    ----------
    domain : Gaussian, or BooleanCube (d <= 20) for a JaxModel
    target : callable
        For a closed-form model, a target with a closed-form gradient (see the model classes); for a
        :class:`sqsim.nn.JaxModel`, any target on batches.
    model : OneHiddenReLU, CosineModel, LinearModel or sqsim.nn.JaxModel
    epsilon : float in (0, inf)
        The answer lies within epsilon of the true gradient in Euclidean norm (checked).
    answers : {"exact", "noisy", "adversarial"}, callable or strategy object, default "exact"
        "noisy": the true gradient plus noise uniform in the epsilon-ball, a fixed *smooth*
        (Lipschitz) random function of v (deterministic in (seed, v)): re-asking at v or at
        slightly perturbed points returns (nearly) the same noise, so averaging perturbed re-asks
        does not beat epsilon; the noise decorrelates over parameter distances of order
        NOISE_LENGTH = 1 (docs/theory/gradients.md, section smooth-gradient-noise). It is still a
        benign oracle; lower bounds use "adversarial". "adversarial": the null gradient
        2 E[(f_v(x) - y') grad f_v(x)] with y' independent of x (the class-average answer of
        Sha18 Section 5.4) projected into the epsilon-ball. A callable
        ``answers(true_gradient, null_gradient, radius, rng) -> vector`` or an object with
        ``answer(ctx: GradientContext) -> vector`` is a user strategy; the oracle checks its answer.
        ``ExactStrategy()``, ``NoisyStrategy()`` and ``NullAdversary()`` name the built-ins.
    seed : int, numpy Generator or None
    budget : int, optional
        Maximum number of gradient queries.
    loss : {"square", "hinge", "logistic"}, default "square"
        Per-example loss of a JaxModel: (f - y)^2 (Shamir's F), or sqsim.nn's hinge and logistic
        losses (labels +-1). Closed-form models take "square" only.
    clip : float, optional
        Per-example gradients are clipped to Euclidean norm ``clip`` before averaging; required for a
        JaxModel on a Gaussian (docs/theory/gradients.md, section deep-model-bound).
    delta : float, default 1e-6
        Failure probability of each Monte Carlo truth (recorded).
    truth_samples : int, optional
        Monte Carlo points per query; by default the fewest whose error bound is epsilon / 4.

    Attributes
    ----------
    model : the model passed in
        What learners see (``handle.model``). Truths come from a private float64 copy built here from
        the model's description, so nothing done to ``model`` afterwards changes them.
    ledger : Ledger
        One record per gradient (kind "gradient"), with the answer's distance to the true gradient
        and ``extra["sq_equivalent"]`` = the number of parameters (one correlational query each);
        autodiff sources add the clip level, the sq_scale that keeps each coordinate's query in
        [-1, 1], the clipped mass and the Monte Carlo sample size.
    """

    oracle_kind = "gradient"

    def __init__(self, domain, target, model, epsilon, answers="exact", seed=None, budget=None, *,
                 loss="square", clip=None, delta=1e-6, truth_samples=None):
        from ..gradients import _Model, _unsupported

        c = "ApproxGradientOracle"
        check_param("epsilon", epsilon, Interval(float, 0, None, closed="neither"), c)
        check_param("budget", budget, [Interval(int, 0, None), NoneOk], c)
        self._answers, self.strategy = _strategy(answers, c)
        if isinstance(model, _Model):
            check_param("domain", domain, InstanceOf(Gaussian, "a Gaussian domain"), c)
            if model.d != domain.d:
                raise InvalidParameterError(f"The 'model' parameter of {c} must act on d={domain.d}. Got {model!r} "
                                            f"instead.")
            if loss != "square" or clip is not None or truth_samples is not None:
                raise InvalidParameterError(f"The 'loss' parameter of {c} must be 'square' without clip or "
                                            f"truth_samples for the closed-form {model!r}. Got loss={loss!r}, "
                                            f"clip={clip!r}, truth_samples={truth_samples!r} instead.")
            truth_model = _closed_form_copy(model)
            if not type(truth_model).supports(truth_model, target):
                raise _unsupported(model, target)
            self._source = _ClosedFormGradients(truth_model, target)
        else:
            from ..nn._gradient import gradient_source, is_jax_model

            if not is_jax_model(model):
                raise InvalidParameterError(f"The 'model' parameter of {c} must be a gradient model (OneHiddenReLU, "
                                            f"CosineModel, LinearModel or sqsim.nn.JaxModel). Got {show(model)} "
                                            f"instead.")
            check_param("domain", domain, InstanceOf((Gaussian, BooleanCube), "a Gaussian domain or a BooleanCube"), c)
            truth_model = type(model)._truth_copy(model)  # float64 whatever model.dtype (docs/theory/gradients.md)
            self._source = gradient_source(domain, truth_model, target, epsilon=float(epsilon), loss=loss, clip=clip,
                                           delta=delta, truth_samples=truth_samples, caller=c)
        self.domain, self.model, self.epsilon, self.loss = domain, model, float(epsilon), loss
        self._model = truth_model
        self._target = target
        self._entropy = root_entropy(seed, c)
        self._noise = (SmoothBallNoise(derived_rng(self._entropy, "gradient-noise"), truth_model.n_params)
                       if self._answers == "noisy" else None)
        self.ledger = Ledger(budget)
        self._grader = _GradientGrader(self)
        self._seal()

    @property
    def tolerance(self) -> float:
        return self.epsilon

    def _digest(self, v: np.ndarray) -> int:
        return int.from_bytes(hashlib.blake2b(_point_bytes(v), digest_size=8).digest(), "little")

    def _rng_for(self, v: np.ndarray) -> np.random.Generator:
        return derived_rng(self._entropy, "gradient", self._digest(v))

    def _truth(self, v):
        return self._source.truth(v, derived_rng(self._entropy, "truth", self._digest(v)))

    def _answer(self, v):
        """(truth, answer, distance, radius) at a checked v; raises if the truth is not finite or the answer
        is outside the band (both can depend on the labels: :meth:`gradient` counts such refusals)."""
        truth = self._truth(v)
        g = truth.gradient
        if not np.all(np.isfinite(g)):
            raise InvalidParameterError(f"The 'v' parameter of ApproxGradientOracle.gradient must keep the "
                                        f"population gradient finite. Got |v| = {np.linalg.norm(v):.3g} instead "
                                        f"(this refusal is counted and ends a learner's run).")
        eps = self.epsilon
        radius = eps - truth.truth_error  # the estimate's error is subtracted from the ball (DESIGN section 4)
        if self._answers == "exact":
            a = g.copy()
        elif self._answers == "noisy":
            a = g + self._noise(v, INNER * radius)
        elif self._answers == "adversarial":
            null = truth.null()
            diff = null - g
            n = float(np.linalg.norm(diff))
            a = null.copy() if n <= INNER * radius else g + diff * (INNER * radius / n)
        elif callable(getattr(self._answers, "answer", None)):
            ctx = GradientContext(g.copy(), lambda: np.array(truth.null(), dtype=np.float64), radius, eps,
                                  truth.truth_error, self._rng_for(v))
            a = np.asarray(self._answers.answer(ctx), dtype=np.float64).reshape(-1)
        else:
            a = np.asarray(self._answers(g.copy(), np.array(truth.null(), dtype=np.float64), radius, self._rng_for(v)),
                           dtype=np.float64).reshape(-1)
        # the oracle checks every answer, its own strategies' too; the slack covers the rounding of
        # a - g (a few ulps of |g|), which the built-in strategies stay clear of by aiming at INNER radius
        dist = float(np.linalg.norm(a - g)) if a.shape == g.shape and np.all(np.isfinite(a)) else math.inf
        if not dist <= radius + 8 * np.finfo(float).eps * (float(np.linalg.norm(g)) + eps):
            raise StrategyContractError(f"gradient strategy {self.strategy!r} answered {dist:.6g} away from the "
                                        f"population gradient at v; the promise is epsilon = {eps}"
                                        + (f" (radius {radius:.6g} after the truth's error bound {truth.truth_error:.3g})"
                                           if truth.truth_error else "") + ".")
        return truth, a, dist, radius

    def gradient(self, v) -> np.ndarray:
        """An epsilon-approximate population gradient at ``v`` (one counted query of kind "gradient").

        A malformed ``v`` (shape, non-finite entries) or an exhausted budget is refused before the target
        is looked at, uncounted. A query refused after the truth is computed (a non-finite population
        gradient, an answer outside the band) may owe its refusal to the labels: it is recorded and counted
        (``extra["refused"]``), and a learner's handle closes (docs/theory/gradients.md, section
        approximate-gradient-oracle).
        """
        m = self._model
        v = type(m).check_params(m, v, "ApproxGradientOracle.gradient")
        self.ledger.check_budget(1, "gradient query")
        t0 = time.perf_counter()
        key = hashlib.blake2b(_point_bytes(v), digest_size=8).hexdigest()
        try:
            truth, a, dist, radius = self._answer(v)
        except Exception as exc:
            self.ledger.append(**record(name="gradient", kind="gradient", tolerance=self.epsilon, answer=math.nan,
                                        truth=None, strategy=self.strategy, key=key,
                                        extra={"sq_equivalent": m.n_params, "refused": type(exc).__name__}),
                               seconds=time.perf_counter() - t0)
            raise
        g = truth.gradient
        extra = {"sq_equivalent": m.n_params, "distance": dist,
                 "answer_digest": hashlib.blake2b(a.tobytes(), digest_size=8).hexdigest()}
        if truth.extra:
            extra.update(truth.extra, sq_tolerance=radius / truth.extra["sq_scale"] if truth.extra["sq_scale"] else
                         math.inf)
        self.ledger.append(**record(name="gradient", kind="gradient", tolerance=self.epsilon,
                                    answer=float(np.linalg.norm(a)), truth=float(np.linalg.norm(g)),
                                    truth_error=truth.truth_error, failure_probability=truth.failure_probability,
                                    strategy=self.strategy, key=key, extra=extra),
                           seconds=time.perf_counter() - t0)
        return a

    @property
    def sq_equivalent(self) -> int:
        """Correlational queries equivalent to the gradients asked (one per parameter per gradient;
        docs/theory/gradients.md, section approximate-gradient-oracle)."""
        return sum(r.extra.get("sq_equivalent", 0) for r in self.ledger)

    def population_loss(self, v) -> float:
        """F(v) of the oracle's source (exact, or the Monte Carlo estimate at v): grading, not a query."""
        m = self._model
        return float(self._truth(type(m).check_params(m, v, "ApproxGradientOracle.population_loss")).loss)

    def __repr__(self):
        return (f"ApproxGradientOracle({self.domain!r}, {self.model!r}, epsilon={self.epsilon}, "
                f"answers={self.strategy!r}, queries={len(self.ledger)})")


class _GradientGrader:
    """The real-valued grading rule, plus the population loss of a model hypothesis (grading, not a query)."""

    def __init__(self, oracle):
        self._oracle = oracle
        self._inner = None

    def target(self, avoid=None):
        return self._oracle._target

    def grade(self, hypothesis) -> dict:
        from ..gradients import ModelHypothesis, population_loss
        from ._grading import target_grader
        from ._target import HiddenTarget

        o = self._oracle
        if self._inner is None:
            self._inner = target_grader(o.domain, HiddenTarget(o._target, "ApproxGradientOracle"), o._entropy)
        rep = self._inner.grade(hypothesis)
        if isinstance(hypothesis, ModelHypothesis) and hypothesis.model is o.model:
            rep["population_loss"] = (population_loss(o._model, hypothesis.v, o._target)
                                      if isinstance(o._source, _ClosedFormGradients) else o.population_loss(hypothesis.v))
        return rep
