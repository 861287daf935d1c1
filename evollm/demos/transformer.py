"""Scaled dot-product and multi-head attention, checked against their defining properties.

Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V (Eq. 1), and multi-head attention runs h of
them on learned projections and concatenates (Sec. 3.2.2): MultiHead(Q, K, V) =
Concat(head_1..head_h) W^O with head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V). This demo checks that
the batched implementation equals a loop over heads; that the decoder's causal mask lets nothing
from later tokens reach earlier outputs; that without position encodings self-attention is
permutation equivariant (so order must be injected, Sec. 3.5); and that dividing by sqrt(d_k)
keeps the logits' standard deviation near 1 whatever d_k is (the footnote of Sec. 3.2.1: q . k of
unit-variance components has variance d_k), which keeps the softmax out of saturation.

Paper: Vaswani et al., "Attention Is All You Need", arXiv 1706.03762.

But: only the attention layer; no feed-forward sublayers, encoder-decoder stack, training or
translation results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, setting


# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "Scaled dot-product attention keeps logits at unit scale for any d_k; multi-head "
    "attention is h attentions side by side; a causal mask hides the future."
)
EQUATIONS = (
    "Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V  (Eq. 1)",
    "MultiHead = Concat(head_1..head_h) W^O,  head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)",
    "PE(pos, 2i) = sin(pos / 10000^(2i/d)),  PE(pos, 2i+1) = cos(...)  (Sec. 3.5)",
)


@dataclass
class Config:
    """Settings of the attention demo."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    d_model: int = setting(64, "model width", low=1)
    n_heads: int = setting(8, "h; d_k = d_v = d_model / h (Sec. 3.2.2)", low=1)
    seq_len: int = setting(16, "tokens per sequence", low=2)
    batch: int = setting(2, "sequences per batch", low=1)
    scale_samples: int = setting(20000, "(q, k) pairs per d_k for the logit-scale check", low=1)
    softmax_keys: int = setting(64, "keys per softmax when measuring saturation", low=2)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        out = []
        if self.d_model % self.n_heads:
            out.append(f"n_heads: {self.n_heads} does not divide d_model = {self.d_model}")
        if self.scale_samples < self.softmax_keys:
            out.append(f"scale_samples: {self.scale_samples} is fewer than softmax_keys = {self.softmax_keys}")
        return out

# --quick: fewer samples. Applied before --set, so --set wins.
QUICK = {"scale_samples": 4096}


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis; rows that are all -inf do not occur (causal rows see j = i)."""
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def scaled_dot_product_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                                 causal: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 1 over the last two axes; returns (output, attention weights)."""
    d_k = q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(d_k)  # (..., T, T)
    if causal:
        t = scores.shape[-1]
        # Sec. 3.2.3: set the illegal connections to -inf before the softmax.
        scores = np.where(np.tril(np.ones((t, t), dtype=bool)), scores, -np.inf)
    weights = softmax(scores)
    return weights @ v, weights  # (..., T, d_v), (..., T, T)


def init_weights(rng: np.random.Generator, d_model: int) -> dict[str, np.ndarray]:
    """W^Q, W^K, W^V (all heads side by side) and W^O, each (d_model, d_model)."""
    scale = 1 / math.sqrt(d_model)
    return {name: rng.standard_normal((d_model, d_model)) * scale for name in ("q", "k", "v", "o")}


def multi_head_attention(x: np.ndarray, w: dict[str, np.ndarray], n_heads: int,
                         causal: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized over batch and heads: (B, T, d_model) -> (B, T, d_model), weights (B, h, T, T)."""
    b, t, d_model = x.shape
    d_k = d_model // n_heads

    def split(y: np.ndarray) -> np.ndarray:  # (B, T, d_model) -> (B, h, T, d_k)
        return y.reshape(b, t, n_heads, d_k).transpose(0, 2, 1, 3)

    q, k, v = split(x @ w["q"]), split(x @ w["k"]), split(x @ w["v"])
    heads, weights = scaled_dot_product_attention(q, k, v, causal)  # (B, h, T, d_k)
    concat = heads.transpose(0, 2, 1, 3).reshape(b, t, d_model)  # Concat(head_1..head_h)
    return concat @ w["o"], weights


def multi_head_attention_loop(x: np.ndarray, w: dict[str, np.ndarray], n_heads: int,
                              causal: bool = False) -> np.ndarray:
    """The same, written as the paper reads: one sequence and one head at a time."""
    b, t, d_model = x.shape
    d_k = d_model // n_heads
    out = np.zeros_like(x)
    for s in range(b):
        heads = []
        for i in range(n_heads):
            cols = slice(i * d_k, (i + 1) * d_k)  # head i's slice of W^Q, W^K, W^V
            q, k, v = x[s] @ w["q"][:, cols], x[s] @ w["k"][:, cols], x[s] @ w["v"][:, cols]
            scores = q @ k.T / math.sqrt(d_k)  # (T, T)
            if causal:
                for row in range(t):
                    scores[row, row + 1 :] = -np.inf
            heads.append(softmax(scores) @ v)  # (T, d_k)
        out[s] = np.concatenate(heads, axis=-1) @ w["o"]
    return out


def sinusoidal_positions(t: int, d_model: int) -> np.ndarray:
    """Sec. 3.5: PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...)."""
    angles = np.arange(t)[:, None] / 10000 ** (np.arange(0, d_model, 2) / d_model)  # (T, d/2)
    pe = np.zeros((t, d_model))
    pe[:, 0::2], pe[:, 1::2] = np.sin(angles), np.cos(angles)
    return pe  # (T, d_model)


def causal_leak(rng: np.random.Generator, x: np.ndarray, w: dict[str, np.ndarray],
                n_heads: int) -> tuple[float, float]:
    """Perturb each token t in turn: (largest change before t, smallest change at t and after)."""
    base, _ = multi_head_attention(x, w, n_heads, causal=True)
    leak, reach = 0.0, math.inf
    for t in range(x.shape[1]):
        changed = x.copy()
        changed[:, t] += rng.standard_normal((x.shape[0], x.shape[2]))
        out, _ = multi_head_attention(changed, w, n_heads, causal=True)
        diff = np.abs(out - base)  # (B, T, d_model)
        leak = max(leak, float(diff[:, :t].max(initial=0.0)))
        reach = min(reach, float(diff[:, t:].max(axis=-1).min()))
    return leak, reach


def logit_scale(rng: np.random.Generator, d_ks: list[int], samples: int,
                keys: int) -> dict[str, list[float]]:
    """q, k ~ N(0, I): the std of q . k with and without 1/sqrt(d_k), and softmax saturation."""
    scaled_std, raw_std, scaled_max_p, raw_max_p = [], [], [], []
    for d_k in d_ks:
        q = rng.standard_normal((samples, d_k))
        k = rng.standard_normal((samples, d_k))
        dots = np.sum(q * k, axis=-1)  # (S,)
        raw_std.append(float(dots.std()))
        scaled_std.append(float((dots / math.sqrt(d_k)).std()))
        # Rows of `keys` logits: the mean largest softmax weight (1 = saturated, one-hot).
        rows = dots[: samples - samples % keys].reshape(-1, keys)
        raw_max_p.append(float(softmax(rows).max(axis=-1).mean()))
        scaled_max_p.append(float(softmax(rows / math.sqrt(d_k)).max(axis=-1).mean()))
    return {"scaled_std": scaled_std, "raw_std": raw_std,
            "scaled_max_weight": scaled_max_p, "raw_max_weight": raw_max_p}


def run(config: Config, progress: Progress | None = None) -> Result:
    rng = np.random.default_rng(config.seed)
    b, t, d_model, h = config.batch, config.seq_len, config.d_model, config.n_heads
    w = init_weights(rng, d_model)
    x = rng.standard_normal((b, t, d_model))  # (B, T, d_model), no positions yet

    # 1. Vectorized multi-head attention == the per-head loop, with and without the mask.
    loop_error = max(
        float(np.max(np.abs(multi_head_attention(x, w, h, causal)[0]
                            - multi_head_attention_loop(x, w, h, causal))))
        for causal in (False, True)
    )

    # 2. The causal mask: changing token t leaves every output before t bit-for-bit unchanged,
    #    while the outputs at t and after do move (so the check is not vacuous).
    leak, reach = causal_leak(rng, x, w, h)

    # 3. Permutation equivariance without positions: MHA(P x) == P MHA(x). With sinusoidal
    #    positions added (Sec. 3.5) the same permutation changes the outputs.
    perm = rng.permutation(t)
    out, _ = multi_head_attention(x, w, h)
    equivariance_error = float(np.max(np.abs(multi_head_attention(x[:, perm], w, h)[0]
                                              - out[:, perm])))
    pe = sinusoidal_positions(t, d_model)
    with_pe, _ = multi_head_attention(x + pe, w, h)
    with_pe_permuted, _ = multi_head_attention(x[:, perm] + pe, w, h)
    positions_effect = float(np.max(np.abs(with_pe_permuted - with_pe[:, perm])))

    # 4. The 1/sqrt(d_k) scaling (Sec. 3.2.1): logit std ~ 1 for every d_k, ~ sqrt(d_k) without.
    d_ks = [16, 64, 256]
    samples = config.scale_samples
    scale = logit_scale(rng, d_ks, samples, config.softmax_keys)
    scaled_dev = max(abs(s - 1) for s in scale["scaled_std"])
    raw_growth = scale["raw_std"][-1] / scale["raw_std"][0]  # sqrt(256 / 16) = 4 expected
    if progress:
        progress(1.0)

    # A heatmap of one head: causal attention of the first sequence, with positions added.
    _, weights = multi_head_attention(x + pe, w, h, causal=True)  # (B, h, T, T)
    checks = [
        check("vectorized MHA == per-head loop (max abs diff)", loop_error, "<=", 1e-12),
        check("causal mask: change at earlier positions when a later token changes",
              leak, "==", 0.0),
        check("causal mask: the changed token and later ones do move (min change)", reach,
              ">", 0.0),
        check("no positions: MHA(permuted x) == permuted MHA(x) (max abs diff)",
              equivariance_error, "<=", 1e-12),
        check("with sinusoidal positions the permutation changes outputs (max abs diff)",
              positions_effect, ">=", 1e-3),
        check("logit std with 1/sqrt(d_k), max |std - 1| over d_k = 16, 64, 256", scaled_dev,
              "<=", 0.15),
        check("without scaling the std grows as sqrt(d_k): |std(256)/std(16) / 4 - 1|",
              abs(raw_growth / 4 - 1), "<=", 0.15),
        check("without scaling the softmax saturates: mean largest weight, d_k = 256",
              scale["raw_max_weight"][-1], ">=", 0.7),
    ]
    metrics = {
        "d_model": d_model,
        "heads": h,
        "d_k": d_model // h,
        "d_k_tried": d_ks,
        "logit_std_scaled": [round(v, 4) for v in scale["scaled_std"]],
        "logit_std_unscaled": [round(v, 3) for v in scale["raw_std"]],
        f"mean_max_softmax_weight_of_{config.softmax_keys}_keys_scaled":
            [round(v, 4) for v in scale["scaled_max_weight"]],
        f"mean_max_softmax_weight_of_{config.softmax_keys}_keys_unscaled":
            [round(v, 4) for v in scale["raw_max_weight"]],
    }
    charts = [
        Chart("head 1, causal attention weights (query rows, key columns)", "heatmap",
              matrix=[[float(v) for v in row] for row in weights[0, 0]]),
        Chart("mean largest softmax weight without scaling, d_k = 16, 64, 256", "bars",
              labels=[f"d_k={d}" for d in d_ks], y=scale["raw_max_weight"]),
    ]
    return Result(checks=checks, metrics=metrics, charts=charts)


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
