"""Speculative decoding: a cheap draft model proposes tokens, the target model verifies them at once.

Shows the algorithm of "Fast Inference from Transformers via Speculative Decoding" (Leviathan,
Kalman and Matias, arXiv 2211.17192). The draft model q proposes gamma tokens one by one; the
target model p scores all gamma + 1 prefixes in a single call; draft token x is kept with
probability min(1, p(x)/q(x)), the first rejected one is replaced by a sample from
norm(max(0, p - q)), and if all are kept a bonus token comes from p. The output is distributed
exactly as sampling from p alone, yet each target call yields (1 - a^(gamma+1)) / (1 - a) tokens
on average, where a = sum_x min(p(x), q(x)) is the acceptance rate. At temperature 0 the same
rule makes the output equal to the target's greedy decoding.

The models are toy language models over a small vocabulary: the target looks at the last two
tokens (a table of logits per context), the draft only at the last one. Many sequences are decoded
at once with numpy, one row per sequence, so hundreds of thousands of tokens take a second.

But: the models are tables, not transformers, so there is no wall-clock speed-up to measure here;
target calls are counted instead. The expected speed-up for a draft/target cost ratio c is
computed from the paper's formula, not timed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting


# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "Drafting gamma tokens with a small model and verifying them in one target call "
    "gives exactly the target's distribution, with (1 - a^(gamma+1)) / (1 - a) tokens "
    "per call."
)
EQUATIONS = (
    "accept x ~ q with probability min(1, p(x) / q(x))",
    "on rejection sample p'(x) = norm(max(0, p(x) - q(x)))",
    "E[tokens per target call] = (1 - alpha^(gamma+1)) / (1 - alpha)  (Eq. 1)",
)


@dataclass
class Config:
    """Settings of the speculative-decoding demo."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    vocab: int = setting(
        32, "vocabulary of the context-free pair (p, q) used for the TV and speed checks", low=2)
    context_vocab: int = setting(
        16, "vocabulary of the context-dependent toy language models", low=2)
    gamma: int = setting(4, "draft tokens per target call", low=1)
    gammas: tuple[int, ...] = setting(
        (1, 2, 4, 8), "gammas whose tokens per call are compared with the formula", low=1)
    samples: int = setting(
        1_000_000, "tokens sampled per gamma for the context-free checks", low=1000)
    sequences: int = setting(
        400_000, "sequences decoded for the context-dependent check", low=1000)
    positions: int = setting(6, "first positions whose marginal distribution is checked", low=1)
    greedy_length: int = setting(300, "tokens decoded greedily per prompt", low=1)
    greedy_prompts: int = setting(32, "prompts decoded greedily", low=1)
    cost_ratio: float = setting(
        0.05, "c, draft cost / target cost, for the expected speed-up (eq. in 3.4)",
        above=0.0, high=1.0)


# --quick: fewer samples. Applied before --set, so --set wins.
QUICK = {"samples": 200_000, "sequences": 100_000}


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def distribution(logits: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / T); at T = 0 the one-hot of the argmax (greedy decoding)."""
    if temperature == 0:
        return np.eye(logits.shape[-1])[np.argmax(logits, axis=-1)]
    return softmax(logits / temperature)


def sample(probs: np.ndarray, rng: np.random.Generator, cdf: np.ndarray | None = None):
    """One token per row of probs (B, V), by inverse CDF; a one-hot row always gives its argmax."""
    cdf = np.cumsum(probs, axis=-1) if cdf is None else cdf  # (B, V)
    u = rng.random((probs.shape[0], 1)) * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=-1), probs.shape[-1] - 1)


class TableLM:
    """A toy LM: next-token logits from a table indexed by the last one or two tokens."""

    def __init__(self, logits: np.ndarray, temperature: float):
        self.table = logits  # (V, V, V) for two tokens of context, (V, V) for one, (V,) for none
        self.temperature = temperature
        self.p = distribution(logits, temperature)  # next-token distribution of every context
        self.cdf = np.cumsum(self.p, axis=-1)

    def lookup(self, table: np.ndarray, prev2: np.ndarray, prev1: np.ndarray) -> np.ndarray:
        if table.ndim == 3:
            return table[prev2, prev1]
        if table.ndim == 2:
            return table[prev1]
        return np.broadcast_to(table, (prev1.shape[0], table.shape[0]))

    def probs(self, prev2: np.ndarray, prev1: np.ndarray) -> np.ndarray:  # (B,) -> (B, V)
        return self.lookup(self.p, prev2, prev1)

    def sample(self, prev2: np.ndarray, prev1: np.ndarray, rng) -> np.ndarray:  # (B,) -> (B,)
        return sample(self.probs(prev2, prev1), rng, self.lookup(self.cdf, prev2, prev1))


def speculative_round(target: TableLM, draft: TableLM, prev2, prev1, gamma: int, rng):
    """One draft-then-verify step (Algorithm 1) for B sequences at once.

    Returns the draft tokens (B, gamma), how many of them were accepted n (B,), and the extra
    token (B,) sampled from the residual at the first rejection, or from p when all were kept.
    """
    n_seq = prev1.shape[0]
    drafts = np.empty((n_seq, gamma), dtype=np.int64)
    q = np.empty((n_seq, gamma, target.table.shape[-1]))
    a, b = prev2, prev1
    for j in range(gamma):  # the draft runs autoregressively, gamma cheap calls
        q[:, j] = draft.probs(a, b)
        drafts[:, j] = draft.sample(a, b, rng)
        a, b = b, drafts[:, j]
    # The target scores all gamma + 1 prefixes in one (parallel) call.
    ctx2 = np.concatenate([prev2[:, None], prev1[:, None], drafts[:, :-1]], axis=1)  # (B, gamma+1)
    ctx1 = np.concatenate([prev1[:, None], drafts], axis=1)  # (B, gamma+1)
    p = target.probs(ctx2.ravel(), ctx1.ravel()).reshape(n_seq, gamma + 1, -1)  # (B, gamma+1, V)

    rows = np.arange(n_seq)[:, None]
    p_x = p[rows, np.arange(gamma), drafts]  # (B, gamma) p_i(x_i)
    q_x = q[rows, np.arange(gamma), drafts]  # (B, gamma) q_i(x_i)
    # keep x with probability min(1, p(x)/q(x)); written as r * q < p to avoid dividing by 0
    accepted = rng.random((n_seq, gamma)) * q_x < p_x
    n = np.cumprod(accepted, axis=1).sum(axis=1)  # (B,) leading accepted drafts

    # p'(x) = norm(max(0, p_{n+1}(x) - q_{n+1}(x))) at the first rejection, else p_{gamma+1}
    p_next = p[np.arange(n_seq), n]  # (B, V)
    q_next = np.concatenate([q, np.zeros_like(q[:, :1])], axis=1)[np.arange(n_seq), n]  # (B, V)
    residual = np.maximum(p_next - q_next, 0.0)
    extra = sample(np.where((n < gamma)[:, None], residual, p_next), rng)
    return drafts, n, extra


def speculative_decode(target, draft, prompts: np.ndarray, min_new: int, gamma: int, rng):
    """Decode B sequences until each has at least min_new new tokens.

    Returns (the first min_new new tokens (B, min_new), mean target calls per sequence, the
    accepted-draft count of every round).
    """
    n_seq = prompts.shape[0]
    cap = 2 + min_new + gamma + 1
    tokens = np.zeros((n_seq, cap), dtype=np.int64)
    tokens[:, :2] = prompts
    length = np.full(n_seq, 2)
    calls, accepted_counts = 0, []
    rows = np.arange(n_seq)
    while length.min() < 2 + min_new:
        live = rows[length < 2 + min_new]  # finished sequences stop calling the target
        drafts, n, extra = speculative_round(target, draft, tokens[live, length[live] - 2],
                                             tokens[live, length[live] - 1], gamma, rng)
        offsets = np.arange(gamma)[None, :]
        keep = offsets < n[:, None]
        pos = length[live][:, None] + offsets
        tokens[np.broadcast_to(live[:, None], keep.shape)[keep], pos[keep]] = drafts[keep]
        tokens[live, length[live] + n] = extra
        length[live] += n + 1
        accepted_counts.append(n)
        calls += live.size
    return tokens[:, 2 : 2 + min_new], calls / n_seq, np.concatenate(accepted_counts)


def greedy_decode(target: TableLM, prompts: np.ndarray, length: int) -> np.ndarray:
    """The target alone, one call per token: x_t = argmax p(. | x_<t)."""
    a, b = prompts[:, 0], prompts[:, 1]
    out = np.empty((prompts.shape[0], length), dtype=np.int64)
    for t in range(length):
        out[:, t] = np.argmax(target.table[a, b], axis=-1)
        a, b = b, out[:, t]
    return out


def exact_marginals(target: TableLM, prompt: tuple[int, int], positions: int) -> np.ndarray:
    """P(x_t = v) for t = 1..positions under the target alone, by propagating P(x_{t-1}, x_t)."""
    v = target.table.shape[-1]
    p = target.p  # (V, V, V): p(c | a, b)
    joint = np.zeros((v, v))
    joint[prompt] = 1.0  # P(x_{-1}, x_0)
    out = []
    for _ in range(positions):
        joint = np.einsum("ab,abc->bc", joint, p)  # P(x_t, x_{t+1})
        out.append(joint.sum(axis=0))
    return np.array(out)  # (positions, V)


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    return float(0.5 * np.abs(p - q).sum(axis=-1).max())


def expected_tokens_per_call(alpha: float, gamma: int) -> float:
    """E[tokens per target call] = (1 - a^(gamma+1)) / (1 - a)  (Leviathan et al., eq. 1)."""
    return (1 - alpha ** (gamma + 1)) / (1 - alpha)


def expected_speedup(alpha: float, gamma: int, c: float) -> float:
    """Expected wall-time improvement (1 - a^(gamma+1)) / ((1 - a)(gamma c + 1))  (Theorem 3.8)."""
    return expected_tokens_per_call(alpha, gamma) / (gamma * c + 1)


def context_free_pair(rng, v: int):
    """p and q over V tokens that agree on most of their mass (acceptance rate about 0.8)."""
    logits = rng.normal(0, 1.5, v)
    return TableLM(logits, 1.0), TableLM(logits + rng.normal(0, 0.5, v), 1.0)


def context_models(rng, v: int, temperature: float):
    """A target that reads two tokens of context and a draft that reads one."""
    bigram = rng.normal(0, 2.0, (v, v))  # (V, V) what the previous token says
    trigram = bigram[None, :, :] + rng.normal(0, 0.7, (v, v, v))  # (V, V, V) plus the one before
    draft = bigram + rng.normal(0, 0.3, (v, v))
    return TableLM(trigram, temperature), TableLM(draft, temperature)


def run(config: Config, progress: Progress | None = None) -> Result:
    report = progress or no_progress
    rng = np.random.default_rng(config.seed)
    samples, sequences = config.samples, config.sequences

    # 1. Temperature 0: speculative output == the target's greedy output, token for token.
    target0, draft0 = context_models(rng, config.context_vocab, 0.0)
    prompts = rng.integers(0, config.context_vocab, (config.greedy_prompts, 2))
    greedy = greedy_decode(target0, prompts, config.greedy_length)
    spec, calls, _ = speculative_decode(target0, draft0, prompts, config.greedy_length,
                                        config.gamma, rng)
    mismatches = int(np.sum(spec[:, : config.greedy_length] != greedy))
    report(0.1)

    # 2. Temperature 1, context-free p and q: the output histogram is p; tokens per call follow
    #    the formula. Each sequence is one row; tokens pooled over rows and rounds.
    p_model, q_model = context_free_pair(rng, config.vocab)
    p, q = p_model.p, q_model.p
    alpha = float(np.minimum(p, q).sum())  # a = sum_x min(p(x), q(x)) = 1 - TV(p, q)
    gammas = sorted(set(config.gammas) | {config.gamma})
    per_call, theory = [], []
    for i, gamma in enumerate(gammas):
        expected = expected_tokens_per_call(alpha, gamma)
        n_rows = max(1, int(samples / expected / 8))  # 8 rounds per row on average
        prompt = np.zeros((n_rows, 2), dtype=np.int64)
        tokens, _, accepted = speculative_decode(p_model, q_model, prompt, int(8 * expected),
                                                 gamma, rng)
        per_call.append(float(np.mean(accepted + 1)))
        theory.append(expected)
        if gamma == config.gamma:
            counts = np.bincount(tokens.ravel(), minlength=config.vocab)  # fixed positions
            tv_iid = total_variation(counts / counts.sum(), p)
            n_tokens = int(counts.sum())
        report(0.1 + 0.5 * (i + 1) / len(gammas))
    rel_error = max(abs(e - t) / t for e, t in zip(per_call, theory))
    # Noise floor: the same number of tokens drawn straight from p.
    direct = np.bincount(rng.choice(config.vocab, size=n_tokens, p=p), minlength=config.vocab)
    tv_floor = total_variation(direct / direct.sum(), p)

    # 3. Temperature 1, context-dependent models: the marginal of each of the first positions.
    target1, draft1 = context_models(rng, config.context_vocab, 1.0)
    prompt = tuple(int(t) for t in rng.integers(0, config.context_vocab, 2))
    starts = np.tile(np.array(prompt), (sequences, 1))
    tokens, _, accepted_ctx = speculative_decode(target1, draft1, starts, config.positions,
                                                 config.gamma, rng)
    exact = exact_marginals(target1, prompt, config.positions)  # (positions, V)
    empirical = np.stack([np.bincount(tokens[:, t], minlength=config.context_vocab) / sequences
                          for t in range(config.positions)])
    tv_context = total_variation(empirical, exact)
    report(1.0)

    return Result(
        checks=[
            check(f"T=0: tokens differing from target greedy ({config.greedy_prompts} x "
                  f"{config.greedy_length})", mismatches, "==", 0),
            check(f"T=1: TV(output, p), {n_tokens:,} tokens", tv_iid, "<=", 0.01),
            check(f"T=1, 2-token context: max TV of the first {config.positions} marginals",
                  tv_context, "<=", 0.01),
            check("tokens per target call vs (1-a^(g+1))/(1-a), max relative error",
                  rel_error, "<=", 0.03),
        ],
        metrics={
            "acceptance_rate_alpha": alpha,
            "tv_noise_floor_same_sample_size": tv_floor,
            "tv_if_drafts_always_accepted": 1.0 - alpha,  # the output would then follow q
            "gammas": gammas,
            "tokens_per_call_measured": per_call,
            "tokens_per_call_formula": theory,
            "expected_speedup_at_gamma": expected_speedup(alpha, config.gamma, config.cost_ratio),
            "greedy_target_calls_plain": config.greedy_length,
            "greedy_target_calls_speculative": calls,
            "context_model_tokens_per_call": float(np.mean(accepted_ctx + 1)),
        },
        charts=[
            Chart("tokens per target call vs gamma (measured)", "line",
                  x=[float(g) for g in gammas], y=per_call),
            Chart(f"first new token under speculative decoding (TV to the target: {tv_context:.4f})",
                  "bars", y=[float(v) for v in empirical[0]],
                  labels=[str(v) for v in range(config.context_vocab)]),
        ],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
