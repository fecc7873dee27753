"""The pointwise check: an SQ query is a fixed function of one (x, y) (docs/theory/strategies.md, section pointwise).

Whenever an oracle hands a query a batch that carries real labels (Monte Carlo truths, the sampled
strategy, enumerated targets with too many label values), it re-evaluates DECOY_REAL rows of that batch
twice more, each time mixed with DECOY_MIN to DECOY_MAX decoy rows (fresh points of the domain with labels drawn
from the batch's own labels at random rows, i.e. from the null) in a different order, and compares the
real rows' values across the three contexts. A query whose values on the real rows depend on the rest of
the batch (one that solves for the secret across rows, or sorts, or normalises by the batch) is refused
with :class:`QueryContractError` before anything is recorded. A query that returns the same constant on
every sub-batch passes, but then it carries no information about the batch either: the decoys differ
between the two checks, so a constant computed from the batch would differ too.

Each check batch holds only DECOY_REAL real rows (too few labels to solve for a secret) among a random
number of decoys (so a query cannot tell a check batch by its size), and under ``isolation="process"``
each check runs in a fresh evaluator that has seen nothing else: a query that computes a constant from
the main batch and remembers it cannot reproduce it there.

Cost: two extra calls on at most 98 rows each per query, against the CHUNK-row (32,768) calls of the main
pass: 0.15 ms against about 30 ms for a plain numpy query on a Gaussian domain (0.5 %).
"""

from __future__ import annotations

import numpy as np

from .._errors import QueryContractError
from ._violations import violation

DECOY_REAL = 2
#: decoy rows per check batch: drawn in [DECOY_MIN, DECOY_MAX]
DECOY_MIN, DECOY_MAX = 30, 96
#: values may differ by float rounding between batch sizes (BLAS blocking); beyond this they differ
ATOL = 1e-9


def check_pointwise(query, X, y, vals, domain, rng, boolean_labels: bool, binary: bool) -> None:
    """Raise :class:`QueryContractError` unless ``vals`` (= query on (X, y)) is reproduced amid decoys."""
    n = X.shape[0]
    if n < 2:
        return
    r = min(DECOY_REAL, n)
    idx = rng.choice(n, size=r, replace=False)
    for order in (1, -1):
        m = int(rng.integers(DECOY_MIN, DECOY_MAX + 1))
        D = domain._sample(m, rng)
        yD = y[rng.integers(0, n, m)]
        if order == 1:
            Xb, yb = np.concatenate([X[idx], D]), np.concatenate([y[idx], yD])
        else:
            Xb, yb = np.concatenate([D, X[idx][::-1]]), np.concatenate([yD, y[idx][::-1]])
        fresh = getattr(query, "fresh", None)
        checker = fresh() if fresh is not None else query
        try:
            got = checker.values(Xb, yb, boolean_labels, binary=binary)
        finally:
            if checker is not query:
                checker.close()
        mine = got[:r] if order == 1 else got[m:][::-1]
        if not np.all(np.abs(mine - vals[idx]) <= ATOL):
            # no values in the message: they are computed from the target's labels
            raise violation(QueryContractError,
                f"Query {query.name!r} must be a fixed function of one (x, y): its value on a row changed when "
                f"the other rows of the batch changed. Nothing was recorded, and this handle's run ends."
            )
