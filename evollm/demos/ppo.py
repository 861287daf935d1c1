"""PPO: the clipped surrogate objective learns CartPole-v1, in numpy with hand-written backprop.

Proximal Policy Optimization collects a batch with the current policy, then takes several epochs
of minibatch gradient steps on L^CLIP (Eq. 7), which stops rewarding a change of an action's
probability ratio r_t = pi(a|s) / pi_old(a|s) beyond 1 +- epsilon, so many steps on one batch do
not wreck the policy. This is CleanRL's `ppo.py` recipe for CartPole-v1, ported to numpy: separate
actor and critic MLPs (4-64-64, tanh, orthogonal init), 4 environments x 128 steps, GAE
(Eqs. 11-12), per-minibatch advantage normalization, the clipped surrogate with a clipped value
loss and an entropy bonus (Eq. 9), Adam (eps 1e-5) with a learning rate annealed linearly to 0
over 500k steps, and global gradient-norm clipping at 0.5. The gradient of the whole loss is
checked against finite differences. An ablation shows what the clip is for: from one batch, 20
epochs of updates with the clip keep the policy near the one that collected the data, without it
the policy runs away. Then it trains on gymnasium's CartPole-v1 (same-step autoreset, as in
gymnasium 0.29 that CleanRL pins) until the task is solved by its own definition: the mean return
of the last 100 training episodes reaches 475 (within 500k steps).

Paper: Schulman, Wolski, Dhariwal, Radford and Klimov, "Proximal Policy Optimization Algorithms",
arXiv 1707.06347 (GAE: Schulman et al., arXiv 1506.02438).

But: one small discrete-action task; none of the paper's MuJoCo or Atari benchmarks, and no
comparison with the other surrogate objectives of its Table 1. Truncation at 500 steps is treated
as termination (no bootstrapping), as in CleanRL.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import gymnasium as gym
import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting


# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "Clipping the probability ratio lets PPO take many epochs of minibatch steps on "
    "one batch without the policy running away, and the clipped surrogate solves "
    "CartPole-v1."
)
EQUATIONS = (
    "r_t = pi_theta(a_t|s_t) / pi_old(a_t|s_t)  (Eq. 6)",
    "L^CLIP = E_t[min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t)]  (Eq. 7)",
    "L = L^CLIP - c1 L^VF + c2 S[pi]  (Eq. 9)",
    "A_t = delta_t + gamma lambda A_(t+1),  delta_t = r_t + gamma V(s_(t+1)) - V(s_t)  (Eqs. 11-12)",
)


@dataclass
class Config:
    """CleanRL's `ppo.py` defaults for CartPole-v1, plus the stopping rule and the ablation."""

    seed: int = 0
    quick: bool = False  # see QUICK
    total_timesteps: int = setting(
        500_000, "step budget, and the horizon of the learning-rate anneal", low=1)
    learning_rate: float = setting(2.5e-4, "Adam step size at the start", above=0.0)
    anneal_lr: bool = setting(True, "decay the learning rate linearly to 0 over total_timesteps")
    num_envs: int = setting(4, "parallel environments", low=1)
    num_steps: int = setting(128, "steps per environment per rollout (batch = 512)", low=1)
    gamma: float = setting(0.99, "discount", low=0.0, high=1.0)
    gae_lambda: float = setting(0.95, "GAE lambda (Eq. 11)", low=0.0, high=1.0)
    num_minibatches: int = setting(4, "minibatches per epoch (128 samples each)", low=1)
    update_epochs: int = setting(4, "epochs over each batch (K in Algorithm 1)", low=1)
    norm_adv: bool = setting(True, "normalize advantages per minibatch")
    clip_coef: float = setting(0.2, "epsilon of Eq. 7, also used to clip the value loss", above=0.0)
    clip_vloss: bool = setting(True, "clip the value function's change as well")
    ent_coef: float = setting(0.01, "c2 of Eq. 9", low=0.0)
    vf_coef: float = setting(0.5, "c1 of Eq. 9", low=0.0)
    max_grad_norm: float = setting(
        0.5, "global gradient-norm clip over actor and critic", above=0.0)
    adam_eps: float = setting(1e-5, "Adam epsilon (CleanRL's, not torch's default 1e-8)", above=0.0)
    hidden: int = setting(64, "width of both hidden layers of actor and critic", low=1)
    max_timesteps: int = setting(
        500_000, "stop here if not solved (CartPole-v1 within 500k steps)", low=1)
    target_return: float = setting(475.0, "CartPole-v1's reward threshold ...", low=0.0, high=500.0)
    solved_window: int = setting(
        100, "... reached by the mean return of this many last training episodes", low=1)
    ablation_epochs: int = setting(
        20, "clip ablation: epochs on one batch, with and without the clip", low=1)
    ablation_lr: float = setting(
        1e-3, "clip ablation: Adam step size (4x the usual, to show the clip work)", above=0.0)
    grad_check_samples: int = setting(
        16, "batch size of the finite-difference gradient check", low=2)
    grad_check_fraction: float = setting(
        1.0, "share of parameters checked", above=0.0, high=1.0)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        out, batch = [], self.num_envs * self.num_steps
        if batch % self.num_minibatches:
            out.append(f"num_minibatches: {self.num_minibatches} does not divide the batch "
                       f"num_envs x num_steps = {batch}")
        if self.max_timesteps < batch:
            out.append(f"max_timesteps: {self.max_timesteps} is less than one batch ({batch} steps)")
        return out

# --quick: a smaller budget and bar (solving CartPole takes about 250k steps), fewer gradient
# coordinates checked. Applied before --set, so --set wins.
QUICK = {"max_timesteps": 50_000, "target_return": 150.0, "grad_check_fraction": 0.25}


# --- two tanh MLPs with hand-written backprop ------------------------------------------------

def orthogonal(rng: np.random.Generator, n_in: int, n_out: int, gain: float) -> np.ndarray:
    """An (n_in, n_out) matrix with orthonormal rows or columns, times gain (as torch's)."""
    a = rng.standard_normal((max(n_in, n_out), min(n_in, n_out)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))  # make the decomposition unique, so q is uniformly distributed
    return gain * (q if n_in >= n_out else q.T)


def init_mlp(rng: np.random.Generator, sizes: list[int], out_gain: float) -> list[np.ndarray]:
    """[W1, b1, W2, b2, W3, b3]; gain sqrt(2) on hidden layers, out_gain on the last, biases 0."""
    params = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        gain = out_gain if i == len(sizes) - 2 else math.sqrt(2)
        params += [orthogonal(rng, n_in, n_out, gain), np.zeros(n_out)]
    return params


def mlp_forward(params: list[np.ndarray], x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """tanh hidden layers, linear output; returns (output, activations for the backward pass)."""
    activations = [x]
    for i in range(0, len(params) - 2, 2):
        x = np.tanh(x @ params[i] + params[i + 1])  # (B, hidden)
        activations.append(x)
    return x @ params[-2] + params[-1], activations


def mlp_backward(params: list[np.ndarray], activations: list[np.ndarray],
                 d_out: np.ndarray) -> list[np.ndarray]:
    """Gradients of a scalar loss w.r.t. every parameter, given d loss / d output."""
    grads: list[np.ndarray] = [np.empty(0)] * len(params)
    d = d_out  # (B, n_out)
    for layer in range(len(params) // 2 - 1, -1, -1):
        a = activations[layer]  # input of this layer
        grads[2 * layer] = a.T @ d
        grads[2 * layer + 1] = d.sum(axis=0)
        if layer:
            d = (d @ params[2 * layer].T) * (1 - a**2)  # through tanh: 1 - tanh^2
    return grads


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


# --- the PPO loss (Eq. 9) and its gradient ---------------------------------------------------

@dataclass
class Batch:
    obs: np.ndarray  # (B, 4)
    actions: np.ndarray  # (B,)
    logprobs: np.ndarray  # (B,) log pi_old(a|s)
    advantages: np.ndarray  # (B,)
    returns: np.ndarray  # (B,) advantages + old values: the value targets
    values: np.ndarray  # (B,) V_old(s)

    def take(self, idx: np.ndarray) -> "Batch":
        return Batch(self.obs[idx], self.actions[idx], self.logprobs[idx], self.advantages[idx],
                     self.returns[idx], self.values[idx])


def clipped_surrogate(ratio: np.ndarray, adv: np.ndarray,
                      eps: float) -> tuple[np.ndarray, np.ndarray]:
    """-min(r A, clip(r, 1-eps, 1+eps) A) per sample (Eq. 7, negated to minimize) and its
    derivative in log pi(a|s).

    The derivative is -A r where the unclipped branch is the max (or the clip is inactive, where
    both branches agree), and 0 where the clipped, constant branch wins: once r has left the
    band in the direction A favours, the sample stops pushing."""
    unclipped = -adv * ratio
    clipped = -adv * np.clip(ratio, 1 - eps, 1 + eps)
    inside = (ratio > 1 - eps) & (ratio < 1 + eps)
    return (np.maximum(unclipped, clipped),
            np.where((unclipped >= clipped) | inside, -adv * ratio, 0.0))


def ppo_loss(actor: list[np.ndarray], critic: list[np.ndarray], b: Batch, cfg: Config,
             want_grads: bool = True) -> tuple[float, dict[str, float], list[np.ndarray]]:
    """loss = -L^CLIP + c1 L^VF - c2 S (Eq. 9, as a quantity to minimize), its parts, and the
    gradient w.r.t. actor + critic parameters (in that order)."""
    n = len(b.actions)
    eps = cfg.clip_coef
    logits, actor_acts = mlp_forward(actor, b.obs)  # (B, 2)
    logp = log_softmax(logits)  # (B, 2)
    p = np.exp(logp)
    new_logprob = logp[np.arange(n), b.actions]  # (B,)
    entropy = -(p * logp).sum(axis=1)  # (B,)
    ratio = np.exp(new_logprob - b.logprobs)  # r_t(theta), Eq. 6

    adv = b.advantages
    if cfg.norm_adv:
        adv = (adv - adv.mean()) / (adv.std(ddof=1) + 1e-8)
    pg_per_sample, d_pg = clipped_surrogate(ratio, adv, eps)
    pg_loss = pg_per_sample.mean()

    new_value, critic_acts = mlp_forward(critic, b.obs)
    new_value = new_value[:, 0]  # (B,)
    v_unclipped = (new_value - b.returns) ** 2
    if cfg.clip_vloss:
        v_clip = b.values + np.clip(new_value - b.values, -eps, eps)
        v_clipped = (v_clip - b.returns) ** 2
        v_loss = 0.5 * np.maximum(v_unclipped, v_clipped).mean()
    else:
        v_loss = 0.5 * v_unclipped.mean()
    loss = pg_loss - cfg.ent_coef * entropy.mean() + cfg.vf_coef * v_loss

    stats = {"pg_loss": float(pg_loss), "v_loss": float(v_loss), "entropy": float(entropy.mean()),
             "approx_kl": float(((ratio - 1) - (new_logprob - b.logprobs)).mean()),
             "clipfrac": float((np.abs(ratio - 1) > eps).mean())}
    if not want_grads:
        return float(loss), stats, []

    d_logprob = d_pg / n
    onehot = np.zeros_like(p)
    onehot[np.arange(n), b.actions] = 1.0
    d_logits = d_logprob[:, None] * (onehot - p)  # d log pi(a) / d logits = onehot - p
    # Entropy bonus: dS/dlogits = -p (log p + S); the loss has -c2 * mean(S).
    d_logits += cfg.ent_coef / n * p * (logp + entropy[:, None])

    # Value loss: the gradient of whichever branch is larger; the clipped branch is flat
    # outside the band |V - V_old| < eps.
    if cfg.clip_vloss:
        in_band = np.abs(new_value - b.values) < eps
        d_value = np.where(v_unclipped >= v_clipped, 2 * (new_value - b.returns),
                           np.where(in_band, 2 * (v_clip - b.returns), 0.0))
    else:
        d_value = 2 * (new_value - b.returns)
    d_value *= cfg.vf_coef * 0.5 / n
    grads = (mlp_backward(actor, actor_acts, d_logits)
             + mlp_backward(critic, critic_acts, d_value[:, None]))
    return float(loss), stats, grads


def gradient_check(rng: np.random.Generator, cfg: Config) -> float:
    """Relative error ||g_fd - g|| / (||g_fd|| + ||g||) of the full loss over every parameter
    (or a random share of each array), by central differences in float64.

    The old policy is a perturbed copy of the current one, so ratios spread across both clip
    edges and every branch of the loss is exercised."""
    actor = init_mlp(rng, [4, cfg.hidden, cfg.hidden, 2], 1.0)  # larger head: livelier ratios
    critic = init_mlp(rng, [4, cfg.hidden, cfg.hidden, 1], 1.0)
    n = cfg.grad_check_samples
    obs = rng.standard_normal((n, 4))
    old_actor = [w + 0.15 * rng.standard_normal(w.shape) for w in actor]
    old_logp = log_softmax(mlp_forward(old_actor, obs)[0])
    actions = rng.integers(0, 2, n)
    values = mlp_forward(critic, obs)[0][:, 0] + 0.3 * rng.standard_normal(n)
    advantages = rng.standard_normal(n)
    batch = Batch(obs, actions, old_logp[np.arange(n), actions], advantages,
                  advantages + values + 0.5 * rng.standard_normal(n), values)
    _, _, grads = ppo_loss(actor, critic, batch, cfg)
    params = actor + critic
    h = 1e-6
    numeric, analytic = [], []
    for w, g in zip(params, grads):
        coords = list(np.ndindex(w.shape))
        if cfg.grad_check_fraction < 1.0:  # a random subset of every array's coordinates
            keep = max(1, int(len(coords) * cfg.grad_check_fraction))
            coords = [coords[i] for i in rng.choice(len(coords), keep, replace=False)]
        for idx in coords:
            saved = w[idx]
            w[idx] = saved + h
            up = ppo_loss(params[:6], params[6:], batch, cfg, want_grads=False)[0]
            w[idx] = saved - h
            down = ppo_loss(params[:6], params[6:], batch, cfg, want_grads=False)[0]
            w[idx] = saved
            numeric.append((up - down) / (2 * h))  # central difference
            analytic.append(g[idx])
    numeric_flat, analytic_flat = np.array(numeric), np.array(analytic)
    return float(np.linalg.norm(numeric_flat - analytic_flat)
                 / (np.linalg.norm(numeric_flat) + np.linalg.norm(analytic_flat)))


# --- GAE ----------------------------------------------------------------------------------------

def gae(rewards: np.ndarray, values: np.ndarray, dones: np.ndarray, next_value: np.ndarray,
        next_done: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    """GAE by the backward recursion A_t = delta_t + gamma lam (1 - d_{t+1}) A_{t+1} (Eq. 11);
    rewards, values, dones are (T, E): dones[t] says obs t starts a new episode."""
    steps = len(rewards)
    advantages = np.zeros_like(rewards)
    last = np.zeros_like(next_value)
    for t in reversed(range(steps)):
        nonterminal = 1.0 - (next_done if t == steps - 1 else dones[t + 1])
        next_v = next_value if t == steps - 1 else values[t + 1]
        delta = rewards[t] + gamma * next_v * nonterminal - values[t]  # Eq. 12
        advantages[t] = last = delta + gamma * lam * nonterminal * last
    return advantages  # (T, E)


def gae_direct(rewards: np.ndarray, values: np.ndarray, dones: np.ndarray,
               next_value: np.ndarray, next_done: np.ndarray, gamma: float,
               lam: float) -> np.ndarray:
    """The same as the explicit sum A_t = sum_l (gamma lam)^l delta_{t+l} (Eq. 11), cut at the
    episode's end: the naive version the recursion must equal."""
    steps = len(rewards)
    all_values = np.concatenate([values, next_value[None]])  # (T+1, E)
    all_dones = np.concatenate([dones, next_done[None]]).astype(float)  # (T+1, E)
    delta = rewards + gamma * all_values[1:] * (1 - all_dones[1:]) - values  # (T, E)
    advantages = np.zeros_like(rewards)
    for t in range(steps):
        alive = np.ones_like(next_value)
        for lag in range(steps - t):
            advantages[t] += alive * (gamma * lam) ** lag * delta[t + lag]
            alive = alive * (1 - all_dones[t + lag + 1])
    return advantages


# --- training -----------------------------------------------------------------------------------

class Adam:
    def __init__(self, params: list[np.ndarray], eps: float) -> None:
        self.m = [np.zeros_like(w) for w in params]
        self.v = [np.zeros_like(w) for w in params]
        self.t = 0
        self.eps = eps

    def step(self, params: list[np.ndarray], grads: list[np.ndarray], lr: float,
             beta1: float = 0.9, beta2: float = 0.999) -> None:
        self.t += 1
        for w, g, m, v in zip(params, grads, self.m, self.v):
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            m_hat = m / (1 - beta1**self.t)
            v_hat = v / (1 - beta2**self.t)
            w -= lr * m_hat / (np.sqrt(v_hat) + self.eps)


def clip_global_norm(grads: list[np.ndarray], max_norm: float) -> float:
    """Scale all gradients together so their joint norm is at most max_norm (as torch does)."""
    norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
    scale = min(1.0, max_norm / (norm + 1e-6))
    for g in grads:
        g *= scale
    return norm


def sample_actions(rng: np.random.Generator, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample from the categorical policy; returns (actions, their log-probabilities)."""
    logp = log_softmax(logits)  # (E, A)
    cumulative = np.cumsum(np.exp(logp), axis=1)
    actions = (rng.random(len(logits))[:, None] > cumulative[:, :-1]).sum(axis=1)
    return actions, logp[np.arange(len(actions)), actions]


def make_envs(n: int) -> gym.vector.SyncVectorEnv:
    return gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(n)],
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


def explained_variance(predicted: np.ndarray, target: np.ndarray) -> float:
    var = target.var()
    return float("nan") if var == 0 else float(1 - (target - predicted).var() / var)


@dataclass
class Training:
    """What a training run measured."""

    solved_at: int | None  # env steps when the last `solved_window` episodes first averaged >= target
    seconds_to_solve: float | None  # wall-clock seconds of training until then
    steps: int  # env steps run
    seconds: float  # wall-clock seconds of training (information only: no check uses it)
    episode_returns: list[tuple[int, float]]  # (env step at its end, return) per training episode
    history: list[dict[str, float]]  # per iteration: step, clipfrac, approx_kl, window mean
    gae_error: float  # recursion vs explicit sum of Eq. 11, on the first batch


def window_mean(episode_returns: list[tuple[int, float]], window: int) -> float:
    """Mean return of the last `window` training episodes (nan before there are that many)."""
    if len(episode_returns) < window:
        return float("nan")
    return float(np.mean([r for _, r in episode_returns[-window:]]))


def train(cfg: Config, rng: np.random.Generator, progress: Progress) -> Training:
    """CleanRL's training loop, stopped when solved in CartPole-v1's own sense (the mean return
    of the last 100 training episodes reaches 475) or when the step budget runs out."""
    e, t = cfg.num_envs, cfg.num_steps
    batch_size = e * t
    minibatch = batch_size // cfg.num_minibatches
    num_iterations = max(1, cfg.total_timesteps // batch_size)  # the anneal's horizon

    actor = init_mlp(rng, [4, cfg.hidden, cfg.hidden, 2], 0.01)
    critic = init_mlp(rng, [4, cfg.hidden, cfg.hidden, 1], 1.0)
    params = actor + critic
    optimizer = Adam(params, cfg.adam_eps)
    envs = make_envs(e)

    obs_buf = np.zeros((t, e, 4))
    actions_buf = np.zeros((t, e), dtype=np.int64)
    logprobs_buf, rewards_buf, dones_buf, values_buf = (np.zeros((t, e)) for _ in range(4))
    next_obs = envs.reset(seed=int(rng.integers(2**31)))[0].astype(np.float64)
    next_done = np.zeros(e)
    episode_return = np.zeros(e)
    episode_returns: list[tuple[int, float]] = []
    history: list[dict[str, float]] = []
    gae_error = float("nan")
    global_step = 0
    solved_at, seconds_to_solve = None, None
    began = time.perf_counter()

    for iteration in range(1, max(1, cfg.max_timesteps // batch_size) + 1):
        lr = cfg.learning_rate
        if cfg.anneal_lr:
            lr *= max(0.0, 1.0 - (iteration - 1.0) / num_iterations)
        for step in range(t):  # rollout with the current policy
            global_step += e
            obs_buf[step], dones_buf[step] = next_obs, next_done
            logits, _ = mlp_forward(actor, next_obs)
            values_buf[step] = mlp_forward(critic, next_obs)[0][:, 0]
            actions, logprobs = sample_actions(rng, logits)
            actions_buf[step], logprobs_buf[step] = actions, logprobs
            obs, reward, terminated, truncated, _ = envs.step(actions)
            next_obs, next_done = obs.astype(np.float64), (terminated | truncated).astype(float)
            rewards_buf[step] = reward
            episode_return += reward
            for i in np.flatnonzero(next_done):
                episode_returns.append((global_step, float(episode_return[i])))
                episode_return[i] = 0.0

        # GAE over the batch (Eqs. 11-12); the first time, also the explicit sum it must equal.
        next_value = mlp_forward(critic, next_obs)[0][:, 0]
        advantages = gae(rewards_buf, values_buf, dones_buf, next_value, next_done,
                         cfg.gamma, cfg.gae_lambda)
        if iteration == 1:
            direct = gae_direct(rewards_buf, values_buf, dones_buf, next_value, next_done,
                                cfg.gamma, cfg.gae_lambda)
            gae_error = float(np.max(np.abs(direct - advantages)))
        returns = advantages + values_buf
        flat = Batch(obs_buf.reshape(-1, 4), actions_buf.reshape(-1), logprobs_buf.reshape(-1),
                     advantages.reshape(-1), returns.reshape(-1), values_buf.reshape(-1))

        # K epochs of minibatch steps on the same batch (Algorithm 1).
        clipfracs, kls = [], []
        for _ in range(cfg.update_epochs):
            order = rng.permutation(batch_size)
            for start in range(0, batch_size, minibatch):
                idx = order[start : start + minibatch]
                _, stats, grads = ppo_loss(actor, critic, flat.take(idx), cfg)
                clipfracs.append(stats["clipfrac"])
                kls.append(stats["approx_kl"])
                clip_global_norm(grads, cfg.max_grad_norm)
                optimizer.step(params, grads, lr)

        mean = window_mean(episode_returns, cfg.solved_window)
        history.append({"step": global_step, "clipfrac": float(np.mean(clipfracs)),
                        "approx_kl": float(np.mean(kls)), "window_mean": mean,
                        "explained_variance": explained_variance(flat.values, flat.returns),
                        "entropy": stats["entropy"], "learning_rate": lr})
        progress(min(1.0, global_step / cfg.max_timesteps))
        if mean >= cfg.target_return:  # nan (too few episodes yet) compares False
            solved_at, seconds_to_solve = global_step, time.perf_counter() - began
            break

    envs.close()
    return Training(solved_at, seconds_to_solve, global_step, time.perf_counter() - began,
                    episode_returns, history, gae_error)


def clip_ablation(rng: np.random.Generator, cfg: Config) -> dict[str, tuple[float, float]]:
    """Many epochs on one batch, with the clip and without it, from the same start and data.

    One batch is collected by a fresh policy; copies of that policy then take
    `ablation_epochs` epochs of minibatch steps on it at `ablation_lr`, once with clip_coef and
    once with the clip removed (eps = inf). Returns, for "clip" and "no clip", the largest
    ratio pi/pi_old over the batch and the mean KL(pi_old || pi) at its states."""
    actor = init_mlp(rng, [4, cfg.hidden, cfg.hidden, 2], 0.01)
    critic = init_mlp(rng, [4, cfg.hidden, cfg.hidden, 1], 1.0)
    envs = make_envs(cfg.num_envs)
    e, t = cfg.num_envs, cfg.num_steps
    obs = envs.reset(seed=int(rng.integers(2**31)))[0].astype(np.float64)
    done = np.zeros(e)
    bufs = {k: np.zeros((t, e)) for k in ("logp", "reward", "done", "value")}
    obs_buf, act_buf = np.zeros((t, e, 4)), np.zeros((t, e), dtype=np.int64)
    for step in range(t):
        obs_buf[step], bufs["done"][step] = obs, done
        act_buf[step], bufs["logp"][step] = sample_actions(rng, mlp_forward(actor, obs)[0])
        bufs["value"][step] = mlp_forward(critic, obs)[0][:, 0]
        nxt, reward, terminated, truncated, _ = envs.step(act_buf[step])
        obs, done, bufs["reward"][step] = nxt.astype(np.float64), (terminated | truncated).astype(float), reward
    envs.close()
    adv = gae(bufs["reward"], bufs["value"], bufs["done"], mlp_forward(critic, obs)[0][:, 0], done,
              cfg.gamma, cfg.gae_lambda)
    batch = Batch(obs_buf.reshape(-1, 4), act_buf.reshape(-1), bufs["logp"].reshape(-1),
                  adv.reshape(-1), (adv + bufs["value"]).reshape(-1), bufs["value"].reshape(-1))
    n = len(batch.actions)
    old_logp = log_softmax(mlp_forward(actor, batch.obs)[0])  # (B, 2)
    out = {}
    for name, eps in (("clip", cfg.clip_coef), ("no clip", math.inf)):
        run_cfg = replace(cfg, clip_coef=eps)
        a, c = [w.copy() for w in actor], [w.copy() for w in critic]
        params, opt, order_rng = a + c, Adam(a + c, cfg.adam_eps), np.random.default_rng(cfg.seed)
        for _ in range(cfg.ablation_epochs):
            order = order_rng.permutation(n)
            for start in range(0, n, n // cfg.num_minibatches):
                _, _, grads = ppo_loss(a, c, batch.take(order[start : start + n // cfg.num_minibatches]), run_cfg)
                clip_global_norm(grads, cfg.max_grad_norm)
                opt.step(params, grads, cfg.ablation_lr)
        new_logp = log_softmax(mlp_forward(a, batch.obs)[0])
        ratio = np.exp(new_logp[np.arange(n), batch.actions] - batch.logprobs)
        kl = float(np.mean(np.sum(np.exp(old_logp) * (old_logp - new_logp), axis=1)))
        out[name] = (float(ratio.max()), kl)
    return out


def run(config: Config, progress: Progress | None = None) -> Result:
    rng = np.random.default_rng(config.seed)
    report = progress or no_progress
    grad_error = gradient_check(rng, config)
    ablation = clip_ablation(rng, config)
    report(0.03)
    out = train(config, rng, lambda f: report(0.03 + 0.97 * f))
    window, target = config.solved_window, config.target_return
    final_mean = window_mean(out.episode_returns, window)
    last = out.history[-1] if out.history else {}
    eps = config.clip_coef

    checks = [
        check("finite-difference gradient check of the full loss (relative error)", grad_error,
              "<=", 1e-6),
        check("GAE recursion == explicit sum of Eq. 11 (max abs diff)", out.gae_error,
              "<=", 1e-10),
        check(f"clip on, {config.ablation_epochs} epochs on one batch: largest ratio",
              ablation["clip"][0], "<=", 1 + 2.5 * eps),
        check(f"clip on, {config.ablation_epochs} epochs on one batch: KL(pi_old || pi)",
              ablation["clip"][1], "<=", 0.03),
        check("same batch, clip off / clip on: KL(pi_old || pi)",
              ablation["no clip"][1] / max(ablation["clip"][1], 1e-12), ">=", 5.0),
        check(f"mean return of the last {window} training episodes within {config.max_timesteps:,} steps",
              final_mean, ">=", target),
    ]
    steps_per_second = out.steps / out.seconds if out.seconds > 0 else float("nan")
    metrics = {
        "solved (CartPole-v1: last 100 training episodes >= 475)" if (window, target) == (100, 475.0)
        else f"reached last-{window} mean >= {target:g}": out.solved_at is not None,
        "steps_to_solve": out.solved_at,
        "seconds_to_solve": None if out.seconds_to_solve is None else round(out.seconds_to_solve, 2),
        "steps_run": out.steps,
        "env_steps_per_second": round(steps_per_second),
        f"mean_of_last_{window}_training_episodes": final_mean,
        "training_episodes": len(out.episode_returns),
        "ablation_largest_ratio_clip_vs_no_clip": [ablation["clip"][0], ablation["no clip"][0]],
        "ablation_kl_clip_vs_no_clip": [ablation["clip"][1], ablation["no clip"][1]],
        "final_clipfrac": last.get("clipfrac"),
        "final_approx_kl": last.get("approx_kl"),
        "final_explained_variance": last.get("explained_variance"),
        "final_entropy": last.get("entropy"),
        "final_learning_rate": last.get("learning_rate"),
        "gradient_check_relative_error": grad_error,
    }
    steps = [float(h["step"]) for h in out.history]
    charts = [
        Chart("training episode returns vs env steps", "line",
              x=[float(s) for s, _ in out.episode_returns],
              y=[float(v) for _, v in out.episode_returns]),
        Chart(f"mean of the last {window} training episodes, per iteration", "line", x=steps,
              y=[h["window_mean"] if math.isfinite(h["window_mean"]) else 0.0 for h in out.history]),
        Chart("clip fraction per iteration (share of samples with |r - 1| > eps)", "line",
              x=steps, y=[h["clipfrac"] for h in out.history]),
        Chart("approximate KL(pi_old || pi) per iteration", "line", x=steps,
              y=[h["approx_kl"] for h in out.history]),
    ]
    return Result(checks=checks, metrics=metrics, charts=charts)


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
