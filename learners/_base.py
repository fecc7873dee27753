"""The learner registry; the protocol (LearnResult, Learner) lives in sqsim._learning."""

from __future__ import annotations

import warnings
from importlib import metadata

from sqsim import InvalidParameterError
from sqsim._learning import Learner

ENTRY_POINT_GROUP = "sqsim.learners"
_REGISTRY: dict[str, type] = {}


def register(name: str):
    """Class decorator adding a learner to the registry under ``name``."""

    def deco(cls):
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _entry_points() -> dict[str, type]:
    found = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            found[ep.name] = ep.load()
        except Exception as exc:  # a broken plug-in warns, it does not break sqsim
            warnings.warn(f"learner plug-in {ep.name!r} failed to load: {exc}", RuntimeWarning, stacklevel=2)
    return found


def available() -> list[str]:
    """Names of every registered learner (built-ins and entry-point plug-ins), sorted."""
    return sorted({**_entry_points(), **_REGISTRY})


def get_class(name: str, *, caller: str = "learners.get_class") -> type:
    """The learner class registered as ``name`` (built-in or entry-point plug-in)."""
    classes = {**_entry_points(), **_REGISTRY}
    if name not in classes:
        raise InvalidParameterError(
            f"The 'name' parameter of {caller} must be a str among {sorted(classes)}. Got {name!r} instead."
        )
    return classes[name]


def make(name: str, **params) -> Learner:
    """Instantiate the learner registered as ``name`` with keyword ``params``."""
    return get_class(name, caller="learners.make")(**params)
