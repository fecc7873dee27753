"""Pairwise correlations of finite families on N(0, I_d) (docs/theory/dimension-lifted.md).

:func:`gaussian_correlations` is what :func:`sqsim.dimension.pairwise_correlations` calls for a
:class:`~sqsim.Gaussian` domain. Two paths:

- **lifted families** (every member ``lift.lift(f)`` of one :class:`~sqsim.lift.CompressedLift`): exact
  from the lift's structure against the lifted null, with the certified error of the law of V
  (``sqsim.dimension._lifted``; sections "lifted-sq", "lifted-csq");
- **any other finite family**: Monte Carlo on ``samples`` Gaussian points, every entry with an
  empirical-Bernstein confidence interval, simultaneous over all entries at level ``confidence``
  (section "gaussian-monte-carlo"); the largest half-width is the matrix's ``abs_error``.

``kind="sq"`` needs a finite label set: lifted labels are finite given z (b phi_D(V) takes one value per
label b), other families must take at most 64 distinct values on the sample, or be seen through a label
event (``label_map="nonzero"`` for 1[y != 0], ``"sign"``, or any callable with finitely many values).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .._domains import Gaussian
from .._errors import InvalidParameterError
from .._random import derived_rng, root_entropy
from .._validation import Callable, Interval, NoneOk, Options, check_param, show
from ._lifted import event_labels, lifted_correlations, lifted_members
from ._matrix import factored_matrix, gram

CALLER = "pairwise_correlations"
#: ``kind="sq"`` needs at most this many distinct labels (as on finite domains)
MAX_LABELS = 64
#: default Monte Carlo sample size and simultaneous confidence level of the intervals
DEFAULT_SAMPLES = 20_000
DEFAULT_CONFIDENCE = 0.999
#: the Monte Carlo label table (members x samples) is refused above this many bytes
MAX_TABLE_BYTES = 2**31
LABEL_EVENTS = ("nonzero", "sign")


def gaussian_correlations(family, domain, *, kind="sq", reference=None, label_map=None, members=None,
                          streaming=False, block=256, top=64, grid=None, samples=DEFAULT_SAMPLES, seed=0,
                          confidence=DEFAULT_CONFIDENCE, label_range=None, max_dense_bytes=None):
    """The correlation matrix of a finite family on a Gaussian domain (see the module docstring).

    Parameters
    ----------
    family : finite family or sequence of callables on R^d
        Lifted concepts of one lift take the exact path; anything else is estimated.
    domain : Gaussian
    kind : {"sq", "csq"}
        ``"sq"``: chi(f, g) = <D_f/D_0 - 1, D_g/D_0 - 1>_{D_0} (FGRVX17) for the labelled laws against
        the reference D_0 (lifted: the lifted null; otherwise labels drawn independently of z from p0).
        ``"csq"``: lifted, E[(f^Delta - r)(g^Delta - r)] with r the lifted null's mean label; otherwise the
        centred covariance E[(f - Ef)(g - Eg)]. Labels in {0, 1} are read as 1 - 2y (sqsim's CSQ convention).
    reference : dict, optional
        The (Boolean, for lifted families) label law p0 {label: probability}. Default: the average label
        law over the family (lifted: exact on x uniform; Monte Carlo: estimated on an independent pilot
        sample of the same size, so it is a fixed law as far as the main sample is concerned).
    label_map : None, "nonzero", "sign" or callable
        A label event: 1[y != 0], sign(y), or (Monte Carlo only) any function of the labels.
    members : sequence of int, optional
        Indices of the members to keep.
    streaming, block, top
        As for finite domains: never store N x N, keep per-row statistics.
    grid : int, optional
        Lattice resolution of the certified law of V (lifted; default 2048).
    samples : int, default 20000
        Monte Carlo points (and pilot points for the default reference).
    seed : int, Generator or None, default 0
        Determines the Monte Carlo points.
    confidence : float, default 0.999
        Every Monte Carlo entry lies within ``abs_error`` of its estimate simultaneously with at least this
        probability (empirical Bernstein, Maurer and Pontil 2009 Thm 4, union bound over all entries).
    label_range : (float, float), optional
        Bounds on the labels for ``kind="csq"`` Monte Carlo (default: the members' ``range`` attributes,
        [0, 1] for clipped natural-weights networks, or the label event's range).
    max_dense_bytes : int, optional
        The dense matrix is refused above this size unless ``streaming=True`` (default 2**30, as on
        finite domains).

    Returns
    -------
    CorrelationMatrix
        ``exact=False``; ``abs_error`` certified (lifted) or a simultaneous confidence half-width (Monte Carlo);
        ``reference`` records the law, the null and the error's nature.
    """
    from ._matrix import KINDS

    check_param("domain", domain, _IsGaussian(), CALLER)
    check_param("kind", kind, Options(KINDS), CALLER)
    check_param("streaming", streaming, Options((True, False)), CALLER)
    check_param("block", block, Interval(int, 1, None), CALLER)
    check_param("top", top, Interval(int, 1, None), CALLER)
    check_param("label_map", label_map, [NoneOk, Options(LABEL_EVENTS), Callable], CALLER)
    from ._correlations import MAX_DENSE_BYTES, check_dense_size

    max_dense_bytes = MAX_DENSE_BYTES if max_dense_bytes is None else max_dense_bytes
    check_param("max_dense_bytes", max_dense_bytes, Interval(int, 1, None), CALLER)
    fns = _members(family, members)
    check_dense_size(len(fns), streaming, max_dense_bytes, CALLER)
    dims = sorted({int(f.d) for f in fns if isinstance(getattr(f, "d", None), (int, np.integer))})
    if len(dims) > 1 or (dims and dims[0] != domain.d):
        raise InvalidParameterError(f"The 'family' parameter of {CALLER} must hold members of one dimension, "
                                    f"d = {domain.d} (the domain's). Got members of dimensions {dims} instead.")
    names = [repr(f) for f in fns] if len(fns) <= 4096 else None
    lifted = lifted_members(fns)
    if lifted is not None:
        if callable(label_map):
            raise InvalidParameterError(
                f"The 'label_map' parameter of {CALLER} must be None, 'nonzero' or 'sign' for a lifted family (events "
                f"e with e(y phi) one-to-one in e(y) for phi != 0; docs/theory/dimension-lifted.md). Got "
                f"{show(label_map)} instead.")
        lift, concepts = lifted
        return lifted_correlations(lift, concepts, kind=kind, reference=reference, event=label_map,
                                   streaming=streaming, block=int(block), top=int(top), grid=grid, names=names,
                                   where=CALLER)
    check_param("samples", samples, Interval(int, 2, None), CALLER)
    check_param("confidence", confidence, Interval(float, 0, 1, closed="neither"), CALLER)
    return monte_carlo_correlations(fns, domain, kind=kind, reference=reference, label_map=label_map,
                                    samples=int(samples), seed=seed, confidence=float(confidence),
                                    label_range=label_range, streaming=streaming, block=int(block), top=int(top),
                                    names=names)


class _IsGaussian:
    def holds(self, value):
        return isinstance(value, Gaussian)

    def __str__(self):
        return "a Gaussian domain"


def _members(family, members):
    """The member callables of a finite family or sequence (InvalidParameterError otherwise)."""
    if isinstance(family, Sequence) and not isinstance(family, str):
        fns = list(family)
    elif getattr(family, "finite", False) and hasattr(family, "member"):
        fns = [family.member(i) for i in range(len(family))]
    else:
        raise InvalidParameterError(
            f"The 'family' parameter of {CALLER} must be a finite family (for example NaturalWeights(..., members=N)) "
            f"or a sequence of callables on a Gaussian domain. Got {show(family)} instead.")
    if members is not None:
        idx = np.asarray(list(members), dtype=np.int64)
        if idx.size == 0 or idx.min() < 0 or idx.max() >= len(fns) or np.unique(idx).size != idx.size:
            raise InvalidParameterError(f"The 'members' parameter of {CALLER} must be distinct indices in "
                                        f"[0, {len(fns) - 1}]. Got {show(idx.tolist())} instead.")
        fns = [fns[int(i)] for i in idx]
    if not fns:
        raise InvalidParameterError(f"The 'family' parameter of {CALLER} must have at least one member. "
                                    f"Got an empty family instead.")
    bad = next((f for f in fns if not callable(f)), None)
    if bad is not None:
        raise InvalidParameterError(f"The 'family' parameter of {CALLER} must hold callables. Got {show(bad)} instead.")
    return fns


# ---------------------------------------------------------------------------------------------- Monte Carlo
def _table(fns, Z, label_map) -> np.ndarray:
    n = Z.shape[0]
    if 8 * len(fns) * n > MAX_TABLE_BYTES:
        raise InvalidParameterError(f"The 'samples' parameter of {CALLER} must keep the Monte Carlo label table "
                                    f"(members x samples) below {MAX_TABLE_BYTES} bytes. Got {n} samples for "
                                    f"{len(fns)} members instead.")
    out = np.empty((len(fns), n))
    for i, f in enumerate(fns):
        y = np.asarray(f(Z))
        if isinstance(label_map, str):
            y = event_labels(y, label_map)
        elif label_map is not None:
            y = np.asarray(label_map(y))
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if y.shape != (n,) or not np.all(np.isfinite(y)):
            raise InvalidParameterError(f"The 'family' parameter of {CALLER} must hold members returning one finite "
                                        f"label per point; member {i} returned shape {y.shape} or non-finite labels "
                                        f"instead.")
        out[i] = y
    return out


def _label_range(fns, label_map, label_range):
    """(lo, hi) bounding every label (csq Monte Carlo), or None when nothing bounds them."""
    if label_range is not None:
        try:
            lo, hi = (float(v) for v in label_range)
        except (TypeError, ValueError):
            lo, hi = math.nan, math.nan
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise InvalidParameterError(f"The 'label_range' parameter of {CALLER} must be two finite numbers lo <= hi. "
                                        f"Got {show(label_range)} instead.")
        return lo, hi
    if label_map == "nonzero":
        return 0.0, 1.0
    if label_map == "sign":
        return -1.0, 1.0
    if label_map is not None:
        return None
    ranges = []
    for f in fns:
        r = getattr(f, "range", None)
        if r is None and getattr(f, "clip", None) is True and type(f).__name__ == "NaturalWeightsNetwork":
            r = (0.0, 1.0)  # clip_[0,1] (DV20)
        if r is None:
            return None
        ranges.append(tuple(float(v) for v in r))
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def bernstein_halfwidth(variance, n: int, value_range: float, log_term: float):
    """Empirical Bernstein (Maurer and Pontil 2009, Theorem 4, both sides):
    sqrt(2 V L / n) + 7 b L / (3 (n - 1)), L = ln(4 / delta'), V the unbiased sample variance."""
    return np.sqrt(2.0 * np.maximum(variance, 0.0) * log_term / n) + 7.0 * value_range * log_term / (3.0 * (n - 1))


def monte_carlo_correlations(fns, domain, *, kind, reference, label_map, samples, seed, confidence, label_range,
                             streaming, block, top, names):
    """Monte Carlo correlation matrix with simultaneous empirical-Bernstein intervals (section "gaussian-monte-carlo")."""
    from ._correlations import _check_reference, label_keys

    entropy = root_entropy(seed, CALLER)
    n = samples
    Z = derived_rng(entropy, "gaussian-correlations", "main").standard_normal((n, domain.d))
    T = _table(fns, Z, label_map)
    N = len(fns)
    delta = 1.0 - confidence
    ref_meta = {"law": None, "samples": n, "seed": entropy, "confidence": confidence,
                "abs_error": f"Monte Carlo: every entry within abs_error simultaneously with probability >= "
                             f"{confidence} (empirical Bernstein, union bound)"}
    if kind == "sq":
        labels = np.unique(T)
        if labels.size > MAX_LABELS:
            raise InvalidParameterError(
                f"The 'kind' parameter of {CALLER} can be 'sq' on a Gaussian domain only for a finite label set (at "
                f"most {MAX_LABELS} distinct labels): the family's labels are real-valued ({labels.size} distinct "
                f"values on {n} samples). Pass label_map='nonzero' (1[y != 0]), 'sign' or another label event, or "
                f"use kind='csq'. Got 'sq' instead.")
        if reference is None:
            P = _table(fns, derived_rng(entropy, "gaussian-correlations", "pilot").standard_normal((n, domain.d)),
                       label_map)
            law = {float(y): float(np.mean(P == y)) for y in np.unique(P)}
            unseen = [float(y) for y in labels if law.get(float(y), 0.0) <= 0]
            if unseen:
                raise InvalidParameterError(
                    f"The 'reference' parameter of {CALLER} must be given for this family: label {unseen[0]!r} occurs "
                    f"in the sample but not in the pilot sample that estimates the average label law. Got None "
                    f"instead.")
        else:
            law = _check_reference(reference, labels.tolist())
        p = np.array([law[float(y)] for y in labels])
        inds = [(T == y).astype(np.float64) for y in labels]
        mean_f = [A / math.sqrt(n * pk) for A, pk in zip(inds, p)]  # sum_y A A^T / (n p) - 1
        sq_w = 1.0 / p**2 - 2.0 / p  # k^2 = 1[eq] (1/p^2 - 2/p) + 1
        second = [A * math.sqrt(abs(w) / n) for A, w in zip(inds, sq_w)]
        second_sign = np.sign(sq_w)
        value_range = float(1.0 / p.min())
        offset_mean, offset_second = -1.0, 1.0
        ref_meta["law"] = label_keys(law)
        centre = None
    else:
        boolean = bool(np.all((T == 0) | (T == 1)))
        t = 1.0 - 2.0 * T if boolean else T
        rng = (-1.0, 1.0) if boolean else _label_range(fns, label_map, label_range)
        if rng is None:
            raise InvalidParameterError(
                f"The 'label_range' parameter of {CALLER} must be given for kind='csq' Monte Carlo when the members "
                f"declare no range (the confidence intervals need bounded labels). Got None instead.")
        if t.min() < rng[0] or t.max() > rng[1]:
            raise InvalidParameterError(f"The 'label_range' parameter of {CALLER} must contain every label. Got "
                                        f"{rng}, while the labels reach [{t.min():.6g}, {t.max():.6g}], instead.")
        mu = t.mean(axis=1)
        centre = mu
        mean_f = [t / math.sqrt(n)]
        second = [t * t / math.sqrt(n)]
        second_sign = np.array([1.0])
        span = rng[1] - rng[0]
        value_range = float(max(rng[0] ** 2, rng[1] ** 2) - min(rng[0] * rng[1], 0.0))
        offset_mean = offset_second = 0.0
        ref_meta["law"] = "member means"
        ref_meta["label_range"] = list(rng)
    # simultaneous level: N(N+1)/2 pair means (+ N member means for csq), each two-sided
    events = N * (N + 1) // 2 + (N if centre is not None else 0)
    L = math.log(4.0 * events / delta)

    raw_entries = gram(mean_f, offset_mean)  # the pair means E^[t_i t_j] (csq) or E^[k_ij] (sq)
    second_entries = gram(second, offset_second, second_sign)

    if centre is not None:
        var_mu = n / (n - 1) * np.maximum((t * t).mean(axis=1) - mu**2, 0.0)
        eps_mu = bernstein_halfwidth(var_mu, n, span, L)
    worst = 0.0
    allc = np.arange(N)
    for s in range(0, N, block):
        rows = np.arange(s, min(N, s + block))
        m = raw_entries(rows, allc)
        v = n / (n - 1) * (second_entries(rows, allc) - m * m)
        eps = bernstein_halfwidth(v, n, value_range, L)
        if centre is not None:  # |m_i m_j - mu_i mu_j| <= eps_i |m_j| + eps_j (|m_i| + eps_i)
            eps = eps + eps_mu[rows][:, None] * np.abs(mu)[None, :] \
                + eps_mu[None, :] * (np.abs(mu[rows]) + eps_mu[rows])[:, None]
        worst = max(worst, float(eps.max()))
    meta = {"kind": kind, "reference": ref_meta, "abs_error": worst, "exact": False, "names": names}
    if centre is not None:  # the true means lie within eps_mu of the estimates (same simultaneous level)
        meta["mean_offset"] = float(mu.max() - mu.min()) / 2.0 + float(eps_mu.max())
    if centre is None:
        return factored_matrix(mean_f, offset_mean, N, streaming=streaming, block=block, top=top, meta=meta)
    return factored_matrix(mean_f + [centre[:, None]], offset_mean, N, streaming=streaming, block=block, top=top,
                           meta=meta, signs=[1.0] * len(mean_f) + [-1.0])


__all__ = ["gaussian_correlations", "monte_carlo_correlations"]
