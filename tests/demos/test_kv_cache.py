"""KV cache against full recomputation; MQA/GQA bytes and conversions."""

import numpy as np
import pytest

from evollm.demos import kv_cache as kv


def small(kv_heads, seed=0, max_len=40):
    cfg = kv.Config(n_layers=2, d_model=32, n_heads=4, vocab=50)
    return kv.init_params(np.random.default_rng(seed), cfg, kv_heads, max_len)


@pytest.mark.parametrize("kv_heads", [4, 2, 1])
def test_cached_equals_recomputed(kv_heads):
    top, layers = small(kv_heads)
    prompt = np.array([3, 1, 4, 1, 5])
    grouped = kv_heads != 4
    full = kv.decode(top, layers, prompt, 20, 4, grouped, use_cache=False)
    cached = kv.decode(top, layers, prompt, 20, 4, grouped, use_cache=True)
    assert full["tokens"] == cached["tokens"]
    assert np.max(np.abs(full["logits"] - cached["logits"])) < 1e-4
    assert cached["cache"].nbytes == 2 * 2 * kv_heads * (5 + 19) * 8 * 4


def test_cache_without_history_is_caught():
    """Feeding each new token with an empty cache (no history) changes the output."""
    top, layers = small(4)
    seq = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    full = kv.forward(top, layers, seq, 4, grouped=False)
    cache = kv.KVCache(2, 4, 40, 8)
    kv.forward(top, layers, seq[:-1], 4, False, cache)
    cache.length = 0  # forget everything cached so far
    assert np.max(np.abs(kv.forward(top, layers, seq[-1:], 4, False, cache) - full)) > 1e-3


def test_grouped_path_with_g_equal_h_is_mha_bit_for_bit():
    top, layers = small(4)
    seq = np.arange(12) % 50
    assert np.array_equal(kv.forward(top, layers, seq, 4, grouped=False),
                          kv.forward(top, layers, seq, 4, grouped=True))


def test_mean_pooling_identical_heads_recovers_the_group_projection():
    w = np.random.default_rng(1).standard_normal((32, 2 * 8))  # 2 groups of d_head 8
    duplicated = kv.expand_heads(w, 2, 2)  # 4 heads, identical within each group
    assert np.array_equal(kv.mean_pool_heads(duplicated, 4, 2), w)
    assert np.array_equal(kv.first_head(duplicated, 4, 2), w)
    assert kv.mean_pool_heads(duplicated, 4, 1).shape == (32, 8)  # MQA: one head


def test_mean_pool_is_the_mean_of_the_heads():
    w = np.random.default_rng(2).standard_normal((6, 4 * 3))
    pooled = kv.mean_pool_heads(w, 4, 2)
    assert np.allclose(pooled[:, :3], (w[:, 0:3] + w[:, 3:6]) / 2)
    assert np.allclose(pooled[:, 3:], (w[:, 6:9] + w[:, 9:12]) / 2)
