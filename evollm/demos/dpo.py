"""Direct preference optimization of a log-linear policy on synthetic preferences.

Shows the core of "Direct Preference Optimization: Your Language Model is Secretly a Reward Model"
(Rafailov et al., 2023, arXiv 2305.18290): the policy is trained straight on preference pairs with
the DPO loss (eq. 7), without fitting a reward model or running RL, and the implicit reward
beta * log(pi_theta / pi_ref) it ends with tracks the hidden reward that generated the preferences.
The loss starts at ln 2 (pi_theta = pi_ref) and falls, and the policy moves towards the
KL-regularised optimum pi_ref * exp(r / beta) / Z of eq. 4.

But: prompts and responses are rows of a table with fixed random features, the policy is
log-linear in them (so the true reward is realisable), and it is trained by full-batch gradient
descent; there is no language model, no tokens, no SFT stage and no sampling from the trained policy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting


# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "The DPO loss trains the policy directly from preferences; its implicit reward "
    "beta log pi / pi_ref recovers the true reward."
)
EQUATIONS = (
    "L_DPO = -E log sigma(beta log pi(y_w|x)/pi_ref(y_w|x) - beta log pi(y_l|x)/pi_ref(y_l|x))  (Eq. 7)",
    "grad = -beta E[sigma(r_hat_l - r_hat_w) (grad log pi(y_w|x) - grad log pi(y_l|x))]  (Sec. 4)",
)


@dataclass
class Config:
    """Hyper-parameters of the preference data and of DPO."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    n_prompts: int = setting(50, "prompts x", low=1)
    n_responses: int = setting(8, "candidate responses y per prompt", low=3)
    n_features: int = setting(16, "F: features phi(x, y) of the log-linear policy", low=1)
    n_pairs: int = setting(2000, "preference pairs (x, y_w, y_l)", low=2)
    beta: float = setting(0.1, "KL strength of eq. 3 (the paper's and TRL's default)", above=0.0)
    steps: int = setting(300, "full-batch gradient-descent steps", low=1)
    learning_rate: float = setting(
        0.1, "step size, in units of 1 / (largest curvature of the loss)", above=0.0)


# --quick: fewer steps. Applied before --set, so --set wins.
QUICK = {"steps": 100}


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log softmax of (P, Y) logits."""
    top = logits.max(axis=1, keepdims=True)
    return logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))


def log_policy(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """log pi_theta(y | x) of the log-linear policy softmax_y(phi(x, y) . theta), shape (P, Y)."""
    return log_softmax(phi @ theta)


def dpo_loss_and_grad(theta, theta_ref, phi, prompts, winners, losers, beta):
    """The DPO loss of eq. 7 on pairs (prompts[i], winners[i] > losers[i]), and its gradient in theta.

    Gradient (Sec. 4): -beta E[ sigma(r_hat_l - r_hat_w) (grad log pi(y_w|x) - grad log pi(y_l|x)) ],
    with grad log pi(y|x) = phi(x, y) - E_{y' ~ pi(.|x)} phi(x, y')."""
    log_pi, log_ref = log_policy(theta, phi), log_policy(theta_ref, phi)  # (P, Y)
    implicit = beta * (log_pi - log_ref)  # (P, Y): r_hat(x, y) = beta log pi/pi_ref
    margin = implicit[prompts, winners] - implicit[prompts, losers]  # (n,)
    loss = float(np.mean(np.logaddexp(0.0, -margin)))  # -log sigma(margin)
    weight = 1.0 / (1.0 + np.exp(margin))  # sigma(r_hat_l - r_hat_w): large when the pair is ranked wrongly
    pi = np.exp(log_pi)  # (P, Y)
    mean_phi = np.einsum("py,pyf->pf", pi, phi)  # (P, F): E_pi phi(x, .)
    grad_w = phi[prompts, winners] - mean_phi[prompts]  # (n, F)
    grad_l = phi[prompts, losers] - mean_phi[prompts]
    grad = -beta * (weight[:, None] * (grad_w - grad_l)).mean(axis=0)  # (F,)
    return loss, grad


def kl(log_p: np.ndarray, log_q: np.ndarray) -> float:
    """Mean over prompts of KL(p || q) between per-prompt distributions given as logs, (P, Y)."""
    return float(np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=1)))


def sample_pairs(rng, log_ref, reward, n_pairs):
    """(prompts, winners, losers): two distinct responses drawn from pi_ref, labelled by eq. 1."""
    P, Y = log_ref.shape
    prompts = rng.integers(P, size=n_pairs)
    # The two largest of log pi_ref + Gumbel noise are a draw of two responses without replacement.
    keys = log_ref[prompts] + rng.gumbel(size=(n_pairs, Y))
    first, second = np.argsort(-keys, axis=1)[:, :2].T
    p_first = 1.0 / (1.0 + np.exp(-(reward[prompts, first] - reward[prompts, second])))  # Bradley-Terry, eq. 1
    first_wins = rng.random(n_pairs) < p_first
    return prompts, np.where(first_wins, first, second), np.where(first_wins, second, first)


def per_prompt_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of a[x, :] and b[x, :] for each prompt x, shape (P,)."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))


def run(config: Config, progress: Progress | None = None) -> Result:
    progress = progress or no_progress
    rng = np.random.default_rng(config.seed)
    P, Y, F, beta = config.n_prompts, config.n_responses, config.n_features, config.beta

    phi = rng.normal(size=(P, Y, F))  # features of every (prompt, response)
    w_true = rng.normal(size=F) / math.sqrt(F)
    reward = phi @ w_true  # (P, Y): the hidden reward, std about 1
    theta_ref = rng.normal(size=F) / math.sqrt(F)  # a reference (SFT) policy, not uniform
    log_ref = log_policy(theta_ref, phi)
    log_optimal = log_softmax(log_ref + reward / beta)  # eq. 4: pi* = pi_ref exp(r / beta) / Z(x)

    prompts, winners, losers = sample_pairs(rng, log_ref, reward, config.n_pairs)

    # Curvature of the loss is at most beta^2/4 * lambda_max(mean d d^T), d = phi_w - phi_l
    # (the log-partition terms cancel within a prompt), so this step never overshoots.
    d = phi[prompts, winners] - phi[prompts, losers]
    step = config.learning_rate / (beta**2 / 4 * np.linalg.eigvalsh(d.T @ d / len(d))[-1])

    theta = theta_ref.copy()  # DPO starts from the reference policy
    losses, kls = [], []
    for i in range(config.steps + 1):
        loss, grad = dpo_loss_and_grad(theta, theta_ref, phi, prompts, winners, losers, beta)
        losses.append(loss)
        kls.append(kl(log_optimal, log_policy(theta, phi)))
        if i < config.steps:
            theta = theta - step * grad
        if i % 50 == 0:
            progress(i / config.steps)

    implicit = beta * (log_policy(theta, phi) - log_ref)  # (P, Y)
    corr = per_prompt_correlation(implicit, reward)

    # The same gradient by central differences, at a point away from theta_ref.
    probe = theta_ref + rng.normal(size=F)
    _, analytic = dpo_loss_and_grad(probe, theta_ref, phi, prompts, winners, losers, beta)
    eps = 1e-6
    numeric = np.array([
        (dpo_loss_and_grad(probe + eps * e, theta_ref, phi, prompts, winners, losers, beta)[0]
         - dpo_loss_and_grad(probe - eps * e, theta_ref, phi, prompts, winners, losers, beta)[0]) / (2 * eps)
        for e in np.eye(F)
    ])
    grad_error = float(np.max(np.abs(numeric - analytic)) / np.max(np.abs(analytic)))

    def ranked_right(score):  # share of training pairs whose winner has the higher score
        return float(np.mean(score[prompts, winners] > score[prompts, losers]))

    progress(1.0)
    shown = int(np.argmin(np.abs(corr - np.median(corr))))  # a typical prompt
    # Rewards are identified only up to a per-prompt constant: show both centred.
    true_shown, implicit_shown = reward[shown] - reward[shown].mean(), implicit[shown] - implicit[shown].mean()
    return Result(
        checks=[
            check("|initial loss - ln 2|", abs(losses[0] - math.log(2)), "<=", 1e-12),
            check("final / initial DPO loss", losses[-1] / losses[0], "<", 1.0),
            check("mean per-prompt corr(beta log pi/pi_ref, r)", float(corr.mean()), ">=", 0.9),
            check("gradient vs finite differences (rel. error)", grad_error, "<=", 1e-7),
            check("KL(pi* || pi_theta) final / initial", kls[-1] / kls[0], "<", 1.0),
        ],
        metrics={
            "preference pairs": config.n_pairs,
            "beta": beta,
            "initial loss": losses[0],
            "final loss": losses[-1],
            "worst per-prompt correlation": float(corr.min()),
            "pairs ranked right by the implicit reward": ranked_right(implicit),
            "pairs ranked right by the true reward (ceiling)": ranked_right(reward),
            "KL(pi* || pi_ref)": kls[0],
            "KL(pi* || pi_theta)": kls[-1],
            "KL(pi_theta || pi_ref)": kl(log_policy(theta, phi), log_ref),
        },
        charts=[
            Chart("DPO loss per step (starts at ln 2)", "line", x=[float(i) for i in range(len(losses))], y=losses),
            Chart("KL(pi* || pi_theta) per step", "line", x=[float(i) for i in range(len(kls))], y=kls),
            Chart(f"prompt {shown}: centred true reward vs implicit reward per response", "bars",
                  labels=[f"y{j} {kind}" for j in range(Y) for kind in ("true", "implicit")],
                  y=[float(v) for pair in zip(true_shown, implicit_shown) for v in pair]),
        ],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
