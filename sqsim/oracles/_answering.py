"""Choosing and checking one answer: the strategy's context, the smooth noise, the band check.

Strategies only choose; this module builds what they may see (:class:`~sqsim.AnswerContext`), calls them,
and verifies the choice against the band before anything is recorded.
"""

from __future__ import annotations

import math

import numpy as np

from .._domains import BooleanCube
from .._errors import InvalidParameterError, StrategyContractError
from .._queries import Character, LabelCharacter, Query
from .._random import derived_rng
from .._strategies import AnswerContext, ExactStrategy, NoisyStrategy, NullAdversary, RoundedStrategy
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



def smooth_uniform(self, ev) -> float:
    """The noisy strategy's U(0, 1) variable: Phi(<g, w>), w the centred, normalised probe-value vector.

    g ~ N(0, I) is fixed by the oracle seed, so <g, w> ~ N(0, 1) and the noise is uniform in the band for
    each query, while an affine map a phi + b (a > 0) of a query has the same w and so the same noise;
    a relative change of 1e-6 moves u by at most about |g| 1e-6 / sqrt(2 pi) (docs/theory/strategies.md, section smooth-noise).
    """
    v = np.asarray(ev.noise_vector(), dtype=np.float64)
    # v.mean() and np.linalg.norm spelled out (the same pairwise sum, dot products and correctly rounded sqrt)
    c = v - float(np.add.reduce(v)) / v.shape[0]
    norm = math.sqrt(float(c.dot(c)))
    # the constant-query test norm > 1e-12 max(1, |v|): a noise vector holds query values, checked to lie in
    # [-1, 1] (Query.values and the structured twins), so |v| <= sqrt(len v) and a norm above
    # 1e-12 max(1, sqrt(len v)) (rounded up) passes the test whatever |v| is: |v| is computed only below that
    if not (norm > 1.001e-12 * max(1.0, math.sqrt(v.shape[0]))
            or norm > 1e-12 * max(1.0, math.sqrt(float(v.dot(v))))):
        return float(derived_rng(self._entropy, "noise", "constant").random())
    return 0.5 * math.erfc(-float(noise_features(self, v.shape[0]).dot(c)) / (norm * math.sqrt(2.0)))


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


def smooth_uniform_pm1(self, c: np.ndarray) -> float:
    """:func:`smooth_uniform` of a character correlation (1 - 2l) chi_S on Boolean probe labels, given its
    probe vector c = (chi, -chi): the same floats without the generic centring and norms.

    c is a +-1 vector whose sum is exactly 0, so c - mean(c) = c and |c| = sqrt(len c) exactly; <g, c> is
    the same BLAS dot of the same two vectors (docs/theory/structured-queries.md, section noise).
    """
    n = c.shape[0]
    return 0.5 * math.erfc(-float(noise_features(self, n).dot(c)) / (math.sqrt(float(n)) * math.sqrt(2.0)))


def smooth_uniform_character(self, probes, code: int) -> float:
    """:func:`smooth_uniform_pm1` of the character with code ``code`` on an enumerated engine's probe set."""
    return smooth_uniform_pm1(self, probes.character_vector(code))


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

    ctx = AnswerContext(
        truth=ev.truth, truth_error=ev.truth_error, lo=lo, hi=hi, tolerance=nominal, grid=self._grid(),
        key=ev.key, rng=lambda purpose: derived_rng(self._entropy, ev.key, "strategy", purpose),
        null=null, sample_mean=lambda n, rng: self._sampler().mean(query, n, rng),
        sample_size=self.sample_size, query=query, smooth_uniform=lambda: smooth_uniform(self, ev),
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
        # probe_code set: the noise vector is a character's (chi, -chi) (enumerated and junta engines)
        u = smooth_uniform(self, ev) if ev.probe_code is None else smooth_uniform_pm1(self, ev.noise_vector())
        a = min(max(lo + u * (hi - lo), lo), hi)
    a = float(a)
    if not lo <= a <= hi:
        raise StrategyContractError(
            f"Strategy {self.strategy!r} answered {a!r} to query {query.name!r}, outside the promised band "
            f"[{lo!r}, {hi!r}] (truth {ev.truth!r}, tolerance {nominal!r}); the answer was not given."
        )
    return {"name": query.name, "kind": query.kind, "tolerance": nominal, "answer": a, "truth": ev.truth,
            "truth_error": ev.truth_error, "failure_probability": min(1.0, ev.failure_probability + 0.0),
            "strategy": kind, "in_band": True, "key": ev.key, "extra": extra}
