"""LoRA's adapter: exact at init, merge-invariant, correct gradients; a too-small rank fails."""

import numpy as np

from evollm.demos import lora


def _layer(seed=0, d=12, k=10, r=3, n=20):
    rng = np.random.default_rng(seed)
    W0 = rng.normal(size=(d, k))
    A, B = lora.init_adapter(rng, r, d, k)
    X = rng.normal(size=(n, k))
    return rng, W0, A, B, X


def test_zero_B_leaves_the_output_unchanged_and_a_random_B_does_not():
    rng, W0, A, B, X = _layer()
    assert np.all(B == 0)
    assert np.array_equal(lora.adapter_forward(X, W0, A, B, 2.0), X @ W0.T)
    B_random = rng.normal(size=B.shape)
    assert np.max(np.abs(lora.adapter_forward(X, W0, A, B_random, 2.0) - X @ W0.T)) > 1e-3


def test_merged_weight_equals_the_adapter_path():
    rng, W0, A, _, X = _layer()
    B = rng.normal(size=(W0.shape[0], A.shape[0]))
    diff = lora.merged_forward(X, W0, A, B, 8 / 3) - lora.adapter_forward(X, W0, A, B, 8 / 3)
    assert np.max(np.abs(diff)) <= 1e-12


def test_gradients_match_finite_differences():
    rng, W0, A, _, X = _layer()
    B = rng.normal(size=(W0.shape[0], A.shape[0]))
    Y = rng.normal(size=(X.shape[0], W0.shape[0]))
    base = X @ W0.T
    _, grad_A, grad_B = lora.loss_and_grads(A, B, X, Y, base, 1.5)
    eps = 1e-6
    for param, grad in ((A, grad_A), (B, grad_B)):
        for index in [(0, 0), (1, 2), (2, 1)]:
            saved = param[index]
            param[index] = saved + eps
            up = lora.loss_and_grads(A, B, X, Y, base, 1.5)[0]
            param[index] = saved - eps
            down = lora.loss_and_grads(A, B, X, Y, base, 1.5)[0]
            param[index] = saved
            assert abs((up - down) / (2 * eps) - grad[index]) <= 1e-8


def test_rank_below_the_true_rank_fails_the_recovery_check():
    config = lora.Config(d_out=64, d_in=64, true_rank=4, n_samples=256, steps=300)
    rng = np.random.default_rng(1)
    W0 = rng.normal(size=(64, 64)) / 8
    U = np.linalg.qr(rng.normal(size=(64, 4)))[0]
    V = np.linalg.qr(rng.normal(size=(64, 4)))[0]
    dW = U @ np.diag([1.0, 0.8, 0.6, 0.4]) @ V.T
    X = rng.normal(size=(256, 64))
    Y = X @ (W0 + dW).T
    for r, expect_pass in ((4, True), (3, False)):
        A, B, _ = lora.fit_adapter(rng, X, Y, W0, r, config)
        error = np.linalg.norm(config.lora_alpha / r * B @ A - dW) / np.linalg.norm(dW)
        assert (error <= 1e-2) == expect_pass, (r, error)


def test_quick_run_passes():
    result = lora.run(lora.Config(quick=True, seed=3))
    assert result.passed, [(c.name, c.value) for c in result.checks]
