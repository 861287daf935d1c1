"""Attention pieces against a per-head loop and their defining invariants."""

import numpy as np
import pytest

from evollm.demos import transformer as tf


@pytest.fixture
def setup():
    rng = np.random.default_rng(11)
    return rng, tf.init_weights(rng, 32), rng.standard_normal((2, 9, 32))


@pytest.mark.parametrize("causal", [False, True])
def test_vectorized_equals_loop(setup, causal):
    _, w, x = setup
    out, weights = tf.multi_head_attention(x, w, 4, causal)
    assert np.allclose(out, tf.multi_head_attention_loop(x, w, 4, causal), atol=1e-12)
    assert np.allclose(weights.sum(-1), 1.0)


def test_causal_mask_leaks_nothing(setup):
    rng, w, x = setup
    leak, reach = tf.causal_leak(rng, x, w, 4)
    assert leak == 0.0 and reach > 0.0


def test_missing_mask_is_caught(setup, monkeypatch):
    """Without the mask, a later token changes earlier outputs: the check can fail."""
    rng, w, x = setup
    original = tf.multi_head_attention
    monkeypatch.setattr(tf, "multi_head_attention",
                        lambda x, w, h, causal=False: original(x, w, h, causal=False))
    leak, _ = tf.causal_leak(rng, x, w, 4)
    assert leak > 1e-3


def test_permutation_equivariance_needs_no_positions(setup):
    rng, w, x = setup
    perm = rng.permutation(9)
    out, _ = tf.multi_head_attention(x, w, 4)
    assert np.allclose(tf.multi_head_attention(x[:, perm], w, 4)[0], out[:, perm], atol=1e-12)
    pe = tf.sinusoidal_positions(9, 32)
    moved = tf.multi_head_attention(x[:, perm] + pe, w, 4)[0]
    assert not np.allclose(moved, tf.multi_head_attention(x + pe, w, 4)[0][:, perm], atol=1e-3)


def test_scaling_keeps_unit_std():
    scale = tf.logit_scale(np.random.default_rng(0), [16, 256], 8000, 32)
    assert all(abs(s - 1) < 0.1 for s in scale["scaled_std"])
    assert scale["raw_std"][1] > 3 * scale["raw_std"][0]
    assert scale["raw_max_weight"][1] > scale["scaled_max_weight"][1] + 0.5
