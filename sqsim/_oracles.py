"""Moved to the :mod:`sqsim.oracles` package (kept so that old imports keep working)."""

from .oracles._base import DEFAULT_MAX_SAMPLES, TRUTH_MODES
from .oracles._grading import grade_real, grade_structural
from .oracles._probes import PROBE_POINTS
from .oracles._stat import SQOracle, VSTATOracle

__all__ = ["SQOracle", "VSTATOracle"]
