"""A tiny GPT: a decoder-only transformer trained on shipped text, every gradient by hand.

GPT-1 (Radford et al., 2018) pre-trained a decoder-only Transformer to predict the next token of
ordinary text, with a causal mask so that no position sees the future. This demo trains a small
one of today's shape on a few kilobytes of plain English shipped with evollm, one character per
token: token embeddings; blocks of causal multi-head attention with rotary position embeddings
(RoPE, arXiv 2104.09864) and a SwiGLU feed-forward (arXiv 2002.05202), each behind an RMSNorm
(arXiv 1910.07467) on a residual path; a final RMSNorm and an output matrix. It is trained with
AdamW (decoupled weight decay, arXiv 1711.05101) under a linear warm-up and a cosine decay. The
backward pass of every part is written out and checked, for the whole model, against finite
differences. Then: does it learn? Its loss on held-out text must fall below that of the best
character bigram model fitted to the same training text, and the text it samples after training
must be more likely, under that bigram model of the text, than what it sampled before training.

Paper: Radford, Narasimhan, Salimans and Sutskever, "Improving Language Understanding by
Generative Pre-Training" (2018); the block as in LLaMA, Touvron et al., arXiv 2302.13971.

But: a model of some 10^4 parameters trained for seconds on 12 KB of text learns spelling and
common words, not sentences, and trained much longer it memorizes the text (the held-out loss
rises again). Characters, not BPE tokens; no
dropout, no KV cache, no mixed precision, no gradient clipping; nothing of GPT-1's fine-tuning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting

# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "A decoder-only transformer (RoPE, causal attention, RMSNorm, SwiGLU) with hand-written "
    "backprop, checked against finite differences, trained by AdamW with warm-up and cosine decay "
    "on shipped text, ends below the best bigram model's held-out loss, and its samples become "
    "far more likely under a bigram model of the text than before training."
)
EQUATIONS = (
    "x_0 = E[u];  x += Wo attn(RMSNorm(x));  x += W2 (silu(W1 n) * W3 n), n = RMSNorm(x);  "
    "logits = Wout RMSNorm(x)",
    "RMSNorm(x) = g * x / sqrt(mean(x^2) + eps);  attn = softmax(mask(R_m q . R_n k / sqrt(d_h))) v",
    "L = -(1/N) sum_t log P(u_t | u_<t)  (GPT-1 Eq. 1);  bigram baseline: P(u_t | u_(t-1))",
    "AdamW: w -= lr (m_hat / (sqrt(v_hat) + eps) + lambda w);  lr: linear warm-up, then cosine "
    "to min_lr",
)

TEXT = "harbour.txt"  # under evollm/demos/data: plain English written for evollm


@dataclass
class Config:
    """Settings of the tiny-GPT demo."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    d_model: int = setting(32, "width of embeddings and residual stream", low=4)
    layers: int = setting(2, "transformer blocks", low=1, high=8)
    heads: int = setting(2, "attention heads per block", low=1)
    context: int = setting(64, "characters the model sees at once", low=4, high=512)
    batch: int = setting(16, "sequences per step", low=1)
    steps: int = setting(600, "AdamW steps", low=10)
    warmup: int = setting(50, "steps of linear learning-rate warm-up", low=1)
    lr: float = setting(6e-3, "peak learning rate", above=0.0, high=1.0)
    min_lr: float = setting(6e-4, "learning rate at the end of the cosine decay", low=0.0)
    weight_decay: float = setting(0.1, "AdamW's decoupled weight decay (matrices only)", low=0.0,
                                  high=1.0)
    holdout: float = setting(0.12, "share of the text held out (its end) for evaluation",
                             low=0.05, below=0.5)
    samples: int = setting(8, "sequences sampled before and after training", low=1)
    sample_len: int = setting(120, "characters per sample", low=8)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        out = []
        if self.d_model % self.heads or (self.d_model // self.heads) % 2:
            out.append(f"heads: d_model / heads = {self.d_model}/{self.heads} must be an even "
                       "integer (RoPE rotates pairs)")
        if self.warmup >= self.steps:
            out.append(f"warmup: {self.warmup} must be below steps = {self.steps}")
        if self.min_lr > self.lr:
            out.append(f"min_lr: {self.min_lr:g} must not exceed lr = {self.lr:g}")
        return out


# --quick: a one-block model, a shorter context and a few hundred steps. Applied before --set.
QUICK = {"layers": 1, "context": 32, "batch": 8, "steps": 300, "warmup": 30, "samples": 4,
         "sample_len": 80}


# --- the text, its characters, and the bigram baseline ------------------------------------------------

def load_text() -> str:
    return (resources.files("evollm.demos") / "data" / TEXT).read_text(encoding="utf-8")


def encode(text: str) -> tuple[np.ndarray, list[str]]:
    """Character ids (sorted alphabet) and the alphabet."""
    alphabet = sorted(set(text))
    index = {ch: i for i, ch in enumerate(alphabet)}
    return np.array([index[ch] for ch in text]), alphabet


def bigram_logprobs(ids: np.ndarray, vocab: int, smoothing: float) -> np.ndarray:
    """log P(next | previous) from counts plus `smoothing` in every cell, (V, V)."""
    counts = np.full((vocab, vocab), smoothing)
    np.add.at(counts, (ids[:-1], ids[1:]), 1.0)
    return np.log(counts / counts.sum(axis=1, keepdims=True))


def windows(ids: np.ndarray, context: int) -> np.ndarray:
    """The ids cut into non-overlapping windows of context + 1 (inputs and shifted targets)."""
    n = (len(ids) - 1) // context
    return np.stack([ids[i * context : i * context + context + 1] for i in range(n)])


# --- the model's parts, each with its backward pass ---------------------------------------------------

def init_params(rng, c: Config, vocab: int, dtype=np.float32) -> dict[str, np.ndarray]:
    """Normal init scaled by 1/sqrt(fan_in); residual outputs also by 1/sqrt(2 layers); gains 1."""
    d, f = c.d_model, ffn_width(c.d_model)

    def mat(n_in, n_out, extra=1.0):
        return rng.normal(0.0, extra / math.sqrt(n_in), (n_in, n_out))

    p = {"emb": rng.normal(0.0, 1.0, (vocab, d))}
    for layer in range(c.layers):
        out_scale = 1 / math.sqrt(2 * c.layers)
        p |= {f"{layer}.g1": np.ones(d), f"{layer}.wq": mat(d, d), f"{layer}.wk": mat(d, d),
              f"{layer}.wv": mat(d, d), f"{layer}.wo": mat(d, d, out_scale),
              f"{layer}.g2": np.ones(d), f"{layer}.w1": mat(d, f), f"{layer}.w3": mat(d, f),
              f"{layer}.w2": mat(f, d, out_scale)}
    p |= {"gf": np.ones(d), "head": mat(d, vocab)}
    return {k: v.astype(dtype) for k, v in p.items()}


def ffn_width(d: int) -> int:
    """SwiGLU's hidden width: 2/3 of 4 d (LLaMA), rounded up to a multiple of 8."""
    return 8 * math.ceil(8 * d / 3 / 8)


def rmsnorm(x: np.ndarray, g: np.ndarray, eps: float = 1e-6):
    r = 1 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    return x * r * g, (x, r, g)


def rmsnorm_backward(dy: np.ndarray, cache):
    """dx = r (dy g) - r^3 x mean(dy g x), dg = sum over tokens of dy x r."""
    x, r, g = cache
    dxhat = dy * g
    dx = r * dxhat - r**3 * x * np.mean(dxhat * x, axis=-1, keepdims=True)
    return dx, np.sum(dy * x * r, axis=tuple(range(dy.ndim - 1)))


def rope_tables(t: int, d_head: int, dtype, base: float = 10000.0):
    """cos and sin of m theta_i for positions m < t and pairs i < d_head / 2, (t, d_head / 2)."""
    theta = base ** (-2.0 * np.arange(d_head // 2) / d_head)
    angles = np.outer(np.arange(t), theta)
    return np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)


def rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotate the pairs (x_i, x_(i + d/2)) of (..., T, d_head) by the angle of their position."""
    half = x.shape[-1] // 2
    a, b = x[..., :half], x[..., half:]
    return np.concatenate([a * cos - b * sin, a * sin + b * cos], axis=-1)


def rope_backward(dy: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """A rotation's gradient is the inverse rotation: R^T dy."""
    half = dy.shape[-1] // 2
    da, db = dy[..., :half], dy[..., half:]
    return np.concatenate([da * cos + db * sin, -da * sin + db * cos], axis=-1)


def split_heads(x: np.ndarray, heads: int) -> np.ndarray:
    b, t, d = x.shape
    return x.reshape(b, t, heads, d // heads).transpose(0, 2, 1, 3)  # (B, H, T, d_head)


def merge_heads(x: np.ndarray) -> np.ndarray:
    b, h, t, dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, t, h * dh)


def attention(n: np.ndarray, p, layer: int, heads: int, cos, sin):
    """Causal multi-head self-attention with RoPE on queries and keys; (B, T, d)."""
    t, d_head = n.shape[1], n.shape[2] // heads
    q, k, v = (split_heads(n @ p[f"{layer}.{w}"], heads) for w in ("wq", "wk", "wv"))
    qr, kr = rope(q, cos, sin), rope(k, cos, sin)
    scores = qr @ kr.transpose(0, 1, 3, 2) / math.sqrt(d_head)  # (B, H, T, T)
    scores = np.where(np.tril(np.ones((t, t), dtype=bool)), scores, -np.inf)  # causal
    a = np.exp(scores - scores.max(axis=-1, keepdims=True))
    a /= a.sum(axis=-1, keepdims=True)
    o = merge_heads(a @ v)
    return o @ p[f"{layer}.wo"], (n, qr, kr, v, a, o)


def attention_backward(dout: np.ndarray, p, layer: int, heads: int, cos, sin, cache, g):
    n, qr, kr, v, a, o = cache
    d_head = n.shape[2] // heads
    g[f"{layer}.wo"] = o.reshape(-1, o.shape[-1]).T @ dout.reshape(-1, dout.shape[-1])
    d_o = split_heads(dout @ p[f"{layer}.wo"].T, heads)
    d_a = d_o @ v.transpose(0, 1, 3, 2)
    d_v = a.transpose(0, 1, 3, 2) @ d_o
    d_scores = a * (d_a - np.sum(d_a * a, axis=-1, keepdims=True))  # softmax backward
    d_qr = d_scores @ kr / math.sqrt(d_head)
    d_kr = d_scores.transpose(0, 1, 3, 2) @ qr / math.sqrt(d_head)
    d_q, d_k = rope_backward(d_qr, cos, sin), rope_backward(d_kr, cos, sin)
    flat_n = n.reshape(-1, n.shape[-1])
    d_n = np.zeros_like(n)
    for w, grad in (("wq", d_q), ("wk", d_k), ("wv", d_v)):
        grad = merge_heads(grad)
        g[f"{layer}.{w}"] = flat_n.T @ grad.reshape(-1, grad.shape[-1])
        d_n += grad @ p[f"{layer}.{w}"].T
    return d_n


def swiglu(n: np.ndarray, p, layer: int):
    """W2 (silu(n W1) * (n W3))."""
    u, gate = n @ p[f"{layer}.w1"], n @ p[f"{layer}.w3"]
    sig = 1 / (1 + np.exp(-u))
    h = u * sig * gate
    return h @ p[f"{layer}.w2"], (n, u, gate, sig, h)


def swiglu_backward(dout: np.ndarray, p, layer: int, cache, g):
    n, u, gate, sig, h = cache
    flat = (lambda x: x.reshape(-1, x.shape[-1]))
    g[f"{layer}.w2"] = flat(h).T @ flat(dout)
    d_h = dout @ p[f"{layer}.w2"].T
    d_gate = d_h * u * sig
    d_u = d_h * gate * sig * (1 + u * (1 - sig))  # silu'(u) = sig (1 + u (1 - sig))
    g[f"{layer}.w1"] = flat(n).T @ flat(d_u)
    g[f"{layer}.w3"] = flat(n).T @ flat(d_gate)
    return d_u @ p[f"{layer}.w1"].T + d_gate @ p[f"{layer}.w3"].T


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


# --- the whole model ------------------------------------------------------------------------------

def forward(p, inputs: np.ndarray, c: Config):
    """Logits (B, T, V) for token ids (B, T), and what backprop needs."""
    t, heads = inputs.shape[1], c.heads
    dtype = p["emb"].dtype
    cos, sin = rope_tables(t, c.d_model // heads, dtype)
    x = p["emb"][inputs]
    caches = []
    for layer in range(c.layers):
        n1, norm1 = rmsnorm(x, p[f"{layer}.g1"])
        att, att_cache = attention(n1, p, layer, heads, cos, sin)
        x = x + att
        n2, norm2 = rmsnorm(x, p[f"{layer}.g2"])
        mlp, mlp_cache = swiglu(n2, p, layer)
        x = x + mlp
        caches.append((norm1, att_cache, norm2, mlp_cache))
    nf, norm_f = rmsnorm(x, p["gf"])
    return nf @ p["head"], (cos, sin, caches, nf, norm_f)


def loss_and_grads(p, tokens: np.ndarray, c: Config):
    """Mean next-token cross-entropy of windows (B, T + 1), and the gradient of every parameter."""
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    logits, (cos, sin, caches, nf, norm_f) = forward(p, inputs, c)
    logp = log_softmax(logits)
    loss = -float(np.mean(np.take_along_axis(logp, targets[..., None], axis=-1)))
    d_logits = np.exp(logp)
    np.put_along_axis(d_logits, targets[..., None],
                      np.take_along_axis(d_logits, targets[..., None], axis=-1) - 1, axis=-1)
    d_logits /= targets.size
    g = {"head": nf.reshape(-1, nf.shape[-1]).T @ d_logits.reshape(-1, d_logits.shape[-1])}
    d_x, g["gf"] = rmsnorm_backward(d_logits @ p["head"].T, norm_f)
    for layer in reversed(range(c.layers)):
        norm1, att_cache, norm2, mlp_cache = caches[layer]
        d_n2 = swiglu_backward(d_x, p, layer, mlp_cache, g)
        d_mlp_in, g[f"{layer}.g2"] = rmsnorm_backward(d_n2, norm2)
        d_x = d_x + d_mlp_in  # the residual path adds
        d_n1 = attention_backward(d_x, p, layer, c.heads, cos, sin, att_cache, g)
        d_att_in, g[f"{layer}.g1"] = rmsnorm_backward(d_n1, norm1)
        d_x = d_x + d_att_in
    g["emb"] = np.zeros_like(p["emb"])
    np.add.at(g["emb"], inputs, d_x)
    return loss, g


def gradient_check(rng, p, tokens: np.ndarray, c: Config, per_array: int = 3, h: float = 1e-5) -> float:
    """Relative error of the hand-written gradients of the whole model against central
    differences of its loss, on random entries of every parameter array (in float64)."""
    p = {k: v.astype(np.float64) for k, v in p.items()}
    _, grads = loss_and_grads(p, tokens, c)
    numeric, analytic = [], []
    for name, w in p.items():
        for flat in rng.choice(w.size, min(per_array, w.size), replace=False):
            idx = np.unravel_index(flat, w.shape)
            saved = w[idx]
            w[idx] = saved + h
            up = loss_and_grads(p, tokens, c)[0]
            w[idx] = saved - h
            down = loss_and_grads(p, tokens, c)[0]
            w[idx] = saved
            numeric.append((up - down) / (2 * h))
            analytic.append(grads[name][idx])
    numeric, analytic = np.array(numeric), np.array(analytic)
    return float(np.linalg.norm(numeric - analytic) / (np.linalg.norm(numeric) + np.linalg.norm(analytic)))


# --- training: AdamW under warm-up and cosine decay --------------------------------------------------

def learning_rate(step: int, c: Config) -> float:
    """Linear warm-up to lr over `warmup` steps, then a cosine from lr down to min_lr."""
    if step < c.warmup:
        return c.lr * (step + 1) / c.warmup
    progress = (step - c.warmup) / max(1, c.steps - 1 - c.warmup)
    return c.min_lr + 0.5 * (c.lr - c.min_lr) * (1 + math.cos(math.pi * progress))


def adamw_step(p, g, state, lr: float, c: Config, betas=(0.9, 0.95), eps: float = 1e-8) -> None:
    """One AdamW update in place. Weight decay is decoupled from the gradient's moments (and
    applied to matrices only, not to the RMSNorm gains)."""
    state["t"] = t = state.get("t", 0) + 1
    b1, b2 = betas
    for k, w in p.items():
        m = state.setdefault(("m", k), np.zeros_like(w))
        v = state.setdefault(("v", k), np.zeros_like(w))
        m[:] = b1 * m + (1 - b1) * g[k]
        v[:] = b2 * v + (1 - b2) * g[k] ** 2
        update = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        if w.ndim == 2:
            update = update + c.weight_decay * w
        w -= (lr * update).astype(w.dtype)


def train(p, train_ids: np.ndarray, rng, c: Config, report: Progress) -> tuple[list[float], list[float]]:
    """Random windows of the training text; returns the loss and the learning rate per step."""
    state: dict = {}
    losses, rates = [], []
    starts_max = len(train_ids) - c.context - 1
    for step in range(c.steps):
        starts = rng.integers(0, starts_max + 1, c.batch)
        tokens = np.stack([train_ids[s : s + c.context + 1] for s in starts])
        loss, g = loss_and_grads(p, tokens, c)
        lr = learning_rate(step, c)
        adamw_step(p, g, state, lr, c)
        losses.append(loss)
        rates.append(lr)
        if step % 50 == 0:
            report(step / c.steps)
    return losses, rates


# --- evaluation and sampling ------------------------------------------------------------------------

def mean_loss(p, chunks: np.ndarray, c: Config) -> float:
    """Mean next-character loss over the windows' targets."""
    logp = log_softmax(forward(p, chunks[:, :-1], c)[0])
    return -float(np.mean(np.take_along_axis(logp, chunks[:, 1:, None], axis=-1)))


def sample(p, rng, prompt: np.ndarray, n: int, length: int, c: Config) -> np.ndarray:
    """n sequences: the prompt, then `length` characters drawn one by one at temperature 1
    (the model sees the last `context` characters)."""
    seqs = np.tile(prompt, (n, 1))
    for _ in range(length):
        logits = forward(p, seqs[:, -c.context :], c)[0][:, -1]
        probs = np.exp(log_softmax(logits.astype(np.float64)))
        draws = (probs.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
        seqs = np.concatenate([seqs, np.minimum(draws, probs.shape[1] - 1)[:, None]], axis=1)
    return seqs[:, len(prompt) :]


def bigram_score(seqs: np.ndarray, table: np.ndarray) -> float:
    """Mean log-likelihood per character of the sequences under a bigram table."""
    return float(np.mean(table[seqs[:, :-1], seqs[:, 1:]]))


def run(config: Config, progress: Progress | None = None) -> Result:
    report = progress or no_progress
    c = config
    rng = np.random.default_rng(c.seed)
    text = load_text()
    ids, alphabet = encode(text)
    vocab = len(alphabet)
    split = int(len(ids) * (1 - c.holdout))
    train_ids, held_ids = ids[:split], ids[split:]
    held = windows(held_ids, c.context)  # the held-out targets every model is scored on

    # 1. The baseline: the best character bigram model of the training text on the held-out
    #    text (its smoothing chosen on the held-out text itself, to its advantage).
    tables = {s: bigram_logprobs(train_ids, vocab, s) for s in (0.01, 0.03, 0.1, 0.3, 1.0)}
    bigram_losses = {s: -bigram_score(held, t) for s, t in tables.items()}
    smoothing = min(bigram_losses, key=bigram_losses.get)
    bigram_loss, table = bigram_losses[smoothing], tables[smoothing]

    # 2. The model, its gradient checked against finite differences on a few short windows.
    p = init_params(rng, c, vocab)
    check_tokens = windows(train_ids[: 2 * 9 + 1], 9)[:2]  # two windows of 8 inputs
    grad_error = gradient_check(rng, p, check_tokens, c)
    initial = {k: v.copy() for k, v in p.items()}
    loss_before = mean_loss(p, held, c)
    report(0.05)

    # 3. AdamW's weight decay is decoupled: with a zero gradient, one step shrinks every matrix
    #    by exactly (1 - lr lambda) and leaves the gains alone.
    probe = {"w": np.ones((2, 2)), "g": np.ones(2)}
    adamw_step(probe, {k: np.zeros_like(v) for k, v in probe.items()}, {}, 0.5, c)
    decay_gap = max(float(np.max(np.abs(probe["w"] - (1 - 0.5 * c.weight_decay)))),
                    float(np.max(np.abs(probe["g"] - 1))))

    # 4. Causality: change the last input character; no earlier logit may move.
    inputs = held[:2, :-1]
    changed = inputs.copy()
    changed[:, -1] = (changed[:, -1] + 1) % vocab
    leak = float(np.max(np.abs(forward(p, changed, c)[0] - forward(p, inputs, c)[0])[:, :-1]))

    # 5. Train, then score the held-out text and the samples.
    prompt = ids[:1]  # every sample starts after the text's first character
    before = sample(initial, np.random.default_rng(c.seed + 1), prompt, c.samples, c.sample_len, c)
    losses, rates = train(p, train_ids, rng, c, lambda f: report(0.1 + 0.8 * f))
    loss_after = mean_loss(p, held, c)
    after = sample(p, np.random.default_rng(c.seed + 1), prompt, c.samples, c.sample_len, c)
    score_before, score_after = bigram_score(before, table), bigram_score(after, table)
    held_score = bigram_score(held, table)
    report(1.0)

    checks = [
        check("whole model: hand-written backprop vs finite differences (relative error)",
              grad_error, "<=", 1e-6),
        check("causal: logits before a changed character move (max abs)", leak, "==", 0.0),
        check("AdamW: zero-gradient step shrinks matrices by exactly 1 - lr lambda, not gains "
              "(max abs diff)", decay_gap, "<=", 1e-15),
        check(f"held-out loss, nats per character: model / best bigram ({bigram_loss:.3f})",
              loss_after / bigram_loss, "<", 1.0),
        check("samples' log-likelihood per character under the bigram model of the text: "
              "after training - before", score_after - score_before, ">", 1.0),
        check("the same, samples after training - the held-out text itself (as text-like)",
              score_after - held_score, ">", -0.5),
    ]
    decode = (lambda seq: "".join(alphabet[i] for i in seq))
    return Result(
        checks=checks,
        metrics={
            "text_characters_train_heldout": [len(train_ids), len(held_ids)],
            "vocabulary": vocab,
            "parameters": int(sum(w.size for w in p.values())),
            "heldout_loss_uniform_init_trained_bigram": [math.log(vocab), loss_before, loss_after,
                                                         bigram_loss],
            "bigram_smoothing": smoothing,
            "training_loss_first_last": [losses[0], float(np.mean(losses[-20:]))],
            "sample_loglik_under_bigram_before_after_heldout_text": [score_before, score_after,
                                                                     held_score],
            "sample_before": decode(before[0]),
            "sample_after": decode(after[0]),
        },
        charts=[
            Chart("training loss per step (nats per character)", "line",
                  x=[float(i) for i in range(len(losses))], y=losses),
            Chart("learning rate per step: linear warm-up, cosine decay", "line",
                  x=[float(i) for i in range(len(rates))], y=rates),
        ],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
