"""The ``export`` decorator: public objects report ``sqsim`` as their module."""

from __future__ import annotations

import sys


def export(obj):
    """Append ``obj`` to its module's ``__all__`` and present it as ``sqsim.<name>``."""
    module = sys.modules[obj.__module__]
    names = module.__dict__.setdefault("__all__", [])
    if obj.__name__ not in names:
        names.append(obj.__name__)
    if obj.__module__.startswith("sqsim.") and obj.__module__.rsplit(".", 1)[-1].startswith("_"):
        obj.__module__ = "sqsim"
    return obj
