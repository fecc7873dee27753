"""SQ oracles: STAT(tau) (:class:`SQOracle`) and VSTAT(t) (:class:`VSTATOracle`).

``ask`` is a template method (the AALpy pattern): check the budget, evaluate the query
(truth, key, null pieces; raises :class:`QueryRangeError` before anything changes), let the
strategy choose, verify the choice against the band, then record. Nothing else writes to the
ledger.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from . import _keys
from ._domains import CHUNK, BooleanCube, Domain, FiniteDomain
from ._errors import InvalidParameterError, OracleStateError, QueryRangeError, StrategyContractError
from ._export import export
from ._kernels import cube as kcube
from ._kernels import pick
from ._kernels import walsh as kwalsh
from ._kernels.bits import pack_bits
from ._ledger import Ledger
from ._queries import Character, CharacterBatch, NumbaQuery, Query
from ._random import derived_rng, root_entropy
from ._strategies import (
    ANSWER_STRATEGIES,
    AnswerContext,
    AnswerStrategy,
    NullAdversary,
    SampledStrategy,
    clip_band,
    hoeffding_error,
    hoeffding_samples,
    mean_upper_bound,
)
from ._validation import Callable, InstanceOf, Interval, NoneOk, Options, check_param
from ._version_space import VersionSpace, VersionSpaceStrategy

ANSWER_STRATEGIES.setdefault("version-space", VersionSpaceStrategy)
from .concepts._families import FiniteFamily
from ._validation import show

PROBE_POINTS = 256
TRUTH_MODES = ("auto", "exact", "monte-carlo")
UNIT_ROUNDOFF = 2.0**-53
#: rounding-error bound of an enumerated (non-integer) truth, per unit of max |phi| <= 1: compensated or
#: pairwise block sums (a few ulps each) added exactly with math.fsum, then one division
EXACT_FP_ERROR = 64 * UNIT_ROUNDOFF
#: the largest number of examples a Monte Carlo truth or the sampled strategy may draw per query
DEFAULT_MAX_SAMPLES = 10**9


@dataclass
class _Evaluation:
    truth: float
    truth_error: float
    failure_probability: float
    key: str
    null: object  # float, None (unavailable) or a zero-argument callable (lazy Monte Carlo)
    extra: dict = field(default_factory=dict)
    member_truths: np.ndarray | None = None  # version space: the truth of every family member


def grade_real(h: np.ndarray, y: np.ndarray, label_range, delta: float = 1e-3, eps_rel: float = 0.25) -> dict:
    """Success iff a (1 - delta) upper bound on E[(clip(h) - f)^2] is at most eps_rel E[f^2] (DESIGN.md 3).

    h is clipped into the label range [lo, hi] so that the squared error lies in [0, (hi - lo)^2];
    the bound is the smaller of Hoeffding's and the empirical Bernstein bound.
    """
    lo, hi = float(label_range[0]), float(label_range[1])
    err = (np.clip(h, lo, hi) - y) ** 2
    bound = mean_upper_bound(err, (hi - lo) ** 2, delta)
    energy = float(np.mean(y**2))
    return {"success": bool(bound <= eps_rel * energy), "loss_upper_bound": bound, "target_energy": energy,
            "points": int(y.shape[0]), "failure_probability": delta}


def grade_structural(hypothesis, target) -> dict | None:
    """Beyond the enumeration guard, finite classes are compared structurally (DESIGN.md 3, Learners).

    Two parities are equal iff their supports are; returns None when no structural comparison applies.
    """
    from .concepts import Parity

    if isinstance(hypothesis, Parity) and isinstance(target, Parity) and hypothesis.d == target.d:
        return {"success": tuple(hypothesis.support) == tuple(target.support), "compared": "support"}
    return None


def _block_bits(n: int, cap: int = 12) -> int:
    return min(int(n).bit_length() - 1, cap)


_KEY_TOTALS: dict[tuple[int, int], int] = {}


def _key_total(vi: int, n: int) -> int:
    """P_v = sum_c index_mix(v n + c) mod 2^64 (the empty character's key sum), computed once per (v, n)."""
    if (vi, n) not in _KEY_TOTALS:
        _KEY_TOTALS[(vi, n)] = int(pick(kcube.character_key_sum, n)(0, vi, n, _block_bits(n)))
    return _KEY_TOTALS[(vi, n)]


class _BaseOracle:
    """Shared machinery of the STAT and VSTAT oracles."""

    _caller = "SQOracle"
    binary_queries = False

    def _setup(self, domain, target, answers, seed, budget, truth, truth_samples, failure_probability,
               max_label_values, max_samples):
        c = self._caller
        check_param("domain", domain, InstanceOf(Domain, "a sqsim domain (BooleanCube, ZqCube or Gaussian)"), c)
        check_param("answers", answers, [Options(tuple(sorted(set(ANSWER_STRATEGIES)))),
                                         InstanceOf(AnswerStrategy, "an AnswerStrategy instance")], c)
        version_space = answers == "version-space" or isinstance(answers, VersionSpaceStrategy)
        if version_space:
            if self.binary_queries:
                raise InvalidParameterError(
                    f"The 'answers' parameter of {c} must not be 'version-space' (STAT oracles only). Got {show(answers)} instead."
                )
            check_param("target", target, InstanceOf(FiniteFamily, "a finite concept family (e.g. Parities(d)) "
                                                                   "with answers='version-space'"), c)
            if target.domain != domain:
                raise InvalidParameterError(
                    f"The 'target' parameter of {c} must be a family over {domain!r}. Got one over {target.domain!r} instead."
                )
        else:
            check_param("target", target, Callable, c)
        check_param("budget", budget, [Interval(int, 0, None), NoneOk], c)
        check_param("truth", truth, Options(TRUTH_MODES), c)
        check_param("truth_samples", truth_samples, [Interval(int, 1, None), NoneOk], c)
        check_param("failure_probability", failure_probability, Interval(float, 0, 1, closed="neither"), c)
        check_param("max_label_values", max_label_values, Interval(int, 1, 2**15), c)
        check_param("max_samples", max_samples, Interval(int, 1, None), c)
        self.max_samples = int(max_samples)
        td = getattr(target, "d", None)
        if isinstance(td, (int, np.integer)) and int(td) != domain.d:
            raise InvalidParameterError(
                f"The 'target' parameter of {c} must act on the domain's dimension d={domain.d}. "
                f"Got a target with d={td} instead."
            )
        self.domain = domain
        self._target = target
        self.strategy = ANSWER_STRATEGIES[answers]() if isinstance(answers, str) else answers
        self._entropy = root_entropy(seed, c)
        self.ledger = Ledger(budget)
        self.failure_probability = float(failure_probability)
        self.max_label_values = int(max_label_values)
        self._cache: dict[str, dict] = {}
        if truth == "exact" and isinstance(domain, FiniteDomain):
            domain.check_enumerable("exact truths (truth='exact')")
        if truth == "exact" and not domain.finite:
            raise InvalidParameterError(
                f"The 'truth' parameter of {c} must be 'auto' or 'monte-carlo' on {domain!r} "
                f"(no exact expectations under a continuous distribution). Got 'exact' instead."
            )
        self.exact = bool(domain.finite and truth != "monte-carlo" and domain.enumerable)
        self._truth_samples = truth_samples
        self._vs = None
        self._revealed = None
        self._asked: list[tuple[Query, float]] = []
        if version_space:
            domain.check_enumerable("the version-space strategy")
            self.exact = True
            self._vs = VersionSpace(target, domain)
            self._target = None
            self._lvals = self._vs.label_values
            self._lprob = None
            self.boolean_labels = self._vs.boolean
        elif self.exact:
            self._build_label_table()
        else:
            self._probe_setup()
        self._context = f"{domain!r}|{self._label_context()}"
        if isinstance(self.strategy, NullAdversary) and self._vs is None and self.exact and self._lvals is None:
            raise InvalidParameterError(
                f"The 'max_label_values' parameter of {c} must be at least the number of distinct labels of the "
                f"target ({len(np.unique(self._ytab))}) for the 'adversarial' strategy (the null distribution is "
                f"the label marginal). Got {self.max_label_values} instead."
            )
        if isinstance(self.strategy, SampledStrategy):
            self._check_samples(self.sample_size(self.strategy.delta), "the 'sampled' strategy")

    def _check_samples(self, n: int, what: str) -> None:
        if n > self.max_samples:
            name, value = ("tolerance", self.tolerance) if self.tolerance is not None else ("t", self.t)
            raise InvalidParameterError(
                f"The {name!r} parameter of {self._caller} must let {what} use at most max_samples={self.max_samples} "
                f"examples per query (it needs {n:.3g}; loosen {name} or raise max_samples). Got {value!r} instead."
            )

    # ------------------------------------------------------------------ target
    @property
    def seed_entropy(self) -> int:
        """The root entropy every stream of this oracle derives from."""
        return self._entropy

    def _labels(self, X: np.ndarray) -> np.ndarray:
        y = np.asarray(self._target(X))
        n = X.shape[0]
        if y.shape == () and n == 1:
            y = y.reshape(1)
        if y.shape != (n,) or (not np.issubdtype(y.dtype, np.number) and y.dtype != np.bool_) or np.iscomplexobj(y):
            raise InvalidParameterError(
                f"The 'target' parameter of {self._caller} must return a real array of shape ({n},) for a batch "
                f"of {n} points. Got {y.dtype} array of shape {y.shape} instead."
            )
        y = y.astype(np.float64)
        if not np.all(np.isfinite(y)):
            raise InvalidParameterError(
                f"The 'target' parameter of {self._caller} must return finite labels. Got "
                f"{y[~np.isfinite(y)][0]!r} instead."
            )
        return y

    def _build_label_table(self):
        dom = self.domain
        N = dom.size
        hook = getattr(self._target, "labels_from_codes", None)
        if hook is not None and isinstance(dom, BooleanCube):
            y = np.asarray(hook(np.arange(N, dtype=np.int64)), dtype=np.float64)
        else:
            y = np.empty(N, dtype=np.float64)
            for codes, X in dom.chunks():
                y[codes[0] : codes[-1] + 1] = self._labels(X)
        vals, idx = np.unique(y, return_inverse=True)
        self._ytab = y
        if len(vals) <= self.max_label_values:
            self._lvals = vals
            self._lidx = idx.astype(np.int32)
            self._lprob = np.bincount(idx, minlength=len(vals)) / N
        else:
            self._lvals = self._lidx = self._lprob = None
        self.boolean_labels = bool(np.all((y == 0.0) | (y == 1.0)))
        self._packed = None

    def _probe_setup(self):
        rng = derived_rng(self._entropy, "probe")
        self._probe_X = self.domain._sample(PROBE_POINTS, rng)
        self._probe_y = self._labels(self._probe_X)
        flag = getattr(self._target, "boolean", None)
        self.boolean_labels = bool(flag) if flag is not None else bool(
            np.all((self._probe_y == 0.0) | (self._probe_y == 1.0)))
        self._lvals = None

    def _label_context(self) -> str:
        if self.exact and self._lvals is not None:
            return "labels:" + ",".join(repr(float(v)) for v in self._lvals)
        return f"boolean:{self.boolean_labels}"

    # ------------------------------------------------------------------ evaluation
    def _check_query(self, query, caller="ask"):
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
            if (isinstance(query, Character) and not isinstance(self.domain, BooleanCube)) or qd != self.domain.d:
                raise InvalidParameterError(
                    f"The 'query' parameter of {self._caller}.{caller} must fit the domain {self.domain!r}. "
                    f"Got {query!r} on d={query.d} instead."
                )

    def _evaluate(self, query: Query) -> _Evaluation:
        if self._vs is not None:
            return self._eval_version_space(query)
        if self.exact:
            if isinstance(query, Character) and not self.binary_queries:
                return self._eval_character(query)
            if isinstance(query, NumbaQuery) and not self.binary_queries and self._lvals is not None:
                return self._eval_fused(query)
            return self._eval_enumerated(query)
        return self._eval_monte_carlo(query)

    def _require_boolean(self, query):
        if not self.boolean_labels:
            raise QueryRangeError(
                f"Query {query.name!r} is a character correlation (1 - 2y) chi_S(x), defined for labels in {{0, 1}}; "
                f"this target's labels are not Boolean."
            )

    def _packed_labels(self) -> np.ndarray:
        if self._packed is None:
            self._packed = pack_bits(self._ytab)
        return self._packed

    def _null_from_pieces(self, pieces: np.ndarray) -> float:
        """E_null = sum_v P[f = v] E_x[phi(x, v)] (MATH.md section 1, "Null distributions")."""
        return float(np.dot(self._lprob, pieces / self.domain.size))

    def _eval_character(self, query: Character) -> _Evaluation:
        self._require_boolean(query)
        N = self.domain.size
        bb = _block_bits(N)
        truth = pick(kcube.character_sum, N)(query.code, self._packed_labels(), N) / N
        # E_x[phi(x, v)] = (1 - 2v) [S = empty]
        pieces = np.array([(1 - 2 * v) * (N if query.code == 0 else 0) for v in self._lvals], dtype=np.float64)
        P = [_key_total(vi, N) for vi in range(len(self._lvals))]
        Q = [int(pick(kcube.character_key_sum, N)(query.code, vi, N, bb)) for vi in range(len(self._lvals))]
        h = _keys.character_hash(P, Q, [int(1 - 2 * v) for v in self._lvals])
        return _Evaluation(float(truth), 0.0, 0.0, _keys.finalize(self._context, h), self._null_from_pieces(pieces))

    def _eval_batch(self, batch: CharacterBatch) -> list[_Evaluation]:
        """Every member of a character batch from one Walsh-Hadamard transform (MATH.md M1)."""
        for m in batch.members:
            self._check_query(m, "ask_batch")
        self._require_boolean(batch.members[0] if len(batch) else Character(self.domain.d, []))
        N = self.domain.size
        bb = _block_bits(N, kwalsh.BLOCK_BITS)
        spectrum = pick(kwalsh.fwht_inplace, N)(1.0 - 2.0 * self._ytab, bb)
        codes = batch.codes
        nv = len(self._lvals)
        Qtab = [pick(kwalsh.fwht_inplace, N)(pick(kcube.key_table, N)(vi, N), bb)[codes] for vi in range(nv)]
        P = [_key_total(vi, N) for vi in range(nv)]
        signs = [int(1 - 2 * v) for v in self._lvals]
        out = []
        for i, m in enumerate(batch.members):
            h = _keys.character_hash(P, [int(Qtab[vi][i]) for vi in range(nv)], signs)
            pieces = np.array([(1 - 2 * v) * (N if m.code == 0 else 0) for v in self._lvals], dtype=np.float64)
            out.append(_Evaluation(float(spectrum[m.code] / N), 0.0, 0.0, _keys.finalize(self._context, h),
                                   self._null_from_pieces(pieces)))
        return out

    def _eval_fused(self, query: NumbaQuery) -> _Evaluation:
        N = self.domain.size
        query._set_params(self.boolean_labels)
        truth, null, h, bad, badval = pick(kcube.fused_query_pass, N)(
            query.fn, query.params, self.domain.d, self.domain.base, self._lidx, self._lvals, 4096)
        if bad >= 0:
            x = self.domain.decode(np.array([bad]))[0].tolist()
            raise QueryRangeError(
                f"Query {query.name!r} must return values in [-1, 1]. Got {badval!r} at x={x} instead."
            )
        return _Evaluation(math.fsum(truth) / N, EXACT_FP_ERROR, 0.0, _keys.finalize(self._context, int(h)),
                           self._null_from_pieces(null.sum(axis=0)))

    def _eval_enumerated(self, query: Query) -> _Evaluation:
        N = self.domain.size
        binary = self.binary_queries
        if self._lvals is None:
            # too many distinct labels: the key hashes phi(x, f(x)); no null distribution
            parts, h = [], 0
            for codes, X in self.domain.chunks():
                vals = query.values(X, self._ytab[codes], self.boolean_labels, binary=binary,
                                    where=self._where(codes, self._ytab[codes]))
                parts.append(float(np.sum(vals)))
                h += _keys.label_hash(vals, 0, N, codes)
            return _Evaluation(math.fsum(parts) / N, EXACT_FP_ERROR, 0.0,
                               _keys.finalize(self._context, h & _keys.MASK), None)
        pieces = [[] for _ in self._lvals]
        truth = []
        h = 0
        for codes, vi, vals in self._label_values(query, binary):
            pieces[vi].append(float(np.sum(vals)))  # numpy's pairwise sum, then math.fsum
            truth.append(float(np.sum(vals[self._lidx[codes] == vi])))
            h += _keys.label_hash(vals, vi, N, codes)
        return _Evaluation(math.fsum(truth) / N, EXACT_FP_ERROR, 0.0, _keys.finalize(self._context, h & _keys.MASK),
                           self._null_from_pieces(np.array([math.fsum(p) for p in pieces])))

    def _where(self, codes, y):
        """Describe batch row i as a domain point and label, for QueryRangeError messages."""
        return lambda i: f"x={self.domain.decode(codes[i : i + 1])[0].tolist()}, y={float(y[i])!r}"

    def _label_values(self, query: Query, binary: bool = False):
        """Yield (codes, label index v, phi(x, label v)) chunk by chunk over the enumerated domain."""
        for codes, X in self.domain.chunks():
            for vi, v in enumerate(self._lvals):
                y = np.full(codes.shape[0], v)
                yield codes, vi, query.values(X, y, self.boolean_labels, binary=binary, where=self._where(codes, y))

    def _value_tables(self, query: Query) -> np.ndarray:
        """phi(x, v) for every point x (code order) and label value v: shape (V, N)."""
        tables = np.empty((len(self._lvals), self.domain.size))
        for codes, vi, vals in self._label_values(query):
            tables[vi, codes[0] : codes[-1] + 1] = vals
        return tables

    def _eval_version_space(self, query: Query) -> _Evaluation:
        if self._revealed is not None:
            raise OracleStateError("This version-space oracle has revealed its target; create a new oracle to ask more.")
        tables = self._value_tables(query)
        N = self.domain.size
        h = sum(_keys.label_hash(tables[vi], vi, N, np.arange(N)) for vi in range(tables.shape[0]))
        return _Evaluation(None, 0.0, 0.0, _keys.finalize(self._context, h & _keys.MASK), None,
                           member_truths=self._vs.truths(tables))

    # ------------------------------------------------------------- Monte Carlo
    def _value_range(self) -> float:
        return 1.0 if self.binary_queries else 2.0

    def _truth_n(self) -> int:
        if self._truth_samples is not None:
            return int(self._truth_samples)
        return hoeffding_samples(self._truth_target_error(), self.failure_probability, self._value_range())

    def _mean_on_samples(self, query, n, rng, independent_labels=False) -> float:
        total = 0.0
        done = 0
        while done < n:
            m = min(CHUNK, n - done)
            X = self.domain._sample(m, rng)
            y = self._labels(self.domain._sample(m, rng) if independent_labels else X)
            total += float(np.sum(query.values(X, y, self.boolean_labels, binary=self.binary_queries)))
            done += m
        return total / n

    def _eval_monte_carlo(self, query: Query) -> _Evaluation:
        pv = query.values(self._probe_X, self._probe_y, self.boolean_labels, binary=self.binary_queries)
        key = _keys.probe_key(self._context, query.name, query.qualname, pv, _keys.code_fingerprint(query.fn))
        n = self._truth_n()
        eps = hoeffding_error(n, self.failure_probability, self._value_range())
        truth = self._mean_on_samples(query, n, derived_rng(self._entropy, key, "truth"))
        null_state = {}

        def null():
            if "v" not in null_state:
                null_state["v"] = self._mean_on_samples(query, n, derived_rng(self._entropy, key, "null"), True)
            return null_state["v"]

        return _Evaluation(truth, eps, self.failure_probability, key, null, {"truth_samples": n})

    # ------------------------------------------------------------------ answering
    def _band(self, ev: _Evaluation) -> tuple[float, float, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _grid(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample_size(self, delta: float) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _answer(self, query: Query, ev: _Evaluation) -> dict:
        lo, hi, nominal = self._band(ev)

        extra = dict(ev.extra)

        def null():
            v = ev.null() if callable(ev.null) else ev.null
            if v is None:
                raise InvalidParameterError(
                    f"The 'max_label_values' parameter of {self._caller} must be at least the target's number of "
                    f"distinct labels for the {self.strategy.name!r} strategy (it needs the null distribution). "
                    f"Got {self.max_label_values} instead."
                )
            extra["null"] = float(v)
            if callable(ev.null):  # Monte Carlo null on independent pairs (z, f(z')): same Hoeffding bound
                extra["null_error"] = ev.truth_error
            return float(v)

        ctx = AnswerContext(
            truth=ev.truth, truth_error=ev.truth_error, lo=lo, hi=hi, tolerance=nominal, grid=self._grid(),
            key=ev.key, rng=lambda purpose: derived_rng(self._entropy, ev.key, "strategy", purpose),
            null=null, sample_mean=lambda n, rng: self._mean_on_samples(query, n, rng),
            sample_size=self.sample_size, query=query,
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
        fp = min(1.0, ev.failure_probability + (declared or 0.0))
        return dict(name=query.name, kind=query.kind, tolerance=nominal, answer=a, truth=ev.truth,
                    truth_error=ev.truth_error, failure_probability=fp,
                    strategy=getattr(self.strategy, "name", type(self.strategy).__name__), in_band=in_band,
                    key=ev.key, extra=extra)

    def _answer_version_space(self, query: Query, ev: _Evaluation, alive: np.ndarray):
        """Choose the answer keeping the most survivors; return the record and the new survivors."""
        truths = ev.member_truths
        tau = self._vs_tolerance()
        a = VersionSpaceStrategy.choose(truths[alive], tau)
        kept = alive & (np.abs(truths - a) <= tau)
        if not kept.any():  # floating-point safety: answer a survivor's truth exactly
            a = float(truths[np.flatnonzero(alive)[0]])
            kept = alive & (np.abs(truths - a) <= tau)
        # the oracle's own check: every kept member is within tau of the answer
        if not kept.any() or np.any(np.abs(truths[kept] - a) > tau):
            raise StrategyContractError(f"version-space answer {a!r} to {query.name!r} is consistent with no member")
        before, after = int(alive.sum()), int(kept.sum())
        rec = dict(name=query.name, kind=query.kind, tolerance=self.tolerance, answer=a, truth=None, truth_error=0.0,
                   failure_probability=0.0, strategy="version-space", in_band=True, key=ev.key,
                   extra={"survivors": after, "eliminated": before - after})
        return rec, kept

    @staticmethod
    def _digest(ev: _Evaluation):
        """What identifies a query's truth: equal digests mean a genuine repeat, not a key collision."""
        return ev.truth if ev.member_truths is None else hash(ev.member_truths.tobytes())

    def _resolve_key(self, ev: _Evaluation, seen: dict, alive):
        """(key, earlier record or None, collided): reuse an answer only if it is valid for this query.

        A genuine repeat (same key, same truth) gets its earlier answer. If a different query shares
        the key (a hash collision, or Monte Carlo keys of two functions that agree on the probe
        points), the earlier answer is reused only if it lies in this query's band; otherwise the
        query gets its own deterministic key and a fresh answer, so no answer leaves its band.
        """
        key, collided = ev.key, False
        for _ in range(16):
            prior = seen.get(key) or self._cache.get(key)
            if prior is None or prior["_digest"] == self._digest(ev) or self._valid_for(prior["answer"], ev, alive):
                return key, prior, collided
            collided = True
            key = _keys.alternative(key, self._digest(ev))
        raise StrategyContractError(f"could not find a fresh key for query with key {ev.key!r}")  # pragma: no cover

    def _valid_for(self, a: float, ev: _Evaluation, alive) -> bool:
        if ev.member_truths is not None:
            return bool(np.all(np.abs(ev.member_truths[alive] - a) <= self._vs_tolerance()))
        lo, hi, _ = self._band(ev)
        return lo <= a <= hi

    def _vs_tolerance(self) -> float:
        """tau minus the rounding error of the per-member truths (one FWHT: about d ulps)."""
        return self.tolerance - (self.domain.d + 64) * UNIT_ROUNDOFF

    def _commit(self, rec: dict, seconds: float) -> float:
        key = rec["key"]
        if key in self._cache:
            old = self._cache[key]
            rec = {**old, "name": rec["name"], "kind": rec["kind"], "cached": True,
                   "extra": {**old["extra"], **rec.get("extra", {})}}
        else:
            self._cache[key] = rec
        rec = {k: v for k, v in rec.items() if k not in ("index", "_digest")}
        rec["seconds"] = seconds
        self.ledger.append(**rec)
        return rec["answer"]

    def ask(self, query: Query) -> float:
        """Answer one query: a float within the oracle's band of E[phi(x, f(x))].

        Repeating a query (same key) returns the same answer and is recorded again with
        ``cached=True``. Raises :class:`QueryBudgetExceeded` before answering when the budget
        is spent, :class:`QueryRangeError` for a bad query; neither changes the ledger.
        """
        self._check_query(query)
        return float(self._run([query])[0])

    def ask_batch(self, queries) -> np.ndarray:
        """Answer many queries; equivalent to asking them in order (same answers, same records).

        ``queries`` is a sequence of queries and :class:`CharacterBatch` objects, or one
        CharacterBatch (answered by one Walsh-Hadamard transform, one record per member). The
        whole batch's budget is checked first; the batch is atomic: if any query is bad, nothing
        is recorded. A batch's time is shared equally by its records (``seconds``).
        """
        if isinstance(queries, Query) or not hasattr(queries, "__iter__"):
            raise InvalidParameterError(
                f"The 'queries' parameter of {self._caller}.ask_batch must be a sequence of queries or a "
                f"CharacterBatch. Got {show(queries)} instead (use ask for one query)."
            )
        items = [queries] if isinstance(queries, CharacterBatch) else list(queries)
        return self._run(items)

    def _run(self, items) -> np.ndarray:
        flat = [m for it in items for m in (it.members if isinstance(it, CharacterBatch) else [it])]
        for m in flat:
            self._check_query(m, "ask_batch")
        self.ledger.check_budget(len(flat))
        t0 = time.perf_counter()
        evals: list[_Evaluation] = []
        for it in items:
            if isinstance(it, CharacterBatch):
                if self.exact and not self.binary_queries and self._vs is None:
                    evals.extend(self._eval_batch(it))
                else:
                    evals.extend(self._evaluate(m) for m in it.members)
            else:
                evals.append(self._evaluate(it))
        # answer in order without committing, so a failing strategy leaves the ledger intact
        staged: list[dict] = []
        seen: dict[str, dict] = {}
        alive = None if self._vs is None else self._vs.alive
        for q, ev in zip(flat, evals):
            key, prior, collided = self._resolve_key(ev, seen, alive)
            ev.key = key
            extra = {"key_collision": True} if collided else {}
            if prior is not None:
                if alive is not None:  # a repeated answer eliminates nobody
                    extra.update(survivors=int(alive.sum()), eliminated=0)
                staged.append(dict(name=q.name, kind=q.kind, key=key, extra=extra))
                continue
            if self._vs is not None:
                rec, alive = self._answer_version_space(q, ev, alive)
            else:
                rec = self._answer(q, ev)
            rec["extra"].update(extra)
            rec["_digest"] = self._digest(ev)
            seen[key] = rec
            staged.append(rec)
        seconds = (time.perf_counter() - t0) / max(1, len(flat))
        answers = []
        for q, rec in zip(flat, staged):
            if self._vs is not None and rec["key"] not in self._cache:
                self._asked.append((q, rec["answer"]))
            answers.append(self._commit(rec, seconds))
        if self._vs is not None:
            self._vs.alive = alive
        return np.array(answers, dtype=np.float64)

    # ------------------------------------------------------------------ version space
    @property
    def survivors(self) -> int:
        """Number of family members consistent with every answer so far (version-space strategy)."""
        self._require_version_space("survivors")
        return int(self._vs.alive.sum())

    def _require_version_space(self, what):
        if self._vs is None:
            raise OracleStateError(f"{what} belongs to the version-space strategy; this oracle answers with "
                                   f"{self.strategy!r}.")

    def reveal(self, avoid=None):
        """Draw the target from the survivors (with the oracle's seed) and re-check every answer.

        Parameters
        ----------
        avoid : callable, optional
            A hypothesis: the target is drawn among survivors that differ from it somewhere on
            the domain whenever one exists (so a learner that stopped early is graded honestly).

        Every recorded answer is re-evaluated exactly against the drawn target (an independent
        code path from the one that chose the answers); a violation raises
        :class:`StrategyContractError`. The first call fixes the target; later calls return it,
        and asking further queries raises.
        """
        self._require_version_space("reveal()")
        if self._revealed is not None:
            return self._revealed
        alive = np.flatnonzero(self._vs.alive)
        candidates = alive
        if avoid is not None:
            h = np.asarray(avoid(self.domain.enumerate()), dtype=np.float64).reshape(-1)
            same = self._vs.equal_members(h)
            differ = alive[~same[alive]]
            if differ.size:
                candidates = differ
        rng = derived_rng(self._entropy, "reveal")
        target = self._vs.family.member(int(candidates[rng.integers(0, len(candidates))]))
        check = SQOracle(self.domain, target, self.tolerance, answers="exact")
        for q, a in self._asked:
            ev = check._evaluate(q)
            truth = ev.truth
            if abs(a - truth) > self.tolerance + ev.truth_error:
                raise StrategyContractError(
                    f"version-space answer {a!r} to {q.name!r} is {abs(a - truth):.3g} from the revealed target's "
                    f"truth {truth!r} (tolerance {self.tolerance})."
                )
        self._revealed = target
        return target

    # ------------------------------------------------------------------ grading
    def _grading_target(self):
        """The target for grading (never for answering): the concept, or the version space's revealed one."""
        return self.reveal() if self._vs is not None else self._target

    def _grade(self, hypothesis, *, n=100_000) -> dict:
        """Private grading hook used by ``Learner.learn`` after the learner returns.

        Not a query and never recorded. Enumerable finite domains: success iff the hypothesis
        equals the target on every point. Elsewhere: Boolean labels must agree on ``n`` fresh
        points; real labels need the one-sided Hoeffding upper bound (failure probability 1e-3)
        of E[(clip(h) - f)^2] to be at most 0.25 E[f^2] (DESIGN.md section 3, Learners).
        """
        if hypothesis is None:
            return {"success": False, "reason": "no hypothesis"}
        if getattr(hypothesis, "is_weak_predictor", False):
            # a weak learner (Theorem 3.2's B~) succeeds iff its advantage over the constant 1/2 is
            # positive at 4 standard errors (expected advantage over its internal draws)
            rep = hypothesis.advantage(self._grading_target())
            return {"success": bool(rep["advantage"] - 4 * rep["stderr"] > 0), **rep}
        if self._vs is not None:
            target = self.reveal(avoid=hypothesis)
            h = np.asarray(hypothesis(self.domain.enumerate()), dtype=np.float64).reshape(-1)
            y = np.asarray(target(self.domain.enumerate()), dtype=np.float64)
            mismatches = int(np.count_nonzero(np.abs(h - y) > 1e-9 * (1.0 + np.abs(y))))
            return {"success": mismatches == 0, "mismatches": mismatches, "points": self.domain.size,
                    "survivors": int(self._vs.alive.sum()), "revealed": repr(target)}
        if self.exact:
            mismatches = 0
            for codes, X in self.domain.chunks():
                h = np.asarray(hypothesis(X), dtype=np.float64).reshape(-1)
                y = self._ytab[codes]
                mismatches += int(np.count_nonzero(np.abs(h - y) > 1e-9 * (1.0 + np.abs(y))))
            return {"success": mismatches == 0, "mismatches": mismatches, "points": self.domain.size}
        structural = grade_structural(hypothesis, self._grading_target())
        if structural is not None:
            return structural
        rng = derived_rng(self._entropy, "grade")
        X = self.domain._sample(n, rng)
        y = self._labels(X)
        h = np.asarray(hypothesis(X), dtype=np.float64).reshape(-1)
        if self.boolean_labels:
            mismatches = int(np.count_nonzero(h != y))
            return {"success": mismatches == 0, "mismatches": mismatches, "points": n}
        return grade_real(h, y, (float(y.min()), float(y.max())) if getattr(self._target, "range", None) is None
                          else tuple(self._target.range))

    def __repr__(self):
        return (f"{type(self).__name__}({self.domain!r}, {self._band_repr()}, answers={self.strategy!r}, "
                f"queries={len(self.ledger)})")


@export
class SQOracle(_BaseOracle):
    """The statistical-query oracle STAT(tau) (Kearns 1998; MATH.md section 1).

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
        - ``"noisy"``: truth plus uniform noise in the band, fixed per (seed, query key);
        - ``"rounded"``: truth rounded to the grid tau Z;
        - ``"adversarial"``: the null adversary of the parity lower bound (MATH.md M1, M2);
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
            self._check_samples(self._truth_n(), "Monte Carlo truths")
            eps = hoeffding_error(self._truth_n(), self.failure_probability)
            if eps >= self.tolerance:
                raise InvalidParameterError(
                    f"The 'truth_samples' parameter of SQOracle must make the Monte Carlo error bound "
                    f"({eps:.4g} at failure probability {self.failure_probability}) smaller than the tolerance "
                    f"{self.tolerance}. Got {show(truth_samples)} instead."
                )

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
class VSTATOracle(_BaseOracle):
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
            self._check_samples(self._truth_n(), "Monte Carlo truths")
            eps = hoeffding_error(self._truth_n(), self.failure_probability, 1.0)
            if eps >= 1.0 / self.t:
                raise InvalidParameterError(
                    f"The 'truth_samples' parameter of VSTATOracle must make the Monte Carlo error bound "
                    f"({eps:.4g}) smaller than 1/t = {1 / self.t:.4g}. Got {show(truth_samples)} instead."
                )

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
        """Examples for the sampled strategy: ceil(8 t ln(2/delta) / 3) (Bernstein, MATH.md section 1)."""
        return max(1, math.ceil(8.0 * self.t * math.log(2.0 / delta) / 3.0))

    def _band_repr(self):
        return f"t={self.t}"
