"""The DPO demo's loss, gradient and implicit reward, against invariants and a broken variant."""

import math

import numpy as np

from evollm.demos import dpo


def _problem(seed=0, P=20, Y=6, F=8, n=800):
    rng = np.random.default_rng(seed)
    phi = rng.normal(size=(P, Y, F))
    reward = phi @ (rng.normal(size=F) / math.sqrt(F))
    theta_ref = rng.normal(size=F) / math.sqrt(F)
    log_ref = dpo.log_policy(theta_ref, phi)
    prompts, winners, losers = dpo.sample_pairs(rng, log_ref, reward, n)
    return rng, phi, reward, theta_ref, log_ref, prompts, winners, losers


def test_pairs_hold_two_distinct_responses_and_policy_rows_normalise():
    _, phi, _, theta_ref, log_ref, _, winners, losers = _problem()
    assert np.all(winners != losers)
    assert np.allclose(np.exp(log_ref).sum(axis=1), 1.0, atol=1e-14)


def test_loss_is_ln2_at_the_reference_and_gradient_matches_finite_differences():
    rng, phi, _, theta_ref, _, prompts, winners, losers = _problem()
    loss0, _ = dpo.dpo_loss_and_grad(theta_ref, theta_ref, phi, prompts, winners, losers, 0.1)
    assert abs(loss0 - math.log(2)) <= 1e-15
    theta = theta_ref + rng.normal(size=theta_ref.size)
    _, grad = dpo.dpo_loss_and_grad(theta, theta_ref, phi, prompts, winners, losers, 0.1)
    eps = 1e-6
    numeric = np.array([
        (dpo.dpo_loss_and_grad(theta + eps * e, theta_ref, phi, prompts, winners, losers, 0.1)[0]
         - dpo.dpo_loss_and_grad(theta - eps * e, theta_ref, phi, prompts, winners, losers, 0.1)[0]) / (2 * eps)
        for e in np.eye(theta.size)
    ])
    assert np.max(np.abs(numeric - grad)) <= 1e-7 * np.max(np.abs(grad))


def test_the_closed_form_optimum_has_implicit_reward_equal_to_r_up_to_a_constant():
    _, phi, reward, _, log_ref, *_ = _problem()
    beta = 0.1
    log_optimal = dpo.log_softmax(log_ref + reward / beta)  # eq. 4
    implicit = beta * (log_optimal - log_ref)  # eq. 5: r - beta log Z(x)
    shift = implicit - reward
    assert np.max(np.abs(shift - shift[:, :1])) <= 1e-12
    assert np.allclose(dpo.per_prompt_correlation(implicit, reward), 1.0, atol=1e-12)


def test_reversed_preferences_fail_the_correlation_check():
    _, phi, reward, theta_ref, _, prompts, winners, losers = _problem(seed=2)
    for w, l, expect_pass in ((winners, losers, True), (losers, winners, False)):
        theta = theta_ref.copy()
        for _ in range(200):
            _, grad = dpo.dpo_loss_and_grad(theta, theta_ref, phi, prompts, w, l, 0.1)
            theta -= 200.0 * grad
        implicit = 0.1 * (dpo.log_policy(theta, phi) - dpo.log_policy(theta_ref, phi))
        corr = dpo.per_prompt_correlation(implicit, reward).mean()
        assert (corr >= 0.9) == expect_pass, corr


def test_quick_run_passes():
    result = dpo.run(dpo.Config(quick=True, seed=5))
    assert result.passed, [(c.name, c.value) for c in result.checks]
