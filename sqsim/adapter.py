"""The Theorem 3.2 adapter (CGKM22; docs/theory/adapter.md): :class:`LiftedOracle` (the Gaussian oracle that
asks one Boolean query per Gaussian query; it lives in :mod:`sqsim.oracles._lifted`), the weak predictor
B~ of Eq. (8), and the reduction B(A) that runs a Gaussian learner through the adapter.
"""

from __future__ import annotations


import numpy as np

from ._errors import InvalidParameterError
from ._kernels import adapter as kadapter
from ._kernels import pick
from ._learning import Learner
from .oracles._lifted import LiftedOracle  # noqa: F401  (public here: sqsim.adapter.LiftedOracle)
from ._random import derived_rng
from ._validation import show
from .lift import CompressedLift
from .lift._n3 import phi_table

__all__ = ["LiftedOracle", "weak_predictor", "WeakPredictor", "reduce", "Reduction"]

class WeakPredictor:
    """The Boolean predictor B~ of the proof of Theorem 2.3 (Eq. (8); docs/theory/adapter.md, section adapter-weak-predictor).

    For a Boolean point x it draws z ~ N(0, I_d) conditioned on thres_q(z) = x; if z lies in the good
    region G (N2(z_1..z_{d-1}) = 0 and N2(z_d) in (rho/2, rho)) it predicts clip(f^(z) / N2(z_d), 0, 1),
    else 1/2. On G, f^Delta(z) = f(x) N2(z_d), so an accurate Gaussian hypothesis f^ gives an
    advantage over the constant 1/2 proportional to P[G].
    """

    def __init__(self, hypothesis, lift: CompressedLift, seed=None):
        if not callable(hypothesis):
            raise InvalidParameterError(f"The 'hypothesis' parameter of weak_predictor must be callable. "
                                        f"Got {show(hypothesis)} instead.")
        if not isinstance(lift, CompressedLift):
            raise InvalidParameterError(f"The 'lift' parameter of weak_predictor must be a CompressedLift. "
                                        f"Got {show(lift)} instead.")
        self.hypothesis, self.lift = hypothesis, lift
        self._seed = np.uint64(derived_rng(0 if seed is None else seed, "weak-predictor").integers(0, 2**63))
        self._calls = 0
        i, c = lift.intervals, lift.constants
        self._args = (i.boundaries, i.L, i.l, i.r, i.U, phi_table(c), float(c.kmax), float(c.kappa))

    def _predict_from(self, Z):
        out = np.full(Z.shape[0], 0.5)
        good = self.lift.in_good_region(Z)
        if good.any():
            Zg = Z[good]
            n2d = self.lift.n2(Zg[:, -1])
            out[good] = np.clip(np.asarray(self.hypothesis(Zg), dtype=np.float64) / n2d, 0.0, 1.0)
        return out

    is_weak_predictor = True

    def __call__(self, X) -> np.ndarray:
        """Predictions in [0, 1] for Boolean (or Z_q) points X: B~ is randomised, each call draws fresh z | x.

        Its expected advantage over these draws is :meth:`advantage`; one call is one realisation.
        """
        X = np.asarray(X)
        q = self.lift.q
        codes = (X.astype(np.int64) * q ** np.arange(self.lift.d, dtype=np.int64)).sum(axis=1)
        self._calls += 1
        seed = np.uint64(derived_rng(int(self._seed), "call", self._calls).integers(0, 2**63))
        Z, _ = pick(kadapter.cell_draws, X.size)(np.ascontiguousarray(codes), self.lift.d, q, 1, seed, *self._args)
        return self._predict_from(Z)

    def advantage(self, concept, n: int = 200_000, seed: int = 0) -> dict:
        """E[(1/2 - f)^2] - E[(B~ - f)^2] = P[G] E[(1/2 - f)^2 - (B~ - f)^2 | G] (B~ = 1/2 off G).

        P[G] is exact; the conditional mean is a Monte Carlo estimate on n points drawn from G
        (z_1..z_{d-1} outside the S_k, z_d on the parts of the ramps where N2 lies in (rho/2, rho)),
        reported with its standard error. Uses the concept (grading, not learning).
        """
        Z = self._sample_good(n, np.random.default_rng(seed))
        f = np.asarray(concept(self.lift.thres(Z)), dtype=np.float64)
        gain = (0.5 - f) ** 2 - (self._predict_from(Z) - f) ** 2
        pg = self.lift.good_region_mass()
        return {"p_good": pg, "conditional": float(gain.mean()), "advantage": pg * float(gain.mean()),
                "stderr": pg * float(gain.std() / np.sqrt(n))}

    def _sample_good(self, n, rng):
        from scipy import special

        i, rho = self.lift.intervals, self.lift.rho
        d = self.lift.d
        Z = np.empty((n, d))
        # coordinates 1..d-1: N(0, 1) outside every S_k (inverse CDF on the complement's pieces)
        edges = np.concatenate([[-np.inf], np.column_stack([i.L, i.U]).ravel(), [np.inf]])
        lo_p, hi_p = special.ndtr(edges[0::2]), special.ndtr(edges[1::2])
        w = (hi_p - lo_p) / (hi_p - lo_p).sum()
        piece = rng.choice(len(w), size=(n, d - 1), p=w)
        u = rng.uniform(lo_p[piece], hi_p[piece])
        Z[:, : d - 1] = special.ndtri(u)
        # z_d on the 2(q-1) ramp segments where N2 in (rho/2, rho)
        segs = []
        for L, l, r, U in zip(i.L, i.l, i.r, i.U):
            segs.append((L + rho / 2 * (l - L), L + rho * (l - L)))
            segs.append((U - rho * (U - r), U - rho / 2 * (U - r)))
        a = np.array([s[0] for s in segs])
        b = np.array([s[1] for s in segs])
        mass = special.ndtr(b) - special.ndtr(a)
        k = rng.choice(len(segs), size=n, p=mass / mass.sum())
        Z[:, -1] = special.ndtri(rng.uniform(special.ndtr(a[k]), special.ndtr(b[k])))
        return Z


def weak_predictor(hypothesis, lift, seed=None) -> WeakPredictor:
    """B~ of Eq. (8) for a Gaussian hypothesis f^ (see :class:`WeakPredictor`)."""
    return WeakPredictor(hypothesis, lift, seed)


class Reduction(Learner):
    """The Boolean SQ learner B(A) of Theorem 3.2: run the Gaussian learner A through the adapter.

    ``learn(boolean_oracle)`` wraps the Boolean oracle in a :class:`LiftedOracle`, runs A's ``_learn``
    on it, and returns the weak predictor of A's hypothesis. Every Gaussian query A asks is one
    Boolean query (``details["gaussian_queries"] == details["boolean_queries"]``), counted once in the
    Boolean ledger.
    """

    name = "reduction"
    domains = ("boolean", "zq")
    #: the Boolean images of the inner learner's queries are adapter objects, not importable functions
    isolation_capable = False

    def __init__(self, gaussian_learner, lift, *, seed=None):
        if not hasattr(gaussian_learner, "_learn"):
            raise InvalidParameterError(f"The 'gaussian_learner' parameter of reduce must be a Learner. "
                                        f"Got {show(gaussian_learner)} instead.")
        if not isinstance(lift, CompressedLift):
            raise InvalidParameterError(f"The 'lift' parameter of reduce must be a CompressedLift. Got {show(lift)} instead.")
        self.gaussian_learner, self.lift, self.seed = gaussian_learner, lift, seed

    def _learn(self, oracle):
        from .oracles._handle import OracleHandle

        start = len(oracle.ledger)
        gauss = LiftedOracle(oracle, self.lift)
        self.gaussian_learner.check_oracle(gauss)
        inner = OracleHandle(gauss)
        try:
            hypothesis, details = self.gaussian_learner._learn(inner)
        finally:
            inner.close()
        details = dict(details)
        details.update(gaussian_queries=len(gauss.ledger), boolean_queries=len(oracle.ledger) - start,
                       gaussian_hypothesis=hypothesis, lifted_ledger=gauss.ledger)
        if hypothesis is None:
            return None, details
        return weak_predictor(hypothesis, self.lift, self.seed), details


def reduce(gaussian_learner, lift, *, seed=None) -> Reduction:
    """The Boolean learner B(A) of Theorem 3.2 (see :class:`Reduction`)."""
    return Reduction(gaussian_learner, lift, seed=seed)
