"""Contract violations seen by the oracle layer, recorded for ``sqsim.testing.check_learner``.

Every refusal that a learner provokes (a sealed attribute, a copy of a handle, a query that is not
pointwise, ...) goes through :func:`violation`, so a check can see attempts that the learner caught and
hid. Recording is off unless a check turned it on.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

_RECORDERS: list[list[str]] = []


def violation(exc_type, message: str):
    """The exception to raise for a refused attempt (and a note to every active recorder)."""
    for rec in _RECORDERS:
        rec.append(f"{exc_type.__name__}: {message}")
    return exc_type(message)


@contextmanager
def collecting(recorders: list):
    """Append a fresh list to ``recorders`` for the block and yield it (what was recorded meanwhile)."""
    rec: list[str] = []
    recorders.append(rec)
    try:
        yield rec
    finally:
        recorders.remove(rec)


@contextmanager
def recording():
    """Collect the messages of every violation raised inside the block."""
    try:
        with collecting(_RECORDERS) as rec:
            yield rec
    finally:
        if not _RECORDERS:
            _SEEN.clear()


#: two queries whose centred, normalised probe vectors agree this closely are affine copies or tiny
#: perturbations of each other (a learner averaging noise away)
NEAR_DUPLICATE = 1.0 - 1e-9
_SEEN: dict[int, list] = {}


def active() -> bool:
    return bool(_RECORDERS)


def note_query(owner, name: str, key: str, vector_fn) -> None:
    """While recording: flag a query that is an affine map or a tiny perturbation of an earlier, different one."""
    if not _RECORDERS:
        return
    v = np.asarray(vector_fn(), dtype=np.float64)
    c = v - v.mean()
    norm = float(np.linalg.norm(c))
    if not norm > 0:
        return
    w = c / norm
    seen = _SEEN.setdefault(id(owner), [])
    for other_key, other_name, u in seen:
        if other_key != key and u.shape == w.shape and float(u @ w) > NEAR_DUPLICATE:
            violation(ValueError, f"averaging: query {name!r} is an affine copy or a tiny perturbation of the "
                                  f"earlier query {other_name!r} (noise averaging)")
            break
    seen.append((key, name, w))
