"""Gaussian learners for lifted classes (docs/theory/adapter.md, section adapter-signal-budget)."""

from __future__ import annotations

import numpy as np

from sqsim import InvalidParameterError
from sqsim._random import check_rng
from sqsim.concepts import Parity
from sqsim.lift import CompressedLift, LiftedCharacter

from sqsim._learning import Learner

from ._base import register

__all__ = ["LiftedParityBruteForce"]


@register("lifted-parity-brute-force")
class LiftedParityBruteForce(Learner):
    """Brute force over lifted parities with phi_S(z, y) = 1[y != 0] (1 - 2 chi_S(thres_q z))
    (docs/theory/adapter.md, section adapter-lifted-brute-force).

    Its truth is -P[f^Delta != 0] for S = S* and 0 otherwise (q = 2), so an answer below
    -P[f^Delta != 0] / 2 identifies S* whenever tau < P[f^Delta != 0] / 2; through the adapter its count
    follows the Boolean count at tolerance tau / 2. Each query is the structured
    ``LiftedCharacter(d, S, (0, 1))``, whose Boolean image is exact (docs/theory/lifted-images.md);
    P[f^Delta != 0] comes from the lift's certified law of V.

    Parameters
    ----------
    lift : CompressedLift (q = 2)
    seed : int, numpy Generator or None
        Fixes the order of the supports.
    """

    domains = ("gaussian",)

    def __init__(self, *, lift, seed=None):
        if not isinstance(lift, CompressedLift) or lift.q != 2:
            raise InvalidParameterError(f"The 'lift' parameter of LiftedParityBruteForce must be a CompressedLift "
                                        f"with q = 2. Got {lift!r} instead.")
        check_rng(seed, "LiftedParityBruteForce")
        self.lift, self.seed = lift, seed

    def _learn(self, oracle):
        lift, d = self.lift, self.lift.d
        signal = lift.nonzero_mass()
        tau = getattr(oracle, "tolerance", None)
        if tau is None or not tau < signal / 2:
            raise InvalidParameterError(
                f"The 'oracle' parameter of LiftedParityBruteForce.learn must have tolerance < P[f^Delta != 0] / 2 "
                f"= {signal / 2:.4g} (docs/theory/adapter.md, section adapter-signal-budget). Got {tau!r} instead."
            )
        order = check_rng(self.seed, "LiftedParityBruteForce").permutation(np.arange(1, 2**d))
        for asked, code in enumerate(order, start=1):
            S = [j for j in range(d) if (int(code) >> j) & 1]
            # 1[y != 0] (1 - 2 chi_S(thres_2 z)): structured, so the adapter's image is exact
            q = LiftedCharacter(d, S, (0.0, 1.0), name=f"lifted-chi{{{','.join(map(str, S))}}}")
            if oracle.ask(q) < -signal / 2:
                return lift.lift(Parity(d, S)), {"rank": asked, "support": S, "signal": signal}
        return None, {"rank": None, "signal": signal}
