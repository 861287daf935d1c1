"""ALiBi: no position embeddings; each head subtracts a penalty linear in the query-key distance.

ALiBi adds m_h * [-(i-1), ..., -2, -1, 0] to the causal attention logits of query i (Sec. 3), where
the head-specific slope m_h is fixed, not learned: for n heads (a power of two) the geometric
sequence 2^(-8/n), 2^(-16/n), ..., 2^(-8); for other head counts, the slopes of the closest power
of two followed by every other slope of twice that count. This demo builds the slopes by that rule
and checks them against their closed form, checks that the bias matrix is Toeplitz (it depends
only on i - j, so it is a relative position scheme), and shows that between keys of equal content
the attention weight falls as exp(-m_h * distance): each head has its own recency window.

Paper: Press, Smith and Lewis, "Train Short, Test Long: Attention with Linear Biases Enables Input
Length Extrapolation", arXiv 2108.12409.

But: no model is trained, so the paper's headline claim (train on short inputs, evaluate on longer
ones at no loss in perplexity) is not reproduced here; that needs a trained language model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, setting


# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "Adding a head-specific linear penalty to causal attention logits encodes "
    "relative position with no position embeddings."
)
EQUATIONS = (
    "softmax(q_i K^T + m_h [-(i-1), ..., -2, -1, 0])  (Sec. 3)",
    "m_h = 2^(-8h/n), h = 1..n, for n heads a power of two",
)


@dataclass
class Config:
    """Settings of the ALiBi demo."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    n_heads: int = setting(
        8, "heads of the attention layer the decay is measured in", low=1, high=256)
    d_head: int = setting(32, "query/key dimension per head", low=1)
    seq_len: int = setting(64, "tokens in the causal attention", low=2, high=4096)
    heatmap_len: int = setting(16, "size of the bias matrix drawn as a heatmap", low=1, high=64)


# --quick: a shorter sequence. Applied before --set, so --set wins.
QUICK = {"seq_len": 32}


def slopes(n_heads: int) -> list[float]:
    """The paper's rule (Sec. 3): a geometric sequence from 2^(-8/n) with that same ratio; for a
    head count that is not a power of two, the closest power of two's slopes, then every other
    slope of twice that many heads."""
    if n_heads & (n_heads - 1) == 0:
        start = 2.0 ** (-8.0 / n_heads)
        return [start * start**h for h in range(n_heads)]
    closest = 2 ** int(math.floor(math.log2(n_heads)))
    return slopes(closest) + slopes(2 * closest)[0::2][: n_heads - closest]


def closed_form_slopes(n_heads: int) -> np.ndarray:
    """m_h = 2^(-8h/c) for h = 1..c, c the largest power of two <= n; then 2^(-4(2h-1)/c)."""
    c = 2 ** int(math.floor(math.log2(n_heads)))
    first = 2.0 ** (-8.0 * np.arange(1, c + 1) / c)  # (c,)
    rest = 2.0 ** (-4.0 * (2 * np.arange(1, n_heads - c + 1) - 1) / c)  # (n - c,)
    return np.concatenate([first, rest])  # (n,)


def alibi_bias(slope_values: np.ndarray, seq_len: int) -> np.ndarray:
    """bias[h, i, j] = -m_h * (i - j) for keys j <= i, and -inf above the diagonal (causal)."""
    i = np.arange(seq_len)[:, None]
    j = np.arange(seq_len)[None, :]
    distance = (i - j).astype(float)  # (T, T)
    bias = -np.asarray(slope_values)[:, None, None] * distance  # (H, T, T)
    return np.where(j <= i, bias, -np.inf)


def alibi_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                    slope_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """softmax(q K^T / sqrt(d) + m * [-(i-1), ..., 0]) V per head; returns (output, weights)."""
    h, t, d = q.shape  # (H, T, d)
    logits = q @ k.transpose(0, 2, 1) / math.sqrt(d) + alibi_bias(slope_values, t)  # (H, T, T)
    logits -= logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits)
    weights /= weights.sum(axis=-1, keepdims=True)  # (H, T, T)
    return weights @ v, weights  # (H, T, d), (H, T, T)


def run(config: Config, progress: Progress | None = None) -> Result:
    rng = np.random.default_rng(config.seed)
    h, t, d = config.n_heads, config.seq_len, config.d_head

    # 1. Slopes: 8 heads give exactly 1/2 ... 1/256 (the paper's example), and for every head
    #    count the rule matches its closed form, including the non-power-of-two ones.
    eight_error = float(np.max(np.abs(np.array(slopes(8)) - 0.5 ** np.arange(1, 9))))
    counts = [1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 40, 64, 96]
    closed_error = max(float(np.max(np.abs(np.array(slopes(n)) / closed_form_slopes(n) - 1)))
                       for n in counts)

    # 2. The bias is Toeplitz: constant along every diagonal, so B(i+1, j+1) == B(i, j).
    m = np.array(slopes(h))  # (H,)
    bias = alibi_bias(m, t)  # (H, T, T)
    lower = np.tril(np.ones((t - 1, t - 1), dtype=bool))
    toeplitz_error = float(np.max(np.abs(bias[:, 1:, 1:][:, lower] - bias[:, :-1, :-1][:, lower])))

    # 3. Equal keys: every key has the same content, so only the bias separates them, and the
    #    weight on the key at distance delta is proportional to exp(-m_h * delta).
    q = rng.standard_normal((h, t, d))  # (H, T, d)
    same_key = np.broadcast_to(rng.standard_normal(d), (h, t, d))  # (H, T, d)
    v = rng.standard_normal((h, t, d))
    _, weights = alibi_attention(q, same_key, v, m)  # (H, T, T)
    last = weights[:, -1, :]  # (H, T): the last query over all keys
    distance = np.arange(t - 1, -1, -1)  # (T,): key j is t-1-j tokens back
    log_ratio = np.log(last) - np.log(last[:, -1:])  # log(w_delta / w_0)
    decay_error = float(np.max(np.abs(log_ratio + m[:, None] * distance)))
    # With random keys the same ratio is broken by content: the bias is one term among others.
    random_keys = rng.standard_normal((h, t, d))
    _, random_weights = alibi_attention(q, random_keys, v, m)
    content_effect = float(np.max(np.abs(np.log(random_weights[:, -1, :])
                                          - np.log(random_weights[:, -1, -1:])
                                          + m[:, None] * distance)))

    # 4. Causal: no query sees a later key. The weights above the diagonal are exactly 0, and
    #    changing every later token's key and value leaves each earlier output bit-for-bit alone.
    future_weight = float(np.max(np.triu(random_weights, k=1)))
    out, _ = alibi_attention(q, random_keys, v, m)
    cut = t // 2  # perturb tokens cut.. and compare outputs 0..cut-1
    k2, v2 = random_keys.copy(), v.copy()
    k2[:, cut:] += rng.standard_normal(k2[:, cut:].shape)
    v2[:, cut:] += rng.standard_normal(v2[:, cut:].shape)
    out2, _ = alibi_attention(q, k2, v2, m)
    leak = float(np.max(np.abs(out2[:, :cut] - out[:, :cut])))
    if progress:
        progress(1.0)

    checks = [
        check("8 heads: slopes == 1/2, 1/4, ..., 1/256 (max abs diff)", eight_error, "==", 0.0),
        check("slopes == closed form, 16 head counts from 1 to 96 (max relative diff)",
              closed_error, "<=", 1e-12),
        check("bias is Toeplitz: B(i+1, j+1) == B(i, j) (max abs diff)", toeplitz_error, "==", 0.0),
        check("equal keys: log w(delta) - log w(0) == -m * delta (max abs diff)", decay_error,
              "<=", 1e-12),
        check("causal: largest attention weight on a later key", future_weight, "==", 0.0),
        check("causal: change in earlier outputs when later tokens change (max abs)", leak,
              "==", 0.0),
    ]
    half_life = [float(math.log(2) / s) for s in m]
    metrics = {
        "n_heads": h,
        "slopes": [float(s) for s in m],
        "slopes_12_heads": [round(s, 5) for s in slopes(12)],
        "half_life_tokens": [round(x, 2) for x in half_life],
        "random_keys_deviation_from_pure_decay": content_effect,
    }
    n = min(config.heatmap_len, t)
    charts = [
        Chart(f"slope m_h per head ({h} heads)", "bars",
              labels=[f"head {i + 1}" for i in range(h)], y=[float(s) for s in m]),
        Chart(f"equal keys: attention of the last query vs distance, head 1 (m = {m[0]:g})",
              "line", x=[float(x) for x in distance[::-1]], y=[float(w) for w in last[0, ::-1]]),
        Chart(f"exp(bias) of head 1, the factor on each attention weight ({n} x {n}; causal)",
              "heatmap", matrix=[[float(x) for x in row] for row in np.exp(bias[0, :n, :n])]),
    ]
    return Result(checks=checks, metrics=metrics, charts=charts)


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
