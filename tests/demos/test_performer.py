"""FAVOR+ pieces: orthogonal blocks, positive features, linear-time order, unbiasedness."""

import math

import numpy as np

from evollm.demos import performer


def test_blocks_are_orthogonal_with_gaussian_lengths():
    rng = np.random.default_rng(0)
    W = performer.orthogonal_features(rng, 48, 16)  # three blocks of 16
    for block in (W[:16], W[16:32], W[32:]):
        gram = block @ block.T
        assert np.max(np.abs(gram - np.diag(np.diag(gram)))) <= 1e-12
    assert abs(np.mean(np.sum(W**2, axis=1)) - 16) < 8  # E|w|^2 = d


def test_linear_time_order_equals_explicit_attention_and_features_are_positive():
    rng = np.random.default_rng(1)
    Q, K, V = rng.normal(scale=0.5, size=(3, 64, 8))
    W = performer.orthogonal_features(rng, 32, 8)
    out, q_feat, k_feat = performer.favor_attention(Q, K, V, W)
    assert q_feat.min() > 0 and k_feat.min() > 0
    weights = q_feat @ k_feat.T
    assert np.max(np.abs(out - weights / weights.sum(1, keepdims=True) @ V)) <= 1e-12


def test_many_features_approach_exact_softmax_attention():
    rng = np.random.default_rng(2)
    Q, K, V = rng.normal(scale=0.5, size=(3, 128, 8))
    exact = performer.softmax_attention(Q, K, V)
    coarse = performer.relative_error(performer.favor_attention(Q, K, V, performer.orthogonal_features(rng, 8, 8))[0], exact)
    fine = performer.relative_error(performer.favor_attention(Q, K, V, performer.orthogonal_features(rng, 8192, 8))[0], exact)
    assert fine < 0.05 < coarse


def test_unbiased_features_pass_and_non_haar_rotations_fail_the_bias_check():
    rng = np.random.default_rng(3)
    Q, K = rng.normal(scale=0.5, size=(2, 8, 16))
    x, y = Q / 2, K / 2  # q / d^(1/4), d = 16
    assert performer.kernel_bias_z(rng, x, y, 1600) <= 2.0
    assert performer.kernel_bias_z(rng, x, y, 1600, orthogonal=False) <= 2.0

    def without_sign_fix(rng, m, d, orthogonal=True):  # LAPACK's Q is not uniformly distributed
        q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        return q.T * np.linalg.norm(rng.normal(size=(d, d)), axis=1)[:, None]

    original = performer.orthogonal_features
    try:
        performer.orthogonal_features = without_sign_fix
        assert performer.kernel_bias_z(rng, x, y, 1600) > 2.0
    finally:
        performer.orthogonal_features = original


def test_stabilisers_cancel():
    rng = np.random.default_rng(4)
    X = rng.normal(scale=0.5, size=(5, 8))
    W = rng.normal(size=(16, 8))
    raw = np.exp(X @ W.T - 0.5 * np.sum(X * X, axis=1, keepdims=True)) / math.sqrt(16)
    for mode in ("row", "all"):
        ratio = performer.positive_features(X, W, mode) / raw
        per_row = ratio / ratio[:, :1]
        assert np.allclose(per_row, 1.0, rtol=1e-12)
        if mode == "all":
            assert np.allclose(ratio, ratio[0, 0], rtol=1e-12)
