"""Monte Carlo truths with a recorded Hoeffding bound (Gaussian domains, cubes above the enumeration guard).

Keys hash the query's values on the fixed probe set (points from SeedSequence(seed, "probe") and
target-independent probe labels), never its name or code: renaming, re-wrapping or recompiling a
query buys no fresh answer, and comparing keys reveals nothing about the target's labels.
"""

from __future__ import annotations

from .. import _keys
from .._random import derived_rng
from .._strategies import hoeffding_error
from ._evaluation import Evaluation
from ._probes import ProbeSet, labels_are_boolean
from ._sampling import Sampler


class MonteCarloEngine:
    """Truth = mean of phi(x, f(x)) on n fresh points drawn from (seed, key); null on independent pairs."""

    exact = False

    def __init__(self, domain, target, *, binary: bool, entropy: int, n: int, failure_probability: float,
                 value_range: float):
        self.domain, self.binary, self._entropy = domain, bool(binary), entropy
        self.boolean_labels = labels_are_boolean(domain, target, entropy)
        self.probes = ProbeSet(domain, entropy, self.boolean_labels, target.attribute("range"))
        self.context = f"{domain!r}|boolean:{self.boolean_labels}"
        self.sampler = Sampler(domain, target, self.boolean_labels, self.binary, entropy)
        self.n = int(n)
        self.failure_probability = float(failure_probability)
        self.error = hoeffding_error(self.n, self.failure_probability, value_range)

    @property
    def truth_points(self) -> int:
        return self.n

    def key(self, query):
        pv = self.probes.values(query, self.binary)
        return _keys.probe_key(self.context, pv), pv

    def evaluate(self, query) -> Evaluation:
        key, pv = self.key(query)
        n = self.n
        truth = self.sampler.mean(query, n, derived_rng(self._entropy, key, "truth"))
        state = {}

        def null():
            if "v" not in state:
                state["v"] = self.sampler.mean(query, n, derived_rng(self._entropy, key, "null"), True)
            return state["v"]

        return Evaluation(truth, self.error, self.failure_probability, key, null, lambda: pv,
                          {"truth_samples": n})

    def evaluate_batch(self, batch):
        return [self.evaluate(m) for m in batch.members]
