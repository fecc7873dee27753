"""Numba kernels: arrays in, arrays out, no Python objects, no generators created inside.

Every kernel keeps its Python body (``kernel.py_func``) and has a numpy twin in
:mod:`sqsim._kernels.reference`, so tests can tell a Numba typing bug from a maths bug.
Kernels that produce truths, error bounds or hashes never use ``fastmath``.
"""

import types

import numba

#: below this many points a serial kernel beats the thread-pool launch (which, on a busy
#: machine, costs milliseconds per call)
PARALLEL_MIN = 2**16


def dual(fn):
    """Compile ``fn`` twice: ``parallel=True`` (returned) and serial (``.serial``), both cached.

    The serial twin is a copy of the function under its own qualified name, so the two never
    share a cache entry; ``prange`` runs as ``range`` in it. Callers pick by problem size
    (:data:`PARALLEL_MIN`). ``.py_func`` keeps the Python body for uncompiled tests.
    """
    twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial", fn.__defaults__, fn.__closure__)
    twin.__qualname__ = fn.__qualname__ + "_serial"
    par = numba.njit(parallel=True, cache=True)(fn)
    par.serial = numba.njit(cache=True)(twin)
    return par


def pick(kernel, n: int):
    """The parallel kernel for large problems, its serial twin for small ones."""
    return kernel if n >= PARALLEL_MIN else kernel.serial
