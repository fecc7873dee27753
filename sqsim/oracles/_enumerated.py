"""Exact truths by enumeration of a finite domain (docs: DESIGN.md section 5; MATH.md section 1, M1).

The target's label table is built once at construction; a query's truth, its null expectation and
its key come from one pass over the domain per label value (the query never sees a true label beside
its point, except for targets with more distinct labels than ``max_label_values``). Characters use
the popcount kernel, character batches one Walsh-Hadamard transform, Numba queries the fused kernel.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _keys
from .._domains import BooleanCube
from .._errors import QueryRangeError
from .._kernels import cube as kcube
from .._kernels import pick
from .._kernels import walsh as kwalsh
from .._kernels.bits import pack_bits
from .._queries import Character, CharacterBatch, NumbaQuery
from ._evaluation import Evaluation
from ._pointwise import check_pointwise
from ._probes import ProbeSet
from ._sampling import Sampler

UNIT_ROUNDOFF = 2.0**-53
#: rounding-error bound of an enumerated (non-integer) truth, per unit of max |phi| <= 1: compensated or
#: pairwise block sums (a few ulps each) added exactly with math.fsum, then one division
EXACT_FP_ERROR = 64 * UNIT_ROUNDOFF


def block_bits(n: int, cap: int = 12) -> int:
    return min(int(n).bit_length() - 1, cap)


_KEY_TOTALS: dict[tuple[int, int], int] = {}


def key_total(vi: int, n: int) -> int:
    """P_v = sum_c index_mix(v n + c) mod 2^64 (the empty character's key sum), computed once per (v, n)."""
    if (vi, n) not in _KEY_TOTALS:
        _KEY_TOTALS[(vi, n)] = int(pick(kcube.character_key_sum, n)(0, vi, n, block_bits(n)))
    return _KEY_TOTALS[(vi, n)]


class LabelTable:
    """The target's labels on every point (code order), their distinct values and marginal."""

    def __init__(self, domain, target, max_label_values: int):
        N = domain.size
        hook = target.attribute("labels_from_codes")
        if hook is not None and isinstance(domain, BooleanCube):
            y = np.asarray(hook(np.arange(N, dtype=np.int64)), dtype=np.float64)
        else:
            y = np.empty(N, dtype=np.float64)
            for codes, X in domain.chunks():
                y[codes[0] : codes[-1] + 1] = target.labels(X)
        vals, idx = np.unique(y, return_inverse=True)
        self.y = y
        self.distinct = len(vals)
        if len(vals) <= max_label_values:
            self.values, self.index = vals, idx.astype(np.int32)
            self.marginal = np.bincount(idx, minlength=len(vals)) / N
        else:
            self.values = self.index = self.marginal = None
        self.boolean = bool(np.all((y == 0.0) | (y == 1.0)))
        self._packed = None

    def packed(self) -> np.ndarray:
        if self._packed is None:
            self._packed = pack_bits(self.y)
        return self._packed


class EnumeratedEngine:
    """Truths, nulls and keys of queries on an enumerable finite domain."""

    exact = True

    def __init__(self, domain, target, *, max_label_values: int, binary: bool, entropy: int):
        self.domain, self.binary = domain, bool(binary)
        self.table = LabelTable(domain, target, max_label_values)
        self.boolean_labels = self.table.boolean
        self.probes = ProbeSet(domain, entropy, self.boolean_labels, target.attribute("range"))
        self.context = f"{domain!r}|" + (
            "labels:" + ",".join(repr(float(v)) for v in self.table.values) if self.table.values is not None
            else f"boolean:{self.boolean_labels}")
        #: the sampled strategy's means (and the decoy stream of the pointwise check)
        self.sampler = Sampler(domain, target, self.boolean_labels, self.binary, entropy)

    @property
    def truth_points(self) -> int:
        return self.domain.size

    # ------------------------------------------------------------------ dispatch
    def evaluate(self, query) -> Evaluation:
        if isinstance(query, Character) and not self.binary:
            return self._character(query)
        if isinstance(query, NumbaQuery) and not self.binary and self.table.values is not None:
            return self._fused(query)
        return self._enumerated(query)

    def evaluate_batch(self, batch: CharacterBatch) -> list[Evaluation]:
        """Every member of a character batch from one Walsh-Hadamard transform (MATH.md M1)."""
        self.require_boolean(batch.members[0] if len(batch) else Character(self.domain.d, []))
        N = self.domain.size
        bb = block_bits(N, kwalsh.BLOCK_BITS)
        lv = self.table.values
        spectrum = pick(kwalsh.fwht_inplace, N)(1.0 - 2.0 * self.table.y, bb)
        codes = batch.codes
        Qtab = [pick(kwalsh.fwht_inplace, N)(pick(kcube.key_table, N)(vi, N), bb)[codes] for vi in range(len(lv))]
        P = [key_total(vi, N) for vi in range(len(lv))]
        signs = [int(1 - 2 * v) for v in lv]
        out = []
        for i, m in enumerate(batch.members):
            h = _keys.character_hash(P, [int(Qtab[vi][i]) for vi in range(len(lv))], signs)
            pieces = np.array([(1 - 2 * v) * (N if m.code == 0 else 0) for v in lv], dtype=np.float64)
            out.append(Evaluation(float(spectrum[m.code] / N), 0.0, 0.0, _keys.finalize(self.context, h),
                                  self._null(pieces), self._character_noise(m.code)))
        return out

    def require_boolean(self, query):
        if not self.boolean_labels:
            raise QueryRangeError(
                f"Query {query.name!r} is a character correlation (1 - 2y) chi_S(x), defined for labels in {{0, 1}}; "
                f"this target's labels are not Boolean."
            )

    def _null(self, pieces: np.ndarray) -> float:
        """E_null = sum_v P[f = v] E_x[phi(x, v)] (MATH.md section 1, "Null distributions")."""
        return float(np.dot(self.table.marginal, pieces / self.domain.size))

    def _character_noise(self, code):
        return lambda: self.probes.character_values(code)

    def _query_noise(self, query):
        return lambda: self.probes.values(query, self.binary)

    # ------------------------------------------------------------------ structured
    def _character(self, query: Character) -> Evaluation:
        self.require_boolean(query)
        N, lv = self.domain.size, self.table.values
        bb = block_bits(N)
        truth = pick(kcube.character_sum, N)(query.code, self.table.packed(), N) / N
        pieces = np.array([(1 - 2 * v) * (N if query.code == 0 else 0) for v in lv], dtype=np.float64)
        P = [key_total(vi, N) for vi in range(len(lv))]
        Q = [int(pick(kcube.character_key_sum, N)(query.code, vi, N, bb)) for vi in range(len(lv))]
        h = _keys.character_hash(P, Q, [int(1 - 2 * v) for v in lv])
        return Evaluation(float(truth), 0.0, 0.0, _keys.finalize(self.context, h), self._null(pieces),
                          self._character_noise(query.code))

    def _fused(self, query: NumbaQuery) -> Evaluation:
        N = self.domain.size
        query._set_params(self.boolean_labels)
        truth, null, h, bad, badval = pick(kcube.fused_query_pass, N)(
            query.fn, query.params, self.domain.d, self.domain.base, self.table.index, self.table.values, 4096)
        if bad >= 0:
            x = self.domain.decode(np.array([bad]))[0].tolist()
            raise QueryRangeError(f"Query {query.name!r} must return values in [-1, 1]. Got {badval!r} at x={x} instead.")
        return Evaluation(math.fsum(truth) / N, EXACT_FP_ERROR, 0.0, _keys.finalize(self.context, int(h)),
                          self._null(null.sum(axis=0)), self._query_noise(query))

    # ------------------------------------------------------------------ plain queries
    def _where(self, codes, y):
        """Describe batch row i as a domain point and label, for QueryRangeError messages."""
        return lambda i: f"x={self.domain.decode(codes[i : i + 1])[0].tolist()}, y={float(y[i])!r}"

    def label_values(self, query, binary: bool = False):
        """Yield (codes, label index v, phi(x, label v)) chunk by chunk over the enumerated domain."""
        for codes, X in self.domain.chunks():
            for vi, v in enumerate(self.table.values):
                y = np.full(codes.shape[0], v)
                yield codes, vi, query.values(X, y, self.boolean_labels, binary=binary, where=self._where(codes, y))

    def value_tables(self, query) -> np.ndarray:
        """phi(x, v) for every point x (code order) and label value v: shape (V, N)."""
        tables = np.empty((len(self.table.values), self.domain.size))
        for codes, vi, vals in self.label_values(query):
            tables[vi, codes[0] : codes[-1] + 1] = vals
        return tables

    def _enumerated(self, query) -> Evaluation:
        N, binary, ytab = self.domain.size, self.binary, self.table.y
        if self.table.values is None:
            # too many distinct labels: the query sees phi(x, f(x)), so it is checked to be pointwise; the
            # key hashes those values; no null distribution
            parts, h = [], 0
            for codes, X in self.domain.chunks():
                vals = query.values(X, ytab[codes], self.boolean_labels, binary=binary,
                                    where=self._where(codes, ytab[codes]))
                if codes[0] == 0:
                    check_pointwise(query, X, ytab[codes], vals, self.domain, self.sampler.decoys, self.boolean_labels,
                                    binary)
                parts.append(float(np.sum(vals)))
                h += _keys.label_hash(vals, 0, N, codes)
            return Evaluation(math.fsum(parts) / N, EXACT_FP_ERROR, 0.0, _keys.finalize(self.context, h & _keys.MASK),
                              None, self._query_noise(query))
        pieces = [[] for _ in self.table.values]
        truth = []
        h = 0
        for codes, vi, vals in self.label_values(query, binary):
            pieces[vi].append(float(np.sum(vals)))  # numpy's pairwise sum, then math.fsum
            truth.append(float(np.sum(vals[self.table.index[codes] == vi])))
            h += _keys.label_hash(vals, vi, N, codes)
        return Evaluation(math.fsum(truth) / N, EXACT_FP_ERROR, 0.0, _keys.finalize(self.context, h & _keys.MASK),
                          self._null(np.array([math.fsum(p) for p in pieces])), self._query_noise(query))
