"""RoPE pieces against the rotation matrix and the relative-position invariant."""

import numpy as np
import pytest

from evollm.demos import rope


@pytest.fixture
def qk():
    rng = np.random.default_rng(7)
    return rng.standard_normal((4, 16)), rng.standard_normal((4, 16))


def test_fast_form_equals_rotation_matrix(qk):
    q, _ = qk
    for m in (0, 3, 250):
        dense = q @ rope.rotation_matrix(m, 16, 10000.0).T
        assert np.allclose(rope.rope_interleaved(q, np.full(4, m), 10000.0), dense, atol=1e-12)


@pytest.mark.parametrize("layout", [rope.rope_interleaved, rope.rope_half_split])
def test_scores_depend_only_on_offset(qk, layout):
    q, k = qk
    spread = rope.relative_spread(layout, q, k, np.array([3, 40, 900]), np.array([0, 2, 3]),
                                  10000.0)
    assert spread <= 1e-10


def test_broken_rotation_fails_the_offset_check(qk):
    """Angles quadratic in the position are still rotations, but no longer relative."""
    q, k = qk

    def quadratic(x, positions, base):
        return rope.rope_interleaved(x, positions**2 / 50.0, base)

    spread = rope.relative_spread(quadratic, q, k, np.array([3, 40, 900]), np.array([2]), 1e4)
    assert spread > 1e-3


def test_layouts_agree_up_to_relabelling_but_not_when_mixed(qk):
    q, k = qk
    pos = np.array([1, 5, 9, 70])
    order = rope.half_split_order(16)
    assert np.allclose(rope.rope_half_split(q[:, order], pos, 1e4),
                       rope.rope_interleaved(q, pos, 1e4)[:, order], atol=1e-12)
    mixed = np.sum(rope.rope_half_split(q, pos, 1e4) * rope.rope_half_split(k, pos - 1, 1e4), -1)
    right = np.sum(rope.rope_interleaved(q, pos, 1e4) * rope.rope_interleaved(k, pos - 1, 1e4), -1)
    assert np.max(np.abs(mixed - right)) > 1e-3


def test_norms_preserved(qk):
    q, _ = qk
    out = rope.rope_interleaved(q, np.array([0, 17, 1000, 4096]), 1e4)
    assert np.allclose(np.linalg.norm(out, axis=1), np.linalg.norm(q, axis=1), atol=1e-12)


def test_decay_bound_starts_at_mean_partial_count_and_falls():
    bound = rope.decay_bound(128, 1e4, 256)
    assert bound[0] == pytest.approx((1 + 64) / 2)
    assert bound[-1] < bound[0] / 3
