"""Explicit fully connected ReLU networks (docs/theory/concepts.md)."""

from __future__ import annotations

import json

import numpy as np

from .._errors import InvalidParameterError
from .._kernels import pick
from .._kernels.network import network_forward
from .._kernels.reference import network_forward_np
from .._random import check_rng
from .._validation import Interval, check_param, show

JSON_FORMAT = "sqsim.ReLUNetwork"
JSON_VERSION = 1


def _as_matrix(W, i, name):
    try:
        A = np.array(W, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"The '{name}' parameter of ReLUNetwork must hold real arrays. Got layer {i}: {show(W)} instead."
        ) from None
    return A


class ReLUNetwork:
    """A feed-forward network x -> W_L^T relu(... relu(W_1^T x + b_1) ...) + b_L.

    Parameters
    ----------
    weights : sequence of arrays
        W_i of shape (n_{i-1}, n_i); n_0 is the input dimension d.
    biases : sequence of arrays
        b_i of shape (n_i,).

    ReLU acts on every hidden layer, the output layer is linear. ``net(X)`` has shape (n,) for
    one output (shape (n, k) for k outputs). Evaluation is one Numba pass
    (:func:`sqsim._kernels.network.network_forward`); :meth:`evaluate_numpy` is its numpy twin.

    Examples
    --------
    >>> import numpy as np
    >>> from sqsim.concepts import ReLUNetwork
    >>> net = ReLUNetwork([np.array([[1.0, -1.0]]), np.array([[1.0], [1.0]])], [np.zeros(2), np.zeros(1)])
    >>> net(np.array([[-2.0], [3.0]])).tolist()   # |x| = relu(x) + relu(-x)
    [2.0, 3.0]
    """

    def __init__(self, weights, biases):
        if isinstance(weights, np.ndarray) or not isinstance(weights, (list, tuple)) or len(weights) == 0:
            raise InvalidParameterError(
                f"The 'weights' parameter of ReLUNetwork must be a non-empty list of 2-D arrays. Got {show(weights)} instead."
            )
        if isinstance(biases, np.ndarray) or not isinstance(biases, (list, tuple)) or len(biases) != len(weights):
            raise InvalidParameterError(
                f"The 'biases' parameter of ReLUNetwork must be a list of {len(weights)} 1-D arrays (one per layer). "
                f"Got {type(biases).__name__} of length {len(biases) if hasattr(biases, '__len__') else '?'} instead."
            )
        Ws, bs = [], []
        prev = None
        for i, (W, b) in enumerate(zip(weights, biases)):
            W = _as_matrix(W, i, "weights")
            b = _as_matrix(b, i, "biases")
            if W.ndim != 2 or 0 in W.shape:
                raise InvalidParameterError(
                    f"The 'weights' parameter of ReLUNetwork must hold non-empty 2-D arrays. Got layer {i} of shape "
                    f"{W.shape} instead."
                )
            if prev is not None and W.shape[0] != prev:
                raise InvalidParameterError(
                    f"The 'weights' parameter of ReLUNetwork must chain: layer {i} takes {prev} inputs. Got shape "
                    f"{W.shape} instead."
                )
            if b.shape != (W.shape[1],):
                raise InvalidParameterError(
                    f"The 'biases' parameter of ReLUNetwork must match the layer widths: layer {i} needs shape "
                    f"({W.shape[1]},). Got shape {b.shape} instead."
                )
            if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
                raise InvalidParameterError(
                    f"The 'weights' parameter of ReLUNetwork must be finite. Got a non-finite value in layer {i} instead."
                )
            W.setflags(write=False)
            b.setflags(write=False)
            Ws.append(W)
            bs.append(b)
            prev = W.shape[1]
        self.weights = tuple(Ws)
        self.biases = tuple(bs)
        self._sizes = np.array([Ws[0].shape[0]] + [W.shape[1] for W in Ws], dtype=np.int64)
        self._params = np.concatenate([np.concatenate([W.reshape(-1), b]) for W, b in zip(Ws, bs)])

    # ---------------------------------------------------------------- structure
    @property
    def d(self) -> int:
        """Input dimension."""
        return int(self._sizes[0])

    @property
    def out_dim(self) -> int:
        return int(self._sizes[-1])

    @property
    def hidden_layers(self) -> int:
        return len(self.weights) - 1

    @property
    def widths(self) -> tuple[int, ...]:
        """Widths of the hidden layers."""
        return tuple(int(s) for s in self._sizes[1:-1])

    @property
    def size(self) -> int:
        """Number of hidden units."""
        return int(sum(self.widths))

    @property
    def max_weight(self) -> float:
        """Largest absolute weight or bias."""
        return float(np.max(np.abs(self._params)))

    # ---------------------------------------------------------------- evaluation
    def _check_X(self, X):
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.d:
            raise InvalidParameterError(
                f"The 'X' parameter of ReLUNetwork must be an array of shape (n, {self.d}). Got shape {X.shape} instead."
            )
        return np.ascontiguousarray(X)

    def __call__(self, X) -> np.ndarray:
        X = self._check_X(X)
        out = pick(network_forward, X.shape[0] * 16)(X, self._sizes, self._params, 64)
        return out[:, 0] if self.out_dim == 1 else out

    def evaluate_numpy(self, X) -> np.ndarray:
        """The numpy reference evaluation (layer by layer matrix products)."""
        out = network_forward_np(self._check_X(X), self.weights, self.biases)
        return out[:, 0] if self.out_dim == 1 else out

    # ---------------------------------------------------------------- composition
    def then(self, other: ReLUNetwork) -> ReLUNetwork:
        """The composition x -> other(self(x)): self's linear output merges into other's first layer."""
        if not isinstance(other, ReLUNetwork) or other.d != self.out_dim:
            raise InvalidParameterError(
                f"The 'other' parameter of ReLUNetwork.then must be a ReLUNetwork with {self.out_dim} inputs. "
                f"Got {show(other)} instead."
            )
        W = self.weights[-1] @ other.weights[0]
        b = self.biases[-1] @ other.weights[0] + other.biases[0]
        return ReLUNetwork([*self.weights[:-1], W, *other.weights[1:]], [*self.biases[:-1], b, *other.biases[1:]])

    def linear_output(self, A, c=None) -> ReLUNetwork:
        """Append a linear map y -> y A + c to the output (merged into the last layer)."""
        A = np.asarray(A, dtype=np.float64)
        if A.ndim == 1:
            A = A[:, None]
        if A.ndim != 2 or A.shape[0] != self.out_dim:
            raise InvalidParameterError(
                f"The 'A' parameter of ReLUNetwork.linear_output must have {self.out_dim} rows. Got shape {A.shape} instead."
            )
        c = np.zeros(A.shape[1]) if c is None else np.asarray(c, dtype=np.float64).reshape(-1)
        return ReLUNetwork([*self.weights[:-1], self.weights[-1] @ A],
                           [*self.biases[:-1], self.biases[-1] @ A + c])

    def deepen(self, hidden_layers: int) -> ReLUNetwork:
        """The same function with ``hidden_layers`` hidden layers, padded by exact identities.

        The output o passes through (relu(o), relu(-o)) and back as relu(o) - relu(-o) = o.
        """
        check_param("hidden_layers", hidden_layers, Interval(int, self.hidden_layers, None), "ReLUNetwork.deepen")
        extra = int(hidden_layers) - self.hidden_layers
        if extra == 0:
            return self
        k = self.out_dim
        eye = np.eye(k)
        Ws, bs = list(self.weights[:-1]), list(self.biases[:-1])
        Ws.append(np.hstack([self.weights[-1], -self.weights[-1]]))
        bs.append(np.concatenate([self.biases[-1], -self.biases[-1]]))
        for _ in range(extra - 1):
            Ws.append(np.block([[eye, -eye], [-eye, eye]]))
            bs.append(np.zeros(2 * k))
        Ws.append(np.vstack([eye, -eye]))
        bs.append(np.zeros(k))
        return ReLUNetwork(Ws, bs)

    @staticmethod
    def parallel(networks) -> ReLUNetwork:
        """Networks on the same input side by side; the outputs are concatenated.

        Shallower networks are deepened (exactly) to the largest depth; the hidden layers are
        block diagonal.
        """
        nets = list(networks)
        if not nets or not all(isinstance(n, ReLUNetwork) for n in nets) or len({n.d for n in nets}) != 1:
            raise InvalidParameterError(
                "The 'networks' parameter of ReLUNetwork.parallel must be ReLUNetworks with one input dimension. "
                f"Got {show(nets)} instead."
            )
        depth = max(n.hidden_layers for n in nets)
        nets = [n.deepen(depth) for n in nets]
        Ws = [np.hstack([n.weights[0] for n in nets])]
        bs = [np.concatenate([n.biases[0] for n in nets])]
        for layer in range(1, depth + 1):
            rows = sum(n.weights[layer].shape[0] for n in nets)
            cols = sum(n.weights[layer].shape[1] for n in nets)
            W = np.zeros((rows, cols))
            r = c = 0
            for n in nets:
                w = n.weights[layer]
                W[r : r + w.shape[0], c : c + w.shape[1]] = w
                r += w.shape[0]
                c += w.shape[1]
            Ws.append(W)
            bs.append(np.concatenate([n.biases[layer] for n in nets]))
        return ReLUNetwork(Ws, bs)

    @staticmethod
    def combine(networks, coefficients, bias=0.0) -> ReLUNetwork:
        """sum_i c_i net_i(x) + bias as one network (parallel, then a linear output)."""
        par = ReLUNetwork.parallel(networks)
        coef = np.asarray(coefficients, dtype=np.float64).reshape(-1)
        if coef.shape != (par.out_dim,):
            raise InvalidParameterError(
                f"The 'coefficients' parameter of ReLUNetwork.combine must have {par.out_dim} entries. "
                f"Got {show(coefficients)} instead."
            )
        return par.linear_output(coef, [bias])

    # ---------------------------------------------------------------- JSON
    def to_json(self) -> str:
        """Exact JSON (floats written with repr, which round-trips every double)."""
        return json.dumps({"format": JSON_FORMAT, "version": JSON_VERSION,
                           "weights": [W.tolist() for W in self.weights],
                           "biases": [b.tolist() for b in self.biases]})

    @classmethod
    def from_json(cls, text: str) -> ReLUNetwork:
        """Rebuild a network written by :meth:`to_json` (no pickle, no eval)."""
        try:
            obj = json.loads(text)
        except (TypeError, json.JSONDecodeError) as exc:
            raise InvalidParameterError(
                f"The 'text' parameter of ReLUNetwork.from_json must be JSON text. Got an unreadable value ({exc}) instead."
            ) from None
        if not isinstance(obj, dict) or obj.get("format") != JSON_FORMAT or obj.get("version") != JSON_VERSION:
            raise InvalidParameterError(
                f"The 'text' parameter of ReLUNetwork.from_json must hold format {JSON_FORMAT!r} version {JSON_VERSION}. "
                f"Got format {obj.get('format') if isinstance(obj, dict) else None!r} instead."
            )
        return cls(list(obj["weights"]), list(obj["biases"]))

    def __eq__(self, other):
        return (isinstance(other, ReLUNetwork) and len(other.weights) == len(self.weights)
                and all(np.array_equal(a, b) for a, b in zip(self.weights, other.weights))
                and all(np.array_equal(a, b) for a, b in zip(self.biases, other.biases)))

    __hash__ = None

    def __repr__(self):
        return f"ReLUNetwork(d={self.d}, widths={list(self.widths)}, out_dim={self.out_dim})"


def smoothed(network: ReLUNetwork, sigma, seed=None) -> ReLUNetwork:
    """The network with i.i.d. N(0, sigma^2) noise added to every weight and bias.

    The smoothed-analysis model of Daniely-Srebro-Vardi 2023 (docs/theory/concepts.md, section concepts-smoothed): depth-3
    ReLU networks under Gaussian inputs stay hard to learn after this perturbation.
    """
    if not isinstance(network, ReLUNetwork):
        raise InvalidParameterError(f"The 'network' parameter of smoothed must be a ReLUNetwork. Got {show(network)} instead.")
    check_param("sigma", sigma, Interval(float, 0, None), "smoothed")
    rng = check_rng(seed, "smoothed")
    Ws = [W + rng.normal(0.0, float(sigma), W.shape) for W in network.weights]
    bs = [b + rng.normal(0.0, float(sigma), b.shape) for b in network.biases]
    return ReLUNetwork(Ws, bs)
