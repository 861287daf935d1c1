"""PPO pieces: the loss gradient against finite differences, GAE against its explicit sum."""

import numpy as np
import pytest

from evollm.demos import ppo


def test_gradient_check_passes_on_a_small_network():
    assert ppo.gradient_check(np.random.default_rng(0), ppo.Config(hidden=8)) <= 1e-6


@pytest.mark.parametrize("clip_vloss,norm_adv", [(False, False), (True, False), (False, True)])
def test_gradient_check_passes_without_each_option(clip_vloss, norm_adv):
    cfg = ppo.Config(hidden=6, clip_vloss=clip_vloss, norm_adv=norm_adv)
    assert ppo.gradient_check(np.random.default_rng(1), cfg) <= 1e-6


def test_a_wrong_gradient_fails_the_check(monkeypatch):
    """Dropping the entropy term's gradient is a plausible bug: the check must catch it."""
    real = ppo.ppo_loss

    def without_entropy_gradient(actor, critic, b, cfg, want_grads=True):
        if not want_grads:
            return real(actor, critic, b, cfg, want_grads)
        loss, stats, _ = real(actor, critic, b, cfg)
        _, _, grads = real(actor, critic, b, ppo.Config(**{**cfg.__dict__, "ent_coef": 0.0}))
        return loss, stats, grads

    monkeypatch.setattr(ppo, "ppo_loss", without_entropy_gradient)
    assert ppo.gradient_check(np.random.default_rng(0), ppo.Config(hidden=8)) > 1e-6


def test_gae_recursion_equals_explicit_sum():
    rng = np.random.default_rng(2)
    t, e = 30, 3
    rewards, values = rng.standard_normal((t, e)), rng.standard_normal((t, e))
    dones = (rng.random((t, e)) < 0.15).astype(float)
    next_value, next_done = rng.standard_normal(e), np.array([0.0, 1.0, 0.0])
    fast = ppo.gae(rewards, values, dones, next_value, next_done, 0.99, 0.95)
    slow = ppo.gae_direct(rewards, values, dones, next_value, next_done, 0.99, 0.95)
    assert np.max(np.abs(fast - slow)) <= 1e-10
    # lambda = 1, no dones: the advantage is the discounted return minus the value
    ones = ppo.gae(rewards, values, 0 * dones, next_value, 0 * next_done, 0.9, 1.0)
    discounted = sum(0.9**k * rewards[k] for k in range(t)) + 0.9**t * next_value
    assert np.allclose(ones[0], discounted - values[0])


def test_orthogonal_init_and_gain():
    w = ppo.orthogonal(np.random.default_rng(0), 4, 64, 2.0)
    assert w.shape == (4, 64)
    assert np.allclose(w @ w.T, 4.0 * np.eye(4))


def test_global_norm_clip_scales_all_together():
    grads = [np.full(3, 3.0), np.full(4, 4.0)]
    norm = ppo.clip_global_norm(grads, 0.5)
    assert norm == pytest.approx(np.sqrt(27 + 64))
    assert np.sqrt(sum((g * g).sum() for g in grads)) == pytest.approx(0.5, rel=1e-5)
    assert grads[0][0] / grads[1][0] == pytest.approx(0.75)


def test_sampled_actions_follow_the_policy():
    rng = np.random.default_rng(4)
    logits = np.tile(np.log([[0.2, 0.8]]), (20000, 1))
    actions, logp = ppo.sample_actions(rng, logits)
    assert abs(actions.mean() - 0.8) < 0.01
    assert np.allclose(logp, np.where(actions == 1, np.log(0.8), np.log(0.2)))


def test_window_mean_waits_for_a_full_window():
    returns = [(i, float(i)) for i in range(150)]
    assert np.isnan(ppo.window_mean(returns[:99], 100))
    assert ppo.window_mean(returns, 100) == pytest.approx(np.mean(range(50, 150)))


def test_clipped_surrogate_stops_pushing_outside_the_band():
    ratio = np.array([0.5, 0.9, 1.1, 1.5, 0.5, 1.5])
    adv = np.array([-1.0, 1.0, 1.0, 1.0, 1.0, -1.0])
    value, d = ppo.clipped_surrogate(ratio, adv, 0.2)
    # ratio beyond the band in the direction the advantage favours: constant, no gradient
    assert d[0] == 0.0 and d[3] == 0.0
    assert value[3] == pytest.approx(-1.2) and value[0] == pytest.approx(0.8)
    # inside the band, or beyond it against the advantage: the unclipped -A r
    assert np.allclose(d[[1, 2, 4, 5]], -adv[[1, 2, 4, 5]] * ratio[[1, 2, 4, 5]])


def test_quick_preset_is_applied_before_set():
    from evollm.demos import runner

    config = runner.make_config(ppo, seed=0, quick=True, overrides=["max_timesteps=60000"])
    assert config.max_timesteps == 60000 and config.target_return == ppo.QUICK["target_return"]
