"""GRPO's advantages, objective and gradient, against finite differences and a broken variant."""

import numpy as np

from evollm.demos import grpo


def _batch(seed=0, groups=3, G=8):
    rng = np.random.default_rng(seed)
    theta_ref = rng.normal(scale=0.5, size=(grpo.N_CONTEXTS, grpo.VOCAB))
    theta_old = theta_ref + rng.normal(scale=0.3, size=theta_ref.shape)
    theta = theta_old + rng.normal(scale=0.3, size=theta_ref.shape)  # rho != 1, some tokens clipped
    questions = np.repeat(rng.choice(grpo.N_QUESTIONS, size=groups, replace=False), G)
    tokens, contexts = grpo.sample_answers(rng, theta_old, questions)
    rewards = rng.integers(0, 2, size=(groups, G)).astype(float)
    rewards[0] = 1.0  # one group with all-equal rewards
    return theta, theta_old, theta_ref, contexts, tokens, grpo.group_advantages(rewards)


def test_advantages_have_mean_0_std_1_and_vanish_for_equal_rewards():
    rewards = np.array([[1.0, 0, 0, 1, 1, 0, 0, 0], [0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]])
    adv = grpo.group_advantages(rewards)
    assert abs(adv[0].mean()) <= 1e-15 and abs(adv[0].std() - 1) <= 1e-15
    assert np.all(adv[1] == 0.0)


def test_objective_gradient_matches_finite_differences():
    theta, theta_old, theta_ref, contexts, tokens, adv = _batch()
    args = (theta_old, theta_ref, contexts, tokens, adv.reshape(-1), 0.2, 0.04)
    _, g_surr, g_kl, clipped = grpo.grpo_objective(theta, *args)
    assert 0 < clipped < 1
    grad = g_surr + g_kl
    eps = 1e-6
    for c in np.unique(contexts)[:12]:
        for v in range(grpo.VOCAB):
            step = np.zeros_like(theta)
            step[c, v] = eps
            numeric = (grpo.grpo_objective(theta + step, *args)[0] - grpo.grpo_objective(theta - step, *args)[0]) / (2 * eps)
            assert abs(numeric - grad[c, v]) <= 1e-8, (c, v, numeric, grad[c, v])


def test_kl_term_is_zero_at_the_reference_and_positive_elsewhere():
    theta, _, theta_ref, contexts, tokens, _ = _batch()
    zero_adv = np.zeros(len(tokens))
    j, g_surr, g_kl, _ = grpo.grpo_objective(theta_ref, theta_ref, theta_ref, contexts, tokens, zero_adv, 0.2, 0.04)
    assert j == 0.0 and np.all(g_surr == 0) and np.all(g_kl == 0)
    j, *_ = grpo.grpo_objective(theta, theta_ref, theta_ref, contexts, tokens, zero_adv, 0.2, 0.04)
    assert j < 0  # -beta * KL with KL > 0


def test_all_equal_group_gives_zero_policy_gradient_but_uncentred_rewards_do_not():
    theta, theta_old, theta_ref, contexts, tokens, _ = _batch(groups=1)
    for adv, expect_zero in ((grpo.group_advantages(np.ones((1, 8))), True), (np.ones((1, 8)), False)):
        _, g_surr, _, _ = grpo.grpo_objective(theta, theta_old, theta_ref, contexts, tokens, adv.reshape(-1), 0.2, 0.04)
        assert (np.abs(g_surr).max() == 0.0) == expect_zero


def test_quick_run_passes():
    result = grpo.run(grpo.Config(quick=True, seed=7))
    assert result.passed, [(c.name, c.value) for c in result.checks]
