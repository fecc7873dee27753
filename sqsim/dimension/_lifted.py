"""Exact pairwise correlations of lifted classes against the lifted null (docs/theory/dimension-lifted.md).

A lifted family is {g_i = f_i^Delta} for Boolean (or Z_q) concepts f_i and one
:class:`~sqsim.lift.CompressedLift`: g_i(z) = f_i(x) phi_D(V), x = thres_q(z), V = sum_j N2(z_j)
(CGKM22 Eq. (5) with sqsim's N3). The reference distribution is the lift of a Boolean null: the
label b phi_D(V) with b ~ p0 drawn independently of z. Then (docs/theory/dimension-lifted.md,
sections "lifted-sq" and "lifted-csq")

    chi_ij  = E_x[ P_nz(x) k_ij(x) ],        k_ij(x) = 1[f_i(x) = f_j(x)] / p0(f_i(x)) - 1,
    csq_ij  = E_x[ M2(x) (f_i(x) - m0)(f_j(x) - m0) ],   m0 = E_{p0}[b],

where P_nz(x) = P[phi_D(V) != 0 | thres_q(z) = x] and M2(x) = E[phi_D(V)^2 | thres_q(z) = x] depend on x
only through the histogram of its cells (docs/theory/lifted-images.md, section "law-of-v"); for q = 2
they are constants c and m2, so chi = c chi^Boolean. P_nz comes certified from
:meth:`CompressedLift.event_probabilities`; M2 is certified here from the same lattice brackets
(section "lifted-second-moment").
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .._errors import InvalidParameterError
from .._validation import show
from ._matrix import factored_matrix

UNIT_ROUNDOFF = 2.0**-53
#: label events the exact lifted engine supports (docs/theory/dimension-lifted.md, "lifted-events")
LIFTED_EVENTS = (None, "nonzero", "sign")


@dataclass(frozen=True)
class CertifiedValue:
    """A value with a certified absolute error: the exact quantity lies in [value - error, value + error]."""

    value: float
    error: float

    @property
    def interval(self) -> tuple[float, float]:
        return (self.value - self.error, self.value + self.error)


# ---------------------------------------------------------------------------------------------- M2
def _phi_exact(v: Fraction, const) -> Fraction:
    """phi_D(v) in exact arithmetic: ((-1)^D / kappa) g(kmax - kappa v), g linear between integers."""
    u = const.kmax - const.kappa * v
    if u <= 0 or u >= const.kmax:
        return Fraction(0)
    m = u.numerator // u.denominator
    frac = u - m
    g = const.g_table
    return Fraction(const.sign, const.kappa) * (g[m] + frac * (g[m + 1] - g[m]))


def square_variations(const, G: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(Ht_plus, Ht_minus, total) on the lattice k / G, k = 0 .. G (float64, relative error <= u).

    h = phi_D^2 = H_+ - H_- with H_+(v) = int_0^v (h')_+ and H_-(v) = int_0^v (h')_- (non-decreasing);
    Ht_pm = H_pm - total, total = H_+(inf) = H_-(inf) (h(0) = h(inf) = 0), so Ht_pm is non-decreasing,
    <= 0, and 0 for v >= kmax / kappa (docs/theory/dimension-lifted.md, section "lifted-second-moment").
    Computed in exact rational arithmetic: between consecutive points of (lattice, breakpoints of phi_D,
    its zeros) phi_D is affine without a sign change, so h is monotone there.
    """
    vstar = Fraction(const.kmax, const.kappa)
    pts = {Fraction(k, G) for k in range(G + 1) if Fraction(k, G) <= vstar}
    bps = [(Fraction(const.kmax - m, const.kappa), Fraction(const.sign * const.g_table[m], const.kappa))
           for m in range(const.kmax + 1)]
    bps.sort()
    for (va, pa), (vb, pb) in itertools.pairwise(bps):
        pts.add(va)
        pts.add(vb)
        if pa * pb < 0:  # a zero inside the segment
            pts.add(va + pa / (pa - pb) * (vb - va))
    pts = sorted(pts)
    hp = Fraction(0)
    hm = Fraction(0)
    prev_h = Fraction(0)
    at_lattice_p, at_lattice_m = {}, {}
    for i, v in enumerate(pts):
        h = _phi_exact(v, const) ** 2
        if i:
            step = h - prev_h
            if step > 0:
                hp += step
            else:
                hm -= step
        prev_h = h
        if (v * G).denominator == 1:
            at_lattice_p[int(v * G)] = hp
            at_lattice_m[int(v * G)] = hm
    if hp != hm:  # pragma: no cover - h(0) = h(vstar) = 0 exactly
        raise AssertionError("phi_D^2 does not return to 0")
    total = hp
    Hp = np.zeros(G + 1)
    Hm = np.zeros(G + 1)
    for k, val in at_lattice_p.items():
        Hp[k] = float(val - total)
        Hm[k] = float(at_lattice_m[k] - total)
    return Hp, Hm, float(total)


def second_moment(lift, cell_counts=None, *, grid=None) -> CertifiedValue:
    """E[phi_D(V)^2 | the cells of x] with a certified absolute error (docs/theory/dimension-lifted.md).

    V = sum_j N2(z_j), z ~ N(0, I_d) | thres_q(z) = x; ``cell_counts[c]`` is the number of coordinates
    of x in cell c, None means unconditional (for q = 2 every histogram gives the same value). With
    V^- <= V <= V^+ the lattice brackets of the law code (docs/theory/lifted-images.md, "bracket") and
    the monotone parts Ht_pm of phi_D^2 (:func:`square_variations`):

        E[Ht_+(V^-)] - E[Ht_-(V^+)] <= E[phi_D(V)^2] <= E[Ht_+(V^+)] - E[Ht_-(V^-)],

    widened by the law's L1 error, the rounding of the sums and the float64 phi_D allowance.
    """
    law = lift._law(grid)
    lattice = law.lattice_law(cell_counts)
    counts = lattice.cell_counts
    cache = law.__dict__.setdefault("_second_moments", {})
    if counts in cache:
        return cache[counts]
    G = law.G
    var = law.__dict__.get("_square_variations")
    if var is None:
        var = square_variations(lift.constants, G)
        law.__dict__["_square_variations"] = var
    Hp, Hm, total = var
    floor, ceil, err = lattice.floor, lattice.ceil, lattice.error
    lo = float(floor @ Hp) - float(ceil @ Hm)
    hi = float(ceil @ Hp) - float(floor @ Hm)
    # each sum: L1 error err of the pmf times max |Ht| = total, rounding of G + 1 products and of Ht
    per_sum = total * (err + 1.01 * (G + 3) * UNIT_ROUNDOFF)
    c = lift.constants
    plo, phi_ = c.phi_range()
    pmax = max(abs(plo), abs(phi_))
    eps_phi = 16 * UNIT_ROUNDOFF * (c.kmax + c.kappa * pmax)  # float64 phi_D against the exact one
    lo = max(0.0, lo - 2 * per_sum)
    hi = hi + 2 * per_sum
    value = (lo + hi) / 2
    error = (hi - lo) / 2 * (1 + 4 * UNIT_ROUNDOFF) + 4 * UNIT_ROUNDOFF * value + 2 * pmax * eps_phi + eps_phi**2
    out = CertifiedValue(float(value), float(error))
    cache[counts] = out
    return out


def nonzero_probability(lift, cell_counts=None, *, grid=None) -> CertifiedValue:
    """P[phi_D(V) != 0 | the cells of x] (certified; :meth:`CompressedLift.event_probabilities`)."""
    ev = lift.event_probabilities(cell_counts, grid=grid)
    return CertifiedValue(float(ev.nonzero), float(ev.nonzero_error))


# ---------------------------------------------------------------------------------------------- families
def lifted_members(family):
    """(lift, [Boolean concepts]) if every member of ``family`` is a lifted concept of one lift, else None.

    Members must come from :meth:`CompressedLift.lift` of lifts with equal parameters (d, q, delta, D);
    a mixture of lifted and other members is not a lifted family (it is estimated by Monte Carlo).
    """
    from ..lift import LiftedConcept

    members = list(family)
    if not members or not all(isinstance(g, LiftedConcept) for g in members):
        return None
    lift = members[0].lift
    key = (lift.d, lift.q, lift.delta, lift.D)
    for g in members:
        other = g.lift
        if (other.d, other.q, other.delta, other.D) != key:
            raise InvalidParameterError(
                f"The 'family' parameter of pairwise_correlations must lift every member with one lift (equal d, q, "
                f"delta, D): the lifted null depends on it. Got members of {lift!r} and {other!r} instead.")
    return lift, [g.concept for g in members]


def check_event(event, where: str):
    if event is not None and not (isinstance(event, str) and event in LIFTED_EVENTS):
        raise InvalidParameterError(
            f"The 'event' parameter of {where} must be None, 'nonzero' (1[y != 0]) or 'sign' (sign(y)) for a lifted "
            f"family (an event e with e(y phi) a one-to-one function of e(y) for every phi != 0). Got {show(event)} "
            f"instead.")
    return event


def event_labels(y: np.ndarray, event) -> np.ndarray:
    """Boolean-side labels seen through a label event: 1[y != 0], sign(y) or y itself (None)."""
    y = np.asarray(y, dtype=np.float64)
    if event == "nonzero":
        return (y != 0).astype(np.float64)
    if event == "sign":
        return np.sign(y)
    return y


def histogram_index(X: np.ndarray, q: int) -> tuple[np.ndarray, list]:
    """(index of each point's cell histogram, the histograms as tuples) for points X of Z_q^d."""
    counts = np.stack([(X == c).sum(axis=1) for c in range(q)], axis=1)
    uniq, inv = np.unique(counts, axis=0, return_inverse=True)
    return inv.reshape(-1), [tuple(int(v) for v in row) for row in uniq]


def point_weights(lift, X: np.ndarray, which: str, grid=None) -> tuple[np.ndarray, float]:
    """(w(x) for every row of X, max certified error): w = P_nz (``which="nonzero"``) or M2 ("second")."""
    fn = nonzero_probability if which == "nonzero" else second_moment
    if lift.q == 2:
        cv = fn(lift, None, grid=grid)
        return np.full(X.shape[0], cv.value), cv.error
    inv, hists = histogram_index(X, lift.q)
    vals = [fn(lift, h, grid=grid) for h in hists]
    w = np.array([v.value for v in vals])[inv]
    return w, max(v.error for v in vals)


# ---------------------------------------------------------------------------------------------- matrices
def _event_map(event):
    return None if event is None else (lambda y: event_labels(y, event))


def _law_mean(law: dict) -> float:
    return math.fsum(float(y) * p for y, p in law.items())


def _csq_scale(kind, event) -> float:
    """4 for CSQ on the Boolean event 1[l != 0] (read as 1 - 2e, sqsim's CSQ convention for {0, 1} labels), else 1."""
    return 4.0 if kind == "csq" and event == "nonzero" else 1.0


def _kernel_bound(kind, law) -> float:
    """max |k_ij(x)| over the labels of the law: SQ max(1/p0 - 1, 1); CSQ max (y - m0)^2."""
    if kind == "sq":
        return max(max(1.0 / p - 1.0 for p in law.values() if p > 0), 1.0)
    m0 = _law_mean(law)
    return max((float(y) - m0) ** 2 for y in law)


def lifted_correlations(lift, concepts, *, kind, reference=None, event=None, streaming=False, block=256, top=64,
                        grid=None, names=None, where="pairwise_correlations"):
    """The exact correlation matrix of the lifted family {lift.lift(f) : f in concepts} (certified error).

    ``kind="sq"``: chi_ij = E_x[P_nz(x) k_ij(x)] against the lifted null (label b phi_D(V), b ~ p0
    independent of z); ``kind="csq"``: E_x[W(x) (f_i(x) - m0)(f_j(x) - m0)] with W = M2 = E[phi_D(V)^2 | x]
    (raw lifted labels) or W = P_nz (labels seen through a label event), m0 = E_{p0}[b]
    (docs/theory/dimension-lifted.md, sections "lifted-sq", "lifted-events", "lifted-csq"). ``reference`` is
    the Boolean label law p0 {label: probability} (default: the average label law over the family, on x
    uniform); ``event`` is None, ``"nonzero"`` or ``"sign"``. ``abs_error`` = (the largest certified error of
    the weights over the histograms) x (the largest |k_ij(x)|) plus rounding.
    """
    from .._domains import BooleanCube, ZqCube
    from ..concepts import Parity
    from ._correlations import CharacterSource, TableSource, _check_reference, label_keys

    check_event(event, where)
    d, q = lift.d, lift.q
    dom = BooleanCube(d) if q == 2 else ZqCube(d, q)
    which = "nonzero" if kind == "sq" or event is not None else "second"
    ref_meta = {"law": None, "lift": {"d": d, "q": q, "delta": lift.delta, "D": lift.D}, "event": event,
                "null": "label b phi_D(V), b ~ law independent of z (the lift of the Boolean null)",
                "abs_error": "certified (lattice brackets of the law of V)"}
    if q == 2 and all(isinstance(f, Parity) for f in concepts):
        # character path: every entry is affine in e_S, e_T, e_{S xor T}, e_S e_T (labels in {0, 1}, events = identity)
        src = CharacterSource(dom, np.array([f.code for f in concepts], dtype=np.int64))
        w = nonzero_probability(lift, grid=grid) if which == "nonzero" else second_moment(lift, grid=grid)
        if kind == "sq":
            coef, law = src.coefficients("sq", reference)
        else:
            law = src.label_law(reference)
            a = 0.5 - _law_mean(law)  # f - m0 = a - chi_S / 2 with chi_S = (-1)^{S.x}
            coef = (a * a, -a / 2.0, 0.25, 0.0)
        scale = _csq_scale(kind, event)
        coef = tuple(scale * w.value * c for c in coef)
        K = scale * _kernel_bound(kind, law)
        ref_meta["law"] = law
        meta = {"kind": kind, "reference": ref_meta, "abs_error": float(w.error * K + 64 * UNIT_ROUNDOFF * K),
                "exact": False, "names": names if names is not None else src.names}
        return src.matrix(coef, meta, streaming, block, top)
    # label-table path: factors weighted by sqrt(W(x)), one per label (sq) or the centred table (csq)
    tab = TableSource.evaluate(dom, list(concepts), _event_map(event), names)
    table = tab.table
    n = table.shape[1]
    weights, werr = point_weights(lift, dom.enumerate(), which, grid)
    labels = np.unique(table)
    if reference is None:
        law = {float(y): float(np.mean(table == y)) for y in labels}
    else:
        law = _check_reference(reference, labels.tolist())
    law = label_keys(law)
    root = np.sqrt(weights / n)
    if kind == "sq":
        if labels.size > 64:
            raise InvalidParameterError(
                f"The 'kind' parameter of {where} can be 'sq' only for a finite Boolean label set (at most 64 "
                f"labels); the lifted family's Boolean labels take {labels.size}. Got 'sq' instead.")
        factors = [(table == y) * (root / math.sqrt(law[(int(y) if float(y).is_integer() else float(y))]))[None, :]
                   for y in labels]
        offset = -float(np.mean(weights))
    else:
        factors = [(table - _law_mean(law)) * (math.sqrt(_csq_scale(kind, event)) * root)[None, :]]
        offset = 0.0
    K = _csq_scale(kind, event) * _kernel_bound(kind, law)
    ref_meta["law"] = law
    meta = {"kind": kind, "reference": ref_meta, "abs_error": float(werr * K + 4 * (n + 2) * UNIT_ROUNDOFF * K),
            "exact": False, "names": tab.names if names is None else names}
    return factored_matrix(factors, offset, tab.N, streaming=streaming, block=block, top=top, meta=meta)
