"""Tiled attention against Algorithm 0, and the memory counter against hand counts."""

import numpy as np
import pytest

from evollm.demos import flash_attention as fa


@pytest.fixture
def qkv():
    rng = np.random.default_rng(5)
    return tuple(rng.standard_normal((100, 16)) for _ in range(3))  # 100: not a block multiple


@pytest.mark.parametrize("algorithm", [fa.flash_attention, fa.flash_attention_2])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("sram", [256, 1024, 4096])
def test_tiled_equals_standard(qkv, algorithm, causal, sram):
    q, k, v = qkv
    o_ref, lse_ref = fa.standard_attention(q, k, v, causal)
    o, lse = algorithm(q, k, v, sram, causal)
    assert np.max(np.abs(o - o_ref)) <= 1e-12
    assert np.max(np.abs(lse - lse_ref)) <= 1e-12


def test_dropping_the_rescale_breaks_equality(qkv, monkeypatch):
    """An online softmax that forgets exp(m_old - m_new) is wrong: the check can fail."""
    q, k, v = qkv
    real_exp = np.exp
    calls = {"n": 0}

    def exp_without_rescale(x):
        calls["n"] += 1
        return real_exp(x) if np.ndim(x) == 2 else np.ones_like(x)

    monkeypatch.setattr(fa.np, "exp", exp_without_rescale)
    o, _ = fa.flash_attention(q, k, v, 1024)
    monkeypatch.undo()
    assert calls["n"] > 0
    assert np.max(np.abs(o - fa.standard_attention(q, k, v)[0])) > 1e-3


def test_counted_traffic_matches_hand_count():
    n, d, sram = 256, 16, 1024
    b_r, b_c = fa.block_sizes(sram, d)
    assert (b_r, b_c) == (16, 16)
    mem = fa.TwoLevelMemory()
    x = np.zeros((n, d))
    fa.flash_attention(x, x, x, sram, memory=mem)
    t_c = n // b_c
    # line 2 init (N d + 2N), K and V once (2 N d), per outer block Q, O, l, m in and out
    assert mem.traffic == (n * d + 2 * n) + 2 * n * d + t_c * (3 * n * d + 4 * n)
    assert mem.extra == 2 * n
    naive = fa.TwoLevelMemory()
    fa.standard_attention(x, x, x, memory=naive)
    assert naive.traffic == 4 * n * n + 4 * n * d
    assert naive.extra == 2 * n * n


def test_traffic_falls_as_one_over_m():
    rng = np.random.default_rng(0)
    counts = [fa.traffic_of(fa.flash_attention, rng, 512, 16, m).traffic for m in (512, 1024, 2048)]
    assert abs(fa.loglog_slope([512, 1024, 2048], counts) + 1) < 0.15
