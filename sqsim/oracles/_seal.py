"""Sealing: an oracle's configuration is read-only after construction, and oracles and handles refuse
to be copied or pickled (a copy would be a second, uncounted oracle on the same target)."""

from __future__ import annotations

from .._errors import SealError


class Sealed:
    """Mixin: attributes can be set only during ``__init__``; copying and pickling are refused."""

    __slots__ = ()

    def _seal(self) -> None:
        object.__setattr__(self, "_sealed_", True)

    def __setattr__(self, name, value):
        if getattr(self, "_sealed_", False):
            raise SealError(f"{type(self).__name__}.{name} is read-only: an oracle's configuration (strategy, "
                            f"tolerance, target, ledger) is fixed at construction. Build a new oracle instead.")
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        raise SealError(f"{type(self).__name__}.{name} cannot be deleted: the oracle is sealed.")

    def _refuse_copy(self, *args):
        raise SealError(f"A {type(self).__name__} cannot be copied or pickled: a copy would answer queries about "
                        f"the same target outside the ledger. Build a new oracle from the same arguments instead.")

    __copy__ = __deepcopy__ = __reduce_ex__ = __reduce__ = __getstate__ = _refuse_copy
