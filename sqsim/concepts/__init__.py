"""Concepts (targets): callables on batches that oracles hide from learners.

Each concept is a callable ``f(X) -> labels`` on batches; concepts with a network form have
``.network`` (a :class:`ReLUNetwork`), compressible ones ``.compressed`` = (h, T, sigma) of
CGKM22 Definition 2.1; concepts that depend on few coordinates (:class:`Parity`,
:class:`Junta`) declare ``.support``. Families (:class:`ConceptFamily`) sample members with a seed, and
finite ones enumerate them.
"""

from ._families import ConceptFamily, FiniteFamily, Parities, SparseParities
from ._junta import Junta
from ._lwr import LWR, LWRSecrets, lwr_round
from ._natural import NaturalWeights, NaturalWeightsNetwork
from ._network import ReLUNetwork, smoothed
from ._parity import Compressed, Parity
from ._periodic import PeriodicNeuron, PeriodicNeurons, triangle_wave
from ._smoothed import SmoothedNetworks

__all__ = [
    "Parity", "Parities", "SparseParities", "Compressed",
    "Junta",
    "LWR", "LWRSecrets", "lwr_round",
    "ReLUNetwork", "smoothed",
    "NaturalWeights", "NaturalWeightsNetwork",
    "PeriodicNeuron", "PeriodicNeurons", "triangle_wave",
    "SmoothedNetworks",
    "ConceptFamily", "FiniteFamily",
]
