"""Statistical dimension: certified SQ lower bounds for finite classes (docs/theory/dimension.md).

`pairwise_correlations` computes the correlation matrix of a family against a reference law
(exactly on finite domains), `sda` a certified interval for the statistical dimension with
average correlation of Feldman, Grigorescu, Reyzin, Vempala and Xiao, `sq_lower_bound` the query
lower bound it implies for STAT or VSTAT, and `sq_dimension` the SQ dimension of Blum, Furst,
Jackson, Kearns, Mansour and Rudich; `sweep_bound` the cached certified bound drawn on sweep plots.
"""

from ._correlations import pairwise_correlations
from ._matrix import CorrelationMatrix, RowStatistics
from ._sda import QueryLowerBound, SDAInterval, orthonormal_sda, sda, sq_lower_bound, stat_gamma
from ._sqdim import SQDimension, sq_dimension, weak_learning_bound
from ._sweep import sweep_bound

__all__ = [
    "CorrelationMatrix",
    "QueryLowerBound",
    "RowStatistics",
    "SDAInterval",
    "SQDimension",
    "orthonormal_sda",
    "pairwise_correlations",
    "sda",
    "sq_dimension",
    "sq_lower_bound",
    "stat_gamma",
    "sweep_bound",
    "weak_learning_bound",
]

# ``export`` presents objects as ``sqsim.<name>``; these live in the public subpackage instead, and
# pickling (Dask, process isolation) needs the real path
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
