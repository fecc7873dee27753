"""Pairwise correlations of a finite family on a finite domain, exactly (docs/theory/dimension.md).

Three paths, chosen from the family:

- character families (:class:`~sqsim.concepts.Parities`, :class:`~sqsim.concepts.SparseParities`,
  sequences of :class:`~sqsim.concepts.Parity`): one Walsh-Hadamard pass gives the input law's
  Fourier coefficients e(U), and every entry is a fixed affine function of e_S, e_T, e_{S xor T}
  (section "Character families"); the streaming form runs a Numba kernel over rows;
- label tables (any other finite family, or a sequence of callables): blocked BLAS products of
  label indicator matrices (``kind="sq"``) or centred label tables (``kind="csq"``);
- Gaussian domains: handed to ``sqsim.dimension._gaussian`` (Monte Carlo or the lift's structure).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .._domains import BooleanCube, FiniteDomain, Gaussian
from .._errors import InvalidParameterError
from .._export import export
from .._kernels import pick, walsh
from .._kernels.correlation import character_row_stats
from .._validation import Interval, Options, check_param, show
from ._matrix import KINDS, CorrelationMatrix, RowStatistics, factored_matrix

CALLER = "pairwise_correlations"
#: the dense N x N matrix is refused above this many bytes without ``streaming=True``
MAX_DENSE_BYTES = 2**30
#: label tables (N x points) are refused above this many bytes
MAX_TABLE_BYTES = 2**31
#: ``sda`` and friends stream (``streaming=None``) above this many members
AUTO_STREAM = 4096
#: ``kind="sq"`` needs a finite label set: at most this many distinct label values
MAX_LABELS = 64


@export
def pairwise_correlations(family, domain=None, *, kind="sq", reference=None, streaming=False, block=256, top=64,
                          members=None, label_map=None, max_dense_bytes=MAX_DENSE_BYTES, **options):
    """The correlation matrix chi_ij of a finite family against a reference law.

    For ``kind="sq"`` member f defines the labelled law D_f = (x, f(x)), x from ``domain``, and
    the reference is D_0 = (x, y) with y drawn independently of x from the label law p0; then
    (FGRVX17, pairwise correlation; docs/theory/dimension.md, section "Pairwise correlation")

    $$\\chi(f, g) = \\langle D_f/D_0 - 1, D_g/D_0 - 1\\rangle_{D_0}
                 = \\sum_y P[f(x) = g(x) = y] / p_0(y) - 1.$$

    For ``kind="csq"`` it is the centred covariance E[(f - Ef)(g - Eg)], with Boolean labels
    {0, 1} read as 1 - 2y (the CSQ convention of sqsim).

    Parameters
    ----------
    family : finite family or sequence of callables
        :class:`~sqsim.concepts.Parities`, :class:`~sqsim.concepts.SparseParities`,
        :class:`~sqsim.concepts.LWRSecrets`, a finite :class:`~sqsim.concepts.NaturalWeights`
        (``members=N``), any other ``FiniteFamily``, or a sequence of callables on batches (for
        example the members of a :class:`~sqsim.concepts.SmoothedNetworks` family).
    domain : BooleanCube, ZqCube or Gaussian, optional
        Defaults to ``family.domain``. Finite domains are enumerated exactly (within their
        enumeration guard); a :class:`~sqsim.Gaussian` domain is handed to the Gaussian and
        lifted paths (Monte Carlo with an error bound, or exact from a lift's structure).
    kind : {"sq", "csq"}
        - ``"sq"``: the FGRVX17 correlation of labelled distributions (needs finite labels);
        - ``"csq"``: centred covariances of the labels.
    reference : dict, optional
        The label law p0 {label: probability} for ``kind="sq"``; default the average label law
        over the family. Every label a member takes must have p0 > 0.
    streaming : bool, default False
        Never store N x N: keep per-row statistics (the ``top`` largest |chi| of each row, row
        sums, diagonal, largest off-diagonal) and compute sub-blocks on demand.
    block : int, default 256
        Rows per block in the label-table paths.
    top : int, default 64
        Entries kept per row in the streaming form.
    members : sequence of int, optional
        Indices of the members to keep (for example ``range(1, 2**d)``: the nonempty parities).
    label_map : callable, "nonzero" or "sign", optional
        Applied to every label table before anything else (a label event such as
        ``lambda y: y != 0`` makes real labels finite). On a Gaussian domain also the names
        ``"nonzero"`` (1[y != 0]) and ``"sign"``; a lifted family takes only these two.
    max_dense_bytes : int, default 2**30
        The dense matrix is refused above this size unless ``streaming=True``.
    **options
        Gaussian domains only (``grid``, ``samples``, ``seed``, ``confidence``, ``label_range``):
        see ``sqsim.dimension._gaussian.gaussian_correlations``; on a finite domain any of them
        raises InvalidParameterError.

    Returns
    -------
    CorrelationMatrix
        Exact (``abs_error = 0``) on finite domains.

    Examples
    --------
    >>> from sqsim.concepts import Parities
    >>> m = pairwise_correlations(Parities(3), members=range(1, 8))
    >>> float(m.values[0, 0]), float(m.values[0, 1])
    (1.0, 0.0)
    """
    if isinstance(domain, Gaussian) or (domain is None and isinstance(getattr(family, "domain", None), Gaussian)):
        from ._gaussian import gaussian_correlations

        return gaussian_correlations(family, domain if domain is not None else family.domain, kind=kind,
                                     reference=reference, streaming=streaming, block=block, top=top,
                                     members=members, label_map=label_map, max_dense_bytes=max_dense_bytes,
                                     **options)
    if options:
        raise InvalidParameterError(f"The {min(options)!r} parameter of {CALLER} is only accepted for Gaussian "
                                    f"domains. Got {show(options)} instead.")
    check_param("streaming", streaming, Options((True, False)), CALLER)
    return build_matrix(family, domain, kind=kind, reference=reference, streaming=streaming, block=block, top=top,
                        members=members, label_map=label_map, max_dense_bytes=max_dense_bytes, caller=CALLER)


def build_matrix(family, domain, *, kind="sq", reference=None, streaming=None, block=256, top=64, members=None,
                 label_map=None, max_dense_bytes=MAX_DENSE_BYTES, caller=CALLER):
    """:func:`pairwise_correlations` on a finite domain; ``streaming=None`` streams above AUTO_STREAM members
    or when N x N does not fit."""
    check_param("kind", kind, Options(KINDS), caller)
    check_param("block", block, Interval(int, 1, None), caller)
    check_param("top", top, Interval(int, 1, None), caller)
    check_param("max_dense_bytes", max_dense_bytes, Interval(int, 1, None), caller)
    source = resolve_family(family, domain, members, label_map)
    N = source.N
    if streaming is None:  # the dense path sorts every row: beyond a few thousand members streaming is faster
        streaming = 8 * N * N > max_dense_bytes or N > AUTO_STREAM
    check_dense_size(N, streaming, max_dense_bytes, caller)
    return source.correlations(kind, reference, streaming, int(block), int(top))


def check_dense_size(N, streaming, max_dense_bytes, caller):
    """InvalidParameterError when the dense N x N matrix is asked for (``streaming`` False) above max_dense_bytes."""
    if not streaming and 8 * N * N > max_dense_bytes:
        raise InvalidParameterError(
            f"The 'streaming' parameter of {caller} must be True for N = {N} members: the dense N x N matrix needs "
            f"{8 * N * N / 1e9:.3g} GB, above max_dense_bytes = {max_dense_bytes}. Got False instead."
        )


def resolve_family(family, domain, members, label_map):
    """A :class:`CharacterSource` or :class:`TableSource` for ``family`` on ``domain``."""
    from ..concepts import Parities, Parity

    if domain is None:
        domain = getattr(family, "domain", None)
        if domain is None:
            raise InvalidParameterError(f"The 'domain' parameter of {CALLER} must be given for a family without a "
                                        f"domain. Got None instead.")
    if not isinstance(domain, FiniteDomain):
        raise InvalidParameterError(f"The 'domain' parameter of {CALLER} must be a BooleanCube, a ZqCube or a "
                                    f"Gaussian. Got {show(domain)} instead.")
    fam_domain = getattr(family, "domain", None)
    if fam_domain is not None and not isinstance(family, (list, tuple)) and fam_domain != domain \
            and not isinstance(fam_domain, Gaussian):
        raise InvalidParameterError(f"The 'domain' parameter of {CALLER} must be the family's domain "
                                    f"{fam_domain!r}. Got {domain!r} instead.")
    domain.check_enumerable(f"{CALLER} (exact correlations)")
    if members is not None:
        members = np.asarray(list(members), dtype=np.int64)
    names = None
    if isinstance(family, Parities) and isinstance(domain, BooleanCube) and label_map is None:
        codes = family.codes()
        codes = codes if members is None else _pick(codes, members)
        return CharacterSource(domain, codes)
    if getattr(family, "finite", False) and hasattr(family, "__len__") and not isinstance(family, (list, tuple)):
        n = len(family)
        idx = range(n) if members is None else _check_members(members, n)
        fns = [family.member(int(i)) for i in idx]
    elif isinstance(family, Sequence) and not isinstance(family, str):
        fns = list(family) if members is None else [family[int(i)] for i in _check_members(members, len(family))]
    else:
        raise InvalidParameterError(f"The 'family' parameter of {CALLER} must be a finite family or a sequence of "
                                    f"callables. Got {show(family)} instead.")
    if not fns:
        raise InvalidParameterError(f"The 'family' parameter of {CALLER} must have at least one member. "
                                    f"Got an empty family instead.")
    dims = sorted({int(f.d) for f in fns if hasattr(f, "d")})
    if len(dims) > 1 or (dims and dims[0] != domain.d):
        raise InvalidParameterError(f"The 'family' parameter of {CALLER} must hold members of one dimension, "
                                    f"d = {domain.d} (the domain's). Got members of dimensions {dims} instead.")
    bad = next((f for f in fns if not callable(f)), None)
    if bad is not None:
        raise InvalidParameterError(f"The 'family' parameter of {CALLER} must hold callables. Got {show(bad)} "
                                    f"instead.")
    if label_map is None and isinstance(domain, BooleanCube) and all(isinstance(f, Parity) for f in fns):
        return CharacterSource(domain, np.array([f.code for f in fns], dtype=np.int64))
    names = [getattr(f, "__name__", None) or repr(f) for f in fns] if len(fns) <= 4096 else None
    return TableSource.evaluate(domain, fns, label_map, names)


def _check_members(members, n):
    if members.size == 0 or members.min() < 0 or members.max() >= n or np.unique(members).size != members.size:
        raise InvalidParameterError(f"The 'members' parameter of {CALLER} must be distinct indices in [0, {n - 1}]. "
                                    f"Got {show(members.tolist())} instead.")
    return members


def _pick(codes, members):
    return codes[_check_members(members, len(codes))]


def label_keys(law):
    """{label: p} with integral labels as ints (0 rather than 0.0), as reported in ``reference``."""
    return {(int(k) if float(k).is_integer() else k): v for k, v in law.items()}


def _check_reference(reference, labels_present):
    """The label law as {label: p} (p > 0 for every label present), validated."""
    if not isinstance(reference, dict) or not reference:
        raise InvalidParameterError(f"The 'reference' parameter of {CALLER} must be a dict {{label: probability}} or "
                                    f"None. Got {show(reference)} instead.")
    try:
        law = {float(k): float(v) for k, v in reference.items()}
    except (TypeError, ValueError):
        raise InvalidParameterError(f"The 'reference' parameter of {CALLER} must map numeric labels to "
                                    f"probabilities. Got {show(reference)} instead.") from None
    total = math.fsum(law.values())
    if any(not (p >= 0) or not math.isfinite(p) for p in law.values()) or abs(total - 1) > 1e-9:
        raise InvalidParameterError(f"The 'reference' parameter of {CALLER} must be a probability law (nonnegative, "
                                    f"summing to 1). Got {show(reference)} instead.")
    missing = [y for y in labels_present if law.get(float(y), 0.0) <= 0]
    if missing:
        raise InvalidParameterError(f"The 'reference' parameter of {CALLER} must give positive probability to every "
                                    f"label a member takes (absolute continuity); label {missing[0]!r} has none. "
                                    f"Got {show(reference)} instead.")
    return law


class CharacterSource:
    """Characters chi_S (codes S) on the uniform cube: entries from the Fourier coefficients e(U)."""

    def __init__(self, domain, codes):
        self.domain = domain
        self.codes = np.ascontiguousarray(codes, dtype=np.int64)
        self.N = len(self.codes)
        n = domain.size
        # e(U) = E_x[(-1)^{U.x}] for every U: one Walsh-Hadamard transform of the input law's mass
        self.e = walsh.fwht_inplace(np.full(n, 1.0 / n), walsh.BLOCK_BITS)
        self.names = [f"chi_{int(c)}" for c in self.codes] if self.N <= 4096 else None

    def label_law(self, reference):
        """The Boolean label law {0: p, 1: 1 - p}: the average over the members (``reference`` None) or validated."""
        eS = self.e[self.codes]
        if reference is None:
            p1 = float(np.mean((1.0 - eS) / 2.0))  # P[chi_S = 1] = (1 - e_S) / 2
            return {0: 1.0 - p1, 1: p1}
        present = [y for y, has in ((0.0, np.any(eS > -1)), (1.0, np.any(eS < 1))) if has]
        law = _check_reference(reference, present)
        return {0: law.get(0.0, 0.0), 1: law.get(1.0, 0.0)}

    def coefficients(self, kind, reference):
        """(A, B, C, D) with chi = A + B (e_S + e_T) + C e_{S xor T} + D e_S e_T, and the reference used."""
        if kind == "csq":  # labels 1 - 2 chi_S in {-1, 1}: E = e_S, covariance e_{S^T} - e_S e_T
            return (0.0, 0.0, 1.0, -1.0), "member means"
        law = self.label_law(reference)
        a0 = 1.0 / law[0] if law[0] > 0 else 0.0
        a1 = 1.0 / law[1] if law[1] > 0 else 0.0
        # P[f = g = 0] = (1 + e_S + e_T + e_X) / 4, P[f = g = 1] = (1 - e_S - e_T + e_X) / 4
        return ((a0 + a1) / 4.0 - 1.0, (a0 - a1) / 4.0, (a0 + a1) / 4.0, 0.0), law

    def block(self, coef, rows, cols):
        A, B, C, D = coef
        e, cr, cc = self.e, self.codes[rows], self.codes[cols]
        er, ec = e[cr][:, None], e[cc][None, :]
        return A + B * (er + ec) + C * e[cr[:, None] ^ cc[None, :]] + D * er * ec

    def correlations(self, kind, reference, streaming, block, top):
        coef, ref = self.coefficients(kind, reference)
        meta = {"kind": kind, "reference": ref, "abs_error": 0.0, "exact": True, "names": self.names}
        if kind == "csq":  # member means e_S
            eS = self.e[self.codes]
            meta["mean_offset"] = float(eS.max() - eS.min()) / 2.0
        return self.matrix(coef, meta, streaming, block, top)

    def matrix(self, coef, meta, streaming, block, top):
        """The CorrelationMatrix with entries :meth:`block` ``(coef, ...)``: dense in row blocks, or streamed by the
        Numba row kernel (:func:`character_stats`); ``meta`` holds its keyword arguments."""
        if not streaming:
            allr = np.arange(self.N)
            out = np.empty((self.N, self.N))
            for s in range(0, self.N, block):
                out[s : s + block] = self.block(coef, allr[s : s + block], allr)
            return CorrelationMatrix(out, **meta)
        stats = character_stats(self.codes, self.e, coef, top)
        return CorrelationMatrix.streamed(stats, lambda r, c: self.block(coef, r, c), **meta)


def character_stats(codes, e, coef, top):
    """Row statistics of a character family by the Numba kernel (its twin: the dense block + from_rows).

    Only the support Z of e matters (docs/theory/dimension.md, section "Character families"): the
    kernel does O(|Z| + top) work per row, whatever N.
    """
    N = len(codes)
    K = min(int(top), N)
    index_of = np.full(len(e), -1, dtype=np.int64)
    index_of[codes] = np.arange(N)
    zcodes = np.flatnonzero(e != 0).astype(np.int64)
    vals = np.empty((N, K))
    idx = np.empty((N, K), dtype=np.int64)
    sums, diag, maxoff = np.empty(N), np.empty(N), np.empty(N)
    kernel = pick(character_row_stats, N * max(1, len(zcodes)))
    kernel(codes, index_of, zcodes, e, *(float(c) for c in coef), vals, idx, sums, diag, maxoff)
    return RowStatistics(vals, idx, sums, diag, float(maxoff.max()) if N > 1 else 0.0)


class TableSource:
    """Members given by their label tables on every point of a finite domain."""

    def __init__(self, table, names, boolean):
        self.table = table
        self.N = table.shape[0]
        self.names = names
        self.boolean = boolean

    @classmethod
    def evaluate(cls, domain, fns, label_map, names):
        n = domain.size
        if 8 * len(fns) * n > MAX_TABLE_BYTES:
            raise InvalidParameterError(
                f"The 'family' parameter of {CALLER} must keep the label table (members x points) below "
                f"{MAX_TABLE_BYTES} bytes. Got {len(fns)} members on {n} points instead.")
        X = domain.enumerate()
        table = np.empty((len(fns), n))
        for i, f in enumerate(fns):
            y = np.asarray(f(X))
            if label_map is not None:
                y = np.asarray(label_map(y))
            y = y.astype(np.float64).reshape(-1)
            if y.shape != (n,) or not np.all(np.isfinite(y)):
                raise InvalidParameterError(f"The 'family' parameter of {CALLER} must hold members returning one finite "
                                            f"label per point; member {i} returned shape {y.shape} or non-finite "
                                            f"labels instead.")
            table[i] = y
        boolean = bool(np.all((table == 0) | (table == 1)))
        return cls(table, names, boolean)

    def _sq_factors(self, reference):
        labels = np.unique(self.table)
        if labels.size > MAX_LABELS:
            raise InvalidParameterError(
                f"The 'kind' parameter of {CALLER} can be 'sq' only for a finite label set (at most {MAX_LABELS} "
                f"distinct labels); the family takes {labels.size}. Pass label_map (a label event such as "
                f"lambda y: y != 0) or use kind='csq'. Got 'sq' instead.")
        if reference is None:
            law = {float(y): float(np.mean(self.table == y)) for y in labels}
        else:
            law = _check_reference(reference, labels.tolist())
        n = self.table.shape[1]
        factors = [(self.table == y).astype(np.float64) / math.sqrt(n * law[float(y)]) for y in labels]
        return factors, label_keys(law)

    def correlations(self, kind, reference, streaming, block, top):
        if kind == "sq":
            factors, ref = self._sq_factors(reference)
            offset = -1.0
        else:
            t = 1.0 - 2.0 * self.table if self.boolean else self.table
            mu = t.mean(axis=1, keepdims=True)
            factors = [(t - mu) / math.sqrt(t.shape[1])]
            ref, offset = "member means", 0.0
        meta = {"kind": kind, "reference": ref, "abs_error": 0.0, "exact": True, "names": self.names}
        if kind == "csq":
            meta["mean_offset"] = float(mu.max() - mu.min()) / 2.0
        return factored_matrix(factors, offset, self.N, streaming=streaming, block=block, top=top, meta=meta)
