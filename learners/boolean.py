"""Boolean learners beyond brute force (docs/theory/sq-model.md): LMN, elimination, the cheats, version-space search."""

from __future__ import annotations

import functools
import math

import numpy as np

from sqsim import CharacterBatch, InvalidParameterError, Query
from sqsim._kernels.bits import parity_np
from sqsim._learning import Learner
from sqsim._random import check_rng
from sqsim._validation import Interval, NoneOk, check_param
from sqsim.concepts import Parity

from ._base import register

__all__ = ["SignHypothesis", "LowDegree", "GF2Elimination", "ExactCheat", "VersionSpaceSearch", "exact_cheat_phi",
           "mixture_phi"]


def _support(code: int, d: int) -> list[int]:
    return [j for j in range(d) if (int(code) >> j) & 1]


def _require_tolerance(oracle, below: float, who: str):
    tol = getattr(oracle, "tolerance", None)
    if tol is None or not tol < below:
        raise InvalidParameterError(
            f"The 'oracle' parameter of {who}.learn must have tolerance < {below:g}. Got {tol!r} instead."
        )
    return float(tol)


class SignHypothesis:
    """x -> 1[sum_S c_S (-1)^{S.x} < 0]: the 0/1 predictor of a +-1 Fourier expansion (LMN)."""

    def __init__(self, d: int, codes, coefficients: np.ndarray):
        self.d = d
        self.codes = np.array([int(c) for c in codes], dtype=np.int64 if d <= 62 else object)
        self.coefficients = np.asarray(coefficients, dtype=np.float64)

    def __call__(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.int64)
        s = np.zeros(X.shape[0])
        for c, a in zip(self.codes, self.coefficients):
            cols = _support(c, self.d)
            par = X[:, cols].sum(axis=1) & 1 if cols else np.zeros(X.shape[0], dtype=np.int64)
            s += a * (1.0 - 2.0 * par)
        return (s < 0).astype(np.int64)

    def __repr__(self):
        return f"SignHypothesis(d={self.d}, terms={len(self.codes)})"


@register("low-degree")
class LowDegree(Learner):
    """The Linial-Mansour-Nisan low-degree algorithm (LMN 1993; docs/theory/sq-model.md, section sq-low-degree).

    Asks all sum_{i <= k} C(d, i) characters chi_S with |S| <= k as one
    :class:`~sqsim.CharacterBatch` (one Walsh-Hadamard pass, one ledger record per member), so the
    estimates c_S are within tau of f'^(S) = E[(1 - 2f)(-1)^{S.x}].

    * A parity of size <= k has exactly one coefficient 1 and the rest 0. When the answers are
      consistent with that (the coefficient of largest magnitude is within tau of 1, every other
      within tau of 0: with tau < 1/2 at most one parity qualifies), the hypothesis is that
      :class:`~sqsim.concepts.Parity`.
    * Otherwise the hypothesis is textbook LMN: the sign of the whole degree-<=k estimate,
      x -> 1[sum_{|S| <= k} c_S (-1)^{S.x} < 0] (a :class:`SignHypothesis` over every coefficient).
      Its error is at most the Fourier mass of f' above degree k plus the estimation error
      (LMN 1993), so it learns juntas of size <= k exactly for small tau and approximates
      functions whose spectrum concentrates on low degrees.

    ``details``: ``k``, ``coefficients`` (how many were asked), ``largest`` (the estimate of largest
    magnitude) and ``kept`` (coefficients in the hypothesis: 1 for a parity, all of them otherwise).

    Parameters
    ----------
    k : int, default 2
        Largest degree.
    """

    def __init__(self, *, k=2):
        check_param("k", k, Interval(int, 0, None), "LowDegree")
        self.k = int(k)

    def _learn(self, oracle):
        tau = _require_tolerance(oracle, 0.5, "LowDegree")
        d = oracle.domain.d
        batch = CharacterBatch(d, max_size=min(self.k, d))
        c = oracle.ask_batch(batch)
        codes = batch.codes
        top = int(np.argmax(np.abs(c)))
        details = {"k": self.k, "coefficients": len(c), "largest": float(c[top])}
        slack = tau * (1 + 1e-9) + 1e-12  # in-band answers at the band's edge, up to rounding
        rest = np.delete(np.abs(c), top)
        if c[top] >= 1.0 - slack and (rest <= slack).all():
            return Parity(d, _support(codes[top], d)), {**details, "kept": 1}
        return SignHypothesis(d, codes, c), {**details, "kept": len(c)}


class _GF2Basis:
    """Row echelon form over GF(2) of (x | y) rows, x as Python-int bit masks (any d)."""

    def __init__(self, d: int):
        self.d = d
        self.rows: dict[int, tuple[int, int]] = {}  # pivot bit -> (mask, label)

    def add(self, mask: int, label: int) -> bool:
        for p in sorted(self.rows, reverse=True):
            if (mask >> p) & 1:
                m, b = self.rows[p]
                mask ^= m
                label ^= b
        if mask == 0:
            return False
        self.rows[mask.bit_length() - 1] = (mask, label)
        return True

    def solve(self) -> int:
        """The unique support code s with <s, x> = y on every row (requires full rank)."""
        s = 0
        for p in sorted(self.rows):  # each row's other bits are below its pivot
            m, b = self.rows[p]
            rest = m & ~(1 << p)
            if (bin(rest & s).count("1") & 1) != b:
                s |= 1 << p
        return s


@register("gf2-elimination")
class GF2Elimination(Learner):
    """Gaussian elimination over GF(2) on labelled examples: not an SQ algorithm (docs/theory/sq-model.md, section sq-examples).

    Each example (x, chi_S(x)) is a linear equation <S, x> = y over GF(2). The learner draws
    examples one batch at a time from an :class:`~sqsim.ExampleOracle` until the equations have
    rank d, then solves for S. The expected number beyond d is below 1.61 (the probability that
    d + t uniform vectors span GF(2)^d is prod_{i > t} (1 - 2^-i)), so about d + 2 examples: the
    SQ lower bound 2^d tau^2 is about queries, not computation or samples.

    Parameters
    ----------
    batch : int, default 1
        Examples drawn per call after the first d.
    max_examples : int, optional
        Give up (hypothesis None) after this many examples; default 4 d + 64.
    """

    oracle_kinds = ("example",)

    def __init__(self, *, batch=1, max_examples=None):
        check_param("batch", batch, Interval(int, 1, None), "GF2Elimination")
        check_param("max_examples", max_examples, [Interval(int, 1, None), NoneOk], "GF2Elimination")
        self.batch, self.max_examples = int(batch), max_examples

    def _learn(self, oracle):
        d = oracle.domain.d
        cap = self.max_examples if self.max_examples is not None else 4 * d + 64
        basis = _GF2Basis(d)
        weights = [1 << j for j in range(d)]
        drawn = 0
        n = min(d, cap)
        while len(basis.rows) < d and drawn < cap:
            X, y = oracle.draw(n)
            drawn += n
            for row, label in zip(np.asarray(X, dtype=np.int64), np.asarray(y, dtype=np.int64)):
                basis.add(sum(w for w, b in zip(weights, row) if b), int(label) & 1)
            n = min(self.batch, cap - drawn)
        details = {"examples": drawn, "rank": len(basis.rows)}
        if len(basis.rows) < d:
            return None, details
        return Parity(d, _support(basis.solve(), d)), details


def exact_cheat_phi(X, y, weights):
    """(1 - 2y) sum_i weights_i 1[x = e_i]: the exact-answer cheat's query (module level: importable)."""
    X = np.asarray(X)
    unit = X.sum(axis=1) == 1
    idx = np.argmax(X, axis=1)
    return (1.0 - 2.0 * np.asarray(y, dtype=np.float64)) * np.where(unit, np.asarray(weights)[idx], 0.0)


def mixture_phi(X, y, codes):
    """(1 - 2y) (1/|A|) sum_{T in A} (-1)^{T.x}: version-space-search's mixture query (importable)."""
    X = np.asarray(X, dtype=np.int64)
    c = X @ (np.int64(1) << np.arange(X.shape[1], dtype=np.int64))
    g = np.zeros(c.shape[0])
    for t in np.asarray(codes, dtype=np.int64):
        g += 1.0 - 2.0 * parity_np(c & t)
    return (1.0 - 2.0 * np.asarray(y, dtype=np.float64)) * g / len(codes)


@register("exact-cheat")
class ExactCheat(Learner):
    """One query whose exact answer spells the support in binary (docs/theory/sq-model.md, section sq-exact-cheat).

    phi(x, y) = (1 - 2y) sum_{i=1}^{d} 2^-i 1[x = e_i] has E = 2^-d sum_i 2^-i (1 - 2 chi_S(e_i)),
    whose signed binary digits are S (exact in double precision for d <= 50). With the exact
    strategy it identifies the parity at any tolerance; against the null adversary the answer is
    0 whenever tau >= 2^-d and the decoded support is wrong: the tolerance, not the query count,
    is the model. The learner reports what it decoded; the framework grades it.
    """

    def _learn(self, oracle):
        d = oracle.domain.d
        if d > 50 or not oracle.domain.enumerable:
            raise InvalidParameterError(
                f"The 'oracle' parameter of ExactCheat.learn must be over an enumerable cube with d <= 50 (exact "
                f"answers in double precision; larger cubes get Monte Carlo truths). Got {oracle.domain!r} instead.")
        weights = np.array([2.0 ** -(i + 1) for i in range(d)])
        # an importable function with its parameters, so the query can cross a process boundary
        a = oracle.ask(Query(functools.partial(exact_cheat_phi, weights=weights), name="exact-cheat", kind="csq"))
        # a 2^d = (1 - 2^-d) - 2 B with B = sum_i 2^-i b_i, b_i = 1[i - 1 in S]
        B = ((1.0 - 2.0**-d) - a * 2.0**d) / 2.0
        word = int(round(B * 2.0**d))
        word = min(max(word, 0), 2**d - 1)
        support = [i for i in range(d) if (word >> (d - 1 - i)) & 1]
        return Parity(d, support), {"answer": a, "decoded_word": word}


@register("version-space-search")
class VersionSpaceSearch(Learner):
    """Adaptive search over a parity class that halves the consistent set when the oracle lets it.

    The learner keeps its own version space V (parities consistent with every answer, |v_c - a| <=
    tau). Candidate queries are correlational mixtures phi_A = (1 - 2y) (1/|A|) sum_{T in A}
    (-1)^{T.x} for random subsets A of V; by (M1) their truth for member c is 1[c in A] / |A|.
    Each step asks, from the pool, the query whose worst in-band answer (the sliding window of
    width 2 tau keeping the most members, which is what the version-space adversary picks)
    leaves the fewest survivors. Parseval caps what any query can do: against the version-space
    or null adversary a query removes at most ceil(1/tau^2) - 1 members, so the count is at least
    the exact-identification bound ceil((|C| - 1) / (ceil(1/tau^2) - 1)) (docs/theory/bounds.md, section bounds-search), while an exact oracle lets it
    halve V only as far as |A| < 1/(2 tau) allows.

    Parameters
    ----------
    max_size : int, optional
        The class is Parities(d, max_size) (all 2^d parities by default).
    pool : int, default 8
        Random candidate subsets per mixture size.
    seed : int, numpy Generator or None
    """

    def __init__(self, *, max_size=None, pool=8, seed=None):
        check_param("max_size", max_size, [Interval(int, 0, None), NoneOk], "VersionSpaceSearch")
        check_param("pool", pool, Interval(int, 1, None), "VersionSpaceSearch")
        check_rng(seed, "VersionSpaceSearch")
        self.max_size, self.pool, self.seed = max_size, int(pool), seed

    @staticmethod
    def _worst_survivors(v: np.ndarray, tau: float) -> int:
        """max over answers a of |{c : |v_c - a| <= tau}| (sliding window over the sorted truths)."""
        s = np.sort(v)
        hi = np.searchsorted(s, s + 2 * tau, side="right")
        return int((hi - np.arange(len(s))).max())

    def _learn(self, oracle):
        from sqsim.concepts import Parities

        tau = _require_tolerance(oracle, 0.5, "VersionSpaceSearch")
        d = oracle.domain.d
        codes = Parities(d, self.max_size).codes()
        rng = check_rng(self.seed, "VersionSpaceSearch")
        alive = np.ones(len(codes), dtype=bool)
        m_max = max(1, math.ceil(1.0 / (2.0 * tau)) - 1)  # 1/m > 2 tau: "in A" and "not in A" separate
        history = []
        while alive.sum() > 1:
            idx = np.flatnonzero(alive)
            best = None
            sizes = sorted({min(m, len(idx) // 2 or 1) for m in (1, 2, 4, 8, 16, m_max)} | {min(m_max, len(idx) // 2 or 1)})
            for m in sizes:
                for _ in range(self.pool if m < len(idx) else 1):
                    A = rng.choice(idx, size=m, replace=False)
                    v = np.zeros(len(idx))
                    v[np.searchsorted(idx, np.sort(A))] = 1.0 / m
                    worst = self._worst_survivors(v, tau)
                    if best is None or worst < best[0]:
                        best = (worst, A)
            A = np.sort(best[1])
            phi = functools.partial(mixture_phi, codes=np.asarray(codes[A], dtype=np.int64))
            a = oracle.ask(Query(phi, name=f"mixture[{len(A)}]", kind="csq"))
            truth = np.where(np.isin(idx, A), 1.0 / len(A), 0.0)
            keep = np.abs(truth - a) <= tau * (1 + 1e-9) + 1e-12
            alive[idx[~keep]] = False
            history.append(int(alive.sum()))
            if not alive.any():
                return None, {"survivors": history, "reason": "no parity is consistent with the answers"}
        i = int(np.flatnonzero(alive)[0])
        return Parity(d, _support(codes[i], d)), {"survivors": history, "class_size": len(codes)}
