"""Monte Carlo truths with a recorded Hoeffding bound (Gaussian domains, cubes above the enumeration guard).

Keys hash the query's values on the fixed probe set (points from SeedSequence(seed, "probe") and
target-independent probe labels), never its name or code: renaming, re-wrapping or recompiling a
query buys no fresh answer, and comparing keys reveals nothing about the target's labels.

On finite domains above the enumeration guard (not when ``truth="monte-carlo"`` was asked for on an
enumerable one), a target that declares its support and a query that declares its reads get an exact
truth from :mod:`._junta` (docs/theory/juntas.md): the record then carries truth_error = the rounding
bound, failure_probability = 0 and ``extra["truth_path"] = "junta"`` with ``junta_size`` = |reads |
support|. Every other query on such a domain falls back to the Monte Carlo truth, recorded with
``truth_path = "monte-carlo"`` and ``junta_fallback`` saying why.

``exact`` is a property of the engine, not of one query: it is False here (some truths may be
estimates), so ``oracle.exact`` is False on every Monte Carlo oracle; per-query exactness is in the
record (``truth_error``, ``failure_probability``, ``truth_path``).
"""

from __future__ import annotations

from .. import _keys
from .._domains import BooleanCube
from .._queries import Character, LabelCharacter
from .._random import derived_rng
from .._strategies import hoeffding_error
from ._evaluation import Evaluation
from ._junta import JuntaCharacters, JuntaEngine, junta_guard
from ._probes import ProbeSet, labels_are_boolean
from ._sampling import Sampler

#: queries whose truths and probe vectors come from their structure
_STRUCTURED = (Character, LabelCharacter)
#: the default cap on distinct labels for label-blind junta passes (SQOracle's max_label_values default)
DEFAULT_MAX_LABEL_VALUES = 64


class MonteCarloEngine:
    """Truth = mean of phi(x, f(x)) on n fresh points drawn from (seed, key); null on independent pairs.

    Junta queries against a target with declared support get exact truths instead (module docstring).
    """

    exact = False

    def __init__(self, domain, target, *, binary: bool, entropy: int, n: int, failure_probability: float,
                 value_range: float, max_label_values: int = DEFAULT_MAX_LABEL_VALUES):
        self.domain, self.binary, self._entropy = domain, bool(binary), entropy
        self.junta, self._junta_why = self._junta_engine(domain, target, entropy, max_label_values)
        flag = target.attribute("boolean")
        if self.junta is not None and flag is None:
            self.boolean_labels = self.junta.boolean  # the exact label table decides
        else:
            self.boolean_labels = labels_are_boolean(domain, target, entropy)
        self.probes = ProbeSet(domain, entropy, self.boolean_labels, target.attribute("range"))
        self.context = f"{domain!r}|boolean:{self.boolean_labels}"
        self.sampler = Sampler(domain, target, self.boolean_labels, self.binary, entropy)
        self.n = int(n)
        self.failure_probability = float(failure_probability)
        self.error = hoeffding_error(self.n, self.failure_probability, value_range)
        self._structured = (self.junta is not None and self.boolean_labels and self.junta.boolean
                            and not self.binary and domain.base == 2)
        #: Character and LabelCharacter evaluations without evaluating the query (docs/theory/juntas.md)
        self.characters = JuntaCharacters(self.junta, self.probes, self.context) if self._structured else None
        #: whether the oracle's ``ask`` takes its lookup path for characters (as on enumerated cubes)
        self.structured = self._structured and isinstance(domain, BooleanCube)

    @staticmethod
    def _junta_engine(domain, target, entropy, max_label_values):
        """(JuntaEngine or None, why not); None without a reason where juntas do not apply at all."""
        if not domain.finite or domain.enumerable:  # Gaussian, or truth="monte-carlo" asked for explicitly
            return None, None
        support = target.support(domain.d)
        if support is None:
            return None, "the target declares no support"
        if domain.base ** len(support) > junta_guard(domain):
            return None, (f"the target's support has {len(support)} coordinates, above the junta guard "
                          f"({domain.base}^|T| <= {junta_guard(domain)} points)")
        return JuntaEngine(domain, target, support, entropy=entropy, max_label_values=max_label_values), None

    @property
    def truth_points(self) -> int:
        return self.n

    def key(self, query):
        """(key, probe vector) of a query evaluated on the probe set (characters: ``characters.evaluate``)."""
        pv = self.probes.values(query, self.binary)
        return _keys.probe_key(self.context, pv), pv

    def character(self, query) -> Evaluation:
        """A Character's or LabelCharacter's evaluation (``structured`` engines only)."""
        return self.characters.evaluate(query)

    label_character = character

    def evaluate(self, query) -> Evaluation:
        if self._structured and type(query) in _STRUCTURED:
            return self.characters.evaluate(query)
        key, pv = self.key(query)
        why = self._junta_why
        if self.junta is not None:
            U, why = self.junta.plan(query)
            if U is not None:
                return self.junta.evaluate(query, U, key, pv, boolean_labels=self.boolean_labels,
                                           binary=self.binary)
        n = self.n
        truth = self.sampler.mean(query, n, derived_rng(self._entropy, key, "truth"))
        state = {}

        def null():
            if "v" not in state:
                state["v"] = self.sampler.mean(query, n, derived_rng(self._entropy, key, "null"), True)
            return state["v"]

        extra = {"truth_samples": n}
        if why is not None:
            extra.update(truth_path="monte-carlo", junta_fallback=why)
        return Evaluation(truth, self.error, self.failure_probability, key, null, lambda: pv, extra)

    def evaluate_batch(self, batch):
        return [self.evaluate(m) for m in batch.members]
