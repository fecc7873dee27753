"""Concepts (targets): callables on batches that oracles hide from learners.

Currently: :class:`Parity`. ReLU networks, LWR, natural-weights and periodic targets come
with the concept-class work (DESIGN.md section 3).
"""

from ._parity import Parity

__all__ = ["Parity"]
