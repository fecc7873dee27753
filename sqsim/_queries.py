"""Statistical queries: bounded functions phi(x, y) -> [-1, 1] evaluated on batches.

* :class:`Query` wraps a vectorised Python function ``fn(X, y)`` (X of shape (n, d), y of
  shape (n,)) returning an array of shape (n,).
* :class:`CorrelationalQuery` is phi(x, y) = y' g(x) with y' = 1 - 2y for Boolean labels and
  y' = y for real labels (docs/theory/sq-model.md, section sq-stat).
* :class:`NumbaQuery` wraps a Numba-compiled scalar function ``fn(x, y, params)``; on finite
  domains it runs fused inside the enumeration kernel.
* :class:`Character` (chi_S correlation on {0,1}^d) and :class:`ZqCharacter` (cosine
  character on Z_q^d) are structured: answered by dedicated kernels.
* :class:`CharacterBatch` is a structured batch (all chi_S with |S| <= k, or a given list):
  one Walsh-Hadamard transform answers every member, each member is counted as one query.

Points on finite domains reach queries as int64 arrays, labels as float64 arrays.
"""

from __future__ import annotations

import functools
import math
from itertools import combinations
from typing import Sequence

import numba
import numpy as np

from ._errors import InvalidParameterError, QueryRangeError
from ._export import export
from ._validation import Callable, Interval, Options, check_param, show
from ._domains import MAX_CUBE_D

KINDS = ("sq", "csq", "label", "gradient", "example")
LABEL_MODES = ("auto", "boolean", "real")


def _fn_name(fn) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__


@export
class Query:
    """A statistical query phi(x, y) with values in [-1, 1], evaluated on batches.

    Parameters
    ----------
    fn : callable
        ``fn(X, y) -> values`` with X of shape (n, d), y of shape (n,), values of shape (n,).
    name : str, optional
        Shown in the ledger. Defaults to the function's qualified name.
    kind : {"sq", "csq"}, default "sq"
        The ledger kind.
    reads : sequence of int, optional
        The coordinates of x the function reads (default: all). A query that declares its reads is a
        junta: truth engines may enumerate only the coordinates it reads (and the target's support), and
        the Theorem 3.2 adapter draws per cell of x_R. A query that reads an undeclared coordinate is
        refused (:class:`QueryContractError`) where the engine can tell, and never answered wrongly.

    A query whose values leave [-1, 1], are NaN, or have the wrong shape raises
    :class:`QueryRangeError` naming the query and the offending value; nothing is recorded.

    Examples
    --------
    >>> from sqsim import Query
    >>> q = Query(lambda X, y: (1 - 2 * y) * (1 - 2 * X[:, 0]), name="corr-x0")
    """

    kind = "sq"
    structured = False

    def __init__(self, fn, name=None, *, kind="sq", reads=None):
        check_param("fn", fn, Callable, type(self).__name__)
        if name is not None:
            check_param("name", name, _Str, type(self).__name__)
        check_param("kind", kind, Options(("sq", "csq")), type(self).__name__)
        self.fn = fn
        self.name = name if name is not None else _fn_name(fn)
        self.kind = kind
        self.reads = check_reads(reads, type(self).__name__)

    @property
    def qualname(self) -> str:
        return _fn_name(self.fn)

    def _raw(self, X, y, boolean_labels: bool):
        return self.fn(X, y)

    def values(self, X: np.ndarray, y: np.ndarray, boolean_labels: bool = True, *, binary=False,
               where=None) -> np.ndarray:
        """Evaluate on a batch and check shape and range ([-1, 1], or {0, 1} if ``binary``).

        ``where(i)`` may describe batch row i (the point and label) for the error message.
        """
        n = X.shape[0]
        try:
            out = self._raw(X, y, boolean_labels)
        except QueryRangeError:
            raise
        except Exception as exc:  # the user's function failed: say which query
            raise QueryRangeError(
                f"Query {self.name!r} raised {type(exc).__name__}: {exc} (called on X of shape {X.shape})."
            ) from exc
        vals = np.asarray(out)
        if vals.shape == () and n == 1:
            vals = vals.reshape(1)
        if vals.shape != (n,):
            raise QueryRangeError(
                f"Query {self.name!r} must return an array of shape ({n},) for a batch of {n} points. "
                f"Got shape {vals.shape} instead."
            )
        if not (np.issubdtype(vals.dtype, np.number) or vals.dtype == np.bool_) or np.iscomplexobj(vals):
            raise QueryRangeError(f"Query {self.name!r} must return real numbers. Got dtype {vals.dtype} instead.")
        vals = vals.astype(np.float64, copy=False)
        try:
            check_values(self.name, vals, binary=binary, where=where)
        except QueryRangeError:
            self._blame_labels(y, vals, boolean_labels, where)
            raise
        return vals

    def _blame_labels(self, y, vals, boolean_labels, where) -> None:
        """Raise a clearer :class:`QueryRangeError` when the labels, not the query, caused ``vals`` to leave
        [-1, 1] (subclasses that multiply by the label); the base class blames the query."""

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


def check_reads(reads, caller: str):
    """``reads`` as a sorted tuple of distinct non-negative coordinate indices (None: every coordinate)."""
    if reads is None:
        return None
    if isinstance(reads, (str, bytes)) or isinstance(reads, (int, np.integer)):
        raise InvalidParameterError(f"The 'reads' parameter of {caller} must be a sequence of coordinate "
                                    f"indices. Got {show(reads)} instead.")
    try:
        out = tuple(int(j) for j in reads)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"The 'reads' parameter of {caller} must be a sequence of coordinate "
                                    f"indices. Got {show(reads)} instead.") from None
    if any(j < 0 for j in out):
        raise InvalidParameterError(f"The 'reads' parameter of {caller} must hold non-negative indices. "
                                    f"Got {show(reads)} instead.")
    return tuple(sorted(set(out)))


class _StrConstraint:
    def holds(self, v):
        return isinstance(v, str)

    def __str__(self):
        return "a str"


_Str = _StrConstraint()


def check_values(name: str, vals: np.ndarray, *, binary: bool = False, where=None) -> None:
    """Raise :class:`QueryRangeError` on the first NaN or out-of-range value."""
    if binary:
        bad = ~((vals == 0.0) | (vals == 1.0))
        rng_txt = "in {0, 1} (a VSTAT query)"
    else:
        bad = ~((vals >= -1.0) & (vals <= 1.0))  # NaN fails both comparisons
        rng_txt = "in [-1, 1]"
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        at = where(i) if where is not None else f"batch row {i}"
        raise QueryRangeError(f"Query {name!r} must return values {rng_txt}. Got {float(vals[i])!r} at {at} instead.")


@export
class CorrelationalQuery(Query):
    """A correlational query phi(x, y) = y' g(x), |g| <= 1 (docs/theory/sq-model.md, section sq-stat).

    Parameters
    ----------
    g : callable
        ``g(X) -> values`` in [-1, 1], shape (n,).
    name : str, optional
    labels : {"auto", "boolean", "real"}, default "auto"
        How y' is formed: ``"boolean"``: y' = 1 - 2y (labels in {0, 1}); ``"real"``: y' = y;
        ``"auto"``: decided by the oracle from the target's label values.
    reads : sequence of int, optional
        The coordinates g reads (see :class:`Query`).
    """

    def __init__(self, g, name=None, *, labels="auto", reads=None):
        check_param("g", g, Callable, "CorrelationalQuery")
        check_param("labels", labels, Options(LABEL_MODES), "CorrelationalQuery")
        super().__init__(g, name, kind="csq", reads=reads)
        self.labels = labels

    def _blame_labels(self, y, vals, boolean_labels, where) -> None:
        boolean = boolean_labels if self.labels == "auto" else self.labels == "boolean"
        if boolean:
            return
        y = np.broadcast_to(np.asarray(y, dtype=np.float64), vals.shape)
        bad = np.flatnonzero(~((vals >= -1.0) & (vals <= 1.0)) & (np.abs(y) > 1.0))
        if bad.size == 0:
            return  # |y| <= 1 on every bad row: g itself left [-1, 1], and the query is blamed as usual
        i = int(bad[0])
        at = where(i) if where is not None else f"batch row {i}"
        raise QueryRangeError(
            f"CorrelationalQuery {self.name!r} multiplies the target's real labels by g(x), so the labels must lie "
            f"in [-1, 1]. Got the label y = {float(y[i])!r} at {at} (the query value {float(vals[i])!r}) instead: "
            f"the target's values leave [-1, 1] (a lifted target's g.range can), not the query. Clip the labels in "
            f"the query, Query(lambda X, y: np.clip(y, -1, 1) * g(X), kind=\"csq\"), or rescale the target "
            f"(lambda X: np.clip(f(X), -1, 1) or f(X) / max|f|)."
        )

    def _raw(self, X, y, boolean_labels):
        boolean = boolean_labels if self.labels == "auto" else self.labels == "boolean"
        yp = 1.0 - 2.0 * y if boolean else y
        g = np.asarray(self.fn(X))
        if g.shape != (X.shape[0],):
            raise QueryRangeError(
                f"Query {self.name!r}: g must return an array of shape ({X.shape[0]},). Got shape {g.shape} instead."
            )
        return yp * g


@export
class NumbaQuery(Query):
    """A query given as a Numba-compiled scalar function, fused into the enumeration kernels.

    Parameters
    ----------
    fn : numba dispatcher
        ``fn(x, y, params) -> float`` with x a 1-D array (int64 digits on finite domains,
        float64 on Gaussian ones), y a float label and params a float64 array.
    name : str, optional
    params : array-like of float, optional
        Passed to every call; one compiled kernel serves every parameter value.
    kind : {"sq", "csq"}, default "sq"
    reads : sequence of int, optional
        The coordinates of x the function reads (default: all). Through the Theorem 3.2 adapter
        (q = 2), x[j] holds NaN for unread coordinates (their draws still enter N2 and the label
        map), so a query that reads an undeclared coordinate returns NaN and is refused.

    Examples
    --------
    >>> import numba
    >>> @numba.njit
    ... def corr_x0(x, y, params):
    ...     return (1.0 - 2.0 * y) * (1.0 - 2.0 * x[0])
    >>> q = NumbaQuery(corr_x0, name="corr-x0")
    """

    def __init__(self, fn, name=None, *, params=(), kind="sq", reads=None):
        if not isinstance(fn, numba.core.registry.CPUDispatcher):
            raise InvalidParameterError(
                f"The 'fn' parameter of NumbaQuery must be a numba.njit-compiled function fn(x, y, params). "
                f"Got {show(fn)} instead."
            )
        super().__init__(fn, name, kind=kind, reads=reads)
        try:
            self.params = np.ascontiguousarray(np.asarray(params, dtype=np.float64).reshape(-1))
        except (TypeError, ValueError):
            raise InvalidParameterError(
                f"The 'params' parameter of NumbaQuery must be an array of floats. Got {show(params)} instead."
            ) from None

    def _set_params(self, boolean_labels):
        """Hook for structured subclasses whose parameters depend on the label type."""

    def _raw(self, X, y, boolean_labels):
        Xc = np.ascontiguousarray(X)
        if not np.issubdtype(Xc.dtype, np.floating):
            Xc = Xc.astype(np.int64)
        return _numba_rows(self.fn, Xc, np.ascontiguousarray(y, dtype=np.float64), self.params)


@numba.njit  # not cached: it takes the query's function, whose type never matches in another process
def _numba_rows(phi, X, y, params):  # pragma: no cover
    n = X.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        out[i] = phi(X[i], y[i], params)
    return out


def _check_support(support, d: int, caller: str) -> tuple[int, ...]:
    if isinstance(support, (int, np.integer)) and not isinstance(support, bool):
        raise InvalidParameterError(
            f"The 'support' parameter of {caller} must be a sequence of distinct coordinate indices in "
            f"[0, {d - 1}]. Got {show(support)} instead (pass [i] for one coordinate)."
        )
    try:
        items = list(support)
    except TypeError:
        raise InvalidParameterError(
            f"The 'support' parameter of {caller} must be a sequence of distinct coordinate indices in "
            f"[0, {d - 1}]. Got {show(support)} instead."
        ) from None
    out = []
    for s in items:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 0 <= int(s) < d:
            raise InvalidParameterError(
                f"The 'support' parameter of {caller} must contain coordinate indices in [0, {d - 1}]. "
                f"Got {show(support)} instead."
            )
        out.append(int(s))
    if len(set(out)) != len(out):
        raise InvalidParameterError(
            f"The 'support' parameter of {caller} must not repeat an index. Got {show(support)} instead."
        )
    return tuple(sorted(out))


def support_code(support: Sequence[int]) -> int:
    """The integer code sum_{j in S} 2^j of a support."""
    return int(sum(1 << j for j in support))


@export
class Character(Query):
    """The correlational query with the character chi_S on {0,1}^d (docs/theory/sq-model.md, section sq-stat).

    phi(x, y) = (1 - 2y) (-1)^{sum_{j in S} x_j}; for a parity target its truth is 1 if S is
    the target's support and 0 otherwise. Structured: on enumerable cubes it is answered by
    the blocked popcount kernel, without calling Python per point.

    Parameters
    ----------
    d : int
    support : sequence of int
        Distinct coordinate indices in [0, d - 1] (may be empty: the constant character).
    name : str, optional
        Defaults to ``"chi{...}"``.
    """

    structured = True
    kind = "csq"

    def __init__(self, d, support, name=None):
        if type(d) is not int or not 1 <= d <= MAX_CUBE_D:
            check_param("d", d, Interval(int, 1, MAX_CUBE_D), "Character")
        self.d = d = int(d)
        self.support, self.code = support_and_code(support, d, "Character")
        if name is not None:
            check_param("name", name, _Str, "Character")
        self.name = name or _chi_name(self.support)
        self.reads = self.support

    @classmethod
    def _trusted(cls, d: int, support: tuple, code: int) -> Character:
        """A character from a support its caller built itself (a sorted tuple of distinct ints in [0, d) with
        ``code`` = sum 2^j): no re-validation. Library-internal (learners' inner loops)."""
        self = object.__new__(cls)
        self.d, self.support, self.code, self.reads = d, support, code, support
        self.name = _chi_name(support)
        return self

    @property
    def fn(self):
        return self._eval

    def _eval(self, X, y):
        s = np.asarray(X)[:, list(self.support)].sum(axis=1) % 2 if self.support else np.zeros(X.shape[0])
        return (1.0 - 2.0 * y) * (1.0 - 2.0 * s)

    @property
    def qualname(self) -> str:
        return "sqsim.Character"


def _chi_name(support) -> str:
    return "chi{" + ",".join(map(str, support)) + "}"


@functools.lru_cache(maxsize=4096)
def _weight_prefix(weights: tuple) -> str:
    """"w(w_0, w_1)*" (formatting two floats costs more than the rest of a LabelCharacter; the weights are
    already folded by check_weights, so -0.0 never meets 0.0 in the cache)."""
    return f"w{weights}*"


def check_weights(weights, caller: str) -> tuple:
    """(w_0, w_1) of a label-weighted character: two numbers in [-1, 1], -0.0 folded into 0.0."""
    try:
        w0, w1 = weights
        w0, w1 = float(w0), float(w1)
    except (TypeError, ValueError):
        w0 = w1 = math.nan
    if not (-1.0 <= w0 <= 1.0 and -1.0 <= w1 <= 1.0):
        raise InvalidParameterError(f"The 'weights' parameter of {caller} must be two numbers in [-1, 1]. "
                                    f"Got {show(weights)} instead.")
    return (w0 + 0.0, w1 + 0.0)


def support_and_code(support, d: int, caller: str) -> tuple:
    """(sorted support tuple, code) of a validated support (the fast path for plain lists of ints)."""
    sc = _fast_support(support, d)
    if sc is None:
        sup = _check_support(support, d, caller)
        sc = sup, support_code(sup)
    return sc


def _fast_support(support, d: int):
    """(sorted support tuple, code) when ``support`` is a list or tuple of distinct Python ints in [0, d), else
    None (the caller then runs the full check, which also words the error)."""
    if type(support) is not list and type(support) is not tuple:
        return None
    code = 0
    for s in support:
        if type(s) is not int or not 0 <= s < d:
            return None
        code |= 1 << s
    if code.bit_count() != len(support):  # a repeated index
        return None
    return tuple(sorted(support)), code


#: _BYTE_BITS[k][b]: the bit positions 8 k + j set in byte b at byte position k (support_of builds supports
#: from codes byte by byte; positions are added as codes need them)
_BYTE_BITS: list[tuple[tuple[int, ...], ...]] = []


def _byte_bits(k: int) -> tuple:
    while len(_BYTE_BITS) <= k:
        base = 8 * len(_BYTE_BITS)
        _BYTE_BITS.append(tuple(tuple(base + j for j in range(8) if b >> j & 1) for b in range(256)))
    return _BYTE_BITS[k]


_byte_bits(7)


def support_of(code: int) -> tuple:
    """The support (sorted coordinate tuple) of a character code sum_{j in S} 2^j, code >= 0."""
    out = ()
    k = 0
    tables = _BYTE_BITS
    while code:
        out += (tables[k] if k < len(tables) else _byte_bits(k))[code & 255]
        code >>= 8
        k += 1
    return out


@export
class LabelCharacter(Query):
    """A character times a function of a Boolean label: phi(x, y) = w_y (-1)^{sum_{j in S} x_j}, y in {0, 1}.

    ``Character(d, S)`` is the case w = (1, -1). The Boolean image of a lifted character under the
    Theorem 3.2 adapter is one (docs/theory/lifted-images.md). Structured: its truth is
    w_0 [S = {}] + (w_1 - w_0) (1[S = {}] - F(S)) / 2 with F(S) = E[(1 - 2f(x)) (-1)^{S.x}] the
    target's Walsh coefficient, so enumerating engines answer it from the target's spectrum.

    Parameters
    ----------
    d : int
    support : sequence of int
    weights : pair of float
        (w_0, w_1), each in [-1, 1].
    name : str, optional
    """

    structured = True
    kind = "sq"

    def __init__(self, d, support, weights, name=None):
        if type(d) is not int or d < 1:
            check_param("d", d, Interval(int, 1, None), "LabelCharacter")
        self.d = d = int(d)
        self.support, self.code = support_and_code(support, d, "LabelCharacter")
        self.weights = check_weights(weights, "LabelCharacter")
        if name is not None:
            check_param("name", name, _Str, "LabelCharacter")
        self.name = name or _weight_prefix(self.weights) + _chi_name(self.support)
        self.reads = self.support

    @property
    def fn(self):
        return self._eval

    def _eval(self, X, y):
        s = np.asarray(X)[:, list(self.support)].sum(axis=1) % 2 if self.support else np.zeros(X.shape[0])
        y = np.asarray(y, dtype=np.float64)
        if not np.all((y == 0.0) | (y == 1.0)):
            raise QueryRangeError(f"Query {self.name!r} is defined for labels in {{0, 1}}; got a label "
                                  f"{float(y[~((y == 0.0) | (y == 1.0))][0])!r}.")
        w = np.where(y == 1.0, self.weights[1], self.weights[0])
        return w * (1.0 - 2.0 * s)

    @property
    def qualname(self) -> str:
        return "sqsim.LabelCharacter"


@export
class ZqCharacter(NumbaQuery):
    """The cosine character on Z_q^d: phi(x, y) = y' cos(2 pi (s . x mod q) / q).

    y' = 1 - 2y for Boolean labels, y for real labels (|y| <= 1). Structured: runs inside the
    fused enumeration kernel with (q, label mode, s) as parameters, one compiled kernel for all.

    Parameters
    ----------
    d : int
    q : int
    s : sequence of int
        The frequency vector, entries taken mod q.
    name : str, optional
    """

    structured = True

    def __init__(self, d, q, s, name=None, *, labels="auto"):
        check_param("d", d, Interval(int, 1, None), "ZqCharacter")
        check_param("q", q, Interval(int, 2, None), "ZqCharacter")
        check_param("labels", labels, Options(LABEL_MODES), "ZqCharacter")
        s_arr = np.asarray(s)
        if s_arr.shape != (int(d),) or not np.issubdtype(s_arr.dtype, np.integer):
            raise InvalidParameterError(
                f"The 's' parameter of ZqCharacter must be {d} integers. Got {show(s)} instead."
            )
        self.d, self.q, self.labels = int(d), int(q), labels
        self.s = (s_arr.astype(np.int64) % self.q)
        super().__init__(_zq_char_phi, name or f"cos{tuple(self.s.tolist())}", kind="csq")
        self._set_params(None)

    def _set_params(self, boolean_labels):
        mode = {"boolean": 1.0, "real": 0.0}.get(self.labels, 1.0 if boolean_labels else 0.0)
        self.params = np.concatenate([[float(self.q), mode], self.s.astype(np.float64)])

    def _raw(self, X, y, boolean_labels):
        self._set_params(boolean_labels)
        return super()._raw(X, y, boolean_labels)

    @property
    def qualname(self) -> str:
        return "sqsim.ZqCharacter"


@numba.njit(cache=True)
def _zq_char_phi(x, y, params):  # pragma: no cover
    q = int(params[0])
    yp = 1.0 - 2.0 * y if params[1] == 1.0 else y
    ph = 0
    for j in range(x.shape[0]):
        ph += int(params[2 + j]) * int(x[j])
    return yp * np.cos(2.0 * np.pi * (ph % q) / q)


class MemberBatch:
    """What structured batches share: ``members`` (one query each, each recorded as its own query), ``d``."""

    members: list
    d: int

    def __len__(self):
        return len(self.members)

    def __iter__(self):
        return iter(self.members)

    @property
    def codes(self) -> np.ndarray:
        """The members' support codes: int64 for d <= 62, Python ints (an object array) beyond."""
        codes = [m.code for m in self.members]
        return np.array(codes, dtype=np.int64 if self.d <= 62 else object)


@export
class CharacterBatch(MemberBatch):
    """A structured batch of characters, answered by one Walsh-Hadamard transform.

    Parameters
    ----------
    d : int
    max_size : int, optional
        All supports with |S| <= max_size (the low-degree batch of Linial-Mansour-Nisan:
        sum_{i <= k} C(d, i) members). Exactly one of ``max_size`` and ``supports``.
    supports : sequence of sequences of int, optional
        An explicit list of supports.

    Each member is recorded as its own query (kind "csq"); the batch is one vectorised pass.
    """

    def __init__(self, d, max_size=None, *, supports=None):
        check_param("d", d, Interval(int, 1, MAX_CUBE_D), "CharacterBatch")
        self.d = int(d)
        if (max_size is None) == (supports is None):
            raise InvalidParameterError(
                "The 'max_size' parameter of CharacterBatch must be given exactly when 'supports' is not. "
                f"Got max_size={max_size!r}, supports={'None' if supports is None else '...'} instead."
            )
        if max_size is not None:
            check_param("max_size", max_size, Interval(int, 0, self.d), "CharacterBatch")
            sups = [c for k in range(int(max_size) + 1) for c in combinations(range(self.d), k)]
        else:
            sups = [_check_support(s, self.d, "CharacterBatch") for s in supports]
        self.max_size = max_size
        self.members = [Character._trusted(self.d, s, support_code(s)) for s in sups]


    def __repr__(self):
        return f"CharacterBatch(d={self.d}, members={len(self)})"


def expected_batch_size(d: int, k: int) -> int:
    return sum(math.comb(d, i) for i in range(k + 1))
