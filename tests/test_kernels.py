"""Every kernel against its numpy twin and an independent reference (scipy), compiled and not."""

import math

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.linalg import hadamard

from sqsim._kernels import bits, cube, walsh
from sqsim._kernels import reference as ref

from .conftest import call


def test_parity_and_mix_twins(rng):
    x = rng.integers(0, 2**62, size=1000, dtype=np.int64)
    expected = np.array([bin(int(v)).count("1") % 2 for v in x])
    assert_array_equal(bits.parity_np(x), expected)
    assert [bits.parity64.py_func(int(v)) for v in x[:50]] == expected[:50].tolist()
    u = x.astype(np.uint64)
    assert_array_equal(bits.mix64_np(u)[:20], [bits.mix64(np.uint64(v)) for v in u[:20]])
    # mix64 is a bijection: no collisions on 1000 inputs
    assert len(set(bits.mix64_np(u).tolist())) == len(set(u.tolist()))


@pytest.mark.parametrize("d", [1, 2, 5, 6, 7, 11, 14])
def test_character_sum(d, kernel_mode, rng):
    n = 2**d
    y = rng.integers(0, 2, n)
    words = bits.pack_bits(y)
    H = hadamard(n) if d <= 11 else None
    for S in {0, 1, n - 1, int(rng.integers(0, n))}:
        got = call(cube.character_sum, kernel_mode, S, words, n)
        assert got == ref.character_sum_np(S, y), f"character_sum mode={kernel_mode} d={d} S={S}"
        if H is not None:  # scipy's Sylvester Hadamard matrix: H[S, c] = (-1)^{popcount(S & c)}
            assert got == H[S] @ (1 - 2 * y)


def test_popcount_and_packing(rng):
    x = rng.integers(0, 2**63, 500, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1)
    assert [int(bits.popcount64(v)) for v in x] == [bin(int(v)).count("1") for v in x]
    with np.errstate(over="ignore"):
        assert int(bits.popcount64.py_func(np.uint64(2**64 - 1))) == 64
    y = rng.integers(0, 2, 200)
    w = bits.pack_bits(y)
    assert w.shape == (4,)
    assert [(int(w[c // 64]) >> (c % 64)) & 1 for c in range(200)] == y.tolist()


@pytest.mark.parametrize("d", [1, 2, 3, 8, 12, 15])
def test_fwht_matches_numpy_and_scipy(d, kernel_mode, rng):
    n = 2**d
    a = rng.standard_normal(n)
    bb = 4 if kernel_mode == "python" else 11
    got = call(walsh.fwht_inplace, kernel_mode, a.copy(), min(bb, d))
    assert_allclose(got, ref.fwht_np(a), atol=1e-9 * n, err_msg=f"fwht {kernel_mode}")
    if d <= 10:
        assert_allclose(got, hadamard(n) @ a, atol=1e-9 * n)
    # integer variant modulo 2^64 (query keys): exact
    u = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
    assert_array_equal(call(walsh.fwht_inplace, kernel_mode, u.copy(), min(bb, d)), ref.fwht_np(u))


def test_fwht_block_sizes_agree(rng):
    a = rng.standard_normal(2**13)
    outs = [walsh.fwht_inplace(a.copy(), bb) for bb in (1, 3, 8, 13, 20)]
    for o in outs[1:]:
        assert_allclose(o, outs[0], atol=1e-8)


@numba.njit
def _phi_table(x, y, params):
    # params = [q, table...]: the value table indexed by (label 0/0.5/1, code), so the numpy
    # reference below reproduces every value bit for bit (the key hash is bit exact)
    q = int(params[0])
    code = 0
    mult = 1
    for j in range(x.shape[0]):
        code += int(x[j]) * mult
        mult *= q
    return params[1 + int(2.0 * y) * mult + code]


@pytest.mark.parametrize("d,q", [(3, 2), (6, 2), (3, 4)])
def test_fused_query_pass_matches_python_pass(d, q, kernel_mode, rng):
    n = q**d
    labels = np.array([0.0, 0.5, 1.0])
    lidx = rng.integers(0, 3, n).astype(np.int16)
    vals = rng.uniform(-1, 1, (3, n))
    vals[0, :3] = [-1.0, 1.0, -0.0]  # end points and a negative zero (hashed as 0.0)
    params = np.concatenate([[q], vals.reshape(-1)])
    phi = _phi_table.py_func if kernel_mode == "python" else _phi_table
    tparts, nparts, h, bad, _ = call(cube.fused_query_pass, kernel_mode, phi, params, d, q, lidx, labels, 7)
    truth, null = math.fsum(tparts), nparts.sum(axis=0)
    codes = np.arange(n)
    assert bad == -1
    assert_allclose(truth, vals[lidx, codes].sum(), atol=1e-9)
    assert_allclose(null, vals.sum(axis=1), atol=1e-9)
    expected_h = sum(int(ref.key_hash_terms_np(vals[vi], np.uint64(vi * n) + codes.astype(np.uint64)))
                     for vi in range(3)) % 2**64
    assert int(h) == expected_h


def test_fused_query_pass_reports_first_bad_value():
    @numba.njit
    def bad_phi(x, y, params):
        return 2.0 if x[0] == 1 and x[1] == 1 else 0.0

    lidx = np.zeros(16, dtype=np.int16)
    _, _, _, bad, val = cube.fused_query_pass(bad_phi, np.zeros(0), 4, 2, lidx, np.array([0.0]), 4)
    assert bad == 3 and val == 2.0


def test_character_key_sum_matches_table(kernel_mode, rng):
    n = 2**10
    for S in [0, 5, 1023]:
        for vi in (0, 1):
            table = bits.index_mix_np(np.uint64(vi * n) + np.arange(n, dtype=np.uint64))
            signs = 1 - 2 * bits.parity_np(np.arange(n) & S)
            expected = sum(int(t) if s > 0 else -int(t) for t, s in zip(table, signs)) % 2**64
            assert int(call(cube.character_key_sum, kernel_mode, S, vi, n, 6)) == expected
            assert_array_equal(cube.key_table(vi, n), table)


def test_network_forward_twins(kernel_mode, rng):
    from sqsim._kernels import network

    sizes = np.array([5, 7, 3, 2])
    Ws = [rng.standard_normal((a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [rng.standard_normal(b) for b in sizes[1:]]
    params = np.concatenate([np.concatenate([W.ravel(), b]) for W, b in zip(Ws, bs)])
    X = rng.standard_normal((130, 5))
    got = call(network.network_forward, kernel_mode, X, sizes, params, 16)
    assert_allclose(got, ref.network_forward_np(X, Ws, bs), rtol=1e-12, atol=1e-12, err_msg=kernel_mode)


def test_lift_kernels_twins(kernel_mode, rng):
    from sqsim._kernels import lift as klift
    from sqsim.concepts import Parity
    from sqsim.lift import CompressedLift
    from sqsim.lift._n3 import phi_table

    lift = CompressedLift(5, q=3, delta=0.05, D=8)
    i, c = lift.intervals, lift.constants
    Z = rng.standard_normal((400, 5)) * 0.6
    Z[:50, 0] = i.l[0] + (i.r[0] - i.l[0]) * rng.uniform(0, 1, 50)
    args = (Z, i.boundaries, i.L, i.l, i.r, i.U, phi_table(c), float(c.kmax), float(c.kappa))
    cells, phi = call(klift.lift_features, kernel_mode, *args)
    assert_array_equal(cells, lift.thres(Z))
    assert_allclose(phi, lift.phi(lift.n2(Z).sum(axis=1)), atol=1e-12, err_msg=kernel_mode)
    lift2 = CompressedLift(6, q=2, delta=0.1, D=3)
    g = lift2.lift(Parity(6, [0, 2, 5]))
    i2, c2 = lift2.intervals, lift2.constants
    Z2 = rng.standard_normal((400, 6))
    got = call(klift.lifted_linear, kernel_mode, Z2, i2.boundaries, i2.L, i2.l, i2.r, i2.U, phi_table(c2),
               float(c2.kmax), float(c2.kappa), g._w, g._h_offset, g._sigma_tab)
    assert_allclose(got, g.evaluate_numpy(Z2), atol=1e-12, err_msg=kernel_mode)
