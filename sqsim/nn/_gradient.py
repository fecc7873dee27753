"""Population gradients of any JAX model by autodiff: exact on cubes, clipped Monte Carlo on Gaussians.

:class:`JaxModel` flattens a model's parameter pytree into one vector (``jax.flatten_util.ravel_pytree``)
so that :class:`~sqsim.ApproxGradientOracle` can answer gradient queries about it. The oracle's truth
comes from one of two sources (docs/theory/gradients.md, sections deep-model-bound and
monte-carlo-bound):

- :class:`EnumeratedGradients`: {0,1}^d with d <= 20, every point enumerated, exact up to float rounding;
- :class:`MonteCarloGradients`: N(0, I_d), per-example gradients clipped to Euclidean norm at most
  ``clip``, averaged over n fresh points with the error bound clip (1 + sqrt(2 ln(1/delta))) / sqrt(n).
"""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .._domains import BooleanCube, Gaussian
from .._errors import InvalidParameterError
from .._validation import Interval, NoneOk, Options, check_param, show
from ..gradients import Frozen
from ._jax import require_jax

__all__ = ["JaxModel", "EnumeratedGradients", "MonteCarloGradients", "GradientTruth", "mc_gradient_error",
           "mc_gradient_samples", "MAX_ENUMERATED_D", "GRADIENT_LOSSES"]

#: cubes up to this dimension are enumerated (2^20 points, chunked)
MAX_ENUMERATED_D = 20
#: per-example losses of the oracle: "square" is Shamir's (f - y)^2 (twice sqsim.nn.square_loss)
GRADIENT_LOSSES = ("square", "hinge", "logistic")
#: rows per compiled chunk (the last chunk is padded with zero weights: one compilation per model)
CHUNK = 4096
#: distinct label values up to which the null gradient on a cube is computed exactly
MAX_NULL_LABELS = 64


def mc_gradient_error(n: int, clip: float, delta: float) -> float:
    """e(n) with P[|mean of n clipped gradients - their expectation| > e] <= delta (Euclidean norm).

    Vectors of norm <= C: E|mean - mu| <= C / sqrt(n) (Jensen), and McDiarmid with differences 2 C / n
    adds C sqrt(2 ln(1/delta) / n) (docs/theory/gradients.md, section monte-carlo-bound).
    """
    return clip * (1.0 + math.sqrt(2.0 * math.log(1.0 / delta))) / math.sqrt(n)


def mc_gradient_samples(error: float, clip: float, delta: float) -> int:
    """The smallest n with :func:`mc_gradient_error` (n, clip, delta) <= error."""
    return max(1, math.ceil((clip * (1.0 + math.sqrt(2.0 * math.log(1.0 / delta))) / error) ** 2))


class JaxModel(Frozen):
    """A model f_v with parameters flattened into one float vector v, differentiated by JAX.

    Parameters
    ----------
    model : object with ``init(key)`` and ``apply(params, X)`` (e.g. :class:`sqsim.nn.MLP`), or a
        closed-form model (:class:`~sqsim.OneHiddenReLU`, :class:`~sqsim.CosineModel`,
        :class:`~sqsim.LinearModel`), whose ``apply`` is run under ``jax.numpy``.
    dtype : {"float64", "float32"}, default "float64"
        float64 runs every JAX call inside ``jax.enable_x64(True)`` (scoped: nothing global changes).
        The dtype of the model's own calls (``__call__``, ``expectation``); an
        :class:`~sqsim.ApproxGradientOracle` computes its truths in float64 whatever the dtype
        (docs/theory/gradients.md, section deep-model-bound).
    inputs : {"raw", "pm1"}, default "raw"
        "pm1" feeds the network 1 - 2x (cube points {0,1}^d as +-1).

    Notes
    -----
    Read-only after construction. Per-example gradient functions of sqsim's own models (MLP and the
    closed-form models) are compiled once per description and shared, always from a model built afresh
    from that description, never from the caller's object.
    """

    def __init__(self, model, *, dtype="float64", inputs="raw"):
        from ..gradients import _Model

        c = "JaxModel"
        check_param("dtype", dtype, Options(("float64", "float32")), c)
        check_param("inputs", inputs, Options(("raw", "pm1")), c)
        jax = require_jax(c)
        from jax.flatten_util import ravel_pytree

        self.model, self.dtype, self.inputs = model, dtype, inputs
        self._closed = isinstance(model, _Model)
        with self.precision():
            if self._closed:
                self.d = model.d
                jnp = jax.numpy
                template = jnp.zeros(model.n_params)
                apply = type(model).apply
                self._apply = lambda params, X: apply(model, params, X, jnp)
            elif callable(getattr(model, "init", None)) and callable(getattr(model, "apply", None)):
                self.d = int(getattr(model, "in_dim", getattr(model, "d", 0)))
                if self.d < 1:
                    raise InvalidParameterError(f"The 'model' parameter of {c} must declare its input dimension "
                                                f"(in_dim or d). Got {show(model)} instead.")
                template = model.init(jax.random.PRNGKey(0))
                self._apply = model.apply
            else:
                raise InvalidParameterError(f"The 'model' parameter of {c} must have init(key) and apply(params, X), "
                                            f"or be a closed-form gradient model. Got {show(model)} instead.")
            flat, self._unravel = ravel_pytree(template)
        self.n_params = int(flat.shape[0])
        self._description = _inner_description(model)
        self._compiled: dict = {}

    def _truth_copy(self) -> "JaxModel":
        """The oracle's private float64 copy: a fresh inner model from its description (a deep copy for
        models sqsim cannot rebuild), so nothing done to ``self`` or its inner model reaches the truths."""
        inner = _build_inner(self._description) if self._description is not None else _private(self.model)
        return JaxModel(inner, dtype="float64", inputs=self.inputs)

    # ------------------------------------------------------------------ plumbing
    def precision(self):
        """The context every JAX call of this model runs in (x64 for float64, scoped)."""
        return require_jax("JaxModel").enable_x64(self.dtype == "float64")

    def _encode(self, X, xp):
        X = xp.asarray(X, dtype=self.dtype)
        return 1.0 - 2.0 * X if self.inputs == "pm1" else X

    def _params(self, v):
        return v if self._closed else self._unravel(v)

    def check_params(self, v, who: str) -> np.ndarray:
        from ..gradients import check_vector

        return check_vector(v, self.n_params, who, self)

    def init(self, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        """A starting point: the closed-form model's own ``init``, else ``model.init`` on a key drawn from ``rng``."""
        if self._closed:
            return self.model.init(rng, scale)
        jax = require_jax("JaxModel.init")
        from jax.flatten_util import ravel_pytree

        with self.precision():
            params = self.model.init(jax.random.PRNGKey(int(rng.integers(0, 2**31 - 1))))
            return np.asarray(ravel_pytree(params)[0], dtype=np.float64) * float(scale)

    def __call__(self, v, X) -> np.ndarray:
        jnp = require_jax("JaxModel").numpy
        with self.precision():
            p = self._params(jnp.asarray(np.asarray(v, dtype=np.float64), dtype=self.dtype))
            return np.asarray(self._apply(p, self._encode(X, jnp)), dtype=np.float64)

    def hypothesis(self, v):
        from ..gradients import ModelHypothesis

        return ModelHypothesis(self, self.check_params(v, "JaxModel.hypothesis"))

    # ------------------------------------------------------------------ per-example gradients
    def _chunk_fn(self, loss: str):
        """jit of (v, X, y, w, clip) -> (sum_i w_i clip(h_i), sum_i w_i h_i, sum_i w_i l_i, sum_i w_i [clipped],
        max_i |h_i|_inf), h_i the per-example gradient of the loss (shared per description for sqsim's models)."""
        fn = self._compiled.get(loss)
        if fn is None:
            fn = (_shared_chunk(self._description, self.dtype, self.inputs, loss) if self._description is not None
                  else _compile_chunk(self, loss))
            self._compiled[loss] = fn
        return fn

    def expectation(self, v, X, y, weights, loss="square", clip=math.inf) -> dict:
        """Weighted sums over rows: the clipped and raw gradients, the loss, the clipped mass and max |h_i|.

        The weights sum to 1 for an expectation (uniform on an enumerated cube, 1/n for Monte Carlo, or
        quadrature weights); rows are processed in chunks of at most :data:`CHUNK` rows, the last one padded
        with zero weights (chunk sizes are powers of two: few compilations).
        """
        jnp = require_jax("JaxModel").numpy
        fn = type(self)._chunk_fn(self, loss)
        n = X.shape[0]
        size = min(CHUNK, 1 << max(0, (n - 1).bit_length()))
        acc = [np.zeros(self.n_params), np.zeros(self.n_params), 0.0, 0.0, 0.0]
        with self.precision():
            vj = jnp.asarray(np.asarray(v, dtype=np.float64), dtype=self.dtype)
            for s in range(0, n, size):
                m = min(size, n - s)
                Xc = np.zeros((size, X.shape[1]))
                yc, wc = np.zeros(size), np.zeros(size)
                Xc[:m], yc[:m], wc[:m] = X[s:s + m], y[s:s + m], weights[s:s + m]
                out = fn(vj, self._encode(Xc, jnp), jnp.asarray(yc, dtype=self.dtype),
                         jnp.asarray(wc, dtype=self.dtype), float(clip))
                for i in range(4):
                    acc[i] = acc[i] + np.asarray(out[i], dtype=np.float64)
                acc[4] = max(acc[4], float(out[4]))
        return {"clipped": acc[0], "raw": acc[1], "loss": float(acc[2]), "clipped_mass": float(acc[3]),
                "max_coordinate": acc[4]}

    def __repr__(self):
        return f"JaxModel({self.model!r}, dtype={self.dtype!r}, inputs={self.inputs!r}, n_params={self.n_params})"


def _inner_description(model):
    """A hashable description of sqsim's own models (exact types: MLP and the closed-form models), else None."""
    from ..gradients import MODELS
    from ._models import MLP

    if type(model) is MLP:
        return (MLP, model.in_dim, model.widths, model.bias, model.init_scheme, model.out_dim)
    if type(model) in MODELS.values():
        return (type(model), *type(model)._arguments(model))
    return None


def _build_inner(description):
    """A fresh model from :func:`_inner_description`'s tuple, through the validating constructor."""
    from ._models import MLP

    cls, *args = description
    if cls is MLP:
        in_dim, widths, bias, init, out_dim = args
        return MLP(in_dim, widths, bias=bias, init=init, out_dim=out_dim)
    return cls(*args)


def _private(model):
    """A deep copy of a model sqsim cannot rebuild (the object itself if it cannot be copied)."""
    try:
        return copy.deepcopy(model)
    except Exception:  # noqa: BLE001 - an uncopyable user model: its truths use the object itself
        return model


def _compile_chunk(jm: JaxModel, loss: str):
    """The jitted chunk function of ``jm`` (see JaxModel._chunk_fn). Per-example norms are computed without
    overflow (rescaled by max |h_i| when sum h_i^2 overflows), so huge but finite gradients stay finite."""
    jax = require_jax("JaxModel")
    jnp = jax.numpy
    if loss == "square":
        lfn = lambda p, y: (p - y) ** 2  # noqa: E731
    else:
        from ._models import LOSSES

        lfn = LOSSES[loss]
    apply, params = jm._apply, jm._params

    def one(v, x, y):
        return lfn(apply(params(v), x[None, :])[0], y)

    per = jax.vmap(jax.value_and_grad(one), in_axes=(None, 0, 0))

    def chunk(v, X, y, w, clip):
        ell, H = per(v, X, y)
        sq = jnp.sum(H * H, axis=1)
        big = jnp.max(jnp.abs(H), axis=1)
        rescaled = big * jnp.sqrt(jnp.sum((H / jnp.where(big > 0, big, 1.0)[:, None]) ** 2, axis=1))
        norms = jnp.where(jnp.isfinite(sq), jnp.sqrt(sq), rescaled)
        scale = jnp.minimum(1.0, clip / jnp.where(norms > 0, norms, 1.0))
        live = w > 0
        return ((w * scale) @ H, w @ H, w @ ell, w @ (norms > clip).astype(H.dtype),
                jnp.max(jnp.where(live[:, None], jnp.abs(H), 0.0)))

    return jax.jit(chunk)


@functools.lru_cache(maxsize=None)
def _shared_chunk(description, dtype, inputs, loss):
    """The chunk function of a model built afresh from ``description``, shared by equal descriptions (the cache
    lives in the lru wrapper: no dict a caller can write to)."""
    return _compile_chunk(JaxModel(_build_inner(description), dtype=dtype, inputs=inputs), loss)


@dataclass
class GradientTruth:
    """One query point's true gradient (or its estimate), what the strategies and the ledger need."""

    gradient: np.ndarray
    null: Callable[[], np.ndarray]
    truth_error: float = 0.0
    failure_probability: float = 0.0
    loss: float = math.nan
    extra: dict = field(default_factory=dict)


def _labels(target, X) -> np.ndarray:
    y = np.asarray(target(X), dtype=np.float64).reshape(-1)
    if y.shape[0] != X.shape[0] or not np.all(np.isfinite(y)):
        raise InvalidParameterError(f"The 'target' parameter of ApproxGradientOracle must return one finite label "
                                    f"per row. Got shape {y.shape} instead.")
    return y


class EnumeratedGradients:
    """Exact population gradients on an enumerable cube (d <= 20), optionally of per-example clipped gradients.

    Without a clip the recorded ``sq_scale`` is max over the cube and coordinates of |h_i(x)|: each
    coordinate's correlational query h_i / sq_scale lies in [-1, 1] (docs/theory/gradients.md,
    section deep-model-bound).
    """

    def __init__(self, domain, model, target, loss, clip):
        if domain.d > MAX_ENUMERATED_D:
            raise InvalidParameterError(f"The 'domain' parameter of ApproxGradientOracle must be a cube of dimension "
                                        f"at most {MAX_ENUMERATED_D} for exact gradients. Got {domain!r} instead.")
        domain.check_enumerable("exact gradient enumeration")
        self.model, self.loss, self.clip = model, loss, clip
        self._X = domain.enumerate().astype(np.float64)
        self._y = _labels(target, self._X)
        self._w = np.full(self._X.shape[0], 1.0 / self._X.shape[0])

    def _null(self, v) -> np.ndarray:
        values, counts = np.unique(self._y, return_counts=True)
        if values.shape[0] > MAX_NULL_LABELS:
            raise InvalidParameterError(f"The 'target' parameter of ApproxGradientOracle must take at most "
                                        f"{MAX_NULL_LABELS} label values for the null gradient. Got "
                                        f"{values.shape[0]} instead.")
        c = math.inf if self.clip is None else self.clip
        m = self.model
        return sum(p * type(m).expectation(m, v, self._X, np.full_like(self._y, u), self._w, self.loss, c)["clipped"]
                   for u, p in zip(values, counts / counts.sum()))

    def truth(self, v, rng) -> GradientTruth:
        c = math.inf if self.clip is None else self.clip
        s = type(self.model).expectation(self.model, v, self._X, self._y, self._w, self.loss, c)
        extra = {"source": "enumerated", "points": int(self._X.shape[0]),
                 "sq_scale": float(self.clip) if self.clip is not None else s["max_coordinate"]}
        if self.clip is not None:
            extra.update(clip=float(self.clip), clipped_mass=s["clipped_mass"],
                         clip_shift=float(np.linalg.norm(s["raw"] - s["clipped"])))
        return GradientTruth(s["clipped"], lambda: self._null(v), 0.0, 0.0, s["loss"], extra)


class MonteCarloGradients:
    """Population gradients on N(0, I_d) of per-example gradients clipped to norm ``clip``, estimated on fresh points.

    The n points of a query are drawn from the oracle's seed and the query point, so the answer is fixed
    per point; the estimate is within :func:`mc_gradient_error` of the clipped population gradient with
    probability 1 - delta (docs/theory/gradients.md, section monte-carlo-bound).
    """

    def __init__(self, domain, model, target, loss, clip, delta, samples):
        self.domain, self.model, self.target, self.loss = domain, model, target, loss
        self.clip, self.delta, self.samples = float(clip), float(delta), int(samples)
        self.error = mc_gradient_error(self.samples, self.clip, self.delta)

    def truth(self, v, rng) -> GradientTruth:
        n, d = self.samples, self.domain.d
        X = rng.standard_normal((n, d))
        y = _labels(self.target, X)
        w = np.full(n, 1.0 / n)
        m = self.model
        s = type(m).expectation(m, v, X, y, w, self.loss, self.clip)

        def null():
            y2 = _labels(self.target, rng.standard_normal((n, d)))  # labels independent of X
            return type(m).expectation(m, v, X, y2, w, self.loss, self.clip)["clipped"]

        extra = {"source": "monte-carlo", "truth_samples": n, "clip": self.clip, "sq_scale": self.clip,
                 "clipped_mass": s["clipped_mass"], "clip_shift": float(np.linalg.norm(s["raw"] - s["clipped"]))}
        return GradientTruth(s["clipped"], null, self.error, self.delta, s["loss"], extra)


def gradient_source(domain, model, target, *, epsilon, loss, clip, delta, truth_samples, caller):
    """The truth source of an autodiff gradient oracle on ``domain`` (validates clip, delta and truth_samples)."""
    check_param("loss", loss, Options(GRADIENT_LOSSES), caller)
    check_param("clip", clip, [Interval(float, 0, None, closed="neither"), NoneOk], caller)
    check_param("delta", delta, Interval(float, 0, 1, closed="neither"), caller)
    check_param("truth_samples", truth_samples, [Interval(int, 1, None), NoneOk], caller)
    if model.d != domain.d:
        raise InvalidParameterError(f"The 'model' parameter of {caller} must act on d={domain.d}. Got {model!r} instead.")
    if isinstance(domain, BooleanCube):
        return EnumeratedGradients(domain, model, target, loss, clip)
    if not isinstance(domain, Gaussian):  # pragma: no cover - the caller checks the domain type
        raise InvalidParameterError(f"The 'domain' parameter of {caller} must be a BooleanCube or a Gaussian. "
                                    f"Got {domain!r} instead.")
    if clip is None:
        raise InvalidParameterError(f"The 'clip' parameter of {caller} must be given for a JaxModel on a Gaussian "
                                    f"domain (squared-loss gradients are unbounded there; the oracle answers the "
                                    f"gradient of per-example gradients clipped to this norm). Got None instead.")
    n = truth_samples if truth_samples is not None else mc_gradient_samples(epsilon / 4, clip, delta)
    src = MonteCarloGradients(domain, model, target, loss, clip, delta, n)
    if not src.error < epsilon:
        raise InvalidParameterError(f"The 'truth_samples' parameter of {caller} must make the Monte Carlo error bound "
                                    f"({src.error:.4g}) smaller than epsilon = {epsilon}. Got {truth_samples} instead.")
    return src


def is_jax_model(model) -> bool:
    return isinstance(model, JaxModel)

