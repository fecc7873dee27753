"""Gradient-trained networks on JAX (the optional ``nn`` extra).

``import sqsim.nn`` never imports JAX; the first use of a model or loss does, and raises
:class:`sqsim.MissingExtraError` (an :class:`ImportError`; ``sqsim.nn.MissingExtraError`` is the same
class) with ``pip install 'sqsim[nn]'`` when JAX or optax is missing. See ``docs/theory/sgd.md``.
"""

from ._jax import INSTALL_HINT, MissingExtraError, require_jax, require_optax
from ._models import LOSSES, MLP, hinge_loss, logistic_loss, square_loss, to_pm1
from ._gradient import JaxModel

__all__ = ["MLP", "LOSSES", "square_loss", "hinge_loss", "logistic_loss", "to_pm1",
           "MissingExtraError", "require_jax", "require_optax", "INSTALL_HINT", "JaxModel"]
