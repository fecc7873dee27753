"""sqsim: run statistical-query arguments.

Build a target, hide it behind an oracle with tolerance tau and an answer strategy, give the
oracle to a learner, and count the queries it needs as a function of the dimension.
"""

from ._domains import *
from ._errors import *
from ._learning import *
from ._ledger import *
from .oracles import ApproxGradientOracle, ExampleOracle, LedgerView, OracleHandle, SQOracle, VSTATOracle
from .gradients import CosineModel, LinearModel, OneHiddenReLU
from ._queries import *
from ._strategies import *
from ._version_space import *
from . import bounds, concepts

__version__ = "0.1.0"
__all__ = [
    "BooleanCube", "ZqCube", "Gaussian",
    "Query", "CorrelationalQuery", "NumbaQuery", "Character", "LabelCharacter", "ZqCharacter", "CharacterBatch",
    "SQOracle", "VSTATOracle", "ExampleOracle", "ApproxGradientOracle", "OneHiddenReLU", "CosineModel", "LinearModel",
    "AnswerStrategy", "AnswerContext", "ExactStrategy", "NoisyStrategy", "RoundedStrategy",
    "NullAdversary", "SampledStrategy", "VersionSpaceStrategy",
    "Ledger", "QueryRecord", "Learner", "LearnResult",
    "SQSimError", "InvalidParameterError", "QueryRangeError", "QueryBudgetExceeded",
    "DomainTooLargeError", "StrategyContractError", "OracleStateError", "QueryContractError", "SealError",
    "IsolationError", "TargetError", "OptionalDependencyError", "MissingExtraError", "SQSimWarning", "OracleHandle", "LedgerView",
    "bounds", "concepts",
]
