"""One compiled program that trains M networks at once: ``jax.lax.map`` over members, ``lax.scan`` over steps.

The program only transforms arrays: the data come from the caller (a learner drawing them through
its oracle handle), so nothing here can reach a target. Members are trained in lockstep; a member
whose ``active`` flag is off keeps its parameters and optimiser state unchanged (its data are
ignored), which lets a learner stop one member while the others go on, with the same result as a
run of that member alone. Members are mapped, not vectorised (``jax.vmap``): every member runs the
same compiled body whatever M, so a member's outputs are bit-identical to a run of it alone (under
``vmap`` XLA orders the batched products by batch width, and float32 rounding then differs). See
:ref:`sgd-training` and :ref:`sgd-batched` in ``docs/theory/sgd.md``.
"""

from __future__ import annotations

from ._jax import require_jax, require_optax
from ._models import LOSSES

__all__ = ["SGDProgram", "OPTIMIZERS"]

OPTIMIZERS = ("sgd", "adam")


def make_optimizer(name: str, lr: float, momentum: float, weight_decay: float):
    """The optax transformation: SGD (optional heavy-ball momentum, L2 weight decay added to the gradient)
    or Adam (AdamW's decoupled weight decay)."""
    optax = require_optax("sgd-mlp")
    if name == "adam":
        return optax.adamw(lr, weight_decay=weight_decay) if weight_decay > 0 else optax.adam(lr)
    sgd = optax.sgd(lr, momentum=momentum if momentum > 0 else None)
    return optax.chain(optax.add_decayed_weights(weight_decay), sgd) if weight_decay > 0 else sgd


class SGDProgram:
    """Jitted training steps, mapped over members, for one :class:`~sqsim.nn.MLP` shape, loss and optimiser.

    Parameters
    ----------
    model : MLP
    loss : str
        A key of :data:`~sqsim.nn.LOSSES`.
    optimizer : {"sgd", "adam"}
    lr, momentum, weight_decay : float

    Notes
    -----
    ``state`` is ``(params, opt_state, params0)`` with a leading member axis on every leaf.
    ``run(state, X, Y, active)`` takes ``X`` of shape ``(M, S, B, in_dim)`` and ``Y`` of shape
    ``(M, S, B)`` (S steps of batch B per member) and returns the new state and the per-step mean
    batch losses, shape ``(M, S)``. Each step is one optax update on the mean loss of its batch.
    """

    def __init__(self, model, loss: str, optimizer: str, lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0):
        jax = require_jax("sgd-mlp")
        jnp = jax.numpy
        self.model = model
        self.loss_name = loss
        loss_fn = LOSSES[loss]
        tx = make_optimizer(optimizer, lr, momentum, weight_decay)
        optax = require_optax("sgd-mlp")

        def batch_loss(params, X, y):
            return jnp.mean(loss_fn(model.apply(params, X), y))

        def step(carry, batch):
            params, opt_state, active = carry
            X, y = batch
            value, grads = jax.value_and_grad(batch_loss)(params, X, y)
            updates, new_state = tx.update(grads, opt_state, params)
            new_params = optax.apply_updates(params, updates)
            keep = lambda new, old: jnp.where(active, new, old)  # noqa: E731
            params = jax.tree_util.tree_map(keep, new_params, params)
            opt_state = jax.tree_util.tree_map(keep, new_state, opt_state)
            return (params, opt_state, active), value

        def run_one(params, opt_state, X, Y, active):
            (params, opt_state, _), losses = jax.lax.scan(step, (params, opt_state, active), (X, Y))
            return params, opt_state, losses

        def init_one(key):
            params = model.init(key)
            return params, tx.init(params)

        def distance(params, params0):
            leaves = jax.tree_util.tree_leaves(jax.tree_util.tree_map(lambda a, b: jnp.sum((a - b) ** 2),
                                                                      params, params0))
            return jnp.sqrt(sum(leaves))

        def per_member(fn):  # fn on each member's slice of the leading axis, one compiled body for any M
            return lambda *args: jax.lax.map(lambda a: fn(*a), args)

        self._init = jax.jit(per_member(init_one))
        self._run = jax.jit(per_member(run_one))
        self._predict = jax.jit(per_member(model.apply))
        self._distance = jax.jit(per_member(distance))

    def init(self, keys):
        """``(params, opt_state, params0)`` for a stack of PRNG keys (shape ``(M, 2)``)."""
        params, opt_state = self._init(keys)
        return params, opt_state, params

    def run(self, state, X, Y, active):
        params, opt_state, params0 = state
        params, opt_state, losses = self._run(params, opt_state, X, Y, active)
        return (params, opt_state, params0), losses

    def predict(self, state, X):
        """Network outputs of every member on its own points: ``X`` of shape ``(M, n, in_dim)`` -> ``(M, n)``."""
        return self._predict(state[0], X)

    def distance(self, state):
        """The hidden-progress measure ||theta_t - theta_0||_2 of every member (all parameters), shape ``(M,)``."""
        return self._distance(state[0], state[2])
