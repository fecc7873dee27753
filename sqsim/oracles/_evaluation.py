"""What a truth engine returns for one query, and the one place ledger records are built."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


#: a Character's probe vector as (w_0 chi_S, w_1 chi_S) on the probe labels (0, 1): w_l = 1 - 2l
CHARACTER_WEIGHTS = (1.0, -1.0)


@dataclass(slots=True)
class Evaluation:
    """The oracle-side facts about one query (never shown to a learner).

    ``null`` is a float, None (unavailable) or a zero-argument callable (lazy Monte Carlo);
    ``noise_vector`` a zero-argument callable giving the query's values on the fixed probe set
    (points x probe labels), used by the smooth noise of the "noisy" strategy.
    """

    truth: float | None
    truth_error: float
    failure_probability: float
    key: str
    null: object
    noise_vector: object = None
    extra: dict = field(default_factory=dict)
    member_truths: np.ndarray | None = None  # version space: the truth of every family member
    #: (w_0, w_1) when the probe vector is (w_0 chi_S, w_1 chi_S), chi_S a character at the probe points and
    #: the probe labels 0 and 1 (a Character: (1, -1)); the noisy strategy then takes its closed form
    probe_weights: tuple | None = None

    def digest(self):
        """What identifies the query's truth: equal digests mean a genuine repeat, not a key collision."""
        return self.truth if self.member_truths is None else hash(self.member_truths.tobytes())


def record(*, name, kind, tolerance, answer, truth, truth_error=0.0, failure_probability=0.0, strategy,
           in_band=True, key="", extra=None) -> dict:
    """A ledger record's fields (without index and seconds, which the ledger and the template add)."""
    return dict(name=name, kind=kind, tolerance=tolerance, answer=answer, truth=truth, truth_error=truth_error,
                failure_probability=failure_probability, strategy=strategy, in_band=in_band, key=key,
                extra={} if extra is None else extra)


def count_record(kind: str, n: int, strategy: str, name: str | None = None) -> dict:
    """The record of n examples or label queries (one record, counted n times)."""
    return record(name=name or ("examples" if kind == "example" else "labels"), kind=kind, tolerance=None,
                  answer=float("nan"), truth=None, strategy=strategy, extra={"count": n})
