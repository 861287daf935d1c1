"""Rotary position embeddings: rotate query and key pairs so that scores see only m - n.

RoPE encodes position m by rotating each 2-D pair of a query or key vector by the angle m * theta_i,
theta_i = base^(-2i/d). A rotation keeps norms, and two rotations compose, so the score
<R_m q, R_n k> = <q, R_(n-m) k> depends on the positions only through the offset m - n. This demo
builds RoPE three ways (the block-diagonal matrix of Eq. 15, the fast element-wise form of Eq. 34
in the paper's interleaved layout, and the half-split layout of GPT-NeoX and LLaMA), checks that
they agree where they should, and draws the paper's long-term decay bound (Sec. 3.4.3).

Paper: Su et al., "RoFormer: Enhanced Transformer with Rotary Position Embedding", arXiv 2104.09864.

But: no model is trained, so nothing here shows RoPE's effect on perplexity or on length
extrapolation; the decay curve is the paper's upper bound, not measured attention.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, setting


# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "Rotating query and key pairs by position-dependent angles makes attention scores "
    "depend only on the relative position."
)
EQUATIONS = (
    "theta_i = base^(-2(i-1)/d), i = 1..d/2  (Eq. 15)",
    "f(x, m) = R^d_(Theta, m) x;  <R_m q, R_n k> = <q, R_(n-m) k>  (Eq. 16)",
    "x * cos(m theta) + rotate(x) * sin(m theta)  (Eq. 34)",
)


@dataclass
class Config:
    """Settings of the RoPE demo."""

    seed: int = 0
    quick: bool = False  # set by --quick, which applies QUICK
    d: int = setting(64, "head dimension (even)", low=2)
    base: float = setting(10000.0, "theta_i = base^(-2i/d), Eq. 15", above=1.0)
    n_vectors: int = setting(32, "random (q, k) pairs whose scores are checked", low=1)
    max_position: int = setting(4096, "largest absolute position tried", low=1)
    decay_d: int = setting(128, "head dimension of the long-term decay curve (Sec. 3.4.3)", low=2)
    decay_max_distance: int = setting(256, "relative distances 0..this in the decay curve", low=1)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        return [f"{name}: {value} is odd; RoPE rotates pairs, so it must be even"
                for name, value in (("d", self.d), ("decay_d", self.decay_d)) if value % 2]

# --quick: fewer vectors and positions. Applied before --set, so --set wins.
QUICK = {"n_vectors": 8, "max_position": 1024}


def frequencies(d: int, base: float) -> np.ndarray:
    """theta_i = base^(-2i/d) for i = 0..d/2-1 (Eq. 15, 0-based)."""
    return base ** (-2.0 * np.arange(d // 2) / d)  # (d/2,)


def rotation_matrix(m: float, d: int, base: float) -> np.ndarray:
    """The block-diagonal R^d_{Theta,m} of Eq. 15: a 2x2 rotation by m*theta_i per pair."""
    r = np.zeros((d, d))
    for i, theta in enumerate(frequencies(d, base)):
        c, s = np.cos(m * theta), np.sin(m * theta)
        r[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = [[c, -s], [s, c]]
    return r  # (d, d)


def rope_interleaved(x: np.ndarray, positions: np.ndarray, base: float) -> np.ndarray:
    """Eq. 34: x * cos(m theta) + rotate(x) * sin(m theta), pairs (x_2i, x_2i+1) adjacent."""
    d = x.shape[-1]
    angles = np.outer(positions, frequencies(d, base))  # (T, d/2)
    cos, sin = np.cos(angles), np.sin(angles)
    even, odd = x[..., 0::2], x[..., 1::2]  # (T, d/2) each
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out  # (T, d)


def rope_half_split(x: np.ndarray, positions: np.ndarray, base: float) -> np.ndarray:
    """The same rotation with pair i stored as (x_i, x_{i+d/2}), as `rotate_half` does in LLaMA."""
    d = x.shape[-1]
    angles = np.outer(positions, frequencies(d, base))  # (T, d/2)
    cos = np.concatenate([np.cos(angles)] * 2, axis=-1)  # (T, d)
    sin = np.concatenate([np.sin(angles)] * 2, axis=-1)  # (T, d)
    first, second = x[..., : d // 2], x[..., d // 2 :]
    rotate_half = np.concatenate([-second, first], axis=-1)  # (T, d)
    return x * cos + rotate_half * sin


def half_split_order(d: int) -> np.ndarray:
    """Index array taking an interleaved vector to the half-split layout: pair i -> (i, i+d/2)."""
    return np.concatenate([np.arange(0, d, 2), np.arange(1, d, 2)])  # (d,)


def relative_spread(rope, q: np.ndarray, k: np.ndarray, positions: np.ndarray,
                    offsets: np.ndarray, base: float) -> float:
    """Largest spread (max - min) of q_m . k_(m-offset) over m, for each offset and each (q, k)."""
    worst = 0.0
    for offset in offsets:
        m = positions[positions >= offset]  # (P,)
        scores = []
        for position in m:
            qm = rope(q, np.full(len(q), position), base)  # (B, d)
            kn = rope(k, np.full(len(k), position - offset), base)  # (B, d)
            scores.append(np.sum(qm * kn, axis=-1))  # (B,)
        scores = np.array(scores)  # (P, B)
        worst = max(worst, float(np.max(scores.max(axis=0) - scores.min(axis=0))))
    return worst


def applied_angles(rope, d: int, base: float) -> np.ndarray:
    """The angle each pair of `rope` is turned by at position 1, read off its output: rotate a
    vector whose pairs are all (1, 0) and take atan2 of each rotated pair. (d/2,)"""
    if rope is rope_half_split:  # pair i is (x_i, x_{i+d/2})
        x = np.concatenate([np.ones(d // 2), np.zeros(d // 2)])[None]
        out = rope(x, np.array([1]), base)[0]
        return np.arctan2(out[d // 2 :], out[: d // 2])
    x = np.tile([1.0, 0.0], d // 2)[None]  # pair i is (x_2i, x_2i+1)
    out = rope(x, np.array([1]), base)[0]
    return np.arctan2(out[1::2], out[0::2])


def paper_frequencies(d: int, base: float) -> list[float]:
    """Theta = {theta_i = 10000^(-2(i-1)/d), i in [1, 2, ..., d/2]} as printed in Eq. 15 (1-based),
    with 10000 generalised to `base`."""
    return [base ** (-2 * (i - 1) / d) for i in range(1, d // 2 + 1)]


def add_sinusoid(x: np.ndarray, positions: np.ndarray, base: float) -> np.ndarray:
    """The contrast: add sinusoidal absolute positions (Vaswani et al.) instead of rotating."""
    angles = np.outer(positions, frequencies(x.shape[-1], base))  # (T, d/2)
    pe = np.empty_like(x)
    pe[..., 0::2], pe[..., 1::2] = np.sin(angles), np.cos(angles)
    return x + pe  # (T, d)


def decay_bound(d: int, base: float, max_distance: int) -> np.ndarray:
    """Sec. 3.4.3: the mean of |S_j| over j = 1..d/2, S_j = sum_{k<j} e^{i (m-n) theta_k}."""
    distances = np.arange(max_distance + 1)  # (D,)
    phases = np.exp(1j * np.outer(distances, frequencies(d, base)))  # (D, d/2)
    partial_sums = np.cumsum(phases, axis=1)  # (D, d/2): S_1..S_{d/2}
    return np.abs(partial_sums).mean(axis=1)  # (D,)


def run(config: Config, progress: Progress | None = None) -> Result:
    rng = np.random.default_rng(config.seed)
    d, base = config.d, config.base
    n = config.n_vectors
    q = rng.standard_normal((n, d))  # (B, d)
    k = rng.standard_normal((n, d))  # (B, d)
    top = config.max_position
    positions = np.unique(np.concatenate([[0, 1, 5, 17, 100], rng.integers(0, top, 6), [top]]))
    offsets = np.array([0, 1, 5, 37, 100])

    # 1. Eq. 34 (element-wise) equals Eq. 15 (the block-diagonal matrix), at every position.
    matrix_error = 0.0
    for m in positions:
        dense = q @ rotation_matrix(float(m), d, base).T  # (B, d)
        fast = rope_interleaved(q, np.full(n, m), base)
        matrix_error = max(matrix_error, float(np.max(np.abs(dense - fast))))

    # 2. Eq. 16: the score depends only on the offset m - n, in both layouts.
    spread_interleaved = relative_spread(rope_interleaved, q, k, positions, offsets, base)
    spread_half = relative_spread(rope_half_split, q, k, positions, offsets, base)
    # The same check fails for additive absolute positions (sinusoids added to q and k).
    spread_additive = relative_spread(add_sinusoid, q, k, positions, offsets, base)

    # 3. Rotations keep norms.
    x = np.repeat(q, len(positions), axis=0)  # (B*P, d): every vector at every position
    pos = np.tile(positions, n)  # (B*P,)
    rotated = rope_interleaved(x, pos, base)
    norm_change = float(np.max(np.abs(np.linalg.norm(rotated, axis=-1)
                                      - np.linalg.norm(x, axis=-1))))

    # 4. The two layouts are one rotation with the dimensions relabelled: permuting the input
    #    into the half-split order and rotating equals rotating and then permuting.
    order = half_split_order(d)
    layout_error = float(np.max(np.abs(rope_half_split(x[:, order], pos, base)
                                       - rotated[:, order])))
    # Mixing them (weights stored in one layout, rotated in the other) changes the scores.
    at_100, at_60 = np.full(n, 100), np.full(n, 60)
    matched = np.sum(rope_interleaved(q, at_100, base) * rope_interleaved(k, at_60, base), -1)
    mixed = np.sum(rope_half_split(q, at_100, base) * rope_half_split(k, at_60, base), -1)
    mixing_change = float(np.max(np.abs(matched - mixed)))

    # 5. The frequency schedule the code applies, measured from its output, is the paper's
    #    theta_i = base^(-2(i-1)/d): from 1 radian per token down to nearly base^-1. Every check
    #    above holds for any frequencies at all, so this one pins the schedule itself.
    expected = np.array(paper_frequencies(d, base))
    schedule_error = max(float(np.max(np.abs(applied_angles(rope, d, base) / expected - 1)))
                         for rope in (rope_interleaved, rope_half_split))

    decay = decay_bound(config.decay_d, base, config.decay_max_distance)
    if progress:
        progress(1.0)

    checks = [
        check("Eq. 34 element-wise == Eq. 15 rotation matrix (max abs diff)", matrix_error,
              "<=", 1e-12),
        check("q_m . k_n depends only on m - n, interleaved (spread)", spread_interleaved,
              "<=", 1e-10),
        check("q_m . k_n depends only on m - n, half-split (spread)", spread_half, "<=", 1e-10),
        check("additive sinusoids instead: the score moves with m (spread)", spread_additive,
              ">=", 1e-3),
        check("rotation preserves norms (max abs change)", norm_change, "<=", 1e-12),
        check("half-split == interleaved up to relabelling dimensions (max abs diff)",
              layout_error, "<=", 1e-12),
        check("angle per position of pair i == base^(-2(i-1)/d), both layouts (max rel. diff)",
              schedule_error, "<=", 1e-9),
    ]
    metrics = {
        "d": d,
        "base": base,
        "positions": [int(p) for p in positions],
        "offsets": [int(o) for o in offsets],
        "spread_interleaved": spread_interleaved,
        "spread_half_split": spread_half,
        "spread_additive_sinusoid": spread_additive,
        "mixed_layouts_score_change": mixing_change,
        "theta_first_last": [float(expected[0]), float(expected[-1])],
        "decay_bound_at_0": float(decay[0]),
        "decay_bound_at_max": float(decay[-1]),
    }
    charts = [
        Chart(f"long-term decay: mean |S_j| vs relative distance (d = {config.decay_d})", "line",
              x=[float(v) for v in range(len(decay))], y=[float(v) for v in decay]),
    ]
    return Result(checks=checks, metrics=metrics, charts=charts)


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
