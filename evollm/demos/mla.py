"""Multi-head latent attention: cache one small latent per token instead of every head's K and V.

DeepSeek-V2's MLA compresses each token's keys and values into a latent c_KV of width d_c
(Eq. 9) and caches only that, plus one small RoPE key k^R shared by all heads (Eqs. 14-18). The
per-head keys and values are up-projections of c_KV (Eqs. 10-11), and because those are linear,
W^UK can be absorbed into the query and W^UV into the output projection: attention then runs
directly on the cached latents. RoPE cannot pass through that absorption (a position-dependent
rotation would sit between W^UQ and W^UK), which is why the position signal travels in the
separate, "decoupled" k^R. With the paper's sizes (d_c = 4 d_h, d_h^R = d_h / 2) the cache is
4.5 d_h numbers per token and layer, the size of GQA with 2.25 groups (Table 1).

Paper: DeepSeek-AI, "DeepSeek-V2: A Strong, Economical, and Efficient Mixture-of-Experts Language
Model", arXiv 2405.04434 (Sec. 2.1).

But: one random-weight attention layer, so nothing about MLA's quality compared with MHA (the
paper's ablations), no layer norms on the latents and no training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting

# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "Caching a d_c-wide latent and a shared RoPE key per token gives exactly the attention of "
    "the explicit per-head keys and values, computed with W^UK and W^UV absorbed, for a cache "
    "of d_c + d_h^R numbers per token (4.5 d_h with the paper's sizes, GQA with 2.25 groups)."
)
EQUATIONS = (
    "c_KV = W^DKV h;  k^C = W^UK c_KV;  v^C = W^UV c_KV  (Eqs. 9-11)",
    "c_Q = W^DQ h;  q^C = W^UQ c_Q;  q^R = RoPE(W^QR c_Q);  k^R = RoPE(W^KR h)  (Eqs. 12-15)",
    "score = (q^C_i . k^C_j + q^R_i . k^R_j) / sqrt(d_h + d_h^R)  (Eq. 16-17)",
    "absorbed: q^C . (W^UK c) = ((W^UK)^T q^C) . c;  cache per token: d_c + d_h^R  (Table 1)",
)


@dataclass
class Config:
    """Settings of the MLA demo (defaults: the paper's ratios at a small size)."""

    seed: int = 0
    quick: bool = False  # set by --quick (no effect: the run is already short)
    seq_len: int = setting(64, "tokens decoded", low=2)
    n_heads: int = setting(8, "n_h: attention heads", low=1)
    d_head: int = setting(16, "d_h: per-head width of queries, keys and values", low=2)
    d_model: int = setting(128, "model width", low=2)
    latent: int = setting(64, "d_c: width of the cached key-value latent (paper: 4 d_h)", low=1)
    query_latent: int = setting(96, "d_c': width of the query latent", low=1)
    rope_dim: int = setting(8, "d_h^R: width of the decoupled RoPE key (paper: d_h / 2)", low=2)
    groups: int = setting(2, "G of the GQA cache compared", low=1)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        out = []
        if self.rope_dim % 2:
            out.append(f"rope_dim: {self.rope_dim} is odd; RoPE rotates pairs")
        if self.n_heads % self.groups:
            out.append(f"groups: {self.groups} does not divide n_heads = {self.n_heads}")
        return out


# --quick: nothing to cut (the full run takes well under a second).
QUICK: dict = {}


def rope(x: np.ndarray, positions: np.ndarray, base: float = 10000.0) -> np.ndarray:
    """Rotate pairs (x_i, x_{i+d/2}) by position * base^(-2i/d); x (..., T, d), positions (T,)."""
    d = x.shape[-1]
    angles = positions[:, None] * base ** (-2.0 * np.arange(d // 2) / d)  # (T, d/2)
    cos, sin = np.cos(angles), np.sin(angles)
    first, second = x[..., : d // 2], x[..., d // 2 :]
    return np.concatenate([first * cos - second * sin, first * sin + second * cos], axis=-1)


def init_weights(rng, c: Config) -> dict[str, np.ndarray]:
    def w(*shape):
        return rng.normal(0.0, 1 / math.sqrt(shape[0]), shape)

    h, dh = c.n_heads, c.d_head
    return {"DKV": w(c.d_model, c.latent), "UK": w(c.latent, h, dh), "UV": w(c.latent, h, dh),
            "DQ": w(c.d_model, c.query_latent), "UQ": w(c.query_latent, h, dh),
            "QR": w(c.query_latent, h, c.rope_dim), "KR": w(c.d_model, c.rope_dim),
            "O": w(h * dh, c.d_model)}


def softmax_causal(scores: np.ndarray, start: int) -> np.ndarray:
    """Softmax over keys (last axis); query i (position start + i) sees keys 0..start + i."""
    tq, tk = scores.shape[-2:]
    visible = np.arange(tk)[None, :] <= start + np.arange(tq)[:, None]
    scores = np.where(visible, scores, -np.inf)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def queries(w, h: np.ndarray, positions: np.ndarray):
    """(q^C (H, T, d_h), q^R (H, T, d_R)) of hidden states h (T, d_model)."""
    c_q = h @ w["DQ"]  # (T, d_c')
    q_c = np.einsum("tc,chd->htd", c_q, w["UQ"])
    q_r = rope(np.einsum("tc,chr->htr", c_q, w["QR"]), positions)
    return q_c, q_r


def explicit_attention(w, h: np.ndarray) -> np.ndarray:
    """All positions at once with per-head keys and values spelled out (Eqs. 9-19). (T, d_model)"""
    t = len(h)
    positions = np.arange(t, dtype=float)
    c_kv = h @ w["DKV"]  # (T, d_c)
    k_c = np.einsum("tc,chd->htd", c_kv, w["UK"])  # (H, T, d_h)
    v_c = np.einsum("tc,chd->htd", c_kv, w["UV"])
    k_r = rope(h @ w["KR"], positions)  # (T, d_R), shared by the heads
    q_c, q_r = queries(w, h, positions)
    scale = 1 / math.sqrt(q_c.shape[-1] + q_r.shape[-1])
    scores = (q_c @ k_c.transpose(0, 2, 1) + q_r @ k_r.T) * scale  # (H, T, T)
    heads = softmax_causal(scores, 0) @ v_c  # (H, T, d_h)
    return heads.transpose(1, 0, 2).reshape(t, -1) @ w["O"]


def absorb_query(w, q_c: np.ndarray) -> np.ndarray:
    """(W^UK)^T q^C per head: the query in latent space, (H, T, d_c)."""
    return np.einsum("htd,chd->htc", q_c, w["UK"])


def decode_latent(w, h: np.ndarray) -> tuple[np.ndarray, int]:
    """Token by token with a cache of [c_KV, k^R] only; W^UK absorbed into the query, W^UV
    applied to the attended latent. Returns (outputs (T, d_model), cache numbers per token)."""
    t, d_c, d_r = len(h), w["DKV"].shape[1], w["KR"].shape[1]
    cache_c, cache_r = np.zeros((t, d_c)), np.zeros((t, d_r))
    out = np.empty((t, w["O"].shape[1]))
    for i in range(t):
        pos = np.array([float(i)])
        cache_c[i] = h[i] @ w["DKV"]
        cache_r[i] = rope((h[i] @ w["KR"])[None], pos)[0]
        q_c, q_r = queries(w, h[i : i + 1], pos)  # (H, 1, d_h), (H, 1, d_R)
        scale = 1 / math.sqrt(q_c.shape[-1] + q_r.shape[-1])
        scores = (absorb_query(w, q_c) @ cache_c[: i + 1].T + q_r @ cache_r[: i + 1].T) * scale
        attended = softmax_causal(scores, i) @ cache_c[: i + 1]  # (H, 1, d_c): latent values
        heads = np.einsum("htc,chd->htd", attended, w["UV"])  # W^UV after the weighted sum
        out[i] = heads.transpose(1, 0, 2).reshape(-1) @ w["O"]
    per_token = cache_c.shape[1] + cache_r.shape[1]
    return out, per_token


def coupled_rope_gap(w, h: np.ndarray) -> float:
    """Why the RoPE key is decoupled: put RoPE on k^C itself and absorb W^UK anyway. The absorbed
    scores miss the rotation between W^UQ and W^UK; relative max difference of the scores."""
    t = len(h)
    positions = np.arange(t, dtype=float)
    c_kv = h @ w["DKV"]
    q_c, _ = queries(w, h, positions)
    true = rope(q_c, positions) @ rope(np.einsum("tc,chd->htd", c_kv, w["UK"]), positions).transpose(0, 2, 1)
    absorbed = absorb_query(w, rope(q_c, positions)) @ c_kv.T
    return float(np.max(np.abs(true - absorbed)) / np.max(np.abs(true)))


def run(config: Config, progress: Progress | None = None) -> Result:
    report = progress or no_progress
    rng = np.random.default_rng(config.seed)
    c = config
    w = init_weights(rng, c)
    h = rng.normal(size=(c.seq_len, c.d_model))

    # 1. The latent cache with absorbed projections == explicit per-head attention.
    explicit = explicit_attention(w, h)
    latent_out, mla_per_token = decode_latent(w, h)
    absorbed_error = float(np.max(np.abs(latent_out - explicit)) / np.max(np.abs(explicit)))
    report(0.5)

    # 2. RoPE must be decoupled: on k^C the absorption breaks; on k^R the score still depends
    #    only on the offset between query and key positions.
    coupled_gap = coupled_rope_gap(w, h)
    qr = rng.normal(size=(1, c.rope_dim))
    kr = rng.normal(size=(1, c.rope_dim))
    offsets_spread = 0.0
    for offset in (0, 3, 17):
        scores = [float(rope(qr, np.array([m + offset]))[0] @ rope(kr, np.array([float(m)]))[0])
                  for m in (0.0, 5.0, 40.0, 300.0)]
        offsets_spread = max(offsets_spread, max(scores) - min(scores))

    # 3. Cache numbers per token and layer (Table 1).
    dh, heads = c.d_head, c.n_heads
    per_token = {"MHA": 2 * heads * dh, f"GQA (G = {c.groups})": 2 * c.groups * dh,
                 "MQA": 2 * dh, "MLA": mla_per_token}
    formula_gap = abs(mla_per_token - (c.latent + c.rope_dim))
    gqa_equivalent = mla_per_token / (2 * dh)  # groups of GQA with the same cache
    report(1.0)

    checks = [
        check("latent cache with W^UK, W^UV absorbed == explicit per-head attention "
              "(max rel. diff)", absorbed_error, "<=", 1e-10),
        check("cache numbers per token == d_c + d_h^R (abs diff)", formula_gap, "==", 0),
        check("MLA cache / MHA cache", mla_per_token / per_token["MHA"], "<", 1.0),
        check("RoPE on k^C, then absorbed: scores off by (max rel. diff; must be large)",
              coupled_gap, ">", 1e-2),
        check("decoupled RoPE: q^R . k^R depends only on the offset (spread)", offsets_spread,
              "<=", 1e-10),
    ]
    if c.latent == 4 * dh and 2 * c.rope_dim == dh:  # the paper's ratios
        checks.append(check("paper's sizes: MLA cache in GQA groups (Table 1: 2.25)",
                            gqa_equivalent, "==", 2.25))
    return Result(
        checks=checks,
        metrics={
            "cache_numbers_per_token_and_layer": per_token,
            "mla_as_gqa_groups": gqa_equivalent,
            "mla_over_mha": mla_per_token / per_token["MHA"],
            "coupled_rope_relative_error": coupled_gap,
        },
        charts=[Chart("KV-cache numbers per token and layer", "bars", labels=list(per_token),
                      y=[float(v) for v in per_token.values()])],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
