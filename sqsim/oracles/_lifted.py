"""The Theorem 3.2 adapter's oracle (CGKM22; docs/theory/adapter.md): Gaussian SQ queries about a lifted target,
answered with one Boolean SQ query each at tolerance tau/2.

For a Gaussian query phi(z, y) the adapter asks the Boolean oracle the query (A1)

    phi_B(x, y) = (1/K) sum_k phi(z_k(x), y phi_D(sum_j N2(z_kj))),   z_k(x) ~ N(0, I_d) | thres_q(z) = x,

with inner draws fixed by (the adapter's seed, the Gaussian query's key, x), so phi_B is a fixed
bounded function that the Boolean oracle answers with its own strategy (adversarial included).
The adapter never evaluates the Boolean target: it only asks queries. Error budget (A3):
|answer - E_z[phi(z, f^Delta(z))]| <= tau_bool + eps_inner + 2 P[E] with tau_bool = tau / 2,
eps_inner <= tau / 4 (Hoeffding over the N K inner draws at failure probability delta_inner) and
P[E] = 0 for sqsim's N3; all three are recorded per query.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .. import _keys
from .._domains import Gaussian
from .._errors import InvalidParameterError
from .._ledger import Ledger
from .._queries import Query
from .._random import derived_rng, derived_seed
from .._strategies import hoeffding_error, hoeffding_samples
from .._validation import Interval, NoneOk, check_param, show
from ..lift import CompressedLift, LiftedCharacterBatch
from ..lift._n3 import phi_table
from ..lift._queries import EXACT_BOUND, exact_image
from . import _violations
from ._evaluation import record
from ._grading import grade_real
from ._inner import monte_carlo_image
from ._probes import PROBE_POINTS
from ._seal import Sealed

__all__ = ["LiftedOracle"]

class LiftedOracle(Sealed):
    """A Gaussian SQ oracle for f^Delta that only talks to a Boolean SQ oracle for f (Theorem 3.2).

    Parameters
    ----------
    boolean_oracle : SQOracle or an SQ oracle handle
        STAT(tau_bool) for the Boolean concept f (any strategy, adversarial included). A learner may wrap
        its own handle (the Theorem 3.2 reduction does): the adapter uses only public accessors
        (``tolerance``, ``domain``, ``truth_points``, ``boolean_labels``, ``child_entropy``,
        ``ask_batch``, ``ledger``), and such an adapter has no grader.
    lift : CompressedLift
        Same d and q as the Boolean domain.
    inner_samples : int, optional
        Inner draws K per Boolean point; default the smallest K with eps_inner <= tau / 4.
    inner_failure_probability : float, default 1e-6
        delta_inner of the Hoeffding bound on the inner Monte Carlo.

    Attributes
    ----------
    tolerance : float
        2 tau_bool.
    domain : Gaussian
    ledger : Ledger
        One record per Gaussian query, with the Boolean record it became (``extra["boolean_index"]``),
        tau_bool, eps_inner and the bad-event term; the Boolean oracle's own ledger counts the Boolean
        queries, one to one, so nothing is counted twice.
    """

    oracle_kind = "sq"

    def __init__(self, boolean_oracle, lift, inner_samples=None, *, inner_failure_probability=1e-6, seed=None):
        from ._handle import OracleHandle
        from ._stat import SQOracle

        if not (isinstance(boolean_oracle, SQOracle) or (isinstance(boolean_oracle, OracleHandle)
                                                         and boolean_oracle.kind == "sq")):
            raise InvalidParameterError(f"The 'boolean_oracle' parameter of LiftedOracle must be an SQOracle (or an "
                                        f"SQ oracle's handle). Got {show(boolean_oracle)} instead.")
        if not isinstance(lift, CompressedLift):
            raise InvalidParameterError(f"The 'lift' parameter of LiftedOracle must be a CompressedLift. "
                                        f"Got {show(lift)} instead.")
        dom = boolean_oracle.domain
        if dom.d != lift.d or getattr(dom, "base", None) != lift.q:
            raise InvalidParameterError(
                f"The 'lift' parameter of LiftedOracle must match the Boolean domain {dom!r}. Got {lift!r} instead."
            )
        check_param("inner_samples", inner_samples, [Interval(int, 1, None), NoneOk], "LiftedOracle")
        check_param("inner_failure_probability", inner_failure_probability,
                    Interval(float, 0, 1, closed="neither"), "LiftedOracle")
        self.boolean = boolean_oracle
        self.lift = lift
        self.tolerance = 2.0 * boolean_oracle.tolerance
        self.domain = Gaussian(lift.d)
        self.ledger = Ledger()
        self.inner_failure_probability = float(inner_failure_probability)
        self._points = int(boolean_oracle.truth_points)
        #: the label values phi_B is evaluated at on one pass of inner draws (public: the label space)
        self.label_values = np.array([0.0, 1.0]) if boolean_oracle.boolean_labels else None
        tau = self.tolerance
        #: whether the user fixed K (then every generic image uses it; otherwise K is chosen per query)
        self.inner_samples_given = inner_samples is not None
        if inner_samples is None:
            inner_samples = max(1, math.ceil(hoeffding_samples(tau / 4, self.inner_failure_probability) / self._points))
        self.K = int(inner_samples)
        self.eps_inner = hoeffding_error(self._points * self.K, self.inner_failure_probability)
        self.bad_event = lift.bad_event_probability()
        total = boolean_oracle.tolerance + self.eps_inner + 2 * self.bad_event
        if total > tau:
            raise InvalidParameterError(
                f"The 'inner_samples' parameter of LiftedOracle must let the error budget fit the tolerance "
                f"{tau:.4g}: tau_bool {boolean_oracle.tolerance:.4g} + eps_inner {self.eps_inner:.4g} + "
                f"2 P[E] {2 * self.bad_event:.4g} = {total:.4g}. Got {inner_samples!r} instead."
            )
        self._entropy = boolean_oracle.child_entropy("adapter")
        probe_rng = derived_rng(self._entropy, "probe")
        self._probe_Z = probe_rng.standard_normal((PROBE_POINTS, lift.d))
        # the fixed probe label set: the lifted labels of x-labels 0 and 1 at every probe point
        self._probe_Zs = np.concatenate([self._probe_Z, self._probe_Z])
        self._probe_y = np.concatenate([lift.label(np.zeros(PROBE_POINTS), self._probe_Z),
                                        lift.label(np.ones(PROBE_POINTS), self._probe_Z)])
        i, c = lift.intervals, lift.constants
        self._kernel_args = (i.boundaries, i.L, i.l, i.r, i.U, phi_table(c), float(c.kmax), float(c.kappa))
        self._grader = _LiftedGrader(self) if isinstance(boolean_oracle, SQOracle) else None
        self._boolean_labels = bool(boolean_oracle.boolean_labels)
        self._seal()

    def child_entropy(self, purpose: str) -> int:
        return derived_seed(self._entropy, "child", str(purpose))

    @property
    def truth_points(self):
        return None

    @property
    def boolean_labels(self):
        return False

    def _image(self, query: Query) -> Query:
        if not isinstance(query, Query):
            raise InvalidParameterError(f"The 'query' parameter of LiftedOracle.ask must be a sqsim Query. "
                                        f"Got {show(query)} instead.")
        pv = query.values(self._probe_Zs, self._probe_y, False)
        key = _keys.probe_key(f"lifted|{self.lift!r}", pv)
        _violations.note_query(self, query.name, key, lambda: pv)
        exact = exact_image(query, self.lift, self._boolean_labels)
        if exact is not None:  # structured: the image from the certified law of V (docs/theory/lifted-images.md)
            image, eps = exact
            total = self.boolean.tolerance + eps + 2 * self.bad_event
            if not total <= self.tolerance:
                raise InvalidParameterError(
                    f"The 'query' parameter of LiftedOracle.ask must have an exact image whose error budget fits the "
                    f"tolerance {self.tolerance:.4g}: tau_bool {self.boolean.tolerance:.4g} + eps_inner {eps:.4g} "
                    f"(the certified error of the law of V) + 2 P[E] {2 * self.bad_event:.4g} = {total:.4g}. Got "
                    f"{query!r} instead (a finer grid of lift.event_probabilities lowers eps_inner).")
            image.key = key
            image.eps_inner, image.inner_samples, image.inner_bound = float(eps), 0, EXACT_BOUND
            image.inner_failure_probability = 0.0
            return image
        seed = np.uint64(derived_rng(self._entropy, key, "inner").integers(0, 2**63))
        return monte_carlo_image(self, query, key, seed)

    def ask(self, query: Query) -> float:
        """One Gaussian query = one Boolean query; the answer is within tolerance of E_z[phi(z, f^Delta(z))]."""
        return float(self.ask_batch([query])[0])

    def ask_batch(self, queries) -> np.ndarray:
        """Many Gaussian queries, forwarded as one Boolean batch (atomic on both ledgers).

        ``queries`` is a sequence of queries and :class:`~sqsim.lift.LiftedCharacterBatch` objects, or one
        LiftedCharacterBatch: one Gaussian record per member.
        """
        if isinstance(queries, Query) or not hasattr(queries, "__iter__"):
            raise InvalidParameterError(f"The 'queries' parameter of LiftedOracle.ask_batch must be a sequence of "
                                        f"queries or a LiftedCharacterBatch. Got {show(queries)} instead (use ask "
                                        f"for one query).")
        items = [queries] if isinstance(queries, LiftedCharacterBatch) else list(queries)
        queries = [m for it in items for m in (it.members if isinstance(it, LiftedCharacterBatch) else [it])]
        t0 = time.perf_counter()
        images = [self._image(q) for q in queries]
        start = len(self.boolean.ledger)
        answers = self.boolean.ask_batch(images)
        seconds = (time.perf_counter() - t0) / max(1, len(queries))
        for n, (q, a) in enumerate(zip(queries, answers)):
            brec = self.boolean.ledger[start + n]
            full = self._grader is not None  # a real oracle's record; a handle's view shows answers only
            fp = brec.failure_probability if full else 0.0
            self.ledger.append(**record(
                name=q.name, kind=q.kind, tolerance=self.tolerance, answer=float(a), truth=None,
                truth_error=images[n].eps_inner,
                failure_probability=min(1.0, fp + getattr(images[n], "inner_failure_probability",
                                                          self.inner_failure_probability)),
                strategy=f"lifted:{brec.strategy if full else 'handle'}", in_band=brec.in_band if full else True,
                key=brec.key if full else images[n].key,
                extra={"boolean_index": brec.index, "tau_bool": self.boolean.tolerance,
                       "eps_inner": images[n].eps_inner, "bad_event": self.bad_event,
                       "inner_samples": images[n].inner_samples, "inner_bound": images[n].inner_bound,
                       "inner_hoeffding_samples": getattr(images[n], "hoeffding_samples", None),
                       "variance_bound": getattr(images[n], "variance_bound", None),
                       "forwarded": 1}), seconds=seconds)
        return answers

    def __repr__(self):
        return f"LiftedOracle({self.boolean!r}, {self.lift!r}, tolerance={self.tolerance}, K={self.K})"




class _LiftedGrader:
    """Grading (not a query): the Boolean oracle's target composed with the lift (docs/theory/contracts.md, section contracts-grading).

    Success iff a (1 - 1e-3) upper bound on E[(clip(h) - f^Delta)^2] over n fresh Gaussian points is at
    most 0.25 E[(f^Delta)^2], so the zero hypothesis never succeeds on a lifted target.
    """

    def __init__(self, oracle):
        self._boolean_grader, self._lift, self._entropy = oracle.boolean._grader, oracle.lift, oracle._entropy

    def target(self, avoid=None):
        return self._boolean_grader.target(avoid)

    def grade(self, hypothesis, n: int = 100_000) -> dict:
        if hypothesis is None:
            return {"success": False, "reason": "no hypothesis"}
        Z = derived_rng(self._entropy, "grade").standard_normal((n, self._lift.d))
        X, phi = self._lift.features(Z)
        f = self._boolean_grader.target()
        y = np.asarray(f(X), dtype=np.float64) * phi  # f^Delta(z) = f(thres_q(z)) phi_D(sum_j N2(z_j))
        h = np.asarray(hypothesis(Z), dtype=np.float64).reshape(-1)
        lo, hi = self._lift.constants.phi_range()  # f in [0, 1], so f^Delta lies in [min(lo, 0), max(hi, 0)]
        return grade_real(h, y, (min(lo, 0.0), max(hi, 0.0)))


LiftedOracle.__module__ = "sqsim.adapter"  # where users import it from
