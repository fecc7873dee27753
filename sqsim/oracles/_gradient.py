"""The approximate-gradient oracle (Shamir 2018, Definition 8; MATH.md B5, B6): gradients within epsilon.

The models and their closed-form population gradients live in :mod:`sqsim.gradients`.
"""

from __future__ import annotations

import hashlib
import math
import time

import numpy as np

from .._domains import Gaussian
from .._errors import InvalidParameterError, StrategyContractError
from .._export import export
from .._ledger import Ledger
from .._random import derived_rng, root_entropy
from .._validation import Callable, InstanceOf, Interval, NoneOk, Options, check_param
from ._evaluation import record
from ._seal import Sealed

__all__ = ["ApproxGradientOracle", "GRADIENT_STRATEGIES", "INNER"]


GRADIENT_STRATEGIES = ("exact", "noisy", "adversarial")
#: the built-in strategies answer within INNER * epsilon, clear of the check's float slack
INNER = 1.0 - 1e-9


def _point_bytes(v: np.ndarray) -> bytes:
    """The query point's identity: -0.0 and 0.0 are one point (as in sqsim's SQ keys)."""
    return np.ascontiguousarray(v + 0.0).tobytes()


@export
class ApproxGradientOracle(Sealed):
    """Answers gradient queries within epsilon of grad F(v) (Sha18 Definition 8; MATH.md B5, B6).

    Parameters
    ----------
    domain : Gaussian
    target : callable
        A target with a closed-form gradient for ``model`` (see the model classes).
    model : OneHiddenReLU, CosineModel or LinearModel
    epsilon : float in (0, inf)
        The answer lies within epsilon of the true gradient in Euclidean norm (checked).
    answers : {"exact", "noisy", "adversarial"} or callable, default "exact"
        "noisy": uniform in the epsilon-ball, a fixed vector per query point v (deterministic in
        (seed, v), so repeating a query reveals nothing new). It is a benign oracle: distinct
        points, however close, get independent noise, so a learner can average noise away over
        nearby points; lower bounds use "adversarial". "adversarial": the null gradient
        2 E[(f_v(x) - y') grad f_v(x)] with y' independent of x (the class-average answer of
        Sha18 Section 5.4) projected into the epsilon-ball. A callable
        ``answers(true_gradient, null_gradient, epsilon, rng) -> vector`` is a user strategy; the
        oracle checks its answer.
    seed : int, numpy Generator or None
    budget : int, optional
        Maximum number of gradient queries.

    Attributes
    ----------
    ledger : Ledger
        One record per gradient (kind "gradient"), with the answer's distance to the true gradient
        and ``extra["sq_equivalent"]`` = the number of parameters (one correlational query each).
    """

    oracle_kind = "gradient"

    def __init__(self, domain, target, model, epsilon, answers="exact", seed=None, budget=None):
        from ..gradients import _Model, _unsupported

        c = "ApproxGradientOracle"
        check_param("domain", domain, InstanceOf(Gaussian, "a Gaussian domain"), c)
        check_param("model", model, InstanceOf(_Model, "a gradient model (OneHiddenReLU, CosineModel or "
                                                       "LinearModel)"), c)
        check_param("epsilon", epsilon, Interval(float, 0, None, closed="neither"), c)
        check_param("answers", answers, [Options(GRADIENT_STRATEGIES), Callable], c)
        check_param("budget", budget, [Interval(int, 0, None), NoneOk], c)
        if model.d != domain.d:
            raise InvalidParameterError(f"The 'model' parameter of {c} must act on d={domain.d}. Got {model!r} instead.")
        if not model.supports(target):
            raise _unsupported(model, target)
        self.domain, self.model, self.epsilon = domain, model, float(epsilon)
        self._target = target
        self.strategy = answers if isinstance(answers, str) else getattr(answers, "__name__", "custom")
        self._answers = answers
        self._entropy = root_entropy(seed, c)
        self.ledger = Ledger(budget)
        self._grader = _GradientGrader(self)
        self._seal()

    @property
    def tolerance(self) -> float:
        return self.epsilon

    def _rng_for(self, v: np.ndarray) -> np.random.Generator:
        digest = hashlib.blake2b(_point_bytes(v), digest_size=8).digest()
        return derived_rng(self._entropy, "gradient", int.from_bytes(digest, "little"))

    def gradient(self, v) -> np.ndarray:
        """An epsilon-approximate population gradient at ``v`` (one counted query of kind "gradient")."""
        v = self.model.check_params(v, "ApproxGradientOracle.gradient")
        self.ledger.check_budget(1, "gradient query")
        t0 = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore"):
            _, g, null = self.model._parts(v, self._target)
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(null))):
            raise InvalidParameterError(f"The 'v' parameter of ApproxGradientOracle.gradient must keep the "
                                        f"population gradient finite. Got |v| = {np.linalg.norm(v):.3g} instead.")
        eps = self.epsilon
        if self._answers == "exact":
            a = g.copy()
        elif self._answers == "noisy":
            rng = self._rng_for(v)
            u = rng.standard_normal(g.shape[0])
            u *= INNER * eps * rng.random() ** (1.0 / g.shape[0]) / np.linalg.norm(u)
            a = g + u
        elif self._answers == "adversarial":
            diff = null - g
            n = float(np.linalg.norm(diff))
            a = null.copy() if n <= INNER * eps else g + diff * (INNER * eps / n)
        else:
            a = np.asarray(self._answers(g.copy(), null.copy(), eps, self._rng_for(v)), dtype=np.float64).reshape(-1)
        # the oracle checks every answer, its own strategies' too; the slack covers the rounding of
        # a - g (a few ulps of |g|), which the built-in strategies stay clear of by aiming at INNER eps
        dist = float(np.linalg.norm(a - g)) if a.shape == g.shape else math.inf
        if not dist <= eps + 8 * np.finfo(float).eps * (float(np.linalg.norm(g)) + eps):
            raise StrategyContractError(f"gradient strategy {self.strategy!r} answered {dist:.6g} away from the "
                                        f"population gradient at v; the promise is epsilon = {eps}.")
        key = hashlib.blake2b(_point_bytes(v), digest_size=8).hexdigest()
        self.ledger.append(**record(name="gradient", kind="gradient", tolerance=eps, answer=float(np.linalg.norm(a)),
                                    truth=float(np.linalg.norm(g)), strategy=self.strategy, key=key,
                                    extra={"sq_equivalent": self.model.n_params, "distance": dist,
                                           "answer_digest": hashlib.blake2b(a.tobytes(), digest_size=8).hexdigest()}),
                           seconds=time.perf_counter() - t0)
        return a

    @property
    def sq_equivalent(self) -> int:
        """Correlational queries equivalent to the gradients asked (parameters per gradient, MATH.md B6)."""
        return sum(r.extra.get("sq_equivalent", 0) for r in self.ledger)

    def __repr__(self):
        return (f"ApproxGradientOracle({self.domain!r}, {self.model!r}, epsilon={self.epsilon}, "
                f"answers={self.strategy!r}, queries={len(self.ledger)})")




class _GradientGrader:
    """DESIGN.md's real-valued rule, plus the closed-form loss of a model hypothesis (grading, not a query)."""

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
            rep["population_loss"] = population_loss(o.model, hypothesis.v, o._target)
        return rep
