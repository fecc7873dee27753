"""Parameter validation with one message format (the scikit-learn pattern).

Constraints are data: each public callable lists, per parameter, the constraints any one of
which may hold, and :func:`validate` raises :class:`InvalidParameterError` with the sentence
"The 'tolerance' parameter of SQOracle must be a float in the range (0, 1]. Got -0.1 instead."
"""

from __future__ import annotations

import difflib
import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._errors import InvalidParameterError

__all__ = ["Interval", "Options", "InstanceOf", "NoneOk", "Callable", "validate", "check_param", "closest_names", "show"]


@dataclass(frozen=True)
class Interval:
    """A real (``kind=float``) or integral (``kind=int``) number in an interval."""

    kind: type
    left: float | None
    right: float | None
    closed: str = "both"  # "both", "left", "right", "neither"
    allow_inf: bool = False

    def holds(self, value: Any) -> bool:
        if isinstance(value, (bool, np.bool_)):
            return False
        if self.kind is int:
            if not isinstance(value, numbers.Integral):
                return False
        elif not isinstance(value, numbers.Real):
            return False
        try:
            v = float(value)
        except OverflowError:  # a huge Python int
            return self.allow_inf and self.right is None
        if math.isnan(v) or (math.isinf(v) and not self.allow_inf):
            return False
        if self.left is not None:
            if self.closed in ("both", "left"):
                if v < self.left:
                    return False
            elif v <= self.left:
                return False
        if self.right is not None:
            if self.closed in ("both", "right"):
                if v > self.right:
                    return False
            elif v >= self.right:
                return False
        return True

    def __str__(self) -> str:
        name = "an int" if self.kind is int else "a float"
        lb = "[" if self.closed in ("both", "left") and self.left is not None else "("
        rb = "]" if self.closed in ("both", "right") and self.right is not None else ")"
        lo = "-inf" if self.left is None else _fmt(self.left)
        hi = "inf" if self.right is None else _fmt(self.right)
        finite = "" if self.allow_inf or (self.left is not None and self.right is not None) else "finite "
        name = name.replace("a float", f"a {finite}float") if finite else name
        return f"{name} in the range {lb}{lo}, {hi}{rb}"


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values (usually strings)."""

    values: tuple

    def holds(self, value: Any) -> bool:
        try:
            return value in self.values
        except TypeError:
            return False

    def __str__(self) -> str:
        kinds = {type(v) for v in self.values}
        noun = "a str" if kinds == {str} else "a value"
        return f"{noun} among {{{', '.join(repr(v) for v in self.values)}}}"


@dataclass(frozen=True)
class InstanceOf:
    """An instance of a class (or tuple of classes)."""

    cls: Any
    description: str | None = None

    def holds(self, value: Any) -> bool:
        return isinstance(value, self.cls)

    def __str__(self) -> str:
        if self.description:
            return self.description
        if isinstance(self.cls, tuple):
            return " or ".join(f"an instance of {c.__name__!r}" for c in self.cls)
        return f"an instance of {self.cls.__name__!r}"


class _NoneOk:
    def holds(self, value: Any) -> bool:
        return value is None

    def __str__(self) -> str:
        return "None"


NoneOk = _NoneOk()


class _Callable:
    def holds(self, value: Any) -> bool:
        return callable(value)

    def __str__(self) -> str:
        return "a callable"


Callable = _Callable()


def _describe(constraints) -> str:
    parts = [str(c) for c in constraints]
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " or " + parts[-1]


def show(value: Any) -> str:
    """A one-line repr of a parameter value for error messages (arrays folded, long values cut)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 80 else text[:77] + "..."


_repr_value = show


def check_param(name: str, value: Any, constraints, caller: str) -> Any:
    """Check one parameter; return it unchanged or raise :class:`InvalidParameterError`."""
    if not isinstance(constraints, (list, tuple)):
        constraints = [constraints]
    for c in constraints:
        if c.holds(value):
            return value
    raise InvalidParameterError(
        f"The {name!r} parameter of {caller} must be {_describe(constraints)}. "
        f"Got {_repr_value(value)} instead."
    )


def validate(params: dict[str, Any], constraints: dict[str, list], caller: str) -> None:
    """Check every parameter of ``params`` that has an entry in ``constraints``."""
    for name, value in params.items():
        if name in constraints:
            check_param(name, value, constraints[name], caller)


def closest_names(word, options) -> list[str]:
    """The options closest to ``word`` (difflib, at most 3, cutoff 0.6), for "did you mean" messages.

    When none is close as written, the spellings are compared with underscores read as dashes and
    case folded (``Parity_Brute_Force`` finds ``parity-brute-force``).
    """
    options = [str(o) for o in options]
    close = difflib.get_close_matches(str(word), options, n=3, cutoff=0.6)
    if not close:
        norm = {o.replace("_", "-").lower(): o for o in options}
        close = [norm[c] for c in difflib.get_close_matches(str(word).replace("_", "-").lower(), list(norm), n=3)]
    return close
