"""The compressed Daniely-Vardi lift (CGKM22 Theorem 2.3, Eqs. (4)-(8); docs/theory/lift.md)."""

from __future__ import annotations


import numpy as np

from .._errors import InvalidParameterError
from .._kernels import lift as klift
from .._kernels import pick
from .._validation import Interval, NoneOk, check_param, show
from ._intervals import Intervals
from ._n3 import n3_constants, phi_closed_form, phi_table

#: agreement the explicit lifted network must reach with the closed form before it is returned
NETWORK_TOLERANCE = 1e-6
#: beyond this D the explicit network is refused without building it: N3's coefficients exceed
#: 8.5e6 at D = 16 and grow like 3.3^D, so float64 sums lose the 1e-6 agreement (docs/theory/lift.md, section lift-network)
MAX_NETWORK_D = 16


class LiftPrecisionError(InvalidParameterError):
    """The explicit network of a lift is not accurate in double precision for these parameters."""


class CompressedLift:
    """The compressed lift f -> f^Delta from {0,1}^d (or Z_q^d) to N(0, I_d) (Theorem 2.3).

    f^Delta(z) = sum_{t* in T} sigma(t*) N3(N2(z_1), ..., N2(z_d); h(N1(z)) - t*)   (Eq. 4)
               = f(thres_q(z)) phi_D(sum_j N2(z_j))   (docs/theory/lift.md, section lift-closed-form)

    with N1, N2 of Lemmas 2.4, 2.5 (docs/theory/lift.md, sections lift-n1, lift-n2) and N3 (section lift-n3), exact for |t| <= D.

    Parameters
    ----------
    d : int
        Dimension of the Boolean (or Z_q) cube and of the Gaussian.
    q : int, default 2
    delta : float, default 1e-3
        P[z in R] = delta; delta < 1/2 for q = 2, < (q-1)/(2q) for q >= 3, and resolvable in double
        precision (docs/theory/lift.md, section lift-precision: the paper's d^(-10m) is not).
    D : int, optional
        Bound on |h - t*| over the class (default d (q-1)^2: every parity for q = 2, every LWR).

    Examples
    --------
    >>> from sqsim.concepts import Parity
    >>> lift = CompressedLift(d=6, q=2, delta=0.1, D=3)
    >>> g = lift.lift(Parity(6, [0, 2, 5]))
    >>> g.network.hidden_layers
    2
    """

    def __init__(self, d, q=2, delta=1e-3, D=None):
        check_param("d", d, Interval(int, 1, 62), "CompressedLift")
        check_param("q", q, Interval(int, 2, None), "CompressedLift")
        check_param("D", D, [Interval(int, 1, None), NoneOk], "CompressedLift")
        self.d, self.q = int(d), int(q)
        self.D = self.d * (self.q - 1) ** 2 if D is None else int(D)
        self.intervals = Intervals(self.q, delta, "CompressedLift")
        self.delta = self.intervals.delta
        self._const = None

    # ------------------------------------------------------------------ geometry (docs/theory/lift.md, section lift-intervals)
    @property
    def boundaries(self) -> np.ndarray:
        return self.intervals.boundaries

    @property
    def R(self) -> np.ndarray:
        return self.intervals.R

    @property
    def S(self) -> np.ndarray:
        return self.intervals.S

    def thres(self, t):
        return self.intervals.thres(t)

    def n1(self, t):
        return self.intervals.n1(t)

    def n2(self, t):
        return self.intervals.n2(t)

    @property
    def n1_network(self):
        return self.intervals.n1_network()

    @property
    def n2_network(self):
        return self.intervals.n2_network()

    # ------------------------------------------------------------------ N3 (docs/theory/lift.md, section lift-n3)
    @property
    def constants(self):
        """The exact N3 constants (built lazily from integers)."""
        if self._const is None:
            self._const = n3_constants(self.D, self.d)
        return self._const

    @property
    def kappa(self) -> int:
        return self.constants.kappa

    @property
    def rho(self) -> float:
        return self.constants.rho

    def phi(self, v) -> np.ndarray:
        """phi_D(v) = N3(s; 0) at sum_i s_i = v (exact table, linear interpolation)."""
        return phi_closed_form(v, self.constants)

    def n3(self, s, t) -> np.ndarray:
        """N3(s; t) of docs/theory/lift.md, section lift-n3 (s of shape (n, d), t of shape (n,)), summed unit by unit."""
        from ._n3 import n3_direct

        s = np.asarray(s, dtype=np.float64)
        t = np.asarray(t, dtype=np.float64)
        if s.ndim != 2 or s.shape[1] != self.d or t.shape != (s.shape[0],):
            raise InvalidParameterError(
                f"The 's' parameter of CompressedLift.n3 must have shape (n, {self.d}) with t of shape (n,). "
                f"Got {s.shape} and {t.shape} instead."
            )
        return n3_direct(s, t, self.constants)

    @property
    def n3_network(self):
        """N3 as a one-hidden-layer ReLUNetwork on (s_1..s_d, t) (d + 1 inputs)."""
        from ..concepts import ReLUNetwork

        c = self.constants
        coef = c.coefficients
        W1 = np.zeros((self.d + 1, len(coef)))
        W1[: self.d, :] = -c.kappa
        W1[self.d, :] = [-(j - c.D) for j, _, _ in coef]
        b1 = np.array([c.kmax - k for _, k, _ in coef], dtype=np.float64)
        out = np.array([c.sign * cc / c.kappa for _, _, cc in coef])[:, None]
        return ReLUNetwork([W1, out], [b1, np.zeros(1)])

    # ------------------------------------------------------------------ Eq. (7), (8)
    def _check_Z(self, Z, name="Z"):
        Z = np.ascontiguousarray(Z, dtype=np.float64)
        if Z.ndim == 2 and Z.shape[1] == self.d and not np.all(np.isfinite(Z)):
            raise InvalidParameterError(
                f"The '{name}' parameter of CompressedLift must hold finite points. Got a NaN or infinity instead."
            )
        if Z.ndim != 2 or Z.shape[1] != self.d:
            raise InvalidParameterError(
                f"The '{name}' parameter of CompressedLift must be an array of shape (n, {self.d}). "
                f"Got shape {Z.shape} instead."
            )
        return Z

    def features(self, Z):
        """(thres_q(Z) of shape (n, d), phi_D(sum_j N2(Z_j)) of shape (n,)) in one compiled pass."""
        Z = self._check_Z(Z)
        i = self.intervals
        c = self.constants
        return pick(klift.lift_features, Z.size)(Z, i.boundaries, i.L, i.l, i.r, i.U, phi_table(c),
                                                  float(c.kmax), float(c.kappa))

    def label(self, y, Z) -> np.ndarray:
        """The label map of Eq. (7): y~ = y phi_D(sum_j N2(z_j)) (0 once some N2(z_j) = 1)."""
        _, p = self.features(Z)
        y = np.asarray(y, dtype=np.float64)
        if y.shape != p.shape:
            raise InvalidParameterError(f"The 'y' parameter of CompressedLift.label must have shape {p.shape}. "
                                        f"Got {y.shape} instead.")
        return y * p

    def in_good_region(self, Z) -> np.ndarray:
        """Eq. (8): N2(z_1) = ... = N2(z_{d-1}) = 0 and N2(z_d) in (rho/2, rho)."""
        Z = self._check_Z(Z)
        n2 = self.n2(Z)
        return np.all(n2[:, :-1] == 0.0, axis=1) & (n2[:, -1] > self.rho / 2) & (n2[:, -1] < self.rho)

    def good_region_mass(self) -> float:
        """P(G) = (1 - 2 delta)^(d-1) P(N2(z) in (rho/2, rho)), exact through Phi on the ramps."""
        return (1.0 - 2.0 * self.delta) ** (self.d - 1) * self._n2_mass_between(self.rho / 2, self.rho)

    def _n2_mass_between(self, a: float, b: float) -> float:
        """P[a < N2(z) < b] for 0 <= a < b <= 1: on each of the 2(q-1) ramps N2 is affine in z."""
        from ._intervals import gaussian_mass

        i = self.intervals
        total = 0.0
        for L, l, r, U in zip(i.L, i.l, i.r, i.U):
            total += float(gaussian_mass(L + a * (l - L), L + b * (l - L)))  # rising ramp
            total += float(gaussian_mass(U - b * (U - r), U - a * (U - r)))  # falling ramp
        return total

    def _law(self, grid=None):
        """The certified law of V (one :class:`~sqsim.lift._law.VLaw` per grid, built lazily, not pickled)."""
        from ._law import DEFAULT_GRID, VLaw

        grid = DEFAULT_GRID if grid is None else grid
        laws = self.__dict__.setdefault("_laws", {})
        key = int(grid) if isinstance(grid, (int, np.integer)) and not isinstance(grid, bool) else None
        if key is None or key not in laws:
            law = VLaw(self, grid)  # validates grid
            laws[law.G] = law
            return law
        return laws[key]

    def event_probabilities(self, cell_counts=None, *, grid=None):
        """P[phi_D(V) != 0], > 0 and < 0 given the cells of x, with a certified absolute error (``.error``).

        V = sum_j N2(z_j), z ~ N(0, I_d) | thres_q(z) = x. ``cell_counts[c]`` is the number of coordinates of
        x in cell c; None (default) means unconditional (x uniform). For q = 2 the law does not depend on
        x (the intervals are symmetric about b_1 = 0), so every histogram gives the same object. Computed
        by bracketing V between lattice roundings and exact convolutions (docs/theory/lifted-images.md,
        sections lifted-images-law-of-v, lifted-images-bracket); ``grid`` is the lattice resolution G (default 2048).
        """
        return self._law(grid).events(cell_counts)

    def phi_nonzero_interval(self, cell_counts=None, grid=None) -> tuple[float, float]:
        """The certified interval (lo, hi) containing P[phi_D(V) != 0 | the cells of z]."""
        return self.event_probabilities(cell_counts, grid=grid).nonzero_interval

    def phi_nonzero_probability(self, cell_counts=None, grid=None) -> float:
        """P[phi_D(sum_j N2(z_j)) != 0 | the cells of z]: the midpoint of :meth:`phi_nonzero_interval`.

        Its error is at most ``event_probabilities(cell_counts).error`` (docs/theory/lifted-images.md).
        ``cell_counts[c]`` is the number of coordinates in cell c; by default every coordinate's cell is
        uniform (the unconditional probability).
        """
        return self.event_probabilities(cell_counts, grid=grid).nonzero

    def nonzero_mass(self, concept=None) -> float:
        """P[f^Delta != 0] (docs/theory/adapter.md, section adapter-signal-budget) from the certified law of V.

        P[f^Delta != 0] = sum_x P(x) 1[f(x) != 0] P[phi_D(V) != 0 | cells x]; the conditional law of
        V only depends on how many coordinates lie in each cell, so the sum runs over those counts
        (enumerating f on Z_q^d when a concept is given). ``concept=None`` means P[f != 0] = 1/2
        independently of x (a nonconstant parity for q = 2, where V is independent of x anyway).
        Its error is at most the law's ``event_probabilities().error`` (docs/theory/lifted-images.md).
        """
        if concept is None:
            return 0.5 * self.phi_nonzero_probability()
        from collections import Counter

        from .._domains import BooleanCube, ZqCube

        dom = BooleanCube(self.d) if self.q == 2 else ZqCube(self.d, self.q)
        X = dom.enumerate()
        nz = np.asarray(concept(X)) != 0
        if self.q == 2:
            return float(np.count_nonzero(nz)) / dom.size * self.phi_nonzero_probability()
        counts = np.stack([(X == c).sum(axis=1) for c in range(self.q)], axis=1)
        groups = Counter(map(tuple, counts[nz].tolist()))
        total = 0.0
        for cnt, n in groups.items():
            total += n * self.phi_nonzero_probability(cnt)
        return total / dom.size

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_laws", None)  # a cache: rebuilt on demand
        return state

    def bad_event_probability(self) -> float:
        """0: with this N3 the label map of Eq. (7) is exact (docs/theory/lift.md, section lift-label-map); Eq. (6)'s event is in sqsim.bounds."""
        return 0.0

    # ------------------------------------------------------------------ lifting
    def lift(self, concept) -> LiftedConcept:
        """f^Delta of Eq. (4) for a compressible concept (Definition 2.1: f = sigma(h(x)))."""
        comp = getattr(concept, "compressed", None)
        if comp is None or not callable(concept):
            raise InvalidParameterError(
                f"The 'concept' parameter of CompressedLift.lift must be compressible (Definition 2.1: a "
                f".compressed form (h, T, sigma), e.g. Parity or LWR). Got {show(concept)} instead."
            )
        if getattr(concept, "d", None) != self.d:
            raise InvalidParameterError(
                f"The 'concept' parameter of CompressedLift.lift must act on d = {self.d} coordinates. "
                f"Got {concept!r} instead."
            )
        cq = getattr(concept, "q", 2)
        if cq != self.q:
            raise InvalidParameterError(
                f"The 'concept' parameter of CompressedLift.lift must live on Z_{self.q}^d. Got one on Z_{cq}^d instead."
            )
        return LiftedConcept(self, concept)

    def __repr__(self):
        return f"CompressedLift(d={self.d}, q={self.q}, delta={self.delta}, D={self.D})"


class LiftedConcept:
    """g = f^Delta on Gaussian(d): ``g(Z)`` is the closed form (Numba), ``g.network`` the explicit network."""

    boolean = False

    def __init__(self, lift: CompressedLift, concept):
        self.lift = lift
        self.concept = concept
        self.d = lift.d
        comp = concept.compressed
        w = np.asarray(comp.weights, dtype=np.int64)
        T = np.asarray(comp.T, dtype=np.int64)
        sig = np.asarray(comp.sigma(T), dtype=np.float64)
        self._w = w
        hmin = int(np.sum(np.minimum(w, 0)) * (lift.q - 1))
        hmax = int(np.sum(np.maximum(w, 0)) * (lift.q - 1))
        active = T[sig != 0]
        need = 0 if active.size == 0 else int(max(np.max(np.abs(hmax - active)), np.max(np.abs(hmin - active))))
        if need > lift.D:
            raise InvalidParameterError(
                f"The 'D' parameter of CompressedLift must bound |h - t*| over the class: this concept needs "
                f"D >= {need} (h in [{hmin}, {hmax}] on [0, q-1]^d, t* in the support of sigma). Got {lift.D} instead."
            )
        self._T, self._sigma = T, sig
        self._h_offset = hmin
        hs = np.arange(hmin, hmax + 1)
        self._sigma_tab = np.asarray(comp.sigma(hs), dtype=np.float64)
        self._network = None

    def __call__(self, Z) -> np.ndarray:
        Z = self.lift._check_Z(Z)
        i, c = self.lift.intervals, self.lift.constants
        return pick(klift.lifted_linear, Z.size)(Z, i.boundaries, i.L, i.l, i.r, i.U, phi_table(c), float(c.kmax),
                                                  float(c.kappa), self._w, self._h_offset, self._sigma_tab)

    def evaluate_numpy(self, Z) -> np.ndarray:
        """The numpy reference of the closed form: f(thres_q(z)) phi_D(sum_j N2(z_j))."""
        Z = self.lift._check_Z(Z)
        X = self.lift.thres(Z)
        V = self.lift.n2(Z).sum(axis=1)
        return np.asarray(self.concept(X), dtype=np.float64) * self.lift.phi(V)

    @property
    def range(self) -> tuple[float, float]:
        """The interval f^Delta's values lie in: f's range times phi_D's range on [0, 1], and 0."""
        lo, hi = self.lift.constants.phi_range()
        vals = [a * b for a in (float(self._sigma.min()), float(self._sigma.max()), 0.0) for b in (lo, hi)]
        return min(vals + [0.0]), max(vals + [0.0])

    def nonzero_mass(self) -> float:
        return self.lift.nonzero_mass(self.concept)

    @property
    def network(self):
        """The explicit two-hidden-layer network of Eq. (4) (docs/theory/lift.md, section lift-network), refused where float64 fails.

        Layer 1: N1 units on the coordinates h reads, N2 units on every coordinate. Layer 2: one copy
        of N3's units per t* with sigma(t*) != 0, each an affine function of layer 1. Built once;
        checked against the closed form on a fixed probe set (Gaussian points and points in every
        R_k and S_k \\ R_k); if the worst difference exceeds 1e-6, LiftPrecisionError says so.
        """
        if self._network is None:
            if self.lift.D > MAX_NETWORK_D:
                raise LiftPrecisionError(
                    f"The 'D' parameter of CompressedLift must be at most {MAX_NETWORK_D} for the explicit network "
                    f"(N3's coefficients grow like 3.3^D and float64 loses the {NETWORK_TOLERANCE} agreement with "
                    f"the exact closed form; docs/theory/lift.md, section lift-network). Use the closed form g(Z), which is exact for any D, or a "
                    f"sparse class with a smaller D. Got {self.lift.D} instead."
                )
            net = self._build_network()
            err = self._network_error(net)
            if not err <= NETWORK_TOLERANCE:
                raise LiftPrecisionError(
                    f"The 'D' parameter of CompressedLift must keep the explicit network accurate in float64: at "
                    f"D={self.lift.D}, delta={self.lift.delta} it differs from the exact closed form by {err:.3g} "
                    f"(> {NETWORK_TOLERANCE}); N3's coefficients grow like 3.3^D (docs/theory/lift.md, section lift-n3-constants). Use the closed "
                    f"form g(Z), a smaller D (sparse classes) or a larger delta. Got {self.lift.D} instead."
                )
            self._network = net
            self.network_error = err
        return self._network

    def _build_network(self):
        from ..concepts import ReLUNetwork

        lift, c, i = self.lift, self.lift.constants, self.lift.intervals
        d, m = self.d, lift.q - 1
        reads = np.flatnonzero(self._w != 0)
        # layer 1: for each read coordinate 2m N1 units, then for every coordinate 4m N2 units
        n1_cols, n2_cols = 2 * m * len(reads), 4 * m * d
        W1 = np.zeros((d, n1_cols + n2_cols))
        b1 = np.zeros(n1_cols + n2_cols)
        w1 = 1.0 / (i.r - i.l)
        for a, j in enumerate(reads):
            base = 2 * m * a
            W1[j, base : base + m] = w1
            W1[j, base + m : base + 2 * m] = w1
            b1[base : base + m] = -i.l * w1
            b1[base + m : base + 2 * m] = -i.r * w1
        wu, wd = 1.0 / (i.l - i.L), 1.0 / (i.U - i.r)
        for j in range(d):
            base = n1_cols + 4 * m * j
            W1[j, base : base + 4 * m] = np.concatenate([wu, wu, wd, wd])
            b1[base : base + 4 * m] = np.concatenate([-i.L * wu, -i.l * wu, -i.r * wd, -i.U * wd])
        # linear read-outs of layer 1: h(N1(z)) and sum_j N2(z_j)
        h_vec = np.zeros(n1_cols + n2_cols)
        for a, j in enumerate(reads):
            base = 2 * m * a
            h_vec[base : base + m] = self._w[j]
            h_vec[base + m : base + 2 * m] = -self._w[j]
        s_vec = np.zeros(n1_cols + n2_cols)
        for j in range(d):
            base = n1_cols + 4 * m * j
            s_vec[base : base + 4 * m] = np.concatenate([np.ones(m), -np.ones(m), -np.ones(m), np.ones(m)])
        coef = c.coefficients
        jj = np.array([j for j, _, _ in coef], dtype=np.float64)
        kk = np.array([k for _, k, _ in coef], dtype=np.float64)
        cc = np.array([float(v) for _, _, v in coef])
        active = [(t, s) for t, s in zip(self._T, self._sigma) if s != 0]
        cols, biases, outs = [], [], []
        for t_star, sig in active:
            # argument: (kmax - k) - kappa S - (j - D)(h - t*), affine in layer 1
            cols.append(-c.kappa * s_vec[:, None] - h_vec[:, None] * (jj - c.D)[None, :])
            biases.append((c.kmax - kk) + (jj - c.D) * t_star)
            outs.append(sig * c.sign * cc / c.kappa)
        if not active:  # f = 0: one dead unit
            cols, biases, outs = [np.zeros((n1_cols + n2_cols, 1))], [np.zeros(1)], [np.zeros(1)]
        W2 = np.hstack(cols)
        b2 = np.concatenate(biases)
        W3 = np.concatenate(outs)[:, None]
        return ReLUNetwork([W1, W2, W3], [b1, b2, np.zeros(1)])

    def probe_points(self, n: int = 4096, seed: int = 0) -> np.ndarray:
        """Probe points for the network check: Gaussian points; points with every coordinate off the S_k
        but one or two on a ramp, in an R_k or on an end point (where f^Delta != 0 and the gadgets'
        large weights meet); and their neighbouring doubles."""
        return lift_probe_points(self.lift.intervals, self.d, n, seed)

    def _network_error(self, net) -> float:
        Z = self.probe_points()
        closed = self(Z)
        return float(max(np.max(np.abs(net(Z) - closed)), np.max(np.abs(net.evaluate_numpy(Z) - closed))))

    def __repr__(self):
        return f"LiftedConcept({self.concept!r}, {self.lift!r})"


def lift_probe_points(intervals, d: int, n: int = 4096, seed: int = 0) -> np.ndarray:
    """Probe points of the gadgets (see :meth:`LiftedConcept.probe_points`)."""
    i = intervals
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, d))
    # off every S_k: shift coordinates that fall inside an S_k out of it
    W = rng.standard_normal((4 * n, d))
    inside = np.any((W[..., None] >= i.L) & (W[..., None] <= i.U), axis=-1)
    while inside.any():  # redraw until every coordinate is off the S_k (P[inside] = 2 delta < 1)
        W[inside] = rng.standard_normal(int(inside.sum()))
        inside = np.any((W[..., None] >= i.L) & (W[..., None] <= i.U), axis=-1)
    ends = np.concatenate([i.L, i.l, i.r, i.U])
    specials = np.concatenate([ends, np.nextafter(ends, -np.inf), np.nextafter(ends, np.inf), i.boundaries])
    k = rng.integers(0, len(i.L), 4 * n)
    u = rng.uniform(0, 1, 4 * n)
    part = rng.integers(0, 3, 4 * n)
    on = np.where(part == 0, i.L[k] + u * (i.l[k] - i.L[k]),
                  np.where(part == 1, i.l[k] + u * (i.r[k] - i.l[k]), i.r[k] + u * (i.U[k] - i.r[k])))
    on[: len(specials)] = specials
    cols = rng.integers(0, d, 4 * n)
    W[np.arange(4 * n), cols] = on
    second = rng.random(4 * n) < 0.3
    cols2 = rng.integers(0, d, 4 * n)
    W[np.flatnonzero(second), cols2[second]] = np.where(rng.random(second.sum()) < 0.5,
                                                        i.L[k[second]] + u[second] * (i.l[k[second]] - i.L[k[second]]),
                                                        i.U[k[second]] - u[second] * (i.U[k[second]] - i.r[k[second]]))
    return np.vstack([Z, W])
