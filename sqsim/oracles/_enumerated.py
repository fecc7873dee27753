"""Exact truths by enumeration of a finite domain (docs/theory/sq-model.md, section sq-m1).

The target's label table is built once at construction; a plain query's truth, its null expectation
and its key come from one pass over the domain per label value (the query never sees a true label
beside its point, except for targets with more distinct labels than ``max_label_values``); Numba
queries run in the fused kernel.

Structured queries on the Boolean cube (:class:`Character`, :class:`LabelCharacter`, the members of a
:class:`CharacterBatch`) make no pass over the domain: at the first one, the engine computes the
target's Walsh spectrum once and takes the integer Walsh-Hadamard transforms of the key weights
(shared by every oracle of the same size), and then answers truth, key, null and noise features by
lookups (docs/theory/structured-queries.md). Memory policy: the spectrum is one float64 per point
(8 2^d bytes: 32 MiB at d = 22, 128 MiB at d = 24), held by the engine; the key transforms are one
uint64 per point and label value, kept process-wide in a least-recently-used cache of at most
:data:`KEY_SPECTRA_BYTES` (1 GiB; an engine keeps its own two alive while it lives). Domains larger
than :data:`STRUCTURED_MAX_POINTS` (2^24, only reachable by raising ``max_enumeration``) keep the
per-query kernels: one popcount pass for the truth and one key pass per label value.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from .. import _keys
from .._domains import BooleanCube
from .._errors import QueryRangeError
from .._kernels import cube as kcube
from .._kernels import pick
from .._kernels import walsh as kwalsh
from .._kernels.bits import pack_bits
from .._queries import Character, CharacterBatch, LabelCharacter, NumbaQuery
from ._evaluation import CHARACTER_WEIGHTS, Evaluation
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


#: the largest domain whose structured tables are built (larger ones use the per-query kernels)
STRUCTURED_MAX_POINTS = 2**24
#: bytes of key transforms kept process-wide (least recently used ones are dropped first)
KEY_SPECTRA_BYTES = 2**30
_KEY_SPECTRA: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()


def key_spectrum(vi: int, n: int) -> np.ndarray:
    """Q_v(S) = sum_c index_mix(v n + c) (-1)^{|S & c|} mod 2^64 for every S (read-only uint64, length n).

    Entry 0 is the key total P_v. Target-independent: one transform per (label index, domain size) serves
    every oracle; cached process-wide within :data:`KEY_SPECTRA_BYTES`.
    """
    k = (int(vi), int(n))
    tab = _KEY_SPECTRA.get(k)
    if tab is not None:
        _KEY_SPECTRA.move_to_end(k)
        return tab
    tab = pick(kwalsh.fwht_inplace, n)(pick(kcube.key_table, n)(vi, n), block_bits(n, kwalsh.BLOCK_BITS))
    tab.flags.writeable = False
    _KEY_SPECTRA[k] = tab
    while sum(t.nbytes for t in _KEY_SPECTRA.values()) > KEY_SPECTRA_BYTES and len(_KEY_SPECTRA) > 1:
        _KEY_SPECTRA.popitem(last=False)
    return tab


class _Structure:
    """The lookup tables of structured queries on one enumerated Boolean cube (built once per engine)."""

    __slots__ = ("spec", "Q", "P", "labels", "signs", "g_plus", "g_minus", "null_empty", "null_other", "n", "c0",
                 "dq", "finalize", "weights")

    def __init__(self, engine):
        table = engine.table
        N = engine.domain.size
        self.n = N
        #: F(S) N = sum_c (1 - 2 f(c)) (-1)^{|S & c|}: integers of magnitude <= N <= 2^24, exact in float64
        self.spec = pick(kwalsh.fwht_inplace, N)(1.0 - 2.0 * table.y, block_bits(N, kwalsh.BLOCK_BITS))
        self.spec.flags.writeable = False
        self.labels = [int(v) for v in table.values]  # the label values present (0 and/or 1)
        self.Q = [key_spectrum(vi, N) for vi in range(len(self.labels))]
        self.P = [int(q[0]) for q in self.Q]
        self.signs = [1 - 2 * v for v in self.labels]
        self.g_plus = [_keys.G_PLUS if s > 0 else _keys.G_MINUS for s in self.signs]
        self.g_minus = [_keys.G_MINUS if s > 0 else _keys.G_PLUS for s in self.signs]
        self.null_empty = engine._null(np.array([s * N for s in self.signs], dtype=np.float64))
        self.null_other = engine._null(np.zeros(len(self.labels)))
        # a character's H = sum_v g+ (P + Q) + g- (P - Q) = c0 + sum_v (g+ - g-) Q_v (mod 2^64)
        self.c0 = sum((gp + gm) * p for gp, gm, p in zip(self.g_plus, self.g_minus, self.P)) & _keys.MASK
        self.dq = [(gp - gm) & _keys.MASK for gp, gm in zip(self.g_plus, self.g_minus)]
        self.finalize = _keys.finalizer(engine.context)
        #: label-character constants by weight pair (see weight_constants)
        self.weights: dict[tuple[float, float], tuple] = {}

    def weight_constants(self, w) -> tuple:
        """(m_0, m_1, den, c0, dq) of weights (w_0, w_1): w_v = m_v N / den exactly (den = N times the larger
        power-of-two denominator), and the key H = c0 + sum_v dq_v Q_v(S) mod 2^64 of the table w_v chi_S."""
        (p0, q0), (p1, q1) = w[0].as_integer_ratio(), w[1].as_integer_ratio()  # q0, q1 powers of two
        q = max(q0, q1)
        gp = [_keys.value_hash(w[v]) for v in self.labels]
        gm = [_keys.value_hash(-w[v]) for v in self.labels]
        c0 = sum((a + b) * p for a, b, p in zip(gp, gm, self.P)) & _keys.MASK
        dq = [(a - b) & _keys.MASK for a, b in zip(gp, gm)]
        c = (p0 * (q // q0), p1 * (q // q1), q * self.n, c0, dq)
        if len(self.weights) >= 4096:
            self.weights.clear()
        self.weights[w] = c
        return c


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
        self._structure = None
        #: whether Character and LabelCharacter queries are answered by lookups (docs/theory/structured-queries.md)
        self.structured = (isinstance(domain, BooleanCube) and not self.binary and self.boolean_labels
                           and self.table.values is not None and domain.size <= STRUCTURED_MAX_POINTS)

    @property
    def truth_points(self) -> int:
        return self.domain.size

    # ------------------------------------------------------------------ dispatch
    def evaluate(self, query) -> Evaluation:
        t = type(query)
        if self.structured and (t is Character or t is LabelCharacter):
            return self.character(query) if t is Character else self.label_character(query)
        if isinstance(query, Character) and not self.binary and self.table.values is not None:
            return self._character(query)
        if isinstance(query, NumbaQuery) and not self.binary and self.table.values is not None:
            return self._fused(query)
        return self._enumerated(query)

    def evaluate_batch(self, batch: CharacterBatch) -> list[Evaluation]:
        """Every member of a character batch, each exactly as if asked alone (lookups; docs/theory/sq-model.md, section sq-m1)."""
        self.require_boolean(batch.members[0] if len(batch) else Character(self.domain.d, []))
        return [self.evaluate(m) for m in batch.members]

    def require_boolean(self, query):
        if not self.boolean_labels:
            raise QueryRangeError(
                f"Query {query.name!r} is a character correlation (1 - 2y) chi_S(x), defined for labels in {{0, 1}}; "
                f"this target's labels are not Boolean."
            )

    def _null(self, pieces: np.ndarray) -> float:
        """E_null = sum_v P[f = v] E_x[phi(x, v)] (docs/theory/sq-model.md, section sq-null)."""
        return float(np.dot(self.table.marginal, pieces / self.domain.size))

    def _character_noise(self, code):
        return lambda: self.probes.character_values(code)

    def _query_noise(self, query):
        return lambda: self.probes.values(query, self.binary)

    # ------------------------------------------------------------------ structured
    def tables(self) -> _Structure:
        """The structured lookup tables, built at the first structured query."""
        st = self._structure
        if st is None:
            st = self._structure = _Structure(self)
        return st

    def character(self, query: Character) -> Evaluation:
        """A character's truth F(S), key, null and probe values by lookups (``structured`` engines only)."""
        st = self._structure or self.tables()
        code = query.code
        h = st.c0
        for q, dq in zip(st.Q, st.dq):
            h += dq * q.item(code)
        return Evaluation(st.spec.item(code) / st.n + 0.0, 0.0, 0.0, self._finalize(h & _keys.MASK),
                          st.null_empty if code == 0 else st.null_other,
                          lambda: self.probes.character_vector(code), probe_weights=CHARACTER_WEIGHTS)

    def label_character(self, query: LabelCharacter) -> Evaluation:
        """phi = w_y chi_S(x): truth (w_0 n_0 + w_1 n_1) / N, correctly rounded, with n_0 + n_1 = N [S = {}]
        and n_0 - n_1 = N F(S); the key of the table w_v chi_S; the null sum_v P[f = v] w_v [S = {}]
        (docs/theory/structured-queries.md)."""
        st = self._structure or self.tables()
        code = query.code
        N = st.n
        w = query.weights
        c = st.weights.get(w)
        if c is None:
            c = st.weight_constants(w)
        m0, m1, den, c0, dq = c
        total = N if code == 0 else 0
        F = int(st.spec.item(code))
        num = m0 * ((total + F) // 2) + m1 * ((total - F) // 2)  # w_0 n_0 + w_1 n_1, times den / N
        truth = num / den + 0.0  # int / int is correctly rounded
        a, b = truth.as_integer_ratio()
        err = 0.0 if a * den == num * b else UNIT_ROUNDOFF
        h = c0
        for q, d in zip(st.Q, dq):
            h += d * q.item(code)
        null = (self._null(np.array([w[v] * N for v in st.labels], dtype=np.float64)) if code == 0
                else st.null_other)
        return Evaluation(truth, err, 0.0, self._finalize(h & _keys.MASK), null,
                          lambda: self.probes.label_character_values(code, w), probe_weights=w)

    def _finalize(self, h: int) -> str:
        return self._structure.finalize(h)

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
