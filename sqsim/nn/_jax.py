"""Lazy access to JAX and optax, the optional ``nn`` extra.

Nothing in :mod:`sqsim` imports JAX at import time: ``import sqsim`` and ``import sqsim.nn``
work without it. The first use of a model, a loss or a gradient-trained learner calls
:func:`require_jax`, which imports JAX (and optax) or raises :class:`MissingExtraError`
naming the extra to install.
"""

from __future__ import annotations

import importlib

from sqsim._errors import MissingExtraError

__all__ = ["MissingExtraError", "require_jax", "require_optax", "INSTALL_HINT"]

INSTALL_HINT = "pip install 'sqsim[nn]'"


def _load(module: str, what: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{what} needs {module.split('.')[0]!r}, which is not installed ({exc}); install the nn extra: "
            f"{INSTALL_HINT}"
        ) from exc


def require_jax(what: str = "sqsim.nn"):
    """The ``jax`` module (``jax.numpy`` imported too), or :class:`MissingExtraError`."""
    jax = _load("jax", what)
    _load("jax.numpy", what)
    return jax


def require_optax(what: str = "sqsim.nn"):
    """The ``optax`` module, or :class:`MissingExtraError`."""
    require_jax(what)
    return _load("optax", what)
