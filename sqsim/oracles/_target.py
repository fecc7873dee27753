"""The hidden target: labels on batches, checked, and failures wrapped in :class:`TargetError`.

Only truth engines and graders hold a :class:`HiddenTarget`; no learner-facing object refers to one.
"""

from __future__ import annotations

import numpy as np

from .._errors import InvalidParameterError, TargetError


class HiddenTarget:
    """``labels(X)``: the target's labels on a batch as a finite float64 array of shape (n,)."""

    __slots__ = ("concept", "caller")

    def __init__(self, concept, caller: str):
        self.concept = concept
        self.caller = caller

    def raw(self, X: np.ndarray) -> np.ndarray:
        """The target's own output on X (failures wrapped in :class:`TargetError` naming the target)."""
        try:
            return np.asarray(self.concept(X))
        except Exception as exc:  # the target is the user's code: say which target failed
            raise TargetError(
                f"The target {_describe(self.concept)} of {self.caller} raised {type(exc).__name__}: {exc} "
                f"(called on a batch of shape {X.shape})."
            ) from exc

    def labels(self, X: np.ndarray) -> np.ndarray:
        n = X.shape[0]
        y = self.raw(X)
        if y.shape == () and n == 1:
            y = y.reshape(1)
        if y.shape != (n,) or (not np.issubdtype(y.dtype, np.number) and y.dtype != np.bool_) or np.iscomplexobj(y):
            raise InvalidParameterError(
                f"The 'target' parameter of {self.caller} must return a real array of shape ({n},) for a batch "
                f"of {n} points. Got {y.dtype} array of shape {y.shape} instead."
            )
        y = y.astype(np.float64)
        if not np.all(np.isfinite(y)):
            raise InvalidParameterError(
                f"The 'target' parameter of {self.caller} must return finite labels. Got "
                f"{y[~np.isfinite(y)][0]!r} instead."
            )
        return y

    def attribute(self, name: str, default=None):
        return getattr(self.concept, name, default)

    def support(self, d: int):
        """The coordinates the target declares it depends on (``.support``: parities, juntas), as a sorted
        tuple of distinct indices in [0, d); None when it declares none. A malformed declaration raises
        :class:`InvalidParameterError` (docs/theory/juntas.md, section juntas-targets)."""
        declared = self.attribute("support")
        if declared is None:
            return None
        bad = isinstance(declared, (str, bytes, bool, int, np.integer))
        if not bad:
            try:
                items = list(declared)
            except TypeError:
                bad = True
        if not bad:
            bad = any(isinstance(j, bool) or not isinstance(j, (int, np.integer)) or not 0 <= int(j) < d
                      for j in items) or len({int(j) for j in items}) != len(items)
        if bad:
            raise InvalidParameterError(
                f"The 'target' parameter of {self.caller} must declare its support as distinct coordinate indices "
                f"in [0, {d - 1}]. Got support={_describe(declared)} instead."
            )
        return tuple(sorted(int(j) for j in items))


def _describe(concept) -> str:
    text = repr(concept)
    return text if len(text) <= 80 else text[:77] + "..."
