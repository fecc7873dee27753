"""Structured Gaussian queries about lifted targets, with exact Boolean images (docs/theory/lifted-images.md).

* :class:`LiftedCharacter`: phi(z, l) = w_{1[l != 0]} (-1)^{sum_{j in S} 1[z_j >= 0]} (q = 2: 1[z_j >= 0] =
  thres_2(z_j) for every delta).
* :class:`LiftedCharacterBatch`: many LiftedCharacters with one weight pair (like ``sqsim.CharacterBatch``).
* :class:`ThresholdQuery`: phi(z, l) = psi(thres_q(z), e(l)) with a label event e(l) = 1[l != 0] or sign(l).

Each depends on z only through thres_q(z) and on the label l = y phi_D(V) only through a label event, so
under the Theorem 3.2 adapter its Boolean image is a finite mixture over the law of phi_D(V) given the
cells of x (:meth:`CompressedLift.event_probabilities`): :func:`exact_image` builds it, with the law's
certified error as eps_inner.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from .._domains import MAX_CUBE_D
from .._errors import InvalidParameterError, QueryRangeError
from .._queries import LabelCharacter, MemberBatch, Query, check_weights, _check_support, check_values, support_code
from ._intervals import normal_quantile
from .._validation import Callable, Interval, Options, check_param, show

__all__ = ["LiftedCharacter", "LiftedCharacterBatch", "ThresholdQuery", "threshold_boundaries"]

EVENTS = ("nonzero", "sign")
#: the inner bound recorded for images computed from the certified law (no inner draws)
EXACT_BOUND = "exact-law"


def threshold_boundaries(q: int) -> np.ndarray:
    """b_k = Phi^{-1}(k/q), k = 1 .. q-1, computed exactly as the lift's intervals do (independent of delta)."""
    return np.array([normal_quantile(k / q) for k in range(1, q)], dtype=np.float64)


class LiftedCharacter(Query):
    """phi(z, l) = w_{1[l != 0]} (-1)^{sum_{j in S} 1[z_j >= 0]}: a character of thres_2(z) times a label event.

    For q = 2, thres_2(z_j) = 1[z_j >= 0] for every delta (b_1 = Phi^{-1}(1/2) = 0). Through
    :class:`sqsim.adapter.LiftedOracle` its Boolean image is ``LabelCharacter(d, S, (w_0, w_0 + c (w_1 -
    w_0)))`` with c = P[phi_D(V) != 0] from the certified law (docs/theory/lifted-images.md, section
    lifted-images-character-image).

    Parameters
    ----------
    d : int
        1 <= d <= 4096 (``sqsim._domains.MAX_CUBE_D``, the Boolean cube's cap). The exact image needs a lift
        on the same d (CompressedLift: d <= 62); beyond it the query is an ordinary Gaussian query.
    support : sequence of int
        Distinct coordinate indices in [0, d - 1] (may be empty).
    weights : pair of float, default (0.0, 1.0)
        (w_0, w_1) in [-1, 1]: the value's factor when l == 0 and when l != 0. lifted-parity-brute-force's
        1[l != 0] (1 - 2 chi_S(thres z)) is (0, 1); the lift of the Boolean Character (1 - 2y) chi_S is (1, -1).
    name : str, optional

    Examples
    --------
    >>> import numpy as np
    >>> q = LiftedCharacter(4, [0, 2])
    >>> q.values(np.array([[0.5, -1.0, -0.2, 3.0]]), np.array([0.7]), False)
    array([-1.])
    """

    structured = True

    def __init__(self, d, support, weights=(0.0, 1.0), name=None):
        # the cap of the cube its Boolean image lives on (Character, CharacterBatch); the code is a Python int
        check_param("d", d, Interval(int, 1, MAX_CUBE_D), "LiftedCharacter")
        self.d = int(d)
        self.support = _check_support(support, self.d, "LiftedCharacter")
        self.code = support_code(self.support)
        self.weights = check_weights(weights, "LiftedCharacter")
        sup = ",".join(map(str, self.support))
        super().__init__(self._eval, name or f"lifted-w{self.weights}*chi{{{sup}}}", kind="sq", reads=self.support)

    def _eval(self, Z, l):
        Z = np.asarray(Z)
        if self.support:
            s = np.count_nonzero(Z[:, list(self.support)] >= 0, axis=1) & 1
        else:
            s = np.zeros(Z.shape[0], dtype=np.int64)
        w = np.where(np.asarray(l) != 0, self.weights[1], self.weights[0])
        return w * (1.0 - 2.0 * s)

    @property
    def qualname(self) -> str:
        return "sqsim.lift.LiftedCharacter"


class LiftedCharacterBatch(MemberBatch):
    """A batch of LiftedCharacters with one weight pair, asked at once (``LiftedOracle.ask_batch``).

    Like :class:`sqsim.CharacterBatch`: exactly one of ``max_size`` (every |S| <= max_size) and
    ``supports``. Each member is recorded as its own Gaussian query; the images (LabelCharacters) are
    forwarded to the Boolean oracle as one batch.
    """

    def __init__(self, d, max_size=None, *, supports=None, weights=(0.0, 1.0)):
        check_param("d", d, Interval(int, 1, MAX_CUBE_D), "LiftedCharacterBatch")
        self.d = int(d)
        if (max_size is None) == (supports is None):
            raise InvalidParameterError(
                "The 'max_size' parameter of LiftedCharacterBatch must be given exactly when 'supports' is not. "
                f"Got max_size={max_size!r}, supports={'None' if supports is None else '...'} instead.")
        if max_size is not None:
            check_param("max_size", max_size, Interval(int, 0, self.d), "LiftedCharacterBatch")
            sups = [c for k in range(int(max_size) + 1) for c in combinations(range(self.d), k)]
        else:
            if isinstance(supports, (str, bytes)) or not hasattr(supports, "__iter__"):
                raise InvalidParameterError(f"The 'supports' parameter of LiftedCharacterBatch must be a sequence "
                                            f"of supports. Got {show(supports)} instead.")
            sups = [_check_support(s, self.d, "LiftedCharacterBatch") for s in supports]
        self.max_size = max_size
        self.weights = check_weights(weights, "LiftedCharacterBatch")
        self.members = [LiftedCharacter(self.d, s, self.weights) for s in sups]

    def __repr__(self):
        return f"LiftedCharacterBatch(d={self.d}, members={len(self)}, weights={self.weights})"


class ThresholdQuery(Query):
    """phi(z, l) = psi(thres_q(z), e(l)): a function of the cells of z and of one label event.

    Parameters
    ----------
    psi : callable
        ``psi(X, e) -> values`` in [-1, 1], X int64 of shape (n, d) (the cells thres_q(z)), e float64 of
        shape (n,) (the event values).
    q : int, default 2
        The cells are thres_q with boundaries Phi^{-1}(k/q) (independent of delta).
    events : {"nonzero", "sign"}, default "nonzero"
        e(l) = 1[l != 0] (values {0, 1}) or e(l) = sign(l) (values {-1, 0, 1}).
    reads : sequence of int, optional
        The coordinates psi reads (see :class:`sqsim.Query`).
    name : str, optional
    kind : {"sq", "csq"}, default "sq"

    Through :class:`sqsim.adapter.LiftedOracle` with the same q, the Boolean image mixes psi(x, .) over
    the law of e(y phi_D(V)) given the cells of x (docs/theory/lifted-images.md, section
    lifted-images-threshold-image).
    """

    structured = True

    def __init__(self, psi, q=2, *, events="nonzero", reads=None, name=None, kind="sq"):
        check_param("psi", psi, Callable, "ThresholdQuery")
        check_param("q", q, Interval(int, 2, None), "ThresholdQuery")
        check_param("events", events, Options(EVENTS), "ThresholdQuery")
        self.psi, self.q, self.events = psi, int(q), events
        self.boundaries = threshold_boundaries(self.q)
        # Query.__init__ by name: an isolation subclass also derives from sqsim's RemoteQuery
        Query.__init__(self, self._eval, name or f"threshold[{_name(psi)}]", kind=kind, reads=reads)

    def _raw(self, X, y, boolean_labels):
        return self._eval(X, y)

    def event(self, l) -> np.ndarray:
        """e(l) as float64."""
        l = np.asarray(l, dtype=np.float64)
        return (l != 0).astype(np.float64) if self.events == "nonzero" else np.sign(l)

    def cells(self, Z) -> np.ndarray:
        """thres_q(Z) = #{k : z >= b_k} as int64 cells (the lift's ``thres``, one comparison per boundary)."""
        Z = np.asarray(Z, dtype=np.float64)
        out = np.zeros(Z.shape, dtype=np.int64)
        for b in self.boundaries:
            out += Z >= b
        return out

    def psi_values(self, X, e) -> np.ndarray:
        """psi on a batch of cells and event values, checked (shape (n,), finite, in [-1, 1])."""
        n = X.shape[0]
        try:
            out = np.asarray(self.psi(X, e))
        except QueryRangeError:
            raise
        except Exception as exc:
            raise QueryRangeError(f"Query {self.name!r}: psi raised {type(exc).__name__}: {exc} "
                                  f"(called on X of shape {X.shape}).") from exc
        if out.shape == () and n == 1:
            out = out.reshape(1)
        if out.shape != (n,) or not (np.issubdtype(out.dtype, np.number) or out.dtype == np.bool_) \
                or np.iscomplexobj(out):
            raise QueryRangeError(f"Query {self.name!r}: psi must return {n} real values. "
                                  f"Got an array of shape {out.shape} and dtype {out.dtype} instead.")
        out = out.astype(np.float64, copy=False)
        check_values(self.name, out)
        return out

    def _eval(self, Z, l):
        return self.psi_values(self.cells(Z), self.event(l))

    @property
    def qualname(self) -> str:
        return getattr(self.psi, "__qualname__", None) or type(self.psi).__name__


def _name(fn) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__


# ----------------------------------------------------------------------------- Boolean images
class ThresholdImage(Query):
    """The Boolean image of a ThresholdQuery (or of a LiftedCharacter on Z_q^d, q even) under the adapter.

    phi_B(x, y) = sum_e P[e(y phi_D(V)) = e | cells of x] psi(x, e) (docs/theory/lifted-images.md,
    section lifted-images-threshold-image), with the certified event law of each row's histogram (one law for q = 2).
    """

    def __init__(self, lift, query, psi_of_cells, events, reads, name):
        super().__init__(self._evaluate, name, kind=query.kind, reads=reads)
        self._lift, self._psi, self._events, self._query = lift, psi_of_cells, events, query

    @property
    def qualname(self):
        return "sqsim.adapter.ThresholdImage"

    def _laws(self, X):
        """(nonzero, positive, negative) per row: one law for q = 2, per histogram of cells otherwise."""
        lift, n = self._lift, X.shape[0]
        if lift.q == 2:
            ev = lift.event_probabilities()
            return np.full(n, ev.nonzero), np.full(n, ev.positive), np.full(n, ev.negative)
        q, d = lift.q, lift.d
        counts = np.stack([np.count_nonzero(X == c, axis=1) for c in range(q)], axis=1)
        code = counts[:, : q - 1] @ ((d + 1) ** np.arange(q - 1, dtype=np.int64))
        uniq, first, inv = np.unique(code, return_index=True, return_inverse=True)
        tab = np.empty((uniq.shape[0], 3))
        for u, row in enumerate(first):
            ev = lift.event_probabilities(tuple(int(v) for v in counts[row]))
            tab[u] = (ev.nonzero, ev.positive, ev.negative)
        inv = inv.reshape(-1)
        return tab[inv, 0], tab[inv, 1], tab[inv, 2]

    def _evaluate(self, X, y):
        X = np.asarray(X, dtype=np.int64)
        y = np.asarray(y, dtype=np.float64)
        n = X.shape[0]
        out = self._psi(X, np.zeros(n))
        active = np.flatnonzero(y != 0)
        if active.size == 0:
            return out
        Xa, ya = X[active], y[active]
        nz, pos, neg = self._laws(Xa)
        v0 = out[active]
        if self._events == "nonzero":
            v1 = self._psi(Xa, np.ones(active.size))
            out[active] = v0 + nz * (v1 - v0)
        else:
            vp = self._psi(Xa, np.ones(active.size))
            vn = self._psi(Xa, -np.ones(active.size))
            p_plus = np.where(ya > 0, pos, neg)  # sign(y phi) = +1 iff sign(phi) = sign(y)
            p_minus = np.where(ya > 0, neg, pos)
            out[active] = v0 + p_plus * (vp - v0) + p_minus * (vn - v0)
        return np.clip(out, -1.0, 1.0)  # a convex combination of values in [-1, 1]: clip only rounding


def max_law_error(lift, events: str = "nonzero") -> float:
    """The largest certified error of the image's mixture weights over every histogram of cells (one law
    for q = 2): the nonzero error for "nonzero", the positive plus the negative error for "sign"."""
    def one(ev):
        return ev.nonzero_error if events == "nonzero" else ev.positive_error + ev.negative_error

    if lift.q == 2:
        return one(lift.event_probabilities())
    law = lift._law()
    if events not in law.max_errors:
        from itertools import combinations_with_replacement

        err = 0.0
        for combo in combinations_with_replacement(range(lift.q), lift.d):
            counts = np.bincount(np.array(combo, dtype=np.int64), minlength=lift.q)
            err = max(err, one(law.events(tuple(int(v) for v in counts))))
        law.max_errors[events] = err
    return law.max_errors[events]


def exact_image(query, lift, boolean_labels: bool):
    """(Boolean image, eps_inner) of a structured lifted query for this lift, or None if it has none.

    * LiftedCharacter, q = 2, Boolean labels: ``LabelCharacter(d, S, (w_0, w_0 + c (w_1 - w_0)))``,
      eps_inner = |w_1 - w_0| * error.
    * LiftedCharacter, q even otherwise: 1[z >= 0] = 1[thres_q(z) >= q/2]; a :class:`ThresholdImage`.
    * ThresholdQuery with the lift's q: a :class:`ThresholdImage`, eps_inner = 2 * the nonzero error
      ("nonzero") or 2 * (positive + negative error) ("sign"): psi's values spread over at most 2.
    Anything else (e.g. a LiftedCharacter for odd q, a ThresholdQuery for another q): None.
    """
    d = lift.d
    if isinstance(query, LiftedCharacter):
        if query.d != d:
            raise InvalidParameterError(f"The 'query' parameter of LiftedOracle.ask must act on d = {d} "
                                        f"coordinates. Got {query!r} (d = {query.d}) instead.")
        w0, w1 = query.weights
        if lift.q == 2 and boolean_labels:
            ev = lift.event_probabilities()
            c = ev.nonzero
            image = LabelCharacter(d, query.support, (w0, min(1.0, max(-1.0, w0 + c * (w1 - w0)))),
                                   name=f"lift[{query.name}]")
            return image, abs(w1 - w0) * ev.nonzero_error
        if lift.q % 2:
            return None
        half, S = lift.q // 2, list(query.support)

        def psi(X, e, S=S, half=half, w=(w0, w1)):
            s = np.count_nonzero(X[:, S] >= half, axis=1) & 1 if S else np.zeros(X.shape[0], dtype=np.int64)
            return np.where(e != 0, w[1], w[0]) * (1.0 - 2.0 * s)

        reads = query.support if lift.q == 2 else None
        image = ThresholdImage(lift, query, psi, "nonzero", reads, f"lift[{query.name}]")
        return image, abs(w1 - w0) * max_law_error(lift)
    if isinstance(query, ThresholdQuery):
        if query.q != lift.q:
            return None
        reads = query.reads if lift.q == 2 else None
        if reads is not None and any(j >= d for j in reads):
            raise InvalidParameterError(f"The 'reads' parameter of ThresholdQuery must index the d = {d} "
                                        f"coordinates. Got {query.reads!r} instead.")
        image = ThresholdImage(lift, query, query.psi_values, query.events, reads, f"lift[{query.name}]")
        return image, 2.0 * max_law_error(lift, query.events)
    return None
