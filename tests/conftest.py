import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(20261123)


@pytest.fixture(params=["jit", "serial", "python"])
def kernel_mode(request):
    """Kernel tests run the parallel kernel, its serial twin and the uncompiled Python body (.py_func)."""
    return request.param


def call(kernel, mode, *args):
    if mode == "jit":
        return kernel(*args)
    if mode == "serial":
        return kernel.serial(*args)
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps modulo 2^64 by design
        return kernel.py_func(*args)
