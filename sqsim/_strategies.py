"""Answer strategies: which value inside the band an oracle returns (docs/theory/strategies.md).

A strategy only *chooses*; the oracle computes the truth, the band, checks the chosen value
and records it. Strategies never touch the ledger. Write your own adversary by subclassing
:class:`AnswerStrategy` and implementing ``answer(ctx)``; the oracle still checks it and raises
:class:`StrategyContractError` if it leaves the band.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ._export import export
from ._validation import Interval, check_param


@export
@dataclass
class AnswerContext:
    """What a strategy may use to choose an answer.

    Attributes
    ----------
    truth : float
        The true expectation (exact) or its estimate.
    truth_error : float
        Bound on the estimate's error (0 when exact).
    lo, hi : float
        The band the answer must lie in: every value in [lo, hi] is within the promised
        tolerance of the true expectation (the estimate's error already subtracted).
    tolerance : float
        The nominal band half-width (tau).
    grid : float
        The rounding grid of the "rounded" strategy (tau for STAT, 1/t for VSTAT).
    key : str
        The query key.
    rng : callable
        ``rng(purpose)`` returns a generator that is a pure function of (oracle seed, key, purpose).
    null : callable
        ``null()`` returns the expectation under the null distribution (label independent of
        x, drawn from the target's label marginal; docs/theory/sq-model.md, section sq-null).
    sample_mean : callable
        ``sample_mean(n, rng)`` returns the empirical mean of the query on n fresh examples.
    sample_size : callable
        ``sample_size(delta)``: examples needed for the band at failure probability delta.
    query : Query
        The query being answered.
    smooth_uniform : callable
        ``smooth_uniform()`` returns a U(0, 1) variable that is a fixed, smooth (Lipschitz) function of
        the query's centred and normalised probe-value vector and the oracle seed: affine maps a phi + b
        (a > 0) and tiny perturbations of a query give (nearly) the same value (a < 0: 1 - u).
    noise_scale : callable
        ``noise_scale()`` returns the query's scale s in [0, 1], half the range of its probe values (1 for
        a query constant on the probes): a phi + b has the scale |a| s. The "noisy" answer
        truth + s (2u - 1) h (h the band's half-width, :func:`noisy_answer`) is therefore exactly
        affine-equivariant (docs/theory/strategies.md, section smooth-noise).
    """

    truth: float
    truth_error: float
    lo: float
    hi: float
    tolerance: float
    grid: float
    key: str
    rng: Callable
    null: Callable
    sample_mean: Callable
    sample_size: Callable
    query: object = None
    smooth_uniform: Callable | None = None
    noise_scale: Callable | None = None


@export
class AnswerStrategy:
    """Base class of answer strategies.

    Attributes
    ----------
    name : str
        Recorded in the ledger.
    failure_probability : float or None
        ``None`` for strategies that must always answer inside the band (the oracle raises if
        they do not); a probability for strategies that may miss it (their misses are recorded
        with ``in_band=False``).
    """

    name = "custom"
    failure_probability: float | None = None

    def answer(self, ctx: AnswerContext) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


@export
class ExactStrategy(AnswerStrategy):
    """The true expectation (exact enumeration on finite domains; the estimate elsewhere).

    An honest but *non-adversarial* oracle: learners that exploit exact answers ("cheats")
    succeed against it. It is a development aid, not a lower-bound tool.
    """

    name = "exact"

    def answer(self, ctx):
        return ctx.truth


@export
class NoisyStrategy(AnswerStrategy):
    """Truth plus noise uniform in the band times the query's scale, a fixed *smooth* function of the query
    (docs/theory/strategies.md, section smooth-noise).

    The answer is truth + s (2u - 1) h, h the band's half-width, with u = Phi(<g, w>): w is the query's
    centred, normalised vector of values on the oracle's fixed probe set and g a Gaussian vector fixed by
    the oracle seed, so u is uniform for each query; s is the query's scale on the probes (half the range of
    its values there, so a +-1-valued query gets noise uniform over the whole band). Repeating or renaming a
    query returns the same answer, an affine map a phi + b gets exactly a times the noise (its answer is
    a (answer) + b), and relative changes up to 1e-6 of a query get nearly the same noise.

    "noisy" remains a *benign* oracle: a learner can solve a few mixtures of a query with queries of known
    mean for its truth (the noise along such a family is a known curve with few unknowns), average many
    far-apart mixtures, or read queries that the probe set sees as constant (they share one noise value).
    Lower bounds use "adversarial" or "version-space".
    """

    name = "noisy"

    def answer(self, ctx):
        u = ctx.smooth_uniform() if ctx.smooth_uniform is not None else float(ctx.rng("noisy").random())
        s = ctx.noise_scale() if ctx.noise_scale is not None else 1.0
        return noisy_answer(ctx.truth, ctx.lo, ctx.hi, u, s)


@export
class RoundedStrategy(AnswerStrategy):
    """The truth rounded to the nearest multiple of the grid (tau for STAT, 1/t for VSTAT)."""

    name = "rounded"

    def answer(self, ctx):
        a = round(ctx.truth / ctx.grid) * ctx.grid
        return float(min(max(a, ctx.lo), ctx.hi))


@export
class NullAdversary(AnswerStrategy):
    """The null adversary of SQ lower bounds (docs/theory/bounds.md, section bounds-parity).

    Answers the expectation under the null distribution (same x-marginal, label drawn
    independently from the target's label marginal), clipped into the band. Against parities
    the clip is active only when |g^(S*)| > tau, so each answer rules out fewer than 1/tau^2
    candidates, at most m(tau) = ceil(1/tau^2) - 1 of them: LB(d, tau) = ceil((2^d - 2) / m(tau))
    queries (M2).
    """

    name = "adversarial"

    def answer(self, ctx):
        return float(min(max(ctx.null(), ctx.lo), ctx.hi))


@export
class SampledStrategy(AnswerStrategy):
    """The empirical mean on fresh examples: the honest simulation of SQ by examples.

    Uses n = ceil(2 ln(2/delta) / tau^2) examples for STAT(tau) (Hoeffding; VSTAT oracles
    choose their own n), drawn from a stream fixed by (seed, query key), so repeating a query
    repeats the answer. Misses the band with probability at most ``delta``; a miss is not an
    error: the record says ``in_band=False`` and carries ``delta``.

    Parameters
    ----------
    delta : float, default 1e-3
        Failure probability, in (0, 1).
    """

    name = "sampled"

    def __init__(self, delta=1e-3):
        check_param("delta", delta, Interval(float, 0, 1, closed="neither"), "SampledStrategy")
        self.delta = float(delta)

    @property
    def failure_probability(self):
        return self.delta

    def answer(self, ctx):
        n = ctx.sample_size(self.delta)
        return float(ctx.sample_mean(n, ctx.rng("sampled")))

    def __repr__(self):
        return f"SampledStrategy(delta={self.delta})"


#: registry of strategy names (aliases allowed)
ANSWER_STRATEGIES: dict[str, Callable[[], AnswerStrategy]] = {
    "exact": ExactStrategy,
    "noisy": NoisyStrategy,
    "rounded": RoundedStrategy,
    "adversarial": NullAdversary,
    "null": NullAdversary,
    "sampled": SampledStrategy,
}


def hoeffding_samples(eps: float, delta: float, value_range: float = 2.0) -> int:
    """n with P[|mean - E| >= eps] <= delta for values in an interval of length ``value_range``.

    Hoeffding: P <= 2 exp(-2 n eps^2 / range^2), so n = ceil(range^2 ln(2/delta) / (2 eps^2));
    for [-1, 1] this is the ceil(2 ln(2/delta) / eps^2).
    """
    return max(1, math.ceil(value_range**2 * math.log(2.0 / delta) / (2.0 * eps**2)))


def hoeffding_error(n: int, delta: float, value_range: float = 2.0) -> float:
    """eps(n, delta) = range sqrt(ln(2/delta) / (2n)) (sqrt(2 ln(2/delta)/n) on [-1, 1])."""
    return value_range * math.sqrt(math.log(2.0 / delta) / (2.0 * n))


def noisy_answer(truth: float, lo: float, hi: float, u: float, s: float) -> float:
    """truth + s (2u - 1) h in the band [lo, hi] (h its half-width), as lo + u (hi - lo) scaled about the truth
    by s: exactly the unscaled formula for s = 1 (characters, +-1-valued queries)."""
    a = lo + u * (hi - lo)
    if s != 1.0:
        a = truth + s * (a - truth)
    return float(min(max(a, lo), hi))


def clip_band(center: float, half: float) -> tuple[float, float]:
    """[lo, hi] around ``center`` whose floating-point distance to it never exceeds ``half``."""
    lo = center - half
    while center - lo > half:
        lo = np.nextafter(lo, np.inf)
    hi = center + half
    while hi - center > half:
        hi = np.nextafter(hi, -np.inf)
    return float(lo), float(hi)


def mean_upper_bound(values: np.ndarray, value_range: float, delta: float) -> float:
    """A one-sided (1 - delta) upper confidence bound on E[v] for v in [0, value_range].

    The smaller of Hoeffding's and the empirical Bernstein bound of Maurer and Pontil (2009):
    mean + sqrt(2 V ln(2/delta) / n) + 7 R ln(2/delta) / (3 (n - 1)) (each at delta / 2, so the
    minimum holds at delta).
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.shape[0]
    m = float(v.mean())
    L = math.log(4.0 / delta)
    hoeff = m + value_range * math.sqrt(L / (2.0 * n))
    if n < 2:
        return hoeff
    bern = m + math.sqrt(2.0 * float(v.var(ddof=1)) * L / n) + 7.0 * value_range * L / (3.0 * (n - 1))
    return min(hoeff, bern)
