"""The lift from Boolean (or Z_q) concepts to Gaussian ReLU networks (CGKM22 Section 2).

`CompressedLift` (Theorem 2.3, Eqs. (4)-(8)) with the gadgets N1, N2 (Lemmas 2.4, 2.5) and N3
(Lemma 2.6 as built in docs/theory/lift.md, section lift-n3); see that page for the conventions and the
deviations from the lemmas as printed.
"""

from ._compressed import CompressedLift, LiftedConcept, LiftPrecisionError
from ._dv import DVLift, DVLiftedConcept, LabelQueryOracle, network_upper_bound
from ._padding import pad
from ._intervals import Intervals, gaussian_mass, smallest_delta
from ._n3 import c_polynomial, n3_constants
from ._law import EventProbabilities
from ._queries import LiftedCharacter, LiftedCharacterBatch, ThresholdQuery

__all__ = ["CompressedLift", "DVLift", "DVLiftedConcept", "LabelQueryOracle", "network_upper_bound", "pad", "LiftedConcept", "LiftPrecisionError", "Intervals", "gaussian_mass", "smallest_delta",
           "c_polynomial", "n3_constants", "EventProbabilities", "LiftedCharacter", "LiftedCharacterBatch",
           "ThresholdQuery"]
