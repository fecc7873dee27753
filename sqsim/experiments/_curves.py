"""User theory curves for plots: callables of d, names of :mod:`sqsim.bounds` functions, or
importable ``"module:function"`` references (never expressions to evaluate).

A curve is evaluated on each panel of a plot at every integer d of the panel's range. Its
function's parameters are filled by name:

- the parameter named ``d`` (or, if none is, the first parameter) gets the dimension d;
- ``n_candidates`` gets the size of the Boolean class the panel's family searches
  (2^d - 1 parities, or C(d, k) k-sparse ones);
- ``tau`` gets each Boolean tolerance of the panel's rows (tau / 2 for lifted cells: the
  adapter's Boolean tolerance, Theorem 3.2); one curve per value;
- any other parameter gets the values of the rows' learner or family parameter of that name
  (``k`` from ``{name = "low-degree", k = 2}`` or ``{name = "sparse-parity", k = 2}``; one curve
  per value), else its default. A curve with a required parameter the panel's rows do not
  supply is not drawn on that panel (it must be drawn on at least one).

A value the function rejects at some d with :class:`sqsim.InvalidParameterError` (as the bounds
functions do below their range of d), or a NaN it returns, leaves a gap at that d; any other
exception propagates, with a note naming the curve and d.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from .. import bounds
from .._errors import InvalidParameterError
from .._validation import show
from ._config import did_you_mean

__all__ = ["Curve", "bound_names", "evaluate", "resolve_curves"]

#: parameters that take the dimension when no parameter is named ``d``
_D_NAMES = ("d", "n_candidates")


@dataclass(frozen=True)
class Curve:
    """A user curve: its legend label, its function and the text it was given as (for messages)."""

    label: str
    fn: Callable
    spec: str


def _parameters(fn) -> list[inspect.Parameter] | None:
    """The named parameters of ``fn`` (None when Python cannot read its signature, e.g. a ufunc)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    return [p for p in sig.parameters.values()
            if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]


def bound_names() -> list[str]:
    """Names of the :mod:`sqsim.bounds` functions that are curves in d (they take ``d`` or ``n_candidates``)."""
    out = []
    for name in bounds.__all__:
        params = _parameters(getattr(bounds, name))
        if params and any(p.name in _D_NAMES for p in params):
            out.append(name)
    return sorted(out)


def _bad(caller: str, spec, must: str, extra: str = "") -> InvalidParameterError:
    return InvalidParameterError(f"The 'curves' parameter of {caller} must be {must}. Got {show(spec)} instead"
                                 f"{extra}.")


def _from_reference(ref: str, caller: str) -> Callable:
    """``"module:function"`` (``function`` may be dotted, e.g. ``Class.method``), imported with importlib."""
    module_name, _, attr = ref.partition(":")
    must = "a name of an sqsim.bounds curve or an importable 'module:function' reference"
    if not module_name or not attr or not all(part.isidentifier() for part in module_name.split(".") + attr.split(".")):
        raise _bad(caller, ref, must, " (expected 'package.module:function')")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as exc:
        raise _bad(caller, ref, must, f" (module {module_name!r} cannot be imported: {type(exc).__name__}: {exc})") \
            from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = [n for n in dir(obj) if not n.startswith("_") and callable(getattr(obj, n, None))]
            raise _bad(caller, ref, must, f" ({getattr(obj, '__name__', module_name)!r} has no attribute {part!r})"
                                          f"{did_you_mean(part, public)}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise _bad(caller, ref, must, f" ({attr!r} is a {type(obj).__name__}, not a function)")
    return obj


def _from_name(name: str, caller: str) -> Callable:
    if ":" in name:
        return _from_reference(name, caller)
    valid = bound_names()
    if name not in valid:
        raise _bad(caller, name, f"a name among {valid} (sqsim.bounds curves in d) or an importable "
                                 f"'module:function' reference", did_you_mean(name, valid))
    return getattr(bounds, name)


def _one(spec, label: str | None, caller: str, index: int) -> Curve:
    if isinstance(spec, str):
        return Curve(label or spec, _from_name(spec, caller), spec)
    if callable(spec):
        name = getattr(spec, "__name__", None)
        if label is None:
            label = name if name and name != "<lambda>" else f"user curve {index + 1}"
        return Curve(label, spec, label)
    raise _bad(caller, spec, "a callable of d, a (label, callable) pair, a name of an sqsim.bounds curve or "
                             "an importable 'module:function' reference, or a list or dict of them")


def resolve_curves(curves, caller: str) -> list[Curve]:
    """The :class:`Curve` list of a ``curves`` argument: one entry or a list of entries, each a callable,
    a ``(label, entry)`` pair or a name / reference string; or a dict label -> entry."""
    if curves is None:
        return []
    if isinstance(curves, Mapping):
        items = []
        for label, spec in curves.items():
            if not isinstance(label, str) or not label:
                raise _bad(caller, curves, "a dict whose keys are non-empty labels (str)")
            items.append((label, spec))
    elif isinstance(curves, (str, tuple)) or callable(curves):
        items = [_pair(curves, caller)]
    else:
        try:
            items = [_pair(c, caller) for c in curves]
        except TypeError:
            raise _bad(caller, curves, "a callable, a name, a (label, callable) pair, or a list or dict of them") \
                from None
    out = [_one(spec, label, caller, i) for i, (label, spec) in enumerate(items)]
    seen = set()
    for c in out:
        if c.label in seen:
            raise _bad(caller, [x.spec for x in out], "a list of curves with distinct labels",
                       f" ({c.label!r} twice: give one a label with a (label, curve) pair)")
        seen.add(c.label)
    return out


def _pair(entry, caller: str) -> tuple[str | None, object]:
    if isinstance(entry, tuple):
        if len(entry) != 2 or not isinstance(entry[0], str) or not entry[0]:
            raise _bad(caller, entry, "a (label, curve) pair with a non-empty str label")
        return entry[0], entry[1]
    return None, entry


# ---------------------------------------------------------------------- evaluation on a panel
def _row_values(rows: list[dict], name: str) -> list:
    """Distinct values of a learner or family parameter ``name`` over ``rows`` (sorted)."""
    found = set()
    for r in rows:
        for where in ("params", "family_params"):
            value = (r.get(where) or {}).get(name)
            if isinstance(value, (int, float, str)) and not isinstance(value, bool):
                found.add(value)
    return sorted(found, key=lambda v: (isinstance(v, str), v))


def _boolean_taus(rows: list[dict]) -> list[float]:
    taus = set()
    for r in rows:
        tau = r.get("tau")
        if tau is not None:
            taus.add(tau / 2 if r.get("oracle") == "lifted" else tau)
    return sorted(taus)


def evaluate(curve: Curve, rows: list[dict], ds: np.ndarray, n_candidates: Callable[[int], int]) \
        -> list[tuple[str, np.ndarray]]:
    """(label, values at ``ds``) for each combination of the curve's parameters found in ``rows``;
    [] when a required parameter has no value there."""
    params = _parameters(curve.fn)
    if params is None:  # no readable signature (a ufunc, a builtin): a function of d alone
        return [(curve.label, _values(curve, ds, lambda d: ((d,), {})))]
    d_param = next((p.name for p in params if p.name == "d"), None)
    if d_param is None and not any(p.name == "n_candidates" for p in params):
        d_param = params[0].name if params else None
    if d_param is None and not any(p.name == "n_candidates" for p in params):
        raise _bad("sqsim.experiments.plot", curve.spec, "a function with at least one parameter (d)")
    choices: dict[str, list] = {}
    for p in params:
        if p.name in (d_param, "n_candidates"):
            continue
        values = _boolean_taus(rows) if p.name == "tau" else _row_values(rows, p.name)
        if values:
            choices[p.name] = values
        elif p.default is inspect.Parameter.empty:
            return []  # this panel does not say what the parameter is
    out = []
    names = list(choices)
    for combo in itertools.product(*(choices[n] for n in names)):
        fixed = dict(zip(names, combo))

        def call_args(d, fixed=fixed):
            kw = dict(fixed)
            if d_param is not None:
                kw[d_param] = d
            if any(p.name == "n_candidates" for p in params):
                kw["n_candidates"] = n_candidates(d)
            return (), kw

        extra = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in fixed.items())
        out.append((f"{curve.label}({extra})" if extra else curve.label, _values(curve, ds, call_args)))
    return out


def _values(curve: Curve, ds: np.ndarray, call_args) -> np.ndarray:
    vals = np.full(len(ds), np.nan)
    for i, d in enumerate(ds):
        args, kw = call_args(int(d))
        try:
            v = float(curve.fn(*args, **kw))
        except InvalidParameterError:  # outside the function's range (e.g. a bounds function's d >= 2): a gap
            continue
        except Exception as exc:
            exc.add_note(f"while drawing curve {curve.label!r} at d = {int(d)}")
            raise
        vals[i] = v if math.isfinite(v) else np.nan
    return vals
