"""The answer cache: equal keys get equal answers, so repeating or re-wrapping a query buys nothing.

A repeat is recorded again (``cached=True``) with the first answer. When two different queries share a
key (a hash collision, or two Monte Carlo queries that agree on every probe), the earlier answer is
reused only if it lies in the new query's band; otherwise the new query gets a deterministic second
key and its own answer, so no answer ever leaves its band.

The cache holds, per key, the ledger index of the first record with that key (and that record's truth
digest when it is not the recorded truth, as for the version space): the record itself lives in the
ledger's columns only.
"""

from __future__ import annotations

from .. import _keys
from .._errors import StrategyContractError


class AnswerCache:
    """Committed answers by key (ledger indices), key resolution of a staged batch, and the commit."""

    def __init__(self, ledger=None):
        self._ledger = ledger
        self._by_key: dict[str, int] = {}
        self._digests: dict[int, object] = {}

    def __contains__(self, key) -> bool:
        return key in self._by_key

    def first(self, key):
        """(answer, digest) of the first committed record with ``key``, or None."""
        i = self._by_key.get(key)
        if i is None:
            return None
        led = self._ledger
        return led._answer[i], self._digests.get(i, led._truth[i])

    def resolve(self, ev, staged: dict, valid_for):
        """(key, earlier record or None, collided) for evaluation ``ev``; ``valid_for(answer)`` checks reuse.

        ``staged`` maps the keys answered earlier in the same batch to their (uncommitted) records.
        """
        key, collided = ev.key, False
        digest = ev.digest()
        for attempt in range(1, 17):
            prior = staged.get(key)
            if prior is not None:
                answer, pdigest = prior["answer"], prior["_digest"]
            else:
                prior = self.first(key)
                if prior is None:
                    return key, None, collided
                answer, pdigest = prior
            if pdigest == digest or valid_for(answer):
                return key, prior, collided
            collided = True
            key = _keys.alternative(ev.key, attempt)
        raise StrategyContractError(f"could not find a fresh key for query with key {ev.key!r}")  # pragma: no cover

    def commit(self, rec: dict, seconds: float) -> float:
        """Append ``rec`` to the ledger (a known key: the first answer, marked cached); return the answer."""
        led = self._ledger
        key = rec["key"]
        i = self._by_key.get(key)
        if i is not None:
            old = led._extra[i]
            new = rec.get("extra")
            extra = {**old, **new} if old and new else dict(old or new or {})
            led._add(rec["name"], rec["kind"], led._tolerance[i], led._answer[i], led._truth[i], led._truth_error[i],
                     led._failure_probability[i], led._strategy[i], led._in_band[i], seconds, led._key[i], True, extra)
            return led._answer[i]
        j = led._add(rec["name"], rec["kind"], rec["tolerance"], rec["answer"], rec["truth"], rec["truth_error"],
                     rec["failure_probability"], rec["strategy"], rec["in_band"], seconds, key,
                     rec.get("cached", False), rec["extra"])
        self._by_key[key] = j
        digest = rec.get("_digest", rec["truth"])
        if digest is not rec["truth"]:
            self._digests[j] = digest
        return rec["answer"]
