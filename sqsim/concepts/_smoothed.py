"""Smoothed depth-3 ReLU networks (Daniely-Srebro-Vardi 2023; docs/theory/concepts.md, section concepts-smoothed)."""

from __future__ import annotations

import math

import numpy as np

from .._domains import Gaussian
from .._errors import InvalidParameterError
from .._validation import Interval, check_param
from ._families import ConceptFamily
from ._network import ReLUNetwork, smoothed
from .._validation import show


class SmoothedNetworks(ConceptFamily):
    """Random depth-3 ReLU networks (two hidden layers) with smoothed parameters.

    A member is drawn as a base network with i.i.d. N(0, 1/fan_in) weights and zero biases,
    then passed through :func:`smoothed` (every weight and bias plus N(0, sigma^2)): the
    smoothed-analysis targets of DSV23 under Gaussian inputs. No query-count theorem is
    claimed for this family (docs/theory/concepts.md, section concepts-smoothed); it is a target family for learners.

    Parameters
    ----------
    d : int
    widths : tuple of two ints, default (d, d)
    sigma : float, default 0.1
    """

    def __init__(self, d, widths=None, sigma=0.1):
        check_param("d", d, Interval(int, 1, None), "SmoothedNetworks")
        widths = (int(d), int(d)) if widths is None else tuple(widths)
        if len(widths) != 2 or not all(isinstance(w, (int, np.integer)) and w >= 1 for w in widths):
            raise InvalidParameterError(
                f"The 'widths' parameter of SmoothedNetworks must be two positive ints. Got {show(widths)} instead."
            )
        check_param("sigma", sigma, Interval(float, 0, None), "SmoothedNetworks")
        self.d, self.widths, self.sigma = int(d), tuple(int(w) for w in widths), float(sigma)
        self.domain = Gaussian(self.d)

    def _sample(self, rng):
        sizes = [self.d, *self.widths, 1]
        Ws = [rng.normal(0.0, 1.0 / math.sqrt(a), (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
        bs = [np.zeros(b) for b in sizes[1:]]
        return smoothed(ReLUNetwork(Ws, bs), self.sigma, rng)

    def __repr__(self):
        return f"SmoothedNetworks(d={self.d}, widths={self.widths}, sigma={self.sigma})"
