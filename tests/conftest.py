import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(20261123)


@pytest.fixture(params=["jit", "python"])
def kernel_mode(request):
    """Run kernel tests on the compiled kernel and on its uncompiled Python body (.py_func)."""
    return request.param


def call(kernel, mode, *args):
    if mode == "jit":
        return kernel(*args)
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps modulo 2^64 by design
        return kernel.py_func(*args)
