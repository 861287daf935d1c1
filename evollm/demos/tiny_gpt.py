"""A tiny GPT: a decoder-only transformer trained on next-token prediction, backprop by hand.

GPT-1 (Radford et al., 2018) pre-trained a decoder-only Transformer to predict the next token,
with learned position embeddings and a causal mask, the decoder of "Generating Wikipedia by
Summarizing Long Sequences" (Liu et al., arXiv 1801.10198) built from the attention of Vaswani et
al. (arXiv 1706.03762). This demo trains the smallest such model, one causal attention layer
with token and position embeddings, in numpy with hand-written backprop (checked against finite
differences), on sequences whose second half repeats the first. No statistic of neighbouring
tokens predicts the repeat, so a bigram model stays at ln V nats per token there; attention can
look 7 tokens back and copy. The first half is random, so no causal model can beat ln V on it.

But: one attention layer, one head, no MLP, layer norm or dropout, a synthetic language of 8
tokens, and a few hundred Adam steps; nothing about GPT-1's transfer to downstream tasks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting

# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "A causal self-attention language model, trained by next-token prediction, learns to copy a "
    "repeated sequence: far below the bigram limit of ln V on the repeat, never below ln V on "
    "the random first half, because the mask keeps it from seeing the future."
)
EQUATIONS = (
    "h_0 = U W_e + W_p  (token and position embeddings; GPT-1 Eq. 2)",
    "h_1 = h_0 + softmax(mask(Q K^T / sqrt(d))) V W_o,  Q, K, V = h_0 W_q, h_0 W_k, h_0 W_v",
    "P(u_t | u_<t) = softmax(h_1 W_u);  L = -sum_t log P(u_t | u_<t)  (Eq. 1)",
)


@dataclass
class Config:
    """Settings of the tiny-GPT demo."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    vocab: int = setting(8, "V: tokens of the synthetic language", low=2)
    half: int = setting(8, "tokens before the sequence repeats (sequence length 2 x half)", low=2)
    d_model: int = setting(32, "width of embeddings and attention", low=4)
    steps: int = setting(200, "Adam steps", low=1)
    batch: int = setting(32, "sequences per step", low=1)
    lr: float = setting(3e-3, "Adam learning rate", above=0.0)
    eval_sequences: int = setting(1000, "fresh sequences for the final evaluation", low=10)


# --quick: fewer steps. Applied before --set, so --set wins.
QUICK = {"steps": 150}


def init_params(rng, c: Config) -> dict[str, np.ndarray]:
    def mat(*shape):
        return rng.normal(0.0, 1 / math.sqrt(shape[0]), shape)

    d = c.d_model
    return {"E": rng.normal(0.0, 1.0, (c.vocab, d)), "P": rng.normal(0.0, 1.0, (2 * c.half, d)),
            "Wq": mat(d, d), "Wk": mat(d, d), "Wv": mat(d, d), "Wo": mat(d, d),
            "U": mat(d, c.vocab)}


def sequences(rng, n: int, c: Config) -> np.ndarray:
    """n sequences of 2 x half tokens whose second half repeats the first, (n, 2 half)."""
    first = rng.integers(0, c.vocab, (n, c.half))
    return np.concatenate([first, first], axis=1)


def forward(p, tokens: np.ndarray):
    """Logits (B, T, V) for inputs (B, T), and what backprop needs."""
    t, d = tokens.shape[1], p["E"].shape[1]
    x = p["E"][tokens] + p["P"][:t]  # (B, T, d)
    q, k, v = x @ p["Wq"], x @ p["Wk"], x @ p["Wv"]
    scores = q @ k.transpose(0, 2, 1) / math.sqrt(d)  # (B, T, T)
    scores = np.where(np.tril(np.ones((t, t), dtype=bool)), scores, -np.inf)  # causal
    a = np.exp(scores - scores.max(axis=-1, keepdims=True))
    a /= a.sum(axis=-1, keepdims=True)
    o = a @ v
    h = x + o @ p["Wo"]  # residual
    return h @ p["U"], (x, q, k, v, a, o, h)


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def loss_and_grads(p, tokens: np.ndarray):
    """Mean next-token cross-entropy over every position, its gradients, and per-position
    losses (B, T-1)."""
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    logits, (x, q, k, v, a, o, h) = forward(p, inputs)
    logp = log_softmax(logits)
    per_token = -np.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]  # (B, T-1)
    n, d = targets.size, x.shape[-1]
    d_logits = np.exp(logp)
    np.put_along_axis(d_logits, targets[..., None],
                      np.take_along_axis(d_logits, targets[..., None], axis=-1) - 1, axis=-1)
    d_logits /= n
    g = {"U": np.einsum("btd,btv->dv", h, d_logits)}
    d_h = d_logits @ p["U"].T
    d_x = d_h.copy()  # the residual path
    g["Wo"] = np.einsum("btd,bte->de", o, d_h)
    d_o = d_h @ p["Wo"].T
    d_a = d_o @ v.transpose(0, 2, 1)
    d_v = a.transpose(0, 2, 1) @ d_o
    d_scores = a * (d_a - np.sum(d_a * a, axis=-1, keepdims=True))  # softmax backward
    d_q = d_scores @ k / math.sqrt(d)
    d_k = d_scores.transpose(0, 2, 1) @ q / math.sqrt(d)
    for name, grad in (("Wq", d_q), ("Wk", d_k), ("Wv", d_v)):
        g[name] = np.einsum("btd,bte->de", x, grad)
    d_x += d_q @ p["Wq"].T + d_k @ p["Wk"].T + d_v @ p["Wv"].T
    g["E"] = np.zeros_like(p["E"])
    np.add.at(g["E"], inputs, d_x)
    g["P"] = np.zeros_like(p["P"])
    g["P"][: inputs.shape[1]] = d_x.sum(axis=0)
    return float(per_token.mean()), g, per_token


def gradient_check(rng, p, tokens, per_array: int = 8, h: float = 1e-6) -> float:
    """Relative error of the hand-written gradients against central differences, on random
    entries of every parameter array."""
    _, grads, _ = loss_and_grads(p, tokens)
    numeric, analytic = [], []
    for name, w in p.items():
        for flat in rng.choice(w.size, min(per_array, w.size), replace=False):
            idx = np.unravel_index(flat, w.shape)
            saved = w[idx]
            w[idx] = saved + h
            up = loss_and_grads(p, tokens)[0]
            w[idx] = saved - h
            down = loss_and_grads(p, tokens)[0]
            w[idx] = saved
            numeric.append((up - down) / (2 * h))
            analytic.append(grads[name][idx])
    numeric, analytic = np.array(numeric), np.array(analytic)
    return float(np.linalg.norm(numeric - analytic) / (np.linalg.norm(numeric) + np.linalg.norm(analytic)))


def train(p, rng, c: Config, report: Progress) -> list[float]:
    m = {k: np.zeros_like(v) for k, v in p.items()}
    s = {k: np.zeros_like(v) for k, v in p.items()}
    losses = []
    for step in range(1, c.steps + 1):
        loss, g, _ = loss_and_grads(p, sequences(rng, c.batch, c))
        losses.append(loss)
        for k in p:
            m[k] = 0.9 * m[k] + 0.1 * g[k]
            s[k] = 0.999 * s[k] + 0.001 * g[k] ** 2
            p[k] -= c.lr * (m[k] / (1 - 0.9**step)) / (np.sqrt(s[k] / (1 - 0.999**step)) + 1e-8)
        if step % 25 == 0:
            report(step / c.steps)
    return losses


def run(config: Config, progress: Progress | None = None) -> Result:
    report = progress or no_progress
    c = config
    rng = np.random.default_rng(c.seed)
    p = init_params(rng, c)
    grad_error = gradient_check(rng, p, sequences(rng, 4, c))

    losses = train(p, rng, c, lambda f: report(0.9 * f))

    # Evaluation on fresh sequences. Target position j (predicted from position j - 1): the
    # first half (j < half) is random, the second half repeats.
    tokens = sequences(rng, c.eval_sequences, c)
    _, _, per_token = loss_and_grads(p, tokens)  # (n, 2 half - 1)
    first_half = float(per_token[:, : c.half - 1].mean())
    repeat = float(per_token[:, c.half - 1 :].mean())
    ln_v = math.log(c.vocab)
    logits, (_, _, _, _, attention, _, _) = forward(p, tokens[:, :-1])
    copied = float(np.mean(np.argmax(logits[:, c.half - 1 :], axis=-1) == tokens[:, c.half :]))
    # Query position i >= half - 1 predicts token i + 1 == token i + 1 - half: where it looks.
    rows = np.arange(c.half - 1, 2 * c.half - 1)
    look_back = float(attention[:, rows, rows + 1 - c.half].mean())

    # Causality: change the token at position j; no logit before j moves.
    changed = tokens[:, :-1].copy()
    j = 2 * c.half - 2  # the last input position: every earlier logit is checked
    changed[:, j] = (changed[:, j] + 1) % c.vocab
    moved = np.abs(forward(p, changed)[0] - logits)
    leak = float(moved[:, :j].max())
    report(1.0)

    checks = [
        check("hand-written backprop vs finite differences (relative error)", grad_error,
              "<=", 1e-6),
        check("causal: logits before a changed token move (max abs)", leak, "==", 0.0),
        check("loss on the repeat, nats / ln V (bigram limit 1; copy learned << 1)",
              repeat / ln_v, "<=", 0.25),
        check("loss on the random first half, nats / ln V (no causal model beats 1)",
              first_half / ln_v, ">=", 0.97),
        check("greedy next token right on the repeat", copied, ">=", 0.9),
        check(f"attention from the repeat to the token {c.half - 1} back (mean weight)",
              look_back, ">=", 0.5),
    ]
    return Result(
        checks=checks,
        metrics={
            "ln_V": ln_v,
            "loss_first_half": first_half,
            "loss_repeat": repeat,
            "greedy_copy_accuracy": copied,
            "attention_to_source": look_back,
            "training_loss_first_last": [losses[0], losses[-1]],
            "parameters": int(sum(w.size for w in p.values())),
        },
        charts=[
            Chart("training loss (all positions) per step", "line",
                  x=[float(i) for i in range(len(losses))], y=losses),
            Chart("attention of the last query over the positions (mean over sequences)", "bars",
                  labels=[str(i) for i in range(2 * c.half - 1)],
                  y=[float(w) for w in attention[:, -1].mean(axis=0)]),
        ],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
