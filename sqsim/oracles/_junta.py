"""Exact truths of junta queries on cubes beyond the enumeration guard (docs/theory/juntas.md).

A query that declares the coordinates it reads (``Query(..., reads=R)``; characters read their support)
and a target that declares its support T (:class:`~sqsim.concepts.Parity`,
:class:`~sqsim.concepts.Junta`, any concept with ``.support``) depend jointly on x_U, U = R | T, only.
Under the uniform product distribution the other coordinates are independent of x_U, so

    E_x[phi(x, f(x))] = b^-|U| sum_{u in [b]^|U|} phi(u, f(u))      (every other coordinate at 0)

is exact, and so is the null sum_v P[f = v] E_x[phi(x, v)]: the engine enumerates the b^|U| patterns
of x_U (at most :data:`JUNTA_MAX_POINTS`), never all b^d points. Like the enumerated engine it is
label-blind: the query sees every pattern with each label value v of the target (constant label
columns), never a true label beside its point.

Characters and label characters (phi = w_y (-1)^{S.x}) need no pass at all: their truth is 0 unless
S is inside T, and otherwise the Walsh coefficient of 1 - 2f on x_T (one Walsh-Hadamard transform of
the 2^|T| label signs, computed once per oracle; docs/theory/juntas.md, section juntas-characters).

Declared reads are checked, not trusted: every pattern is evaluated a second time with the unread
coordinates filled with seeded random digits (different per row), and any difference raises
:class:`QueryContractError` naming the query and its reads, before anything is recorded.

Keys and noise vectors stay the Monte Carlo engine's (values on the fixed probe set), so a query gets
the same key whichever path computes its truth. For characters and label characters
:class:`JuntaCharacters` builds those values from per-coordinate sign rows of the probe points and
hashes them with the context's hash state computed once (docs/theory/juntas.md, section
juntas-fast-keys): the same bytes, the same keys.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _keys
from .._domains import CHUNK
from .._errors import InvalidParameterError, QueryContractError
from .._kernels import pick
from .._kernels import walsh as kwalsh
from .._queries import Character
from .._random import derived_rng
from ._enumerated import EXACT_FP_ERROR, block_bits
from ._evaluation import CHARACTER_WEIGHTS, Evaluation
from ._violations import violation

#: the most patterns of x_U one junta truth enumerates (|U| <= 20 on {0,1}^d), or the domain's
#: max_enumeration if that is smaller. At 2^20 patterns a plain numpy query costs a few hundred ms
#: (four passes: two label values, each with the read check), the order of one Monte Carlo truth at
#: tolerance 0.02 (1.2e6 samples); 2^24 would cost sixteen times more per query.
JUNTA_MAX_POINTS = 2**20
#: points checked when the engine verifies that the target depends on its declared support only
SUPPORT_CHECK_POINTS = 256
#: the read check evaluates at least this many rows per label value: small unions repeat every pattern with
#: independent fills (a query that reads an undeclared coordinate on a single pattern of a 2-junta escapes
#: with probability 2^-256, not 1/2)
CHECK_ROWS = 512
#: rows per chunk of an enumeration pass hold at most this many coordinates (16 MiB of int64)
CHUNK_CELLS = 2**21


def junta_guard(domain) -> int:
    """The largest number of x_U patterns a junta truth enumerates on ``domain``."""
    return int(min(JUNTA_MAX_POINTS, domain.max_enumeration))


class JuntaEngine:
    """The label table of a target with declared support T on x_T, and exact junta truths.

    Parameters
    ----------
    domain : BooleanCube or ZqCube
    target : HiddenTarget
    support : tuple of int
        T (validated by :meth:`HiddenTarget.support`), with b^|T| within :func:`junta_guard`.
    entropy : int
        The oracle's root entropy (the support check and the read checks derive their streams from it).
    max_label_values : int
        Above this many distinct labels the engine declines plain queries (the label-blind pass
        evaluates every label value); characters still get their structured truths.
    """

    def __init__(self, domain, target, support, *, entropy: int, max_label_values: int):
        self.domain, self.support, self._entropy = domain, tuple(support), entropy
        self.base, self.d = int(domain.base), int(domain.d)
        self.guard = junta_guard(domain)
        self.max_label_values = int(max_label_values)
        k = len(self.support)
        self._pos = {j: i for i, j in enumerate(self.support)}
        y = np.empty(self.base**k, dtype=np.float64)
        for start, digits in self._patterns(k):
            y[start : start + digits.shape[0]] = target.labels(self._points(self.support, digits))
        self.y = y
        self._check_support(target)
        vals, idx = np.unique(y, return_inverse=True)
        self.values, self.index = vals, idx.astype(np.int32)
        self.marginal = np.bincount(idx, minlength=len(vals)) / y.shape[0]
        self.boolean = bool(np.all((y == 0.0) | (y == 1.0)))
        self._p1 = float(self.marginal[-1]) if self.values[-1] == 1.0 else 0.0  # P[f = 1]
        self._spectrum = None

    # ------------------------------------------------------------------ patterns
    def _rows(self) -> int:
        """Rows per chunk: a power of two, at most CHUNK and CHUNK_CELLS / d (at least 256)."""
        r = int(max(256, min(CHUNK, CHUNK_CELLS // self.d)))
        return 1 << (r.bit_length() - 1)

    def _patterns(self, k: int):
        """Yield (first pattern index, digits of shape (m, k)) over [b]^k in code order, chunk by chunk."""
        n, rows, b = self.base**k, self._rows(), self.base
        for start in range(0, n, rows):
            p = np.arange(start, min(n, start + rows), dtype=np.int64)
            if b == 2:
                digits = (p[:, None] >> np.arange(k, dtype=np.int64)) & 1
            else:
                digits = (p[:, None] // (b ** np.arange(k, dtype=np.int64))) % b
            yield start, digits

    def _points(self, coords, digits, fill=None) -> np.ndarray:
        """Points with x_coords = digits and every other coordinate 0 (or ``fill``'s rows)."""
        X = np.zeros((digits.shape[0], self.d), dtype=np.int64) if fill is None else fill
        if len(coords):
            X[:, list(coords)] = digits
        return X

    def _check_support(self, target) -> None:
        """Refuse a target whose labels depend on a coordinate outside its declared support."""
        rng = derived_rng(self._entropy, "junta", "support")
        X = self.domain._sample(SUPPORT_CHECK_POINTS, rng)
        w = self.base ** np.arange(len(self.support), dtype=np.int64)
        expected = self.y[X[:, list(self.support)] @ w] if self.support else np.full(X.shape[0], self.y[0])
        if not np.array_equal(target.labels(X), expected):
            raise InvalidParameterError(
                f"The 'target' parameter of {target.caller} must depend only on the coordinates of its declared "
                f"support {list(self.support)}: its labels changed when other coordinates changed. "
                f"Got {_describe(target.concept)} instead."
            )

    # ------------------------------------------------------------------ planning
    def plan(self, query):
        """(U, None) when the query is a junta the engine can enumerate, else (None, why not)."""
        reads = getattr(query, "reads", None)
        if reads is None:
            return None, "the query declares no reads"
        if reads and reads[-1] >= self.d:
            raise InvalidParameterError(
                f"The 'reads' parameter of {type(query).__name__} {query.name!r} must hold coordinate indices in "
                f"[0, {self.d - 1}] on {self.domain!r}. Got {list(reads)} instead."
            )
        U = tuple(sorted(set(reads) | set(self.support)))
        if self.base ** len(U) > self.guard:
            return None, (f"|reads | support| = {len(U)} is above the junta guard "
                          f"({self.base}^|U| <= {self.guard} points)")
        if len(self.values) > self.max_label_values:
            return None, (f"the target has {len(self.values)} distinct labels, above max_label_values="
                          f"{self.max_label_values}")
        return U, None

    # ------------------------------------------------------------------ structured
    def spectrum(self) -> np.ndarray:
        """The unnormalised Walsh coefficients of 1 - 2f on x_T (one transform, computed once)."""
        if self._spectrum is None:
            n = self.y.shape[0]
            self._spectrum = pick(kwalsh.fwht_inplace, n)(1.0 - 2.0 * self.y, block_bits(n, kwalsh.BLOCK_BITS))
        return self._spectrum

    def walsh(self, support) -> float:
        """F(S) = E[(1 - 2 f(x)) (-1)^{S.x}]: 0 unless S is inside T, else a coefficient of the spectrum."""
        pos = self._pos
        sub = 0
        for j in support:
            i = pos.get(j)
            if i is None:
                return 0.0
            sub |= 1 << i
        return float(self.spectrum()[sub] / self.y.shape[0])

    def character(self, query, key: str, pv, extra: dict) -> Evaluation:
        """Truth and null of a Character or LabelCharacter from the spectrum (docs/theory/juntas.md); ``pv``
        its probe vector, ``extra`` the record's extra fields (a fresh dict)."""
        F = self.walsh(query.support)
        e = 1.0 if not query.support else 0.0
        p1 = self._p1
        if type(query) is Character:
            # probe_weights: pv is (chi, -chi) (w_0 chi, w_1 chi), so the noisy strategy takes its closed form
            return Evaluation(F, 0.0, 0.0, key, e * (1.0 - 2.0 * p1), lambda: pv, extra,
                              probe_weights=CHARACTER_WEIGHTS)
        w0, w1 = query.weights
        a, b = (e + F) / 2.0, (e - F) / 2.0  # E[chi_S 1{f = 0}], E[chi_S 1{f = 1}]: exact dyadic rationals
        return Evaluation(w0 * a + w1 * b, EXACT_FP_ERROR, 0.0, key, e * (w0 * (1.0 - p1) + w1 * p1),
                          lambda: pv, extra, probe_weights=query.weights)

    # ------------------------------------------------------------------ plain juntas
    def evaluate(self, query, U, key: str, pv, *, boolean_labels: bool, binary: bool) -> Evaluation:
        """Exact truth and null of a junta query on x_U (label-blind), with the read check."""
        k = len(U)
        N = self.base**k
        rng = derived_rng(self._entropy, key, "junta-reads")
        chunks = self._cube_chunks(U, rng) if self.base == 2 else self._digit_chunks(U, rng)
        lv = self.values
        pieces = [[] for _ in lv]
        truth = []
        for X, X2, lidx, describe in chunks:
            m = X.shape[0]
            rep = 0 if X2 is None else X2.shape[0] // m
            for vi, v in enumerate(lv):
                vals = query.values(X, np.full(m, v), boolean_labels, binary=binary,
                                    where=lambda i, v=v, at=describe: f"{at(i)}, y={float(v)!r}")
                if rep and not np.array_equal(
                        query.values(X2, np.full(m * rep, v), boolean_labels, binary=binary),
                        np.tile(vals, rep) if rep > 1 else vals):
                    raise violation(QueryContractError,
                        f"Query {query.name!r} declares reads={list(query.reads)} but its values changed when "
                        f"coordinates outside them changed: a query that declares its reads must read only those "
                        f"coordinates (declare every coordinate it reads, or none). Nothing was recorded."
                    )
                pieces[vi].append(float(np.sum(vals)))
                truth.append(float(np.sum(vals[lidx == vi])))
        null = float(np.dot(self.marginal, np.array([math.fsum(p) for p in pieces]) / N))
        return Evaluation(math.fsum(truth) / N, EXACT_FP_ERROR, 0.0, key, null, lambda: pv,
                          {"truth_path": "junta", "junta_size": k})

    def _repeats(self, U, N) -> int:
        """Fills per pattern in the read check (0: every coordinate is read, nothing to check)."""
        return 0 if len(U) >= self.d else max(1, -(-CHECK_ROWS // N))

    def _digit_chunks(self, U, rng):
        """(X, X2, label index, describe) per chunk of [b]^|U| (any base): points with x_U = the pattern and
        every other coordinate 0; X2 the same patterns (repeated) with other coordinates random."""
        b, d = self.base, self.d
        N = b ** len(U)
        rep = self._repeats(U, N)
        posU = [U.index(j) for j in self.support]
        wT = b ** np.arange(len(self.support), dtype=np.int64)
        for _, digits in self._patterns(len(U)):
            m = digits.shape[0]
            X = self._points(U, digits)
            lidx = self.index[digits[:, posU] @ wT] if posU else np.zeros(m, dtype=np.int32)
            X2 = None
            if rep:
                fill = rng.integers(0, b, size=(m * rep, d), dtype=np.int64)
                X2 = self._points(U, np.tile(digits, (rep, 1)) if rep > 1 else digits, fill=fill)
            yield X, X2, lidx, self._describe(U, digits)

    def _cube_chunks(self, U, rng):
        """As :meth:`_digit_chunks` on {0,1}^d, without per-row column writes: chunks of 2^c patterns share
        the low c bits of the pattern (one template), the high bits are constant columns per chunk, and the
        read check's fill (random bytes unpacked to bits on the unread coordinates, one row per template row)
        is drawn once: each pattern's fill is uniform, independent across the rows of a chunk. The two chunk
        arrays are updated in place (only the high columns change) and are read-only while a query runs."""
        k, d = len(U), self.d
        N = 1 << k
        c = min(k, self._rows().bit_length() - 1)
        rows = 1 << c
        rep = self._repeats(U, N)
        low = np.arange(rows, dtype=np.int64)
        template = np.zeros((rows, d), dtype=np.int64)
        for i in range(c):
            template[:, U[i]] = (low >> i) & 1
        posU = [U.index(j) for j in self.support]
        tlow = np.zeros(rows, dtype=np.int64)
        for t, i in enumerate(posU):
            if i < c:
                tlow |= ((low >> i) & 1) << t
        X, X2 = template, None  # both updated in place, chunk after chunk, and read-only while the query runs
        if rep:
            unread = np.ones(d, dtype=np.uint8)
            unread[list(U)] = 0
            bits = np.unpackbits(np.frombuffer(rng.bytes(rows * rep * d // 8), dtype=np.uint8))
            X2 = (np.tile(template, (rep, 1)) if rep > 1 else template) | (bits.reshape(rows * rep, d) & unread)
        for hi in range(N >> c):
            for A in (X, X2) if rep else (X,):
                A.setflags(write=True)
                for i in range(c, k):
                    A[:, U[i]] = (hi >> (i - c)) & 1
                A.setflags(write=False)
            thigh = 0
            for t, i in enumerate(posU):
                if i >= c and (hi >> (i - c)) & 1:
                    thigh |= 1 << t
            lidx = self.index[tlow | thigh]
            yield X, X2, lidx, self._cube_describe(U, hi << c)

    @staticmethod
    def _describe(U, digits):
        return lambda i: f"x_{{{','.join(map(str, U))}}}={digits[i].tolist()} (other coordinates 0)"

    @staticmethod
    def _cube_describe(U, start):
        return lambda i: (f"x_{{{','.join(map(str, U))}}}={[((start + i) >> j) & 1 for j in range(len(U))]} "
                          f"(other coordinates 0)")


#: the IEEE-754 sign bit of a float64 (flipping it negates a value exactly, zeros included)
SIGN_BIT = np.uint64(1 << 63)
#: supports up to this size are XOR-ed row by row (one numpy call each); larger ones in one reduction
XOR_CHAIN_MAX = 6


class JuntaCharacters:
    """Characters and label characters beyond the enumeration guard, without evaluating the query.

    Truth and null from the junta engine's spectrum (:meth:`JuntaEngine.character`); the probe vector (the
    query's values on the fixed probe set, label-major over the probe labels (0, 1)) and its key from
    per-coordinate sign rows (docs/theory/juntas.md, section juntas-fast-keys): w_l chi_S(x_p) is w_l with its
    sign bit flipped by the parity of x_p on S, so its 8-byte pattern is

        bits(w_l) XOR (parity_S(x_p) << 63),   parity_S(x_p) << 63 = XOR_{j in S} (x_{p,j} << 63),

    the bytes ``probe_character_values`` produces and the key hashes (:func:`sqsim._keys.probe_keyer`).

    Parameters
    ----------
    engine : JuntaEngine
    probes : ProbeSet
        Boolean probe labels (0, 1).
    context : str
        The Monte Carlo engine's key context.
    """

    def __init__(self, engine: JuntaEngine, probes, context: str):
        if not np.array_equal(probes.labels, [0.0, 1.0]):
            raise ValueError("JuntaCharacters needs the Boolean probe labels (0, 1)")  # pragma: no cover
        self.engine = engine
        self._X = probes.X
        self._key = _keys.probe_keyer(context)
        #: rows[j]: x_{p,j} << 63 for the probe points p, twice (both probe labels), uint64, read-only; built
        #: at a coordinate's first use (d rows of 4 KiB at most)
        self._rows: list = [None] * probes.X.shape[1]
        #: the 8-byte patterns of (w_0 repeated, w_1 repeated) by weight pair; the character's is (1, -1)
        self._patterns: dict[tuple[float, float], np.ndarray] = {}
        self._character_pattern = self._weight_pattern(CHARACTER_WEIGHTS)
        self._extra = {"truth_path": "junta", "junta_size": len(engine.support)}

    def _row(self, j: int) -> np.ndarray:
        r = self._rows[j]
        if r is None:
            half = self._X[:, j].astype(np.uint64) << np.uint64(63)
            r = self._rows[j] = np.concatenate((half, half))
            r.flags.writeable = False
        return r

    def _weight_pattern(self, w) -> np.ndarray:
        if not (w[0] and w[1]):  # 0.0 == -0.0 (and they hash alike): key zeros by their sign bit too
            w = (w[0], w[1], math.copysign(1.0, w[0]), math.copysign(1.0, w[1]))
        p = self._patterns.get(w)
        if p is None:
            if len(self._patterns) >= 4096:
                self._patterns.clear()
            P = self._X.shape[0]
            p = np.repeat(np.array([w[0], w[1]], dtype=np.float64), P).view(np.uint64)
            p.flags.writeable = False
            self._patterns[w] = p
        return p

    def probe_bits(self, query) -> np.ndarray:
        """The probe vector's 8-byte patterns (uint64, length 2 x probe points; a fresh array or a read-only
        table, never written afterwards)."""
        base = self._character_pattern if type(query) is Character else self._weight_pattern(query.weights)
        S = query.support
        k = len(S)
        if k == 0:
            return base
        rows = self._rows
        if k <= XOR_CHAIN_MAX:
            r = rows[S[0]]
            out = np.bitwise_xor(base, r if r is not None else self._row(S[0]))
            for j in S[1:]:
                r = rows[j]
                np.bitwise_xor(out, r if r is not None else self._row(j), out=out)
            return out
        out = np.bitwise_xor.reduce(np.stack([self._row(j) for j in S]), axis=0)
        np.bitwise_xor(out, base, out=out)
        return out

    def probe_values(self, query) -> np.ndarray:
        """The probe vector (float64), bit-identical to ``probe_character_values`` and ``ProbeSet.values``."""
        return self.probe_bits(query).view(np.float64)

    def evaluate(self, query) -> Evaluation:
        """The Evaluation of a Character or LabelCharacter: spectrum truth and null, probe key and vector."""
        bits = self.probe_bits(query)
        pv = bits.view(np.float64)
        return self.engine.character(query, self._key(bits), pv, dict(self._extra))


def probe_bits(probes) -> np.ndarray:
    """The probe points' character signs 1 - 2 x_j as a (d, P) float64 array, one row per coordinate (the
    input of :func:`probe_character_values`)."""
    return np.ascontiguousarray(1.0 - 2.0 * probes.X.T)


def probe_character_values(signs: np.ndarray, labels: np.ndarray, query) -> np.ndarray:
    """The probe vector of a Character or LabelCharacter from its structure, at any d: the product form, the
    reference twin of :meth:`JuntaCharacters.probe_values` (tests compare the two bit for bit).

    Bit-identical to ``ProbeSet.values(query)`` (label-major: phi(x_p, l) for every probe label l and probe
    point x_p) for probe labels (0, 1): products of +-1 signs are exact in any order, and w_l chi is the
    same product the query computes. ``signs`` is :func:`probe_bits` of the probe set.
    """
    S = query.support
    P = signs.shape[1]
    if not S:
        chi = np.ones(P)
    elif len(S) == 1:
        chi = signs[S[0]]
    elif len(S) <= 8:
        chi = signs[S[0]] * signs[S[1]]
        for j in S[2:]:
            chi *= signs[j]
    else:
        chi = signs[list(S)].prod(axis=0)
    w0, w1 = (1.0 - 2.0 * labels[0], 1.0 - 2.0 * labels[1]) if type(query) is Character else query.weights
    out = np.empty(2 * P)
    np.multiply(chi, w0, out=out[:P])
    np.multiply(chi, w1, out=out[P:])
    return out


def _describe(concept) -> str:
    text = repr(concept)
    return text if len(text) <= 80 else text[:77] + "..."
