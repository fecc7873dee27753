"""Gaussian learners: gradient descent, Hermite moments, the Vempala-Wilmes cheat, and the reduction B(A)."""

from __future__ import annotations

import inspect
import functools
import math
from itertools import combinations_with_replacement

import numpy as np
from scipy.special import eval_hermitenorm

from sqsim import InvalidParameterError, Query
from sqsim._learning import Learner
from sqsim._random import check_rng
from sqsim._validation import Interval, Options, check_param, show
from sqsim.gradients import MODELS, ModelHypothesis

from ._base import get_class, make, register
from .boolean import _require_tolerance

__all__ = ["DIVERGED", "NoisyGD", "HermitePolynomial", "HermiteMoments", "hermite_phi", "VWCheat", "RegisteredReduction"]


#: parameter norm at which gradient descent is declared diverged (closed forms overflow far beyond it)
DIVERGED = 1e8


@register("noisy-gd")
class NoisyGD(Learner):
    """Gradient descent on a parametric model through an approximate-gradient oracle (Sha18 Def. 8, 9).

    v_{t+1} = v_t - lr (g_t + noise_t), g_t the oracle's epsilon-approximate population gradient
    of the squared loss (every gradient one counted query of kind "gradient"), noise_t optional
    Gaussian perturbation of standard deviation ``noise`` per coordinate (seeded). Stops after
    ``steps`` gradients or when |g_t| <= ``tol``. Against periodic targets psi(<w*, x>) with large
    |w*| = 2r the population gradient hardly depends on w* (Theorem 7), so the loss stays at its
    plateau; against a planted ReLU neuron it converges.

    Parameters
    ----------
    model : {"relu", "cosine", "linear"}, default "relu"
        One-hidden-layer ReLU network, the cos single-index model of Sha18 Eq. (2), or linear.
    width : int, default 4
        Hidden units of the "relu" model.
    steps : int, default 500
    lr : float, default 0.2
    init_scale : float, default 1.0
    noise : float, default 0.0
    tol : float, default 0.0
    seed : int, numpy Generator or None
        Initialisation and noise.
    """

    oracle_kinds = ("gradient",)
    domains = ("gaussian",)

    def __init__(self, *, model="relu", width=4, steps=500, lr=0.2, init_scale=1.0, noise=0.0, tol=0.0, seed=None):
        c = "NoisyGD"
        check_param("model", model, Options(tuple(MODELS)), c)
        check_param("width", width, Interval(int, 1, None), c)
        check_param("steps", steps, Interval(int, 1, None), c)
        check_param("lr", lr, Interval(float, 0, None, closed="neither"), c)
        check_param("init_scale", init_scale, Interval(float, 0, None, closed="neither"), c)
        check_param("noise", noise, Interval(float, 0, None), c)
        check_param("tol", tol, Interval(float, 0, None), c)
        check_rng(seed, c)
        self.model, self.width, self.steps, self.lr = model, int(width), int(steps), float(lr)
        self.init_scale, self.noise, self.tol, self.seed = float(init_scale), float(noise), float(tol), seed

    def _learn(self, oracle):
        model = oracle.model
        expected = MODELS[self.model]
        if not isinstance(model, expected) or (self.model == "relu" and model.width != self.width):
            raise InvalidParameterError(
                f"The 'oracle' parameter of NoisyGD.learn must answer gradients of the learner's model "
                f"({self.model!r}{', width ' + str(self.width) if self.model == 'relu' else ''}). "
                f"Got {model!r} instead."
            )
        rng = check_rng(self.seed, "NoisyGD")
        v = model.init(rng, self.init_scale)
        norms = []
        for _ in range(self.steps):
            g = oracle.gradient(v)
            norms.append(float(np.linalg.norm(g)))
            if norms[-1] <= self.tol:
                break
            if self.noise:
                g = g + self.noise * rng.standard_normal(g.shape[0])
            step = v - self.lr * g
            if not np.all(np.isfinite(step)) or np.linalg.norm(step) > DIVERGED:  # too large a step: stop, say so
                return ModelHypothesis(model, v), {"diverged": True, "steps": len(norms),
                                                   "final_gradient_norm": norms[-1],
                                                   "sq_equivalent": len(norms) * model.n_params}
            v = step
        return ModelHypothesis(model, v), {"diverged": False, "gradient_norms": norms[:: max(1, len(norms) // 50)],
                                           "final_gradient_norm": norms[-1], "steps": len(norms),
                                           "sq_equivalent": len(norms) * model.n_params}


def _multi_indices(d: int, k: int):
    """All alpha in N^d with |alpha| <= k, as tuples of coordinates with repetition (C(d + k, k) of them)."""
    return [c for deg in range(k + 1) for c in combinations_with_replacement(range(d), deg)]


def _hermite_feature(Z: np.ndarray, alpha: tuple) -> np.ndarray:
    """h_alpha(z) = prod_j He_{a_j}(z_j) / sqrt(a_j!), orthonormal under N(0, I_d)."""
    out = np.ones(Z.shape[0])
    for j in set(alpha):
        a = alpha.count(j)
        out *= eval_hermitenorm(a, Z[:, j]) / math.sqrt(math.factorial(a))
    return out


class HermitePolynomial:
    """p(z) = scale * sum_alpha c_alpha h_alpha(z) (orthonormal Hermite basis)."""

    def __init__(self, alphas, coefficients, scale=1.0):
        self.alphas, self.coefficients, self.scale = list(alphas), np.asarray(coefficients, dtype=np.float64), scale

    def __call__(self, Z):
        Z = np.asarray(Z, dtype=np.float64)
        out = np.zeros(Z.shape[0])
        for a, c in zip(self.alphas, self.coefficients):
            if c:
                out += c * _hermite_feature(Z, a)
        return self.scale * out

    def __repr__(self):
        return f"HermitePolynomial(terms={int(np.count_nonzero(self.coefficients))}, scale={self.scale})"


@register("hermite-moments")
class HermiteMoments(Learner):
    """Correlational estimates of the label's Hermite coefficients up to degree k (C(d + k, k) queries).

    Query alpha is phi_alpha(z, y) = clip(y / s, -1, 1) clip(h_alpha(z), -c, c) / c with s the label
    scale and c the clip level (both recorded in ``details``): the answer times c s estimates
    E[y h_alpha(z)] within c s tau plus the truncation bias. Coefficients below that noise floor
    are dropped; the hypothesis is the polynomial of the rest. It learns low-degree targets and
    fails on lifted ones, whose low-degree Hermite coefficients all vanish to within tau.

    Parameters
    ----------
    k : int, default 2
    clip : float, default 4.0
        The clip level c of the features.
    label_scale : float, default 1.0
        s: labels are divided by s and clipped into [-1, 1].
    """

    domains = ("gaussian",)

    def __init__(self, *, k=2, clip=4.0, label_scale=1.0):
        check_param("k", k, Interval(int, 0, None), "HermiteMoments")
        check_param("clip", clip, Interval(float, 0, None, closed="neither"), "HermiteMoments")
        check_param("label_scale", label_scale, Interval(float, 0, None, closed="neither"), "HermiteMoments")
        self.k, self.clip, self.label_scale = int(k), float(clip), float(label_scale)

    def _learn(self, oracle):
        d = oracle.domain.d
        tau = float(oracle.tolerance)
        c, s = self.clip, self.label_scale
        alphas = _multi_indices(d, self.k)
        queries = []
        for a in alphas:
            phi = functools.partial(hermite_phi, alpha=np.asarray(a, dtype=np.int64), clip=c, label_scale=s)
            queries.append(Query(phi, name=f"hermite{list(a)}", kind="csq"))
        answers = np.array([oracle.ask(q) for q in queries])
        coef = answers * c
        floor = c * tau
        coef = np.where(np.abs(coef) > floor, coef, 0.0)
        return HermitePolynomial(alphas, coef, s), {"k": self.k, "queries_expected": math.comb(d + self.k, self.k),
                                                    "clip_level": c, "label_scale": s, "noise_floor": floor * s,
                                                    "nonzero": int(np.count_nonzero(coef))}


def hermite_phi(Z, y, alpha, clip, label_scale):
    """clip(y / s, -1, 1) clip(He_alpha(z), -c, c) / c: hermite-moments' query (module level: importable)."""
    alpha = tuple(int(v) for v in np.asarray(alpha).reshape(-1))
    return (np.clip(np.asarray(y, dtype=np.float64) / label_scale, -1, 1)
            * np.clip(_hermite_feature(np.asarray(Z, dtype=np.float64), alpha), -clip, clip) / clip)


@register("vw-cheat")
class VWCheat(Learner):
    """Binary search over a known finite class with label-equality queries (Vempala-Wilmes 2019, Prop. 4.1).

    phi_A(x, y) = 2 * 1[exists i in A : |y - f_i(x)| <= 1e-9 (1 + |y|)] - 1 has E = +1 if the target
    is in A and -1 if not, when members disagree almost surely; ceil(log2 N) queries with tolerance
    < 1 find the target (docs/theory/sq-model.md, section sq-vw-cheat). It fails when members agree on a set of positive mass
    (lifted classes are 0 on most of R^d), because then E[phi_A] is near +1 for every A holding a member.

    Parameters
    ----------
    family : sequence of callables, or an object with ``len()`` and ``member(i)``
        The known class C = {f_1, ..., f_N}.
    """

    domains = ("boolean", "zq", "gaussian")
    #: its queries hold the class members (arbitrary callables), which cannot cross a process boundary
    isolation_capable = False

    def __init__(self, *, family):
        if hasattr(family, "member") and hasattr(family, "__len__"):
            members = [family.member(i) for i in range(len(family))]
        elif isinstance(family, (list, tuple)) and all(callable(f) for f in family):
            members = list(family)
        else:
            raise InvalidParameterError(f"The 'family' parameter of VWCheat must be a sequence of callables or a "
                                        f"finite family with member(i). Got {show(family)} instead.")
        if not members:
            raise InvalidParameterError("The 'family' parameter of VWCheat must have at least one member. Got an "
                                        "empty family instead.")
        self.family, self._members = family, members

    def _learn(self, oracle):
        _require_tolerance(oracle, 1.0, "VWCheat")
        lo, hi = 0, len(self._members)
        answers = []
        while hi - lo > 1:
            mid = (lo + hi) // 2
            A = self._members[lo:mid]

            def phi(X, y, A=A):
                y = np.asarray(y, dtype=np.float64)
                hit = np.zeros(y.shape[0], dtype=bool)
                for f in A:
                    hit |= np.abs(y - np.asarray(f(X), dtype=np.float64)) <= 1e-9 * (1 + np.abs(y))
                return 2.0 * hit - 1.0

            a = oracle.ask(Query(phi, name=f"vw[{lo}:{mid}]"))
            answers.append(a)
            if a > 0:
                hi = mid
            else:
                lo = mid
        return self._members[lo], {"index": lo, "answers": answers, "class_size": len(self._members)}


@register("reduction")
class RegisteredReduction(Learner):
    """The Boolean learner B(A) of Theorem 3.2 (``sqsim.adapter.reduce``), by name.

    Parameters
    ----------
    learner : str or Learner
        The Gaussian learner A (a registry name is made with ``learner_params``).
    lift : CompressedLift
    learner_params : dict, optional
    seed : int, numpy Generator or None
        The weak predictor's draws.
    """

    #: the Boolean images of the inner learner's queries are adapter objects, not importable functions
    isolation_capable = False

    domains = ("boolean", "zq")

    def __init__(self, *, learner, lift, learner_params=None, seed=None):
        from sqsim.adapter import reduce

        if learner_params is not None and not isinstance(learner_params, dict):
            raise InvalidParameterError(f"The 'learner_params' parameter of reduction must be a dict or None. "
                                        f"Got {show(learner_params)} instead.")
        params = dict(learner_params or {})
        if isinstance(learner, str):
            # a lifted Gaussian learner searches the class of this lift unless told otherwise
            if "lift" not in params and "lift" in inspect.signature(get_class(learner).__init__).parameters:
                params["lift"] = lift
            A = make(learner, **params)
        else:
            A = learner
        self._inner = reduce(A, lift, seed=seed)
        self.learner, self.lift, self.seed = learner, lift, seed

    def _learn(self, oracle):
        return self._inner._learn(oracle)
