"""SQ learning algorithms behind one protocol and a registry.

>>> import learners
>>> "parity-brute-force" in learners.available()
True

Third-party learners register through the entry-point group ``sqsim.learners``; they appear
in :func:`available` and :func:`make` without touching sqsim.
"""

from sqsim._learning import LearnResult, Learner

from ._base import available, get_class, make, register
from .gaussian import HermiteMoments, NoisyGD, RegisteredReduction, VWCheat
from .boolean import ExactCheat, GF2Elimination, LowDegree, VersionSpaceSearch
from .lifted import LiftedParityBruteForce
from .lift import LiftedHypothesis, LiftedLearner, LiftedLowDegree, lift_learner
from .parity import ParityBruteForce
from .sgd import MLPHypothesis, SGDMLP  # imports no JAX (the nn extra is needed only to train)
from .sqgd import SQGD

__all__ = ["LearnResult", "Learner", "available", "get_class", "make", "register", "ParityBruteForce", "LiftedParityBruteForce",
           "LowDegree", "GF2Elimination", "ExactCheat", "VersionSpaceSearch",
           "NoisyGD", "HermiteMoments", "VWCheat", "RegisteredReduction",
           "lift_learner", "LiftedLearner", "LiftedLowDegree", "LiftedHypothesis", "SGDMLP", "MLPHypothesis", "SQGD"]
