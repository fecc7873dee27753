"""Numba kernels: arrays in, arrays out, no Python objects, no generators created inside.

Every kernel keeps its Python body (``kernel.py_func``) and has a numpy twin in
:mod:`sqsim._kernels.reference`, so tests can tell a Numba typing bug from a maths bug.
Kernels that produce truths, error bounds or hashes never use ``fastmath``.
"""
