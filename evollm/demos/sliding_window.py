"""Sliding-window attention with a rolling KV cache, and attention sinks.

Mistral 7B lets each token attend only to the last W tokens of the layer below, so attention costs
O(T W) instead of O(T^2) and, with a rolling buffer (position i stored in slot i mod W), the KV
cache never holds more than W tokens; stacking L layers still carries information L (W - 1)
tokens back (Sec. 2 of the paper). StreamingLLM adds "attention sinks": the first few tokens stay
in the cache for good, next to the rolling window, because trained models put a large share of
their attention on the first tokens whatever they say (Sec. 3.1): evict them, as a plain rolling
window does, and the softmax hands that share to the window instead. This demo computes windowed
attention twice (a full T x T masked softmax, and a banded loop that only ever reads W keys per
query), decodes a small multi-layer model token by token with a rolling cache of W (plus sink)
slots and compares it with full recomputation, measures the receptive field of a stack of
windowed layers, and builds a case where the first S keys draw most of the attention, as the
paper observes, to compare the rolling cache with and without sinks against full attention.

Papers: Jiang et al., "Mistral 7B", arXiv 2310.06825; Xiao et al., "Efficient Streaming
Language Models with Attention Sinks", arXiv 2309.17453 (sinks).

But: random weights, so nothing about quality: not Mistral's benchmark numbers, and the
attention sink is built into the keys by hand rather than learned, so StreamingLLM's perplexity
results are not reproduced. No chunked prefill and no position encoding inside the cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting

# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "Windowed attention reads only the last W keys per query, a rolling cache of W slots (plus "
    "any sink tokens) decodes exactly what full recomputation with the window mask gives, and L "
    "stacked layers see exactly L (W - 1) tokens back. When the first tokens draw most of the "
    "attention, keeping them as sinks stays close to full attention; a plain window does not."
)
EQUATIONS = (
    "query i attends to keys j with i - W < j <= i  (window)  or  j < S  (S sink tokens)",
    "rolling cache: token i in slot i mod W (after the S sink slots); memory = (S + W) tokens",
    "receptive field of L layers: i - j <= L (W - 1)",
    "built sink: score(q_i, k_j) = ln(T/S) + sink_logit for j < S, so the S sinks draw most of the mass",
)


@dataclass
class Config:
    """Settings of the sliding-window demo."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    seq_len: int = setting(192, "tokens decoded and compared", low=2)
    window: int = setting(16, "W: keys each query may read", low=1)
    sinks: int = setting(4, "S: first tokens kept for good in the sink variant", low=1)
    layers: int = setting(3, "L: stacked windowed attention layers", low=1, high=8)
    d_model: int = setting(32, "model width", low=2)
    sink_logit: float = setting(3.0, "built sink case: the first S keys' scores exceed ln(T/S) by "
                                "this (large = more attention on the sinks)", low=2.0, high=50.0)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        reach = self.layers * (self.window - 1)
        out = ([f"seq_len: {self.seq_len} must exceed layers x (window - 1) + 1 = {reach + 1} "
                "to see where the receptive field ends"] if self.seq_len <= reach + 1 else [])
        if self.seq_len <= self.sinks + self.window:
            out.append(f"seq_len: {self.seq_len} must exceed sinks + window = "
                       f"{self.sinks + self.window} for the sinks to leave the window")
        return out


# --quick: a shorter sequence. Applied before --set, so --set wins.
QUICK = {"seq_len": 96}


# --- attention with a window ----------------------------------------------------------------------

def window_mask(t: int, w: int, sinks: int = 0) -> np.ndarray:
    """(T, T) True where query i may read key j: causal, and within the last w tokens or a sink."""
    i, j = np.arange(t)[:, None], np.arange(t)[None, :]
    return (j <= i) & ((i - j < w) | (j < sinks))


def masked_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """softmax(q k^T / sqrt(d) with -inf where mask is False) v: the full T x T way. (T, d)"""
    scores = np.where(mask, q @ k.T / math.sqrt(q.shape[1]), -np.inf)
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True) @ v


def banded_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, w: int) -> tuple[np.ndarray, int]:
    """The same window without a T x T matrix: each query reads its own slice of at most w keys.
    Returns (output (T, d), the number of scores computed)."""
    out, scores_computed = np.empty_like(q), 0
    for i in range(len(q)):
        lo = max(0, i - w + 1)
        s = k[lo : i + 1] @ q[i] / math.sqrt(q.shape[1])  # (<= w,)
        p = np.exp(s - s.max())
        out[i] = p / p.sum() @ v[lo : i + 1]
        scores_computed += len(s)
    return out, scores_computed


class RollingCache:
    """Keys and values of one layer: S sink slots, then a ring of W slots (token i >= S in slot
    S + i mod W). `position` says which token each slot holds (-1: empty)."""

    def __init__(self, w: int, sinks: int, d: int) -> None:
        self.w, self.sinks = w, sinks
        self.k = np.zeros((sinks + w, d))
        self.v = np.zeros((sinks + w, d))
        self.position = np.full(sinks + w, -1)

    def slot(self, i: int) -> int:
        return i if i < self.sinks else self.sinks + i % self.w

    def append(self, i: int, k: np.ndarray, v: np.ndarray) -> None:
        s = self.slot(i)
        self.k[s], self.v[s], self.position[s] = k, v, i

    def attend(self, q: np.ndarray) -> np.ndarray:
        filled = self.position >= 0  # order does not matter: attention is a weighted sum
        s = self.k[filled] @ q / math.sqrt(len(q))
        p = np.exp(s - s.max())
        return p / p.sum() @ self.v[filled]


# --- a small stack of windowed layers ----------------------------------------------------------

def init_layers(rng, layers: int, d: int) -> list[dict[str, np.ndarray]]:
    return [{name: rng.normal(0, 1 / math.sqrt(d), (d, d)) for name in ("q", "k", "v", "o")}
            for _ in range(layers)]


def forward_full(x: np.ndarray, layers, w: int, sinks: int = 0) -> np.ndarray:
    """All positions at once, every layer masked to the window (and sinks). (T, d)"""
    mask = window_mask(len(x), w, sinks)
    for p in layers:
        x = x + masked_attention(x @ p["q"], x @ p["k"], x @ p["v"], mask) @ p["o"]
    return x


def decode_rolling(x: np.ndarray, layers, w: int, sinks: int) -> tuple[np.ndarray, int]:
    """Token by token with one rolling cache per layer; (outputs (T, d), most slots ever used)."""
    caches = [RollingCache(w, sinks, x.shape[1]) for _ in layers]
    out, most = np.empty_like(x), 0
    for i in range(len(x)):
        h = x[i]
        for p, cache in zip(layers, caches):
            cache.append(i, h @ p["k"], h @ p["v"])
            h = h + cache.attend(h @ p["q"]) @ p["o"]
            most = max(most, int(np.sum(cache.position >= 0)))
        out[i] = h
    return out, most


# --- attention sinks on a built case ----------------------------------------------------------

def stream_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, w: int, sinks: int) -> np.ndarray:
    """One attention head decoded token by token through a RollingCache: StreamingLLM with
    `sinks` sink slots, or a plain rolling window with sinks = 0. (T, d)"""
    cache, out = RollingCache(w, sinks, q.shape[1]), np.empty_like(q)
    for i in range(len(q)):
        cache.append(i, k[i], v[i])
        out[i] = cache.attend(q[i])
    return out


def sink_case(rng, t: int, d: int, sinks: int, sink_logit: float):
    """Queries, keys and values where, as StreamingLLM observes in trained models, the first
    `sinks` keys draw a large share of every query's attention whatever the query says: each
    query has the same component sqrt(d) along one direction u, and the first keys are
    (ln(T/S) + sink_logit) u, so their score is exactly that for every query; the other keys and
    all values are random."""
    u = rng.normal(size=d)
    u /= np.linalg.norm(u)
    q = rng.normal(size=(t, d))
    q += (math.sqrt(d) - q @ u)[:, None] * u
    k = rng.normal(size=(t, d))
    k[:sinks] = (math.log(t / sinks) + sink_logit) * u
    return q, k, rng.normal(size=(t, d))


def run(config: Config, progress: Progress | None = None) -> Result:
    report = progress or no_progress
    rng = np.random.default_rng(config.seed)
    t, w, s, d = config.seq_len, config.window, config.sinks, config.d_model
    x = rng.normal(size=(t, d))
    layers = init_layers(rng, config.layers, d)

    # 1. The banded loop == the full masked softmax, reading w keys per query instead of t.
    q, k, v = (rng.normal(size=(t, d)) for _ in range(3))
    full = masked_attention(q, k, v, window_mask(t, w))
    banded, scores = banded_attention(q, k, v, w)
    band_error = float(np.max(np.abs(full - banded)))
    expected_scores = sum(min(w, i + 1) for i in range(t))
    report(0.2)

    # 2. Rolling cache decoding == full recomputation with the mask, with and without sinks; the
    #    cache never holds more than W (+ S) tokens, however long the sequence.
    rolled, most = decode_rolling(x, layers, w, 0)
    roll_error = float(np.max(np.abs(rolled - forward_full(x, layers, w))))
    rolled_sinks, most_sinks = decode_rolling(x, layers, w, s)
    sink_error = float(np.max(np.abs(rolled_sinks - forward_full(x, layers, w, s))))
    # Evicting the sinks changes the result: the sink variant is a different attention pattern.
    sink_effect = float(np.max(np.abs(rolled_sinks - rolled)))
    report(0.6)

    # 3. Receptive field: change token 0 and see which outputs of the L-layer stack move. Exactly
    #    those within L (W - 1) tokens; with a single layer, W - 1.
    reach = config.layers * (w - 1)
    changed = x.copy()
    changed[0] += rng.normal(size=d)
    moved = np.max(np.abs(forward_full(changed, layers, w) - forward_full(x, layers, w)), axis=1)
    inside_min = float(moved[: reach + 1].min())
    outside_max = float(moved[reach + 1 :].max())
    measured_reach = int(np.max(np.nonzero(moved)[0]))
    report(0.8)

    # 4. Attention sinks, on a built case where the first S keys draw most of the attention:
    #    once they have left the window (queries i >= S + W), the rolling cache with the S sinks
    #    stays close to full causal attention, and a plain rolling window of W does not.
    q, k, v = sink_case(rng, t, d, s, config.sink_logit)
    causal = window_mask(t, t)
    full = masked_attention(q, k, v, causal)
    late = slice(s + w, t)
    logits = np.where(causal, q @ k.T / math.sqrt(d), -np.inf)
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    sink_mass = float((weights[late, :s].sum(axis=1) / weights[late].sum(axis=1)).mean())
    scale = float(np.linalg.norm(full[late], axis=1).mean())

    def off(out: np.ndarray) -> float:  # mean distance from full attention, relative to its size
        return float(np.linalg.norm(out[late] - full[late], axis=1).mean()) / scale

    stream_error = off(stream_attention(q, k, v, w, s))
    window_error = off(stream_attention(q, k, v, w, 0))
    report(1.0)

    checks = [
        check("banded attention == full masked softmax (max abs diff)", band_error, "<=", 1e-12),
        check(f"banded attention scores computed == sum of min(W, i + 1) = {expected_scores}",
              abs(scores - expected_scores), "==", 0),
        check(f"rolling cache of W = {w} == full recomputation, {config.layers} layers "
              "(max abs diff)", roll_error, "<=", 1e-12),
        check("rolling cache with sinks == full recomputation with the sink mask (max abs diff)",
              sink_error, "<=", 1e-12),
        check(f"most tokens held by one layer's cache, {t} decoded (needs <= W)", most, "<=", w),
        check(f"most tokens held with {s} sinks (needs <= S + W)", most_sinks, "<=", s + w),
        check("keeping the sinks changes the outputs (max abs diff)", sink_effect, ">", 1e-6),
        check(f"receptive field: outputs within L (W - 1) = {reach} of a changed token move (min)",
              inside_min, ">", 1e-12),
        check("receptive field: outputs beyond it do not move at all (max)", outside_max,
              "==", 0.0),
        check(f"built sink case: share of full attention on the first {s} tokens (queries past "
              "S + W, mean)", sink_mass, ">=", 0.5),
        check(f"built sink case: rolling cache with {s} sinks vs full attention (relative error)",
              stream_error, "<=", 0.3),
        check("built sink case: plain rolling window vs full attention (relative error)",
              window_error, ">=", 0.75),
    ]
    return Result(
        checks=checks,
        metrics={
            "seq_len": t,
            "window": w,
            "sinks": s,
            "layers": config.layers,
            "receptive_field_expected": reach,
            "receptive_field_measured": measured_reach,
            "scores_banded_vs_full_causal": [scores, t * (t + 1) // 2],
            "cache_tokens_rolling_vs_full": [most, t],
            "sink_case_attention_on_sinks": sink_mass,
            "sink_case_relative_error_sinks_vs_plain_window": [stream_error, window_error],
        },
        charts=[
            Chart(f"how much each output moves when token 0 changes ({config.layers} layers, "
                  f"W = {w})", "line", x=[float(i) for i in range(t)],
                  y=[float(m) for m in moved]),
            Chart(f"window mask with {s} sinks, first 24 tokens (dark: may attend)", "heatmap",
                  matrix=[[float(b) for b in row] for row in window_mask(min(t, 24), min(w, 8), s)]),
        ],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
