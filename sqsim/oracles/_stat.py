"""The STAT(tau) and VSTAT(t) oracles: the band each promises; everything else is the shared template."""

from __future__ import annotations

import math

from .._errors import InvalidParameterError
from .._export import export
from .._strategies import clip_band, hoeffding_error, hoeffding_samples
from .._validation import Interval, check_param, show
from ._base import DEFAULT_MAX_SAMPLES, BaseOracle

__all__ = ["SQOracle", "VSTATOracle"]


@export
class SQOracle(BaseOracle):
    """The statistical-query oracle STAT(tau) (Kearns 1998; docs/theory/sq-model.md, section sq-stat).

    Returns, for a query phi: X x Y -> [-1, 1], a value within ``tolerance`` of
    E_{x ~ domain}[phi(x, f(x))]. The target stays hidden: learners see only answers.

    Parameters
    ----------
    domain : BooleanCube, ZqCube or Gaussian
    target : callable
        ``target(X) -> labels`` on batches (any sqsim concept or plain function).
    tolerance : float
        tau in (0, 1]. Exact answers are the strategy "exact", not tolerance 0.
    answers : str or AnswerStrategy, default "exact"
        Which value in the band is returned:

        - ``"exact"``: the true expectation (an honest, non-adversarial development aid);
        - ``"sampled"``: the empirical mean on ceil(2 ln(2/delta)/tau^2) fresh examples
          (misses the band with probability delta = 1e-3, recorded);
        - ``"noisy"``: truth plus noise uniform in the band times the query's scale on the probes, a fixed
          smooth function of the query's normalised probe values (a phi + b gets a times the noise, tiny
          perturbations nearly the same noise; benign: docs/theory/strategies.md, section smooth-noise);
        - ``"rounded"``: truth rounded to the grid tau Z;
        - ``"adversarial"``: the null adversary of the parity lower bound (docs/theory/bounds.md, section bounds-parity);
        - an :class:`AnswerStrategy` instance (user-defined adversaries; still checked).
    seed : int, numpy Generator or None
        Determines every random choice (noise, samples, Monte Carlo truths).
    budget : int, optional
        Maximum number of queries; :class:`QueryBudgetExceeded` before the query is answered.
    truth : {"auto", "exact", "monte-carlo"}, default "auto"
        Exact enumeration on finite domains within their enumeration guard, Monte Carlo
        elsewhere; ``"exact"`` refuses domains above the guard.
    truth_samples : int, optional
        Monte Carlo sample size; default: the Hoeffding size for error tau/4 at
        ``failure_probability``. The error bound is subtracted from the strategy's band.
    failure_probability : float, default 1e-6
        Probability that a Monte Carlo truth is off by more than its recorded bound.
    max_label_values : int, default 64
        Cap on distinct target labels for the null distribution and per-label keys.
    max_samples : int, default 10**9
        Cap on the examples one query may draw (Monte Carlo truths, the sampled strategy); a
        tolerance that needs more is refused at construction instead of hanging.

    Examples
    --------
    >>> from sqsim import BooleanCube, SQOracle, Query
    >>> from sqsim.concepts import Parity
    >>> f = Parity(10, support=[0, 3, 7])
    >>> oracle = SQOracle(BooleanCube(10), f, tolerance=0.05, answers="adversarial", seed=1)
    >>> a = oracle.ask(Query(lambda X, y: (1 - 2 * y) * (1 - 2 * X[:, 0]), name="corr-x0"))
    >>> abs(a) <= 0.05
    True
    """

    oracle_kind = "sq"

    _caller = "SQOracle"

    def __init__(self, domain, target, tolerance, answers="exact", seed=None, budget=None, *, truth="auto",
                 truth_samples=None, failure_probability=1e-6, max_label_values=64,
                 max_samples=DEFAULT_MAX_SAMPLES):
        check_param("tolerance", tolerance, Interval(float, 0, 1, closed="right"), "SQOracle")
        self.tolerance = float(tolerance)
        self._setup(domain, target, answers, seed, budget, truth, truth_samples, failure_probability,
                    max_label_values, max_samples)
        if not self.exact:
            eps = hoeffding_error(self._truth_n(), self.failure_probability)
            if eps >= self.tolerance:
                raise InvalidParameterError(
                    f"The 'truth_samples' parameter of SQOracle must make the Monte Carlo error bound "
                    f"({eps:.4g} at failure probability {self.failure_probability}) smaller than the tolerance "
                    f"{self.tolerance}. Got {show(truth_samples)} instead."
                )

        self._seal()

    def _truth_target_error(self):
        return self.tolerance / 4.0

    def _band(self, ev):
        half = self.tolerance - ev.truth_error
        if half <= 0:
            raise InvalidParameterError(
                f"The 'tolerance' parameter of SQOracle must exceed the error bound of the computed truth "
                f"({ev.truth_error:.3g}: floating-point rounding or Monte Carlo error). Got {self.tolerance!r} instead."
            )
        lo, hi = clip_band(ev.truth, half)
        return lo, hi, self.tolerance

    def _grid(self):
        return self.tolerance

    def sample_size(self, delta: float) -> int:
        """Examples for the sampled strategy: ceil(2 ln(2/delta) / tau^2) (Hoeffding)."""
        return hoeffding_samples(self.tolerance, delta)

    def _band_repr(self):
        return f"tolerance={self.tolerance}"


@export
class VSTATOracle(BaseOracle):
    """The VSTAT(t) oracle (Feldman, Grigorescu, Reyzin, Vempala, Xiao 2013).

    For a Boolean query phi: X x Y -> {0, 1} with p = E[phi], answers within
    max(1/t, sqrt(p (1 - p) / t)) of p. Queries with other values raise
    :class:`QueryRangeError`. Strategies are those of :class:`SQOracle`; "rounded" uses the
    grid 1/t and "sampled" ceil(8 t ln(2/delta) / 3) examples (Bernstein).

    Parameters
    ----------
    domain, target, answers, seed, budget, truth, truth_samples, failure_probability, max_samples
        As for :class:`SQOracle`.
    t : float
        The VSTAT parameter, t >= 1.
    """

    oracle_kind = "vstat"

    _caller = "VSTATOracle"
    binary_queries = True

    def __init__(self, domain, target, t, answers="exact", seed=None, budget=None, *, truth="auto",
                 truth_samples=None, failure_probability=1e-6, max_label_values=64,
                 max_samples=DEFAULT_MAX_SAMPLES):
        check_param("t", t, Interval(float, 1, None), "VSTATOracle")
        self.t = float(t)
        self.tolerance = None
        self._setup(domain, target, answers, seed, budget, truth, truth_samples, failure_probability,
                    max_label_values, max_samples)
        if not self.exact:
            eps = hoeffding_error(self._truth_n(), self.failure_probability, 1.0)
            if eps >= 1.0 / self.t:
                raise InvalidParameterError(
                    f"The 'truth_samples' parameter of VSTATOracle must make the Monte Carlo error bound "
                    f"({eps:.4g}) smaller than 1/t = {1 / self.t:.4g}. Got {show(truth_samples)} instead."
                )

        self._seal()

    def _truth_target_error(self):
        return 0.25 / self.t

    def width(self, p: float) -> float:
        """The VSTAT band half-width max(1/t, sqrt(p (1 - p) / t)) at p."""
        p = min(max(p, 0.0), 1.0)
        return max(1.0 / self.t, math.sqrt(p * (1.0 - p) / self.t))

    def _band(self, ev):
        e = ev.truth_error
        # the smallest width over every p consistent with the estimate, minus its error
        w = min(self.width(ev.truth - e), self.width(ev.truth + e)) if e > 0 else self.width(ev.truth)
        if w - e <= 0:
            raise InvalidParameterError(
                f"The 't' parameter of VSTATOracle must keep the band wider than the truth's error bound ({e:.3g}). "
                f"Got {self.t!r} instead."
            )
        lo, hi = clip_band(ev.truth, w - e)
        return lo, hi, self.width(ev.truth)

    def _grid(self):
        return 1.0 / self.t

    def sample_size(self, delta: float) -> int:
        """Examples for the sampled strategy: ceil(8 t ln(2/delta) / 3) (Bernstein; docs/theory/sq-model.md, section sq-honest-simulation)."""
        return max(1, math.ceil(8.0 * self.t * math.log(2.0 / delta) / 3.0))

    def _band_repr(self):
        return f"t={self.t}"
