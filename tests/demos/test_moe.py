"""The MoE demo's pieces against finite differences, Monte Carlo and closed forms."""

import numpy as np
import pytest

from evollm.demos import moe


def small_config() -> moe.Config:
    return moe.Config(n_experts=5, k=2, d_in=4, d_out=3, expert_hidden=3)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_gate_keeps_exactly_k_experts_and_sums_to_one(k):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6))
    gates, _ = moe.noisy_top_k_gate(x, rng.normal(size=(6, 5)), rng.normal(size=(6, 5)), k,
                                    rng.standard_normal((300, 5)))
    assert np.all((gates > 0).sum(axis=1) == k)
    assert np.max(np.abs(gates.sum(axis=1) - 1)) <= 1e-12


def test_gradients_with_both_balancing_losses_match_finite_differences():
    cfg = small_config()
    rng = np.random.default_rng(1)
    params = moe.init_moe(rng, cfg)
    params["w_gate"] = rng.normal(size=params["w_gate"].shape)
    params["w_noise"] = rng.normal(size=params["w_noise"].shape)
    x, y = rng.normal(size=(20, 4)), rng.normal(size=(20, 3))
    noise = rng.standard_normal((20, 5))

    def loss():
        return moe.moe_loss_and_grads(params, x, y, cfg, noise, cfg.w_importance, cfg.w_load)[0]

    grads = moe.moe_loss_and_grads(params, x, y, cfg, noise, cfg.w_importance, cfg.w_load)[2]
    for name in ("w_gate", "w_noise", "w1", "b2"):
        value, numeric = params[name], np.zeros_like(params[name])
        for i in np.ndindex(value.shape):
            old = value[i]
            value[i] = old + 1e-6
            up = loss()
            value[i] = old - 1e-6
            numeric[i] = (up - loss()) / 2e-6
            value[i] = old
        assert np.max(np.abs(numeric - grads[name])) <= 1e-6 * (1 + np.max(np.abs(numeric)))


def test_load_probability_matches_resampling_one_experts_noise():
    """P(x, i) (eq. 9) is the chance that i is in the top k when only its own noise is redrawn."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 4))
    w_gate, w_noise = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    noise = rng.standard_normal((1, 6))
    _, cache = moe.noisy_top_k_gate(x, w_gate, w_noise, 2, noise)
    p, _, _ = moe.load_probabilities(cache, 2)
    draws = rng.standard_normal(200_000)
    for i in range(6):
        noisy = np.repeat(cache["noisy"], draws.size, axis=0)
        noisy[:, i] = cache["clean"][0, i] + draws * cache["std"][0, i]
        in_top = (noisy > noisy[:, [i]]).sum(axis=1) < 2
        assert abs(in_top.mean() - p[0, i]) < 0.005


def test_switch_loss_is_one_when_uniform_and_n_when_collapsed():
    even, collapsed = moe.uniform_switch_loss(8, 512)
    assert abs(even - 1.0) <= 1e-12
    assert 7.9 < collapsed <= 8.0


def test_cv_squared_gradient_and_a_collapsed_load_fails_the_check():
    v = np.array([3.0, 1.0, 4.0, 1.5])
    numeric = [(moe.cv_squared(v + 1e-6 * e) - moe.cv_squared(v - 1e-6 * e)) / 2e-6
               for e in np.eye(4)]
    assert np.allclose(numeric, moe.cv_squared_grad(v), atol=1e-8)
    collapsed = moe.hard_load(np.zeros(1000, dtype=int), 8)  # every token to expert 0
    assert moe.cv_squared(collapsed) > 0.1
