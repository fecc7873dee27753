"""Exceptions raised by sqsim.

Every sqsim error subclasses :class:`SQSimError` *and* the builtin exception a caller
would naturally catch (``ValueError``, ``RuntimeError``, ...), so ``except ValueError``
keeps working in user code.
"""

from __future__ import annotations

__all__ = [
    "SQSimError",
    "InvalidParameterError",
    "QueryRangeError",
    "QueryBudgetExceeded",
    "DomainTooLargeError",
    "StrategyContractError",
    "OracleStateError",
    "QueryContractError",
    "SealError",
    "IsolationError",
    "TargetError",
    "OptionalDependencyError",
    "MissingExtraError",
    "SQSimWarning",
]


class SQSimError(Exception):
    """Base class of every error raised by sqsim."""


class InvalidParameterError(SQSimError, ValueError, TypeError):
    """A public parameter has the wrong type or value.

    The message always reads "The 'name' parameter of Caller must be <constraint>. Got <value> instead."
    """


class QueryRangeError(SQSimError, ValueError):
    """A query returned a value outside [-1, 1] (or {0, 1} for VSTAT), NaN, or the wrong shape.

    Raised before anything is recorded: the ledger and the oracle state are unchanged.
    """


class QueryBudgetExceeded(SQSimError, RuntimeError):
    """Asking the query (or the whole batch) would exceed the oracle's budget.

    Raised before the query is answered; nothing is recorded.
    """


class DomainTooLargeError(SQSimError, ValueError):
    """Exact enumeration of a finite domain was asked for above the enumeration guard."""


class StrategyContractError(SQSimError, RuntimeError):
    """An answer strategy returned a value outside the band the oracle promises.

    The oracle checks every answer itself; a strategy that breaks the SQ contract is a bug in
    the strategy (user-defined adversaries included), never silently passed on to a learner.
    """


class OracleStateError(SQSimError, RuntimeError):
    """The oracle cannot do this in its current state (e.g. asking after a version-space reveal)."""


class QueryContractError(SQSimError, ValueError):
    """A query is not a fixed function of one (x, y): its values on a row depend on the rest of the batch.

    Also raised for queries that cannot cross a process boundary under ``isolation="process"``
    (not importable). Raised before anything is recorded: the ledger is unchanged.
    """


class SealError(SQSimError, AttributeError, TypeError):
    """An attempt to read or change what a learner may not touch (a handle's oracle, a sealed oracle's
    configuration), or to copy or pickle a handle."""


class IsolationError(SQSimError, RuntimeError):
    """Process isolation failed: the learner process died, or raised an error that is not an sqsim error."""


class TargetError(SQSimError, RuntimeError):
    """The target (the hidden concept) raised while the oracle evaluated it; the message names the target."""


class OptionalDependencyError(SQSimError, ImportError):
    """A feature needs a package that sqsim does not depend on (for example pandas for ``Ledger.to_pandas``);
    the message says what to install."""


class MissingExtraError(OptionalDependencyError):
    """An optional extra of sqsim is not installed (for example JAX and optax, the ``nn`` extra); the message names
    the extra to install (``pip install 'sqsim[nn]'``)."""


class SQSimWarning(UserWarning):
    """Something a user should know about a result that is not an error (for example: ``answers="exact"``
    above the enumeration guard answers Monte Carlo truths, exact only up to their recorded bound)."""
