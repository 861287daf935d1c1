"""ALiBi slopes, bias and decay against closed forms."""

import math

import numpy as np
import pytest

from evollm.demos import alibi


def test_eight_heads_are_halvings():
    assert alibi.slopes(8) == [2.0**-i for i in range(1, 9)]


def test_twelve_heads_interleave_the_sixteen_head_slopes():
    expected = [2.0**-i for i in range(1, 9)] + [2 ** -0.5, 2 ** -1.5, 2 ** -2.5, 2 ** -3.5]
    assert np.allclose(alibi.slopes(12), expected, rtol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6, 7, 8, 12, 16, 24, 40, 64])
def test_rule_matches_closed_form(n):
    assert np.allclose(alibi.slopes(n), alibi.closed_form_slopes(n), rtol=1e-12, atol=0)


def test_wrong_rule_differs_from_closed_form():
    """Taking the first (not every other) slopes of 2x heads is a known mistake."""
    wrong = alibi.slopes(8) + alibi.slopes(16)[:4]
    assert not np.allclose(wrong, alibi.closed_form_slopes(12))


def test_bias_is_toeplitz_and_causal():
    bias = alibi.alibi_bias(np.array(alibi.slopes(4)), 10)
    for h in range(4):
        for offset in range(10):
            assert len(set(np.diagonal(bias[h], -offset))) == 1
    assert np.isneginf(bias[:, 0, 1:]).all()


def test_equal_keys_decay_exponentially():
    rng = np.random.default_rng(3)
    m = np.array(alibi.slopes(4))
    key = np.broadcast_to(rng.standard_normal(8), (4, 12, 8))
    _, w = alibi.alibi_attention(rng.standard_normal((4, 12, 8)), key,
                                 rng.standard_normal((4, 12, 8)), m)
    # query 11 over keys 0..11: distance 11 - j
    assert np.allclose(w[:, 11, 5] / w[:, 11, 11], np.exp(-m * 6), rtol=1e-12)
    assert math.isclose(w[0, 11].sum(), 1.0)
