"""Moved to :mod:`sqsim.oracles._example` (kept for imports)."""

from .oracles._example import ExampleOracle

__all__ = ["ExampleOracle"]
