"""Loose ends: resume validates every record, dead schedulers fail fast, learners.make checks its
parameters, absurd domain sizes are refused, lazy entry-point plug-ins, process isolation in sweeps."""

import time

import pytest

from sqsim import BooleanCube, Gaussian, InvalidParameterError, ZqCube


# ---------------------------------------------------------------------- absurd domain sizes
@pytest.mark.parametrize("make, needles", [
    (lambda: Gaussian(10**9), ["'d' parameter of Gaussian", "[1, 65536]", "1000000000"]),
    (lambda: BooleanCube(10**9), ["'d' parameter of BooleanCube", "[1, 4096]", "1000000000"]),
    (lambda: ZqCube(10**6, 10**6), ["'d' parameter of ZqCube", "[1, 61]", "1000000"]),
    (lambda: ZqCube(40, 3), ["'d' parameter of ZqCube", "2^62", "d <= 39 for q=3"]),
    (lambda: ZqCube(2, 10**300), ["'q' parameter of ZqCube", "4611686018427387903"]),
], ids=["gaussian", "boolean-cube", "zq-cube", "zq-cube-codes", "zq-cube-q"])
def test_absurd_domain_sizes_are_refused_with_the_limit(make, needles):
    t0 = time.perf_counter()
    with pytest.raises(InvalidParameterError) as info:
        make()
    assert time.perf_counter() - t0 < 0.5  # refused up front, no giant power or allocation
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))


def test_largest_allowed_domains_still_build():
    from sqsim._domains import MAX_GAUSSIAN_D

    assert Gaussian(MAX_GAUSSIAN_D).d == 2**16
    assert ZqCube(39, 3).size == 3**39 and ZqCube(61, 2).size == 2**61
