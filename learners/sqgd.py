"""``sq-gd``: gradient descent through an approximate-gradient oracle, on any model, with an optax optimiser.

The SQ counterpart of ``sgd-mlp``: it never sees an example, only epsilon-approximate population
gradients (Shamir 2018, Definitions 8 and 9; docs/theory/gradients.md). The model is the oracle's
(a closed-form :class:`~sqsim.OneHiddenReLU`, :class:`~sqsim.CosineModel`, :class:`~sqsim.LinearModel`
or any :class:`sqsim.nn.JaxModel`). With ``optimizer="sgd"`` and no momentum or weight decay the
update v - lr g is the one of ``noisy-gd``, float for float.

This module imports no JAX; a run does (optax, in float64 through a scoped ``jax.enable_x64``), and
without the nn extra raises :class:`sqsim.nn.MissingExtraError` saying ``pip install 'sqsim[nn]'``.
"""

from __future__ import annotations

import numpy as np

from sqsim._learning import Learner
from sqsim._random import check_rng
from sqsim._validation import Interval, Options, check_param

from ._base import register

__all__ = ["SQGD"]

OPTIMIZERS = ("sgd", "adam")
#: parameter norm at which the run is declared diverged (as noisy-gd)
DIVERGED = 1e8


@register("sq-gd")
class SQGD(Learner):
    """Gradient descent v_{t+1} = v_t + optax_update(g_t), g_t the oracle's epsilon-approximate gradient.

    Every gradient is one counted query of kind "gradient" (worth ``n_params`` correlational queries).
    Stops after ``steps`` gradients, when |g_t| <= ``tol``, or when the parameters diverge.

    Parameters
    ----------
    steps : int, default 500
    lr : float, default 0.2
    optimizer : {"sgd", "adam"}, default "sgd"
    momentum : float in [0, 1), default 0.0
        Heavy-ball momentum of "sgd".
    weight_decay : float, default 0.0
        Adds ``weight_decay * v`` to each gradient (optax.add_decayed_weights).
    init_scale : float, default 1.0
        Passed to the model's ``init``.
    tol : float, default 0.0
    seed : int, numpy Generator or None
        The initialisation.
    """

    oracle_kinds = ("gradient",)
    domains = ("gaussian", "boolean")
    #: the hidden width of the OneHiddenReLU problem that sqsim.testing.check_learner builds by default for a
    #: gradient learner (sq-gd itself takes its model, of any width, from the oracle)
    width = 2

    def __init__(self, *, steps=500, lr=0.2, optimizer="sgd", momentum=0.0, weight_decay=0.0, init_scale=1.0,
                 tol=0.0, seed=None):
        c = "SQGD"
        check_param("steps", steps, Interval(int, 1, None), c)
        check_param("lr", lr, Interval(float, 0, None, closed="neither"), c)
        check_param("optimizer", optimizer, Options(OPTIMIZERS), c)
        check_param("momentum", momentum, Interval(float, 0, 1, closed="left"), c)
        check_param("weight_decay", weight_decay, Interval(float, 0, None), c)
        check_param("init_scale", init_scale, Interval(float, 0, None, closed="neither"), c)
        check_param("tol", tol, Interval(float, 0, None), c)
        check_rng(seed, c)
        self.steps, self.lr, self.optimizer = int(steps), float(lr), optimizer
        self.momentum, self.weight_decay = float(momentum), float(weight_decay)
        self.init_scale, self.tol, self.seed = float(init_scale), float(tol), seed

    def _transform(self, optax):
        opt = (optax.sgd(self.lr, momentum=self.momentum or None) if self.optimizer == "sgd"
               else optax.adam(self.lr))
        return optax.chain(optax.add_decayed_weights(self.weight_decay), opt) if self.weight_decay else opt

    def _learn(self, oracle):
        from sqsim.nn._jax import require_jax, require_optax

        optax = require_optax("sq-gd")
        jax = require_jax("sq-gd")
        model = oracle.model
        v = model.init(check_rng(self.seed, "SQGD"), self.init_scale)
        norms: list[float] = []
        diverged = False
        with jax.enable_x64(True):
            jnp = jax.numpy
            opt = self._transform(optax)
            vj = jnp.asarray(v)
            state = opt.init(vj)
            for _ in range(self.steps):
                g = oracle.gradient(v)
                norms.append(float(np.linalg.norm(g)))
                if norms[-1] <= self.tol:
                    break
                # eager, op by op: a jit may contract v - lr g into an FMA, and noisy-gd's floats are the reference
                updates, state = opt.update(jnp.asarray(g), state, vj)
                step = optax.apply_updates(vj, updates)
                nxt = np.asarray(step, dtype=np.float64)
                if not np.all(np.isfinite(nxt)) or np.linalg.norm(nxt) > DIVERGED:
                    diverged = True
                    break
                vj, v = step, nxt
        return model.hypothesis(v), {"diverged": diverged, "steps": len(norms), "optimizer": self.optimizer,
                                     "gradient_norms": norms[:: max(1, len(norms) // 50)],
                                     "final_gradient_norm": norms[-1], "sq_equivalent": len(norms) * model.n_params,
                                     "n_params": model.n_params}
