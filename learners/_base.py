"""The learner registry; the protocol (LearnResult, Learner) lives in sqsim._learning.

Built-in learners register with :func:`register`. Third-party learners declare an entry point in
the group ``sqsim.learners``; :func:`available` lists their names from the installed metadata
without importing anything, and :func:`get_class` / :func:`make` import only the plug-in asked
for. A plug-in may not reuse a built-in name (or another plug-in's): asking for such a name is an
:class:`~sqsim.InvalidParameterError` naming the distributions involved, never a silent shadow.
"""

from __future__ import annotations

import inspect
import warnings
from importlib import metadata

from sqsim import InvalidParameterError
from sqsim._learning import Learner
from sqsim._validation import closest_names, show

ENTRY_POINT_GROUP = "sqsim.learners"
_REGISTRY: dict[str, type] = {}


def register(name: str):
    """Class decorator adding a learner to the registry under ``name``."""

    def deco(cls):
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _plugins() -> dict[str, list]:
    """Entry points of the group by name (read from the installed metadata; nothing is imported)."""
    try:
        eps = metadata.entry_points(group=ENTRY_POINT_GROUP)
    except Exception as exc:  # noqa: BLE001 - unreadable metadata warns, the built-ins still work
        warnings.warn(f"could not read the {ENTRY_POINT_GROUP!r} entry points: {exc}", RuntimeWarning, stacklevel=3)
        return {}
    found: dict[str, list] = {}
    for ep in eps:
        found.setdefault(ep.name, []).append(ep)
    return found


def _origin(ep) -> str:
    """``'name = module:Class' (distribution 'dist')`` for messages."""
    dist = getattr(ep, "dist", None)
    dname = getattr(dist, "name", None)
    if dname is None and dist is not None:
        try:
            dname = dist.metadata["Name"]
        except Exception:  # noqa: BLE001 - only for the message
            dname = None
    where = f"distribution {dname!r}" if dname else "an unknown distribution"
    return f"{ep.name} = {ep.value} ({where})"


def _collision(name: str, eps: list) -> str | None:
    """Why ``name`` is ambiguous (a built-in and a plug-in, or several plug-ins), or None."""
    if name in _REGISTRY:
        return (f"a built-in learner ({_REGISTRY[name].__module__}.{_REGISTRY[name].__qualname__}) and also "
                f"the plug-in {' and '.join(_origin(ep) for ep in eps)}")
    if len(eps) > 1:
        return f"claimed by several plug-ins: {' and '.join(_origin(ep) for ep in eps)}"
    return None


def _did_you_mean(name, known) -> str:
    """" Did you mean 'a' (or 'b')?" for the closest valid names (``closest_names``), or "" when none is close."""
    if not isinstance(name, str):
        return ""
    close = closest_names(name, known)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"


def available() -> list[str]:
    """Names of every registered learner (built-ins and entry-point plug-ins), sorted.

    Plug-in names come from the entry-point metadata; no plug-in is imported. A plug-in whose
    name collides with a built-in (or with another plug-in) is listed once, with a warning;
    asking for that name raises.
    """
    plugins = _plugins()
    for name, eps in plugins.items():
        why = _collision(name, eps)
        if why is not None:
            warnings.warn(f"learner name {name!r} is ambiguous: {why}; learners.make({name!r}) will raise "
                          f"until one of them is uninstalled or renamed", RuntimeWarning, stacklevel=2)
    return sorted(set(_REGISTRY) | set(plugins))


def get_class(name: str, *, caller: str = "learners.get_class") -> type:
    """The learner class registered as ``name`` (built-in, or the one entry-point plug-in asked for)."""
    plugins = _plugins()
    if not isinstance(name, str) or (name not in _REGISTRY and name not in plugins):
        known = sorted(set(_REGISTRY) | set(plugins))
        raise InvalidParameterError(
            f"The 'name' parameter of {caller} must be a str among {known}. Got {show(name)} instead."
            + _did_you_mean(name, known)
        )
    eps = plugins.get(name)
    if not eps:
        return _REGISTRY[name]
    why = _collision(name, eps)
    if why is not None:
        raise InvalidParameterError(
            f"The 'name' parameter of {caller} must name exactly one learner. Got {name!r}, which is {why}, "
            f"instead (uninstall or rename the plug-in)."
        )
    ep = eps[0]
    try:
        cls = ep.load()
    except Exception as exc:
        raise InvalidParameterError(
            f"The 'name' parameter of {caller} must name a learner that can be imported. Got {name!r}, whose "
            f"plug-in {_origin(ep)} failed to load ({type(exc).__name__}: {exc}) instead."
        ) from exc
    if not (isinstance(cls, type) and callable(getattr(cls, "learn", None))):
        raise InvalidParameterError(
            f"The 'name' parameter of {caller} must name a learner class (with a learn method). Got {name!r}, "
            f"whose plug-in {_origin(ep)} is {show(cls)} instead."
        )
    return cls


def parameters(cls) -> tuple[dict, bool]:
    """(the keyword parameters of ``cls.__init__`` by name, whether it also takes ``**kwargs``)."""
    if cls.__init__ is object.__init__:  # no __init__ of its own: no parameters at all
        return {}, False
    try:
        sig = inspect.signature(cls.__init__)
    except (TypeError, ValueError):  # pragma: no cover - a C-level __init__: accept anything
        return {}, True
    params = {n: p for i, (n, p) in enumerate(sig.parameters.items())
              if i > 0 and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    return params, var_kw


def make(name: str, **params) -> Learner:
    """Instantiate the learner registered as ``name`` with keyword ``params``.

    Every keyword is checked against the learner's ``__init__`` before it is built: an unknown one,
    or a missing required one, raises :class:`~sqsim.InvalidParameterError` listing the valid
    parameters.

    Examples
    --------
    >>> import learners
    >>> learners.make("parity-brute-force", seed=0).name
    'parity-brute-force'
    """
    cls = get_class(name, caller="learners.make")
    accepted, var_kw = parameters(cls)
    caller = f"learner {name!r} (learners.make)"
    if not var_kw:
        for key, value in params.items():
            if key not in accepted:
                raise InvalidParameterError(
                    f"The {key!r} parameter of {caller} must be one of its parameters {sorted(accepted)}. "
                    f"Got {key}={show(value)} instead."
                )
    for key, p in accepted.items():
        if p.default is inspect.Parameter.empty and key not in params:
            raise InvalidParameterError(
                f"The {key!r} parameter of {caller} must be given (it has no default; the parameters are "
                f"{sorted(accepted)}). Got nothing instead."
            )
    return cls(**params)
