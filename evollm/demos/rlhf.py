"""A reward model learned from pairwise preferences over trajectory segments (Bradley-Terry).

Shows the reward-learning half of "Deep Reinforcement Learning from Human Preferences"
(Christiano et al., 2017, arXiv 1706.03741): a synthetic oracle compares two short segments by
their hidden return, answering at random 10% of the time; a reward model r_hat is fitted so that
the preference probability exp(sum r_hat) / (exp(sum r_hat) + exp(sum r_hat')) explains the answers.
On held-out pairs, r_hat orders segments like the true return and correlates with the true
per-step reward, although it never saw a single reward value.

But: the reward model is linear in known per-step features and fitted once, offline, by full-batch
gradient descent; there is no policy, no RL loop, no ensemble, no active choice of queries and no
reward normalisation, all of which the paper has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting


# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "A reward model fitted only to noisy pairwise preferences recovers the ordering "
    "and the per-step values of the hidden reward."
)
EQUATIONS = (
    "P[sigma1 > sigma2] = exp(sum r(o1)) / (exp(sum r(o1)) + exp(sum r(o2)))  (Eq. 1)",
    "loss = -sum mu(1) log P[1 > 2] + mu(2) log P[2 > 1], with 10% uniform answers mixed in",
)


@dataclass
class Config:
    """Hyper-parameters of the synthetic preference data and of the fit."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    n_features: int = setting(8, "F: per-step observation features", low=1)
    segment_len: int = setting(
        25, "k: steps per segment (the paper's clips are 1-2 s of behaviour)", low=1)
    n_train: int = setting(3000, "labelled segment pairs used for fitting", low=2)
    n_test: int = setting(1000, "held-out segment pairs", low=2)
    reward_std: float = setting(
        0.2, "std of the true per-step reward; sets how noisy the oracle is", above=0.0)
    random_answer: float = setting(
        0.1, "the paper's assumed 10% chance that the answer is uniform", low=0.0, below=1.0)
    steps: int = setting(500, "full-batch gradient-descent steps", low=1)
    learning_rate: float = setting(
        0.5, "step size, in units of 1 / (largest curvature of the loss)", above=0.0)


# --quick: fewer pairs and steps. Applied before --set, so --set wins.
QUICK = {"n_train": 1000, "n_test": 500, "steps": 200}


def make_segments(rng: np.random.Generator, n_pairs: int, length: int, n_features: int) -> np.ndarray:
    """Pairs of segments of per-step features, shape (n_pairs, 2, length, F).

    Observations follow an AR(1) walk, so the steps of a segment are correlated like a trajectory."""
    shocks = rng.normal(size=(n_pairs, 2, length, n_features))
    obs = np.empty_like(shocks)
    obs[:, :, 0] = shocks[:, :, 0]
    for t in range(1, length):
        obs[:, :, t] = 0.8 * obs[:, :, t - 1] + 0.6 * shocks[:, :, t]  # stationary, unit variance
    return obs


def preference_probability(return_1: np.ndarray, return_2: np.ndarray, random_answer: float) -> np.ndarray:
    """P[segment 1 preferred] (eq. 1), mixed with a uniform answer with prob. `random_answer`."""
    bradley_terry = 1.0 / (1.0 + np.exp(-(return_1 - return_2)))
    return random_answer / 2 + (1 - random_answer) * bradley_terry


def bt_loss_and_grad(w: np.ndarray, diff: np.ndarray, mu: np.ndarray, random_answer: float):
    """Mean cross-entropy between the answers mu = mu(1) and P_hat, and its gradient in w.

    diff: (n, F), the first segment's summed features minus the second's, so that
    sum_t r_hat(o1_t) - sum_t r_hat(o2_t) = diff @ w for the linear r_hat(o) = w . o."""
    z = diff @ w  # (n,) return difference under r_hat
    s = 1.0 / (1.0 + np.exp(-z))
    p = random_answer / 2 + (1 - random_answer) * s  # P_hat[1 > 2]
    loss = -np.mean(mu * np.log(p) + (1 - mu) * np.log(1 - p))
    dloss_dp = -(mu / p - (1 - mu) / (1 - p))
    dp_dz = (1 - random_answer) * s * (1 - s)
    grad = diff.T @ (dloss_dp * dp_dz) / len(z)  # (F,)
    return float(loss), grad


def gradient_check(rng: np.random.Generator, diff: np.ndarray, mu: np.ndarray,
                   random_answer: float, h: float = 1e-6) -> float:
    """Relative error ||g_fd - g|| / (||g_fd|| + ||g||) of bt_loss_and_grad's gradient against
    central differences of its loss, at a random w (not 0, where the loss is flat-ish)."""
    w = rng.normal(size=diff.shape[1]) / np.sqrt(np.mean(diff**2) * diff.shape[1])
    _, grad = bt_loss_and_grad(w, diff, mu, random_answer)
    numeric = np.zeros_like(w)
    for i in range(len(w)):
        step = np.zeros_like(w)
        step[i] = h
        numeric[i] = (bt_loss_and_grad(w + step, diff, mu, random_answer)[0]
                      - bt_loss_and_grad(w - step, diff, mu, random_answer)[0]) / (2 * h)
    return float(np.linalg.norm(numeric - grad) / (np.linalg.norm(numeric) + np.linalg.norm(grad)))


def fit_reward(diff: np.ndarray, mu: np.ndarray, config: Config, progress: Progress) -> tuple[np.ndarray, list[float]]:
    """Fit the linear reward by gradient descent on the preference loss; (w_hat, loss per step)."""
    # The curvature of -log(sigmoid) is at most 1/4, so 1/(1/4 * lambda_max(diff' diff / n)) is a
    # safe reference step; a fraction of it makes every step decrease the loss.
    curvature = 0.25 * np.linalg.eigvalsh(diff.T @ diff / len(diff))[-1]
    step = config.learning_rate / curvature
    w = np.zeros(diff.shape[1])
    losses = []
    for i in range(config.steps):
        loss, grad = bt_loss_and_grad(w, diff, mu, config.random_answer)
        losses.append(loss)
        w -= step * grad
        if i % 100 == 0:
            progress(i / config.steps)
    losses.append(bt_loss_and_grad(w, diff, mu, config.random_answer)[0])
    return w, losses


def run(config: Config, progress: Progress | None = None) -> Result:
    progress = progress or no_progress
    rng = np.random.default_rng(config.seed)
    F, k = config.n_features, config.segment_len

    # The hidden per-step reward r(o) = w . o, scaled so that r has std `reward_std`.
    w_true = rng.normal(size=F)
    w_true *= config.reward_std / np.linalg.norm(w_true)

    def labelled_pairs(n: int):
        segments = make_segments(rng, n, k, F)  # (n, 2, k, F)
        feature_sums = segments.sum(axis=2)  # (n, 2, F): returns are linear in these
        true_returns = feature_sums @ w_true  # (n, 2)
        p_first = preference_probability(true_returns[:, 0], true_returns[:, 1], config.random_answer)
        mu = (rng.random(n) < p_first).astype(float)  # the oracle's answer: 1 if segment 1 preferred
        return segments, feature_sums[:, 0] - feature_sums[:, 1], true_returns, mu

    _, diff_train, _, mu_train = labelled_pairs(config.n_train)
    segs_test, diff_test, returns_test, mu_test = labelled_pairs(config.n_test)

    # The hand-written gradient of the preference loss against finite differences: a wrong
    # scale or a dropped factor still descends, and still ranks segments well, so only this
    # check sees it.
    grad_error = gradient_check(rng, diff_train[:500], mu_train[:500], config.random_answer)
    w_hat, losses = fit_reward(diff_train, mu_train, config, progress)

    # Held out: does r_hat order segments like the true return, and track the per-step reward?
    predicted_diff = diff_test @ w_hat
    true_diff = returns_test[:, 0] - returns_test[:, 1]
    agreement = float(np.mean(np.sign(predicted_diff) == np.sign(true_diff)))
    steps_test = segs_test.reshape(-1, F)  # (n_test * 2 * k, F)
    corr = float(np.corrcoef(steps_test @ w_hat, steps_test @ w_true)[0, 1])
    # Ceiling for the noisy labels: how often the Bayes-optimal guess (the true ordering) is right.
    label_accuracy_ceiling = float(np.mean((true_diff > 0) == (mu_test == 1)))
    label_accuracy = float(np.mean((predicted_diff > 0) == (mu_test == 1)))

    increases = int(np.sum(np.diff(losses) > 1e-12))  # beyond round-off, once converged
    progress(1.0)
    return Result(
        checks=[
            check("finite-difference check of the preference loss's gradient (relative error)",
                  grad_error, "<=", 1e-6),
            check("held-out agreement with the true-return ordering", agreement, ">=", 0.9),
            check("corr(r_hat, r) per step, held out", corr, ">=", 0.9),
            check("final / initial preference loss", losses[-1] / losses[0], "<", 1.0),
            check("gradient steps that raised the loss by > 1e-12", increases, "==", 0),
        ],
        metrics={
            "training pairs": config.n_train,
            "initial loss (ln 2)": losses[0],
            "final loss": losses[-1],
            "held-out label accuracy of r_hat": label_accuracy,
            "held-out label accuracy of the true reward (ceiling)": label_accuracy_ceiling,
            "cos(w_hat, w_true)": float(w_hat @ w_true / np.linalg.norm(w_hat) / np.linalg.norm(w_true)),
            "|w_hat| / |w_true|": float(np.linalg.norm(w_hat) / np.linalg.norm(w_true)),
        },
        charts=[
            Chart("preference loss per gradient step", "line",
                  x=[float(i) for i in range(len(losses))], y=[float(v) for v in losses]),
            Chart("true vs learned per-step reward weights", "bars",
                  labels=[f"w{i} {kind}" for i in range(F) for kind in ("true", "learned")],
                  y=[float(v) for pair in zip(w_true, w_hat) for v in pair]),
        ],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
