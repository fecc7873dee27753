"""Choosing and checking one answer: the strategy's context, the smooth noise, the band check.

Strategies only choose; this module builds what they may see (:class:`~sqsim.AnswerContext`), calls them,
and verifies the choice against the band before anything is recorded.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .._domains import BooleanCube
from .._errors import InvalidParameterError, StrategyContractError
from .._queries import Character, LabelCharacter, Query
from .._random import derived_rng
from .._strategies import AnswerContext, ExactStrategy, NoisyStrategy, NullAdversary, RoundedStrategy, noisy_answer
from .._validation import show
from ._evaluation import record


def check_query(self, query, caller="ask"):
    if not isinstance(query, Query):
        raise InvalidParameterError(
            f"The 'query' parameter of {self._caller}.{caller} must be a sqsim Query. Got {show(query)} instead."
        )
    qq = getattr(query, "q", None)
    if qq is not None and qq != getattr(self.domain, "base", None):
        raise InvalidParameterError(
            f"The 'query' parameter of {self._caller}.{caller} must fit the domain {self.domain!r}. "
            f"Got {query!r} with q={qq} instead."
        )
    qd = getattr(query, "d", None)
    if qd is not None:
        if (isinstance(query, (Character, LabelCharacter)) and not isinstance(self.domain, BooleanCube)) \
                or qd != self.domain.d:
            raise InvalidParameterError(
                f"The 'query' parameter of {self._caller}.{caller} must fit the domain {self.domain!r}. "
                f"Got {query!r} on d={query.d} instead."
            )



def smooth_noise(self, ev) -> tuple[float, float]:
    """The noisy strategy's (u, s): u ~ U(0, 1) is Phi(<g, w>), w the centred, normalised probe-value vector;
    s in [0, 1] is the query's scale, half the range of its probe values (1 for a query constant on the probes).

    g ~ N(0, I) is fixed by the oracle seed, so <g, w> ~ N(0, 1) and u is uniform for each query. The answer
    is truth + s (2u - 1) h, h the band's half-width, so an affine map a phi + b (a != 0) of a query, which has
    the same w up to sign (u or 1 - u) and the scale |a| s, gets exactly a times the noise: its answer is
    a (answer) + b and tells nothing new. A relative change of 1e-6 moves u by at most about |g| 1e-6 / sqrt(2 pi)
    (docs/theory/strategies.md, section smooth-noise). A structured query whose probe vector is
    (w_0 chi, w_1 chi) (``ev.probe_weights``) takes the closed form :func:`smooth_noise_two_weight`.
    """
    if ev.probe_weights is not None:
        return smooth_noise_two_weight(self, ev.noise_vector(), ev.probe_weights)
    v = np.asarray(ev.noise_vector(), dtype=np.float64)
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:  # constant on the probes (only exactly: a tiny-scale query keeps its own direction and scale)
        return constant_uniform(self), 1.0
    c, norm = _centred(v)
    if not norm > TINY_NORM:  # c.c near underflow: the same direction from v rescaled to [0, 1]
        c, norm = _centred((v - lo) / (hi - lo))
    u = 0.5 * math.erfc(-float(noise_features(self, v.shape[0]).dot(c)) / (norm * math.sqrt(2.0)))
    return u, min(1.0, 0.5 * (hi - lo))


def _centred(v: np.ndarray) -> tuple[np.ndarray, float]:
    """(v - mean(v), its norm): v.mean() and np.linalg.norm spelled out (the same pairwise sum, dot product
    and correctly rounded sqrt)."""
    c = v - float(np.add.reduce(v)) / v.shape[0]
    return c, math.sqrt(float(c.dot(c)))


#: below this centred norm the noise direction is computed from the probe vector rescaled to [0, 1] (its
#: square would be subnormal)
TINY_NORM = 1e-140


def constant_uniform(self) -> float:
    """The noisy strategy's variable for a query constant on the probes: one fixed U(0, 1) of the seed."""
    return float(derived_rng(self._entropy, "noise", "constant").random())


def noise_features(self, n: int) -> np.ndarray:
    """g ~ N(0, I_n) of the noisy strategy, fixed by the oracle seed (drawn once per length n).

    Its products with a probe vector are ``g.dot(c)``: for two 1-D float64 arrays numpy's ``g @ c`` (matmul,
    scalar output) calls the same dtype dot function (BLAS ddot on contiguous data) with less dispatch, so
    the floats are those of the original ``g @ c``.
    """
    g = self._noise_features.get(n)
    if g is None:
        g = self._noise_features[n] = derived_rng(self._entropy, "noise", n).standard_normal(n)
    return g


def noise_feature_sum(self, n: int) -> float:
    """sum(g) of :func:`noise_features` (math.fsum, computed once per length n)."""
    s = self._noise_sums.get(n)
    if s is None:
        s = self._noise_sums[n] = math.fsum(noise_features(self, n).tolist())
    return s


def smooth_noise_two_weight(self, v: np.ndarray, weights) -> tuple[float, float]:
    """:func:`smooth_noise` of a probe vector v = (w_0 chi, w_1 chi), chi = chi_S at the P probe points
    (a LabelCharacter on Boolean probe labels 0 and 1; a Character is w = (1, -1)), in closed form.

    With s = sum(chi) and n_+- = (P +- s) / 2 the counts of chi = +-1, the mean is m = (w_0 + w_1) s / (2P),
    <g, v - m 1> = <g, v> - m sum(g) and |v - m 1|^2 = n_+ ((w_0 - m)^2 + (w_1 - m)^2)
    + n_- ((w_0 + m)^2 + (w_1 + m)^2), a sum of squares (no cancellation); v is constant exactly when
    w_0 = w_1 = 0, or w_0 = w_1 and chi is constant. The scale (half the range of v) is max(|w_0|, |w_1|)
    when chi takes both signs, else |w_0 - w_1| / 2. n_- is read off the sign bits of the first half:
    sign(w_0 chi_p) = sign(w_0) chi_p, zeros included (IEEE signed zeros). For w_0 + w_1 = 0 (characters) m
    is exactly 0, and u is bit for bit the generic formula's, c = v and |c| = sqrt(2P) |w_0|
    (docs/theory/structured-queries.md, section noise); otherwise it is the same real number rounded
    differently.
    """
    n = v.shape[0]
    w0, w1 = weights
    dot = float(noise_features(self, n).dot(v))
    if w0 + w1 == 0.0:
        n2 = n * (w0 * w0)
        scale = abs(w0)
        constant = w0 == 0.0
    else:
        P = n >> 1
        neg = int(np.count_nonzero(np.signbit(v[:P])))  # the chi = -1 count, up to sign(w_0)
        if math.copysign(1.0, w0) < 0.0:
            neg = P - neg
        m = (w0 + w1) * (P - 2 * neg) / n
        a, b = w0 - m, w1 - m
        c, e = w0 + m, w1 + m
        n2 = (P - neg) * (a * a + b * b) + neg * (c * c + e * e)
        scale = max(abs(w0), abs(w1)) if 0 < neg < P else 0.5 * abs(w0 - w1)
        constant = w0 == w1 and not 0 < neg < P
        dot -= m * noise_feature_sum(self, n)
    if constant:
        return constant_uniform(self), 1.0
    norm = math.sqrt(n2)
    if not norm > TINY_NORM:  # tiny weights: the same direction from the weights rescaled to max |w_l| = 1
        k = 1.0 / max(abs(w0), abs(w1))
        return smooth_noise_two_weight(self, v * k, (w0 * k, w1 * k))[0], scale
    return 0.5 * math.erfc(-dot / (norm * math.sqrt(2.0))), scale


def record_null(self, ev, extra: dict) -> float:
    """The null expectation of an evaluation, recorded in ``extra`` (with its Hoeffding bound when it is Monte
    Carlo: independent pairs (z, f(z')), the truth's bound)."""
    v = ev.null() if callable(ev.null) else ev.null
    if v is None:
        raise InvalidParameterError(
            f"The 'max_label_values' parameter of {self._caller} must be at least the target's number of "
            f"distinct labels for the {self.strategy.name!r} strategy (it needs the null distribution). "
            f"Got {self.max_label_values} instead."
        )
    extra["null"] = v = float(v)
    if callable(ev.null):
        extra["null_error"] = ev.truth_error
    return v


def answer_with_strategy(self, query: Query, ev) -> dict:
    lo, hi, nominal = self._band(ev)
    extra = dict(ev.extra)

    def null():
        return record_null(self, ev, extra)

    noise = functools.cache(lambda: smooth_noise(self, ev))  # (u, s), computed at most once

    ctx = AnswerContext(
        truth=ev.truth, truth_error=ev.truth_error, lo=lo, hi=hi, tolerance=nominal, grid=self._grid(),
        key=ev.key, rng=lambda purpose: derived_rng(self._entropy, ev.key, "strategy", purpose),
        null=null, sample_mean=lambda n, rng: self._sampler().mean(query, n, rng),
        sample_size=self.sample_size, query=query, smooth_uniform=lambda: noise()[0],
        noise_scale=lambda: noise()[1],
    )
    a = self.strategy.answer(ctx)
    try:
        a = float(a)
    except (TypeError, ValueError):
        raise StrategyContractError(
            f"Strategy {self.strategy!r} returned {a!r} for query {query.name!r}; answers must be floats."
        ) from None
    in_band = bool(lo <= a <= hi)
    declared = getattr(self.strategy, "failure_probability", None)
    if not in_band and declared is None:
        raise StrategyContractError(
            f"Strategy {self.strategy!r} answered {a!r} to query {query.name!r}, outside the promised band "
            f"[{lo!r}, {hi!r}] (truth {ev.truth!r}, tolerance {nominal!r}); the answer was not given."
        )
    return record(name=query.name, kind=query.kind, tolerance=nominal, answer=a, truth=ev.truth,
                  truth_error=ev.truth_error, failure_probability=min(1.0, ev.failure_probability + (declared or 0.0)),
                  strategy=getattr(self.strategy, "name", type(self.strategy).__name__), in_band=in_band,
                  key=ev.key, extra=extra)


#: built-in strategies whose choice the oracle computes inline (the same floats as their ``answer``)
_FAST = {ExactStrategy: "exact", NoisyStrategy: "noisy", RoundedStrategy: "rounded", NullAdversary: "adversarial"}


def fast_strategy(strategy):
    """The inline kind of a built-in strategy instance (None for subclasses, overridden ``answer`` or others)."""
    kind = _FAST.get(type(strategy))
    return kind if kind is not None and "answer" not in vars(strategy) else None


def answer_fast(self, query: Query, ev, kind: str) -> dict:
    """:func:`answer_with_strategy` for a built-in strategy, without building its AnswerContext: the same
    answer (the strategy's own formula), the same band check and the same record."""
    lo, hi, nominal = self._band(ev)
    extra = dict(ev.extra) if ev.extra else {}
    if kind == "exact":
        a = ev.truth
    elif kind == "adversarial":
        v = record_null(self, ev, extra)
        a = min(max(v, lo), hi)
    elif kind == "rounded":
        grid = self._grid()
        a = min(max(round(ev.truth / grid) * grid, lo), hi)
    else:  # noisy
        u, s = smooth_noise(self, ev)
        a = noisy_answer(ev.truth, lo, hi, u, s)
    a = float(a)
    if not lo <= a <= hi:
        raise StrategyContractError(
            f"Strategy {self.strategy!r} answered {a!r} to query {query.name!r}, outside the promised band "
            f"[{lo!r}, {hi!r}] (truth {ev.truth!r}, tolerance {nominal!r}); the answer was not given."
        )
    return {"name": query.name, "kind": query.kind, "tolerance": nominal, "answer": a, "truth": ev.truth,
            "truth_error": ev.truth_error, "failure_probability": min(1.0, ev.failure_probability + 0.0),
            "strategy": kind, "in_band": True, "key": ev.key, "extra": extra}
