"""GPTQ's Cholesky, lazy-batch form against the plain Optimal Brain Quantizer update."""

import numpy as np
import pytest

from evollm.demos import gptq as g


def obq_fixed_order(w, h, bits, percdamp=0.01):
    """Quantize columns left to right with eq. 3, shrinking H^-1 by Gaussian elimination (eq. 4)."""
    w = w.copy()
    scale, zero = g.grid(w, bits)
    h = h + percdamp * np.mean(np.diag(h)) * np.eye(h.shape[0])
    hinv = np.linalg.inv(h)
    q = np.zeros_like(w)
    for j in range(w.shape[1]):
        q[:, j] = g.quantize(w[:, [j]], scale, zero, bits)[:, 0]
        err = (w[:, j] - q[:, j]) / hinv[j, j]
        w[:, j:] -= np.outer(err, hinv[j, j:])  # eq. 3
        hinv = hinv - np.outer(hinv[:, j], hinv[j, :]) / hinv[j, j]  # eq. 4: remove column j
    return q


def layer(seed, d_out=24, d_in=40, n=300):
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 1 / np.sqrt(d_in), (d_out, d_in))
    x = g.calibration_inputs(rng, d_in, n)
    return w, x, 2 * x @ x.T


@pytest.mark.parametrize("bits", [4, 3])
def test_cholesky_lazy_batch_gptq_equals_the_plain_update(bits):
    w, _, h = layer(0)
    expected = obq_fixed_order(w, h, bits)
    for block in (1, 7, 16, 128):
        assert np.max(np.abs(g.gptq(w, h, bits, block) - expected)) <= 1e-10


def test_isotropic_hessian_gives_exactly_rtn():
    w, _, _ = layer(1)
    for bits in (2, 3, 4, 8):
        assert np.array_equal(g.gptq(w, 5.0 * np.eye(w.shape[1]), bits), g.rtn(w, bits))


def test_output_error_from_xxt_equals_the_direct_one():
    w, x, h = layer(2)
    q = g.rtn(w, 3)
    direct = np.sum(((w - q) @ x) ** 2) / np.sum((w @ x) ** 2)
    assert g.output_error(w, q, h / 2) == pytest.approx(direct, rel=1e-10)


def test_gptq_beats_rtn_and_a_misaligned_hessian_fails_the_check():
    w, x, h = layer(3, 64, 64, 1000)
    assert g.output_error(w, g.gptq(w, h, 4), h / 2) <= 0.9 * g.output_error(w, g.rtn(w, 4), h / 2)
    perm = np.random.default_rng(0).permutation(64)  # the Hessian of shuffled input features
    broken = g.gptq(w, h[np.ix_(perm, perm)], 4)
    assert g.output_error(w, broken, h / 2) > 0.9 * g.output_error(w, g.rtn(w, 4), h / 2)
    assert g.on_grid(w, broken, 4) <= 1e-9
