"""The original Daniely-Vardi lift and label queries (CGKM22 Theorem B.1 and Theorem 5.1; docs/theory/lift.md, section lift-dv)."""

from __future__ import annotations


import numpy as np

from .._errors import InvalidParameterError
from .._validation import Interval, check_param, show
from ._intervals import Intervals


def network_upper_bound(net, lo, hi) -> float:
    """An upper bound of a ReLUNetwork's (single) output over the box [lo, hi]^d (interval propagation)."""
    low = np.full(net.d, float(lo))
    up = np.full(net.d, float(hi))
    for idx, (W, b) in enumerate(zip(net.weights, net.biases)):
        Wp, Wn = np.maximum(W, 0), np.minimum(W, 0)
        low, up = low @ Wp + up @ Wn + b, up @ Wp + low @ Wn + b
        if idx < len(net.weights) - 1:
            low, up = np.maximum(low, 0), np.maximum(up, 0)
    return float(up[0])


class DVLift:
    """The Daniely-Vardi lift f^DV(z) = relu(f(N1(z)) - M sum_j N2(z_j)) (Theorem B.1; docs/theory/lift.md, section lift-dv).

    For a concept f given as an L-hidden-layer ReLU network on [0, q-1]^d, f^DV is an
    (L + 2)-hidden-layer network on Gaussian inputs. M >= max(1, sup of f over the box [0, q-1]^d),
    computed by interval propagation (with M = 1 the lift fails for networks that exceed 1
    between cube points, docs/theory/lift.md, section lift-dv). Wherever no z_j lies in an R_k, f(N1(z)) = f(thres_q(z)); wherever
    some z_j lies in an R_k, f^DV(z) = 0.

    Parameters
    ----------
    d : int
    q : int, default 2
    delta : float, default 1e-3
    """

    def __init__(self, d, q=2, delta=1e-3):
        check_param("d", d, Interval(int, 1, 62), "DVLift")
        check_param("q", q, Interval(int, 2, None), "DVLift")
        self.d, self.q = int(d), int(q)
        self.intervals = Intervals(self.q, delta, "DVLift")
        self.delta = self.intervals.delta

    def lift(self, concept) -> DVLiftedConcept:
        net = getattr(concept, "network", None)
        from ..concepts import ReLUNetwork

        if isinstance(concept, ReLUNetwork):
            net = concept
        if not isinstance(net, ReLUNetwork) or net.d != self.d or net.out_dim != 1:
            raise InvalidParameterError(
                f"The 'concept' parameter of DVLift.lift must be a concept with a ReLU network form on d = {self.d} "
                f"inputs and one output. Got {show(concept)} instead."
            )
        cq = getattr(concept, "q", 2 if getattr(concept, "boolean", False) else self.q)
        if cq != self.q:
            raise InvalidParameterError(
                f"The 'concept' parameter of DVLift.lift must live on Z_{self.q}^d (its label queries are asked at "
                f"thres_q(z)). Got one on Z_{cq}^d instead."
            )
        return DVLiftedConcept(self, concept, net)

    def __repr__(self):
        return f"DVLift(d={self.d}, q={self.q}, delta={self.delta})"


class DVLiftedConcept:
    """f^DV on Gaussian(d); ``g(Z)`` evaluates the formula, ``g.network`` the (L + 2)-hidden-layer network."""

    boolean = False

    def __init__(self, lift: DVLift, concept, net):
        self.lift = lift
        self.concept = concept
        self.base_network = net
        self.d = lift.d
        self.M = max(1.0, network_upper_bound(net, 0, lift.q - 1))
        self._network = None

    def __call__(self, Z) -> np.ndarray:
        Z = np.ascontiguousarray(Z, dtype=np.float64)
        if Z.ndim != 2 or Z.shape[1] != self.d:
            raise InvalidParameterError(
                f"The 'Z' parameter of DVLiftedConcept must be an array of shape (n, {self.d}). Got shape {Z.shape} instead."
            )
        i = self.lift.intervals
        return np.maximum(self.base_network(i.n1(Z)) - self.M * i.n2(Z).sum(axis=1), 0.0)

    @property
    def network(self):
        """N1 and N2 units, then f's hidden layers with a carried sum_j N2 >= 0, then relu(f - M sum N2).

        Checked against the formula on probe points in and next to every R_k and S_k (both the Numba
        and the numpy evaluator); refused with LiftPrecisionError beyond 1e-6 (tiny delta: the ramps'
        weights swamp the biases in float64).
        """
        if self._network is None:
            from ._compressed import NETWORK_TOLERANCE, LiftPrecisionError, lift_probe_points

            i = self.lift.intervals
            weights = np.concatenate([1.0 / (i.r - i.l), 1.0 / (i.l - i.L), 1.0 / (i.U - i.r)])
            if not np.all(np.isfinite(weights)):
                raise LiftPrecisionError(
                    f"The 'delta' parameter of DVLift must keep the ramp weights finite for the explicit network. "
                    f"Got {self.lift.delta!r} instead."
                )
            net = self._build()
            Z = lift_probe_points(i, self.d)
            ref = self(Z)
            err = float(max(np.max(np.abs(net(Z) - ref)), np.max(np.abs(net.evaluate_numpy(Z) - ref))))
            if not err <= NETWORK_TOLERANCE:
                raise LiftPrecisionError(
                    f"The 'delta' parameter of DVLift must keep the explicit network accurate in float64: it differs "
                    f"from the formula by {err:.3g} (> {NETWORK_TOLERANCE}). Got {self.lift.delta!r} instead."
                )
            self._network, self.network_error = net, err
        return self._network

    def _build(self):
        from ..concepts import ReLUNetwork

        i, d, m = self.lift.intervals, self.d, self.lift.q - 1
        w1, wu, wd = 1.0 / (i.r - i.l), 1.0 / (i.l - i.L), 1.0 / (i.U - i.r)
        per = 2 * m + 4 * m
        W1 = np.zeros((d, per * d))
        b1 = np.zeros(per * d)
        n1_read = np.zeros((per * d, d))  # layer-1 units -> N1(z_j)
        n2_read = np.zeros(per * d)  # layer-1 units -> sum_j N2(z_j)
        for j in range(d):
            base = per * j
            W1[j, base : base + per] = np.concatenate([w1, w1, wu, wu, wd, wd])
            b1[base : base + per] = np.concatenate([-i.l * w1, -i.r * w1, -i.L * wu, -i.l * wu, -i.r * wd, -i.U * wd])
            n1_read[base : base + m, j] = 1.0
            n1_read[base + m : base + 2 * m, j] = -1.0
            n2_read[base + 2 * m : base + per] = np.concatenate([np.ones(m), -np.ones(m), -np.ones(m), np.ones(m)])
        f = self.base_network
        Ws, bs = [W1], [b1]
        if f.hidden_layers == 0:  # f linear: one hidden unit relu(f(N1 z) - M S) after the gadgets
            Wl, bl = np.asarray(f.weights[0]), np.asarray(f.biases[0])
            Ws.append(n1_read @ Wl - self.M * n2_read[:, None])
            bs.append(np.array(bl, dtype=np.float64))
            Ws.append(np.ones((1, 1)))
            bs.append(np.zeros(1))
            return ReLUNetwork(Ws, bs)
        # f's first layer reads N1(z); a carrier unit holds S = sum_j N2(z_j) >= 0 (relu(S) = S)
        Wf = [np.asarray(W) for W in f.weights]
        bf = [np.asarray(b) for b in f.biases]
        Ws.append(np.hstack([n1_read @ Wf[0], n2_read[:, None]]))
        bs.append(np.concatenate([bf[0], [0.0]]))
        for W, b in zip(Wf[1:-1], bf[1:-1]):
            k_in, k_out = W.shape
            block = np.zeros((k_in + 1, k_out + 1))
            block[:k_in, :k_out] = W
            block[k_in, k_out] = 1.0
            Ws.append(block)
            bs.append(np.concatenate([b, [0.0]]))
        # last hidden layer: relu(f(N1 z) - M S); output: that unit
        Wl, bl = Wf[-1], bf[-1]
        Ws.append(np.vstack([Wl, [[-self.M]]]))
        bs.append(np.array(bl, dtype=np.float64))
        Ws.append(np.ones((1, 1)))
        bs.append(np.zeros(1))
        return ReLUNetwork(Ws, bs)

    def __repr__(self):
        return f"DVLiftedConcept({self.concept!r}, M={self.M:.4g})"


from ..oracles._label_query import LabelQueryOracle  # noqa: E402, F401  (the oracle moved)
