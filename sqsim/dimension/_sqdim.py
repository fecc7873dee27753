"""The SQ dimension of Blum, Furst, Jackson, Kearns, Mansour, Rudich (STOC 1994), certified.

docs/theory/dimension.md, section "SQ dimension".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._errors import InvalidParameterError
from .._export import export
from .._validation import Interval, Options, check_param
from ._sda import _as_matrix

#: the pairwise bound of each form: BFJ+94's own Definition 2 (1/d^3) and the later 1/d form
FORMS = {"bfj94": lambda d: 1.0 / d**3, "1/d": lambda d: 1.0 / d}
BFJ94 = ("Blum, Furst, Jackson, Kearns, Mansour, Rudich, STOC 1994, Definition 2: SQ-dim(C, D) is the largest d "
         "such that C has d members with |<f_i, f_j>_D| <= 1/d^3 for all i != j.")
ONE_OVER_D = ("The later form (for example Feldman's and Reyzin's surveys): the largest d with d members whose "
              "pairwise |correlation| is at most 1/d.")


@export
@dataclass(frozen=True)
class SQDimension:
    """A certified interval lower <= SQ-dim <= upper, its witness and the weak-learning bound it gives.

    Attributes
    ----------
    lower, upper : int
    form : {"bfj94", "1/d"}
    witness : tuple of int
        ``lower`` members whose pairwise |chi| (plus abs_error) is within the form's bound.
    exact : bool
        True when lower == upper (always, for N <= ``exact_cap``: maximum clique by branch and bound).
    weak_learning : dict
        BFJ+94 Theorem 12 applied to mu (``lower`` for form "bfj94", floor(lower^(1/3)) for "1/d"):
        for mu >= 16, learning to error below 1/2 - 1/mu^3 with queries of tolerance at least
        mu^(-1/3) (theirs, [0, 1]-valued queries; 2 mu^(-1/3) in sqsim's convention) needs at least
        mu^(1/3)/2 queries.
    definition : str
    """

    lower: int
    upper: int
    form: str
    witness: tuple = field(repr=False)
    exact: bool
    weak_learning: dict = field(repr=False)
    definition: str = field(repr=False)


def weak_learning_bound(mu: int) -> dict:
    """BFJ+94 Theorem 12 at SQ-dim (their Definition 2) mu (docs/theory/dimension.md, "SQ dimension")."""
    applies = mu >= 16
    root = mu ** (1.0 / 3.0) if mu > 0 else 0.0
    return {"mu": int(mu), "applies": applies, "queries": root / 2 if applies else None,
            "tolerance_theirs": 1 / root if applies else None, "tolerance_sqsim": 2 / root if applies else None,
            "error_below": 0.5 - 1.0 / mu**3 if applies else None,
            "theorem": "BFJ+94 Theorem 12 (SQ-dim >= mu >= 16; tolerance >= mu^(-1/3) in [0, 1]-valued queries)"}


@export
def sq_dimension(family_or_matrix, domain=None, *, form="bfj94", exact_cap=40, **options) -> SQDimension:
    """The SQ dimension (largest set with small pairwise |correlation|), certified, with its witness.

    Parameters
    ----------
    family_or_matrix : CorrelationMatrix or finite family
        The correlations chi_ij; for a Boolean family with the uniform label law as reference
        (``kind="sq"``, p0 = (1/2, 1/2), the default for balanced families) chi_ij = E[f'_i f'_j]
        with f' = 1 - 2f, BFJ+94's correlation.
    form : {"bfj94", "1/d"}
        - ``"bfj94"``: |chi_ij| <= 1/d^3 for i != j (BFJ+94 Definition 2, the one their Theorem 12 uses);
        - ``"1/d"``: |chi_ij| <= 1/d (the form of later surveys).
    exact_cap : int, default 40
        Up to this many members the maximum clique is found exactly (branch and bound).

    Returns
    -------
    SQDimension

    Examples
    --------
    >>> from sqsim.concepts import Parities
    >>> sq_dimension(Parities(4), members=range(1, 16)).lower
    15
    """
    c = "sq_dimension"
    check_param("form", form, Options(tuple(FORMS)), c)
    check_param("exact_cap", exact_cap, Interval(int, 0, 64), c)
    matrix = _as_matrix(family_or_matrix, domain, c, options)
    bound, N, err = FORMS[form], matrix.N, matrix.abs_error
    definition = BFJ94 if form == "bfj94" else ONE_OVER_D

    def result(lower, upper, witness):
        mu = lower if form == "bfj94" else math.floor(lower ** (1 / 3) + 1e-12)
        return SQDimension(int(lower), int(upper), form, tuple(int(i) for i in sorted(witness)), lower == upper,
                           weak_learning_bound(mu), definition)

    if matrix.max_offdiagonal + err <= bound(N):
        return result(N, N, range(N))
    if not matrix.stored:
        raise InvalidParameterError(
            f"The 'family_or_matrix' parameter of {c} must be a dense CorrelationMatrix (or a family whose N x N matrix "
            f"fits) unless every off-diagonal |chi| is within the bound at d = N; got a streamed matrix with "
            f"N = {N} and max off-diagonal {matrix.max_offdiagonal:.3g} instead.")
    A = np.abs(matrix.values)

    def graph(d, slack):  # edges i ~ j with |chi_ij| + slack <= bound(d)
        G = A + slack <= bound(d)
        np.fill_diagonal(G, False)
        return G

    if N <= exact_cap:
        lo_w = _largest(lambda d: _max_clique(graph(d, err)), N)
        hi = _largest(lambda d: _max_clique(graph(d, -err)), N)[0]
        return result(lo_w[0], hi, lo_w[1])
    lower, witness = _largest(lambda d: _greedy_clique(graph(d, err)), N)
    upper = N
    # a greedy colouring of the supergraph with fewer than d colours rules out a d-clique (and every larger one)
    d = lower + 1
    while d <= N:
        if _greedy_colours(graph(d, -err)) < d:
            upper = d - 1
            break
        d = d + 1 if d < lower + 64 else min(N + 1, 2 * d)
    if upper < N and d > lower + 64:  # refine the doubling step downwards
        lo, hi = lower + 1, upper + 1
        while lo < hi:
            mid = (lo + hi) // 2
            if _greedy_colours(graph(mid, -err)) < mid:
                hi = mid
            else:
                lo = mid + 1
        upper = lo - 1
    return result(lower, upper, witness)


def _largest(clique_of, N):
    """The largest d with a clique of size >= d in graph(d) (feasibility is monotone in d), with a witness."""
    best, best_w = 1, [0]
    lo, hi = 1, N
    while lo <= hi:
        mid = (lo + hi) // 2
        w = clique_of(mid)
        if len(w) >= mid:
            best, best_w = mid, w[:mid]
            lo = mid + 1
        else:
            hi = mid - 1
    return best, best_w


def _greedy_clique(G):
    order = np.argsort(-G.sum(axis=1), kind="stable")
    clique, allowed = [], np.ones(len(G), dtype=bool)
    for v in order:
        if allowed[v]:
            clique.append(int(v))
            allowed &= G[v]
    return clique


def _greedy_colours(G):
    order = np.argsort(-G.sum(axis=1), kind="stable")
    colour = np.full(len(G), -1)
    for v in order:
        used = set(colour[G[v] & (colour >= 0)].tolist())
        k = 0
        while k in used:
            k += 1
        colour[v] = k
    return int(colour.max()) + 1


def _max_clique(G):
    """A maximum clique (Bron-Kerbosch with pivoting on bit masks); small graphs only."""
    n = len(G)
    nbr = [sum(1 << int(j) for j in np.flatnonzero(G[i])) for i in range(n)]
    best = {"mask": 1, "size": 1}  # a single vertex is a clique

    def expand(R, size, P, X):
        if P == 0:
            if X == 0 and size > best["size"]:
                best["mask"], best["size"] = R, size
            return
        if size + P.bit_count() <= best["size"]:
            return
        u = max(_bits(P | X), key=lambda v: (P & nbr[v]).bit_count())
        for v in _bits(P & ~nbr[u]):
            expand(R | (1 << v), size + 1, P & nbr[v], X & nbr[v])
            P &= ~(1 << v)
            X |= 1 << v

    if n:
        expand(0, 0, (1 << n) - 1, 0)
    return _bits(best["mask"])


def _bits(mask):
    out, i = [], 0
    while mask:
        if mask & 1:
            out.append(i)
        mask >>= 1
        i += 1
    return out
