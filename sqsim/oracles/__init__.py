"""Oracles: the only channel between a hidden target and a learner.

One concept per module:

- ``_base``: the ask/ask_batch template (validate, truth, answer, band check, record, budget);
- ``_enumerated``, ``_montecarlo``, ``_vspace``: the truth engines, chosen once at construction;
- ``_cache``: equal keys get equal answers; ``_probes``: the fixed probe set of keys and noise;
- ``_pointwise``: the decoy check that a query is a fixed function of one (x, y);
- ``_stat``: :class:`SQOracle` (STAT(tau)) and :class:`VSTATOracle`; ``_example``: :class:`ExampleOracle`;
  ``_gradient``: :class:`ApproxGradientOracle`; ``_lifted``: :class:`LiftedOracle` (Theorem 3.2);
  ``_label_query``: :class:`LabelQueryOracle` (Theorem 5.1);
- ``_grading``: graders, held privately by oracles; ``_handle``: the sealed handle and ledger view a
  learner receives; ``_isolation``: ``learn(oracle, isolation="process")``;
- ``_protocols``: the structural types of these roles.
"""

from ._example import ExampleOracle
from ._gradient import ApproxGradientOracle
from ._grading import grade_real, grade_structural
from ._handle import LedgerView, OracleHandle, ViewRecord
from ._label_query import LabelQueryOracle
from ._lifted import LiftedOracle
from ._protocols import Grader, SQAnswering, TruthEngine
from ._stat import SQOracle, VSTATOracle

__all__ = ["SQOracle", "VSTATOracle", "ExampleOracle", "ApproxGradientOracle", "LiftedOracle", "LabelQueryOracle",
           "OracleHandle", "LedgerView", "ViewRecord", "Grader", "SQAnswering", "TruthEngine"]
