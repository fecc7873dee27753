"""The answer cache: equal keys get equal answers, so repeating or re-wrapping a query buys nothing.

A repeat is recorded again (``cached=True``) with the first answer. When two different queries share a
key (a hash collision, or two Monte Carlo queries that agree on every probe), the earlier answer is
reused only if it lies in the new query's band; otherwise the new query gets a deterministic second
key and its own answer, so no answer ever leaves its band.
"""

from __future__ import annotations

from .. import _keys
from .._errors import StrategyContractError


class AnswerCache:
    """Committed answers by key, and the key resolution of a staged batch."""

    def __init__(self):
        self._by_key: dict[str, dict] = {}

    def __contains__(self, key) -> bool:
        return key in self._by_key

    def resolve(self, ev, staged: dict, valid_for):
        """(key, earlier record or None, collided) for evaluation ``ev``; ``valid_for(answer)`` checks reuse."""
        key, collided = ev.key, False
        for attempt in range(1, 17):
            prior = staged.get(key) or self._by_key.get(key)
            if prior is None or prior["_digest"] == ev.digest() or valid_for(prior["answer"]):
                return key, prior, collided
            collided = True
            key = _keys.alternative(ev.key, attempt)
        raise StrategyContractError(f"could not find a fresh key for query with key {ev.key!r}")  # pragma: no cover

    def commit(self, rec: dict) -> dict:
        """The record to append: the first answer for a known key (marked cached), else ``rec`` (remembered)."""
        key = rec["key"]
        if key in self._by_key:
            old = self._by_key[key]
            rec = {**old, "name": rec["name"], "kind": rec["kind"], "cached": True,
                   "extra": {**old["extra"], **rec.get("extra", {})}}
        else:
            self._by_key[key] = rec
        return {k: v for k, v in rec.items() if k not in ("index", "_digest")}
