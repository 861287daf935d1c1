"""The Bradley-Terry reward model of the rlhf demo, against finite differences and invariants."""

import math

import numpy as np

from evollm.demos import rlhf


def _data(seed=0, n=600, shuffle=False):
    rng = np.random.default_rng(seed)
    segments = rlhf.make_segments(rng, n, 10, 4)  # (n, 2, 10, 4)
    w_true = rng.normal(size=4) * 0.2
    sums = segments.sum(axis=2)  # (n, 2, F)
    returns = sums @ w_true
    mu = (rng.random(n) < rlhf.preference_probability(returns[:, 0], returns[:, 1], 0.1)).astype(float)
    if shuffle:
        mu = rng.permutation(mu)
    return sums[:, 0] - sums[:, 1], mu, returns[:, 0] - returns[:, 1]


def test_preference_probabilities_of_both_orders_sum_to_one():
    r1, r2 = np.array([0.3, -2.0, 5.0]), np.array([1.0, 0.5, -5.0])
    total = rlhf.preference_probability(r1, r2, 0.1) + rlhf.preference_probability(r2, r1, 0.1)
    assert np.allclose(total, 1.0, atol=1e-15)


def test_loss_is_ln2_at_zero_reward_and_gradient_matches_finite_differences():
    diff, mu, _ = _data()
    loss0, _ = rlhf.bt_loss_and_grad(np.zeros(4), diff, mu, 0.1)
    assert abs(loss0 - math.log(2)) < 1e-15
    w = np.random.default_rng(1).normal(size=4) * 0.1
    _, grad = rlhf.bt_loss_and_grad(w, diff, mu, 0.1)
    eps = 1e-6
    numeric = np.array([
        (rlhf.bt_loss_and_grad(w + eps * e, diff, mu, 0.1)[0] - rlhf.bt_loss_and_grad(w - eps * e, diff, mu, 0.1)[0]) / (2 * eps)
        for e in np.eye(4)
    ])
    assert np.max(np.abs(numeric - grad)) <= 1e-7 * max(1.0, np.max(np.abs(grad)))


def test_shuffled_answers_fail_the_agreement_check():
    config = rlhf.Config(steps=200)
    for shuffle, expect_pass in ((False, True), (True, False)):
        diff, mu, true_diff = _data(seed=3, shuffle=shuffle)
        w_hat, losses = rlhf.fit_reward(diff, mu, config, rlhf.no_progress)
        agreement = np.mean(np.sign(diff @ w_hat) == np.sign(true_diff))
        assert (agreement >= 0.9) == expect_pass, agreement
        assert np.all(np.diff(losses) <= 1e-12)


def test_quick_run_passes():
    result = rlhf.run(rlhf.Config(quick=True, seed=4))
    assert result.passed, [(c.name, c.value) for c in result.checks]
