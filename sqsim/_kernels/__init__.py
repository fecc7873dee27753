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


def dual(fn=None, *, cache=True):
    """Compile ``fn`` twice: ``parallel=True`` (returned) and serial (``.serial``), both cached.

    ``cache=False`` for kernels that take a query's compiled function as an argument: the function's
    type is part of the cache key and never matches in another process, so caching only grows the
    on-disk index (and a stale index raises ``ReferenceError`` when numba saves to it).

    The serial twin is a copy of the function under its own qualified name, so the two never
    share a cache entry; ``prange`` runs as ``range`` in it. Callers pick by problem size
    (:data:`PARALLEL_MIN`). ``.py_func`` keeps the Python body for uncompiled tests.
    """
    if fn is None:
        return lambda f: dual(f, cache=cache)
    twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial", fn.__defaults__, fn.__closure__)
    twin.__qualname__ = fn.__qualname__ + "_serial"
    par = numba.njit(parallel=True, cache=cache)(fn)
    par.serial = numba.njit(cache=cache)(twin)
    return par


def pick(kernel, n: int):
    """The parallel kernel for large problems, its serial twin for small ones."""
    return kernel if n >= PARALLEL_MIN else kernel.serial
