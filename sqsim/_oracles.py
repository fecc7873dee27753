"""Moved to the :mod:`sqsim.oracles` package (kept so that old imports keep working)."""

from .oracles._base import DEFAULT_MAX_SAMPLES, TRUTH_MODES  # noqa: F401
from .oracles._grading import grade_real, grade_structural  # noqa: F401
from .oracles._probes import PROBE_POINTS  # noqa: F401
from .oracles._stat import SQOracle, VSTATOracle  # noqa: F401

__all__ = ["SQOracle", "VSTATOracle"]
