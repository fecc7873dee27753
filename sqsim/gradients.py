"""Approximate gradients of the squared loss (Shamir 2018, Definition 8; docs/theory/gradients.md).

A gradient method never sees examples: at a parameter vector v it receives any vector within
epsilon (Euclidean norm) of the population gradient grad F(v), F(v) = E_{x ~ N(0, I_d)}[(f_v(x) -
y(x))^2] (docs/theory/gradients.md, section approximate-gradient-oracle). The models here have
closed-form population gradients (docs/theory/gradients.md, section closed-forms); they are the
references the autodiff oracle of :mod:`sqsim.nn` is tested against:

- :class:`OneHiddenReLU` against one-hidden-layer ReLU targets without biases: arc-cosine kernels
  K(u, v) = E[relu(u.x) relu(v.x)] = |u||v| (sin t + (pi - t) cos t) / (2 pi) (Cho and Saul 2009)
  and grad_u K(u, v) = ((pi - t) v + |v| sin t u / |u|) / (2 pi), t the angle between u and v;
- :class:`CosineModel` f_v(x) = cos(2 pi <v, x>) against psi = cos periodic neurons (Sha18 Eq. 2);
- :class:`LinearModel` f_v(x) = <v, x> against both kinds of target.

Other (model, target) pairs are refused with a clear error rather than answered without a bound;
any other network goes through :class:`sqsim.nn.JaxModel` (autodiff, exact on cubes, clipped Monte
Carlo on Gaussians: docs/theory/gradients.md, sections deep-model-bound and monte-carlo-bound).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import stats

from ._errors import InvalidParameterError, SealError
from ._export import export
from ._random import check_rng
from ._validation import Interval, check_param, show

TWO_PI = 2.0 * math.pi
_SQRT_2PI = math.sqrt(2.0 * math.pi)


# ---------------------------------------------------------------------------- targets
def _relu_target(target):
    """(U, b) for a one-hidden-layer bias-free ReLU network y = sum_k b_k relu(<u_k, x>), else None."""
    from .concepts import ReLUNetwork

    if not isinstance(target, ReLUNetwork) or target.hidden_layers != 1 or target.out_dim != 1:
        return None
    W1, W2 = target.weights
    b1, b2 = target.biases
    if np.any(np.asarray(b1) != 0) or np.any(np.asarray(b2) != 0):
        return None
    return np.asarray(W1, dtype=np.float64), np.asarray(W2, dtype=np.float64)[:, 0]


def _cos_target(target):
    from .concepts import PeriodicNeuron

    if isinstance(target, PeriodicNeuron) and target.psi == "cosine":
        return np.asarray(target.w_star, dtype=np.float64)
    return None


def _unsupported(model, target):
    return InvalidParameterError(
        f"The 'target' parameter of ApproxGradientOracle must be a target with a closed-form gradient for "
        f"{model!r} ({model.targets}). Got {show(target)} instead."
    )


def arccos_kernel(u: np.ndarray, v: np.ndarray) -> float:
    """E[relu(<u, x>) relu(<v, x>)] for x ~ N(0, I_d) (first-order arc-cosine kernel)."""
    nu, nv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
    if nu == 0.0 or nv == 0.0:
        return 0.0
    c = min(1.0, max(-1.0, float(u @ v) / (nu * nv)))
    t = math.acos(c)
    return nu * nv * (math.sqrt(max(0.0, 1.0 - c * c)) + (math.pi - t) * c) / TWO_PI


def arccos_kernel_grad(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """grad_u E[relu(<u, x>) relu(<v, x>)] = E[relu(<v, x>) 1[<u, x> > 0] x] (0 at u = 0)."""
    nu, nv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
    if nu == 0.0 or nv == 0.0:
        return np.zeros_like(u)
    c = min(1.0, max(-1.0, float(u @ v) / (nu * nv)))
    t = math.acos(c)
    return ((math.pi - t) * v + nv * math.sqrt(max(0.0, 1.0 - c * c)) * u / nu) / TWO_PI


def arccos_kernel_matrix(A, B=None, xp=np):
    """K(a_i, b_j) for the rows of A (m, d) and B (k, d), in the array namespace ``xp`` (numpy or jax.numpy).

    ``B=None`` is the self-kernel K(a_i, a_j), whose diagonal |a_i|^2 / 2 is written out so that
    autodiff never differentiates arccos at cos t = 1 (rows must be nonzero).
    """
    own = B is None
    B = A if own else B
    na = xp.sqrt(xp.sum(A * A, axis=1))
    nb = xp.sqrt(xp.sum(B * B, axis=1))
    outer = na[:, None] * nb[None, :]
    c = xp.clip((A @ B.T) / outer, -1.0, 1.0)
    if own:
        eye = xp.eye(A.shape[0], dtype=bool)
        c = xp.where(eye, 0.0, c)
    K = outer * (xp.sqrt(1.0 - c * c) + (math.pi - xp.arccos(c)) * c) / TWO_PI
    return xp.where(eye, outer / 2.0, K) if own else K


def check_vector(v, n: int, who: str, what) -> np.ndarray:
    """v as a finite float64 vector of length n, or InvalidParameterError naming ``who`` and the model."""
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    if v.shape != (n,) or not np.all(np.isfinite(v)):
        raise InvalidParameterError(
            f"The 'v' parameter of {who} must be a finite vector of length {n} ({what!r}). "
            f"Got shape {v.shape} instead."
        )
    return v


# ---------------------------------------------------------------------------- models
class Frozen:
    """Mixin: attributes are read-only once the outermost ``__init__`` returns (copying and pickling stay allowed).

    A gradient model reaches learners (``handle.model``); frozen, a learner cannot rebind its methods or
    state through attribute writes. The oracle's truths do not depend on it anyway: they come from a
    private copy (:meth:`_rebuilt`) built at the oracle's construction (docs/theory/gradients.md, section
    approximate-gradient-oracle).
    """

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        @functools.wraps(init)
        def sealed_init(self, *args, **kwargs):
            init(self, *args, **kwargs)
            if type(self).__init__ is sealed_init:  # the outermost __init__: seal
                object.__setattr__(self, "_frozen_", True)

        cls.__init__ = sealed_init

    def __setattr__(self, name, value):
        if self.__dict__.get("_frozen_", False):
            from .oracles._violations import violation

            raise violation(SealError, f"{type(self).__name__}.{name} is read-only: a gradient model is fixed at "
                                       f"construction.")
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        from .oracles._violations import violation

        raise violation(SealError, f"{type(self).__name__}.{name} cannot be deleted: a gradient model is fixed at "
                                   f"construction.")


class _Model(Frozen):
    """A parametric model f_v with closed-form population squared loss and gradient."""

    targets = ""

    def __init__(self, d):
        check_param("d", d, Interval(int, 1, None), type(self).__name__)
        self.d = int(d)
        self.n_params = self.d  # single-index models: one weight per coordinate

    def _arguments(self) -> tuple:
        """The constructor arguments that describe this model completely."""
        return (self.d,)

    def _rebuilt(self):
        """A fresh model from this one's description, through the validating constructor (the oracle's
        private truth copy: nothing a holder of ``self`` did to ``self`` reaches it)."""
        return type(self)(*type(self)._arguments(self))

    def init(self, rng, scale=1.0):
        """A random starting point: N(0, scale^2 / d) per coordinate."""
        return rng.standard_normal(self.d) * scale / math.sqrt(self.d)

    def check_params(self, v, who: str) -> np.ndarray:
        return check_vector(v, self.n_params, who, self)

    def __call__(self, v, X):
        return self.apply(np.asarray(v, dtype=np.float64), np.asarray(X, dtype=np.float64))

    def apply(self, v, X, xp=np):  # pragma: no cover - abstract
        """f_v on the rows of X in the array namespace ``xp`` (numpy, or jax.numpy for autodiff)."""
        raise NotImplementedError

    def loss_formula(self, v, target, xp=np):  # pragma: no cover - abstract
        """The closed-form population loss F(v) as an ``xp`` expression (differentiable under jax.numpy)."""
        raise NotImplementedError

    def hypothesis(self, v) -> "ModelHypothesis":
        return ModelHypothesis(self, self.check_params(v, f"{type(self).__name__}.hypothesis"))

    def supports(self, target) -> bool:
        try:
            self._parts(np.zeros(self.n_params) + 0.1, target)
            return True
        except InvalidParameterError:
            return False


@export
class OneHiddenReLU(_Model):
    """f_v(x) = sum_i a_i relu(<w_i, x>), v = (a_1..a_m, w_1..w_m) (the noisy-gd network model).

    Closed forms against targets y = sum_k b_k relu(<u_k, x>) (a :class:`ReLUNetwork` with one hidden
    layer and zero biases, e.g. a planted neuron): F(v) = a'K(W,W)a - 2 a'K(W,U)b + b'K(U,U)b.
    """

    targets = "one-hidden-layer ReLUNetwork targets with zero biases"

    def __init__(self, d, width=1):
        super().__init__(d)
        check_param("width", width, Interval(int, 1, None), "OneHiddenReLU")
        self.width = int(width)
        self.n_params = self.width * (self.d + 1)

    def _arguments(self) -> tuple:
        return (self.d, self.width)

    def split(self, v):
        return v[: self.width], v[self.width:].reshape(self.width, self.d)

    def init(self, rng, scale=1.0):
        a = rng.choice([-1.0, 1.0], size=self.width) / math.sqrt(self.width)
        W = rng.standard_normal((self.width, self.d)) * scale / math.sqrt(self.d)
        return np.concatenate([a, W.ravel()])

    def apply(self, v, X, xp=np):
        a, W = self.split(v)
        return xp.maximum(X @ W.T, 0.0) @ a

    def loss_formula(self, v, target, xp=np):
        tr = _relu_target(target)
        if tr is None or tr[0].shape[0] != self.d:
            raise _unsupported(self, target)
        U, b = tr
        a, W = self.split(v)
        KUU = arccos_kernel_matrix(U.T)
        return a @ arccos_kernel_matrix(W, xp=xp) @ a - 2 * a @ arccos_kernel_matrix(W, xp.asarray(U.T), xp) @ b \
            + float(b @ KUU @ b)

    def _parts(self, v, target):
        tr = _relu_target(target)
        if tr is None or tr[0].shape[0] != self.d:
            raise _unsupported(self, target)
        U, b = tr
        a, W = self.split(v)
        m, k = self.width, U.shape[1]
        KWW = np.array([[arccos_kernel(W[i], W[j]) for j in range(m)] for i in range(m)])
        KWU = np.array([[arccos_kernel(W[i], U[:, l]) for l in range(k)] for i in range(m)])
        KUU = np.array([[arccos_kernel(U[:, i], U[:, j]) for j in range(k)] for i in range(k)])
        loss = float(a @ KWW @ a - 2 * a @ KWU @ b + b @ KUU @ b)
        own = np.array([sum(a[j] * arccos_kernel_grad(W[i], W[j]) for j in range(m)) for i in range(m)])
        tgt = np.array([sum(b[l] * arccos_kernel_grad(W[i], U[:, l]) for l in range(k)) for i in range(m)])
        grad = np.concatenate([2 * (KWW @ a - KWU @ b), (2 * a[:, None] * (own - tgt)).ravel()])
        # null gradient grad E[f_v^2] - 2 E[y] E[grad f_v], with E[relu(<u, x>)] = |u| / sqrt(2 pi)
        # and E[1[<w, x> > 0] x] = w / (|w| sqrt(2 pi))
        Ey = float(b @ np.linalg.norm(U, axis=0)) / _SQRT_2PI
        norms = np.linalg.norm(W, axis=1)
        unit = W / np.where(norms > 0, norms, 1.0)[:, None]
        null = np.concatenate([2 * KWW @ a - 2 * Ey * norms / _SQRT_2PI,
                               (2 * a[:, None] * own - 2 * Ey * a[:, None] * unit / _SQRT_2PI).ravel()])
        return loss, grad, null

    def __repr__(self):
        return f"OneHiddenReLU(d={self.d}, width={self.width})"


@export
class CosineModel(_Model):
    """f_v(x) = cos(2 pi <v, x>), the hypothesis class of Sha18 Eq. (2) (docs/theory/gradients.md, section closed-forms).

    Against psi = cos targets psi(<w*, x>) = cos(2 pi <w*, x>):
    F(v) = 1 + exp(-8 pi^2 |v|^2)/2 + exp(-8 pi^2 |w*|^2)/2 - exp(-2 pi^2 |v - w*|^2) - exp(-2 pi^2 |v + w*|^2).
    """

    targets = "PeriodicNeuron(psi='cosine') targets"

    def apply(self, v, X, xp=np):
        return xp.cos(TWO_PI * (X @ v))

    def loss_formula(self, v, target, xp=np):
        w = _cos_target(target)
        if w is None or w.shape[0] != self.d:
            raise _unsupported(self, target)
        p2 = math.pi**2
        return (1 + 0.5 * xp.exp(-8 * p2 * (v @ v)) + 0.5 * math.exp(-8 * p2 * float(w @ w))
                - xp.exp(-2 * p2 * ((v - w) @ (v - w))) - xp.exp(-2 * p2 * ((v + w) @ (v + w))))

    def gradient_energy(self, v) -> float:
        """G_v = E||grad_v f_v(x)||^2 = 4 pi^2 (d - e^{-8 pi^2 |v|^2} (d - 16 pi^2 |v|^2)) / 2 (Theorem 7's G_v)."""
        s = float(np.asarray(v) @ np.asarray(v))
        return 4 * math.pi**2 * (self.d - math.exp(-8 * math.pi**2 * s) * (self.d - 16 * math.pi**2 * s)) / 2

    def _parts(self, v, target):
        w = _cos_target(target)
        if w is None or w.shape[0] != self.d:
            raise _unsupported(self, target)
        p2 = math.pi**2
        ev = math.exp(-8 * p2 * float(v @ v))
        em = math.exp(-2 * p2 * float((v - w) @ (v - w)))
        ep = math.exp(-2 * p2 * float((v + w) @ (v + w)))
        loss = 1 + 0.5 * ev + 0.5 * math.exp(-8 * p2 * float(w @ w)) - em - ep
        grad = -8 * p2 * v * ev + 4 * p2 * (v - w) * em + 4 * p2 * (v + w) * ep
        null = -8 * p2 * v * ev  # E[grad f_v] = 0 (odd in x)
        return loss, grad, null

    def __repr__(self):
        return f"CosineModel(d={self.d})"


@export
class LinearModel(_Model):
    """f_v(x) = <v, x>: grad F = 2 v - 2 E[y x], with E[y x] = sum_k b_k u_k / 2 for ReLU targets and 0
    for cos periodic neurons (docs/theory/gradients.md, section closed-forms)."""

    targets = "PeriodicNeuron(psi='cosine') or one-hidden-layer bias-free ReLUNetwork targets"

    def apply(self, v, X, xp=np):
        return X @ v

    def _moments(self, target):
        """(E[y x], E[y^2]) of a supported target."""
        w = _cos_target(target)
        if w is not None and w.shape[0] == self.d:
            return np.zeros(self.d), 0.5 + 0.5 * math.exp(-8 * math.pi**2 * float(w @ w))
        tr = _relu_target(target)
        if tr is None or tr[0].shape[0] != self.d:
            raise _unsupported(self, target)
        U, b = tr
        return U @ b / 2, float(sum(b[i] * b[j] * arccos_kernel(U[:, i], U[:, j])
                                    for i in range(len(b)) for j in range(len(b))))

    def loss_formula(self, v, target, xp=np):
        Eyx, Ey2 = self._moments(target)
        return v @ v - 2 * v @ xp.asarray(Eyx) + Ey2

    def _parts(self, v, target):
        Eyx, Ey2 = self._moments(target)
        loss = float(v @ v - 2 * v @ Eyx + Ey2)
        return loss, 2 * v - 2 * Eyx, 2 * v  # null: E[x] = 0

    def __repr__(self):
        return f"LinearModel(d={self.d})"


MODELS = {"relu": OneHiddenReLU, "cosine": CosineModel, "linear": LinearModel}


def population_loss(model, v, target) -> float:
    """F(v) = E[(f_v(x) - y(x))^2] in closed form (evaluation only: not a query)."""
    return type(model)._parts(model, model.check_params(v, "population_loss"), target)[0]


def population_gradient(model, v, target) -> np.ndarray:
    """grad F(v) in closed form (evaluation only: not a query)."""
    return type(model)._parts(model, model.check_params(v, "population_gradient"), target)[1]


class ModelHypothesis:
    """x -> f_v(x): a trained model as a hypothesis on batches."""

    def __init__(self, model, v):
        self.model, self.v = model, np.asarray(v, dtype=np.float64)

    def __call__(self, X):
        return self.model(self.v, X)

    def __repr__(self):
        return f"ModelHypothesis({self.model!r}, |v|={np.linalg.norm(self.v):.4g})"


from .oracles._gradient import GRADIENT_STRATEGIES, INNER, ApproxGradientOracle  # noqa: E402, F401  (the oracle moved)


# ---------------------------------------------------------------------------- Theorem 7
def fourier_concentration(r: float, d: int, s: float = 1.0) -> float:
    """epsilon(r) = sqrt(P[chi^2_d >= 16 pi^2 s^2 r^2]) for N(0, s^2 I_d) (docs/theory/gradients.md, section theorem-7)."""
    return math.sqrt(float(stats.chi2.sf(16 * math.pi**2 * s * s * r * r, d)))


def theorem7_bound(d: int, r: float, G: float, *, c2: float = 40.0, c3: float = 1 / 20) -> float:
    """c2 G (exp(-c3 d) + sum_{n >= 1} epsilon(n r)) (Sha18 Theorem 7 with the explicit constants of docs/theory/gradients.md, section theorem-7).

    c2 = 40 because sqsim's gradient carries the squared loss's factor 2 (docs/theory/gradients.md, section theorem-7).
    """
    check_param("d", d, Interval(int, 1, None), "theorem7_bound")
    check_param("r", r, Interval(float, 0, None, closed="neither"), "theorem7_bound")
    check_param("G", G, Interval(float, 0, None), "theorem7_bound")
    # sum_{n >= 1} eps(n r), eps decreasing: vectorised blocks until a term is negligible
    total, start, block = 0.0, 1, 4096
    while True:
        n = np.arange(start, start + block, dtype=np.float64)
        terms = np.sqrt(stats.chi2.sf(16 * math.pi**2 * (n * r) ** 2, d))
        total += float(terms.sum())
        if terms[-1] <= 1e-17 * total:
            break
        start += block
        block = min(2 * block, 2**22)
        if start > 10**9:
            raise InvalidParameterError(f"The 'r' parameter of theorem7_bound must be large enough for the series "
                                        f"sum_n eps(n r) to converge within 1e9 terms. Got {r!r} instead.")
    return c2 * G * (math.exp(-c3 * d) + total)


def gradient_variance(model, v, family, samples=200, seed=None) -> dict:
    """Var_{w*}(grad F_{w*}(v)) over targets drawn from ``family`` (e.g. PeriodicNeurons(d, r)), Theorem 7.

    Returns the Monte Carlo variance E||g - E g||^2 over ``samples`` targets (exact closed-form
    gradients), its mean gradient norm, and, for a :class:`CosineModel` and a PeriodicNeurons family,
    Theorem 7's bound with G_v from the model.
    """
    check_param("samples", samples, Interval(int, 2, None), "gradient_variance")
    rng = check_rng(seed, "gradient_variance")
    v = model.check_params(v, "gradient_variance")
    G = np.array([population_gradient(model, v, family.sample(rng)) for _ in range(int(samples))])
    var = float(((G - G.mean(axis=0)) ** 2).sum(axis=1).mean())
    out = {"variance": var, "mean_gradient_norm": float(np.linalg.norm(G.mean(axis=0))), "samples": int(samples)}
    if isinstance(model, CosineModel) and hasattr(family, "r"):
        out["G_v"] = model.gradient_energy(v)
        out["bound"] = theorem7_bound(model.d, family.r, out["G_v"])
    return out
