"""KV caching, and how multi-query and grouped-query attention shrink the cache.

A decoder generating token t+1 needs the keys and values of tokens 1..t at every layer. Without a
cache it recomputes them all at each step; with one it computes q, k, v for the new token only,
appends k and v to a per-layer cache and attends over it. The outputs are the same, the work per
step stops growing with t. The cache holds 2 * layers * kv_heads * d_head * t numbers, so MQA
(one key/value head shared by all H query heads) and GQA (G groups of query heads, one key/value
head each) cut it by H and H / G. This demo decodes greedily with a small random-weight decoder,
with and without the cache, for MHA, GQA and MQA, and converts an MHA checkpoint into GQA by
mean-pooling each group's key and value heads, as the GQA paper does before uptraining (Sec. 2.1).

Papers: Shazeer, "Fast Transformer Decoding: One Write-Head is All You Need", arXiv 1911.02150;
Ainslie et al., "GQA: Training Generalized Multi-Query Transformer Models from Multi-Head
Checkpoints", arXiv 2305.13245.

But: the weights are random, so nothing here measures quality: not MQA's small loss, nor how much
uptraining (5% of pre-training compute in the paper) a converted checkpoint needs. The speed-up
is numpy on a CPU, where memory bandwidth, the reason MQA helps on accelerators, barely shows.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting


# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "Caching keys and values makes each decoding step's work independent of the "
    "tokens so far, and sharing key/value heads (MQA, GQA) shrinks the cache by H and "
    "H / G."
)
EQUATIONS = (
    "cache bytes = 2 x layers x kv_heads x tokens x d_head x bytes per number",
    "GQA: query head h uses key/value head floor(h / (H / G));  MQA: G = 1;  MHA: G = H",
    "converted K, V head of a group = mean of the group's MHA heads  (GQA Sec. 2.1)",
)


@dataclass
class Config:
    """Settings of the KV-cache demo."""

    seed: int = 0
    quick: bool = False  # see QUICK
    n_layers: int = setting(4, "decoder blocks", low=1)
    d_model: int = setting(128, "model width", low=1)
    n_heads: int = setting(4, "H query heads; d_head = d_model / H", low=1)
    n_groups: int = setting(2, "G key/value heads of the GQA variant (MQA has 1, MHA has H)", low=1)
    vocab: int = setting(256, "vocabulary size", low=2)
    prompt_len: int = setting(16, "random prompt tokens", low=1)
    new_tokens: int = setting(200, "greedily decoded tokens", low=2)
    timing_repeats: int = setting(
        3, "cached decoding: each step's time (shown, not checked) is the best of this many", low=1)
    pooling_noise: float = setting(
        0.5, "heads of one group differ by this much in the pooling check", above=0.0)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        out = []
        if self.d_model % self.n_heads:
            out.append(f"n_heads: {self.n_heads} does not divide d_model = {self.d_model}")
        if self.n_heads % self.n_groups:
            out.append(f"n_groups: {self.n_groups} does not divide n_heads = {self.n_heads}")
        return out

# --quick: fewer tokens, one timing run; applied before --set, so --set wins.
QUICK = {"new_tokens": 100, "timing_repeats": 1}

Params = dict[str, np.ndarray]


def init_params(rng: np.random.Generator, cfg: Config, kv_heads: int,
                max_len: int) -> tuple[Params, list[Params]]:
    """Random weights of a pre-LayerNorm decoder whose attention has `kv_heads` K/V heads."""
    d, d_head = cfg.d_model, cfg.d_model // cfg.n_heads

    def normal(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) / math.sqrt(shape[0])).astype(np.float32)

    top = {"tok": normal(cfg.vocab, d) * math.sqrt(cfg.vocab),
           "pos": normal(max_len, d) * math.sqrt(max_len),
           "unembed": normal(d, cfg.vocab) * 4}
    layers = [{"wq": normal(d, cfg.n_heads * d_head), "wk": normal(d, kv_heads * d_head),
               "wv": normal(d, kv_heads * d_head), "wo": normal(d, d),
               "w1": normal(d, 4 * d), "w2": normal(4 * d, d)} for _ in range(cfg.n_layers)]
    return top, layers


def layer_norm(x: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5)


def attention_mha(q: np.ndarray, k: np.ndarray, v: np.ndarray, start: int) -> np.ndarray:
    """Multi-head attention: q (H, Tq, dh) at positions start.., k and v (H, Tk, dh)."""
    scores = q @ k.transpose(0, 2, 1) / math.sqrt(q.shape[-1])  # (H, Tq, Tk)
    return softmax_causal(scores, start) @ v  # (H, Tq, dh)


def attention_grouped(q: np.ndarray, k: np.ndarray, v: np.ndarray, start: int) -> np.ndarray:
    """GQA: q (H, Tq, dh); k and v (G, Tk, dh), each shared by H / G query heads. G = 1 is MQA."""
    h, tq, dh = q.shape
    g = k.shape[0]
    q = q.reshape(g, h // g, tq, dh)  # (G, H/G, Tq, dh): query heads by group
    scores = q @ k[:, None].transpose(0, 1, 3, 2) / math.sqrt(dh)  # (G, H/G, Tq, Tk)
    out = softmax_causal(scores, start) @ v[:, None]  # (G, H/G, Tq, dh)
    return out.reshape(h, tq, dh)


def softmax_causal(scores: np.ndarray, start: int) -> np.ndarray:
    """Softmax over keys, with query i (at position start + i) seeing keys 0..start + i."""
    tq, tk = scores.shape[-2:]
    visible = np.arange(tk)[None, :] <= start + np.arange(tq)[:, None]  # (Tq, Tk)
    scores = np.where(visible, scores, -np.inf)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class KVCache:
    """Per-layer keys and values, preallocated for max_len tokens; `length` are filled."""

    def __init__(self, n_layers: int, kv_heads: int, max_len: int, d_head: int) -> None:
        self.k = np.zeros((n_layers, kv_heads, max_len, d_head), dtype=np.float32)
        self.v = np.zeros_like(self.k)
        self.length = 0

    @property
    def nbytes(self) -> int:
        """Bytes of the filled part: 2 * layers * kv_heads * length * d_head * 4."""
        return self.k[:, :, : self.length].nbytes + self.v[:, :, : self.length].nbytes


class Work:
    """Counted work: multiply-adds of every matrix product, and attention scores computed."""

    def __init__(self) -> None:
        self.macs = 0
        self.scores = 0


def forward(top: Params, layers: list[Params], tokens: np.ndarray, n_heads: int,
            grouped: bool, cache: KVCache | None = None, work: Work | None = None) -> np.ndarray:
    """Hidden state of the last token. With a cache, `tokens` are the new ones only. `work`,
    if given, is charged for every multiply-add this call does."""
    start = cache.length if cache else 0
    t = len(tokens)
    x = top["tok"][tokens] + top["pos"][start : start + t]  # (T, d)
    d_head = x.shape[1] // n_heads
    attend = attention_grouped if grouped else attention_mha
    for i, w in enumerate(layers):
        h = layer_norm(x)
        q = (h @ w["wq"]).reshape(t, n_heads, d_head).transpose(1, 0, 2)  # (H, T, dh)
        kv_heads = w["wk"].shape[1] // d_head
        k = (h @ w["wk"]).reshape(t, kv_heads, d_head).transpose(1, 0, 2)  # (KV, T, dh)
        v = (h @ w["wv"]).reshape(t, kv_heads, d_head).transpose(1, 0, 2)
        if cache is not None:
            cache.k[i, :, start : start + t] = k
            cache.v[i, :, start : start + t] = v
            k, v = cache.k[i, :, : start + t], cache.v[i, :, : start + t]  # (KV, start+T, dh)
        heads = attend(q, k, v, start)  # (H, T, dh)
        if work is not None:
            d = x.shape[1]
            tk = k.shape[1]
            work.scores += n_heads * t * tk
            work.macs += (t * d * (n_heads + 2 * kv_heads) * d_head  # q, k, v projections
                          + 2 * n_heads * t * tk * d_head  # scores, then weights @ values
                          + t * d * d + 2 * t * d * 4 * d)  # output projection, MLP
        x = x + heads.transpose(1, 0, 2).reshape(t, -1) @ w["wo"]
        x = x + np.maximum(layer_norm(x) @ w["w1"], 0) @ w["w2"]
    if cache is not None:
        cache.length += t
    return layer_norm(x[-1])  # (d,)


def decode(top: Params, layers: list[Params], prompt: np.ndarray, new_tokens: int,
           n_heads: int, grouped: bool, use_cache: bool) -> dict[str, object]:
    """Greedy decoding; returns tokens, logits per step, seconds per step, the cache and the
    counted work."""
    work = Work()
    d_head = top["tok"].shape[1] // n_heads
    kv_heads = layers[0]["wk"].shape[1] // d_head
    cache = KVCache(len(layers), kv_heads, len(prompt) + new_tokens, d_head) if use_cache else None
    tokens = list(prompt)
    logits, seconds = [], []
    for step in range(new_tokens):
        began = time.perf_counter()
        if cache is None:  # full recomputation over the whole sequence so far
            hidden = forward(top, layers, np.array(tokens), n_heads, grouped, work=work)
        else:  # the prompt once (prefill), then one new token per step
            fresh = tokens if step == 0 else tokens[-1:]
            hidden = forward(top, layers, np.array(fresh), n_heads, grouped, cache, work)
        step_logits = hidden @ top["unembed"]  # (V,)
        work.macs += top["unembed"].size
        tokens.append(int(np.argmax(step_logits)))
        seconds.append(time.perf_counter() - began)
        logits.append(step_logits)
    return {"tokens": tokens[len(prompt) :], "logits": np.array(logits), "seconds": seconds,
            "cache": cache, "work": work}


def mean_pool_heads(w: np.ndarray, n_heads: int, groups: int) -> np.ndarray:
    """GQA Sec. 2.1: the K (or V) projection of each group = mean of its heads' projections."""
    d, width = w.shape
    d_head = width // n_heads
    return w.reshape(d, groups, n_heads // groups, d_head).mean(axis=2).reshape(d, groups * d_head)


def first_head(w: np.ndarray, n_heads: int, groups: int) -> np.ndarray:
    """The alternative the GQA paper compares with: keep the first head of each group."""
    d, width = w.shape
    d_head = width // n_heads
    return w.reshape(d, groups, n_heads // groups, d_head)[:, :, 0].reshape(d, groups * d_head)


def convert(layers: list[Params], n_heads: int, groups: int, pool) -> list[Params]:
    """An MHA checkpoint's layers with K and V projections pooled into `groups` heads."""
    return [dict(w, wk=pool(w["wk"], n_heads, groups), wv=pool(w["wv"], n_heads, groups))
            for w in layers]


def run(config: Config, progress: Progress | None = None) -> Result:
    rng = np.random.default_rng(config.seed)
    report = progress or no_progress
    h, g = config.n_heads, config.n_groups
    new = config.new_tokens
    max_len = config.prompt_len + new
    prompt = rng.integers(0, config.vocab, config.prompt_len)
    d_head = config.d_model // h

    # 1. Cached == recomputed, for MHA (H K/V heads), GQA (G) and MQA (1): same tokens, same
    #    logits; time both.
    runs: dict[str, dict[str, object]] = {}
    models = {}
    variants = [("MHA", h), ("GQA", g), ("MQA", 1)]
    for n, (name, kv_heads) in enumerate(variants):
        top, layers = init_params(rng, config, kv_heads, max_len)
        models[name] = (top, layers)
        grouped = name != "MHA"
        full = decode(top, layers, prompt, new, h, grouped, use_cache=False)
        repeats = [decode(top, layers, prompt, new, h, grouped, use_cache=True)
                   for _ in range(config.timing_repeats)]
        cached = dict(repeats[0], seconds=list(np.min([r["seconds"] for r in repeats], axis=0)))
        assert all(r["tokens"] == cached["tokens"] for r in repeats)
        runs[name] = {"full": full, "cached": cached}
        report((n + 1) / 4)
    same_tokens = all(r["full"]["tokens"] == r["cached"]["tokens"] for r in runs.values())
    logit_error = max(float(np.max(np.abs(r["full"]["logits"] - r["cached"]["logits"])))
                      for r in runs.values())
    # The saving, counted: multiply-adds and attention scores without / with the cache. (Wall
    # clock is shown too, as information: on a shared CPU it is too noisy to check.)
    speedups = {name: sum(r["full"]["seconds"]) / sum(r["cached"]["seconds"])
                for name, r in runs.items()}
    mac_ratio = {name: r["full"]["work"].macs / r["cached"]["work"].macs for name, r in runs.items()}
    score_ratio = {name: r["full"]["work"].scores / r["cached"]["work"].scores
                   for name, r in runs.items()}
    # Without a cache, step s attends T_s = P + s tokens to each other (T_s^2 scores per head and
    # layer); with it, one new query to T_s keys after the prompt's P^2. Sum over the steps:
    p_len, heads_layers = config.prompt_len, h * config.n_layers
    lengths = np.arange(p_len, p_len + new)  # (new,) sequence length fed at each step
    expected_full = int(heads_layers * np.sum(lengths**2))
    expected_cached = int(heads_layers * (p_len**2 + np.sum(lengths[1:])))
    score_count_error = max(abs(r["full"]["work"].scores - expected_full)
                            + abs(r["cached"]["work"].scores - expected_cached)
                            for r in runs.values())

    # 2. Cache bytes = 2 * layers * kv_heads * tokens * d_head * 4 (float32): H : G : 1. The
    #    cache holds every token but the last one generated, which is never fed back.
    cached_tokens = config.prompt_len + new - 1
    nbytes = {name: r["cached"]["cache"].nbytes for name, r in runs.items()}
    for r in runs.values():
        assert r["cached"]["cache"].k.dtype == np.float32
    formula_error = max(abs(nbytes[name] - 2 * config.n_layers * kv * cached_tokens * d_head * 4)
                        for name, kv in variants)
    mqa_bytes = nbytes["MQA"] or float("nan")  # an empty cache fails the check, not the demo
    ratio_error = max(abs(nbytes["MHA"] / mqa_bytes - h), abs(nbytes["GQA"] / mqa_bytes - g))

    # 3. GQA with G = H is MHA: the grouped code path on the MHA weights gives the same bits.
    top, layers = models["MHA"]
    seq = np.concatenate([prompt, runs["MHA"]["full"]["tokens"]])
    as_mha = forward(top, layers, seq, h, grouped=False)
    as_gqa = forward(top, layers, seq, h, grouped=True)
    g_equals_h_error = float(np.max(np.abs(as_mha - as_gqa)))

    # 4. Mean-pooling an MHA checkpoint into G groups (GQA Sec. 2.1). If each group's heads
    #    are identical, the converted model is the same model. If they differ (here by
    #    `pooling_noise` around a shared head), the mean is a better start than keeping one head.
    base_top, base_layers = init_params(rng, config, g, max_len)  # a GQA model ...
    repeat = h // g
    duplicated = [dict(w, wk=expand_heads(w["wk"], g, repeat), wv=expand_heads(w["wv"], g, repeat))
                  for w in base_layers]  # ... written as MHA with repeated heads
    mha_out = forward(base_top, duplicated, seq, h, grouped=False)
    pooled_out = forward(base_top, convert(duplicated, h, g, mean_pool_heads), seq, h, True)
    identical_error = float(np.max(np.abs(mha_out - pooled_out)))
    noisy = [dict(w, wk=w["wk"] + config.pooling_noise * noise_like(rng, w["wk"]),
                  wv=w["wv"] + config.pooling_noise * noise_like(rng, w["wv"])) for w in duplicated]
    target = forward(base_top, noisy, seq, h, grouped=False)
    pooled_err = relative_error(forward(base_top, convert(noisy, h, g, mean_pool_heads), seq,
                                        h, True), target)
    first_err = relative_error(forward(base_top, convert(noisy, h, g, first_head), seq, h, True),
                               target)
    report(1.0)

    checks = [
        check("cached greedy tokens == full recomputation, MHA/GQA/MQA (1 = all equal)",
              float(same_tokens), "==", 1.0),
        check("cached logits == recomputed logits, float32 (max abs diff)", logit_error,
              "<=", 1e-4),
        check(f"multiply-adds without / with the cache at {new} tokens, least of MHA/GQA/MQA",
              min(mac_ratio.values()), ">=", 3.0),
        check("attention scores computed == sum of T^2 (no cache) and P^2 + sum of T (cache)",
              score_count_error, "==", 0),
        check("cache bytes == 2 * layers * kv_heads * tokens * d_head * 4 (max abs diff)",
              formula_error, "==", 0.0),
        check(f"cache bytes MHA : GQA : MQA == {h} : {g} : 1 (max abs diff of ratios)",
              ratio_error, "==", 0.0),
        check("GQA with G = H == MHA (max abs diff of the final hidden state)",
              g_equals_h_error, "==", 0.0),
        check("mean-pooled MHA with identical heads per group == the MHA (max abs diff)",
              identical_error, "<=", 1e-5),
        check("mean-pooling vs keeping the first head: relative output error ratio",
              pooled_err / first_err, "<", 1.0),
    ]
    metrics = {
        "new_tokens": new,
        "cached_tokens": cached_tokens,
        "heads_H": h,
        "groups_G": g,
        "d_head": d_head,
        "cache_bytes": nbytes,
        "multiply_adds_ratio": {k: round(v, 2) for k, v in mac_ratio.items()},
        "attention_scores_ratio": {k: round(v, 2) for k, v in score_ratio.items()},
        "wall_clock_speedup (information, not checked)": {k: round(v, 2) for k, v in speedups.items()},
        "seconds_full_recompute": {k: round(sum(r["full"]["seconds"]), 3) for k, r in runs.items()},
        "seconds_cached": {k: round(sum(r["cached"]["seconds"]), 3) for k, r in runs.items()},
        "first_tokens_MHA": runs["MHA"]["cached"]["tokens"][:12],
        "pooled_relative_error": pooled_err,
        "first_head_relative_error": first_err,
    }
    steps = [float(s) for s in range(1, new + 1)]
    charts = [
        Chart("MHA, ms per token without a cache (grows with t)", "line", x=steps,
              y=[1000 * s for s in runs["MHA"]["full"]["seconds"]]),
        Chart("MHA, ms per token with the KV cache (flat; step 1 is the prompt)", "line", x=steps,
              y=[1000 * s for s in runs["MHA"]["cached"]["seconds"]]),
        Chart(f"KV-cache KiB holding {cached_tokens} tokens", "bars", labels=list(nbytes),
              y=[b / 1024 for b in nbytes.values()]),
    ]
    return Result(checks=checks, metrics=metrics, charts=charts)


def expand_heads(w: np.ndarray, groups: int, repeat: int) -> np.ndarray:
    """Write a G-head projection as H = G * repeat heads, each group's heads identical."""
    d, width = w.shape
    d_head = width // groups
    return np.repeat(w.reshape(d, groups, 1, d_head), repeat, axis=2).reshape(d, -1)


def noise_like(rng: np.random.Generator, w: np.ndarray) -> np.ndarray:
    return (rng.standard_normal(w.shape) * w.std()).astype(w.dtype)


def relative_error(x: np.ndarray, target: np.ndarray) -> float:
    return float(np.linalg.norm(x - target) / np.linalg.norm(target))


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
