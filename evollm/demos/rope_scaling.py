"""Stretching RoPE to longer contexts: position interpolation, NTK-aware base scaling, a larger base.

A model trained with rotary embeddings on L tokens has only seen rotation angles m theta_i for
m < L. Run on s L tokens, its slow pairs (small theta_i) turn through angles it never saw. Position
interpolation (Chen et al., arXiv 2306.15595) divides every position by s, so all angles stay in
the trained range, at the price of squeezing neighbouring tokens s times closer in every pair.
"NTK-aware" scaling instead raises the base to base x s^(d/(d-2)): the fastest pair is untouched
(local resolution kept) and the slowest is slowed by exactly s, like interpolation. Code Llama
raised the base from 10,000 to 1,000,000 for its 16k-token fine-tuning, which also slows the
long-distance decay of RoPE's attention bound (Sec. 2.4 of its paper). This demo checks each
scheme's angles against the trained range, their frequencies against closed forms, and the decay.

Paper: Roziere et al., "Code Llama: Open Foundation Models for Code", arXiv 2308.12950 (base
period); with Chen et al., arXiv 2306.15595 (position interpolation).

But: no model is fine-tuned or evaluated, so nothing here measures perplexity at long context,
which is what the papers report; YaRN's per-frequency ramp and attention temperature are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evollm.demos.base import Chart, Progress, Result, check, no_progress, setting

# What the demo proves, and the equations it implements (shown at the top of its report).
CLAIM = (
    "Unscaled RoPE at s times the trained length turns its slow pairs through unseen angles; "
    "position interpolation keeps every angle in range but divides local resolution by s; "
    "NTK-aware base scaling keeps the fastest pair and slows the slowest by exactly s."
)
EQUATIONS = (
    "theta_i = base^(-2i/d), i = 0..d/2-1;  angle of pair i at position m: m theta_i",
    "position interpolation: m -> m / s  (Chen et al. Eq. 2)",
    "NTK-aware: base' = base s^(d/(d-2))  =>  theta'_0 = theta_0,  theta'_(d/2-1) = theta_(d/2-1) / s",
    "Code Llama: base 10^4 -> 10^6;  decay bound (1/(d/2)) sum_j |sum_(k<j) e^(i r theta_k)|",
)


@dataclass
class Config:
    """Settings of the RoPE-scaling demo."""

    seed: int = 0
    quick: bool = False  # set by --quick (no effect: the run is already short)
    d: int = setting(128, "head dimension (even)", low=4)
    base: float = setting(10000.0, "RoPE base of the trained model", above=1.0)
    trained_len: int = setting(4096, "L: context length seen in training", low=2)
    scale: float = setting(4.0, "s: the context is stretched to s x L", above=1.0)
    long_base: float = setting(1_000_000.0, "Code Llama's larger base", above=1.0)

    def problems(self) -> list[str]:
        """Constraints between settings, as messages (empty when all hold)."""
        out = [f"d: {self.d} is odd; RoPE rotates pairs"] if self.d % 2 else []
        if self.long_base <= self.base:
            out.append(f"long_base: {self.long_base:g} must exceed base = {self.base:g}")
        return out


# --quick: nothing to cut (the full run takes well under a second).
QUICK: dict = {}


def frequencies(d: int, base: float) -> np.ndarray:
    """theta_i = base^(-2i/d), i = 0..d/2-1 (RoFormer Eq. 15, 0-based)."""
    return base ** (-2.0 * np.arange(d // 2) / d)


def ntk_base(base: float, scale: float, d: int) -> float:
    """The NTK-aware base: base x s^(d / (d - 2))."""
    return base * scale ** (d / (d - 2))


def max_angles(theta: np.ndarray, length: float, position_scale: float = 1.0) -> np.ndarray:
    """The bound on the angle each pair turns through at positions 0 <= m < length (positions
    divided by position_scale, for interpolation): length / position_scale x theta_i."""
    return length / position_scale * theta


def score_spread(theta: np.ndarray, rng, position_scale: float = 1.0) -> float:
    """Largest spread of q_m . k_(m-r) over m for a few offsets r: 0 when only m - n matters."""
    q, k = rng.normal(size=len(theta) * 2), rng.normal(size=len(theta) * 2)

    def rotate(x, m):
        a = m / position_scale * theta
        first, second = x[: len(theta)], x[len(theta) :]
        return np.concatenate([first * np.cos(a) - second * np.sin(a),
                               first * np.sin(a) + second * np.cos(a)])

    spread = 0.0
    for r in (0, 7, 300):
        scores = [rotate(q, m) @ rotate(k, m - r) for m in (300.0, 2000.0, 9000.0)]
        spread = max(spread, max(scores) - min(scores))
    return spread


def decay_bound(theta: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """RoFormer Sec. 3.4.3: mean over j of |sum_(k<j) e^(i r theta_k)| at each distance r."""
    partial = np.cumsum(np.exp(1j * np.outer(distances, theta)), axis=1)
    return np.abs(partial).mean(axis=1)


def run(config: Config, progress: Progress | None = None) -> Result:
    report = progress or no_progress
    rng = np.random.default_rng(config.seed)
    d, s, length = config.d, config.scale, config.trained_len
    theta = frequencies(d, config.base)
    trained = max_angles(theta, length)  # (d/2,): the angles training saw
    long = s * length

    # 1. Angles at s x L: unscaled RoPE leaves the trained range in its slowest pair; position
    #    interpolation and the NTK base stay inside it.
    none = max_angles(theta, long)
    pi = max_angles(theta, long, s)
    theta_ntk = frequencies(d, ntk_base(config.base, s, d))
    ntk = max_angles(theta_ntk, long)
    slow = -1  # the slowest pair, the one that runs out of trained angles first

    # 2. The NTK base against its closed form: fastest pair unchanged, slowest exactly / s.
    fastest_change = abs(theta_ntk[0] / theta[0] - 1)
    slowest_ratio = theta[slow] / theta_ntk[slow]

    # 3. Local resolution: the angle between neighbouring tokens in the fastest pair.
    step_pi, step_ntk = theta[0] / s, theta_ntk[0]

    # 4. Every scheme keeps RoPE relative: scores depend only on m - n.
    spread = max(score_spread(theta, rng, s), score_spread(theta_ntk, rng))

    # 5. Code Llama's base: the long-distance decay bound of RoPE falls more slowly.
    #    The bound oscillates, so compare its mean over the distances L..sL.
    distances = np.linspace(length, long, 256)
    decay_small = decay_bound(theta, distances)
    decay_large = decay_bound(frequencies(d, config.long_base), distances)
    report(1.0)

    checks = [
        check(f"no scaling, s = {s:g}: slowest pair's angle / trained maximum", none[slow] / trained[slow],
              ">", 1.0),
        check("position interpolation: any pair's angle beyond the trained maximum (max ratio)",
              float(np.max(pi / trained)), "<=", 1.0 + 1e-12),
        check("NTK-aware base: slowest pair's angle / trained maximum", ntk[slow] / trained[slow],
              "<=", 1.0 + 1e-12),
        check("NTK-aware base: fastest pair's frequency change (rel.)", fastest_change, "<=", 1e-12),
        check("NTK-aware base: slowest frequency slowed by exactly s (|ratio - s|)",
              abs(slowest_ratio - s), "<=", 1e-9),
        check("fastest pair, angle per token: NTK / interpolation == s (|diff|)",
              abs(step_ntk / step_pi - s), "<=", 1e-9),
        check("scaled RoPE still depends only on m - n (spread)", spread, "<=", 1e-9),
        check(f"mean decay bound over distances L..sL, base {config.long_base:g} / base "
              f"{config.base:g}", float(decay_large.mean() / decay_small.mean()), ">", 1.0),
    ]
    pairs = np.arange(d // 2)
    return Result(
        checks=checks,
        metrics={
            "trained_len": length,
            "extended_len": long,
            "ntk_base": ntk_base(config.base, s, d),
            "slowest_pair_angle_trained_none_pi_ntk": [float(trained[slow]), float(none[slow]),
                                                       float(pi[slow]), float(ntk[slow])],
            "fastest_pair_angle_per_token_pi_ntk": [float(step_pi), float(step_ntk)],
            "mean_decay_bound_L_to_sL_small_vs_large_base": [float(decay_small.mean()),
                                                             float(decay_large.mean())],
        },
        charts=[
            Chart(f"no scaling: max angle at {long:g} tokens / trained max, per pair", "line",
                  x=[float(i) for i in pairs], y=[float(x) for x in none / trained]),
            Chart("NTK-aware: max angle at s L / trained max, per pair (1 at both ends' limits)",
                  "line", x=[float(i) for i in pairs], y=[float(x) for x in ntk / trained]),
        ],
    )


if __name__ == "__main__":
    from evollm.cli.demos import main

    main(__spec__.name)
