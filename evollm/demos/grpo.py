"""Group relative policy optimization on a verifiable toy task: two-digit addition.

Shows GRPO from "DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open Language
Models" (Shao et al., 2024, arXiv 2402.03300). For each question the policy samples a group of G
answers; each answer's advantage is its reward normalised by the group's mean and standard
deviation (outcome supervision, Sec. 4.1.2), so no value network is needed. The policy ascends the
clipped objective of eq. 3 with the per-token KL estimator of eq. 4 to a frozen reference. The task:
given a and b in 0..9, write a + b as two digit tokens (tens, units); reward 1 if exactly right.
The uniform initial policy answers right 1% of the time; GRPO drives it above 95%.

But: the "language model" is a table of next-token logits per context (question, or question and
first token), so nothing generalises between questions; answers have a fixed length of two tokens;
and the update is plain gradient ascent, where the paper uses AdamW on a 7B model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting

N_QUESTIONS = 100  # all pairs (a, b) with a, b in 0..9
VOCAB = 10  # digit tokens
ANSWER_LEN = 2  # tokens per answer: tens digit, then units digit
# Context ids of the table policy: question q for the first token, then 100 + 10 q + first token.
N_CONTEXTS = N_QUESTIONS + N_QUESTIONS * VOCAB


# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "Group-normalised rewards replace the value network; the clip bounds each update "
    "and the KL term holds the policy near the reference."
)
EQUATIONS = (
    "A_i = (r_i - mean(r)) / std(r) within a group of G answers  (Sec. 4.1.2)",
    "J = E[1/G sum_i 1/|o_i| sum_t min(rho A_i, clip(rho, 1-eps, 1+eps) A_i) - beta D_KL]  (Eq. 3)",
    "D_KL = pi_ref/pi_theta - log(pi_ref/pi_theta) - 1  (Eq. 4)",
)


@dataclass
class Config:
    """Hyper-parameters of GRPO (DeepSeekMath Sec. 4.2 values where they apply)."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    group_size: int = setting(64, "G: answers sampled per question (the paper's 64)", low=2)
    questions_per_step: int = setting(
        16, "16 x 64 = 1024 answers per step, the paper's batch size", low=2, high=100)
    steps: int = setting(400, "exploration stages (sample, then update)", low=1)
    inner_updates: int = setting(
        2, "mu: policy updates per sampled batch (the ratio leaves 1 after the first)", low=1)
    clip_eps: float = setting(0.2, "epsilon of the clipped ratio", above=0.0, below=1.0)
    kl_coef: float = setting(0.04, "beta, the paper's KL coefficient", low=0.0)
    learning_rate: float = setting(
        50.0, "plain gradient-ascent step on J (J averages over the 1024 answers)", above=0.0)
    snapshot_step: int = setting(
        60, "the ablations start from the policy after this many steps", low=0)
    ablation_updates: int = setting(10, "updates on one batch in the clip and KL ablations", low=1)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        return ([f"snapshot_step: {self.snapshot_step} must be below steps = {self.steps}"]
                if self.snapshot_step >= self.steps else [])

# --quick: fewer steps. Applied before --set, so --set wins.
QUICK = {"steps": 250}


def targets() -> np.ndarray:
    """The right answer of every question as tokens (tens, units), shape (100, 2)."""
    a, b = np.divmod(np.arange(N_QUESTIONS), VOCAB)
    return np.stack([(a + b) // 10, (a + b) % 10], axis=1)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def sample_answers(rng, theta, questions):
    """Sample one answer per entry of `questions`; (tokens, contexts), each (n, 2)."""
    n = len(questions)
    tokens = np.zeros((n, ANSWER_LEN), dtype=int)
    contexts = np.zeros((n, ANSWER_LEN), dtype=int)
    for t in range(ANSWER_LEN):
        contexts[:, t] = questions if t == 0 else N_QUESTIONS + questions * VOCAB + tokens[:, 0]
        p = np.exp(log_softmax(theta[contexts[:, t]]))  # (n, V)
        tokens[:, t] = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return tokens, contexts


def group_advantages(rewards: np.ndarray) -> np.ndarray:
    """A_i = (r_i - mean(r)) / std(r) within each group (row); 0 where a group's rewards are equal.

    rewards: (n_groups, G). std is the population std (ddof 0); TRL uses ddof 1 plus 1e-4."""
    mean = rewards.mean(axis=1, keepdims=True)
    std = rewards.std(axis=1, keepdims=True)
    return np.where(std > 0, (rewards - mean) / np.where(std > 0, std, 1.0), 0.0)


def clipped_surrogate(ratio: np.ndarray, adv: np.ndarray, clip_eps: float):
    """min(rho A, clip(rho, 1 - eps, 1 + eps) A) per token (eq. 3), and its derivative in log pi.

    d(rho A) / d log pi = rho A; where the clipped branch is the smaller one it is constant in
    theta, so the derivative there is 0. Returns (value, derivative, clipped?)."""
    clipped = np.clip(ratio, 1 - clip_eps, 1 + clip_eps)
    unclipped = ratio * adv <= clipped * adv
    value = np.minimum(ratio * adv, clipped * adv)
    return value, np.where(unclipped, ratio * adv, 0.0), ~unclipped


def kl_estimate(log_p_tok: np.ndarray, log_ref: np.ndarray):
    """Eq. 4's per-token KL estimator pi_ref/pi - log(pi_ref/pi) - 1 (unbiased, always >= 0)
    and its derivative in log pi, 1 - pi_ref/pi."""
    log_ref_over_p = log_ref - log_p_tok
    value = np.exp(log_ref_over_p) - log_ref_over_p - 1
    return value, 1 - np.exp(log_ref_over_p)


def grpo_objective(theta, theta_old, theta_ref, contexts, tokens, advantages, clip_eps, kl_coef):
    """Eq. 3, the GRPO objective to maximise, and its gradient in theta split in two parts.

    contexts, tokens: (n, L) for n = groups x G answers; advantages: (n,), the same for every
    token of an answer. Returns (J, grad_surrogate, grad_kl, clipped fraction), grads (contexts, V)."""
    n, L = tokens.shape
    ctx, tok = contexts.reshape(-1), tokens.reshape(-1)  # (n L,)
    adv = np.repeat(advantages, L)  # (n L,)
    rows = np.arange(n * L)
    log_p = log_softmax(theta[ctx])  # (n L, V)
    log_p_tok = log_p[rows, tok]
    log_old = log_softmax(theta_old[ctx])[rows, tok]
    log_ref = log_softmax(theta_ref[ctx])[rows, tok]
    ratio = np.exp(log_p_tok - log_old)  # rho = pi_theta / pi_old
    surrogate, d_surrogate, clipped = clipped_surrogate(ratio, adv, clip_eps)
    kl, d_kl = kl_estimate(log_p_tok, log_ref)
    # J = (1/n_groups) sum_groups (1/G) sum_i (1/|o_i|) sum_t [...]; n = n_groups G, |o_i| = L.
    weight = 1.0 / (n * L)
    objective = weight * np.sum(surrogate - kl_coef * kl)

    # d/dlogits of log pi(tok) is onehot(tok) - pi, times each part's derivative in log pi.
    # Sampled on-policy, the KL part is the gradient of KL(pi_ref || pi_theta), which keeps some
    # mass on every answer: expected accuracy levels off just below 1 while greedy reaches 1.
    p = np.exp(log_p)
    grads = []
    for coef in (weight * d_surrogate, weight * (-kl_coef) * d_kl):
        per_token = -coef[:, None] * p  # (n L, V)
        per_token[rows, tok] += coef
        grad = np.zeros_like(theta)
        np.add.at(grad, ctx, per_token)  # contexts repeat within a group
        grads.append(grad)
    return float(objective), grads[0], grads[1], float(np.mean(clipped))


def gradient_check(rng, theta, theta_old, theta_ref, contexts, tokens, advantages, clip_eps,
                   kl_coef, n_coords: int = 60, h: float = 1e-6) -> float:
    """Relative error of grpo_objective's gradient against central differences of J, on random
    entries of the rows the batch touches (elsewhere both are 0)."""
    args = (theta_old, theta_ref, contexts, tokens, advantages, clip_eps, kl_coef)
    _, g_surr, g_kl, _ = grpo_objective(theta, *args)
    rows = rng.choice(np.unique(contexts), n_coords)
    cols = rng.integers(VOCAB, size=n_coords)
    numeric, analytic = [], []
    for r, c in zip(rows, cols):
        up, down = theta.copy(), theta.copy()
        up[r, c] += h
        down[r, c] -= h
        numeric.append((grpo_objective(up, *args)[0] - grpo_objective(down, *args)[0]) / (2 * h))
        analytic.append(g_surr[r, c] + g_kl[r, c])
    numeric, analytic = np.array(numeric), np.array(analytic)
    return float(np.linalg.norm(numeric - analytic)
                 / (np.linalg.norm(numeric) + np.linalg.norm(analytic)))


def policy_kl(theta, theta_base, rows) -> float:
    """Mean over `rows` (contexts) of KL(pi_theta || pi_base) of the next-token distributions."""
    log_p, log_base = log_softmax(theta[rows]), log_softmax(theta_base[rows])
    return float(np.mean(np.sum(np.exp(log_p) * (log_p - log_base), axis=1)))


def ablation(theta_start, theta_ref, contexts, tokens, advantages, config, clip_eps, kl_coef,
             updates: int):
    """`updates` gradient steps on one sampled batch from theta_start (which sampled it);
    (largest rho, KL to the sampling policy, KL to the reference) over the batch's contexts."""
    theta = theta_start.copy()
    for _ in range(updates):
        _, g_surr, g_kl, _ = grpo_objective(theta, theta_start, theta_ref, contexts, tokens,
                                            advantages, clip_eps, kl_coef)
        theta = theta + config.learning_rate * (g_surr + g_kl)
    ctx, tok = contexts.reshape(-1), tokens.reshape(-1)
    rows = np.arange(len(ctx))
    ratio = np.exp(log_softmax(theta[ctx])[rows, tok] - log_softmax(theta_start[ctx])[rows, tok])
    used = np.unique(ctx)
    return float(ratio.max()), policy_kl(theta, theta_start, used), policy_kl(theta, theta_ref, used)


def answer_log_probs(theta: np.ndarray) -> np.ndarray:
    """log pi(answer | question) for all 100 questions x 100 two-token answers, shape (100, V, V)."""
    first = log_softmax(theta[:N_QUESTIONS])  # (Q, V)
    second = log_softmax(theta[N_QUESTIONS:]).reshape(N_QUESTIONS, VOCAB, VOCAB)  # (Q, first, second)
    return first[:, :, None] + second


def evaluate(theta, theta_ref, answers):
    """(expected accuracy when sampling, greedy accuracy, mean KL(pi_theta || pi_ref) per question)."""
    q = np.arange(N_QUESTIONS)
    log_pi = answer_log_probs(theta)
    sampled = float(np.mean(np.exp(log_pi[q, answers[:, 0], answers[:, 1]])))
    first = theta[q].argmax(axis=1)
    second = theta[N_QUESTIONS + q * VOCAB + first].argmax(axis=1)
    greedy = float(np.mean((first == answers[:, 0]) & (second == answers[:, 1])))
    kl = float(np.mean(np.sum(np.exp(log_pi) * (log_pi - answer_log_probs(theta_ref)), axis=(1, 2))))
    return sampled, greedy, kl


def train(config: Config, rng, progress: Progress):
    """Run GRPO; (theta, theta_ref, history, largest |group mean| and |group std - 1| seen,
    theta after `snapshot_step` steps)."""
    answers = targets()
    theta = np.zeros((N_CONTEXTS, VOCAB))  # uniform initial policy
    theta_ref = theta.copy()  # the frozen reference is the initial policy
    history = {"sampled": [], "greedy": [], "kl": [], "zero_signal": [], "clipped": []}
    worst_mean, worst_std = 0.0, 0.0
    G, n_q = config.group_size, config.questions_per_step
    snapshot = theta.copy()
    for step in range(config.steps):
        if step == config.snapshot_step:
            snapshot = theta.copy()
        questions = rng.choice(N_QUESTIONS, size=n_q, replace=False)
        theta_old = theta.copy()
        tokens, contexts = sample_answers(rng, theta_old, np.repeat(questions, G))
        rewards = np.all(tokens == answers[np.repeat(questions, G)], axis=1).astype(float).reshape(n_q, G)
        adv = group_advantages(rewards)  # (n_q, G)
        informative = rewards.std(axis=1) > 0
        if informative.any():
            worst_mean = max(worst_mean, float(np.abs(adv[informative].mean(axis=1)).max()))
            worst_std = max(worst_std, float(np.abs(adv[informative].std(axis=1) - 1).max()))
        for _ in range(config.inner_updates):
            _, g_surr, g_kl, clipped = grpo_objective(theta, theta_old, theta_ref, contexts, tokens,
                                                      adv.reshape(-1), config.clip_eps, config.kl_coef)
            theta = theta + config.learning_rate * (g_surr + g_kl)
        sampled, greedy, kl = evaluate(theta, theta_ref, answers)
        for key, value in (("sampled", sampled), ("greedy", greedy), ("kl", kl),
                           ("zero_signal", float(np.mean(~informative))), ("clipped", clipped)):
            history[key].append(value)
        if step % 20 == 0:
            progress(step / config.steps)
    return theta, theta_ref, history, worst_mean, worst_std, snapshot


def run(config: Config, progress: Progress | None = None) -> Result:
    progress = progress or no_progress
    rng = np.random.default_rng(config.seed)
    answers = targets()
    initial_sampled, _, _ = evaluate(np.zeros((N_CONTEXTS, VOCAB)), np.zeros((N_CONTEXTS, VOCAB)), answers)

    theta, theta_ref, history, worst_mean, worst_std, snapshot = train(config, rng, progress)

    # Ablations on one batch sampled by a half-trained policy, with everything else equal:
    # (a) the clip keeps the new policy near the one that sampled (without it, many updates on
    # one batch run away); (b) the KL term pulls towards the reference (without it, further).
    questions = rng.choice(N_QUESTIONS, size=config.questions_per_step, replace=False)
    batch_q = np.repeat(questions, config.group_size)
    tokens, contexts = sample_answers(rng, snapshot, batch_q)
    rewards = np.all(tokens == answers[batch_q], axis=1).astype(float)
    adv = group_advantages(rewards.reshape(len(questions), -1)).reshape(-1)
    n_up, eps, beta = config.ablation_updates, config.clip_eps, config.kl_coef
    ratio_clip, kl_old_clip, kl_ref_clip = ablation(snapshot, theta_ref, contexts, tokens, adv,
                                                    config, eps, beta, n_up)
    ratio_free, kl_old_free, _ = ablation(snapshot, theta_ref, contexts, tokens, adv, config,
                                          np.inf, beta, n_up)
    _, _, kl_ref_no_kl = ablation(snapshot, theta_ref, contexts, tokens, adv, config, eps, 0.0,
                                  n_up)
    # The hand-written gradient, where every branch is live: theta away from theta_old (so rho
    # != 1 and some tokens are clipped) and from the reference.
    moved = snapshot + rng.normal(scale=0.3, size=snapshot.shape)
    grad_error = gradient_check(rng, moved, snapshot, theta_ref, contexts, tokens, adv, eps, beta)

    # A group whose rewards are all equal: advantages are 0, so the policy-gradient part of the
    # update is exactly zero, away from the reference and with rho != 1.
    question = rng.integers(N_QUESTIONS, size=1)
    tokens, contexts = sample_answers(rng, theta, np.repeat(question, config.group_size))
    adv = group_advantages(np.ones((1, config.group_size))).reshape(-1)
    theta_moved = theta + rng.normal(scale=0.1, size=theta.shape)
    _, g_surr, _, _ = grpo_objective(theta_moved, theta, theta_ref, contexts, tokens, adv,
                                     config.clip_eps, config.kl_coef)
    zero_group_grad = float(np.abs(g_surr).max())

    first_95 = next((i + 1 for i, v in enumerate(history["sampled"]) if v >= 0.95), None)
    metrics = {
        "answers per step": config.group_size * config.questions_per_step,
        "chance accuracy": 1 / VOCAB**ANSWER_LEN,
        "initial expected accuracy": initial_sampled,
        "final greedy accuracy": history["greedy"][-1],
        "first step with expected accuracy >= 0.95": first_95 if first_95 is not None else "never",
        "final KL(pi_theta || pi_ref)": history["kl"][-1],
        "groups with all-equal rewards, first / last step": [history["zero_signal"][0], history["zero_signal"][-1]],
        "clipped fraction of tokens in the last inner update (mean)": float(np.mean(history["clipped"])),
        "ablation, largest rho with / without clip": [ratio_clip, ratio_free],
        "ablation, KL(pi || pi_old) with / without clip": [kl_old_clip, kl_old_free],
        "ablation, KL(pi || pi_ref) with / without the KL term": [kl_ref_clip, kl_ref_no_kl],
    }
    progress(1.0)
    steps = [float(i + 1) for i in range(config.steps)]
    return Result(
        checks=[
            check("finite-difference check of eq. 3's gradient (relative error)", grad_error,
                  "<=", 1e-6),
            check("max |mean| of group advantages", worst_mean, "<=", 1e-12),
            check("max |std - 1| of group advantages", worst_std, "<=", 1e-12),
            check("max |policy gradient| from an all-equal group", zero_group_grad, "==", 0.0),
            check("initial expected accuracy (chance 1%)", initial_sampled, "<=", 0.011),
            check("final expected accuracy when sampling", history["sampled"][-1], ">=", 0.95),
            check("final greedy accuracy", history["greedy"][-1], ">=", 0.95),
            check(f"clip on, {n_up} updates on one batch: largest rho", ratio_clip,
                  "<=", 1 + 5 * eps),
            check(f"clip on, {n_up} updates on one batch: KL(pi || pi_old)", kl_old_clip,
                  "<=", 0.02),
            check("same batch, clip off / clip on: KL(pi || pi_old)", kl_old_free / kl_old_clip,
                  ">=", 3.0),
            check("same batch, KL term on minus off: KL(pi || pi_ref)",
                  kl_ref_clip - kl_ref_no_kl, "<", 0.0),
        ],
        metrics=metrics,
        charts=[
            Chart("expected accuracy per step", "line", x=steps, y=history["sampled"]),
            Chart("KL(pi_theta || pi_ref) per step", "line", x=steps, y=history["kl"]),
            Chart("fraction of groups with all-equal rewards (no signal)", "line", x=steps, y=history["zero_signal"]),
        ],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
