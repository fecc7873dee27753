"""The generic Boolean image of a Gaussian query under the Theorem 3.2 adapter: inner Monte Carlo (MATH.md
section 4, (A1)).

phi_B(x, y) = (1/K) sum_k phi(z_k(x), y phi_D(sum_j N2(z_kj))) with inner draws z_k(x) ~ N(0, I_d) |
thres_q(z) = x fixed by (the adapter's seed, the Gaussian query's key, x), so phi_B is a fixed bounded
function the Boolean oracle answers like any other query. :func:`monte_carlo_image` chooses K and the
certified inner error eps_inner; the image carries ``eps_inner``, ``inner_samples`` and ``inner_bound``
(the rule that chose K), which the adapter records per query.
"""

from __future__ import annotations

import numpy as np

import math

from .._errors import InvalidParameterError, QueryRangeError
from .._kernels import adapter as kadapter
from .._kernels import pick
from .._queries import NumbaQuery, Query

#: rows of inner draws evaluated at once (bounded memory)
ROWS = 2**17


class _BooleanImage(Query):
    """phi_B of (A1): the Boolean query a Gaussian query becomes."""

    def __init__(self, adapter, query: Query, seed: np.uint64, K: int):
        super().__init__(self._evaluate, f"lift[{query.name}]", kind=query.kind)
        self._adapter, self._query, self._seed, self._K = adapter, query, seed, K
        self._memo = (None, None, None)
        self._label_memo = None

    @property
    def qualname(self):
        return "sqsim.adapter.BooleanImage"

    def _draws(self, codes):
        if self._memo[0] is not None and np.array_equal(self._memo[0], codes):
            return self._memo[1], self._memo[2]
        Z, mult = cell_draws(self._adapter, codes, self._K, self._seed)
        self._memo = (codes.copy(), Z, mult)
        return Z, mult

    def _evaluate(self, X, y):
        a = self._adapter
        codes = a.boolean.domain.encode(X)
        y = np.asarray(y, dtype=np.float64)
        labels = a.label_values
        if (not isinstance(self._query, NumbaQuery) and labels is not None and 1 < len(labels) <= 16
                and y.size and np.all(y == y[0]) and y[0] in labels):
            # phi_B depends on x only through its code: evaluate each distinct code once (the sampled
            # strategy and Monte Carlo Boolean truths repeat points, one label value at a time)
            uniq, inverse = np.unique(codes, return_inverse=True)
            if uniq.shape[0] < codes.shape[0]:
                return self._evaluate_all_labels(uniq, float(y[0]), labels)[inverse]
            return self._evaluate_all_labels(codes, float(y[0]), labels)
        # phi_B is a function of (x, y): evaluate each distinct pair once (the sampled strategy and
        # Monte Carlo Boolean truths repeat points)
        order = np.lexsort((y, codes))  # exact on int64 codes (no float round trip)
        cs, ys = codes[order], y[order]
        new = np.ones(cs.shape[0], dtype=bool)
        new[1:] = (cs[1:] != cs[:-1]) | (ys[1:] != ys[:-1])
        if new.all():
            return self._evaluate_pairs(codes, y)
        group = np.cumsum(new) - 1
        vals = self._evaluate_pairs(cs[new], ys[new])
        out = np.empty(codes.shape[0])
        out[order] = vals[group]
        return out

    def _evaluate_all_labels(self, codes, y0, labels):
        """phi_B(x, v) for every label value v on one pass of inner draws; the other labels are kept for
        the oracle's next calls (it enumerates the same points once per label value, MATH.md M1)."""
        memo = self._label_memo
        if memo is not None and y0 in memo[1] and np.array_equal(memo[0], codes):
            return memo[1].pop(y0)
        K, step = self._K, max(1, ROWS // self._K)
        vals = {float(v): np.empty(codes.shape[0]) for v in labels}
        for s in range(0, codes.shape[0], step):
            cs = codes[s : s + step]
            Z, mult = self._draws(cs)
            for v, out in vals.items():
                ytil = np.full(cs.shape[0] * K, v) * mult  # the label map of Eq. (7)
                out[s : s + step] = self._query.values(Z, ytil, False).reshape(-1, K).mean(axis=1)
        mine = vals.pop(y0)
        self._label_memo = (codes.copy(), vals)
        return mine

    def _evaluate_pairs(self, codes, y):
        if isinstance(self._query, NumbaQuery):  # fused: draws consumed in place by the compiled query
            return fused_image(self._adapter, self._query, codes, y, self._K, self._seed)
        out = np.empty(codes.shape[0])
        K = self._K
        step = max(1, ROWS // K)
        for s in range(0, codes.shape[0], step):
            cs = codes[s : s + step]
            Z, mult = self._draws(cs)
            ytil = np.repeat(y[s : s + step], K) * mult  # the label map of Eq. (7)
            vals = self._query.values(Z, ytil, False)  # checked: [-1, 1], finite, right shape
            out[s : s + step] = vals.reshape(-1, K).mean(axis=1)
        return out




def cell_draws(adapter, codes, K, seed):
    codes = np.ascontiguousarray(codes, dtype=np.int64)
    kern = pick(kadapter.cell_draws, codes.shape[0] * K * adapter.lift.d)
    return kern(codes, adapter.lift.d, adapter.lift.q, K, seed, *adapter._kernel_args)

def fused_image(adapter, query, codes, y, K, seed):
    codes = np.ascontiguousarray(codes, dtype=np.int64)
    query._set_params(False)
    d = adapter.lift.d
    reads = np.ones(d, dtype=np.uint8)
    if query.reads is not None:
        if any(j >= d for j in query.reads):
            raise InvalidParameterError(f"The 'reads' parameter of NumbaQuery must index the d = {d} coordinates. "
                                        f"Got {query.reads!r} instead.")
        reads[:] = 0
        reads[list(query.reads)] = 1
    p_in_s = float(math.erf(adapter.lift.intervals.U[0] / math.sqrt(2))) if adapter.lift.q == 2 else 0.0
    kern = pick(kadapter.fused_image, codes.shape[0] * K * d)
    vals, bad, badval = kern(query.fn, query.params, codes, np.ascontiguousarray(y, dtype=np.float64),
                             d, adapter.lift.q, K, seed, reads, p_in_s, *adapter._kernel_args)
    if bad >= 0:
        raise QueryRangeError(f"Query {query.name!r} must return values in [-1, 1]. Got {float(badval)!r} on "
                              f"an inner draw of Boolean point code {int(codes[bad])} instead.")
    return vals


def monte_carlo_image(adapter, query: Query, key: str, seed: np.uint64) -> _BooleanImage:
    """The inner Monte Carlo image of ``query`` with the adapter's fixed K (Hoeffding at tau / 4)."""
    image = _BooleanImage(adapter, query, seed, adapter.K)
    image.key = key
    image.eps_inner, image.inner_samples, image.inner_bound = adapter.eps_inner, adapter.K, "hoeffding"
    return image
