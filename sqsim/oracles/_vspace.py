"""The version-space adversary's engine and its reveal (docs/theory/version-space.md, section version-space-reveal).

The oracle keeps the survivors of a finite family; a query's truth for every member comes from its
value tables (one Walsh-Hadamard transform for parities), the answer is the centre of the window of
width 2 tau holding most survivors, and :meth:`VersionSpaceEngine.reveal` draws the target from the
survivors (a different one from the learner's hypothesis whenever one exists) and re-checks every
recorded answer against it on an independent code path.
"""

from __future__ import annotations

import numpy as np

from .. import _keys
from .._errors import OracleStateError, StrategyContractError
from .._random import derived_rng
from .._version_space import VersionSpace, VersionSpaceStrategy
from ._enumerated import UNIT_ROUNDOFF, EnumeratedEngine
from ._evaluation import Evaluation, record
from ._probes import ProbeSet


class _FamilyTable:
    """The label facts the shared enumeration helpers need, for a family instead of one target."""

    def __init__(self, vs: VersionSpace):
        self.values = vs.label_values
        self.boolean = vs.boolean


class VersionSpaceEngine(EnumeratedEngine):
    """Member truths of queries against a finite family, the survivors, and the reveal."""

    def __init__(self, domain, family, *, tolerance: float, entropy: int):
        domain.check_enumerable("the version-space strategy")
        self.domain, self.binary = domain, False
        self.vs = VersionSpace(family, domain)
        self.table = _FamilyTable(self.vs)
        self.boolean_labels = self.vs.boolean
        self.probes = ProbeSet(domain, entropy, self.boolean_labels)
        self.context = f"{domain!r}|labels:" + ",".join(repr(float(v)) for v in self.vs.label_values)
        self.tolerance = float(tolerance)
        self._entropy = entropy
        self.revealed = None
        self.asked: list = []

    @property
    def alive(self) -> np.ndarray:
        return self.vs.alive

    def evaluate(self, query) -> Evaluation:
        if self.revealed is not None:
            raise OracleStateError("This version-space oracle has revealed its target; create a new oracle to ask more.")
        tables = self.value_tables(query)
        N = self.domain.size
        h = sum(_keys.label_hash(tables[vi], vi, N, np.arange(N)) for vi in range(tables.shape[0]))
        return Evaluation(None, 0.0, 0.0, _keys.finalize(self.context, h & _keys.MASK), None,
                          self._query_noise(query), member_truths=self.vs.truths(tables))

    def evaluate_batch(self, batch):
        return [self.evaluate(m) for m in batch.members]

    def window(self) -> float:
        """tau minus the rounding error of the per-member truths (one FWHT: about d ulps)."""
        return self.tolerance - (self.domain.d + 64) * UNIT_ROUNDOFF

    def answer(self, query, ev: Evaluation, alive: np.ndarray):
        """Choose the answer keeping the most survivors; return the record and the new survivors."""
        truths = ev.member_truths
        tau = self.window()
        a = VersionSpaceStrategy.choose(truths[alive], tau)
        kept = alive & (np.abs(truths - a) <= tau)
        if not kept.any():  # floating-point safety: answer a survivor's truth exactly
            a = float(truths[np.flatnonzero(alive)[0]])
            kept = alive & (np.abs(truths - a) <= tau)
        # the oracle's own check: every kept member is within tau of the answer
        if not kept.any() or np.any(np.abs(truths[kept] - a) > tau):
            raise StrategyContractError(f"version-space answer {a!r} to {query.name!r} is consistent with no member")
        before, after = int(alive.sum()), int(kept.sum())
        rec = record(name=query.name, kind=query.kind, tolerance=self.tolerance, answer=a, truth=None,
                     strategy="version-space", key=ev.key, extra={"survivors": after, "eliminated": before - after})
        return rec, kept

    def valid_for(self, a: float, ev: Evaluation, alive) -> bool:
        return bool(np.all(np.abs(ev.member_truths[alive] - a) <= self.window()))

    def reveal(self, avoid=None):
        """Draw the target among the survivors (differing from ``avoid`` when one does) and re-check every answer."""
        if self.revealed is not None:
            return self.revealed
        alive = np.flatnonzero(self.vs.alive)
        candidates = alive
        if avoid is not None:
            h = np.asarray(avoid(self.domain.enumerate()), dtype=np.float64).reshape(-1)
            same = self.vs.equal_members(h)
            differ = alive[~same[alive]]
            if differ.size:
                candidates = differ
        rng = derived_rng(self._entropy, "reveal")
        target = self.vs.family.member(int(candidates[rng.integers(0, len(candidates))]))
        from ._stat import SQOracle

        check = SQOracle(self.domain, target, self.tolerance, answers="exact")
        for q, a in self.asked:
            ev = check._engine.evaluate(q)
            if abs(a - ev.truth) > self.tolerance + ev.truth_error:
                raise StrategyContractError(
                    f"version-space answer {a!r} to {q.name!r} is {abs(a - ev.truth):.3g} from the revealed target's "
                    f"truth {ev.truth!r} (tolerance {self.tolerance})."
                )
        self.revealed = target
        return target
