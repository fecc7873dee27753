"""Plain-pytree JAX networks and per-example losses.

A model is a small description object (no state); its parameters are a plain JAX pytree, so
``jax.grad``, ``jax.vmap`` and optax apply directly. See :ref:`sgd-models` in
``docs/theory/sgd.md``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from sqsim._errors import InvalidParameterError
from sqsim._validation import Interval, Options, check_param, show

from ._jax import require_jax

__all__ = ["MLP", "LOSSES", "square_loss", "hinge_loss", "logistic_loss", "to_pm1"]

INITS = ("he", "lecun", "normal")


class MLP:
    """A fully connected ReLU network ``R^in_dim -> R`` (or ``R^out_dim``).

    Parameters
    ----------
    in_dim : int
        Input dimension.
    widths : tuple of int
        Hidden widths, one per hidden layer (``(256,)``: one hidden layer of 256 units;
        ``(512, 512)``: two hidden layers). ``()`` is a linear model.
    bias : bool
        Whether the layers have biases.
    init : {"he", "lecun", "normal"}
        Weight initialisation, ``W_ij ~ N(0, s^2)`` with ``s^2 = 2 / n_in`` (he),
        ``1 / n_in`` (lecun) or ``1`` (normal). Biases start at zero.
    out_dim : int
        Output dimension; with 1 (the default) :meth:`apply` returns shape ``(n,)``.

    Notes
    -----
    The parameters are a list of ``(W, b)`` pairs, one per layer, ``W`` of shape ``(n_in, n_out)``
    and ``b`` of shape ``(n_out,)``. With ``bias=False`` every ``b`` is a zero vector that
    :meth:`apply` ignores: its gradient is exactly zero, so SGD, Adam and decoupled weight decay
    all keep it at zero, and every model of a given shape has the same pytree structure (which
    ``jax.vmap`` over seeds needs). :attr:`n_params` counts only the parameters used. ReLU follows
    every hidden layer; the output layer is linear.
    """

    def __init__(self, in_dim, widths=(256,), *, bias=True, init="he", out_dim=1):
        caller = "MLP"
        check_param("in_dim", in_dim, Interval(int, 1, None), caller)
        if isinstance(widths, numbers.Integral) and not isinstance(widths, bool):
            widths = (widths,)
        if not isinstance(widths, (tuple, list)) or not all(Interval(int, 1, None).holds(w) for w in widths):
            raise InvalidParameterError(
                f"The 'widths' parameter of {caller} must be a tuple of ints >= 1 (one per hidden layer). "
                f"Got {show(widths)} instead.")
        check_param("bias", bias, Options((True, False)), caller)
        check_param("init", init, Options(INITS), caller)
        check_param("out_dim", out_dim, Interval(int, 1, None), caller)
        self.in_dim = int(in_dim)
        self.widths = tuple(int(w) for w in widths)
        self.bias = bool(bias)
        self.init_scheme = init
        self.out_dim = int(out_dim)

    @property
    def sizes(self) -> tuple:
        """Layer sizes ``(in_dim, *widths, out_dim)``."""
        return (self.in_dim, *self.widths, self.out_dim)

    @property
    def n_params(self) -> int:
        """Number of trained parameters (weights, plus biases when ``bias=True``)."""
        s = self.sizes
        return sum(a * b + (b if self.bias else 0) for a, b in zip(s[:-1], s[1:]))

    def _scale(self, n_in: int) -> float:
        return {"he": math.sqrt(2.0 / n_in), "lecun": math.sqrt(1.0 / n_in), "normal": 1.0}[self.init_scheme]

    def init(self, key):
        """Fresh parameters from a JAX PRNG key (or a non-negative int seed)."""
        jax = require_jax("MLP.init")
        jnp = jax.numpy
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            key = jax.random.PRNGKey(int(key))
        s = self.sizes
        keys = jax.random.split(key, len(s) - 1)
        return [(self._scale(a) * jax.random.normal(k, (a, b)), jnp.zeros((b,)))
                for k, a, b in zip(keys, s[:-1], s[1:])]

    def apply(self, params, X):
        """Network outputs on the rows of ``X`` (shape ``(n, in_dim)``): shape ``(n,)`` when ``out_dim=1``."""
        jax = require_jax("MLP.apply")
        jnp = jax.numpy
        h = jnp.asarray(X, dtype=params[0][0].dtype)
        last = len(params) - 1
        for i, (W, b) in enumerate(params):
            h = h @ W + b if self.bias else h @ W
            if i < last:
                h = jax.nn.relu(h)
        return h[:, 0] if self.out_dim == 1 else h

    def apply_numpy(self, params, X) -> np.ndarray:
        """The numpy twin of :meth:`apply` (no JAX): what a trained network's hypothesis evaluates with."""
        h = np.asarray(X, dtype=np.asarray(params[0][0]).dtype)
        last = len(params) - 1
        for i, (W, b) in enumerate(params):
            h = h @ np.asarray(W) + np.asarray(b) if self.bias else h @ np.asarray(W)
            if i < last:
                h = np.maximum(h, 0)
        return h[:, 0] if self.out_dim == 1 else h

    def __repr__(self) -> str:
        return (f"MLP(in_dim={self.in_dim}, widths={self.widths}, bias={self.bias}, "
                f"init={self.init_scheme!r}, out_dim={self.out_dim})")


def _jnp():
    return require_jax("sqsim.nn losses").numpy


def square_loss(pred, y):
    """``(pred - y)^2 / 2`` per example."""
    return 0.5 * (pred - y) ** 2


def hinge_loss(pred, y):
    """``max(0, 1 - y pred)`` per example (labels in {-1, +1})."""
    return _jnp().maximum(0.0, 1.0 - y * pred)


def logistic_loss(pred, y):
    """``log(1 + exp(-y pred))`` per example, computed stably (labels in {-1, +1})."""
    jax = require_jax("sqsim.nn losses")
    return jax.nn.softplus(-y * pred)


LOSSES = {"square": square_loss, "hinge": hinge_loss, "logistic": logistic_loss}


def to_pm1(y):
    """Parity labels {0, 1} to {+1, -1} (``1 - 2y``); works on numpy and JAX arrays."""
    return 1 - 2 * y
